"""Per-rule trends over the last nights: trends.json in each report folder, the page's
Trends section and charts, the Python API and `GET /v1/cases/trends`, the setting for N,
a report written before trends existed, a night rerun."""

from __future__ import annotations

import datetime as dt
import json
import warnings

import polars as pl
from investigation_data import AS_OF, RING, tables
from xpg.loaders.dataset import Dataset
from xpg.loaders.schema import TABLES
from xpg.queries.findings import stable_id

import xpg.api as api
from xpg.cases.sqlite import SqliteCaseStore
from xpg.report import svg, trends
from xpg.serve import Limits, create_app

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

RING_ID = stable_id("ring", list(RING))
DAY2, DAY3 = AS_OF + dt.timedelta(days=1), AS_OF + dt.timedelta(days=2)


def _data(grown: bool = False) -> Dataset:
    """The fixture; ``grown``: u8 borrows at four lenders and is seen on the ring's d2."""
    t = tables()
    if grown:
        o, seen = dt.date(2026, 3, 1), dt.datetime(2026, 1, 5, 9)
        t["external_loans"] = pl.concat([t["external_loans"], pl.DataFrame(
            [("u8", f"L{i}", o, 500.0, 400.0, "open", None) for i in (1, 2, 3, 4)],
            schema=TABLES["external_loans"].schema, orient="row")])
        t["devices"] = pl.concat([t["devices"], pl.DataFrame(
            [("u8", "d2", seen, seen)], schema=TABLES["devices"].schema, orient="row")])
    return Dataset(**t, present=frozenset(t), source="night")


def _night(out, day, grown=False, overwrite=False, **kw):
    with api.open(dataset=_data(grown), **kw) as s:
        return s.report(out, previous="auto", as_of=day, overwrite=overwrite)


def _by_type(result):
    out: dict[str, list] = {}
    for f in result.findings.findings:
        out.setdefault(f.type, []).append(f)
    return out


def _three_nights(out):
    first = _night(out, AS_OF)
    ml_u2 = next(f for f in first.findings.findings
                 if f.type == "multi_lending" and f.users == ("u2",))
    ring = next(f for f in first.findings.findings if f.id == RING_ID)
    at = dt.datetime.combine(DAY2, dt.time(9))  # the analysts' morning after night 1
    with SqliteCaseStore(out / "cases.sqlite") as store:
        for finding, outcome in ((ring, "false_positive"), (ml_u2, "confirmed_fraud")):
            store.open(finding=finding, by="alice", at=at)
            store.decide(finding.id, outcome, by="alice", finding=finding, at=at)
    second = _night(out, DAY2)
    third = _night(out, DAY3, grown=True)
    return first, second, third


def test_three_nights_of_trends(tmp_path):
    out = tmp_path / "reports"
    first, second, third = _three_nights(out)
    doc = json.loads((third.folder / "trends.json").read_text())
    assert doc == third.trends
    assert doc["version"] == trends.TREND_VERSION and doc["nights"] == 14
    assert [r["as_of"] for r in doc["series"]] == [d.isoformat() for d in (AS_OF, DAY2, DAY3)]
    assert [r["source"] for r in doc["series"]] == ["report"] * 3
    for row, night in zip(doc["series"], (first, second, third), strict=True):
        found = _by_type(night)
        for rule, figures in row["rules"].items():
            assert figures["findings"] == len(found.get(rule, ())), (row["as_of"], rule)
        ring = found["ring"][0]
        assert row["rules"]["ring"]["exposure"] == ring.exposure.total
        assert row["rules"]["ring"]["at_risk"] is None  # the ring rule names no account
        fi = found.get("freeze_inconsistency", [])
        assert row["rules"]["freeze_inconsistency"]["at_risk"] == round(
            sum(f.exposure.at_risk or 0.0 for f in fi), 2)
    # the decisions were taken the day after night 1: precision from night 2 on, by rule
    rules1, rules2 = doc["series"][0]["rules"], doc["series"][1]["rules"]
    assert rules1["ring"]["precision"] is None and rules1["ring"]["decided"] == 0
    assert (rules2["ring"]["precision"], rules2["ring"]["decided"]) == (0.0, 1)
    assert (rules2["multi_lending"]["precision"], rules2["multi_lending"]["decided"]) == (1.0, 1)
    # night 3: u8 joined (one more multi-lender), the ring kept its id
    assert (doc["series"][2]["rules"]["multi_lending"]["findings"]
            == doc["series"][1]["rules"]["multi_lending"]["findings"] + 1)
    # each folder's file holds the nights up to its own
    assert [r["as_of"] for r in json.loads((second.folder / "trends.json").read_text())
            ["series"]] == [AS_OF.isoformat(), DAY2.isoformat()]
    assert "trends.json" in third.files
    manifest = json.loads((third.folder / "manifest.json").read_text())
    assert "trends.json" in manifest["files"]


