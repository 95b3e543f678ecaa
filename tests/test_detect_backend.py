"""The in-memory backend: load statistics, detect, neighbourhood subgraphs, open_backend."""

from __future__ import annotations

import pytest
from detect_fixtures import AS_OF, Builder, multi_lender
from xpg.graph import open_backend
from xpg.graph.memory import MemoryBackend
from xpg.queries import detect

from xpg.errors import BackendError, NotFoundError
from xpg.settings import DetectionConfig, Settings


def neighbourhood():
    """u1 -d1- u2 -phone- u3 -d3- u4 ; u1 also on a 21-user hub ; u5 alone."""
    b = Builder()
    b.device("u1", "d1").device("u2", "d1").device("u2", "d1")  # a duplicate row
    b.identifier("u2", "phone", "138").identifier("u3", "phone", "138")
    b.device("u3", "d3").device("u4", "d3")
    b.device("u1", "hub")
    for i in range(20):
        b.device(f"h{i:02d}", "hub")
    b.user("u5")
    b.account("a1", "u1", "huabei", limit=1_000, outstanding=100, status="frozen", reason="fraud")
    b.loan("u1", "L1", outstanding=300).loan("u1", "L1", outstanding=200, status="closed")
    multi_lender(b, "u2")
    return b.build()


def test_load_counts_nodes_and_relationships():
    b = MemoryBackend()
    stats = b.load(neighbourhood())
    # users 25, products 4, accounts 1, nodes d1 phone d3 hub, lenders L1 M1-M4
    assert stats.nodes == 25 + 4 + 1 + 4 + 5
    # 2 per account, distinct links (d1 x2, phone x2, d3 x2, hub x21), 6 loans
    assert stats.relationships == 2 + 27 + 6
    assert stats.seconds >= 0


def test_detect_is_the_in_memory_detect():
    ds = neighbourhood()
    b = MemoryBackend()
    b.load(ds)
    config = DetectionConfig()
    assert b.detect(config).to_json() == detect(ds, config).to_json()
    assert b.detect(config, as_of=AS_OF).as_of == AS_OF


def test_nothing_loaded_is_a_backend_error():
    b = MemoryBackend()
    with pytest.raises(BackendError, match="load"):
        b.detect(DetectionConfig())
    b.load(neighbourhood())
    b.close()
    with pytest.raises(BackendError):
        _ = b.dataset


def test_subgraph_hops_and_hubs():
    b = MemoryBackend()
    b.load(neighbourhood())
    g = b.subgraph(["u1"], hops=1)
    users = {n for n, d in g.nodes(data=True) if d["kind"] == "user"}
    assert users == {"user:u1", "user:u2"}  # not across the hub
    assert g.nodes["device:hub"]["hub"] is True and g.nodes["device:hub"]["users"] == 21
    assert g.nodes["user:u2"]["hop"] == 1
    assert g.edges["user:u1", "device:d1"]["relation"] == "USED"
    assert g.edges["user:u2", "phone:138"]["relation"] == "HAS_IDENTIFIER"
    assert g.nodes["account:a1"]["status"] == "frozen"
    assert g.edges["user:u1", "account:a1"]["relation"] == "HAS_ACCOUNT"
    loan = g.edges["user:u1", "lender:L1"]
    assert loan["loans"] == 2 and loan["open_outstanding"] == 300.0
    g3 = b.subgraph(["u1"], hops=3)
    users3 = {d["id"] for _, d in g3.nodes(data=True) if d["kind"] == "user"}
    assert users3 == {"u1", "u2", "u3", "u4"}
    assert g3.nodes["user:u4"]["hop"] == 3
    assert {d["id"] for _, d in b.subgraph(["u5"], hops=2).nodes(data=True)} == {"u5"}
    wide = b.subgraph(["u1"], hops=1, hub_max_users=21)
    assert sum(1 for _, d in wide.nodes(data=True) if d["kind"] == "user") == 22


def test_subgraph_of_an_unknown_user():
    b = MemoryBackend()
    b.load(neighbourhood())
    with pytest.raises(NotFoundError, match="nobody"):
        b.subgraph(["u1", "nobody"])


def test_open_backend_by_settings():
    assert isinstance(open_backend(Settings()), MemoryBackend)
