"""A report that adds up: money counted once, definitions beside the figures, the HTML's
totals read back and compared with findings.json; ids in `--format table`; reasons in the
diff; a warning when the findings are of another night than the data."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from html import unescape

import polars as pl
import pytest
from investigation_data import AS_OF, dataset, write_dataset
from xpg.queries.diff import diff_reports
from xpg.queries.findings import Exposure, Finding, FindingsReport
from xpg.queries.totals import DEFINITIONS

import xpg
from xpg.cli import main
from xpg.synthetic import generate

_FIGURE = re.compile(r'data-figure="([^"]+)">([^<]*)<')


def figures(html: str) -> dict[str, set[float]]:
    """Every tagged money figure of the page: name -> the values printed for it."""
    out: dict[str, set[float]] = {}
    for name, value in _FIGURE.findall(html):
        out.setdefault(unescape(name), set()).add(float(value.replace(",", "") or "nan"))
    return out


def at_risk_from_json(doc: dict, types=("freeze_inconsistency", "restored_after_freeze")
                      ) -> float:
    """The drawable at risk from findings.json alone, each (user, account) once."""
    key = {"freeze_inconsistency": "drawable_accounts", "restored_after_freeze": "restorations"}
    seen: dict[tuple[str, str], float] = {}
    for f in doc["findings"]:
        if f["type"] in types:
            for a in f["evidence"][key[f["type"]]]:
                seen[(f["users"][0], a["account_id"])] = a["drawable"]
    return round(sum(seen.values()), 2)


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    ds = generate(1500, seed=11).dataset()
    with xpg.open(dataset=ds) as s:
        return s.report(tmp_path_factory.mktemp("reports"))


def test_html_totals_equal_findings_json(report):
    doc = json.loads((report.folder / "findings.json").read_text())
    manifest = json.loads((report.folder / "manifest.json").read_text())
    page = figures((report.folder / "index.html").read_text())
    once = at_risk_from_json(doc)
    summed = round(sum(f["exposure"]["at_risk"] for f in doc["findings"]
                       if f["type"] in ("freeze_inconsistency", "restored_after_freeze")), 2)
    # the fixture has users named by both kinds of inconsistency: the bug would show
    assert once < summed
    # the summary card, the by-type table's last row, the cross-product section: one value
    assert page["drawable_at_risk_total"] == {once}
    assert manifest["summary"]["drawable_at_risk_total"] == once
    assert page["exposure_total"] == {doc["summary"]["exposure_total"]}
    # per type: the freeze rows' own amounts; exposure of the type's distinct users
    assert page["drawable_at_risk.freeze_inconsistency"] == {doc["summary"]["at_risk_total"]}
    assert page["drawable_at_risk.restored_after_freeze"] == {
        at_risk_from_json(doc, ("restored_after_freeze",))}
    exposure = pl.read_csv(report.folder / "exposure.csv", schema_overrides={"user_id": pl.String})
    for t in ("multi_lending", "ring", "freeze_inconsistency", "restored_after_freeze",
              "limit_divergence"):
        users = {u for f in doc["findings"] if f["type"] == t for u in f["users"]}
        expected = round(exposure.filter(pl.col("user_id").is_in(sorted(users)))
                         .get_column("total").sum(), 2)
        (shown,) = page[f"exposure.{t}"]
        assert shown == pytest.approx(expected, abs=0.011)
    assert "exposure / at risk" not in (report.folder / "index.html").read_text()


def test_summary_line_counts_at_risk_as_the_report_does(report):
    """`xpg detect`/`xpg demo`'s one line says the page's drawable at risk, each account
    once, not findings.json's freeze-only ``at_risk_total``."""
    from xpg.cli.detect import summary_line

    doc = FindingsReport.read(report.folder)
    line = summary_line(doc)
    once = json.loads((report.folder / "manifest.json").read_text())["summary"][
        "drawable_at_risk_total"]
    assert once != doc.summary["at_risk_total"]  # the two figures differ on this sample
    assert line.endswith(f"drawable at risk {once:,.0f} CNY")


def test_definitions_beside_the_figures(report):
    html = unescape((report.folder / "index.html").read_text())
    for text in DEFINITIONS.values():
        assert text in html


def test_table_shows_finding_ids(tmp_path, capsys):
    data = write_dataset(tmp_path / "data")
    assert main(["detect", "--data", str(data), "--as-of", AS_OF.isoformat(),
                 "--format", "table"]) == 0
    out = capsys.readouterr().out
    with xpg.open(dataset=dataset()) as s:
        ids = [f.id for f in s.findings(AS_OF).findings]
    assert ids and all(i in out for i in ids)


# ----------------------------------------------------------------------------- reasons


def _ml(criteria, open_lenders, user="u1"):
    return Finding(f"multi-lending-{user}", "multi_lending", "high", 0.8, (user,),
                   Exposure(100.0), {"criteria": criteria, "open_loan_lenders": open_lenders},
                   "x")


def _diff(old, new=(), loans=None):
    return diff_reports(FindingsReport(dt.date(2026, 11, 19), tuple(old)),
                        FindingsReport(dt.date(2026, 11, 20), tuple(new)), loans=loans)


def test_resolved_multi_lending_reasons():
    windows = _ml(["applications_short_window"], [])
    (c,) = _diff([windows]).changes
    assert (c.kind, c.reason) == ("resolved", "window_passed")
    loans = _ml(["open_loans"], ["L1", "L2", "L3", "L4"])
    still = pl.DataFrame({"user_id": ["u1"]})
    assert _diff([loans], loans=still).changes[0].reason == "loans_closed"
    none = pl.DataFrame({"user_id": ["u9"]})
    assert _diff([loans], loans=none).changes[0].reason == "loans_absent"
    both = _ml(["open_loans", "applications_long_window"], ["L1", "L2", "L3", "L4"])
    assert _diff([both], loans=still).changes[0].reason == "loans_closed+window_passed"


