"""Each rule owns its section of the report page: the page iterates the registry, so a
registered rule that declares a section gets one (navigation, table, lead, rows) with no
change to the report; a rule declaring none gets none; the built-in sections are the
rules' own."""

from __future__ import annotations

import pytest
from detect_fixtures import AS_OF
from test_rules import BigLimit, data
from xpg.queries import rules as registry
from xpg.queries.rules.base import ReportSection

import xpg
from xpg.report.html import page_sections

TOY_SECTION = ReportSection(
    "big-limits", "Big limits", "Accounts with a big limit",
    lead="<p>{{ d.count }} account(s) <i>over the limit</i>; exposure {{ d.exposure }} CNY.</p>",
    columns=(("finding", "id"), ("user", "users"), ("exposure (CNY)", "exposure"),
             ("explanation", "explanation")), limit=1)


class BigLimitWithSection(BigLimit):
    report_section = TOY_SECTION


@pytest.fixture
def toy():
    registry.register(BigLimitWithSection())
    yield registry.rule("big_limit")
    registry.unregister("big_limit")


def _page(tmp_path) -> str:
    with xpg.open(dataset=data(), as_of=AS_OF) as s:
        r = s.report(tmp_path / "reports", as_of=AS_OF)
    return (r.folder / "index.html").read_text()


def test_the_builtin_sections_are_the_rules_own():
    anchors = [s.anchor for s in page_sections()]
    assert anchors == ["act-first", "summary", "changes", "by-type", "trends", "rings",
                       "inconsistencies", "charts", "findings", "files"]
    owners = {r.name: r.report_section.anchor for r in registry.rules() if r.report_section}
    assert owners == {"ring": "rings", "freeze_inconsistency": "inconsistencies",
                      "restored_after_freeze": "inconsistencies"}


def test_a_registered_rule_gets_its_section(tmp_path, toy):
    anchors = [s.anchor for s in page_sections()]
    assert anchors.index("big-limits") == anchors.index("inconsistencies") + 1
    page = _page(tmp_path)
    assert '<a href="#big-limits">Big limits</a>' in page
    section = page[page.index('<section id="big-limits">'):]
    section = section[:section.index("</section>")]
    assert "<h2>Accounts with a big limit</h2>" in section
    assert "<p>1 account(s) <i>over the limit</i>; exposure 80,000.00 CNY.</p>" in section
    assert ('<th>finding</th><th>user</th><th class="num">exposure (CNY)</th>'
            "<th>explanation</th>") in section
    (toy_finding,) = [x for x in xpg.open(dataset=data(), as_of=AS_OF).findings().findings
                      if x.type == "big_limit"]
    assert f"<code>{toy_finding.id}</code>" in section
    assert '<td class="num">80,000.00</td>' in section
    assert "Account a1 has a limit of 80,000 CNY." in section


def test_a_section_lists_its_first_limit_and_counts_the_rest(tmp_path, toy):
    import datetime as dt

    from xpg.queries.findings import Exposure, Finding, FindingsReport

    from xpg.report.html import PageData

    found = tuple(Finding(f"big_limit-{i}", "big_limit", "low", 1.0, (f"u{i}",),
                          Exposure(float(i)), {}, "<b>x</b>") for i in range(3))
    page = PageData(as_of=AS_OF, generated_at=dt.datetime(2026, 11, 20), version="t",
                    data_source="-", backend="-", findings=FindingsReport(AS_OF, found),
                    summary={})
    (section,) = [s for s in page_sections() if s.anchor == "big-limits"]
    d = section.data(page)
    assert d["count"] == 3 and d["more"] == 2 and len(d["rows"]) == 1
    assert d["rows"][0][1] == "u2"  # largest exposure first
    assert d["rows"][0][3] == "<b>x</b>"  # escaped by the template, not here


def test_a_rule_without_a_section_gets_none(tmp_path):
    registry.register(BigLimit())
    try:
        assert "big-limits" not in [s.anchor for s in page_sections()]
        page = _page(tmp_path)
        assert page.count("<section id=") == len(page_sections()) + page.count(
            '<section class="ring"')
    finally:
        registry.unregister("big_limit")


def test_a_section_refuses_unknown_fields():
    with pytest.raises(ValueError, match="unknown column fields"):
        ReportSection("x", "X", "X", columns=(("x", "account_id"),))
