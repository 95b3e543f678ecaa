"""multi_lending: exact findings on hand-made data, at each threshold's boundary."""

from __future__ import annotations

import dataclasses

from decorator import on_backends
from detect_fixtures import AS_OF, Builder, at, day
from xpg.queries.findings import stable_id
from xpg.queries.rules.multi_lending import MultiLendingConfig

from xpg.settings import DetectionConfig

CONFIG = DetectionConfig()


def flagged(report, ftype="multi_lending"):
    return {f.users[0]: f for f in report.findings if f.type == ftype}


@on_backends()
def test_open_loans_at_four_lenders_not_three(backend):
    b = Builder()
    b.loans("u4", ["L1", "L2", "L3", "L4"], outstanding=1_000)
    b.loans("u3", ["L1", "L2", "L3"], outstanding=1_000)
    b.loans("dup", ["L1", "L2", "L3", "L3"], outstanding=1_000)  # 4 loans, 3 lenders
    backend.load(b.build())
    found = flagged(backend.detect(CONFIG, as_of=AS_OF))
    assert set(found) == {"u4"}
    f = found["u4"]
    assert f.id == stable_id("multi_lending", "u4")
    assert f.evidence["criteria"] == ["open_loans"]
    assert f.evidence["open_loan_lenders"] == ["L1", "L2", "L3", "L4"]
    assert f.evidence["lenders"] == ["L1", "L2", "L3", "L4"]
    assert f.exposure.total == 4_000.0 and f.exposure.external_outstanding == 4_000.0
    assert f.explanation == "User u4 holds open loans at 4 lenders; exposure 4,000 CNY."


@on_backends()
def test_closed_and_written_off_loans_do_not_count_overdue_does(backend):
    b = Builder()
    b.loans("closed", ["L1", "L2", "L3"]).loan("closed", "L4", status="closed")
    b.loans("woff", ["L1", "L2", "L3"]).loan("woff", "L4", status="written_off")
    b.loans("overdue", ["L1", "L2", "L3"], outstanding=500).loan(
        "overdue", "L4", status="overdue", outstanding=700
    )
    backend.load(b.build())
    found = flagged(backend.detect(CONFIG, as_of=AS_OF))
    assert set(found) == {"overdue"}
    assert found["overdue"].exposure.external_outstanding == 2_200.0


@on_backends()
def test_loan_opened_after_the_run_date_does_not_count(backend):
    b = Builder()
    b.loans("u1", ["L1", "L2", "L3"]).loan("u1", "L4", opened_at=day(1))
    b.loans("u2", ["L1", "L2", "L3"]).loan("u2", "L4", opened_at=day(0))
    backend.load(b.build())
    assert set(flagged(backend.detect(CONFIG, as_of=AS_OF))) == {"u2"}


@on_backends()
def test_short_window_first_and_last_day_and_the_day_outside(backend):
    b = Builder()
    # inside: as_of-6 (first day, 00:00) and as_of (last day, 23:59)
    b.application("in", "L1", at(-6, 0)).application("in", "L2", at(0, 23))
    b.application("in", "L3", at(-3))
    # one of the three is a day too early: as_of-7 at 23:59
    b.application("out", "L1", at(-7, 23)).application("out", "L2", at(0)).application(
        "out", "L3", at(-1)
    )
    # the same lender three times is one lender
    b.application("same", "L1", at(-1)).application("same", "L1", at(-2)).application(
        "same", "L2", at(-3)
    )
    # an application after the run date does not count
    b.application("late", "L1", at(-1)).application("late", "L2", at(-2)).application(
        "late", "L3", at(1, 0)
    )
    backend.load(b.build())
    found = flagged(backend.detect(CONFIG, as_of=AS_OF))
    assert set(found) == {"in"}
    f = found["in"]
    assert f.evidence["criteria"] == ["applications_short_window"]
    assert f.evidence["applied_lenders_short_window"] == ["L1", "L2", "L3"]
    assert f.evidence["applied_lenders_long_window"] == ["L1", "L2", "L3"]
    assert f.explanation == "User in applied to 3 lenders in 7 days; exposure 0 CNY."


@on_backends()
def test_long_window_six_lenders_not_five_and_its_first_day(backend):
    b = Builder()
    spread = [-29, -20, -15, -10, -3, 0]  # never 3 within the last 7 days
    for i, d in enumerate(spread, start=1):
        b.application("six", f"L{i}", at(d, 0))
    for i, d in enumerate(spread[1:], start=1):
        b.application("five", f"L{i}", at(d))
    for i, d in enumerate([-30, *spread[1:]], start=1):  # first one a day too early
        b.application("early", f"L{i}", at(d, 23))
    backend.load(b.build())
    found = flagged(backend.detect(CONFIG, as_of=AS_OF))
    assert set(found) == {"six"}
    f = found["six"]
    assert f.evidence["criteria"] == ["applications_long_window"]
    assert f.evidence["applied_lenders_long_window"] == [f"L{i}" for i in range(1, 7)]
    assert f.evidence["applied_lenders_short_window"] == ["L5", "L6"]


@on_backends()
def test_every_criterion_reported_and_thresholds_from_config(backend):
    b = Builder()
    b.loans("u1", ["L1", "L2"], outstanding=100)
    for i in range(1, 7):
        b.application("u1", f"A{i}", at(-i))
    backend.load(b.build())
    found = flagged(backend.detect(CONFIG, as_of=AS_OF))
    assert found["u1"].evidence["criteria"] == [
        "applications_short_window",
        "applications_long_window",
    ]
    assert found["u1"].evidence["lenders"] == ["A1", "A2", "A3", "A4", "A5", "A6", "L1", "L2"]
    loose = dataclasses.replace(
        CONFIG,
        multi_lending=MultiLendingConfig(
            min_open_lenders=2, short_window_lenders=7, long_window_lenders=7
        ),
    )
    found = flagged(backend.detect(loose, as_of=AS_OF))
    assert found["u1"].evidence["criteria"] == ["open_loans"]


@on_backends()
def test_ids_stable_across_runs_and_row_order(backend):
    def build(reverse):
        b = Builder()
        lenders = ["L1", "L2", "L3", "L4"]
        b.loans("u1", lenders[::-1] if reverse else lenders)
        return b.build()

    backend.load(build(False))
    first = backend.detect(CONFIG, as_of=AS_OF).to_json()
    backend.load(build(True))
    assert backend.detect(CONFIG, as_of=AS_OF).to_json() == first
