"""The report diff: exact outcomes on hand-made pairs of findings reports."""

from __future__ import annotations

import datetime as dt

import pytest
from xpg.queries.diff import CHANGE_KINDS, diff_reports, overlap_coefficient
from xpg.queries.findings import Exposure, Finding, FindingsReport, stable_id

from xpg.errors import InputError

D1, D2, D3 = dt.date(2026, 11, 18), dt.date(2026, 11, 19), dt.date(2026, 11, 20)


def ring(users, total=100.0, severity="high", fid=None):
    users = tuple(sorted(users))
    return Finding(
        id=fid or stable_id("ring", users),
        type="ring",
        severity=severity,
        score=0.9,
        users=users,
        exposure=Exposure(total),
        evidence={"devices": ["d1"]},
        explanation=f"{len(users)} users share devices",
    )


def single(ftype, user, total=10.0, severity="medium"):
    return Finding(
        id=stable_id(ftype, user),
        type=ftype,
        severity=severity,
        score=0.5,
        users=(user,),
        exposure=Exposure(total),
        evidence={},
        explanation=f"{user} is {ftype}",
    )


def report(day, *findings):
    return FindingsReport(day, tuple(findings), {"users": 100})


def only(d, kind=None):
    changes = d.changes if kind is None else d.of_kind(kind)
    assert len(changes) == 1, changes
    return changes[0]


U = [f"u{i:02d}" for i in range(40)]


# ----------------------------------------------------------------- non-ring findings


def test_new_resolved_unchanged_by_stable_id():
    a, b, c = single("multi_lending", "u1"), single("multi_lending", "u2"), single(
        "freeze_inconsistency", "u3")
    d = diff_reports(report(D1, a, b), report(D2, b, c))
    assert [(x.kind, x.id) for x in d.changes] == [
        ("new", c.id), ("resolved", a.id), ("unchanged", b.id)]
    new = d.by_id(c.id)
    assert new.previous_ids == () and new.severity_before is None and new.exposure_after == 10.0
    gone = d.by_id(a.id)
    assert gone.detected_id is None and gone.exposure_before == 10.0 and gone.exposure_after is None
    assert d.counts() == {k: {"new": 1, "resolved": 1, "unchanged": 1}.get(k, 0)
                          for k in CHANGE_KINDS}
    assert d.carried_ids == {}


@pytest.mark.parametrize(
    ("before", "after", "sev", "exp", "kind"),
    [
        (("medium", 10.0), ("high", 10.0), "up", None, "changed"),
        (("high", 10.0), ("low", 10.0), "down", None, "changed"),
        (("medium", 10.0), ("medium", 12.5), None, "up", "changed"),
        (("medium", 10.0), ("medium", 9.99), None, "down", "changed"),
        (("medium", 10.0), ("medium", 10.004), None, None, "unchanged"),  # under a cent
        (("low", 10.0), ("critical", 3.0), "up", "down", "changed"),
    ],
)
def test_changed_severity_and_exposure_directions(before, after, sev, exp, kind):
    old = single("multi_lending", "u1", total=before[1], severity=before[0])
    new = single("multi_lending", "u1", total=after[1], severity=after[0])
    c = only(diff_reports(report(D1, old), report(D2, new)))
    assert (c.kind, c.severity_change, c.exposure_change) == (kind, sev, exp)
    assert c.id == old.id and c.previous_ids == (old.id,)
    if exp:
        assert c.exposure_delta == round(after[1] - before[1], 2)


def test_empty_reports():
    d = diff_reports(report(D1), report(D2))
    assert d.changes == () and sum(d.counts().values()) == 0
    assert d.to_dict()["previous_as_of"] == "2026-11-18"


# ----------------------------------------------------------------- rings


def test_overlap_coefficient():
    assert overlap_coefficient(["a", "b"], ["b", "c", "d", "e"]) == 0.5
    assert overlap_coefficient(["a"], ["a", "b", "c"]) == 1.0
    assert overlap_coefficient(["a", "b"], []) == 0.0


def test_same_members_keep_the_carried_id_even_when_not_the_content_id():
    old = ring(U[:4], fid="ring-firstseen")  # carried from an earlier night
    new = ring(U[:4], total=100.0)
    d = diff_reports(report(D1, old), report(D2, new))
    c = only(d)
    assert (c.kind, c.id, c.detected_id) == ("unchanged", "ring-firstseen", new.id)
    assert d.carried_ids == {new.id: "ring-firstseen"}
    assert d.apply(report(D2, new)).findings[0].id == "ring-firstseen"


