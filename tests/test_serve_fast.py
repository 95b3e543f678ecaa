"""The serving fast paths answer exactly what the full computation answers.

The lookups of a sorted table (:class:`~xpg.queries.investigate.sources._Sorted`: a
binary search per key) against a hash filter over the whole table, and a worker of
``xpg serve --workers`` (memory-mapped tables, the connected groups computed once when
the tables are shared) against the session over the loaded data (its own components,
Polars lookups), on generated samples: every user view, ring view and screening is
compared as the JSON bytes the service sends. The seed is in each test's id.
"""

from __future__ import annotations

import random

import polars as pl
import pytest
from xpg.queries.investigate.sources import _Sorted

import xpg.api as api
from xpg.serve import Limits
from xpg.serve.data import ServeData, dumps
from xpg.settings import load_settings


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sorted_take_is_the_filter(seed):
    rng = random.Random(seed)
    keys = [rng.choice([None, *(f"k{i:03d}" for i in range(60)), "é", "z\u4e2d"])
            for _ in range(2_000)]
    frame = pl.DataFrame({"key": keys, "row": range(len(keys))})
    table = _Sorted(frame, "key", "row")
    for n in (0, 1, 2, 5, 40, 300):
        asked = [rng.choice([None, "absent", *(f"k{i:03d}" for i in range(70)), "é"])
                 for _ in range(n)]
        wanted = sorted({a for a in asked if a is not None})
        expect = table.frame.filter(pl.col("key").is_in(wanted))
        assert table.take(asked).equals(expect), (n, asked)


def test_sorted_ranges_on_the_fence_edges():
    """The fence of every 64th key: runs across its edges, tables of 0 to a few hundred
    rows, nulls first, keys before, between and after every key."""
    import bisect

    rng = random.Random(7)
    for n in (0, 1, 2, 63, 64, 65, 127, 128, 129, 500):
        for nulls in (0, 1, 3):
            keys = sorted(rng.choice("abcdefgh") + str(rng.randint(0, 9)) for _ in range(n))
            column = pl.Series("k", [None] * nulls + keys, dtype=pl.String)
            table = _Sorted(pl.DataFrame({"k": column}), "k", presorted=True)
            for v in {"", "zz", "a", *keys[:3], *keys[-3:], *(
                    rng.choice("abcdefghi") + str(rng.randint(0, 10)) for _ in range(30))}:
                a, b = bisect.bisect_left(keys, v) + nulls, bisect.bisect_right(keys, v) + nulls
                assert table.ranges([v]) == ([(a, b)] if b > a else []), (n, nulls, v)


@pytest.fixture(scope="module", params=[(3_000, 4), (2_000, 11)], ids=lambda p: f"seed{p[1]}")
def pair(request, tmp_path_factory):
    """(the session over the loaded data, a worker's session over its shared folder)."""
    from xpg.serve.workers import open_shared, share
    from xpg.synthetic import generate

    users, seed = request.param
    folder = tmp_path_factory.mktemp(f"data{seed}")
    s = generate(users, seed, shape="mixed")
    for name, frame in s.tables.items():
        s.write_table(frame, folder / f"{name}.parquet", "parquet")
    settings = load_settings(environ={})
    shared = tmp_path_factory.mktemp(f"shared{seed}")
    with api.open(data=folder, settings=settings, state=None) as full:
        share(full, shared, limits=Limits(), workers=2)
        worker, _, _ = open_shared(shared)
        yield full, worker, ServeData(worker), s, seed


def test_worker_user_views_are_the_full_computation(pair):
    full, worker, _, s, seed = pair
    rng = random.Random(seed)
    ids = sorted(s.dataset().users.get_column("user_id").to_list())
    flagged = sorted({u for f in full.findings().findings for u in f.users})
    sample = rng.sample(ids, 40) + rng.sample(flagged, min(40, len(flagged)))
    for u in sample:
        for hops in (0, 1, 2):
            assert dumps(worker.user(u, hops=hops).to_dict()) == dumps(
                full.user(u, hops=hops).to_dict()), (u, hops)


def test_worker_rings_and_groups_are_the_full_computation(pair):
    full, worker, served, _, seed = pair
    rng = random.Random(seed)
    found = [f.id for f in full.findings().findings if f.type == "ring"]
    assert found and not served.rings  # nothing encoded at start
    for rid in rng.sample(found, min(20, len(found))):
        expect = dumps(full.ring(rid).to_dict())
        assert dumps(worker.ring(rid).to_dict()) == expect
        assert served.encoded_ring(rid, None) is None
        assert served.ring(rid, None) == expect  # encoded on its first request, then kept
        assert served.encoded_ring(rid, None) == expect
        member = full.ring(rid).to_dict()["members"][0]["user_id"]
        assert dumps(worker.group(member).to_dict()) == dumps(full.group(member).to_dict())
    assert "_groups" in vars(worker.source)  # answered from the groups computed once


