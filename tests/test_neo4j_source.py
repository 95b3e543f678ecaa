"""The database is the source, on a real Neo4j: `xpg load` writes the graph; detect,
report, query and serve work on what the database holds (no --data, which they refuse),
the run date defaults to the latest date there, and only detect writes (its findings).
"""

from __future__ import annotations

import dataclasses
import json

import pytest
from fastapi.testclient import TestClient
from investigation_data import AS_OF, dataset, write_dataset
from neo4j_server import dump
from xpg.graph.neo4j import Neo4jBackend

import xpg
from xpg.cli import main
from xpg.errors import NoFindingsError
from xpg.serve import create_app
from xpg.settings import DetectionConfig

pytestmark = pytest.mark.neo4j

KEY = "test-key-0123456789abcdef"


@pytest.fixture
def env(neo4j_server, monkeypatch):
    monkeypatch.setenv("NEO4J_URI", neo4j_server.uri)
    monkeypatch.setenv("NEO4J_USER", neo4j_server.user)
    monkeypatch.setenv("NEO4J_PASSWORD", neo4j_server.password or "")
    monkeypatch.setenv("NEO4J_DATABASE", neo4j_server.database)


def graph_only(backend: Neo4jBackend):
    """The graph without what detections write (findings), and the load counter."""
    nodes, rels = dump(backend)
    written = {"Finding", "FindingsRun", "XpgGroup", "XpgGroupMember", "XpgGroupsRun"}
    keep_nodes = {k: v for k, v in nodes.items() if not set(k[0]) & written}
    keep_rels = {k: v for k, v in rels.items() if k[0] != "FLAGS"}
    return keep_nodes, keep_rels, backend.meta()["load"]


def test_detect_and_report_run_on_the_database_without_data(
        neo4j_backend, env, tmp_path, capsys):
    data = write_dataset(tmp_path / "data")
    assert main(["load", "--data", str(data), "--backend", "neo4j"]) == 0
    assert main(["detect", "--data", str(data)]) == 0  # in memory: the reference
    want = json.loads(capsys.readouterr().out)
    before = graph_only(neo4j_backend)

    # no --data, no --as-of: the latest date the database holds
    assert main(["detect", "--backend", "neo4j"]) == 0
    assert json.loads(capsys.readouterr().out) == want
    assert want["as_of"] == dataset().latest_date().isoformat()
    assert graph_only(neo4j_backend) == before  # only findings were written
    latest = dataset().latest_date()
    stored = neo4j_backend.stored_findings(DetectionConfig(), as_of=latest)
    assert stored is not None and stored.to_dict() == want

    # the report over the database: the same findings and exposure as one over the folder
    assert main(["report", "--data", str(data), "--out", str(tmp_path / "mem"),
                 "--quiet"]) == 0
    assert main(["report", "--backend", "neo4j", "--out", str(tmp_path / "db"),
                 "--quiet"]) == 0
    capsys.readouterr()
    day = latest.isoformat()
    assert (tmp_path / "db" / day / "index.html").is_file()
    for name in ("findings.json", "exposure.csv", "findings.csv"):
        mem, db = tmp_path / "mem" / day / name, tmp_path / "db" / day / name
        if mem.exists():
            assert db.read_bytes() == mem.read_bytes(), name
    assert graph_only(neo4j_backend) == before


@pytest.mark.parametrize("command", [
    ["detect"],
    ["report", "--out", "OUT"],
    ["query", "user", "u1"],
    ["serve"],
])
def test_data_with_the_neo4j_backend_is_refused_and_writes_nothing(
        neo4j_backend, env, tmp_path, capsys, monkeypatch, command):
    monkeypatch.setenv("XPG_API_KEY", KEY)
    data = write_dataset(tmp_path / "data")
    neo4j_backend.load(dataset())
    before = dump(neo4j_backend), neo4j_backend.meta()
    args = [str(tmp_path / c) if c == "OUT" else c for c in command]
    assert main([*args, "--data", str(data), "--backend", "neo4j"]) == 2
    err = capsys.readouterr().err
    assert "--data: the neo4j backend works on the graph its database holds" in err
    assert "xpg load --data DIR --backend neo4j" in err
    assert (dump(neo4j_backend), neo4j_backend.meta()) == before


def test_serve_reads_the_stored_findings_and_says_when_there_are_none(
        neo4j_server, neo4j_driver, neo4j_backend):
    neo4j_backend.load(dataset())
    reader = Neo4jBackend(neo4j_server, driver=neo4j_driver, read_only=True)
    with xpg.open(backend=reader, read_only=True, load=False, detect=False) as s:
        client = TestClient(create_app(s, api_keys=[KEY]))
        headers = {"X-API-Key": KEY}
        before = dump(neo4j_backend)
        answer = client.get("/v1/findings", headers=headers)
        assert answer.status_code == 409
        error = answer.json()["error"]
        assert error["code"] == "no_detection"
        day = dataset().latest_date().isoformat()
        assert f"no detection has stored findings of {day}" in error["message"]
        assert "run `xpg detect --backend neo4j`" in error["message"]
        with pytest.raises(NoFindingsError):
            s.findings()
        assert dump(neo4j_backend) == before  # nothing detected, nothing written

        # a detection elsewhere stores them: the next request reads them
        report = neo4j_backend.detect(DetectionConfig())
        answer = client.get("/v1/findings", headers=headers)
        assert answer.status_code == 200
        assert answer.json()["summary"] == report.to_dict()["summary"]


def test_pull_detection_equals_cypher_and_memory(neo4j_server, neo4j_driver, neo4j_backend):
    neo4j_backend.load(dataset())
    with xpg.open(dataset=dataset()) as memory:
        want = memory.findings(AS_OF).to_dict()
    assert neo4j_backend.detect(DetectionConfig(), as_of=AS_OF,
                                write_findings=False).to_dict() == want
    before = dump(neo4j_backend)
    pull = dataclasses.replace(neo4j_server, detection="pull")
    with Neo4jBackend(pull, driver=neo4j_driver, read_only=True) as reader:
        assert reader.detect(DetectionConfig(), as_of=AS_OF).to_dict() == want
        tables = reader.snapshot()
    assert dump(neo4j_backend) == before
    assert tables.users.sort("user_id").equals(dataset().users.sort("user_id"))
    assert tables.accounts.sort("account_id").equals(
        dataset().accounts.select(tables.accounts.columns).sort("account_id"))
