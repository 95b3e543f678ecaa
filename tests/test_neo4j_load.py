"""Writing the exposure graph into Neo4j: counts, idempotence, failures half-way, updates.

Exact outcomes on small hand-made fixtures; invariants (a second load changes no count,
a load killed half-way and run again equals one clean load) on generated data.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import subprocess
import sys
import time
from contextlib import contextmanager

import polars as pl
import pytest
from detect_fixtures import AS_OF, Builder, at, day, multi_lender
from neo4j_server import dump, wipe
from xpg.graph.neo4j import Neo4jBackend
from xpg.graph.neo4j.connection import QueryMode

from xpg.errors import BackendError, ConfigError
from xpg.settings import DetectionConfig, Neo4jConfig
from xpg.synthetic import generate, write

pytestmark = pytest.mark.neo4j


def small() -> Builder:
    """Two users sharing a device and a phone; accounts in both kinds; loans; events."""
    b = Builder()
    b.account("a1", "u1", "huabei", limit=10_000, outstanding=2_000)
    b.account("a2", "u1", "jiebei", limit=5_000, status="frozen", reason="fraud", changed_at=at(-3))
    b.account("a3", "u2", "huabei", limit=8_000)
    b.device("u1", "d1", first_seen=at(-50)).device("u2", "d1").device("u2", "d1", at(-10))
    b.identifier("u1", "phone", "138").identifier("u2", "phone", "138")
    b.identifier("u2", "email", "x@y")
    b.loan("u1", "L1").loan("u1", "L1").loan("u1", "L2", status="closed")
    b.application("u2", "L3", at(-2), "approved")
    b.event("a2", at(-3), "freeze", reason="fraud")
    b.event("a1", at(-1), "limit_change", old=20_000, new=10_000)
    return b


def test_counts_of_a_hand_made_fixture(neo4j_backend):
    stats = neo4j_backend.load(small().build())
    c = neo4j_backend.counts()
    assert (c["User"], c["Account"], c["Product"], c["Device"], c["Identifier"]) == (2, 3, 4, 1, 2)
    assert (c["Lender"], c["AccountEvent"], c["StatusChange"]) == (3, 2, 0)
    # the repeated (u2, d1) sighting is one link; two identical loans stay two loans
    assert (c["USED"], c["HAS_IDENTIFIER"], c["BORROWED_FROM"], c["APPLIED_TO"]) == (2, 3, 3, 1)
    assert (c["HAS_ACCOUNT"], c["IN_PRODUCT"], c["HAD_EVENT"]) == (3, 3, 2)
    assert stats.nodes == c["nodes"] - 1  # all but the bookkeeping node
    assert stats.relationships == c["relationships"]
    meta = neo4j_backend.meta()
    assert meta["state"] == "complete" and meta["users"] == 2
    assert neo4j_backend.latest_date() == AS_OF - dt.timedelta(days=1)


def test_links_keep_the_earliest_sighting_and_none_when_one_had_none(neo4j_backend):
    neo4j_backend.load(small().build())
    rows = neo4j_backend.run(
        "MATCH (u:User)-[x:USED]->(:Device {device_id: 'd1'}) "
        "RETURN u.user_id AS user, x.first_seen AS first ORDER BY user"
    , QueryMode.READ)
    assert [(r["user"], r["first"] and r["first"].to_native()) for r in rows] == [
        ("u1", at(-50)),
        ("u2", None),  # one of u2's sightings has no date: the link exists at any date
    ]


def test_loading_the_same_data_twice_changes_no_count(neo4j_backend):
    dataset = generate(300, 7).dataset()
    neo4j_backend.load(dataset)
    first = neo4j_backend.counts()
    first_dump = dump(neo4j_backend)
    neo4j_backend.load(dataset)
    assert neo4j_backend.counts() == first
    assert dump(neo4j_backend) == first_dump
    assert first["StatusChange"] == 0 and first["User"] == 300


def test_batch_size_does_not_change_the_graph(neo4j_server, neo4j_driver):
    dataset = small().build()
    dumps = []
    for size in (1, 2, 20_000):
        wipe(neo4j_driver, neo4j_server.database)
        config = dataclasses.replace(neo4j_server, batch_size=size)
        with Neo4jBackend(config, driver=neo4j_driver) as backend:
            backend.load(dataset)
            dumps.append(dump(backend))
    assert dumps[0] == dumps[1] == dumps[2]


class Crash(Exception):
    pass


class CrashingProgress:
    """Raises once ``rows`` rows of the step named ``step`` were written."""

    def __init__(self, step: str, rows: int):
        self.step_name, self.rows = step, rows

    @contextmanager
    def step(self, description: str, total: int | None = None):
        done = 0

        def advance(n: int = 1) -> None:
            nonlocal done
            done += n
            if description == self.step_name and done >= self.rows:
                raise Crash(description)

        yield advance


@pytest.mark.parametrize("step", ["Writing users", "Writing identifier links"])
def test_a_load_failing_half_way_is_completed_by_loading_again(neo4j_server, neo4j_driver, step):
    dataset = generate(300, 11).dataset()
    with Neo4jBackend(neo4j_server, driver=neo4j_driver) as backend:
        wipe(neo4j_driver, neo4j_server.database)
        backend.load(dataset)
        clean = dump(backend)
        clean_counts = backend.counts()
    config = dataclasses.replace(neo4j_server, batch_size=200)
    with Neo4jBackend(config, driver=neo4j_driver) as backend:
        wipe(neo4j_driver, config.database)
        with pytest.raises(Crash):
            backend.load(dataset, progress=CrashingProgress(step, 200))
        assert backend.meta()["state"] == "loading"
        assert 0 < backend.counts()["nodes"] < clean_counts["nodes"]
        with pytest.raises(BackendError, match="did not complete"):
            backend.detect(DetectionConfig())
        backend.load(dataset)
        assert backend.counts() == clean_counts
        assert dump(backend) == clean


def test_a_load_killed_half_way_is_completed_by_loading_again(neo4j_server, neo4j_driver, tmp_path):
    write(tmp_path / "data", 300, 5)
    data = tmp_path / "data"
    from xpg.loaders import load_dataset

    dataset = load_dataset(data).dataset
    with Neo4jBackend(neo4j_server, driver=neo4j_driver) as backend:
        wipe(neo4j_driver, neo4j_server.database)
        backend.load(dataset)
        clean = dump(backend)
        wipe(neo4j_driver, neo4j_server.database)

        env = {
            **os.environ,
            "NEO4J_URI": neo4j_server.uri,
            "NEO4J_USER": neo4j_server.user,
            "NEO4J_PASSWORD": neo4j_server.password or "",
            "NEO4J_DATABASE": neo4j_server.database,
        }
        command = [sys.executable, "-c", "from xpg.cli import main; main()", "load"]
        args = ["--data", str(data), "--backend", "neo4j", "--batch-size", "10"]
        proc = subprocess.Popen(command + args, env=env, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 300
            while proc.poll() is None and time.monotonic() < deadline:
                if backend.counts()["Device"] > 0:  # users written, devices being written
                    proc.kill()
                    break
                time.sleep(0.05)
        finally:
            if proc.poll() is None:
                proc.kill()
            _, err = proc.communicate(timeout=60)
        assert proc.returncode == -9, f"the load ended by itself ({proc.returncode}): {err}"
        assert backend.meta()["state"] == "loading"
        backend.load(dataset)
        assert dump(backend) == clean


def snapshot(version: int) -> Builder:
    """Version 1, and version 2 where things changed, appeared and disappeared."""
    b = Builder()
    b.account("a1", "u1", "huabei", limit=10_000)
    if version == 1:
        b.account("a2", "u1", "jiebei", limit=5_000)
        b.account("a3", "u2", "huabei", limit=8_000)  # u2 leaves in version 2
        b.device("u2", "d1").loan("u1", "L1", outstanding=3_000)
        b.event("a2", at(-5), "limit_change", old=6_000, new=5_000)
    else:
        b.account("a2", "u1", "jiebei", limit=5_000, status="frozen", reason="fraud")
        b.account("a4", "u3", "jiebei", limit=1_000)  # new
        b.loan("u1", "L1", outstanding=1_000, status="overdue")
    b.device("u1", "d1")
    multi_lender(b, "u4")
    return b


def test_a_newer_snapshot_updates_adds_and_retires(neo4j_backend):
    neo4j_backend.load(snapshot(1).build())
    v2 = snapshot(2).build()
    neo4j_backend.load(v2)
    c = neo4j_backend.counts()
    retired = neo4j_backend.run(
        "MATCH (n) WHERE n.retired_at IS NOT NULL "
        "RETURN labels(n)[0] AS label, coalesce(n.key, n.account_id, n.user_id) AS id "
        "ORDER BY label, id"
    , QueryMode.READ)
    assert [(r["label"], r["id"]) for r in retired] == [
        ("Account", "a3"),
        ("AccountEvent", f"a2\x1f{at(-5).isoformat()}.000000\x1flimit_change\x1f0"),
        ("User", "u2"),
    ]
    # facts gone from the snapshot are gone; a retired account keeps its owner (history)
    assert c["USED"] == 1 and c["BORROWED_FROM"] == 5
    owner = neo4j_backend.run(
        "MATCH (u:User)-[:HAS_ACCOUNT]->(:Account {account_id: 'a3'}) RETURN u.user_id AS u"
    , QueryMode.READ)
    assert [r["u"] for r in owner] == ["u2"]
    loan = neo4j_backend.run(
        "MATCH (:User {user_id: 'u1'})-[x:BORROWED_FROM]->(:Lender {lender_id: 'L1'}) "
        "RETURN x.status AS status, x.outstanding AS outstanding"
    , QueryMode.READ)
    assert loan == [{"status": "overdue", "outstanding": 1_000.0}]
    # the status change is kept as history
    changes = neo4j_backend.run(
        "MATCH (:Account {account_id: 'a2'})-[:STATUS_CHANGED]->(s:StatusChange) "
        "RETURN s.from_status AS f, s.to_status AS t, s.to_reason AS r"
    , QueryMode.READ)
    assert changes == [{"f": "active", "t": "frozen", "r": "fraud"}]
    # loading version 2 again changes nothing, history included
    neo4j_backend.load(v2)
    assert neo4j_backend.counts() == c
    # detections see only the current snapshot: the same as in memory
    from xpg.graph.memory import MemoryBackend

    memory = MemoryBackend()
    memory.load(v2)
    config = DetectionConfig()
    assert neo4j_backend.detect(config).to_dict() == memory.detect(config).to_dict()


def test_what_comes_back_is_no_longer_retired(neo4j_backend):
    neo4j_backend.load(snapshot(1).build())
    neo4j_backend.load(snapshot(2).build())
    neo4j_backend.load(snapshot(1).build())
    rows = neo4j_backend.run("MATCH (n) WHERE n.retired_at IS NOT NULL RETURN n", QueryMode.READ)
    assert [r for r in rows if "u3" not in str(r) and "a4" not in str(r)] == []
    c = neo4j_backend.counts()
    assert (c["User"], c["Account"], c["StatusChange"]) == (4, 4, 2)  # frozen, then active


def test_extra_columns_become_properties(neo4j_backend):
    ds = small().build()
    users = ds.users.with_columns(
        segment=pl.lit("gold"), load=pl.lit(7), tags=pl.lit(["a", "b"]), nested=pl.struct(x=1)
    )
    neo4j_backend.load(dataclasses.replace(ds, users=users))
    rows = neo4j_backend.run(
        "MATCH (u:User {user_id: 'u1'}) RETURN u.segment AS s, u.extra_load AS l, u.tags AS t, "
        "u.nested AS n, u.load <> 7 AS stamped"
    , QueryMode.READ)
    assert rows == [{"s": "gold", "l": 7, "t": ["a", "b"], "n": None, "stamped": True}]


def test_detect_needs_a_complete_load(neo4j_backend):
    with pytest.raises(BackendError, match="no xpg graph"):
        neo4j_backend.detect(DetectionConfig())


def test_findings_are_written_back_and_versioned_by_run_date(neo4j_backend):
    b = small()
    multi_lender(b, "u9")
    neo4j_backend.load(b.build())
    report = neo4j_backend.detect(DetectionConfig(), as_of=AS_OF)
    neo4j_backend.detect(DetectionConfig(), as_of=AS_OF)  # replaces, does not add
    assert neo4j_backend.counts()["Finding"] == len(report.findings) > 0
    stored = neo4j_backend.finding_nodes(AS_OF)
    assert [f["id"] for f in stored] == [f.id for f in report.findings]  # report order
    flagged = neo4j_backend.run(
        "MATCH (f:Finding {type: 'multi_lending'})-[:FLAGS]->(u:User) RETURN u.user_id AS u"
    , QueryMode.READ)
    assert [r["u"] for r in flagged] == ["u9"]
    earlier = neo4j_backend.detect(DetectionConfig(), as_of=day(-1))  # another run date
    assert neo4j_backend.counts()["Finding"] == len(report.findings) + len(earlier.findings)
    # no scratch left behind by the ring detection
    assert neo4j_backend.run(
        "MATCH (n) WHERE n:XpgRingLink OR n:XpgRingUser OR n._cc IS NOT NULL RETURN count(n) AS n"
    , QueryMode.READ) == [{"n": 0}]


def test_a_session_reads_the_findings_of_the_same_load_and_settings(neo4j_backend, monkeypatch):
    """Findings written back are read, not detected again, while the graph and the settings
    are those they were computed with; another load or other settings detect again."""
    import xpg

    b = small()
    multi_lender(b, "u9")
    dataset = b.build()
    neo4j_backend.load(dataset)
    config = DetectionConfig()
    report = neo4j_backend.detect(config, as_of=AS_OF)
    assert neo4j_backend.stored_findings(config, as_of=AS_OF).to_dict() == report.to_dict()
    assert neo4j_backend.stored_findings(config, as_of=day(-1)) is None  # no run that day

    def no_detection(*args, **kwargs):
        raise AssertionError("detected again")

    monkeypatch.setattr(neo4j_backend, "detect", no_detection)
    with xpg.open(backend=neo4j_backend) as s:  # the graph in the database, no tables
        assert s.findings(AS_OF).to_dict() == report.to_dict()
        # investigations then use those findings
        assert "multi_lending" in {f.type for f in s.user("u9", as_of=AS_OF).findings}
    monkeypatch.undo()

    other = dataclasses.replace(config, multi_lending=dataclasses.replace(
        config.multi_lending, min_open_lenders=config.multi_lending.min_open_lenders + 1))
    assert neo4j_backend.stored_findings(other, as_of=AS_OF) is None
    neo4j_backend.load(dataset)  # the same data, but another load: detect again
    assert neo4j_backend.stored_findings(config, as_of=AS_OF) is None
    again = neo4j_backend.detect(config, as_of=AS_OF)
    assert again.to_dict() == report.to_dict()
    assert neo4j_backend.stored_findings(config, as_of=AS_OF).to_dict() == report.to_dict()


def test_rings_use_the_cypher_path_on_community(neo4j_backend):
    from xpg.graph.neo4j.hooks import Neo4jHooks

    b = small()
    neo4j_backend.load(b.build())
    hooks = Neo4jHooks(neo4j_backend)
    try:
        assert hooks.gds_available() is False
        groups = hooks.ring_groups(DetectionConfig().ring, AS_OF)
    finally:
        hooks.cleanup()
    assert hooks.ring_method == "cypher"
    assert sorted(groups.get_column("user_id").to_list()) == []  # two users: below min_users
    assert hooks.ring_passes >= 1


def test_an_injected_driver_is_not_closed(neo4j_server, neo4j_driver):
    Neo4jBackend(neo4j_server, driver=neo4j_driver).close()
    neo4j_driver.verify_connectivity()


def test_bad_credentials_and_unreachable_servers_are_backend_errors(neo4j_server, caplog):
    wrong = dataclasses.replace(neo4j_server, password="not-the-password")
    with Neo4jBackend(wrong) as backend, pytest.raises(BackendError, match="credentials") as e:
        backend.counts()
    assert "not-the-password" not in str(e.value)
    nowhere = Neo4jConfig(uri="bolt://someone:s3cret@127.0.0.1:1", password="s3cret")
    with Neo4jBackend(nowhere) as backend, pytest.raises(BackendError) as e:
        backend.counts()
    assert "s3cret" not in str(e.value) and "someone" not in str(e.value)
    down = Neo4jConfig(uri="bolt://127.0.0.1:1", password="s3cret")
    with Neo4jBackend(down) as backend, pytest.raises(BackendError, match="while connecting"):
        backend.counts()
    # refused at the first round trip, not after the managed transactions' retries
    assert not [r for r in caplog.records if "will be retried" in r.getMessage()]


def test_batch_size_must_be_positive(neo4j_server):
    # the section refuses it when made, so no backend is ever given one
    with pytest.raises(ConfigError, match=r"^neo4j.batch_size: must be >= 1, got 0$"):
        Neo4jBackend(dataclasses.replace(neo4j_server, batch_size=0))


def test_cli_load(neo4j_server, neo4j_driver, tmp_path, monkeypatch, capsys):
    from xpg.cli import main

    wipe(neo4j_driver, neo4j_server.database)
    write(tmp_path / "d", 300, 2)
    monkeypatch.setenv("NEO4J_URI", neo4j_server.uri)
    monkeypatch.setenv("NEO4J_PASSWORD", neo4j_server.password or "")
    monkeypatch.setenv("NEO4J_DATABASE", neo4j_server.database)
    assert main(["load", "--data", str(tmp_path / "d"), "--backend", "neo4j"]) == 0
    assert "relationships/s" in capsys.readouterr().err
    with Neo4jBackend(neo4j_server, driver=neo4j_driver) as backend:
        assert backend.counts()["User"] == 300
    assert main(["load", "--data", str(tmp_path / "d")]) == 2  # the memory backend
    assert "--backend neo4j" in capsys.readouterr().err


def test_a_create_batch_whose_commit_answer_is_lost_is_not_duplicated(
    neo4j_server, neo4j_driver, monkeypatch, caplog
):
    import neo4j

    dataset = small().build()
    config = dataclasses.replace(neo4j_server, batch_size=2)
    with Neo4jBackend(config, driver=neo4j_driver) as backend:
        wipe(neo4j_driver, config.database)
        backend.load(dataset)
        clean = dump(backend)
        wipe(neo4j_driver, config.database)

        commit = neo4j.Transaction.commit
        lost = []

        def commit_then_lose_the_answer(tx):
            commit(tx)
            if len(lost) < 3:  # the first three CREATE batches committed, unbeknown
                lost.append(1)
                raise neo4j.exceptions.ServiceUnavailable("connection lost after commit")

        monkeypatch.setattr(neo4j.Transaction, "commit", commit_then_lose_the_answer)
        caplog.clear()
        backend.load(dataset)
        assert len(lost) == 3
        assert dump(backend) == clean
    finished = [r.getMessage() for r in caplog.records if "MERGE finishes it" in r.getMessage()]
    assert len(finished) == 3 and all("connection lost after commit" in m for m in finished)
