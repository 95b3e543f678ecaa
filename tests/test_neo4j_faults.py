"""Faults on a real Neo4j that the tests crash and restart themselves.

On the session's second throwaway server (``neo4j_own_server``, the one the import tests
stop and restart too; not the shared one every other module uses): its JVM is killed with
SIGKILL (:meth:`OwnServer.kill`: a crash, nothing flushed or cleaned up) and started again
on the same data folder and port (:meth:`OwnServer.restart`: the database recovers from
its transaction log).

* killed during ``xpg load``: the command fails (exit 3, the URI and the cause, no
  traceback); meanwhile a new connection fails fast, and a load started again on a
  connection made before waits for the server (``retry_window_s``) and, once it is back,
  takes over the dead loader's lock at once and gives exactly the graph of one clean load
  (typed dump, counts, constraints);
* killed during a detection: a clear error at the command line, the findings stored
  before intact, and the next detection takes over the stale lock after its timeout;
* permanent faults (no server on the port, an unknown host, wrong credentials) fail in
  seconds, naming the URI (credentials removed) and the cause.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import subprocess
import sys
import threading
import time

import pytest
from investigation_data import dataset as investigation_dataset
from investigation_data import write_dataset
from neo4j_server import RESTART_TIMEOUT_S, OwnServer, dump, wipe
from xpg.graph.neo4j import Neo4jBackend
from xpg.graph.neo4j.connection import QueryMode
from xpg.graph.neo4j.hooks import Neo4jHooks
from xpg.graph.neo4j.lock import owner
from xpg.graph.neo4j.statements import statements

from xpg.errors import BackendError
from xpg.settings import DetectionConfig, Neo4jConfig

pytestmark = pytest.mark.neo4j


@pytest.fixture
def crashable(neo4j_own_server) -> OwnServer:
    """The session's second server, which these tests kill and restart (each test leaves
    it running)."""
    return neo4j_own_server


@pytest.fixture
def db(crashable):
    """A backend on the crashable server, over an emptied database."""
    with Neo4jBackend(crashable.config) as b:
        wipe(b.driver, crashable.config.database)
        yield b


def cli_env(config: Neo4jConfig, **more: str) -> dict[str, str]:
    return {"NEO4J_URI": config.uri, "NEO4J_USER": config.user,
            "NEO4J_PASSWORD": config.password or "", "NEO4J_DATABASE": config.database, **more}


def clean_load(backend: Neo4jBackend, data) -> tuple[object, dict[str, int]]:
    """The typed dump and counts of one uninterrupted load of ``data``; leaves it empty."""
    backend.load(data)
    clean = dump(backend), backend.counts()
    wipe(backend.driver, backend.config.database)
    return clean


def locks(backend: Neo4jBackend) -> list[dict]:
    return backend.run("MATCH (l:XpgLock) RETURN l.owner AS owner, l.job AS job",
                       QueryMode.READ)


def assert_constraints_hold(backend: Neo4jBackend) -> None:
    """Every xpg constraint is there, and no key is held by two nodes."""
    wanted = {q.split()[2] for n, q in statements("schema").items()
              if n.startswith("constraint_")}
    rows = backend.run("SHOW CONSTRAINTS YIELD name, labelsOrTypes, properties",
                       QueryMode.READ)
    assert wanted <= {r["name"] for r in rows}
    for r in rows:
        if r["name"] in wanted:
            label, keys = r["labelsOrTypes"][0], r["properties"]
            key = ", ".join(f"n.`{k}`" for k in keys)
            twice = backend.run(f"MATCH (n:`{label}`) WITH [{key}] AS k, count(*) AS c "
                                "WHERE c > 1 RETURN count(*) AS n", QueryMode.READ)
            assert twice[0]["n"] == 0, (label, keys)


@pytest.mark.slow  # CI only: kills the server and waits for its restart
def test_a_load_whose_server_is_killed_is_completed_by_loading_again(
        crashable, db, tmp_path, caplog):
    data = write_dataset(tmp_path / "data")
    from xpg.loaders import load_dataset

    dataset = load_dataset(data).dataset
    clean, clean_counts = clean_load(db, dataset)
    # the nightly job: `xpg load`, whose server is killed half-way
    env = {**os.environ, **cli_env(crashable.config, XPG_NEO4J_RETRY_WINDOW_S="1")}
    command = [sys.executable, "-c", "from xpg.cli import main; main()", "load", "--data",
               str(data), "--backend", "neo4j", "--batch-size", "1"]
    proc = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    killed = False
    patient = dataclasses.replace(crashable.config, retry_window_s=RESTART_TIMEOUT_S)
    outcome: list[object] = []
    with Neo4jBackend(patient) as rerun:
        rerun.counts()  # connected before the server goes away
        thread = threading.Thread(target=lambda: outcome.append(_load(rerun, dataset)))
        try:
            deadline = time.monotonic() + 300
            while proc.poll() is None and time.monotonic() < deadline:
                if db.counts()["Device"] > 0:  # users written, devices being written
                    crashable.kill()
                    killed = True
                    break
                time.sleep(0.05)
            start = time.monotonic()
            _, err = proc.communicate(timeout=120)
            failed_in = time.monotonic() - start
            assert killed, f"the load ended by itself ({proc.returncode}): {err}"
            # a clear error: exit 3, the URI and the cause, no traceback; soon after the kill
            assert proc.returncode == 3, err
            assert f"Neo4j at {crashable.config.redacted_uri} is unreachable" in err, err
            assert "Connection refused" in err or "defunct" in err, err
            assert "Traceback" not in err and crashable.config.password not in err
            assert failed_in < 30, failed_in
            # while it is down: a new connection fails fast (nothing answers: permanent)
            start = time.monotonic()
            with Neo4jBackend(crashable.config) as fresh, pytest.raises(BackendError) as e:
                fresh.counts()
            assert time.monotonic() - start < 5
            assert f"Neo4j at {crashable.config.redacted_uri} is unreachable" in str(e.value)
            assert "Connection refused" in str(e.value) and "after 3 attempts" in str(e.value)
            # ... and the load run again, on a connection made before, waits for the server
            caplog.set_level(logging.WARNING, logger="xpg.graph.neo4j.lock")
            thread.start()
            time.sleep(1)
            assert thread.is_alive() and not outcome
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
            if killed:
                crashable.restart()
            if thread.is_alive():
                thread.join(RESTART_TIMEOUT_S + 120)
    assert len(outcome) == 1 and not isinstance(outcome[0], BaseException), outcome
    # it found the load half done and the dead loader's lock, took the lock over at once
    # (its owner is gone) and completed the graph
    assert outcome[0].mode == "full"
    assert any(f"took over the job lock of {socket.gethostname()}:{proc.pid}" in r.getMessage()
               for r in caplog.records)
    assert db.meta()["state"] == "complete" and locks(db) == []
    assert db.counts() == clean_counts
    assert dump(db) == clean  # no node or relationship twice, none missing
    assert_constraints_hold(db)


def _load(backend: Neo4jBackend, dataset) -> object:
    try:
        return backend.load(dataset)
    except BaseException as e:  # reported by the test
        return e


def stored_findings(db: Neo4jBackend) -> tuple[list, list, int]:
    """Every stored finding and findings run, with all their properties, and the links."""
    findings = db.run("MATCH (f:Finding) RETURN properties(f) AS p ORDER BY f.as_of, f.id",
                           QueryMode.READ)
    runs = db.run("MATCH (r:FindingsRun) RETURN properties(r) AS p ORDER BY r.as_of",
                       QueryMode.READ)
    flags = db.run("MATCH (:Finding)-[x:FLAGS]->(:User) RETURN count(x) AS n",
                        QueryMode.READ)[0]["n"]
    return [r["p"] for r in findings], [r["p"] for r in runs], flags


@pytest.mark.slow  # CI only: kills the server and waits for its restart
def test_a_detection_whose_server_is_killed_fails_clearly_and_keeps_the_findings(
        crashable, db, monkeypatch, capsys, caplog):
    from xpg.cli import main

    db.load(investigation_dataset())
    first = db.detect(DetectionConfig())
    before = stored_findings(db)
    assert before[0] and before[1]
    for name, value in cli_env(crashable.config, XPG_NEO4J_RETRY_WINDOW_S="1").items():
        monkeypatch.setenv(name, value)
    components = Neo4jHooks._components
    killed = threading.Event()

    def kill_after_marking(self, config, as_of):
        components(self, config, as_of)  # the ring's scratch labels are on the graph now
        if not killed.is_set():
            killed.set()
            crashable.kill()

    monkeypatch.setattr(Neo4jHooks, "_components", kill_after_marking)
    capsys.readouterr()
    try:
        code = main(["detect", "--backend", "neo4j"])
    finally:
        if killed.is_set():
            crashable.restart()
    err = capsys.readouterr().err
    assert killed.is_set()
    assert code == 3, err
    assert f"Neo4j at {crashable.config.redacted_uri} is unreachable" in err, err
    assert "Connection refused" in err or "defunct" in err, err
    assert "Traceback" not in err and crashable.config.password not in err
    # the findings stored before the killed detection, untouched (stamps included)
    assert stored_findings(db) == before
    assert db.run("MATCH (n:XpgRingLink) RETURN count(n) AS n", QueryMode.READ)[0]["n"]
    # its lock: the owner (this process) lives, so it is taken over once it stops beating
    assert [r["owner"] for r in locks(db)] == [owner()]
    patient = dataclasses.replace(crashable.config, lock_wait_s=60, lock_stale_s=2)
    start = time.monotonic()
    with (caplog.at_level(logging.WARNING, logger="xpg.graph.neo4j.lock"),
          Neo4jBackend(patient) as again):
        assert again.detect(DetectionConfig()).to_dict() == first.to_dict()
    assert time.monotonic() - start >= 1  # it waited for the lock to go stale
    assert any(f"took over the job lock of {owner()}" in r.getMessage() for r in caplog.records)
    assert locks(db) == []
    assert db.run("MATCH (n) WHERE n:XpgRingLink OR n:XpgRingUser RETURN count(n) AS n",
                       QueryMode.READ)[0]["n"] == 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_permanent_faults_fail_fast_naming_the_uri_and_the_cause(
        crashable, monkeypatch, capsys, caplog):
    from xpg.cli import main

    port = free_port()  # nothing listens there
    monkeypatch.setenv("NEO4J_URI", f"bolt://127.0.0.1:{port}")
    monkeypatch.setenv("NEO4J_PASSWORD", "s3cret-pw")
    capsys.readouterr()
    start = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="xpg.graph.neo4j.connection"):
        code = main(["detect", "--backend", "neo4j"])
    took = time.monotonic() - start
    err = capsys.readouterr().err
    assert code == 3 and 1.4 <= took < 5, (code, took, err)  # 0.5 + 1 s between 3 tries
    assert f"Neo4j at bolt://127.0.0.1:{port} is unreachable or failed while connecting" in err, err
    assert "Connection refused" in err and "after 3 attempts" in err
    assert "s3cret-pw" not in err and "Traceback" not in err
    assert len([r for r in caplog.records if "trying again" in r.getMessage()]) == 2
    caplog.clear()
    # credentials in the URI are never shown
    with (Neo4jBackend(Neo4jConfig(uri=f"neo4j://bob:pw123@127.0.0.1:{port}",
                                   connect_retries=0)) as b,
          pytest.raises(BackendError) as e):
        b.counts()
    assert "pw123" not in str(e.value) and "bob" not in str(e.value)
    assert "***@127.0.0.1" in str(e.value)
    # a host that does not resolve, and refused credentials: at once, no retry
    for config, cause in (
            (Neo4jConfig(uri="bolt://no-such-host.invalid:7687"), "resolve"),
            (dataclasses.replace(crashable.config, password="not-the-password"),
             "refused the credentials")):
        start = time.monotonic()
        with (caplog.at_level(logging.WARNING, logger="xpg.graph.neo4j.connection"),
              Neo4jBackend(config) as b, pytest.raises(BackendError, match=cause) as e):
            b.counts()
        assert time.monotonic() - start < 3
        assert config.redacted_uri in str(e.value)
        assert not [r for r in caplog.records if "trying again" in r.getMessage()]
