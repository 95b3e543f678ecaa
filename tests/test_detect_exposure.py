"""Per-user exposure exactly as the contract defines it, and the report's summary."""

from __future__ import annotations

import dataclasses
import datetime as dt

import polars as pl
import pytest
from decorator import on_backends
from detect_fixtures import AS_OF, Builder, day, multi_lender
from xpg.queries.exposure import user_exposure

from xpg.errors import RunDateUnknownError
from xpg.settings import DetectionConfig


def exposure_dataset():
    b = Builder()
    b.account("a1", "u1", "huabei", limit=10_000, outstanding=2_500)  # active: drawable 7,500
    b.account("a2", "u1", "jiebei", limit=20_000, outstanding=5_000, status="frozen", reason="x")
    b.account("a3", "u1", "credit_plus", limit=3_000, outstanding=100, status="closed")
    b.account("a4", "u1", "cash_plus", limit=1_000, outstanding=50, status="limited")
    b.account("a5", "u1", "huabei", limit=9_999, outstanding=9, opened_at=day(1))  # future
    b.account("b1", "u2", "huabei", limit=1_000, outstanding=1_500)  # over limit: drawable 0
    b.loan("u1", "L1", outstanding=4_000).loan("u1", "L2", outstanding=600, status="overdue")
    b.loan("u1", "L3", outstanding=900, status="closed")
    b.loan("u1", "L4", outstanding=800, status="written_off")
    b.loan("u1", "L5", outstanding=700, opened_at=day(1))
    b.user("u3")
    return b.build()


def test_user_exposure_follows_the_contract():
    frame = user_exposure(exposure_dataset(), AS_OF)
    assert frame.columns == [
        "user_id",
        "internal_limit",
        "internal_outstanding",
        "drawable",
        "external_outstanding",
        "total",
    ]
    rows = {r["user_id"]: r for r in frame.iter_rows(named=True)}
    assert rows["u1"] == {
        "user_id": "u1",
        "internal_limit": 10_000 + 20_000 + 1_000,  # not closed, not opened after as_of
        "internal_outstanding": 2_500 + 5_000 + 100 + 50,  # every account
        "drawable": 7_500,  # active only
        "external_outstanding": 4_600,  # open + overdue, opened by as_of
        "total": 7_650 + 7_500 + 4_600,
    }
    assert rows["u2"]["drawable"] == 0 and rows["u2"]["total"] == 1_500
    assert rows["u3"]["total"] == 0.0
    assert frame.height == 3


def test_user_exposure_defaults_to_the_latest_date():
    ds = exposure_dataset()
    assert user_exposure(ds).equals(user_exposure(ds, ds.latest_date()))
    # the latest date is the future account's opening: it then counts
    assert user_exposure(ds).filter(pl.col("user_id") == "u1")["drawable"][0] == 7_500 + 9_990


def test_a_dataset_without_dates_needs_a_run_date():
    ds = Builder().account("a1", "u1", "huabei").build()
    ds = dataclasses.replace(ds, accounts=ds.accounts.with_columns(opened_at=None))
    # the library says what is wrong; the CLI adds "give --as-of" (tests/test_cli_errors.py)
    with pytest.raises(RunDateUnknownError, match=r"^cannot infer the run date: the data has no"):
        user_exposure(ds)


@on_backends()
def test_summary_counts_every_type_and_flagged_exposure_once(backend):
    b = Builder()
    multi_lender(b, "u1", outstanding=1_000)
    b.account("a1", "u1", "jiebei", status="frozen", reason="fraud")
    b.account("a2", "u1", "huabei", limit=2_000, outstanding=500)
    b.user("u2", "u3")
    backend.load(b.build())
    report = backend.detect(DetectionConfig(), as_of=AS_OF)
    s = report.summary
    assert s["users"] == 3
    assert s["flagged_users"] == 1
    assert s["findings"] == 2
    from xpg.queries.rules import finding_types

    # every registered type is counted, with 0 where it found nothing
    assert s["findings_by_type"] == {**dict.fromkeys(finding_types(), 0),
                                     "multi_lending": 1, "freeze_inconsistency": 1}
    assert sum(s["findings_by_severity"].values()) == 2
    # u1: outstanding 500 + drawable 1,500 + external 4,000, counted once
    assert s["exposure_total"] == 6_000.0
    assert s["at_risk_total"] == 1_500.0
    assert [f.type for f in report.findings] == ["multi_lending", "freeze_inconsistency"]
    assert report.as_of == dt.date(2026, 11, 20)


HALF_CENT = (451.424, 78.967, 121.594, 332.85)
"""Balances summing to 984.835, a half cent: added as floats in this order they make
984.8349999999999 (984.83 in cents), with the last two swapped 984.835 (984.84)."""


def test_exposure_sums_are_exact_whatever_the_row_order():
    b = Builder()
    swapped = (*HALF_CENT[:2], HALF_CENT[3], HALF_CENT[2])
    for user, order in (("u1", HALF_CENT), ("u2", swapped)):
        for i, owed in enumerate(order):
            b.account(f"{user}-a{i}", user, "huabei", limit=owed, outstanding=owed)
    frame = user_exposure(b.build(), AS_OF).sort("user_id")
    assert frame["internal_outstanding"].to_list() == [984.835, 984.835]
    assert frame["total"].to_list() == [984.835, 984.835]


@on_backends()
def test_a_half_cent_sum_rounds_the_same_on_every_backend(backend):
    """Each user's balances in another order (and the database's own order): the findings'
    cents are those of the exact sum, 984.835 -> 984.84 (Polars rounds half away from 0)."""
    b = Builder()
    orders = [HALF_CENT, (*HALF_CENT[:2], HALF_CENT[3], HALF_CENT[2]), HALF_CENT[::-1]]
    for n, order in enumerate(orders, start=1):
        user = f"u{n}"
        multi_lender(b, user, prefix=f"M{n}-", outstanding=0.25)
        for i, owed in enumerate(order):
            b.account(f"{user}-a{i}", user, "huabei", limit=owed + 0.001, outstanding=owed)
    backend.load(b.build())
    report = backend.detect(DetectionConfig(), as_of=AS_OF)
    exposures = {f.users[0]: f.exposure for f in report.findings if f.type == "multi_lending"}
    assert sorted(exposures) == ["u1", "u2", "u3"]
    for e in exposures.values():
        assert e.internal_outstanding == 984.84
        assert e.drawable == 0.0  # four times 0.001 of headroom
        assert e.external_outstanding == 1.0
        assert e.total == 985.84  # 984.835 + 0.004 + 1.0 = 985.839, in cents
