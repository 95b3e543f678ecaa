"""Investigative queries: exact answers on the hand-made fixture (tests/investigation_data.py)."""

from __future__ import annotations

import json

import networkx as nx
import polars as pl
import pytest
from decorator import INVESTIGATED, on_backends
from investigation_data import AS_OF, RING, dataset, findings
from xpg.queries.investigate import (
    FindingsIndex,
    MemorySource,
    find_path,
    investigate_lender,
    investigate_ring,
    investigate_user,
    node_id,
)

from xpg.errors import InputError, NotFoundError
from xpg.settings import load_settings

CONFIG = load_settings(environ={}).detection


@pytest.fixture(scope="module")
def mem():
    """The in-memory source, for what does not depend on the backend."""
    return MemorySource(dataset())


@pytest.fixture
def source(backend):
    """The fixture loaded into ``backend`` (memory or Neo4j) and its investigation source."""
    ds = dataset()
    backend.load(ds)
    return backend.investigations(ds)


@pytest.fixture(scope="module")
def index():
    return FindingsIndex(findings())


def ring_id(index):
    return next(f.id for f in index.report.findings if f.type == "ring")


# ----------------------------------------------------------------------------- user


@on_backends(*INVESTIGATED)
def test_user_accounts_exposure_and_findings(source, index):
    v = investigate_user(source, index, CONFIG, "u1")
    assert v.as_of == AS_OF and v.hops == 1
    assert [(a.account_id, a.product_kind, a.status, a.status_reason, a.reason_scope, a.drawable)
            for a in v.accounts] == [
        ("a1", "consumption", "active", None, None, 4000.0),
        ("a2", "loan", "frozen", "fraud", "user", 0.0),
    ]
    e = v.exposure
    assert (e.internal_limit, e.internal_outstanding, e.drawable, e.external_outstanding,
            e.total) == (25000.0, 6000.0, 4000.0, 3100.0, 13100.0)
    assert [f.type for f in v.findings] == ["freeze_inconsistency", "multi_lending", "ring"]


@on_backends(*INVESTIGATED)
def test_user_devices_hubs_and_identifiers(source, index):
    v = investigate_user(source, index, CONFIG, "u1")
    devices = {d.label: d for d in v.devices}
    assert set(devices) == {"d1", "dhub"}
    assert (devices["d1"].users, devices["d1"].hub, devices["d1"].other_users) == (2, False,
                                                                                  ("u2",))
    assert devices["d1"].counts_for_rings and "shared with 1 other user" in devices["d1"].reason
    hub = devices["dhub"]
    assert (hub.users, hub.hub, hub.counts_for_rings) == (21, True, False)
    assert len(hub.other_users) == 20 and hub.more_users == 0 and "a hub" in hub.reason
    (ip,) = v.identifiers
    assert (ip.kind, ip.label, ip.users, ip.counts_for_rings, ip.other_users) == (
        "ip", "ip 10.0.*.*", 2, False, ("u7",))
    card = investigate_user(source, index, CONFIG, "u4").identifiers
    assert [(c.kind, c.label, c.users, c.counts_for_rings) for c in card] == [
        ("bank_card", "bank_card ****2233", 1, True)]
    doc = json.dumps(investigate_user(source, index, CONFIG, "u4", hops=3).to_dict())
    assert "6222020200112233" not in doc and "****2233" in doc  # masked like the evidence


@on_backends(*INVESTIGATED)
def test_user_list_limit_keeps_the_exact_count(source, index):
    v = investigate_user(source, index, CONFIG, "u1", list_limit=5)
    hub = next(d for d in v.devices if d.label == "dhub")
    assert hub.other_users == ("h01", "h02", "h03", "h04", "h05") and hub.more_users == 15


