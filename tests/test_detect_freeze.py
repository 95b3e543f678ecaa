"""freeze_inconsistency and restored_after_freeze: reason scope, product kinds, event order."""

from __future__ import annotations

import dataclasses

from decorator import on_backends
from detect_fixtures import AS_OF, Builder, at, day
from xpg.queries.findings import stable_id
from xpg.queries.rules.scope import FreezeConfig

from xpg.settings import DetectionConfig

CONFIG = DetectionConfig()


def found(report, ftype):
    return {f.users[0]: f for f in report.findings if f.type == ftype}


def inconsistent(report):
    return found(report, "freeze_inconsistency")


def restored(report):
    return found(report, "restored_after_freeze")


# -- freeze_inconsistency ----------------------------------------------------------


@on_backends()
def test_user_scope_freeze_with_drawable_other_kind(backend):
    b = Builder()
    b.account("a1", "u1", "jiebei", status="frozen", reason="fraud", changed_at=at(-3))
    b.account("a2", "u1", "huabei", limit=10_000, outstanding=2_000)
    backend.load(b.build())
    f = inconsistent(backend.detect(CONFIG, as_of=AS_OF))["u1"]
    assert f.id == stable_id("freeze_inconsistency", "u1")
    assert f.exposure.at_risk == 8_000.0
    assert f.exposure.total == 2_000 + 8_000
    assert f.evidence["frozen_accounts"] == [
        {
            "account_id": "a1",
            "product_id": "jiebei",
            "kind": "loan",
            "status": "frozen",
            "reason": "fraud",
            "since": at(-3),
        }
    ]
    assert f.evidence["drawable_accounts"] == [
        {
            "account_id": "a2",
            "product_id": "huabei",
            "kind": "consumption",
            "status": "active",
            "drawable": 8_000.0,
        }
    ]
    assert f.explanation == (
        "User u1's jiebei account a1 (loan) is frozen for fraud, yet huabei account a2 "
        "(consumption) is active with 8,000 CNY drawable."
    )


@on_backends()
def test_product_scope_vs_user_scope_vs_unknown_reason(backend):
    b = Builder()
    for user, reason in (
        ("overdue", "overdue"),
        ("credit", "credit_risk"),
        ("security", "security"),
        ("unknown", "mystery"),
        ("none", None),
    ):
        b.account(f"{user}-l", user, "jiebei", status="frozen", reason=reason)
        b.account(f"{user}-c", user, "huabei", limit=1_000)
    backend.load(b.build())
    report = backend.detect(CONFIG, as_of=AS_OF)
    assert set(inconsistent(report)) == {"security", "unknown", "none"}
    assert "'mystery' (an unlisted reason, counted as user scope)" in (
        inconsistent(report)["unknown"].explanation
    )
    product_default = dataclasses.replace(
        CONFIG, freeze=FreezeConfig(unknown_reason_scope="product")
    )
    assert set(inconsistent(backend.detect(product_default, as_of=AS_OF))) == {"security"}


@on_backends()
def test_closed_for_a_user_scope_reason_counts(backend):
    b = Builder()
    b.account("a1", "u1", "huabei", status="closed", reason="regulatory")
    b.account("a2", "u1", "jiebei", limit=5_000, outstanding=1_000)
    b.account("a3", "u1", "cash_plus", limit=2_000, outstanding=500)  # a second drawable loan
    backend.load(b.build())
    f = inconsistent(backend.detect(CONFIG, as_of=AS_OF))["u1"]
    assert f.exposure.at_risk == 4_000 + 1_500
    assert [d["account_id"] for d in f.evidence["drawable_accounts"]] == ["a2", "a3"]
    assert f.evidence["frozen_accounts"][0]["status"] == "closed"


@on_backends()
def test_same_kind_products_do_not_count(backend):
    b = Builder()
    b.account("a1", "u1", "jiebei", status="frozen", reason="fraud")
    b.account("a2", "u1", "cash_plus", limit=5_000)  # loan as well
    b.account("b1", "u2", "huabei", status="frozen", reason="fraud")
    b.account("b2", "u2", "credit_plus", limit=5_000)  # consumption as well
    backend.load(b.build())
    assert inconsistent(backend.detect(CONFIG, as_of=AS_OF)) == {}


@on_backends()
def test_drawable_zero_or_not_active_does_not_count(backend):
    b = Builder()
    b.account("a1", "u1", "jiebei", status="frozen", reason="fraud")
    b.account("a2", "u1", "huabei", limit=5_000, outstanding=5_000)  # drawable exactly 0
    b.account("b1", "u2", "jiebei", status="frozen", reason="fraud")
    b.account("b2", "u2", "huabei", limit=5_000, outstanding=6_000)  # over the limit
    b.account("c1", "u3", "jiebei", status="frozen", reason="fraud")
    b.account("c2", "u3", "huabei", limit=5_000, status="limited")
    b.account("d1", "u4", "jiebei", status="frozen", reason="fraud")
    b.account("d2", "u4", "huabei", limit=5_000, outstanding=4_999.99)  # 0.01 drawable
    backend.load(b.build())
    found_ = inconsistent(backend.detect(CONFIG, as_of=AS_OF))
    assert set(found_) == {"u4"}
    assert found_["u4"].exposure.at_risk == 0.01


