"""linked_risk and lender_velocity (contract v3) at their boundaries, on every backend: the
hub at 20 and 21 users, a reason in and out of the list, the window's day 30 and 31, the
threshold and the threshold minus one; networkx as the oracle of the one-hop
neighbourhoods on generated data."""

from __future__ import annotations

import datetime as dt

import networkx as nx
import polars as pl
import pytest
from decorator import on_backends
from detect_fixtures import AS_OF, Builder, at, day, multi_lender
from xpg.queries import detect
from xpg.queries.findings import stable_id
from xpg.queries.rules.lender_velocity import LenderVelocityConfig
from xpg.queries.rules.linked_risk import LinkedRiskConfig

from xpg.settings import DetectionConfig, load_settings
from xpg.synthetic import generate

CONFIG = DetectionConfig()


def found(report, ftype):
    return {f.users[0]: f for f in report.findings if f.type == ftype}


def linked(report):
    return found(report, "linked_risk")


def velocity(report):
    return found(report, "lender_velocity")


def bad_and_linked(b: Builder, *, reason="fraud", via=("device", "d1"), drawable=8_000.0):
    """B frozen for ``reason`` on huabei; U with one active jiebei account; both on ``via``."""
    b.account("aB", "B", "huabei", status="frozen", reason=reason, changed_at=at(-3))
    b.account("aU", "U", "jiebei", limit=10_000, outstanding=10_000 - drawable)
    for user in ("B", "U"):
        if via[0] == "device":
            b.device(user, via[1])
        else:
            b.identifier(user, via[0], via[1])
    return b


# -- linked_risk -------------------------------------------------------------------------


@on_backends()
def test_a_user_sharing_a_device_with_a_user_frozen_for_fraud(backend):
    backend.load(bad_and_linked(Builder()).build())
    report = backend.detect(CONFIG, as_of=AS_OF)
    assert set(linked(report)) == {"U"}
    f = linked(report)["U"]
    assert f.id == stable_id("linked_risk", "U")
    assert f.exposure.at_risk == 8_000.0 and f.exposure.drawable == 8_000.0
    assert f.evidence["known_bad_neighbours"] == [{
        "user_id": "B",
        "known_bad": [{"reason": "fraud", "account_id": "aB", "product_id": "huabei",
                       "status": "frozen"}],
        "shared": [{"kind": "device", "value": "d1", "users": 2}],
    }]
    assert f.explanation == ("User U shares device d1 with B, whose huabei account is frozen "
                             "for fraud; U can still draw 8,000 CNY.")
    assert report.summary["findings_by_type"]["linked_risk"] == 1


@pytest.mark.parametrize(("users", "findings"), [(20, 19), (21, 0)])
@on_backends()
def test_the_hub_cut_at_20_and_21_users(backend, users, findings):
    b = Builder()
    b.account("aB", "B", "huabei", status="frozen", reason="security")
    b.device("B", "shop-tablet")
    for i in range(users - 1):
        b.account(f"a{i}", f"U{i:02d}", "jiebei", outstanding=1_000)
        b.device(f"U{i:02d}", "shop-tablet")
    backend.load(b.build())
    got = linked(backend.detect(CONFIG, as_of=AS_OF))
    assert len(got) == findings
    if findings:
        assert got["U00"].evidence["known_bad_neighbours"][0]["shared"][0]["users"] == 20


@pytest.mark.parametrize(("reason", "bad_reasons", "finds"), [
    ("fraud", ("fraud", "security"), True),
    ("security", ("fraud", "security"), True),
    ("regulatory", ("fraud", "security"), False),  # user scope, yet not a bad reason
    ("overdue", ("fraud", "security"), False),  # product scope
    ("regulatory", ("fraud", "regulatory"), True),
])
@on_backends("memory", "neo4j")
def test_a_reason_in_and_out_of_the_list(backend, reason, bad_reasons, finds):
    backend.load(bad_and_linked(Builder(), reason=reason).build())
    config = CONFIG.replace(linked_risk={"bad_reasons": list(bad_reasons)})
    assert ("U" in linked(backend.detect(config, as_of=AS_OF))) is finds


@on_backends()
def test_the_linked_user_must_be_able_to_draw_and_not_be_frozen_for_its_own_risk(backend):
    b = Builder()
    b.account("aB", "B", "huabei", status="frozen", reason="fraud")
    b.account("a1", "NODRAW", "jiebei", limit=5_000, outstanding=5_000)
    b.account("a2", "BLOCKED", "jiebei", status="frozen", reason="regulatory")
    b.account("a3", "BLOCKED", "cash_plus", outstanding=100)
    b.account("a4", "PRODUCT", "jiebei", status="frozen", reason="overdue")
    b.account("a5", "PRODUCT", "cash_plus", outstanding=100)
    b.account("a6", "ALSOBAD", "jiebei", status="closed", reason="security")
    b.account("a7", "ALSOBAD", "huabei", outstanding=100)
    for user in ("B", "NODRAW", "BLOCKED", "PRODUCT", "ALSOBAD"):
        b.device(user, "d1")
    backend.load(b.build())
    report = backend.detect(CONFIG, as_of=AS_OF)
    assert set(linked(report)) == {"PRODUCT"}
    f = linked(report)["PRODUCT"]
    assert [n["user_id"] for n in f.evidence["known_bad_neighbours"]] == ["ALSOBAD", "B"]
    assert f.exposure.at_risk == 9_900.0 and f.severity in ("high", "critical")


