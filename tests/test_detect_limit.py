"""limit_divergence: a cut on one kind of product while the other kind is raised, in 30 days."""

from __future__ import annotations

from decorator import on_backends
from detect_fixtures import AS_OF, Builder, at
from xpg.queries.findings import stable_id

from xpg.settings import DetectionConfig

CONFIG = DetectionConfig()


def diverging(report):
    return {f.users[0]: f for f in report.findings if f.type == "limit_divergence"}


def cut_and_raise(b, user, old, new, *, cut_at=None, raise_at=None, raise_product="huabei"):
    b.account(f"{user}-l", user, "jiebei", limit=new)
    b.account(f"{user}-c", user, raise_product, limit=8_000, outstanding=3_000)
    b.event(f"{user}-l", cut_at or at(-2), "limit_change", old=old, new=new)
    b.event(f"{user}-c", raise_at or at(-1), "limit_change", old=5_000, new=8_000)
    return b


@on_backends()
def test_cut_to_50_counts_51_does_not(backend):
    b = Builder()
    cut_and_raise(b, "to50", 200, 50)  # a 75% cut, to 50
    cut_and_raise(b, "to51", 200, 51)  # a 74.5% cut, to 51
    backend.load(b.build())
    found = diverging(backend.detect(CONFIG, as_of=AS_OF))
    assert set(found) == {"to50"}
    f = found["to50"]
    assert f.id == stable_id("limit_divergence", "to50")
    assert f.evidence["cuts"] == [
        {
            "account_id": "to50-l",
            "product_id": "jiebei",
            "kind": "loan",
            "event": "limit_change",
            "at": at(-2),
            "old_limit": 200.0,
            "new_limit": 50.0,
            "cut_fraction": 0.75,
        }
    ]
    assert f.evidence["raises"] == [
        {
            "account_id": "to50-c",
            "product_id": "huabei",
            "kind": "consumption",
            "event": "limit_change",
            "at": at(-1),
            "old_limit": 5_000.0,
            "new_limit": 8_000.0,
        }
    ]
    assert f.exposure.total == 3_000 + 5_000 + 50
    assert f.explanation == (
        "Within 30 days user to50's jiebei (loan) limit was cut from 200 CNY to 50 CNY (75%) "
        "on 2026-11-18 while the huabei (consumption) limit was raised from 5,000 CNY to "
        "8,000 CNY on 2026-11-19; exposure 8,050 CNY."
    )


@on_backends()
def test_cut_by_80_percent_counts_79_does_not(backend):
    b = Builder()
    cut_and_raise(b, "by80", 10_000, 2_000)
    cut_and_raise(b, "by79", 10_000, 2_100)
    cut_and_raise(b, "cents", 1_000.35, 200.07)  # exactly 80% in cents, inexact in binary
    cut_and_raise(b, "up", 2_000, 10_000)  # a raise on both sides is not a cut
    backend.load(b.build())
    assert set(diverging(backend.detect(CONFIG, as_of=AS_OF))) == {"by80", "cents"}


@on_backends()
def test_raise_inside_vs_outside_30_days(backend):
    b = Builder()
    cut_and_raise(b, "first-day", 10_000, 0, cut_at=at(0, 23), raise_at=at(-29, 0))
    cut_and_raise(b, "outside", 10_000, 0, cut_at=at(0), raise_at=at(-30, 23))
    cut_and_raise(b, "cut-outside", 10_000, 0, cut_at=at(-30, 23), raise_at=at(0))
    cut_and_raise(b, "future", 10_000, 0, cut_at=at(-1), raise_at=at(1, 0))
    cut_and_raise(b, "raise-first", 10_000, 0, cut_at=at(-1), raise_at=at(-20))
    backend.load(b.build())
    assert set(diverging(backend.detect(CONFIG, as_of=AS_OF))) == {"first-day", "raise-first"}


@on_backends()
def test_same_kind_products_do_not_count(backend):
    b = Builder()
    cut_and_raise(b, "same", 10_000, 0, raise_product="cash_plus")  # loan and loan
    backend.load(b.build())
    assert diverging(backend.detect(CONFIG, as_of=AS_OF)) == {}


@on_backends()
def test_other_events_are_not_limit_changes(backend):
    b = Builder()
    b.account("a1", "u1", "jiebei").account("a2", "u1", "huabei")
    b.event("a1", at(-2), "limit", old=10_000, new=0)  # a status change, not a limit change
    b.event("a2", at(-1), "limit_change", old=5_000, new=8_000)
    b.event("a1", at(-3), "limit_change", old=None, new=0)  # old limit unknown
    backend.load(b.build())
    assert diverging(backend.detect(CONFIG, as_of=AS_OF)) == {}


@on_backends()
def test_several_cuts_and_raises_make_one_finding_per_user(backend):
    b = Builder()
    cut_and_raise(b, "u1", 10_000, 0)
    b.account("u1-x", "u1", "credit_plus", limit=3_000)
    b.event("u1-x", at(-4), "limit_change", old=1_000, new=3_000)
    b.event("u1-l", at(-6), "limit_change", old=20_000, new=10_000)  # a 50% cut: not one
    backend.load(b.build())
    found = diverging(backend.detect(CONFIG, as_of=AS_OF))
    assert list(found) == ["u1"]
    assert [r["account_id"] for r in found["u1"].evidence["raises"]] == ["u1-x", "u1-c"]
    assert len(found["u1"].evidence["cuts"]) == 1
    assert found["u1"].score == found["u1"].to_dict()["score"]
