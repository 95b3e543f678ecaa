"""The connected groups a detection on Neo4j stores (graph/neo4j/groups.py), on a real
server: `query group` answers from them as the memory backend answers, falls back to the
breadth-first search when the date or the link settings differ, and a re-detection
replaces them whole.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging

import numpy as np
import polars as pl
import pytest
from xpg.graph.memory import MemoryBackend
from xpg.graph.neo4j import QueryMode
from xpg.queries.investigate import FindingsIndex, MemorySource, investigate_group
from xpg.queries.investigate.group import group_labels
from xpg.queries.investigate.search import ring_kinds

from xpg.settings import load_settings
from xpg.synthetic import write

pytestmark = pytest.mark.neo4j

CONFIG = load_settings(environ={}).detection
SEED = 5


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """A generated mixed graph (a giant group, hubs, rings) with its memory answers."""
    ds = write(tmp_path_factory.mktemp("groups") / "m", 2000, seed=SEED, shape="mixed").dataset()
    memory = MemoryBackend()
    memory.load(ds)
    return ds, memory


def _bfs_spy(monkeypatch):
    """Count the breadth-first searches of the Neo4j source."""
    import xpg.graph.neo4j.investigate as module

    calls = []
    real = module.connected_group

    def spy(*args, **kwargs):
        calls.append(args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr(module, "connected_group", spy)
    return calls


def _users(ds, memory, day, config):
    """Users to ask about: the largest group's, a small group's, random ones, one alone."""
    labels = group_labels(MemorySource(ds)._links_by_user.frame.lazy(), day,
                          ring_kinds(config), config.ring.hub_max_users)
    sizes = labels.group_by("group").len().sort("len", descending=True)
    big = labels.filter(pl.col("group") == sizes.row(0)[0]).get_column("user_id").min()
    small = labels.filter(pl.col("group") == sizes.row(-1)[0]).get_column("user_id").max()
    alone = ds.users.join(labels, on="user_id", how="anti").get_column("user_id").min()
    rng = np.random.default_rng(SEED)
    picked = rng.choice(ds.users.get_column("user_id").to_list(), 8, replace=False).tolist()
    return sizes.row(0)[1], [u for u in (big, small, alone, *picked) if u is not None]


@pytest.mark.parametrize("seed", [SEED], ids=lambda s: f"seed{s}")
def test_stored_groups_answer_as_the_memory_backend(neo4j_backend, sample, monkeypatch, seed):
    ds, memory = sample
    day = ds.latest_date()
    neo4j_backend.load(ds)
    index = FindingsIndex(neo4j_backend.detect(CONFIG, as_of=day))
    want_index = FindingsIndex(memory.findings(CONFIG, as_of=day))
    assert index.report.to_dict() == want_index.report.to_dict()
    giant, users = _users(ds, memory, day, CONFIG)
    assert giant > 500  # the giant group is among those asked
    searched = _bfs_spy(monkeypatch)
    source, want_source = neo4j_backend.investigations(None), memory.investigations(ds)
    for u in users:
        for limit in (1, 10):
            got = investigate_group(source, index, CONFIG, u, as_of=day, limit=limit)
            want = investigate_group(want_source, want_index, CONFIG, u, as_of=day,
                                     limit=limit)
            assert got.to_json() == want.to_json(), (u, limit)
    assert searched == []  # every answer came from the stored groups


def test_a_date_or_setting_mismatch_falls_back(neo4j_backend, sample, monkeypatch, caplog):
    ds, memory = sample
    day = ds.latest_date()
    neo4j_backend.load(ds)
    neo4j_backend.detect(CONFIG, as_of=day)
    _, users = _users(ds, memory, day, CONFIG)
    other_hub = dataclasses.replace(CONFIG, ring=dataclasses.replace(CONFIG.ring, hub_max_users=3))
    other_kinds = dataclasses.replace(CONFIG, ring=dataclasses.replace(
        CONFIG.ring, identifier_kinds=CONFIG.ring.identifier_kinds[:1]))
    earlier = day - dt.timedelta(days=30)
    source, want_source = neo4j_backend.investigations(None), memory.investigations(ds)
    for config, as_of in ((CONFIG, earlier), (other_hub, day), (other_kinds, day)):
        index = FindingsIndex(memory.findings(config, as_of=as_of))
        searched = _bfs_spy(monkeypatch)
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="xpg.graph.neo4j.investigate"):
            got = investigate_group(source, index, config, users[0], as_of=as_of)
        want = investigate_group(want_source, index, config, users[0], as_of=as_of)
        assert got.to_json() == want.to_json()
        assert searched == [users[0]]
        assert "breadth-first" in caplog.text and day.isoformat() in caplog.text


def test_a_redetection_replaces_the_stored_groups(neo4j_backend, sample):
    ds, _ = sample
    day = ds.latest_date()
    neo4j_backend.load(ds)
    neo4j_backend.detect(CONFIG, as_of=day)
    narrow = dataclasses.replace(CONFIG, ring=dataclasses.replace(CONFIG.ring, hub_max_users=2))
    earlier = day - dt.timedelta(days=60)
    for config, as_of in ((narrow, earlier), (CONFIG, day)):
        neo4j_backend.detect(config, as_of=as_of)
        labels = group_labels(MemorySource(ds)._links_by_user.frame.lazy(), as_of,
                              ring_kinds(config), config.ring.hub_max_users)
        rows = neo4j_backend.run(
            "MATCH (m:XpgGroupMember) RETURN m.user_id AS u, m.group AS g", QueryMode.READ)
        stored = {r["u"]: r["g"] for r in rows}
        named = {u: min(members) for members in _members(labels) for u in members}
        assert stored == named  # no stale member, each named by its group's smallest id
        groups = neo4j_backend.run("MATCH (g:XpgGroup) RETURN g.group AS g, g.members AS m",
                                   QueryMode.READ)
        assert {r["g"]: sorted(r["m"]) for r in groups} == {
            min(m): sorted(m) for m in _members(labels)}
        (run,) = neo4j_backend.run("MATCH (r:XpgGroupsRun) RETURN r.as_of AS d, "
                                   "r.hub_max AS h", QueryMode.READ)
        assert (run["d"].to_native(), run["h"]) == (as_of, config.ring.hub_max_users)


def _members(labels):
    return [g.get_column("user_id").to_list() for g in labels.partition_by("group")]