@on_backends(*INVESTIGATED)
def test_user_lenders_with_reasons(source, index):
    v = investigate_user(source, index, CONFIG, "u1")
    assert [(x.lender_id, x.open_loans, x.outstanding, x.applications) for x in v.lenders] == [
        ("L1", 1, 800.0, 0), ("L2", 1, 1500.0, 0), ("L3", 1, 500.0, 0), ("L4", 1, 300.0, 0),
        ("L6", 0, 0.0, 1),
    ]
    assert v.lenders[0].name == "Lender 1"
    assert "applied to L6" in v.lenders[-1].reason
    u3 = investigate_user(source, index, CONFIG, "u3")
    l1 = next(x for x in u3.lenders if x.lender_id == "L1")
    assert (l1.loans, l1.open_loans, l1.statuses) == (1, 0, ("closed",))
    assert "none open now" in l1.reason


NEIGHBOURS = [("u2", 1, "u1", "d1"), ("u3", 2, "u2", "phone ****0001"), ("u4", 3, "u3", "d2")]


@on_backends(*INVESTIGATED)
def test_user_neighbourhood_by_hops(source, index):
    for hops, expected in [(0, []), (1, NEIGHBOURS[:1]), (2, NEIGHBOURS[:2]), (3, NEIGHBOURS),
                           (4, NEIGHBOURS)]:
        v = investigate_user(source, index, CONFIG, "u1", hops=hops)
        assert [(n.user_id, n.hops, n.through, n.via) for n in v.neighbours] == expected, hops
        assert not v.truncated


@on_backends(*INVESTIGATED)
def test_user_neighbour_reasons_and_flags(source, index):
    v = investigate_user(source, index, CONFIG, "u1", hops=2)
    u2, u3 = v.neighbours
    assert u2.reason == "u1 and u2 were both seen on device d1"
    assert u2.findings == ("multi_lending", "ring")
    assert u3.reason == "u2 and u3 are both linked to phone ****0001"


@on_backends(*INVESTIGATED)
def test_user_link_after_run_date_is_not_there(source, index):
    v = investigate_user(source, index, CONFIG, "u8", hops=2)
    assert v.devices == () and v.neighbours == ()
    later = investigate_user(source, index, CONFIG, "u8", hops=1, as_of=AS_OF.replace(month=12,
                                                                                       day=2))
    assert [n.user_id for n in later.neighbours] == ["u4"]


def test_user_truncation(mem, index):
    v = investigate_user(mem, index, CONFIG, "u7", hops=1, max_neighbours=5)
    assert v.truncated and len(v.neighbours) == 5


@on_backends(*INVESTIGATED)
def test_user_subgraph(source, index):
    v = investigate_user(source, index, CONFIG, "u1", hops=1)
    g = v.graph.to_networkx()
    assert g.nodes[node_id("user", "u1")]["focus"] is True
    assert g.nodes[node_id("device", "dhub")]["hub"] is True
    assert g.has_edge("user:u1", "device:d1") and g.has_edge("user:u2", "device:d1")
    assert g.has_edge("user:u1", "lender:L2") and not g.has_node("lender:L6")
    assert not any(n.startswith("user:h") for n in g.nodes)  # hub users are not drawn


@pytest.mark.parametrize("bad", [-1, 5])
def test_user_bad_hops(mem, index, bad):
    with pytest.raises(InputError, match="hops"):
        investigate_user(mem, index, CONFIG, "u1", hops=bad)


@on_backends(*INVESTIGATED)
def test_unknown_user(source, index):
    with pytest.raises(NotFoundError, match="unknown user 'nobody'"):
        investigate_user(source, index, CONFIG, "nobody")


# ----------------------------------------------------------------------------- ring


@on_backends(*INVESTIGATED)
def test_ring_members_exposure_and_freeze_state(source, index):
    v = investigate_ring(source, index, CONFIG, ring_id(index))
    assert [m.user_id for m in v.members] == list(RING)
    assert [(m.user_id, m.multi_lending, m.freeze_state, m.frozen_products, m.drawable_products,
             m.exposure.total) for m in v.members] == [
        ("u1", True, "partly_frozen", ("jiebei",), ("huabei",), 13100.0),
        ("u2", True, "none", (), (), 5800.0),
        ("u3", False, "frozen", ("huabei",), (), 2050.0),
        ("u4", False, "drawable", (), ("huabei",), 1000.0),
    ]
    assert v.exposure.total == 21950.0 and v.exposure.external_outstanding == 5450.0
    assert (v.frozen_members, v.drawable_members, v.drawable_total) == (2, 2, 5000.0)