def test_same_members_exposure_up_is_changed():
    c = only(diff_reports(report(D1, ring(U[:3], 100.0)), report(D2, ring(U[:3], 250.0))))
    assert (c.kind, c.exposure_change, c.exposure_delta) == ("changed", "up", 150.0)


def test_grew_keeps_id_and_names_the_new_members():
    old, new = ring(U[:3], 100.0), ring(U[:6], 300.0, severity="critical")
    c = only(diff_reports(report(D1, old), report(D2, new)))
    assert (c.kind, c.id, c.detected_id) == ("grew", old.id, new.id)
    assert c.users_added == tuple(U[3:6]) and c.users_removed == ()
    assert (c.severity_change, c.exposure_change, c.previous_ids) == ("up", "up", (old.id,))


def test_shrank():
    old, new = ring(U[:6]), ring(U[:4])
    c = only(diff_reports(report(D1, old), report(D2, new)))
    assert (c.kind, c.id, c.users_removed, c.users_added) == (
        "shrank", old.id, tuple(U[4:6]), ())


def test_reshaped_at_exactly_the_threshold_and_not_above_it():
    old, new = ring(U[:4]), ring(U[2:6])  # 2 of 4 shared: coefficient exactly 0.5
    c = only(diff_reports(report(D1, old), report(D2, new)))
    assert (c.kind, c.id, c.users_added, c.users_removed) == (
        "reshaped", old.id, (U[4], U[5]), (U[0], U[1]))
    d = diff_reports(report(D1, old), report(D2, new), ring_overlap=0.6)
    assert [(x.kind, x.id) for x in d.changes] == [("new", new.id), ("resolved", old.id)]


def test_below_threshold_is_resolved_plus_new():
    old, new = ring(U[:3]), ring([U[2], *U[10:13]])  # 1 of 3 shared
    d = diff_reports(report(D1, old), report(D2, new))
    assert [(x.kind, x.id) for x in d.changes] == [("new", new.id), ("resolved", old.id)]
    assert d.carried_ids == {}


def test_merged_keeps_the_id_of_the_largest_contributor():
    small, big = ring(U[:3], 100.0, severity="medium"), ring(U[10:15], 200.0, severity="high")
    merged = ring([*U[:3], *U[10:15], U[30]], 900.0, severity="high")
    d = diff_reports(report(D1, small, big), report(D2, merged))
    c = only(d)
    assert (c.kind, c.id, c.detected_id) == ("merged", big.id, merged.id)
    assert c.previous_ids == tuple(sorted([small.id, big.id]))
    assert c.users_before == tuple(sorted([*U[:3], *U[10:15]]))
    assert c.users_added == (U[30],) and c.exposure_before == 300.0
    assert c.severity_before == "high" and c.severity_change is None
    assert d.counts()["resolved"] == 0


def test_split_largest_part_keeps_the_id_others_get_their_own():
    old = ring(U[:8], 800.0)
    a, b = ring(U[:5], 500.0), ring(U[5:8], 300.0)
    d = diff_reports(report(D1, old), report(D2, a, b))
    assert [(x.kind, x.id, x.previous_ids) for x in d.changes] == [
        ("split", old.id, (old.id,)), ("split", b.id, (old.id,))]
    assert d.by_id(old.id).detected_id == a.id
    assert d.by_id(old.id).users_removed == tuple(U[5:8])


def test_split_in_equal_halves_is_deterministic():
    old = ring(U[:6])
    a, b = ring(U[:3]), ring(U[3:6])
    first = diff_reports(report(D1, old), report(D2, a, b))
    again = diff_reports(report(D1, old), report(D2, b, a))
    assert first.changes == again.changes
    keeper = min(a.id, b.id)  # tie on shared members, coefficient and exposure: smaller id
    assert first.carried_ids == {keeper: old.id}


def test_merge_and_split_in_one_component():
    # A = u0..u3 splits into C = u0..u1 + u20 and D = u2..u3 + B's u10..u13
    a, b = ring(U[:4], 400.0), ring(U[10:14], 400.0)
    c, dd = ring([U[0], U[1], U[20]]), ring([U[2], U[3], *U[10:14]])
    d = diff_reports(report(D1, a, b), report(D2, c, dd))
    kinds = {x.detected_id: x.kind for x in d.changes}
    assert kinds == {dd.id: "merged", c.id: "split"}
    # D shares 4 with B and 2 with A: B's id goes to D; A's id to C (2 shared)
    assert d.carried_ids == {dd.id: b.id, c.id: a.id}
    assert d.counts()["resolved"] == 0