def test_the_page_draws_the_trends_from_the_second_night(tmp_path):
    out = tmp_path / "reports"
    first, _, third = _three_nights(out)
    page1 = (first.folder / "index.html").read_text()
    assert '<section id="trends">' in page1 and 'href="#trends"' in page1
    assert "The charts start with the second night." in page1
    assert 'class="chart trend"' not in page1
    page3 = (third.folder / "index.html").read_text()
    section = page3[page3.index('<section id="trends">'):]
    section = section[:section.index("</section>")]
    assert section.count('<svg class="chart trend"') == 4
    assert "3 night(s) in this folder" in section
    for title in ("Findings per rule", "Exposure per rule", "Drawable at risk per rule",
                  "Precision per rule (confirmed / decided)"):
        assert f"<title>{title}</title>" in section
    # the ring's row: 1 finding on the first and last night, its precision after the decision
    row = section[section.index("<td>ring</td>"):]
    row = row[:row.index("</tr>")]
    assert '<td class="num">0%</td>' in row and '<td class="num">1</td>' in row
    # a ring's exposure tonight as a point of the chart, to the figure's rounding
    assert f"ring, {DAY3.isoformat()}: " in section


def test_trend_nights_is_the_setting(tmp_path):
    out = tmp_path / "reports"
    config = tmp_path / "xpg.toml"
    config.write_text("[report]\ntrend_nights = 2\n")
    for day in (AS_OF, DAY2, DAY3):
        last = _night(out, day, config=config)
    assert [r["as_of"] for r in last.trends["series"]] == [DAY2.isoformat(), DAY3.isoformat()]
    assert last.trends["nights"] == 2


def test_a_report_from_before_trends_gives_its_counts(tmp_path):
    out = tmp_path / "reports"
    first = _night(out, AS_OF)
    (first.folder / "trends.json").unlink()  # written by an xpg without trends
    second = _night(out, DAY2)
    old, new = second.trends["series"]
    assert old["source"] == "manifest" and new["source"] == "report"
    counts = json.loads((first.folder / "manifest.json").read_text())["summary"][
        "findings_by_type"]
    assert {k: v["findings"] for k, v in old["rules"].items()} == counts
    assert old["rules"]["ring"]["exposure"] is None  # not in the manifest: unknown, not 0


def test_a_night_rerun_replaces_its_row(tmp_path):
    out = tmp_path / "reports"
    _night(out, AS_OF)
    before = _night(out, DAY2)
    again = _night(out, DAY2, grown=True, overwrite=True)
    assert again.trends["series"][1] != before.trends["series"][1]  # u8 borrows there now
    assert [r["as_of"] for r in again.trends["series"]] == [AS_OF.isoformat(), DAY2.isoformat()]
    later = _night(out, DAY3, grown=True)
    assert later.trends["series"][1] == again.trends["series"][1]  # the rerun's row


def test_trends_through_the_api(tmp_path, monkeypatch):
    out = tmp_path / "reports"
    _three_nights(out)
    with api.open(dataset=_data(grown=True)) as s:
        s.use_reports(out)
        assert [r["as_of"] for r in s.trends()["series"]] == [
            d.isoformat() for d in (AS_OF, DAY2, DAY3)]
        assert len(s.trends(1)["series"]) == 1 and s.trends(1)["nights"] == 1
        client = TestClient(create_app(s, api_keys=["read-key-0123456789abcdef"],
                                       limits=Limits(rate_limit=1000)))
        head = {"X-API-Key": "read-key-0123456789abcdef"}
        r = client.get("/v1/cases/trends?nights=2", headers=head)
        assert r.status_code == 200, r.text
        body = r.json()["trends"]
        assert [x["as_of"] for x in body["series"]] == [DAY2.isoformat(), DAY3.isoformat()]
        assert body["series"][0]["rules"]["ring"]["precision"] == 0.0
        assert client.get("/v1/cases/trends?nights=0", headers=head).status_code == 422
        assert client.get("/v1/cases/trends").status_code in (401, 403)
    with api.open(dataset=_data()) as s:
        s.use_reports(tmp_path / "empty")
        assert s.trends() is None


def test_line_chart_breaks_at_a_missing_value_and_escapes():
    chart = svg.line_chart(["2026-11-20", "2026-11-21", "2026-11-22", "2026-11-23"],
                           [("<rule>", [1.0, None, 3.0, 4.0])], title="t", y_label="n")
    assert chart.count("<polyline") == 1  # 1 | 3, 4: one line of two points
    assert chart.count("<circle") == 3
    assert "&lt;rule&gt;" in chart and "<rule>" not in chart
    assert 'class="chart empty"' in svg.line_chart(["2026-11-20"], [("r", [1.0])], title="t",
                                                   y_label="n")
