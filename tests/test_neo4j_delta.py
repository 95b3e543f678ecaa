"""Nightly deltas on a real Neo4j: a new snapshot is compared with what the database holds
and only the difference is written; the graph, its history and the findings are those of
a full load of the new snapshot."""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest
from delta_data import next_night
from neo4j_server import dump, wipe
from xpg.graph.memory import MemoryBackend
from xpg.graph.neo4j import Neo4jBackend
from xpg.graph.neo4j.connection import QueryMode
from xpg.graph.neo4j.delta import HASH_VERSION

from xpg.settings import DetectionConfig
from xpg.synthetic import generate

pytestmark = pytest.mark.neo4j

STAMPS = ("retired_at", "observed_at", "row_key", "row_hash")  # when, and how it was hashed


def graph(backend: Neo4jBackend) -> tuple[Counter, Counter]:
    """The dump with the load's own stamps reduced to whether they are set."""

    def plain(props: tuple) -> tuple:
        return tuple((k, v is not None) if k in STAMPS else (k, v) for k, v in props)

    nodes, rels = dump(backend)
    return (
        Counter({(labels, plain(p)): n for (labels, p), n in nodes.items()}),
        Counter({(t, (a[0], plain(a[1])), plain(p), (b[0], plain(b[1]))): n
                 for (t, a, p, b), n in rels.items()}),
    )


def row_hash_indexes(backend: Neo4jBackend) -> int:
    names = backend.run("SHOW INDEXES YIELD name", QueryMode.READ)
    return sum(r["name"].startswith("xpg_row_hash_") for r in names)


def scanned(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The steps whose hashes a delta read from the graph (no manifest), from its log."""
    return [r.args[0] for r in caplog.records if r.msg.startswith("delta: no manifest")]


def test_a_delta_writes_the_difference_and_ends_as_a_full_load(neo4j_server, neo4j_driver,
                                                                monkeypatch, caplog):
    first = generate(600, 7).dataset()
    second = next_night(first, share=0.05, seed=3)
    full = dataclasses.replace(neo4j_server, load_mode="full")
    config = DetectionConfig()
    # manifest parts of 400 hashes: the larger steps are kept in several parts
    monkeypatch.setattr("xpg.graph.neo4j.delta.MANIFEST_PART", 400)
    caplog.set_level("INFO", logger="xpg.graph.neo4j.delta")
    with (Neo4jBackend(neo4j_server, driver=neo4j_driver) as backend,
          Neo4jBackend(full, driver=neo4j_driver) as reference):
        wipe(neo4j_driver, neo4j_server.database)
        backend.run("DROP INDEX xpg_row_hash_user IF EXISTS", QueryMode.WRITE)
        first_load = backend.load(first)
        assert first_load.mode == "full"  # an empty database: everything is new
        assert backend.meta()["row_hash"] == HASH_VERSION
        # the first load made the row_hash indexes, and its hash manifest (in parts)
        assert row_hash_indexes(backend) == 11
        parts = backend.run("MATCH (h:XpgHashes) RETURN h.step AS step, h.parts AS parts, "
                            "h.load AS load", QueryMode.READ)
        assert {r["load"] for r in parts} == {backend.meta()["load"]}
        assert len({r["step"] for r in parts}) == 11 and max(r["parts"] for r in parts) > 1
        assert backend.counts()["nodes"] == first_load.nodes + 1  # XpgMeta, not the parts
        stats = backend.load(second)
        assert stats.mode == "delta" and backend.meta()["mode"] == "delta"
        assert 0 < stats.written < second.row_count / 10 and stats.retired > 0
        assert scanned(caplog) == []  # every step's hashes came from the manifest
        # where its time went, per phase
        assert set(stats.phases) == {"plan", "setup", "index", "read", "compare", "lookup",
                                     "write", "retire", "manifest", "finish"}
        assert sum(stats.phases.values()) == pytest.approx(stats.seconds)
        delta = graph(backend)
        history = backend.counts()["StatusChange"]
        assert history > 0  # the accounts frozen overnight kept their history

        # findings in the database equal a fresh in-memory run on the new snapshot
        memory = MemoryBackend()
        memory.load(second)
        want = memory.detect(config).to_dict()
        assert backend.detect(config, write_findings=False).to_dict() == want

        # the same graph as two full loads (history and retirement included)
        wipe(neo4j_driver, neo4j_server.database)
        reference.load(first)
        assert reference.load(second).mode == "full"
        assert graph(reference) == delta

        # without the manifest (a graph the offline importer wrote), the delta reads the
        # hashes from the graph: the same graph again
        wipe(neo4j_driver, neo4j_server.database)
        reference.load(first)
        backend.run("MATCH (h:XpgHashes) DELETE h", QueryMode.WRITE)
        assert backend.load(second).mode == "delta"
        assert len(scanned(caplog)) == 11
        assert graph(backend) == delta

        # the same snapshot again: nothing to write, nothing to retire, nothing changes
        again = backend.load(second)
        assert (again.mode, again.written, again.retired) == ("delta", 0, 0)
        assert graph(backend) == delta


def test_a_delta_falls_back_to_a_full_load_when_it_cannot_compare(neo4j_backend):
    first = generate(300, 11).dataset()
    neo4j_backend.load(first)
    # hashes made by another version: every row is written again
    neo4j_backend.run("MATCH (m:XpgMeta) SET m.row_hash = 'polars-0.0/other'", QueryMode.WRITE)
    assert neo4j_backend.load(first).mode == "full"
    # an interrupted last load: the same
    neo4j_backend.run("MATCH (m:XpgMeta) SET m.state = 'loading'", QueryMode.WRITE)
    assert neo4j_backend.load(first).mode == "full"
    assert neo4j_backend.load(first).mode == "delta"
