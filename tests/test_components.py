"""scipy connected components against networkx on random bipartite graphs (hubs included)."""

from __future__ import annotations

import datetime as dt

import networkx as nx
import numpy as np
import polars as pl
import pytest
from detect_fixtures import Builder

from xpg.linkgraph.components import bipartite_components, connected_components
from xpg.linkgraph.links import Links

# (users, devices, edges, hub users): sparse to dense, with and without hub devices
SHAPES = [
    (1, 1, 0, 0),
    (10, 5, 8, 0),
    (50, 40, 30, 0),
    (200, 150, 180, 0),
    (200, 40, 400, 0),
    (500, 400, 450, 60),
    (1000, 300, 2500, 200),
]
SEEDS = [0, 1, 2]


def random_bipartite(seed, n_users, n_devices, n_edges, hub_users):
    rng = np.random.default_rng(seed)
    users = rng.integers(0, n_users, n_edges)
    devices = rng.integers(0, n_devices, n_edges)
    if hub_users:  # device 0 is a hub shared by many users
        users = np.concatenate([users, rng.choice(n_users, hub_users, replace=False)])
        devices = np.concatenate([devices, np.zeros(hub_users, dtype=np.int64)])
    return users, devices


def partition(labels):
    groups = {}
    for node, label in enumerate(labels.tolist()):
        groups.setdefault(label, set()).add(node)
    return sorted(map(frozenset, groups.values()), key=min)


def nx_user_partition(n_users, n_devices, users, devices, drop=()):
    g = nx.Graph()
    g.add_nodes_from(("u", i) for i in range(n_users))
    g.add_nodes_from(("d", i) for i in range(n_devices) if i not in drop)
    g.add_edges_from(
        (("u", int(u)), ("d", int(d))) for u, d in zip(users, devices, strict=True) if d not in drop
    )
    comps = [frozenset(n for kind, n in c if kind == "u") for c in nx.connected_components(g)]
    return sorted((c for c in comps if c), key=min)


@pytest.mark.parametrize("seed", SEEDS, ids=lambda s: f"seed{s}")
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "u{}-d{}-e{}-hub{}".format(*s))
def test_bipartite_components_match_networkx(shape, seed):
    n_users, n_devices = shape[:2]
    users, devices = random_bipartite(seed, *shape)
    labels = bipartite_components(n_users, n_devices, users, devices)
    assert partition(labels) == nx_user_partition(n_users, n_devices, users, devices)


@pytest.mark.parametrize("seed", SEEDS, ids=lambda s: f"seed{s}")
def test_dropping_hub_edges_splits_like_networkx(seed):
    n_users, n_devices = 600, 300
    users, devices = random_bipartite(seed, n_users, n_devices, 500, 80)
    degree = np.bincount(devices, minlength=n_devices)
    hubs = set(np.flatnonzero(degree > 20).tolist())
    assert 0 in hubs
    keep = ~np.isin(devices, list(hubs))
    labels = bipartite_components(n_users, n_devices, users[keep], devices[keep])
    expected = nx_user_partition(n_users, n_devices, users, devices, drop=hubs)
    assert partition(labels) == expected
    # and the hub really mattered: with it, fewer components
    assert len(partition(bipartite_components(n_users, n_devices, users, devices))) < len(expected)


@pytest.mark.parametrize("seed", SEEDS, ids=lambda s: f"seed{s}")
def test_general_graph_components_match_networkx(seed):
    rng = np.random.default_rng(seed)
    n = 300
    src, dst = rng.integers(0, n, 250), rng.integers(0, n, 250)
    g = nx.Graph()
    g.add_nodes_from(range(n))
    g.add_edges_from(zip(src.tolist(), dst.tolist(), strict=True))
    expected = sorted(map(frozenset, nx.connected_components(g)), key=min)
    assert partition(connected_components(n, src, dst)) == expected


def test_labels_are_deterministic_and_in_order_of_first_node():
    labels = connected_components(6, np.array([5, 3, 0]), np.array([4, 1, 5]))
    assert labels.tolist() == [0, 1, 2, 1, 0, 0]


def test_empty_and_invalid_inputs():
    assert connected_components(0, np.array([]), np.array([])).tolist() == []
    assert connected_components(3, np.array([]), np.array([])).tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match=r"0\.\.n_nodes-1"):
        connected_components(2, np.array([0]), np.array([2]))
    with pytest.raises(ValueError, match="same length"):
        connected_components(2, np.array([0]), np.array([0, 1]))