def test_a_ring_dissolved_into_nothing_is_resolved_and_a_fresh_one_new():
    old = ring(U[:3])
    fresh = ring(U[20:24])
    d = diff_reports(report(D1, old), report(D2, fresh))
    assert [(x.kind, x.id) for x in d.changes] == [("new", fresh.id), ("resolved", old.id)]


def test_unmatched_ring_never_reuses_an_id_from_the_previous_report():
    # last night's ring carried the id that is the content id of tonight's unrelated ring
    clash = stable_id("ring", U[30:33])
    old = ring(U[:3], fid=clash)
    new_unrelated = ring(U[30:33])
    assert new_unrelated.id == clash
    d = diff_reports(report(D1, old), report(D2, new_unrelated))
    new = only(d, "new")
    assert new.id != clash and new.id.startswith("ring-")
    assert only(d, "resolved").id == clash
    assert d.carried_ids == {clash: new.id}


def test_identity_survives_three_nights():
    n1 = ring(U[:3])
    n2 = ring(U[:5])
    n3 = ring(U[1:5])
    d12 = diff_reports(report(D1, n1), report(D2, n2))
    r2 = d12.apply(report(D2, n2))
    d23 = diff_reports(r2, report(D3, n3))
    c = only(d23)
    assert (c.kind, c.id) == ("shrank", n1.id)
    final = d23.apply(report(D3, n3)).findings[0]
    assert final.id == n1.id
    assert final.evidence["lineage"] == {
        "detected_id": n3.id, "change": "shrank", "previous_ids": [n1.id]}


def test_apply_leaves_other_findings_and_keeps_ring_evidence():
    ml = single("multi_lending", "u1")
    old, new = ring(U[:3]), ring(U[:4])
    cur = report(D2, ml, new)
    out = diff_reports(report(D1, old), cur).apply(cur)
    assert out.findings[0] == ml
    assert out.findings[1].evidence["devices"] == ["d1"]
    assert out.findings[1].evidence["lineage"]["change"] == "grew"
    assert out.as_of == D2 and out.summary == cur.summary
    assert out.to_dict()["findings"][1]["id"] == old.id


def test_apply_refuses_another_report():
    d = diff_reports(report(D1), report(D2, ring(U[:3])))
    with pytest.raises(InputError, match="not part of this diff"):
        d.apply(report(D2, ring(U[5:8])))


def test_ordering_kind_then_exposure():
    small, big = single("multi_lending", "u1", 5.0), single("multi_lending", "u2", 50.0)
    d = diff_reports(report(D1), report(D2, small, big))
    assert [x.id for x in d.changes] == [big.id, small.id]


@pytest.mark.parametrize("bad", [0.0, -0.1, 1.5])
def test_bad_threshold(bad):
    with pytest.raises(InputError, match="ring_overlap"):
        diff_reports(report(D1), report(D2), ring_overlap=bad)


def test_duplicate_ids_refused():
    a = single("multi_lending", "u1")
    with pytest.raises(InputError, match="two findings with id"):
        diff_reports(report(D1, a, a), report(D2))


def test_to_dict_is_json_ready():
    import json

    old, new = ring(U[:3], 100.0), ring(U[:4], 150.123)
    doc = diff_reports(report(D1, old), report(D2, new)).to_dict()
    assert json.loads(json.dumps(doc)) == doc
    (c,) = doc["changes"]
    assert c["exposure_after"] == 150.12 and c["exposure_delta"] == 50.12
    assert c["users_added"] == [U[3]] and doc["counts"]["grew"] == 1


# --------------------------------------------- true reasons: each cause, detected on data

def _night(build, settings=None):
    """The findings of one night's data (``build`` fills a Builder)."""
    from detect_fixtures import AS_OF, Builder

    import xpg

    b = Builder()
    build(b)
    ds = b.build()
    with xpg.open(dataset=ds, settings=settings) as s:
        return s.findings(AS_OF), ds


def _why(before, after, settings=None):
    """The ring changes from the night built by ``before`` to the one built by ``after``,
    with tonight's links as the report passes them."""
    from xpg.queries.diff import ring_users
    from xpg.queries.reasons import kept_links_of

    from xpg.settings import load_settings

    settings = settings or load_settings(environ={})
    prev, _ = _night(before, settings)
    cur, ds = _night(after, settings)
    ring_cfg = settings.detection.ring
    links = kept_links_of(ring_users(prev, cur), ds.devices, ds.identifiers,
                          ring_cfg.identifier_kinds, ring_cfg.hub_max_users, cur.as_of)
    d = diff_reports(prev, cur, loans=ds.external_loans, links=links)
    return [c for c in d.changes if c.type == "ring"]