@on_backends("memory", "neo4j")
def test_only_ring_links_as_of_the_run_date_count(backend):
    b = Builder()
    b.account("aB", "B", "huabei", status="frozen", reason="fraud")
    for user, kind, value, seen in (("P", "phone", "+8613800138000", None),
                                    ("E", "email", "x@y.cn", None),
                                    ("L", "bank_card", "6222020200112233", at(1))):
        b.account(f"a{user}", user, "jiebei", outstanding=0)
        b.identifier("B", kind, value)
        b.identifier(user, kind, value, first_seen=seen)
    backend.load(b.build())
    report = backend.detect(CONFIG, as_of=AS_OF)
    assert set(linked(report)) == {"P"}  # email is not a ring kind; L's card is seen later
    later = backend.detect(CONFIG, as_of=day(1))
    assert set(linked(later)) == {"P", "L"}


@on_backends()
def test_the_known_bad_seam_and_written_off_loans(backend):
    b = Builder()
    b.account("aC", "C", "huabei")  # confirmed fraud by an analyst (a case)
    b.account("aW", "W", "huabei")  # a written-off loan
    b.loan("W", "L9", status="written_off", outstanding=3_000)
    b.account("aU", "U", "jiebei", outstanding=2_000)
    b.account("aV", "V", "jiebei", outstanding=2_000)
    b.device("C", "dc").device("U", "dc").device("W", "dw").device("V", "dw")
    backend.load(b.build())
    assert linked(backend.detect(CONFIG, as_of=AS_OF)) == {}
    config = CONFIG.replace(linked_risk={"known_bad_users": ["C"], "written_off": True})
    got = linked(backend.detect(config, as_of=AS_OF))
    assert set(got) == {"U", "V"}
    assert got["U"].evidence["known_bad_neighbours"][0]["known_bad"] == [
        {"reason": "confirmed_fraud"}]
    assert got["V"].evidence["known_bad_neighbours"][0]["known_bad"] == [
        {"reason": "written_off", "lender_id": "L9"}]
    assert "confirmed as fraud by an analyst" in got["U"].explanation


def test_linked_risk_settings_are_checked():
    from xpg.errors import ConfigError

    with pytest.raises(ConfigError, match=r"detection\.linked_risk\.hops"):
        DetectionConfig(linked_risk={"hops": 2})
    with pytest.raises(ConfigError, match=r"detection\.lender_velocity\.window_days"):
        DetectionConfig(lender_velocity={"window_days": 0})
    assert LinkedRiskConfig().bad_reasons == ("fraud", "security")
    assert LenderVelocityConfig().min_new_lenders == 3


# -- lender_velocity ---------------------------------------------------------------------


def three_lenders(b: Builder, user: str, first: dt.datetime, lenders=("L1", "L2", "L3")):
    b.account(f"a{user}", user, "huabei")
    b.application(user, lenders[0], first)
    for i, lender in enumerate(lenders[1:]):
        b.application(user, lender, at(-12 + 4 * i))
    return b


@on_backends()
def test_the_window_day_30_and_31(backend):
    b = Builder()
    three_lenders(b, "IN", dt.datetime.combine(day(-29), dt.time(0, 0)))
    three_lenders(b, "OUT", dt.datetime.combine(day(-30), dt.time(23, 59, 59)))
    backend.load(b.build())
    got = velocity(backend.detect(CONFIG, as_of=AS_OF))
    assert set(got) == {"IN"}
    f = got["IN"]
    assert f.id == stable_id("lender_velocity", "IN")
    assert f.evidence["new_lenders"] == [
        {"lender_id": "L1", "first_date": day(-29).isoformat()},
        {"lender_id": "L2", "first_date": day(-12).isoformat()},
        {"lender_id": "L3", "first_date": day(-8).isoformat()},
    ]
    assert f.explanation.startswith("User IN took up 3 new lenders in 30 days (L1 on ")


@on_backends()
def test_the_threshold_and_the_threshold_minus_one(backend):
    b = Builder()
    three_lenders(b, "AT", at(-20))  # 3 new lenders
    three_lenders(b, "OLD", at(-20))  # L1 first used 60 days ago (a loan): 2 new
    b.loan("OLD", "L1", opened_at=day(-60), status="closed", outstanding=0)
    b.account("aLOAN", "LOAN", "huabei")  # a new lender through a loan counts
    b.loan("LOAN", "K1", opened_at=day(-3)).application("LOAN", "K2", at(-9))
    b.application("LOAN", "K3", at(-15))
    b.application("LOAN", "K4", at(2))  # after the run date: ignored
    b.account("aTWICE", "TWICE", "huabei")  # three rows in the window, two lenders
    b.application("TWICE", "T1", at(-5)).application("TWICE", "T1", at(-6))
    b.application("TWICE", "T2", at(-7))
    backend.load(b.build())
    got = velocity(backend.detect(CONFIG, as_of=AS_OF))
    assert set(got) == {"AT", "LOAN"}
    assert [x["lender_id"] for x in got["LOAN"].evidence["new_lenders"]] == ["K3", "K2", "K1"]
    higher = CONFIG.replace(lender_velocity={"min_new_lenders": 4})
    assert velocity(backend.detect(higher, as_of=AS_OF)) == {}