@on_backends(*INVESTIGATED)
def test_ring_shared_links_and_lenders(source, index):
    v = investigate_ring(source, index, CONFIG, ring_id(index))
    assert [(s.label, s.members, s.users) for s in v.shared_devices] == [
        ("d1", ("u1", "u2"), 2), ("d2", ("u3", "u4"), 2)]
    assert [(s.kind, s.label, s.members) for s in v.shared_identifiers] == [
        ("phone", "phone ****0001", ("u2", "u3"))]
    assert [(x.lender_id, x.members, x.outstanding) for x in v.lenders] == [
        ("L2", ("u1", "u2", "u3"), 2250.0), ("L1", ("u1", "u2"), 1800.0),
        ("L3", ("u1", "u2"), 700.0), ("L5", ("u2",), 400.0), ("L4", ("u1",), 300.0)]
    assert [x.lender_id for x in v.lenders_in_common] == ["L2", "L1", "L3"]


@on_backends(*INVESTIGATED)
def test_ring_subgraph_is_connected_and_has_no_outsiders(source, index):
    g = investigate_ring(source, index, CONFIG, ring_id(index)).graph.to_networkx()
    users = sorted(n for n, k in g.nodes(data="kind") if k == "user")
    assert users == [f"user:{u}" for u in RING]
    assert nx.is_connected(g)
    assert {n for n, k in g.nodes(data="kind") if k == "lender"} == {
        "lender:L1", "lender:L2", "lender:L3"}


def test_ring_by_detected_id_after_carrying(mem):
    import dataclasses

    report = findings()
    ring = next(f for f in report.findings if f.type == "ring")
    carried = dataclasses.replace(ring, id="ring-0000000000aa", evidence={
        **ring.evidence, "lineage": {"detected_id": ring.id, "change": "grew"}})
    idx = FindingsIndex(dataclasses.replace(report, findings=(carried,)))
    assert investigate_ring(mem, idx, CONFIG, ring.id).id == "ring-0000000000aa"


@on_backends(*INVESTIGATED)
def test_unknown_ring(source, index):
    with pytest.raises(NotFoundError,
                       match=r"unknown ring 'ring-nope'.*give its folder as the findings"):
        investigate_ring(source, index, CONFIG, "ring-nope")
    ml = next(f for f in index.report.findings if f.type == "multi_lending")
    with pytest.raises(NotFoundError, match=f"is a multi_lending finding.*{ml.users[0]}"):
        investigate_ring(source, index, CONFIG, ml.id)  # a finding, but not a ring


# ----------------------------------------------------------------------------- path


@on_backends(*INVESTIGATED)
def test_path_through_devices_and_identifiers(source):
    p = find_path(source, CONFIG, "u1", "u4", as_of=AS_OF)
    assert (p.found, p.hops, p.users) == (True, 3, ("u1", "u2", "u3", "u4"))
    assert [(s.user, s.label, s.next_user) for s in p.steps] == [
        ("u1", "d1", "u2"), ("u2", "phone ****0001", "u3"), ("u3", "d2", "u4")]
    back = find_path(source, CONFIG, "u4", "u1", as_of=AS_OF)
    assert back.users == ("u4", "u3", "u2", "u1")
    g = p.graph.to_networkx()
    assert nx.shortest_path_length(g, "user:u1", "user:u4") == 6  # user-node-user-...