# -- restored_after_freeze ---------------------------------------------------------


def freeze_then(b, user, restore_at, *, event="unfreeze", freeze_at=None, reason="fraud"):
    b.account(f"{user}-l", user, "jiebei", status="frozen", reason=reason)
    b.account(f"{user}-c", user, "huabei", limit=6_000, outstanding=1_000)
    b.event(f"{user}-l", freeze_at or at(-10), "freeze", reason=reason)
    if restore_at is not None:
        b.event(f"{user}-c", restore_at, event)
    return b


@on_backends()
def test_unfreeze_after_a_user_scope_freeze_of_another_account(backend):
    b = Builder()
    freeze_then(b, "after", at(-5))
    freeze_then(b, "before", at(-11))
    freeze_then(b, "same-time", at(-10))
    freeze_then(b, "reopen", at(-1), event="reopen")
    freeze_then(b, "future", at(1))
    freeze_then(b, "product", at(-5), reason="customer_request")
    backend.load(b.build())
    report = restored(backend.detect(CONFIG, as_of=AS_OF))
    assert set(report) == {"after", "reopen"}
    f = report["after"]
    assert f.id == stable_id("restored_after_freeze", "after")
    assert f.exposure.at_risk == 5_000.0
    assert f.evidence == {
        "freezes": [
            {
                "account_id": "after-l",
                "product_id": "jiebei",
                "event": "freeze",
                "at": at(-10),
                "reason": "fraud",
            }
        ],
        "restorations": [
            {
                "account_id": "after-c",
                "product_id": "huabei",
                "event": "unfreeze",
                "at": at(-5),
                "drawable": 5_000.0,
            }
        ],
    }
    assert f.explanation == (
        "User after's jiebei account after-l was frozen for fraud on 2026-11-10 and is still "
        "frozen, yet huabei account after-c was unfrozen on 2026-11-15; 5,000 CNY drawable."
    )
    assert "was reopened on 2026-11-19" in report["reopen"].explanation


@on_backends()
def test_the_frozen_account_must_still_be_frozen(backend):
    b = Builder()
    # lifted: unfrozen itself after the fraud freeze, then frozen again for overdue
    freeze_then(b, "lifted", at(-3))
    b.event("lifted-l", at(-8), "unfreeze").event("lifted-l", at(-7), "freeze", reason="overdue")
    # active again in the snapshot
    b.account("active-l", "active", "jiebei", status="active")
    b.account("active-c", "active", "huabei")
    b.event("active-l", at(-10), "freeze", reason="fraud").event("active-c", at(-5), "unfreeze")
    # lifted after the restoration, then frozen again after it: at the run date the
    # freeze in force came after the restoration
    freeze_then(b, "late-lift", at(-5))
    b.event("late-lift-l", at(-2), "unfreeze").event("late-lift-l", at(-1), "freeze")
    backend.load(b.build())
    assert restored(backend.detect(CONFIG, as_of=AS_OF)) == {}
    # as of a date before the late lift, the freeze still held
    earlier = restored(backend.detect(CONFIG, as_of=day(-3)))
    assert set(earlier) == {"late-lift"}


@on_backends()
def test_freeze_reason_falls_back_to_the_account_reason(backend):
    b = Builder()
    for user, account_reason in (("fraud", "fraud"), ("overdue", "overdue")):
        b.account(f"{user}-l", user, "jiebei", status="frozen", reason=account_reason)
        b.account(f"{user}-c", user, "huabei")
        b.event(f"{user}-l", at(-10), "freeze", reason=None)
        b.event(f"{user}-c", at(-5), "unfreeze")
    backend.load(b.build())
    report = restored(backend.detect(CONFIG, as_of=AS_OF))
    assert set(report) == {"fraud"}
    assert report["fraud"].evidence["freezes"][0]["reason"] == "fraud"


@on_backends()
def test_restoring_an_account_that_is_not_active_puts_nothing_at_risk(backend):
    b = Builder()
    b.account("a1", "u1", "jiebei", status="frozen", reason="security")
    b.account("a2", "u1", "huabei", status="limited")
    b.account("a3", "u1", "cash_plus", status="frozen", reason="overdue")
    b.event("a1", at(-10), "freeze", reason="security")
    b.event("a2", at(-4), "reopen").event("a3", at(-6), "unfreeze")
    backend.load(b.build())
    f = restored(backend.detect(CONFIG, as_of=AS_OF))["u1"]
    assert f.exposure.at_risk == 0.0
    assert [r["account_id"] for r in f.evidence["restorations"]] == ["a3", "a2"]
