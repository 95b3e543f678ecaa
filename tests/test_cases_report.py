"""The nightly report respects decisions (contract v3 re-alerting): each trigger at its
boundary, following a ring's new id, the counts that need a human, and the three-night
walk-through of docs/cases.md on memory and Neo4j."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest
from decorator import on_backends
from investigation_data import AS_OF, RING, tables
from xpg.loaders.dataset import Dataset
from xpg.loaders.schema import TABLES
from xpg.queries.findings import Exposure, Finding, FindingsReport, stable_id

import xpg.api as api
from xpg.cases import open_case_store
from xpg.cases.sqlite import SqliteCaseStore
from xpg.cases.triage import triage
from xpg.cli import main

DAY = dt.date(2026, 11, 20)
AT = dt.datetime(2026, 11, 20, 9)
RING_ID = stable_id("ring", list(RING))


def f(total=1000.0, users=("u1", "u2", "u3"), severity="high", lenders=("L1", "L2"),
      fid="ring-a", type_="ring", **evidence):
    return Finding(fid, type_, severity, 0.9, tuple(users), Exposure(total),
                   {"lenders": list(lenders), **evidence}, "x")


def decided(tmp_path, finding, outcome="false_positive", snooze=None):
    store = SqliteCaseStore(tmp_path / "cases.sqlite")
    store.open(finding=finding, by="alice", at=AT)
    if outcome is None:
        store.snooze(finding.id, snooze, by="alice", finding=finding, at=AT)
    else:
        store.decide(finding.id, outcome, by="alice", finding=finding, at=AT,
                     snooze_until=snooze)
    return store


def state(store, later, day=DAY + dt.timedelta(days=1), share=0.25):
    t = triage(FindingsReport(day, (later,)), None, store.list(), share=share)
    return t.verdicts[later.id]


@pytest.mark.parametrize(("total", "expected"), [
    (1250.0, "realerted"),      # exactly the share: re-alerted
    (1249.99, "suppressed"),    # just under
    (1000.0, "suppressed"),
    (400.0, "suppressed"),      # better
])
def test_exposure_trigger_at_its_boundary(tmp_path, total, expected):
    store = decided(tmp_path, f())
    v = state(store, f(total=total))
    assert v.state == expected
    if expected == "realerted":
        assert v.reasons == ("exposure total up 25.0% since the decision of 2026-11-20 "
                             "(1,000.00 -> 1,250.00)",)


def test_exposure_share_is_the_setting(tmp_path):
    store = decided(tmp_path, f())
    assert state(store, f(total=1100.0), share=0.1).state == "realerted"
    assert state(store, f(total=1099.0), share=0.1).state == "suppressed"


def test_member_lender_and_severity_triggers(tmp_path):
    store = decided(tmp_path, f())
    grown = state(store, f(users=("u1", "u2", "u3", "u9")))
    assert grown.state == "realerted" and grown.reasons == (
        "gained 1 member(s) since the decision: u9",)
    shrunk = state(store, f(users=("u1", "u2")))  # fewer members is not worse
    assert shrunk.state == "suppressed"
    lender = state(store, f(lenders=("L1", "L2", "L7")))
    assert lender.reasons == ("gained 1 lender(s) since the decision: L7",)
    fewer = state(store, f(lenders=("L1",)))
    assert fewer.state == "suppressed"
    up = state(store, f(severity="critical"))
    assert up.reasons == ("severity rose from high to critical",)
    assert state(store, f(severity="medium")).state == "suppressed"


def test_snooze_until_the_date_then_in_review(tmp_path):
    ml = f(fid="multi-lending-x", type_="multi_lending", users=("u2",))
    store = decided(tmp_path, ml, outcome=None, snooze=dt.date(2026, 11, 25))
    assert state(store, ml, day=dt.date(2026, 11, 25)).state == "suppressed"  # the last day
    after = state(store, ml, day=dt.date(2026, 11, 26))
    assert after.state == "in_review"  # the snooze ended; the case still holds it: not new


def test_confirmed_and_open_cases_are_in_review_not_new(tmp_path):
    store = decided(tmp_path, f(), outcome="confirmed_fraud")
    assert state(store, f(total=9999.0)).state == "in_review"
    other = f(fid="ring-b", users=("u7", "u8", "u9"))
    store.open(finding=other, by="bob", at=AT)
    assert state(store, other).state == "in_review"
    t = triage(FindingsReport(DAY, (f(fid="ring-c"),)), None, store.list(), share=0.25)
    assert t.verdicts["ring-c"].state == "new" and t.counts()["open_cases"] == 1


def test_a_case_follows_a_ring_whose_id_changed(tmp_path):
    store = decided(tmp_path, f(fid="ring-old"))
    merged = f(fid="ring-new", users=("u1", "u2", "u3"),
               lineage={"detected_id": "ring-new", "change": "merged",
                        "previous_ids": ["ring-other", "ring-old"]})
    t = triage(FindingsReport(DAY, (merged,)), None, store.list(), share=0.25)
    assert t.verdicts["ring-new"].state == "suppressed"
    assert t.follows == ((store.get("ring-old").case_id, "ring-new",
                          "ring ring-old is now ring-new"),)


def test_a_user_case_holds_the_findings_naming_the_user(tmp_path):
    store = SqliteCaseStore(tmp_path / "cases.sqlite")
    store.open(user="u2", by="alice", note="customer appeal", at=AT)
    t = triage(FindingsReport(DAY, (f(), f(fid="ring-z", users=("u7", "u8", "u9")))), None,
               store.list(), share=0.25)
    assert t.verdicts["ring-a"].state == "in_review" and t.verdicts["ring-z"].state == "new"
    store.decide(store.list()[0].case_id, "benign", by="alice", at=AT)
    t = triage(FindingsReport(DAY, (f(),)), None, store.list(), share=0.25)
    assert t.verdicts["ring-a"].state == "in_review"  # decided on no finding: not suppressed


# -- the nightly report -------------------------------------------------------------------

def _with_lender_user(user: str, device: str | None) -> Dataset:
    """The fixture where ``user`` holds open loans at four lenders (a multi-lender), seen on
    ``device`` (joining the ring that uses it) when given."""
    t = tables()
    o = dt.date(2026, 3, 1)
    loans = pl.DataFrame([(user, f"L{i}", o, 500.0, 400.0, "open", None) for i in (1, 2, 3, 4)],
                         schema=TABLES["external_loans"].schema, orient="row")
    t["external_loans"] = pl.concat([t["external_loans"], loans])
    if device is not None:
        seen = dt.datetime(2026, 1, 5, 9)
        t["devices"] = pl.concat([t["devices"], pl.DataFrame(
            [(user, device, seen, seen)], schema=TABLES["devices"].schema, orient="row")])
    return Dataset(**t, present=frozenset(t), source="night")


def _plain() -> Dataset:
    t = tables()
    return Dataset(**t, present=frozenset(t), source="night")


def _summary(result):
    return json.loads((result.folder / "manifest.json").read_text())["summary"]["cases"]


def _night(backend, ds, out, day):
    with api.open(dataset=ds, backend=backend) as s:
        return s.report(out, previous="auto", as_of=day)


@on_backends("memory", "neo4j")
def test_three_nights_walkthrough(backend, tmp_path):
    out = tmp_path / "reports"
    # night 1: the findings
    first = _night(backend, _plain(), out, AS_OF)
    ids = {x.type: x.id for x in first.findings.findings if x.type in ("ring",)}
    ml_u2 = next(x.id for x in first.findings.findings
                 if x.type == "multi_lending" and x.users == ("u2",))
    assert ids["ring"] == RING_ID
    assert _summary(first)["new"] == len(first.findings.findings)
    # the analyst: the ring is a false positive, the multi-lender u2 is snoozed
    with api.open(dataset=_plain(), backend=backend) as s:
        s.use_reports(out)
        s.decide(RING_ID, "false_positive", by="alice", note="a family's shared tablet")
        s.cases.snooze(ml_u2, dt.date(2099, 1, 1), by="bob", note="waiting for the bureau")
    # night 2, same data: suppressed, not new
    second = _night(backend, _plain(), out, AS_OF + dt.timedelta(days=1))
    c2 = _summary(second)
    assert (c2["new"], c2["realerted"], c2["suppressed"]) == (0, 0, 2)
    changes = json.loads((second.folder / "changes.json").read_text())
    by_id = {c["id"]: c for c in changes["changes"]}
    assert by_id[RING_ID]["case"]["state"] == "suppressed"
    assert by_id[ml_u2]["case"]["state"] == "suppressed"
    assert second.alerts("low") == ()
    # night 3: u8 joins the ring on device d2 (and is a multi-lender): re-alerted, reason given
    third = _night(backend, _with_lender_user("u8", "d2"), out, AS_OF + dt.timedelta(days=2))
    ring = next(x for x in third.findings.findings if x.type == "ring")
    assert ring.id == RING_ID and "u8" in ring.users  # the carried id: the case holds it
    c3 = _summary(third)
    assert c3["realerted"] == 1 and c3["suppressed"] == 1
    verdict = third.cases["findings"][RING_ID]
    assert verdict["state"] == "realerted"
    assert any(r == "gained 1 member(s) since the decision: u8" for r in verdict["reasons"])
    alerted = {x.id for x in third.alerts("low")}
    assert RING_ID in alerted and ml_u2 not in alerted
    changes = json.loads((third.folder / "changes.json").read_text())
    assert [r["id"] for r in changes["realerted"]] == [RING_ID]
    cases_csv = pl.read_csv(third.folder / "cases.csv")
    assert sorted(cases_csv.get_column("state").to_list()) == ["realerted", "suppressed"]
    store = open_case_store(backend, out)
    assert [e.what for e in store.events(RING_ID)] == ["opened", "decided"]


def test_changes_and_exit_codes_count_only_what_needs_a_human(tmp_path):
    from investigation_data import write_dataset

    out = tmp_path / "reports"
    data1 = write_dataset(tmp_path / "d1")
    assert main(["report", "--data", str(data1), "--out", str(out), "--as-of", "2026-11-20",
                 "--quiet"]) == 0
    # a tip-off on u8, who is in no finding yet
    assert main(["case", "open", "--user", "u8", "--by", "alice", "--note", "tip-off",
                 "--reports", str(out)]) == 0
    data2 = tmp_path / "d2"
    data2.mkdir()
    for name, frame in _with_lender_user("u8", None).tables().items():
        frame.write_parquet(data2 / f"{name}.parquet")
    code = main(["report", "--data", str(data2), "--out", str(out), "--as-of", "2026-11-21",
                 "--previous", "auto", "--alert-on", "low", "--quiet"])
    assert code == 0  # u8's new multi-lending finding is held by the open case: in review
    changes = json.loads((out / "2026-11-21" / "changes.json").read_text())
    assert changes["counts_all"]["new"] == 1 and changes["counts"]["new"] == 0
    assert changes["counts"]["in_review"] == 1 and changes["counts"]["open_cases"] == 1


def test_confirmed_fraud_makes_the_linked_users_linked_risk(tmp_path):
    """Contract v3: a user whose case an analyst closed ``confirmed_fraud`` is known-bad
    on the next night, so a user sharing its device and still able to draw is a
    ``linked_risk`` finding, with that reason; before the decision there is none."""
    from detect_fixtures import AS_OF, Builder, multi_lender
    from xpg.queries.findings import stable_id

    b = Builder()
    b.account("aC", "C", "huabei")  # active: known-bad by no table
    multi_lender(b, "C")
    b.account("aU", "U", "jiebei", outstanding=2_000)
    b.device("C", "dc").device("U", "dc")
    data = b.build()
    out = tmp_path / "reports"
    with api.open(dataset=data) as s:
        first = s.report(out, as_of=AS_OF - dt.timedelta(days=1)).findings
        assert "linked_risk" not in {f.type for f in first.findings}
        s.use_reports(out)
        s.decide(stable_id("multi_lending", "C"), "confirmed_fraud", by="alice")
    with api.open(dataset=data) as s:
        second = s.report(out, as_of=AS_OF).findings
    linked = [f for f in second.findings if f.type == "linked_risk"]
    assert [f.users for f in linked] == [("U",)]
    assert linked[0].evidence["known_bad_neighbours"][0]["known_bad"] == [
        {"reason": "confirmed_fraud"}]


def test_a_nightly_run_opens_the_case_store_once(tmp_path, monkeypatch):
    """The known-bad users before the detection, the triage, the follows and the precision
    after it all read the one store a night opens (and closes)."""
    from xpg.cases import sqlite as sqlite_store

    out = tmp_path / "reports"
    with api.open(dataset=_plain()) as s:
        s.report(out, as_of=AS_OF)
        s.use_reports(out)
        s.decide(RING_ID, "confirmed_fraud", by="alice")
    opened, closed = [], []
    store_class = sqlite_store.SqliteCaseStore
    real_init, real_close = store_class.__init__, store_class.close

    def counting_init(self, *a, **k):
        opened.append(self)
        real_init(self, *a, **k)

    def counting_close(self):
        closed.append(self)
        real_close(self)

    monkeypatch.setattr(sqlite_store.SqliteCaseStore, "__init__", counting_init)
    monkeypatch.setattr(sqlite_store.SqliteCaseStore, "close", counting_close)
    second = _night("memory", _plain(), out, AS_OF + dt.timedelta(days=1))
    assert len(opened) == 1 and opened[0] in closed
    assert second.cases["precision"]["ring"]["confirmed_fraud"] == 1  # read from that store
    assert second.cases["findings"][RING_ID]["state"] == "in_review"