def test_worker_screening_is_the_full_computation(pair):
    full, worker, _, s, seed = pair
    rng = random.Random(seed)
    probes = [p["given"] for p in s.truth["screening"]]
    devices = s.dataset().devices.get_column("device_id").to_list()
    probes += [{"device_id": d} for d in rng.sample(devices, 30)]
    for given in probes:
        assert dumps(worker.screen(given).to_dict()) == dumps(full.screen(given).to_dict())


@pytest.mark.parametrize("seed", [5, 8])
def test_small_lookups_in_python_are_the_polars_ones(seed, monkeypatch):
    """Every lookup of the in-memory source, answered in Python (small frames) and by
    Polars (``base.SMALL_ROWS`` -1: the sources' lookups, the exposure, the search's
    levels): the same views, to the byte."""
    from xpg.queries.investigate import base

    from xpg.synthetic import generate

    s = generate(2_000, seed, shape="mixed")
    rng = random.Random(seed)
    with api.open(dataset=s.dataset(), settings=load_settings(environ={})) as session:
        ids = sorted(s.dataset().users.get_column("user_id").to_list())
        flagged = sorted({u for f in session.findings().findings for u in f.users})
        rings = [f.id for f in session.findings().findings if f.type == "ring"]
        probes = [p["given"] for p in s.truth["screening"]]
        asks = ([lambda u=u, h=h: session.user(u, hops=h) for u in rng.sample(ids, 15)
                 + rng.sample(flagged, 15) for h in (0, 1, 2)]
                + [lambda r=r: session.ring(r) for r in rng.sample(rings, min(10, len(rings)))]
                + [lambda g=g: session.screen(g) for g in probes]
                + [lambda a=a, b=b: session.path(a, b, via_lenders=True)
                   for a, b in zip(rng.sample(flagged, 5), rng.sample(flagged, 5), strict=True)])
        for ask in asks:
            session.source._last_nodes = None
            fast = dumps(ask().to_dict())
            with monkeypatch.context() as m:
                m.setattr(base, "SMALL_ROWS", -1)
                session.source._last_nodes = None
                assert dumps(ask().to_dict()) == fast


def test_ring_views_kept_are_bounded(pair, monkeypatch):
    """Ring views are encoded on their first request and kept, at most MAX_ENCODED_RINGS
    (the oldest dropped first)."""
    from xpg.serve import data

    full, worker, _, _, _ = pair
    found = [f.id for f in full.findings().findings if f.type == "ring"][:3]
    assert len(found) == 3
    monkeypatch.setattr(data, "MAX_ENCODED_RINGS", 2)
    served = ServeData(worker)
    for rid in found:
        served.ring(rid, None)
    assert list(served.rings) == found[1:]


def test_workers_over_a_stored_state_read_its_groups(tmp_path, monkeypatch):
    """From a stored state, the workers' connected groups are the state's (not computed
    again), and answer as the loaded data does."""
    from xpg.queries.investigate.group import group_labels
    from xpg.queries.investigate.search import ring_kinds

    from xpg.serve.workers import open_shared, share
    from xpg.synthetic import generate

    s = generate(2_000, 5, shape="mixed")
    folder = tmp_path / "data"
    folder.mkdir()
    for name, frame in s.tables.items():
        s.write_table(frame, folder / f"{name}.parquet", "parquet")
    settings = load_settings(environ={})
    with api.open(data=folder, settings=settings, state=None) as full:
        full.write_state(tmp_path / "state")
        ring = full.settings.detection.ring
        computed = group_labels(full.source._links_by_user.frame.lazy(), full.as_of,
                                ring_kinds(full.settings.detection), ring.hub_max_users)
        members = [f.users[0] for f in full.findings().findings if f.type == "ring"][:10]
        expect = [dumps(full.group(u).to_dict()) for u in members]
    with api.open(data=folder, settings=settings, state=tmp_path / "state", load=False,
                  detect=False) as stored:
        shared = tmp_path / "shared"
        shared.mkdir()
        with monkeypatch.context() as m:  # not computed again
            m.setattr("xpg.queries.investigate.group.group_labels", None)
            share(stored, shared, limits=Limits(), workers=2)
    labels = pl.read_ipc(shared / "groups_by_user.arrow")
    assert labels.height == computed.height
    same = labels.join(computed, on="user_id", suffix="_c")  # the same partition
    assert same.height == computed.height
    assert same.group_by("group").agg(pl.col("group_c").n_unique()).get_column(
        "group_c").max() == 1
    worker, _, _ = open_shared(shared)
    assert [dumps(worker.group(u).to_dict()) for u in members] == expect