@on_backends(*INVESTIGATED)
def test_path_not_found_and_max_hops(source):
    assert not find_path(source, CONFIG, "u1", "u7", as_of=AS_OF).found  # ip is not enabled
    short = find_path(source, CONFIG, "u1", "u4", as_of=AS_OF, max_hops=2)
    assert (short.found, short.hops, short.users) == (False, None, ())
    assert find_path(source, CONFIG, "u1", "u4", as_of=AS_OF, max_hops=3).found


@on_backends(*INVESTIGATED)
def test_path_via_lenders(source):
    assert not find_path(source, CONFIG, "u5", "u1", as_of=AS_OF).found
    p = find_path(source, CONFIG, "u5", "u1", as_of=AS_OF, via_lenders=True)
    assert p.users == ("u5", "u6", "u2", "u1")
    assert [s.label for s in p.steps] == ["d3", "L5", "d1"]
    assert p.steps[1].reason == "u6 and u2 both borrow at lender L5"


@on_backends(*INVESTIGATED)
def test_path_hubs_excluded_unless_asked(source):
    assert not find_path(source, CONFIG, "u1", "h05", as_of=AS_OF).found
    p = find_path(source, CONFIG, "u1", "h05", as_of=AS_OF, include_hubs=True)
    assert (p.hops, p.steps[0].label) == (1, "dhub")
    # 20 users on d20: not a hub, so followed
    assert find_path(source, CONFIG, "u7", "h05", as_of=AS_OF).steps[0].label == "d20"


@on_backends(*INVESTIGATED)
def test_path_to_self_and_unknown(source):
    p = find_path(source, CONFIG, "u1", "u1", as_of=AS_OF)
    assert (p.found, p.hops, p.users) == (True, 0, ("u1",))
    with pytest.raises(NotFoundError, match="'zz'"):
        find_path(source, CONFIG, "u1", "zz", as_of=AS_OF)
    with pytest.raises(InputError):
        find_path(source, CONFIG, "u1", "u2", as_of=AS_OF, max_hops=0)


# ----------------------------------------------------------------------------- lender


@on_backends(*INVESTIGATED)
def test_lender_flagged_users_and_rings(source, index):
    v = investigate_lender(source, index, "L2")
    assert (v.name, v.borrowers, v.loans, v.outstanding) == ("Lender 2", 3, 3, 2250.0)
    assert [(x.user_id, x.outstanding) for x in v.flagged] == [
        ("u1", 1500.0), ("u2", 700.0), ("u3", 50.0)]
    assert v.flagged[0].findings == ("freeze_inconsistency", "multi_lending", "ring")
    assert [(r.members, r.members_borrowing, r.outstanding) for r in v.rings] == [
        (4, ("u1", "u2", "u3"), 2250.0)]


@on_backends(*INVESTIGATED)
def test_lender_with_unflagged_borrowers(source, index):
    v = investigate_lender(source, index, "L5")
    assert (v.borrowers, v.outstanding, v.flagged_users, v.flagged_outstanding) == (
        2, 1000.0, 1, 400.0)
    assert v.rings[0].members_borrowing == ("u2",) and v.rings_outstanding == 400.0


@on_backends(*INVESTIGATED)
def test_lender_counts_only_loans_open_by_the_run_date(source, index):
    v = investigate_lender(source, index, "L1")
    assert (v.borrowers, v.outstanding) == (2, 1800.0)  # u3 closed, u5 opened later


@on_backends(*INVESTIGATED)
def test_lender_known_without_loans_and_unknown(source, index):
    v = investigate_lender(source, index, "L9")
    assert (v.borrowers, v.flagged, v.rings) == (0, (), ())
    assert investigate_lender(source, index, "L6").applications == 1
    with pytest.raises(NotFoundError, match="unknown lender 'LX'"):
        investigate_lender(source, index, "LX")


# ----------------------------------------------------------------------------- output


def test_views_serialize_to_json(mem, index):
    for view in (
        investigate_user(mem, index, CONFIG, "u1", hops=2),
        investigate_ring(mem, index, CONFIG, ring_id(index)),
        find_path(mem, CONFIG, "u1", "u4", as_of=AS_OF),
        investigate_lender(mem, index, "L2"),
    ):
        doc = view.to_dict()
        assert json.loads(json.dumps(doc)) == doc
        assert doc["as_of"] == "2026-11-20"
        assert {"nodes", "edges"} <= set(doc["graph"])