def _ring_of(b, users, devices, multi=None):
    """``users`` on ``devices`` (device -> its users), the ``multi`` ones multi-lending."""
    from detect_fixtures import multi_lender

    for device, on in devices.items():
        for u in on:
            b.device(u, device)
    for u in users if multi is None else multi:
        multi_lender(b, u)


def test_a_member_cut_off_by_a_device_row_gone_is_link_removed_not_fewer_multi_lenders():
    users = ["u1", "u2", "u3", "u4"]
    (c,) = _why(lambda b: _ring_of(b, users, {"d1": users[:3], "d2": ["u3", "u4"]}),
                lambda b: (_ring_of(b, users, {"d1": users[:3]})))  # u4's d2 row gone
    assert (c.kind, c.users_removed) == ("shrank", ("u4",))
    assert c.reason == "link_removed"  # u4 still multi-lends: not fewer_multi_lenders
    assert c.why.endswith("(1 member: u4 no longer linked)")


def test_a_member_linked_in_by_a_new_identifier_row_is_link_added():
    users = ["u1", "u2", "u3"]

    def before(b):
        _ring_of(b, users, {"d1": users})
        b.identifier("u4", "phone", "13800001111")
        from detect_fixtures import multi_lender
        multi_lender(b, "u4")

    def after(b):
        before(b)
        b.identifier("u3", "phone", "13800001111")  # the new row joins u4

    (c,) = _why(before, after)
    assert (c.kind, c.users_added, c.reason) == ("grew", ("u4",), "link_added")
    assert "(1 member: u4 linked in)" in c.why


def test_a_member_who_stopped_multi_lending_is_fewer_multi_lenders_and_no_link_reason():
    users = ["u1", "u2", "u3", "u4"]
    (c,) = _why(lambda b: _ring_of(b, users, {"d1": users}, multi=users[:3]),
                lambda b: _ring_of(b, users, {"d1": users}, multi=users[:2]))
    assert c.kind == "changed" and c.reason == "fewer_multi_lenders"
    assert c.why.endswith("(2 of 4 members, 3 before)")
    (m,) = _why(lambda b: _ring_of(b, users, {"d1": users}, multi=users[:2]),
                lambda b: _ring_of(b, users, {"d1": users}, multi=users[:3]))
    assert m.kind == "changed" and m.reason == "more_multi_lenders"


def test_a_ring_resolved_by_a_lost_link_and_one_by_lost_multi_lending_say_which():
    users = ["u1", "u2", "u3"]
    (c,) = _why(lambda b: _ring_of(b, users, {"d1": users}),
                lambda b: _ring_of(b, users, {"d1": users[:2]}))  # u3's d1 row gone
    assert (c.kind, c.reason) == ("resolved", "link_removed")
    users4 = ["u1", "u2", "u3", "u4"]
    (r,) = _why(lambda b: _ring_of(b, users4, {"d1": users4}, multi=users4[:2]),
                lambda b: _ring_of(b, users4, {"d1": users4}, multi=users4[:1]))
    assert (r.kind, r.reason) == ("resolved", "fewer_multi_lenders")


def test_a_core_member_who_stopped_multi_lending_left_for_that_not_a_link():
    from xpg.settings import load_settings

    settings = load_settings(environ={}, overrides={"detection.ring.max_group_users": 5})
    core = ["c1", "c2", "c3", "c4"]
    others = ["o1", "o2", "o3"]  # on the core's devices, never multi-lending: a 7-user group

    def night(multi):
        def build(b):
            _ring_of(b, core + others, {"d1": core + others[:1], "d2": ["c4", *others[1:]],
                                        "d3": ["c3", "c4"]}, multi=multi)
        return build

    (c,) = _why(night(core), night(core[:3]), settings)
    assert (c.kind, c.users_removed, c.reason) == ("shrank", ("c4",), "fewer_multi_lenders")
    (j,) = _why(night(core[:3]), night(core), settings)
    assert (j.kind, j.users_added, j.reason) == ("grew", ("c4",), "more_multi_lenders")


def test_a_member_linked_in_and_one_cut_off_on_one_night_gives_both():
    users = ["u1", "u2", "u3", "u4", "u5"]
    (c,) = _why(lambda b: _ring_of(b, users, {"d1": users[:3], "d2": ["u3", "u4"]}),
                lambda b: _ring_of(b, users, {"d1": users[:3], "d3": ["u3", "u5"]}))
    assert (c.kind, c.users_removed, c.users_added) == ("reshaped", ("u4",), ("u5",))
    assert c.reason == "link_removed+link_added"