@pytest.mark.parametrize("seed", SEEDS, ids=lambda s: f"seed{s}")
def test_links_kept_groups_match_networkx_on_raw_rows(seed):
    """Links: duplicate rows, identifier kinds, hubs by distinct users, all as networkx sees it."""
    rng = np.random.default_rng(seed)
    n_users, hub_max = 400, 6
    b = Builder()
    b.user(*[f"u{i}" for i in range(n_users)])
    rows = []
    for _ in range(700):
        u = f"u{rng.integers(n_users)}"
        if rng.random() < 0.6:
            node = ("device", f"d{rng.integers(250)}")
            b.device(u, node[1])
        else:
            kind = str(rng.choice(["phone", "ip", "bank_card"]))
            node = (kind, str(rng.integers(120)))
            b.identifier(u, *node)
        rows.append((u, node))
        if rng.random() < 0.1:  # a duplicate row of the same link
            b.device(u, node[1]) if node[0] == "device" else b.identifier(u, *node)
    for i in range(12):  # one hub device just over the limit, one just at it
        b.device(f"u{i}", "hub")
        rows.append((f"u{i}", ("device", "hub")))
    for i in range(12, 12 + hub_max):
        b.device(f"u{i}", "edge")
        rows.append((f"u{i}", ("device", "edge")))
    links = Links(b.build())
    kinds = ("phone", "bank_card")
    kept = links.kept(kinds, hub_max, dt.date(2026, 1, 1))

    enabled = [(u, n) for u, n in rows if n[0] == "device" or n[0] in kinds]
    users_of = {}
    for u, n in enabled:
        users_of.setdefault(n, set()).add(u)
    g = nx.Graph()
    g.add_edges_from((u, n) for u, n in enabled if len(users_of[n]) <= hub_max)
    expected = sorted(
        (frozenset(x for x in c if isinstance(x, str)) for c in nx.connected_components(g)),
        key=min,
    )
    ids = links.user_ids.to_list()
    got = {}
    for idx, label in enumerate(kept.labels.tolist()):
        if label >= 0:
            got.setdefault(label, set()).add(ids[idx])
    assert sorted(map(frozenset, got.values()), key=min) == expected
    hubs = links.nodes.filter(pl.col("node_idx").is_in(kept.hubs.tolist()))
    assert ("device", "hub") in set(hubs.select("kind", "value").iter_rows())
    assert ("device", "edge") not in set(hubs.select("kind", "value").iter_rows())


def _edge_set(links):
    ids = links.user_ids.to_list()
    nodes = {i: (k, v) for i, k, v in links.nodes.iter_rows()}
    return {
        (ids[u], *nodes[n], d)
        for u, n, d in links.edges.select("user_idx", "node_idx", "first_day").iter_rows()
    }


def test_hashed_encoding_detects_collisions_and_matches_the_exact_one(monkeypatch):
    import xpg.linkgraph.links as links_module

    b = Builder()
    for i in range(40):
        b.device(f"u{i}", f"d{i % 13}").identifier(f"u{i}", "phone", f"{i % 7}")
        b.device(f"u{i}", f"d{i % 13}", first_seen=dt.datetime(2026, 1, 1 + i % 20))
    b.device("ghost-user-not-in-users", "d1")
    ds = b.build()
    ds = ds.__class__(
        **{**ds.tables(), "users": ds.users.filter(pl.col("user_id") != "ghost-user-not-in-users")}
    )
    rows = pl.concat(
        [
            ds.devices.select(
                "user_id",
                pl.lit("device").alias("kind"),
                pl.col("device_id").alias("value"),
                pl.col("first_seen").dt.date().cast(pl.Int32).alias("day"),
            ),
            ds.identifiers.select(
                "user_id",
                "kind",
                "value",
                pl.col("first_seen").dt.date().cast(pl.Int32).alias("day"),
            ),
        ]
    )
    ids = ds.users.get_column("user_id")
    assert links_module._encode_hashed(rows, ids, bits=3) is None  # 40 users, 8 hash values
    assert links_module._encode_hashed(rows, ids) is not None
    hashed = Links(ds)
    monkeypatch.setattr(links_module, "_encode_hashed", lambda rows, ids: None)
    exact = Links(ds)
    assert _edge_set(hashed) == _edge_set(exact)
    assert len(_edge_set(exact)) == 80 and hashed.n_nodes == exact.n_nodes == 20


def test_hashed_encoding_detects_a_node_collision():
    from xpg.linkgraph.links import _encode_hashed

    # 2 users (distinct under 4 bits), 20 devices: 4-bit node hashes must collide
    rows = pl.DataFrame(
        {
            "user_id": ["u0", "u1"] * 10,
            "kind": ["device"] * 20,
            "value": [f"d{i}" for i in range(20)],
            "day": pl.Series([None] * 20, dtype=pl.Int32),
        }
    )
    ids = pl.Series(["u0", "u1"])
    assert (ids.hash(0x9E3779B9) & 15).n_unique() == 2
    assert _encode_hashed(rows, ids, bits=4) is None
    nodes, user, node, _ = _encode_hashed(rows, ids)
    assert nodes.height == 20 and sorted(set(node.tolist())) == list(range(20))
    assert user.tolist() == [0, 1] * 10