def test_export_graphml_and_json(mem, index, tmp_path):
    v = investigate_ring(mem, index, CONFIG, ring_id(index))
    g = nx.read_graphml(v.graph.write(tmp_path / "ring.graphml"))
    assert g.number_of_nodes() == len(v.graph.nodes) == 4 + 2 + 1 + 3
    assert g.nodes["user:u1"]["freeze_state"] == "partly_frozen"
    doc = json.loads(v.graph.write(tmp_path / "ring.json").read_text())
    assert len(doc["nodes"]) == 10 and len(doc["links"]) == len(v.graph.edges)
    with pytest.raises(InputError, match=r"\.graphml or \.json"):
        v.graph.write(tmp_path / "ring.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ring.graphml", "ring.json"]


def test_fixture_findings_are_what_the_detections_give():
    from xpg.queries import detect

    got = detect(dataset(), CONFIG, as_of=AS_OF)
    want = findings()
    assert sorted((f.id, f.type, f.users, f.exposure.total) for f in got.findings) == sorted(
        (f.id, f.type, f.users, f.exposure.total) for f in want.findings)


def test_exposure_matches_the_detections_exposure(mem):
    from xpg.queries.exposure import user_exposure
    from xpg.queries.investigate import exposure_by_user

    users = ["u1", "u2", "u3", "u4", "u5", "u6"]
    mine = exposure_by_user(mem.accounts(users, AS_OF), mem.loans(users, AS_OF))
    for r in user_exposure(dataset(), AS_OF).filter(
            pl.col("user_id").is_in(users)).iter_rows(named=True):
        e = mine.get(r["user_id"])
        got = (0.0,) * 5 if e is None else (e.internal_limit, e.internal_outstanding,
                                            e.drawable, e.external_outstanding, e.total)
        assert got == (r["internal_limit"], r["internal_outstanding"], r["drawable"],
                       r["external_outstanding"], r["total"]), r["user_id"]


def test_lender_views_on_generated_data_match_a_plain_reference():
    """Every lender of a generated sample: flagged borrowers and rings as a direct
    per-borrower computation gives them (the order included)."""
    from xpg.queries import detect

    from xpg.synthetic import generate

    ds = generate(400, seed=7).dataset()
    report = detect(ds, CONFIG)
    index, src = FindingsIndex(report), MemorySource(ds)
    lenders = ds.external_loans.get_column("lender_id").unique().sort().to_list()
    rings_seen = 0
    for lender in lenders:
        view = investigate_lender(src, index, lender, as_of=report.as_of)
        loans = src.lender_loans(lender, report.as_of).filter(
            pl.col("status").is_in(["open", "overdue"]))
        owed: dict[str, float] = {}
        count: dict[str, int] = {}
        for user, out in loans.select("user_id", "outstanding").iter_rows():
            owed[user] = owed.get(user, 0.0) + out
            count[user] = count.get(user, 0) + 1
        flagged = sorted(((u, count[u], round(owed[u], 2)) for u in owed
                          if index.of_user(u)), key=lambda x: (-x[2], x[0]))
        assert [(x.user_id, x.loans, x.outstanding) for x in view.flagged] == flagged
        rings = []
        for f in report.findings:
            borrowing = tuple(sorted(u for u in f.users if u in owed))
            if f.type == "ring" and borrowing:
                rings.append((f.id, f.severity, len(f.users), borrowing,
                              round(sum(owed[u] for u in borrowing), 2)))
        rings.sort(key=lambda x: (-x[4], x[0]))
        assert [(r.ring_id, r.severity, r.members, r.members_borrowing, r.outstanding)
                for r in view.rings] == rings
        rings_seen += len(rings)
    assert rings_seen >= 2  # the sample has rings borrowing at its lenders
