"""The mixed shape of the synthetic generator: a platform-shaped graph and its v2 truth.

The truth of the rings is checked against an independent oracle: networkx over
the written tables (devices and the default identifier kinds; a hub is a node of
more than 20 distinct users), with the multi-lenders taken from the detector's
``multi_lending`` findings (themselves checked against the truth). Contract v2:
a connected group of more than 50 users is searched for its multi-lending cores
(components of the multi-lenders over the non-hub nodes two of them share), each
of 3 or more a ring; smaller groups are judged whole.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections import Counter

import networkx as nx
import numpy as np
import polars as pl
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from xpg.queries import detect

from xpg.cli import main
from xpg.errors import InputError
from xpg.settings import load_settings
from xpg.synthetic import generate, write

HUB, MAX_GROUP, MIN_USERS = 20, 50, 3
LINK_KINDS = ("phone", "bank_card", "id_number")
SIZES = [(2_000, 1), (2_000, 4), (5_000, 2), (5_000, 6), (20_000, 3)]


def _links(tables: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """Distinct (user_id, node) links over devices and the default identifier kinds."""
    dev = tables["devices"].select("user_id", node=pl.lit("d:") + pl.col("device_id"))
    ident = tables["identifiers"].filter(pl.col("kind").is_in(LINK_KINDS)).select(
        "user_id", node=pl.col("kind") + ":" + pl.col("value")
    )
    return pl.concat([dev, ident]).unique()


def _oracle_rings(tables, multi_lenders: set[str]) -> set[tuple[str, ...]]:
    links = _links(tables)
    users_of = links.group_by("node").agg(pl.col("user_id"))
    shared = users_of.filter(pl.col("user_id").list.len().is_between(2, HUB))
    g = nx.Graph()
    g.add_nodes_from(("u", u) for u in tables["users"]["user_id"])
    for node, users in shared.iter_rows():
        g.add_edges_from((("n", node), ("u", u)) for u in users)
    rings = set()
    for comp in nx.connected_components(g):
        users = sorted(x[1] for x in comp if x[0] == "u")
        if len(users) <= MAX_GROUP:
            ml = sum(u in multi_lenders for u in users)
            if len(users) >= MIN_USERS and 2 * ml >= len(users):
                rings.add(tuple(users))
            continue
        core = nx.Graph()
        core.add_nodes_from(u for u in users if u in multi_lenders)
        for x in comp:
            if x[0] == "n":
                mls = [y[1] for y in g[x] if y[1] in multi_lenders]
                core.add_edges_from(itertools.pairwise(mls))
        rings |= {tuple(sorted(c)) for c in nx.connected_components(core) if len(c) >= MIN_USERS}
    return rings


def _expected(truth, ftype=None):
    return {(f["type"], tuple(f["users"])) for c in truth["cases"] for f in c["findings"]
            if ftype is None or f["type"] == ftype}  # fmt: skip


def _report(s):
    config = load_settings(environ={}).detection
    return detect(s.dataset(), config, as_of=dt.date.fromisoformat(s.truth["as_of"]))


@pytest.fixture(scope="module", params=SIZES, ids=[f"{u}u-s{s}" for u, s in SIZES])
def mixed(request):
    users, seed = request.param
    s = generate(users, seed, shape="mixed")
    return s, _report(s)


def test_the_multi_lenders_are_exactly_the_planted_ones(mixed):
    s, report = mixed
    found = {(f.type, tuple(f.users)) for f in report.findings if f.type == "multi_lending"}
    assert found == _expected(s.truth, "multi_lending")


def test_truth_rings_are_the_networkx_oracle_rings(mixed):
    s, report = mixed
    ml = {f.users[0] for f in report.findings if f.type == "multi_lending"}
    oracle = _oracle_rings(s.tables, ml)
    truth = {users for _, users in _expected(s.truth, "ring")}
    assert truth == oracle
    # the planted communities are cores of a large group; the look-alikes are in no ring
    cases = s.truth["cases"]
    cores = [c for c in cases if c["kind"] == "ring_community"]
    assert cores and all(c["group_users"] > MAX_GROUP for c in cores)
    assert all(tuple(c["users"]) in oracle for c in cores)
    in_rings = {u for r in oracle for u in r}
    for kind in ("decoy_community", "pair_in_group", "scattered_multilenders"):
        planted = [c for c in cases if c["kind"] == kind]
        assert planted, kind
        assert not any(set(c["users"]) & in_rings for c in planted), kind
    # clearly multi-lending communities; decoys under half
    assert all(2 * c["multi_lending_members"] >= c["community_size"] + 4 for c in cores)
    for c in cases:
        if c["kind"] == "decoy_community":
            assert 0 < 2 * c["multi_lending_members"] < c["community_size"]


def test_the_detector_finds_the_truth_with_the_cores(mixed):
    """Contract v2: every finding of the truth, the cores of the large groups included."""
    s, report = mixed
    assert load_settings(environ={}).detection.ring.max_group_users == MAX_GROUP
    assert {(f.type, tuple(f.users)) for f in report.findings} == _expected(s.truth)
    # each planted community is found as a core, named with the size of its group
    planted = {tuple(c["users"]): c for c in s.truth["cases"] if c["kind"] == "ring_community"}
    cores = [f for f in report.findings if f.type == "ring" and f.evidence.get("core")]
    assert {f.users for f in cores} == set(planted)
    for f in cores:
        group = planted[f.users]["group_users"]
        assert f.evidence["group_users"] == group > MAX_GROUP
        assert f.explanation.startswith(
            f"{len(f.users)} of the multi-lending members of a {group:,}-user connected group ")
    # the rings judged whole keep version 1's evidence and wording
    for f in report.findings:
        if f.type == "ring" and not f.evidence.get("core"):
            assert "core" not in f.evidence and " are multi-lending" in f.explanation


def _scipy_groups(tables) -> tuple[np.ndarray, pl.DataFrame]:
    links = _links(tables).join(
        tables["users"].select("user_id").with_row_index("u"), on="user_id"
    )
    counts = links.group_by("node").agg(pl.len().alias("users"))
    links = links.join(counts, on="node").with_columns(pl.col("node").rank("dense").alias("n") - 1)
    keep = links.filter(pl.col("users").is_between(2, HUB))
    n_users, n_nodes = tables["users"].height, int(links["n"].max()) + 1
    u = keep["u"].to_numpy().astype(np.int64)
    v = keep["n"].to_numpy().astype(np.int64) + n_users
    m = coo_matrix((np.ones(u.size), (u, v)), shape=(n_users + n_nodes,) * 2)
    _, labels = connected_components(m, directed=False)
    return labels[:n_users], links


@pytest.mark.slow
def test_a_platform_shaped_graph_at_100k_users():
    s = generate(100_000, 5, shape="mixed")
    labels, links = _scipy_groups(s.tables)
    largest = np.bincount(labels).max()
    assert largest > 0.8 * 100_000
    shared = links.filter(pl.col("users") >= 2).height / 100_000
    assert 2 <= shared <= 4
    every = pl.concat([  # hubs of every kind: devices and all identifiers (public IPs too)
        s.tables["devices"].select("user_id", node=pl.col("device_id")),
        s.tables["identifiers"].select("user_id", node=pl.col("kind") + ":" + pl.col("value")),
    ]).unique()  # fmt: skip
    hubs = every.group_by("node").agg(pl.len().alias("users")).filter(pl.col("users") > HUB)
    hubs = hubs["users"]
    assert (hubs >= 1_000).sum() >= 3
    assert (hubs > HUB).sum() >= 5
    g = s.truth["graph"]
    assert g["largest_group_users"] == largest
    assert g["shared_links_per_user"] == pytest.approx(shared, abs=1e-3)
    # communities of 20-200 users (the ring and decoy ones included)
    kinds = Counter(c["kind"] for c in s.truth["cases"])
    assert kinds["ring_community"] == 30 and kinds["decoy_community"] == 10


def test_the_mixing_fraction_is_an_option():
    none = generate(5_000, 4, shape="mixed", mixing=0.0).truth["graph"]
    default = generate(5_000, 4, shape="mixed").truth["graph"]
    assert none["mixing"] == 0.0 and default["mixing"] == 0.2
    # without links across communities, the communities stay apart
    assert none["groups_over_max"] > 10 * default["groups_over_max"]
    assert none["largest_group_users"] < default["largest_group_users"] / 2


def test_same_seed_same_bytes_and_a_v2_truth(tmp_path):
    a = write(tmp_path / "a", 2_000, seed=9, fmt="csv", shape="mixed")
    write(tmp_path / "b", 2_000, seed=9, fmt="csv", shape="mixed")
    for p in sorted((tmp_path / "a").iterdir()):
        assert p.read_bytes() == (tmp_path / "b" / p.name).read_bytes(), p.name
    truth = a.truth
    assert (truth["version"], truth["shape"], truth["graph"]["shape"]) == (2, "mixed", "mixed")
    assert {"ring_community", "decoy_community", "pair_in_group"} <= set(truth["kinds"])
    islands = generate(300, seed=9).truth
    assert islands["version"] == 1 and "shape" not in islands and "graph" not in islands


def test_the_cli_option(tmp_path, capsys):
    assert main(["generate", "--shape", "mixed", "--users", "2000", "--out",
                 str(tmp_path / "m")]) == 0  # fmt: skip
    assert "ring_community" in (tmp_path / "m" / "truth.json").read_text("utf-8")
    assert main(["generate", "--mixing", "0.3", "--out", str(tmp_path / "x")]) != 0
    assert "xpg: error: --mixing applies to the mixed shape only" in capsys.readouterr().err
    assert main(["generate", "--shape", "round", "--out", str(tmp_path / "y")]) == 2
    assert "xpg: error: --shape 'round': expected one of islands, mixed" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("users", "kw", "message"),
    [(1_999, {"shape": "mixed"}, "at least 2000"), (2_000, {"shape": "mixed", "mixing": 1.5},
     "from 0 to 1"), (2_000, {"mixing": 0.2}, "mixed shape only")],
)  # fmt: skip
def test_mixed_refusals(users, kw, message):
    with pytest.raises(InputError, match=message):
        generate(users, 1, **kw)