@on_backends("memory", "neo4j")
def test_a_multi_lender_is_no_velocity_finding(backend):
    b = Builder()
    b.account("aM", "M", "huabei")
    multi_lender(b, "M")  # 4 open loans, opened 100 days ago: not new
    for i, lender in enumerate(("N1", "N2", "N3")):
        b.application("M", lender, at(-1 - i))  # 3 new lenders in 7 days: multi_lending too
    backend.load(b.build())
    report = backend.detect(CONFIG, as_of=AS_OF)
    assert "M" in found(report, "multi_lending")
    assert velocity(report) == {}


# -- networkx: the one-hop neighbourhoods of the known-bad users --------------------------


@pytest.mark.parametrize(("users", "seed"), [(2_000, 11), (5_000, 12)])
def test_linked_users_are_the_networkx_one_hop_neighbours(users, seed):
    s = generate(users, seed)
    config = load_settings(environ={}).detection
    ds = s.dataset()
    as_of = dt.date.fromisoformat(s.truth["as_of"])
    report = detect(ds, config, as_of=as_of)
    g = nx.Graph()
    kinds = set(config.ring.identifier_kinds)
    for u, d, first in ds.devices.select("user_id", "device_id", "first_seen").iter_rows():
        if first is None or first.date() <= as_of:
            g.add_edge(("u", u), ("device", d))
    for u, k, v, first in ds.identifiers.select("user_id", "kind", "value", "first_seen"
                                                ).iter_rows():
        if k in kinds and (first is None or first.date() <= as_of):
            g.add_edge(("u", u), (k, v))
    accounts = ds.accounts.select("user_id", "status", "status_reason", "credit_limit",
                                  "outstanding").rows()
    bad = {u for u, st, r, _, _ in accounts if st in ("frozen", "closed") and r in
           config.linked_risk.bad_reasons}
    blocked = {u for u, st, r, _, _ in accounts if st in ("frozen", "closed")
               and config.freeze.scope(r) == "user"}
    drawable: dict[str, float] = {}
    for u, st, _, lim, out in accounts:
        if st == "active":
            drawable[u] = drawable.get(u, 0.0) + max(lim - out, 0.0)
    expected = set()
    for b in bad:
        if ("u", b) not in g:
            continue
        for node in g[("u", b)]:
            if g.degree(node) > config.ring.hub_max_users:
                continue
            for _, u in g[node]:
                if u not in bad and u not in blocked and drawable.get(u, 0.0) > 0:
                    expected.add(u)
    got = set(linked(report))
    assert expected and got == expected


# -- the nightly run: linked_risk again on the users a change reaches ------------------------


def _known_bad_changes(t):
    """One known-bad user's freeze becomes product scope (its neighbour is no finding any
    more); a quiet user gets a device of another known-bad user (a new finding)."""
    pairs = sorted(n["user_id"] for f in t["_findings"] if f["type"] == "linked_risk"
                   for n in f["evidence"]["known_bad_neighbours"]
                   if n["shared"][0]["users"] == 2)  # the known-bad of a pair
    first, second = pairs[0], pairs[1]
    acc = t["accounts"]
    acc = acc.with_columns(pl.when(pl.col("user_id") == first).then(pl.lit("overdue"))
                           .otherwise(pl.col("status_reason")).alias("status_reason"))
    flagged = {u for f in t["_findings"] for u in f["users"]}
    quiet = (acc.filter(pl.col("status") == "active", ~pl.col("user_id").is_in(sorted(flagged)))
             .get_column("user_id").sort()[7])
    devices = t["devices"]
    shared = devices.group_by("device_id").len().filter(pl.col("len") == 2).select("device_id")
    dev = devices.filter(pl.col("user_id") == second).join(shared, on="device_id").with_columns(
        pl.lit(quiet).alias("user_id"))
    return {**t, "accounts": acc, "devices": pl.concat([devices, dev])}


def test_the_nightly_run_finds_linked_risk_as_a_full_run_does(tmp_path):
    from test_nightly import _base, _changed, _check, _findings

    base = _base(tmp_path, 7, 3000)
    after = _changed(tmp_path, base, _known_bad_changes, "after-known-bad")

    def linked_users(folder):
        return {f["users"][0] for f in _findings(folder) if f["type"] == "linked_risk"}

    gone, new = linked_users(base) - linked_users(after), linked_users(after) - linked_users(base)
    assert gone and new, (gone, new)
    result = _check(tmp_path, base, after)
    assert 0 < result.changed_users < 10
    _check(tmp_path, after, base)