def test_changed_and_limit_reasons():
    old = _ml(["open_loans"], ["L1", "L2", "L3", "L4"])
    more = dataclasses.replace(old, exposure=Exposure(200.0),
                               evidence={**old.evidence, "open_loan_lenders": ["L1", "L2", "L3",
                                                                              "L4", "L5"]})
    (c,) = _diff([old], [more]).changes
    assert (c.kind, c.reason) == ("changed", "loans_opened")
    cut = Finding("limit-1", "limit_divergence", "high", 0.8, ("u1",), Exposure(1.0),
                  {"window_days": 30, "cuts": [{"at": "2026-10-19T10:00:00"}]}, "x")
    assert _diff([cut]).changes[0].reason == "window_passed"
    recent = dataclasses.replace(cut, evidence={"window_days": 30,
                                                "cuts": [{"at": "2026-11-18T10:00:00"}]})
    assert _diff([recent]).changes[0].reason == "limit_changed"
    frozen = Finding("freeze-1", "freeze_inconsistency", "high", 0.8, ("u1",), Exposure(1.0),
                     {}, "x")
    assert _diff([frozen]).changes[0].why == "an account's status changed"


def _ring(users, multi, *, core=False, exposure=100.0, rid="ring-1"):
    evidence = {"multi_lending_members": list(users[:multi]), "size": len(users)}
    if core:
        evidence.update(core=True, group_users=9_318)
    return Finding(rid, "ring", "high", 0.8, tuple(users), Exposure(exposure), evidence, "x")


def test_a_resolved_ring_whose_members_stopped_multi_lending_says_so():
    members = [f"u{i}" for i in range(1, 9)]
    old = _ring(members, 5)
    still = [_ml(["open_loans"], ["L1", "L2", "L3", "L4"], user=u) for u in members[:3]]
    (c, *_) = [c for c in _diff([old], still).changes if c.type == "ring"]
    assert (c.kind, c.reason) == ("resolved", "fewer_multi_lenders")
    assert c.why == "fewer of its members are multi-lending now (3 of 8 members, 5 before)"
    (gone,) = _diff([old]).changes  # none of them is multi-lending: still that, not "left"
    assert gone.reason == "fewer_multi_lenders" and "(0 of 8 members, 5 before)" in gone.why
    all_still = [_ml(["open_loans"], ["L1", "L2", "L3", "L4"], user=u) for u in members[:5]]
    left = [c for c in _diff([old], all_still).changes if c.type == "ring"]
    assert [c.reason for c in left] == ["members_left"]  # as many multi-lenders as before


def test_a_ring_whose_group_joined_a_larger_one_is_judged_by_its_core():
    old = _ring([f"u{i}" for i in range(1, 10)], 5, exposure=820_117.68)
    core = _ring(["u1", "u2", "u3", "u4", "u5", "u10"], 6, core=True, exposure=949_754.53,
                 rid="ring-2")
    (c,) = _diff([old], [core]).changes
    assert c.kind == "shrank" and c.users_added == ("u10",)
    assert c.reason == "judged_by_core+more_multi_lenders"
    assert c.why.startswith("its group joined a larger connected group")
    assert "(6 of 6 members, 5 before)" in c.why
    assert c.worse and _diff([old], [core]).worse() == 1  # took in a member: worse, alerted
    grew = _ring([f"u{i}" for i in range(1, 12)], 5, rid="ring-3")
    (g,) = _diff([old], [grew]).changes
    assert (g.kind, g.reason) == ("grew", "members_joined")
    weaker = dataclasses.replace(old, severity="medium", evidence={
        **old.evidence, "multi_lending_members": list(old.users[:4])})
    (w,) = _diff([old], [weaker]).changes
    assert (w.kind, w.reason) == ("changed", "fewer_multi_lenders")


# ----------------------------------------------------------------------------- nights


def test_findings_of_another_night_warn(tmp_path, capsys):
    data = write_dataset(tmp_path / "data")
    with xpg.open(dataset=dataset()) as s:
        report = s.findings(AS_OF)
        latest = s.data_as_of()
    same = tmp_path / "same.json"
    same.write_text(dataclasses.replace(report, as_of=latest).to_json())
    other = tmp_path / "other.json"
    other.write_text(dataclasses.replace(report, as_of=latest - dt.timedelta(days=3)).to_json())
    ring = next(f.id for f in report.findings if f.type == "ring")
    assert main(["query", "ring", ring, "--data", str(data), "--findings", str(same)]) == 0
    assert "warning" not in capsys.readouterr().err
    assert main(["query", "ring", ring, "--data", str(data), "--findings", str(other)]) == 0
    err = capsys.readouterr().err
    assert f"warning: the findings are as of {latest - dt.timedelta(days=3)} but the data's " \
           f"latest date is {latest}" in err


def test_a_resolved_rings_explanation_is_masked_in_the_changes():
    old = dataclasses.replace(_ring(["u1", "u2", "u3"], 2), explanation=(
        "3 users share phone 13513261967 and bank_card 6222020200112233"),
        evidence={"multi_lending_members": ["u1", "u2"], "size": 3,
                  "identifiers": ["phone:13513261967", "bank_card:6222020200112233"]})
    (c,) = _diff([old]).changes
    assert c.kind == "resolved" and c.explanation == old.explanation  # kept as data
    shown = c.to_dict()["explanation"]
    assert shown == "3 users share phone ****1967 and bank_card ****2233"
    assert c.masked_explanation() == shown
