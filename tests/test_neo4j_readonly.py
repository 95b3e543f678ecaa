"""Sessions opened for reading (`xpg query`, `xpg serve`) never write, on a real Neo4j.

The database is dumped (every node and relationship with its labels, type and
properties: tests/neo4j_server.py ``dump``) and counted before and after the reads;
it must be identical. Read-only findings equal the in-memory ones (the ring
components are then computed from one read of the kept links, no scratch labels).
"""

from __future__ import annotations

import pytest
from investigation_data import AS_OF, RING, dataset
from neo4j_server import dump
from xpg.graph.neo4j import Neo4jBackend
from xpg.graph.neo4j.connection import QueryMode
from xpg.queries.findings import stable_id

import xpg
from xpg.errors import ReadOnlyError
from xpg.settings import DetectionConfig

pytestmark = pytest.mark.neo4j

KEY = "test-key-0123456789abcdef"


def snapshot(backend: Neo4jBackend):
    return dump(backend), backend.counts()


def every_read(session: xpg.Session) -> dict:
    """What `xpg query` and `xpg serve` ask: findings, a user, a ring, a path, a lender,
    and the same through the HTTP service."""
    from fastapi.testclient import TestClient

    from xpg.serve import create_app

    ring = stable_id("ring", list(RING))
    out = {
        "findings": session.findings(AS_OF).to_dict(),
        "user": session.user("u1", hops=2, as_of=AS_OF).to_dict(),
        "ring": session.ring(ring, as_of=AS_OF).to_dict(),
        "path": session.path("u1", "u4", as_of=AS_OF).to_dict(),
        "lender": session.lender("L1", as_of=AS_OF).to_dict(),
    }
    client = TestClient(create_app(session, api_keys=[KEY]))
    headers = {"X-API-Key": KEY}
    for url in ("/v1/findings", "/v1/users/u1", f"/v1/rings/{ring}", "/v1/lenders/L1",
                "/v1/path?a=u1&b=u4"):
        assert client.get(url, headers=headers).status_code == 200, url
    return out


def test_query_and_serve_reads_leave_the_database_identical(neo4j_server, neo4j_driver,
                                                             neo4j_backend):
    neo4j_backend.load(dataset())
    with xpg.open(dataset=dataset(), as_of=AS_OF) as memory:
        want = every_read(memory)

    # no stored findings yet: the reader detects without writing anything
    before = snapshot(neo4j_backend)
    reader = Neo4jBackend(neo4j_server, driver=neo4j_driver, read_only=True)
    with xpg.open(backend=reader, as_of=AS_OF) as s:
        assert s.read_only
        assert every_read(s) == want
    assert snapshot(neo4j_backend) == before
    assert not neo4j_backend.run("MATCH (f:Finding) RETURN f", QueryMode.READ)

    # a writing detection stores the findings; readers then read them back, still writing
    # nothing
    neo4j_backend.detect(DetectionConfig(), as_of=AS_OF)
    before = snapshot(neo4j_backend)
    with xpg.open(backend=reader, as_of=AS_OF) as s:
        assert reader.stored_findings(DetectionConfig(), as_of=AS_OF) is not None
        assert every_read(s) == want
    assert snapshot(neo4j_backend) == before


def test_the_cli_opens_query_and_serve_sessions_read_only(neo4j_server, neo4j_backend,
                                                          monkeypatch):
    from xpg.cli.query import _session

    neo4j_backend.load(dataset())
    monkeypatch.setenv("NEO4J_URI", neo4j_server.uri)
    monkeypatch.setenv("NEO4J_USER", neo4j_server.user)
    monkeypatch.setenv("NEO4J_PASSWORD", neo4j_server.password or "")
    monkeypatch.setenv("NEO4J_DATABASE", neo4j_server.database)
    before = snapshot(neo4j_backend)
    with _session(None, None, "neo4j", None) as s:
        assert s.read_only and s.backend.read_only
        s.findings(AS_OF)
    assert snapshot(neo4j_backend) == before


def test_a_read_only_backend_refuses_every_write(neo4j_server, neo4j_driver, neo4j_backend):
    neo4j_backend.load(dataset())
    report = neo4j_backend.detect(DetectionConfig(), as_of=AS_OF, write_findings=False)
    before = snapshot(neo4j_backend)
    reader = Neo4jBackend(neo4j_server, driver=neo4j_driver, read_only=True)
    with pytest.raises(ReadOnlyError, match="opened for reading"):
        reader.load(dataset())
    with pytest.raises(ReadOnlyError, match="opened for reading"):
        reader.run("CREATE (:XpgMeta {name: 'x'})", QueryMode.WRITE)
    with pytest.raises(ReadOnlyError, match="opened for reading"):
        reader.run("MATCH (n) CALL (n) { SET n.x = 1 } IN TRANSACTIONS", QueryMode.WRITE,
                   retry=False)
    with pytest.raises(ReadOnlyError, match="opened for reading"):
        reader.write_findings(report, DetectionConfig())
    with pytest.raises(ReadOnlyError, match="opened for reading"):
        xpg.open(dataset=dataset(), backend=reader)  # loading tables would write
    # a detection in a read-only backend keeps nothing, and finds the same
    assert reader.detect(DetectionConfig(), as_of=AS_OF).to_dict() == report.to_dict()
    assert snapshot(neo4j_backend) == before
