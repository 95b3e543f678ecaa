"""Jobs on a real Neo4j: one load or writing detection at a time per database (the job
lock names its holder, and a crashed holder's lock is taken over). Server crashes and
connection faults: ``tests/test_neo4j_faults.py``."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import threading
import time

import pytest
from investigation_data import dataset, write_dataset
from neo4j_server import dump
from xpg.graph.neo4j import Neo4jBackend
from xpg.graph.neo4j.connection import QueryMode
from xpg.graph.neo4j.lock import job_lock, owner

from xpg.errors import LockHeldError
from xpg.settings import DetectionConfig

pytestmark = pytest.mark.neo4j


def plant_lock(backend: Neo4jBackend, holder: str, age_s: float) -> None:
    """A lock as another job leaves it: its last beat ``age_s`` seconds ago."""
    beat = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=age_s)
    backend.run("CREATE (:XpgLock {name: 'jobs', token: 'theirs', owner: $o, job: 'load', "
                "since: $t, beat: $t})", QueryMode.WRITE, o=holder, t=beat)


def locks(backend: Neo4jBackend) -> list[dict]:
    return backend.run("MATCH (l:XpgLock) RETURN l.owner AS owner", QueryMode.READ)


def test_a_second_load_or_detection_is_refused_naming_the_holder(
        neo4j_server, neo4j_backend, tmp_path, monkeypatch, capsys):
    from xpg.cli import main

    neo4j_backend.load(dataset())
    assert locks(neo4j_backend) == []  # freed when the load ended
    plant_lock(neo4j_backend, "nightly-7:4242", age_s=1)
    before = dump(neo4j_backend)
    with pytest.raises(LockHeldError, match=r"cannot load: nightly-7:4242 is running a load"):
        neo4j_backend.load(dataset())
    with pytest.raises(LockHeldError, match=r"cannot detect: nightly-7:4242") as e:
        neo4j_backend.detect(DetectionConfig())
    assert e.value.owner == "nightly-7:4242" and e.value.since is not None
    assert dump(neo4j_backend) == before
    # the command line: exit 3, the holder named
    for name, value in (("NEO4J_URI", neo4j_server.uri), ("NEO4J_DATABASE", neo4j_server.database),
                        ("NEO4J_PASSWORD", neo4j_server.password or "")):
        monkeypatch.setenv(name, value)
    data = write_dataset(tmp_path / "data")
    assert main(["load", "--data", str(data), "--backend", "neo4j"]) == 3
    assert "nightly-7:4242 is running a load" in capsys.readouterr().err
    # a reader needs no lock
    with Neo4jBackend(neo4j_server, driver=neo4j_backend.driver, read_only=True) as reader:
        assert reader.detect(DetectionConfig()).findings


def test_a_job_running_here_holds_the_lock_and_a_waiting_one_gets_it(
        neo4j_server, neo4j_driver, neo4j_backend):
    neo4j_backend.load(dataset())
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        with job_lock(neo4j_backend, "load"):
            taken.set()
            release.wait(30)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert taken.wait(30)
        with pytest.raises(LockHeldError, match=f"cannot load: {owner()} is running a load"):
            neo4j_backend.load(dataset())
        patient = dataclasses.replace(neo4j_server, lock_wait_s=60)
        threading.Timer(1.0, release.set).start()
        start = time.monotonic()
        with Neo4jBackend(patient, driver=neo4j_driver) as waiting:
            assert waiting.load(dataset()).mode == "delta"
        assert time.monotonic() - start >= 0.9
    finally:
        release.set()
        holder.join()
    assert locks(neo4j_backend) == []


def test_a_crashed_holders_lock_is_taken_over(neo4j_backend, caplog):
    neo4j_backend.load(dataset())
    plant_lock(neo4j_backend, "crashed:1", age_s=3600)
    with caplog.at_level(logging.WARNING, logger="xpg.graph.neo4j.lock"):
        neo4j_backend.load(dataset())
    assert any("took over the job lock of crashed:1" in r.getMessage() for r in caplog.records)
    assert locks(neo4j_backend) == []
