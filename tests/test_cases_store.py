"""The case store: one test body on SQLite (memory backend) and Neo4j (tests/decorator.py)."""

from __future__ import annotations

import datetime as dt
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from decorator import on_backends
from xpg.queries.findings import Exposure, Finding

from xpg.cases import known_bad_users, open_case_store
from xpg.cases.sqlite import SCHEMA_VERSION, SqliteCaseStore
from xpg.errors import ConflictError, InputError, NotFoundError

AT = dt.datetime(2026, 11, 20, 9, 0)
CASES = on_backends("memory", "neo4j")


def finding(fid="ring-aaa", users=("u1", "u2", "u3"), total=1000.0, severity="high",
            type_="ring", lenders=("L1", "L2")):
    return Finding(fid, type_, severity, 0.9, tuple(users), Exposure(total),
                   {"lenders": list(lenders)}, "a finding")


@pytest.fixture
def store(backend, tmp_path):
    s = open_case_store(backend, tmp_path)
    yield s
    s.close()


@CASES
def test_lifecycle_and_audit_trail(store):
    f = finding()
    case = store.open(finding=f, by="alice", note="looks organised", at=AT)
    assert (case.status, case.version, case.finding_id, case.rule) == ("open", 1, f.id, "ring")
    store.assign(f.id, "bob", by="alice", at=AT)
    store.investigate(case.case_id, by="bob", at=AT)
    store.note(f.id, "family tablet", by="bob", at=AT)
    closed = store.decide(f.id, "false_positive", by="bob", finding=f, note="shared tablet",
                          at=AT)
    assert (closed.status, closed.outcome, closed.version) == ("closed", "false_positive", 5)
    assert closed.decision.exposure_total == 1000.0 and closed.decision.users == f.users
    reopened = store.reopen(f.id, by="carol", note="new evidence", at=AT)
    assert (reopened.status, reopened.outcome) == ("open", None)
    events = store.events(f.id)
    assert [e.what for e in events] == ["opened", "assigned", "status", "noted", "decided",
                                         "reopened"]
    assert [e.seq for e in events] == [1, 2, 3, 4, 5, 6]
    assert events[1].before == {"assignee": None} and events[1].after == {"assignee": "bob"}
    assert events[4].before["status"] == "investigating"
    assert events[4].after["outcome"] == "false_positive" and events[4].note == "shared tablet"
    assert events[5].by == "carol" and events[5].before["outcome"] == "false_positive"
    assert store.get(case.case_id) == store.get(f.id) == reopened
    assert [c.case_id for c in store.list(status="open")] == [case.case_id]
    assert store.list(status="closed") == []


@CASES
def test_follows_a_carried_forward_ring_id(store):
    store.open(finding=finding("ring-old"), by="alice", at=AT)
    followed = store.follow("ring-old", "ring-new", reason="ring grew: u4 joined", at=AT)
    assert followed.finding_ids == ("ring-old", "ring-new")
    assert store.get("ring-new").case_id == store.get("ring-old").case_id
    again = store.follow("ring-new", "ring-new", at=AT)  # nothing to do, no event
    assert again.version == followed.version
    other = store.open(finding=finding("ring-x", users=("u7", "u8", "u9")), by="bob", at=AT)
    with pytest.raises(ConflictError, match="already held"):
        store.follow(other.case_id, "ring-new")
    assert [e.what for e in store.events("ring-old")] == ["opened", "followed"]


@CASES
def test_a_user_case_and_known_bad_users(store):
    appeal = store.open(user="u5", by="alice", note="customer appeal", at=AT)
    assert appeal.user == "u5" and appeal.finding_id is None
    store.open(finding=finding("multi-lending-1", users=("u9",), type_="multi_lending"),
               by="alice", at=AT)
    store.decide("multi-lending-1", "confirmed_fraud", by="alice", at=AT)
    store.decide(appeal.case_id, "benign", by="alice", at=AT)
    assert known_bad_users(store) == {"u9"}
    p = store.precision()
    assert p["multi_lending"]["precision"] == 1.0 and p["multi_lending"]["decided"] == 1


@CASES
def test_bad_input_writes_nothing(store):
    f = finding()
    case = store.open(finding=f, by="alice", at=AT)
    bad = [
        lambda: store.decide(f.id, "fraud", by="alice"),
        lambda: store.note(f.id, "x" * 1_000_000, by="alice"),
        lambda: store.snooze(f.id, AT.date(), by="alice", at=AT),
        lambda: store.snooze(f.id, AT.date() - dt.timedelta(days=3), by="alice", at=AT),
        lambda: store.decide(f.id, "benign", by="alice", snooze_until=AT.date(), at=AT),
        lambda: store.assign(f.id, "", by="alice"),
        lambda: store.note(f.id, "ok", by=" "),
        lambda: store.reopen(f.id, by="alice"),  # not closed
    ]
    for call in bad:
        with pytest.raises(InputError):
            call()
    with pytest.raises(NotFoundError):
        store.decide("ring-unknown", "benign", by="alice")
    with pytest.raises(ConflictError, match="already held"):
        store.open(finding=f, by="bob")
    assert store.get(f.id) == case
    assert len(store.events(f.id)) == 1 and len(store.list()) == 1


@CASES
def test_expected_version_conflict(store):
    f = finding()
    case = store.open(finding=f, by="alice", at=AT)
    store.assign(f.id, "alice", by="alice", expected_version=case.version)
    with pytest.raises(ConflictError) as e:
        store.assign(f.id, "bob", by="bob", expected_version=case.version)
    assert (e.value.expected, e.value.found) == (1, 2)
    assert store.get(f.id).assignee == "alice"


