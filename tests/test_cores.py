"""Multi-lending cores of large groups (xpg.linkgraph.cores; cores.cypher: ring_core_links).

The candidates are the ring rule's own (:meth:`Ring.candidates` over the in-memory
``ring_groups`` and ``ring_core_links`` forms). Hand-made fixtures at each boundary (a
group of 50 and of 51 users, a core of 2 and of 3, a hub of 20 and of 21 users counted
over all users, multi-lenders linked only through a non-multi-lender's node), networkx
as the oracle on random mixed graphs through the tables (components of the induced
subgraph), and the Cypher form against the in-memory one.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import networkx as nx
import numpy as np
import polars as pl
import pytest
from detect_fixtures import AS_OF, Builder
from mixed_graphs import KINDS, mixed_graph
from xpg.queries.polars_hooks import PolarsHooks
from xpg.queries.rules import rule
from xpg.queries.rules.ring import RingConfig

from xpg.linkgraph.cores import CORE_PREFIX, combine_candidates, link_cores, searched_members
from xpg.linkgraph.links import Links

RING = RingConfig()  # hub_max_users 20, min_users 3
KINDS_ON = RING.identifier_kinds


def memory_groups(dataset) -> pl.DataFrame:
    """The ``ring_groups`` frame of the in-memory backend (the ring rule's first form)."""
    return PolarsHooks(dataset).compute(rule("ring").form("ring_groups"), RING, AS_OF)


def chain(b: Builder, n: int, prefix: str = "c") -> list[str]:
    """Users ``c00 .. c<n-1>``, each sharing a device with the next: one group of ``n``."""
    ids = [f"{prefix}{i:02d}" for i in range(n)]
    for i in range(n - 1):
        b.device(ids[i], f"{prefix}-{i}").device(ids[i + 1], f"{prefix}-{i}")
    return ids


def ring_candidates(dataset, ml, **changes) -> pl.DataFrame:
    """The ring rule's candidates in memory: ``ring_groups``, then the cores of the larger
    groups (``group``, ``user_id``, ``core``, ``group_users``)."""
    config = dataclasses.replace(RING, **changes)
    hooks = PolarsHooks(dataset)
    ring = rule("ring")
    groups = ring.forms[0].conform(hooks.compute(ring.forms[0], config, AS_OF))
    return ring.candidates(hooks, groups, config, AS_OF, frozenset(ml))


def candidates(b: Builder, ml, **changes) -> pl.DataFrame:
    return ring_candidates(b.build(), ml, **changes)


def rings_of(frame: pl.DataFrame) -> dict[str, tuple[bool, int, frozenset[str]]]:
    """``group -> (core, group_users, members)``."""
    out = {}
    for (group,), rows in frame.group_by(["group"]):
        flags = rows.select("core", "group_users").unique()
        assert flags.height == 1, f"one core flag and size per ring: {flags}"
        core, size = flags.row(0)
        out[group] = (core, size, frozenset(rows.get_column("user_id")))
    return out


# -- boundaries ----------------------------------------------------------------------


def test_a_group_of_exactly_50_is_judged_whole():
    b = Builder()
    ids = chain(b, 50)
    frame = candidates(b, ids[:3])
    assert rings_of(frame) == {"0": (False, 50, frozenset(ids))}
    # judged whole means as today: the ring_groups frame of the in-memory backend
    today = memory_groups(b.build())
    assert frame.select("group", "user_id").sort("user_id").equals(today.sort("user_id"))


def test_a_group_of_51_is_searched_for_its_cores():
    b = Builder()
    ids = chain(b, 51)
    assert rings_of(candidates(b, ids[:3])) == {CORE_PREFIX + "c00": (True, 51, frozenset(ids[:3]))}
    assert rings_of(candidates(b, ids[:3], max_group_users=51)) == {
        "0": (False, 51, frozenset(ids))
    }


def test_a_core_of_2_is_no_ring_and_a_core_of_3_is_one():
    b = Builder()
    ids = chain(b, 60)
    assert candidates(b, ids[10:12]).is_empty()
    assert rings_of(candidates(b, ids[10:13])) == {
        CORE_PREFIX + "c10": (True, 60, frozenset(ids[10:13]))
    }
    # min_users applies to cores too
    assert candidates(b, ids[10:13], min_users=4).is_empty()


def hub_fixture(users_on_hub: int, late_one: bool = False) -> tuple[Builder, list[str]]:
    """A chain of 60; multi-lenders c10, c20, c30: c20-c30 share device ``bc``; c10 and
    c20 share phone ``H``, which has ``users_on_hub`` users in all (the others are not
    multi-lending). ``late_one``: one more user is seen on H only after the run date."""
    b = Builder()
    ids = chain(b, 60)
    b.device("c20", "bc").device("c30", "bc")
    on_hub = ["c10", "c20", *ids[40 : 40 + users_on_hub - 2]]
    assert len(on_hub) == users_on_hub
    for u in on_hub:
        b.identifier(u, "phone", "H")
    if late_one:
        late = dt.datetime.combine(AS_OF + dt.timedelta(days=1), dt.time(9))
        b.identifier("c05", "phone", "H", first_seen=late)
    return b, ["c10", "c20", "c30"]


def test_a_node_of_20_users_in_all_links_two_multi_lenders():
    b, ml = hub_fixture(20)
    assert rings_of(candidates(b, ml)) == {CORE_PREFIX + "c10": (True, 60, frozenset(ml))}


def test_a_node_of_21_users_in_all_is_a_hub_even_with_2_multi_lenders_on_it():
    b, ml = hub_fixture(21)
    assert candidates(b, ml).is_empty()  # c20-c30 is a core of 2
    # counted as of the run date: a 21st user seen after it does not make a hub
    b, ml = hub_fixture(20, late_one=True)
    assert rings_of(candidates(b, ml)) == {CORE_PREFIX + "c10": (True, 60, frozenset(ml))}


def test_multi_lenders_linked_only_through_a_non_multi_lenders_node_are_not_a_core():
    b = Builder()
    chain(b, 60)
    # c10 - x - c40 (not ml) - y - c20; c20 - z - c30
    b.device("c10", "x").device("c40", "x").device("c40", "y").device("c20", "y")
    b.device("c20", "z").device("c30", "z")
    ml = ["c10", "c20", "c30"]
    assert candidates(b, ml).is_empty()
    # one node shared by two multi-lenders (and a non-multi-lender) does link them
    b.device("c10", "w").device("c40", "w").device("c30", "w")
    assert rings_of(candidates(b, ml)) == {CORE_PREFIX + "c10": (True, 60, frozenset(ml))}


def test_small_groups_and_cores_side_by_side_with_ids_from_members():
    b = Builder()
    big = chain(b, 55, "b")
    small = chain(b, 4, "s")
    b.device("b07", "k").device("b30", "k").device("b30", "k2").device("b50", "k2")
    frame = candidates(b, ["b07", "b30", "b50", "s01"])
    rings = rings_of(frame)
    assert rings[CORE_PREFIX + "b07"] == (True, 55, frozenset(["b07", "b30", "b50"]))
    (whole,) = (g for g in rings if not g.startswith(CORE_PREFIX))
    assert rings[whole] == (False, 4, frozenset(small))
    assert len(rings) == 2 and set(frame.get_column("user_id")) <= set(big) | set(small)
    assert frame.schema == pl.Schema(
        {"group": pl.String, "user_id": pl.String, "core": pl.Boolean, "group_users": pl.Int64}
    )


def test_ids_do_not_depend_on_row_order():
    g = mixed_graph(5, 1500, hubs=2, rings=3, hub_users=(15, 40))
    ds = g.dataset()
    ml = [u for u, m in zip(g.user_ids, g.multi_lending.tolist(), strict=True) if m]
    first = ring_candidates(ds, ml)
    shuffled = ds.__class__(
        **{
            **{n: ds.table(n) for n in ds.table_names()},
            "devices": ds.devices.sample(fraction=1.0, shuffle=True, seed=1),
            "identifiers": ds.identifiers.sample(fraction=1.0, shuffle=True, seed=2),
        },
        present=ds.present,
    )
    second = ring_candidates(shuffled, ml)
    assert first.filter("core").height > 0
    assert first.sort("group", "user_id").equals(second.sort("group", "user_id"))


def test_nothing_to_search():
    b = Builder()
    ids = chain(b, 60)
    chain(b, 2, "p")  # a group of 2: below min_users
    assert candidates(b, []).is_empty()  # a large group, no multi-lender
    assert candidates(b, ids[:2]).is_empty()  # fewer searched users than min_users
    assert candidates(Builder().user("lonely"), ["lonely"]).is_empty()  # no link at all
    nobody = link_cores(pl.DataFrame(schema={"user_id": pl.String, "kind": pl.String,
                                             "value": pl.String}),
                        pl.DataFrame(schema={"user_id": pl.String, "group_users": pl.Int64}))
    assert nobody.is_empty() and nobody.columns == ["group", "user_id", "group_users"]


# -- networkx oracle -----------------------------------------------------------------


def oracle(n_users, user, node, ml, *, hub_max_users, max_group_users, min_users):
    """``{(core, group_users, members)}`` from networkx: components of the link graph
    without hubs (users counted over all users), then, in each group of more than
    ``max_group_users`` users, components of the subgraph induced by its multi-lenders
    and the kept nodes."""
    degree = np.bincount(node) if node.size else np.zeros(0, dtype=np.int64)
    g = nx.Graph()
    g.add_nodes_from(("u", i) for i in range(n_users))
    g.add_edges_from(
        (("u", int(u)), ("n", int(n)))
        for u, n in zip(user.tolist(), node.tolist(), strict=True)
        if degree[n] <= hub_max_users
    )
    out = set()
    for comp in nx.connected_components(g):
        users = frozenset(i for kind, i in comp if kind == "u")
        linked = any(kind == "n" for kind, _ in comp)
        if not linked:
            continue
        if len(users) <= max_group_users:
            if len(users) >= min_users:
                out.add((False, len(users), users))
            continue
        keep = {x for x in comp if x[0] == "n" or ml[x[1]]}
        for sub in nx.connected_components(g.subgraph(keep)):
            members = frozenset(i for kind, i in sub if kind == "u")
            if len(members) >= min_users:
                out.add((True, len(users), members))
    return out


SHAPES = {
    # (n_users, generator options, max_group_users)
    "mixed": (1500, {"hubs": 3, "rings": 4, "hub_users": (15, 200)}, 50),
    "islands": (800, {"community": (3, 40), "mixing": 0.0, "personal": 0.5, "rings": 9}, 50),
    "dense-ml": (1000, {"rings": 8, "ring_ml": 0.95, "scattered_ml": 0.2}, 50),
    "small-max": (600, {"hubs": 2, "rings": 3, "scattered_ml": 0.3}, 8),
    "well-mixed": (2000, {"mixing": 0.5, "hubs": 5, "rings": 6, "hub_users": (10, 60)}, 50),
}


@pytest.mark.parametrize("seed", [pytest.param(s, id=f"seed{s}") for s in (0, 1, 2, 3)])
@pytest.mark.parametrize("shape", list(SHAPES))
def test_candidates_match_networkx(shape, seed):
    """Through the tables: identifier kinds (``ip`` is not enabled), dates (a tenth of the
    links first seen after the run date), hubs counted over all users."""
    n_users, options, max_group_users = SHAPES[shape]
    g = mixed_graph(seed, n_users, **options)
    late = np.random.default_rng(seed).random(g.user.size) < 0.1
    ml = pl.Series(g.user_ids).filter(pl.Series(g.multi_lending))
    frame = ring_candidates(g.dataset(late=late, as_of=AS_OF), ml,
                            max_group_users=max_group_users)
    counted = ~late & np.isin(np.array(KINDS)[g.node % len(KINDS)], ["device", *KINDS_ON])
    expected = oracle(
        g.n_users,
        g.user[counted],
        g.node[counted],
        g.multi_lending,
        hub_max_users=RING.hub_max_users,
        max_group_users=max_group_users,
        min_users=3,
    )
    ids = np.array(g.user_ids)
    named = {(core, size, frozenset(ids[list(m)].tolist())) for core, size, m in expected}
    assert set(rings_of(frame).values()) == named
    for group, (core, _, members) in rings_of(frame).items():
        assert not core or group == CORE_PREFIX + min(members)
    kinds = {core for core, _, _ in expected}
    assert kinds == ({False} if shape == "islands" else {True} | kinds), kinds


# -- the Cypher form -----------------------------------------------------------------


def test_searched_members_are_the_multi_lenders_of_large_groups():
    groups = pl.DataFrame({"group": ["a"] * 4 + ["b"] * 2, "user_id": list("pqrstu")})
    frame = searched_members(groups, pl.Series(["q", "r", "t", "zz"]), max_group_users=3)
    assert frame.rows() == [("q", 4), ("r", 4)]
    assert searched_members(groups, ["q"], max_group_users=4).is_empty()


def test_combine_candidates_gives_the_in_memory_frame_from_a_backends_two_frames():
    g = mixed_graph(4, 1500, hubs=3, rings=5, hub_users=(15, 60), community=(5, 120))
    ds = g.dataset()
    links = Links(ds)
    ml = pl.Series(g.user_ids).filter(pl.Series(g.multi_lending))
    ours = ring_candidates(ds, ml)
    assert ours.get_column("core").n_unique() == 2  # both kinds present
    groups = memory_groups(ds)
    cores_ = ours.filter("core").select("group", "user_id", "group_users")
    combined = combine_candidates(groups, cores_.sample(fraction=1.0, shuffle=True, seed=3))
    assert combined.sort("group", "user_id").equals(ours.sort("group", "user_id"))
    # the cores from the kept links of the searched users alone, whatever their order
    searched = searched_members(groups, ml)
    kept = links.kept(KINDS_ON, RING.hub_max_users, AS_OF)
    asked = links.user_ids.is_in(searched.get_column("user_id").implode()).to_numpy()[kept.user]
    rows = pl.DataFrame({"user_id": links.user_ids.gather(kept.user[asked]),
                         "node_idx": kept.node[asked]}).join(links.nodes, on="node_idx")
    found = link_cores(rows.sample(fraction=1.0, shuffle=True, seed=4), searched)
    assert found.equals(cores_.sort("group", "user_id"))


@pytest.mark.neo4j
@pytest.mark.parametrize("seed", [pytest.param(s, id=f"seed{s}") for s in (0, 1)])
def test_the_cypher_cores_equal_the_in_memory_ones(neo4j_backend, seed):
    from xpg.graph.neo4j import QueryMode
    from xpg.graph.neo4j.hooks import Neo4jHooks
    from xpg.graph.neo4j.statements import statement

    g = mixed_graph(seed, 1200, hubs=3, rings=4, hub_users=(15, 40), scattered_ml=0.05)
    late = np.random.default_rng(seed).random(g.user.size) < 0.1
    ds = g.dataset(late=late, as_of=AS_OF)
    ml = pl.Series(g.user_ids).filter(pl.Series(g.multi_lending))
    ours = ring_candidates(ds, ml).filter("core")
    assert ours.height > 0

    neo4j_backend.load(ds)
    hooks = Neo4jHooks(neo4j_backend)
    try:  # the big groups as the Neo4j backend computes them (its ring_groups frame)
        groups = hooks.ring_groups(RING, AS_OF)
    finally:
        hooks.cleanup()
    searched = searched_members(groups, ml)
    rows = neo4j_backend.run(  # the one read of the cores' links, then numpy
        statement("cores", "ring_core_links"),
        QueryMode.READ,
        user_ids=searched.get_column("user_id").to_list(),
        until=dt.datetime.combine(AS_OF + dt.timedelta(days=1), dt.time()),
        kinds=list(KINDS_ON),
        hub_max_users=20,
    )
    links_read = pl.DataFrame(
        rows, schema={"kind": pl.String, "value": pl.String, "user_id": pl.String}, orient="row"
    )
    theirs = link_cores(links_read, searched, min_users=3)
    columns = ["group", "user_id", "group_users"]
    assert theirs.sort(columns).equals(ours.select(columns).sort(columns))
    # with the whole groups: the same candidates (a whole group's id is backend-specific)
    every = ring_candidates(ds, ml)
    assert set(rings_of(combine_candidates(groups, theirs)).values()) == set(
        rings_of(every).values()
    )
