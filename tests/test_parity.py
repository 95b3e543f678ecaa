"""Parity: the same data on the memory and the Neo4j backends gives the same findings JSON.

Ids included. On a hand-made fixture that touches every rule near its boundaries, and on
generated data at a few seeds; each under several run dates and configurations (one
load per dataset, several detections).
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from detect_fixtures import AS_OF, Builder, at, day, multi_lender
from xpg.graph.memory import MemoryBackend
from xpg.queries.rules import FINDING_TYPES

from xpg.settings import DetectionConfig, load_settings
from xpg.synthetic import generate

pytestmark = pytest.mark.neo4j


def _configs() -> list[DetectionConfig]:
    default = load_settings(environ={}).detection
    wide = load_settings(
        environ={},
        overrides={
            "detection.ring.identifier_kinds": ["phone", "bank_card", "id_number", "ip", "email"],
            "detection.ring.hub_max_users": 3,
            "detection.ring.min_users": 2,
            "detection.multi_lending.min_open_lenders": 2,
            "detection.limit_divergence.cut_fraction": 0.5,
        },
    ).detection
    product_scope = dataclasses.replace(
        default,
        freeze=dataclasses.replace(default.freeze, unknown_reason_scope="product"),
        multi_lending=dataclasses.replace(default.multi_lending, short_window_days=1),
    )
    return [default, wide, product_scope]


def kitchen_sink():
    """Every rule, its look-alikes and its boundaries, in one dataset."""
    b = Builder()
    # a ring over a device and a phone, with a member seen on the device only later
    for u in ("r1", "r2", "r3"):
        multi_lender(b, u)
    b.device("r1", "dr").device("r2", "dr", at(-40)).identifier("r3", "phone", "p1")
    b.identifier("r2", "phone", "p1", at(-2)).device("r4", "dr", at(5))  # r4: after the run date
    # a chain through a bank card, an ip (disabled by default) and a hub of 4 users
    for u in ("c1", "c2", "c3", "c4"):
        multi_lender(b, u, prefix="C")
    b.identifier("c1", "bank_card", "bc").identifier("c2", "bank_card", "bc")
    b.identifier("c2", "ip", "10.0.0.1").identifier("c3", "ip", "10.0.0.1")
    for u in ("c3", "c4", "h1", "h2"):
        b.device(u, "hub")
    b.identifier("c4", "email", "e@x").identifier("c1", "email", "e@x")
    # multi-lending by applications: short and long windows, the window's edges
    for i, offset in enumerate((0, -6, -7)):
        b.application("a1", f"A{i}", at(offset, 0))
    for i, offset in enumerate((0, -5, -10, -20, -29, -30)):
        b.application("a2", f"B{i}", at(offset, 23))
    b.loans("a3", ["L1", "L2", "L3"]).loan("a3", "L4", opened_at=day(1))  # 4th after run date
    b.loans("a4", ["L1", "L2", "L3"]).loan("a4", "L4", status="closed")
    # freezes: user scope vs product scope vs unknown reason; closed for fraud
    b.account("f1", "x1", "huabei", status="frozen", reason="fraud", changed_at=at(-3))
    b.account("f2", "x1", "jiebei", limit=9_000, outstanding=1_000)
    b.account("f3", "x2", "huabei", status="frozen", reason="overdue")
    b.account("f4", "x2", "cash_plus", limit=5_000)
    b.account("f5", "x3", "jiebei", status="frozen", reason="weird")
    b.account("f6", "x3", "credit_plus", limit=7_000, outstanding=7_500)
    b.account("f7", "x3", "huabei", limit=7_000, outstanding=100)
    b.account("f8", "x4", "huabei", status="closed", reason="security")
    b.account("f9", "x4", "jiebei", limit=3_000, opened_at=day(2))  # opened after the run date
    # restored after freeze: a lift on another account, and a lift on the frozen one itself
    b.account("g1", "y1", "huabei", status="frozen", reason="fraud")
    b.account("g2", "y1", "jiebei", limit=4_000, outstanding=500)
    b.event("g1", at(-10), "freeze", reason="fraud").event("g2", at(-5), "unfreeze")
    b.event("g2", at(-12), "reopen")
    b.account("g3", "y2", "huabei", status="frozen")
    b.account("g4", "y2", "cash_plus", status="limited")
    b.event("g3", at(-9), "freeze", reason="regulatory").event("g3", at(-4), "unfreeze")
    b.event("g3", at(-3), "freeze").event("g4", at(-2), "reopen")
    # limit divergence: cut to 50, cut by 80 %, a 50 % cut (look-alike), the window's edge
    b.account("l1", "z1", "huabei", limit=50).account("l2", "z1", "jiebei", limit=30_000)
    b.event("l1", at(-29), "limit_change", old=8_000, new=50)
    b.event("l2", at(-1), "limit_change", old=20_000, new=30_000)
    b.account("l3", "z2", "credit_plus", limit=2_000).account("l4", "z2", "cash_plus")
    b.event("l3", at(-3), "limit_change", old=10_000, new=2_000)
    b.event("l4", at(-30), "limit_change", old=1_000, new=9_000)
    b.account("l5", "z3", "huabei", limit=5_000).account("l6", "z3", "jiebei")
    b.event("l5", at(-3), "limit_change", old=10_000, new=5_000)
    b.event("l6", at(-2), "limit_change", old=1_000, new=2_000)
    # linked risk (contract v3): k2 can still draw and shares a device with x1, frozen for fraud
    b.account("k1", "k2", "jiebei", limit=6_000, outstanding=1_000)
    b.device("k2", "dk").device("x1", "dk")
    # plain users
    b.account("o1", "o1", "huabei", limit=20_000, outstanding=3_000).loan("o1", "L9")
    return b.build()


def _check(neo4j_backend, dataset, dates) -> int:
    memory = MemoryBackend()
    memory.load(dataset)
    neo4j_backend.load(dataset)
    compared = 0
    for config in _configs():
        for as_of in dates:
            expected = memory.detect(config, as_of=as_of).to_dict()
            got = neo4j_backend.detect(config, as_of=as_of, write_findings=False).to_dict()
            assert got == expected, (as_of, config)
            compared += len(expected["findings"])
    return compared


def test_kitchen_sink_parity(neo4j_backend):
    dataset = kitchen_sink()
    compared = _check(neo4j_backend, dataset, [None, AS_OF, day(-3), day(-25)])
    assert compared > 40  # the fixture really exercises the rules
    memory = MemoryBackend()
    memory.load(dataset)
    findings = memory.detect(DetectionConfig(), as_of=AS_OF).findings
    assert {f.type for f in findings} == set(FINDING_TYPES)


@pytest.mark.parametrize(("users", "seed"), [(300, 1), (300, 2), (1_000, 3)])
def test_generated_data_parity(neo4j_backend, users, seed):
    synthetic = generate(users, seed)
    dataset = synthetic.dataset()
    latest = dataset.latest_date()
    assert latest is not None
    compared = _check(neo4j_backend, dataset, [None, latest - dt.timedelta(days=20)])
    assert compared > 20


def test_mixed_shape_parity_with_cores(neo4j_server, neo4j_driver, neo4j_backend):
    """Contract v2 on a platform-shaped graph: the cores of its giant group, ids included,
    on the writing backend (components in the database) and on a read-only one."""
    from xpg.graph.neo4j import Neo4jBackend

    synthetic = generate(3_000, 5, shape="mixed")
    dataset = synthetic.dataset()
    as_of = dt.date.fromisoformat(synthetic.truth["as_of"])
    memory = MemoryBackend()
    memory.load(dataset)
    neo4j_backend.load(dataset)
    reader = Neo4jBackend(neo4j_server, driver=neo4j_driver, read_only=True)
    small = dataclasses.replace(DetectionConfig(), ring=dataclasses.replace(
        DetectionConfig().ring, max_group_users=3))
    for config, least in ((DetectionConfig(), 1), (small, 5)):
        expected = memory.detect(config, as_of=as_of).to_dict()
        cores = [f for f in expected["findings"] if f["evidence"].get("core")]
        assert len(cores) >= least, config.ring
        got = neo4j_backend.detect(config, as_of=as_of, write_findings=False).to_dict()
        assert got == expected
        assert reader.detect(config, as_of=as_of, write_findings=False).to_dict() == expected