@CASES
def test_concurrent_writers_both_land(backend, tmp_path):
    first = open_case_store(backend, tmp_path)
    second = open_case_store(backend, tmp_path)  # its own connection on SQLite
    case = first.open(finding=finding(), by="alice", at=AT)
    errors: list[BaseException] = []

    def write(store, who):
        try:
            for i in range(15):
                store.note(case.case_id, f"{who} {i}", by=who)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=write, args=(s, w))
               for s, w in ((first, "alice"), (second, "bob"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    events = first.events(case.case_id)
    assert [e.seq for e in events] == list(range(1, 32))
    assert first.get(case.case_id).version == 31
    assert sorted(e.note for e in events[1:]) == sorted(
        [f"alice {i}" for i in range(15)] + [f"bob {i}" for i in range(15)])
    first.close()
    second.close()


@CASES
def test_concurrent_writers_with_versions_one_conflicts(store):
    case = store.open(finding=finding(), by="alice", at=AT)
    outcomes: list[str] = []
    barrier = threading.Barrier(2)

    def decide(outcome):
        barrier.wait()
        try:
            store.decide(case.case_id, outcome, by=outcome, expected_version=1)
            outcomes.append("ok")
        except ConflictError:
            outcomes.append("conflict")

    threads = [threading.Thread(target=decide, args=(o,)) for o in ("benign", "duplicate")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict", "ok"]
    assert store.get(case.case_id).version == 2 and len(store.events(case.case_id)) == 2


def test_sqlite_schema_version_and_migration_from_v1(tmp_path):
    path = tmp_path / "cases.sqlite"
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TEXT)")
    from xpg.cases.sqlite import MIGRATIONS

    for statement in MIGRATIONS[0]:
        db.execute(statement)
    db.execute("INSERT INTO schema_version VALUES (1, '2026-01-01')")
    db.commit()
    db.close()
    with SqliteCaseStore(path) as store:
        assert store.schema_version() == SCHEMA_VERSION
        store.open(user="u1", by="alice")
    db = sqlite3.connect(path)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("DELETE FROM events")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("UPDATE events SET by = 'mallory'")
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.execute("INSERT INTO schema_version VALUES (99, 'x')")
    db.commit()
    db.close()
    from xpg.errors import BackendError

    with pytest.raises(BackendError, match="newer"):
        SqliteCaseStore(path)


_CHILD = textwrap.dedent("""
    import os, sys, time
    from pathlib import Path
    import xpg.cases.neo4j as neo
    from xpg.cases.sqlite import SqliteCaseStore
    def stall(*args):  # the case is updated in the open transaction: die here
        Path(sys.argv[2]).write_text("in")
        time.sleep(60)
    if sys.argv[1] == "neo4j":
        from xpg.graph.neo4j.connection import Neo4jConnection
        from xpg.settings import load_settings
        store = neo.Neo4jCaseStore(Neo4jConnection(load_settings(environ=os.environ).neo4j))
        neo._append = stall
    else:
        store = SqliteCaseStore(sys.argv[1])
        SqliteCaseStore._write_events = stall
    store.assign(sys.argv[3], "mallory", by="mallory")
""")


@CASES
def test_sigkill_mid_write_leaves_it_consistent(backend, tmp_path):
    from xpg.graph.neo4j.connection import Neo4jConnection

    path = tmp_path / "cases.sqlite"
    env = {**os.environ}
    target = str(path)
    if isinstance(backend, Neo4jConnection):
        c = backend.config
        env.update(NEO4J_URI=c.uri, NEO4J_USER=c.user, NEO4J_PASSWORD=c.password or "",
                   NEO4J_DATABASE=c.database)
        target = "neo4j"
    store = open_case_store(backend, tmp_path)
    case = store.open(finding=finding(), by="alice", at=AT)
    store.assign(case.case_id, "alice", by="alice")
    marker = tmp_path / "marker"
    child = subprocess.Popen([sys.executable, "-c", _CHILD, target, str(marker), case.case_id],
                             env=env)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert child.poll() is None, "the writer ended before the kill"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
    store.close()
    store = open_case_store(backend, tmp_path)
    deadline = time.monotonic() + 60  # Neo4j ends the dead client's transaction
    while True:
        try:
            store.note(case.case_id, "still writable", by="bob")  # no lock left behind
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)
    after = store.get(case.case_id)
    assert (after.assignee, after.version) == ("alice", 3)
    assert [e.what for e in store.events(case.case_id)] == ["opened", "assigned", "noted"]
    store.close()
    if not isinstance(backend, Neo4jConnection):
        db = sqlite3.connect(path)
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        db.close()


def test_open_case_store_needs_a_folder_in_memory():
    from xpg.graph.memory import MemoryBackend

    with pytest.raises(InputError, match="reports"):
        open_case_store(MemoryBackend(), None)


def test_store_file_lives_beside_the_reports(tmp_path):
    from xpg.graph.memory import MemoryBackend

    with open_case_store(MemoryBackend(), tmp_path) as store:
        store.open(user="u1", by="alice")
    assert (Path(tmp_path) / "cases.sqlite").is_file()


@on_backends("neo4j")
def test_neo4j_cases_link_to_the_users_they_name(backend, tmp_path):
    from investigation_data import dataset
    from xpg.graph.neo4j.connection import QueryMode

    backend.load(dataset())
    store = open_case_store(backend, tmp_path)
    store.open(finding=finding(users=("u1", "u2", "nobody")), by="alice", at=AT)
    rows = backend.run("MATCH (:Case)-[:NAMES]->(u:User) RETURN u.user_id AS u ORDER BY u",
                       QueryMode.READ)
    assert [r["u"] for r in rows] == ["u1", "u2"]  # a user not in the graph is not made
    assert backend.run("MATCH (u:User {user_id: 'nobody'}) RETURN u", QueryMode.READ) == []
