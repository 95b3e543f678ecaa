"""The report page: one self-contained HTML file (inline CSS and SVG, no script, no link out).

:func:`render` takes a :class:`PageData` (everything the page shows, composed
by :mod:`xpg.report.compose`) and returns the page. The markup is in Jinja2
templates (``xpg/templates/report*.html``) rendered with autoescape on, so
every value that comes from the data is escaped by the template engine. This
module only prepares what each section shows: plain values, and for the few
table cells that carry markup (a severity badge, a money figure tagged with
its name, a change of exposure) a small :class:`Cell` whose ``kind`` the
``cell`` macro draws. The SVG charts and drawings come from
:mod:`xpg.report.svg`, which escapes its own data; they are inserted as
``markupsafe.Markup``.

>>> from xpg.report.html import money, page_sections
>>> money(1234.5), money(None)
('1,234.50', '')
>>> [s.anchor for s in page_sections()][:3]
['act-first', 'summary', 'changes']
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache, partial
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

import xpg.report.svg as svg
from xpg.queries.diff import Change, ReportDiff
from xpg.queries.findings import SEVERITIES, Finding, FindingsReport
from xpg.queries.investigate import RingView, masked_explanation
from xpg.queries.rules import FINDING_TYPES, group_types, rules
from xpg.queries.rules.base import ReportSection
from xpg.queries.rules.multi_lending import MultiLendingConfig
from xpg.queries.totals import definitions, drawable_at_risk

__all__ = ["FILE_DESCRIPTIONS", "Cell", "PageData", "Section", "money", "page_sections", "render"]

FILE_DESCRIPTIONS: dict[str, str] = {
    "index.html": "this page",
    "findings.json": "every finding, in the data contract's format (ring ids carried forward)",
    "findings.csv": "one row per finding",
    "findings.parquet": "one row per finding",
    "finding_users.csv": "one row per (finding, user)",
    "finding_users.parquet": "one row per (finding, user)",
    "exposure.csv": "exposure of every user, with the findings that name them",
    "exposure.parquet": "exposure of every user, with the findings that name them",
    "changes.json": "what changed since the previous report",
    "changes.csv": "what changed since the previous report, one row per change",
    "trends.json": "per rule over the last nights: findings, exposure, at risk, precision",
    "run.log": "the run log",
    "manifest.json": "files with sizes and SHA-256, inputs and settings of the run",
}


@dataclass(frozen=True)
class Cell:
    """A table cell with markup, drawn by the ``cell`` macro of ``report_macros.html``.

    ``kind`` is one of ``sev`` (``a`` the severity), ``sev_change`` (``a`` → ``b``),
    ``figure`` (``a`` the figure's name, ``b`` the amount), ``delta`` (``a`` → ``b``,
    ``c`` the signed change, ``css`` its class), ``code`` (``a``), ``why`` (``a``
    the reason code, ``b`` the words) and ``bold`` (``a``). Every text is escaped.
    """

    kind: str
    a: Any = ""
    b: Any = ""
    c: Any = ""
    css: str = ""


def money(x: float | None) -> str:
    """An amount as the page writes it: thousands separated, two decimals; None is blank."""
    return "" if x is None else f"{x:,.2f}"


def _users(users: Sequence[str], limit: int = 6) -> str:
    users = list(users)
    shown = ", ".join(users[:limit])
    return shown + (f" and {len(users) - limit} more" if len(users) > limit else "")


def _figure(name: str, value: float | None) -> Cell:
    """A money figure tagged with its name, so the page's totals can be read back."""
    return Cell("figure", name, money(value))


@cache
def _environment() -> Environment:
    """The template environment: autoescape on, undefined names an error, ``None`` blank."""
    env = Environment(
        loader=PackageLoader("xpg", "templates"), autoescape=True, undefined=StrictUndefined,
        trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True,
        finalize=lambda v: "" if v is None else v)
    env.filters["money"] = money
    env.tests["cell"] = lambda v, kind: isinstance(v, Cell) and v.kind == kind
    return env


@dataclass(frozen=True)
class PageData:
    """What the page shows. Histograms are ``(bucket label, count)`` in display order."""

    as_of: dt.date
    generated_at: dt.datetime
    version: str
    data_source: str
    backend: str
    findings: FindingsReport
    summary: Mapping[str, Any]
    diff: ReportDiff | None = None
    previous_as_of: dt.date | None = None
    rings: Sequence[RingView] = ()
    lenders_per_user: Sequence[tuple[str, float]] = ()
    ring_exposure: Sequence[tuple[str, float]] = ()
    ring_sizes: Sequence[tuple[str, float]] = ()
    flagged_exposure: Sequence[tuple[str, float]] = ()
    files: Sequence[str] = ()
    top_findings: int = 200
    min_open_lenders: int = MultiLendingConfig().min_open_lenders  # defaults.toml
    notes: Sequence[str] = field(default_factory=tuple)
    money_by_type: Sequence[tuple[str, float, float | None]] = ()
    act_first: Mapping[str, Any] | None = None
    """What needs action today (:func:`xpg.report.cases.act_first`)."""
    folder: str = ""
    trends: Mapping[str, Any] | None = None
    """``trends.json``'s document (:mod:`xpg.report.trends`)."""
    member_exposure: Mapping[str, float] = field(default_factory=dict)
    """The exposure total of each user in the drawn rings' graphs (a large group's drawing
    keeps the members carrying the exposure and says how much it leaves out)."""


def _card(label: str, value: str, alert: bool = False, *, figure: str = "",
          definition: str = "") -> dict[str, Any]:
    return {"label": label, "value": value, "alert": alert, "figure": figure,
            "definition": definition}


def _summary(p: PageData) -> dict[str, Any]:
    s = p.summary
    by_sev, by_type = s.get("findings_by_severity", {}), s.get("findings_by_type", {})
    cards = [
        _card("users in the data", f"{s.get('users', 0):,}"),
        _card("flagged users", f"{s.get('flagged_users', 0):,}"),
        _card("findings", f"{s.get('findings', 0):,}"),
        _card("critical findings", f"{by_sev.get('critical', 0):,}", by_sev.get("critical", 0) > 0),
        _card("rings", f"{sum(by_type.get(t, 0) for t in group_types()):,}"),
        _card("exposure of flagged users (CNY)", money(s.get("exposure_total", 0.0)),
              figure="exposure_total", definition=definitions()["exposure"]),
        _card("drawable at risk (CNY)", money(s.get("drawable_at_risk_total", 0.0)),
              s.get("drawable_at_risk_total", 0.0) > 0, figure="drawable_at_risk_total",
              definition=definitions()["drawable_at_risk"]),
    ]
    if p.diff is not None:
        c = p.diff.counts()
        worse = sum(1 for x in p.diff.changes if x.kind != "resolved"
                    and (x.severity_change == "up" or x.exposure_change == "up"))
        cards += [_card("new since previous", f"{c['new']:,}", c["new"] > 0),
                  _card("resolved since previous", f"{c['resolved']:,}"),
                  _card("got worse", f"{worse:,}", worse > 0)]
    return {"cards": cards, "notes": list(p.notes)}


def _delta(c: Change) -> str | Cell:
    if c.exposure_before is None or c.exposure_after is None:
        return money(c.exposure_after if c.exposure_after is not None else c.exposure_before)
    d = c.exposure_delta or 0.0
    css = "up" if d > 0 else "down" if d < 0 else "muted"
    sign = "+" if d > 0 else ""
    return Cell("delta", money(c.exposure_before), money(c.exposure_after),
                f"{sign}{money(d)}", css)


def _sev_change(c: Change) -> Cell:
    if c.severity_before and c.severity_after and c.severity_before != c.severity_after:
        return Cell("sev_change", c.severity_before, c.severity_after)
    return Cell("sev", c.severity_after or c.severity_before)


_CHANGE_TITLES = {
    "new": "New findings",
    "changed": "Changed findings (severity or exposure moved)",
    "grew": "Rings that grew",
    "shrank": "Rings that shrank",
    "reshaped": "Rings whose members changed",
    "merged": "Rings that merged",
    "split": "Rings that split",
    "resolved": "Resolved findings (gone since the previous report)",
}


def _changes(p: PageData, limit: int = 25) -> dict[str, Any]:
    if p.diff is None:
        return {"diff": False}
    counts = p.diff.counts()
    groups, rings = [], group_types()
    for kind, title in _CHANGE_TITLES.items():
        items = p.diff.of_kind(kind)
        if not items:
            continue
        rows = []
        for c in items[:limit]:
            members = ""
            if c.type in rings and kind != "new" and kind != "resolved":
                plus, minus = c.users_added, c.users_removed
                members = " ".join(filter(None, [f"+{_users(plus, 4)}" if plus else "",
                                                 f"−{_users(minus, 4)}" if minus else ""]))
            prev = ", ".join(x for x in c.previous_ids if x != c.id)
            rows.append([c.id, c.type, _sev_change(c), _delta(c), members,
                         prev and f"from {prev}",
                         Cell("why", c.reason, c.why) if c.reason else "",
                         c.masked_explanation()])
        groups.append({"kind": kind, "title": title, "count": len(items), "rows": rows,
                       "more": max(0, len(items) - limit)})
    return {"diff": True, "previous_as_of": p.previous_as_of,
            "counts": [(k, n) for k, n in counts.items() if n],
            "overlap": f"{p.diff.ring_overlap:.0%}", "groups": groups}


def _by_type(p: PageData) -> dict[str, Any]:
    counts = {t: dict.fromkeys(SEVERITIES, 0) for t in FINDING_TYPES}
    for f in p.findings.findings:
        counts.setdefault(f.type, dict.fromkeys(SEVERITIES, 0))[f.severity] += 1
    money_of = {t: (e, r) for t, e, r in p.money_by_type}
    order = list(reversed(SEVERITIES))
    rows: list[list[Any]] = [
        [t, *[counts[t][s] for s in order], sum(counts[t].values()),
         _figure(f"exposure.{t}", money_of.get(t, (0.0, None))[0]),
         _figure(f"drawable_at_risk.{t}", money_of[t][1])
         if money_of.get(t, (0.0, None))[1] is not None else "—"]
        for t in counts]
    s = p.summary
    rows.append([Cell("bold", "all findings"),
                 *[s.get("findings_by_severity", {}).get(x, 0) for x in order],
                 s.get("findings", len(p.findings.findings)),
                 _figure("exposure_total", s.get("exposure_total", 0.0)),
                 _figure("drawable_at_risk_total", s.get("drawable_at_risk_total", 0.0))])
    chart = svg.stacked_bar_chart(
        [(t, counts[t]) for t in counts], title="Findings by type and severity", order=order,
        colours=svg.SEVERITY_COLOURS)
    return {"headers": ["type", *order, "total", "exposure (CNY)", "drawable at risk (CNY)"],
            "rows": rows, "chart": Markup(chart)}


def _ring(view: RingView, change: Change | None, evidence: Mapping[str, Any],
          member_exposure: Mapping[str, float]) -> dict[str, Any]:
    members = [[m.user_id, "yes" if m.multi_lending else "", m.freeze_state.replace("_", " "),
                ", ".join(m.frozen_products), ", ".join(m.drawable_products),
                money(m.exposure.drawable), money(m.exposure.external_outstanding),
                money(m.exposure.total)] for m in view.members]
    shared = [[s.label, _users(s.members)] for s in (*view.shared_devices,
                                                     *view.shared_identifiers)]
    lenders = [[x.lender_id + (f" ({x.name})" if x.name else ""), len(x.members),
                money(x.outstanding)] for x in view.lenders_in_common]
    exposure_of = {n.id: member_exposure[n.label] for n in view.graph.nodes
                   if n.kind == "user" and n.label in member_exposure}
    drawing = svg.graph_drawing(view.graph, title=f"Subgraph of ring {view.id}",
                                members=view.member_count, exposure=view.exposure.total,
                                exposure_of=exposure_of)
    return {"view": view, "change": change.kind if change is not None
            and change.kind != "unchanged" else "", "evidence": evidence, "members": members,
            "shared": shared, "lenders": lenders, "drawing": Markup(drawing)}


def _gallery(types: tuple[str, ...], p: PageData) -> dict[str, Any]:
    """A gallery section: the drawn groups of the page (``p.rings``) of ``types``."""
    changes = {} if p.diff is None else {c.id: c for c in p.diff.changes}
    evidence = {f.id: f.evidence for f in p.findings.findings if f.type in types}
    by_type = p.summary.get("findings_by_type", {})
    return {"total": sum(by_type.get(t, 0) for t in types),
            "cards": [_ring(v, changes.get(v.id), evidence.get(v.id, {}), p.member_exposure)
                      for v in p.rings],
            "data": (p.data_source if p.data_source and p.data_source not in ("unknown", "-")
                     else "DATA"),
            "folder": p.folder}


def _field(f: Finding, field: str) -> Any:
    """A finding's cell for a rule section's column (:data:`ReportSection.FIELDS`)."""
    if field == "users":
        return f.users[0] if len(f.users) == 1 else _users(f.users)
    if field == "severity":
        return Cell("sev", f.severity)
    if field == "at_risk":
        return money(f.exposure.at_risk)
    if field == "exposure":
        return money(f.exposure.total)
    if field == "explanation":
        return masked_explanation(f.explanation, f.evidence)
    if field == "score":
        return f"{f.score:.2f}"
    if field == "id":
        return Cell("code", f.id)
    return getattr(f, field)


_NUMERIC_FIELDS = ("score", "at_risk", "exposure")


def _rule_table(section: ReportSection, types: tuple[str, ...], p: PageData) -> dict[str, Any]:
    """A rule section's table: the findings of ``types`` (the rules declaring it), sorted
    by the section's ``sort``, its first ``limit`` as rows of its columns."""
    items = [f for f in p.findings.findings if f.type in types]
    key = ((lambda f: (-(f.exposure.at_risk or 0.0), f.id)) if section.sort == "at_risk"
           else (lambda f: (-f.exposure.total, f.id)))
    items.sort(key=key)
    rows = [[_field(f, field) for _, field in section.columns] for f in items[:section.limit]]
    d: dict[str, Any] = {
        "heading": section.heading, "count": len(items), "rows": rows,
        "headers": [h for h, _ in section.columns],
        "numeric": [i for i, (_, field) in enumerate(section.columns)
                    if field in _NUMERIC_FIELDS],
        "total": _figure("drawable_at_risk_total", drawable_at_risk(items)),
        "exposure": money(sum(f.exposure.total for f in items)),
        "more": max(0, len(items) - section.limit)}
    d["lead"] = Markup(_lead(section.lead).render(d=d, definitions=definitions()))
    return d


@lru_cache(maxsize=64)  # one per rule section's lead
def _lead(source: str) -> Any:
    """A section's lead as a template (autoescaped; ``cell`` draws a figure)."""
    return _environment().from_string(
        '{% from "report_macros.html" import cell %}' + source)


def _act_first(p: PageData) -> dict[str, Any]:
    a = p.act_first or {}
    critical = [[Cell("code", x["id"]), x["type"], Cell("sev", x["severity"]), x["users"],
                 money(x["exposure"]), x["why"]] for x in a.get("critical", ())]
    drawable = [[x["user"], Cell("code", x["id"]), money(x["drawable"])]
                for x in a.get("drawable", ())]
    old = [[Cell("code", x["case_id"]), x.get("finding_id") or x["subject"], x["status"],
            x.get("assignee") or "-", str(x["opened_at"])[:10]] for x in a.get("old_cases", ())]
    return {"critical": critical, "critical_total": a.get("critical_total", 0),
            "critical_more": a.get("critical_total", 0) - len(critical),
            "drawable": drawable, "drawable_total": a.get("drawable_total", 0),
            "drawable_more": a.get("drawable_total", 0) - len(drawable),
            "drawable_sum": money(a.get("drawable_sum", 0.0)),
            "old_cases": old, "old_total": a.get("old_cases_total", 0),
            "age": a.get("open_age_days") or "-",
            "nothing": not (critical or drawable or old), "counts": a.get("counts") or {},
            "precision": [[rule, r["confirmed_fraud"], r["decided"],
                           "-" if r["precision"] is None else f"{r['precision']:.0%}"]
                          for rule, r in (a.get("precision") or {}).items()]}


def _charts(p: PageData) -> dict[str, Any]:
    charts = [
        svg.column_chart(p.ring_exposure, title="Exposure per ring", x_label="exposure (CNY)",
                         y_label="rings"),
        svg.column_chart(p.ring_sizes, title="Ring size", x_label="members", y_label="rings",
                         colour="#9334e6"),
        svg.column_chart(p.lenders_per_user, title="External lenders per user (open loans)",
                         x_label=f"distinct lenders (multi-lending from {p.min_open_lenders})",
                         y_label="users", colour="#188038"),
        svg.column_chart(p.flagged_exposure, title="Exposure per flagged user",
                         x_label="exposure (CNY)", y_label="users", colour="#e8710a"),
    ]
    return {"charts": [Markup(c) for c in charts]}


def _findings_table(p: PageData) -> dict[str, Any]:
    changes = {} if p.diff is None else {c.id: c.kind for c in p.diff.changes}
    items: list[Finding] = sorted(p.findings.findings,
                                  key=lambda f: (-f.exposure.total, f.id))
    rows = [[f.id, f.type, Cell("sev", f.severity), _users(sorted(f.users), 4),
             money(f.exposure.total), money(f.exposure.at_risk),
             changes.get(f.id, ""), masked_explanation(f.explanation, f.evidence)]
            for f in items[:p.top_findings]]
    return {"count": len(items), "top": p.top_findings, "rows": rows}


def _trends(p: PageData) -> dict[str, Any]:
    t = p.trends or {}
    series = list(t.get("series") or ())
    rules = [r for r in t.get("rules", ()) if any(
        (night["rules"].get(r) or {}).get("findings") or (night["rules"].get(r) or {}).get(
            "decided") for night in series)]  # the rules that found or were decided on

    def of(rule: str, key: str) -> list[float | None]:
        return [(night["rules"].get(rule) or {}).get(key) for night in series]

    days = [str(night["as_of"]) for night in series]
    rows = []
    for rule in rules:
        first, last = series[0]["rules"].get(rule) or {}, series[-1]["rules"].get(rule) or {}
        rows.append([rule, first.get("findings", 0), last.get("findings", 0),
                     money(last.get("exposure")), money(last.get("at_risk")) or "—",
                     "-" if last.get("precision") is None else f"{last['precision']:.0%}",
                     last.get("decided", 0)])
    charts = []
    if len(series) >= 2 and rules:
        at_risk = [r for r in rules if any(v is not None for v in of(r, "at_risk"))]
        decided = [r for r in rules if any(v is not None for v in of(r, "precision"))]
        charts = [
            svg.line_chart(days, [(r, of(r, "findings")) for r in rules],
                           title="Findings per rule", y_label="findings"),
            svg.line_chart(days, [(r, of(r, "exposure")) for r in rules],
                           title="Exposure per rule", y_label="CNY"),
            svg.line_chart(days, [(r, of(r, "at_risk")) for r in at_risk],
                           title="Drawable at risk per rule", y_label="CNY") if at_risk else "",
            svg.line_chart(days, [(r, of(r, "precision")) for r in decided],
                           title="Precision per rule (confirmed / decided)",
                           y_label="precision", percent=True) if decided else "",
        ]  # no chart for a figure no rule has yet (no amount at risk, no decision)
    return {"nights": len(series), "keep": t.get("nights", len(series)), "rows": rows,
            "first": days[0] if days else "", "last": days[-1] if days else "",
            "charts": [Markup(c) for c in charts if c]}


def _files(p: PageData) -> dict[str, Any]:
    return {"rows": [[Cell("code", name), FILE_DESCRIPTIONS.get(name, "")] for name in p.files]}


@dataclass(frozen=True)
class Section:
    """One section of the page: its anchor (``id``), its name in the navigation bar, the
    template that draws it (``xpg/templates/``, given ``d``) and what computes ``d``."""

    anchor: str
    nav: str
    template: str
    data: Callable[[PageData], Mapping[str, Any]]


_HEAD = (
    Section("act-first", "Act first", "report_act_first.html", _act_first),
    Section("summary", "Summary", "report_summary.html", _summary),
    Section("changes", "Changes", "report_changes.html", _changes),
    Section("by-type", "Findings by type", "report_by_type.html", _by_type),
    Section("trends", "Trends", "report_trends.html", _trends),
)
_TAIL = (
    Section("charts", "Distributions", "report_charts.html", _charts),
    Section("findings", "All findings", "report_findings.html", _findings_table),
    Section("files", "Files", "report_files.html", _files),
)


def _rule_sections() -> tuple[Section, ...]:
    """The sections the registered rules declare (``Rule.report_section``), in registry
    order; rules declaring the same anchor share the first one's section."""
    declared: dict[str, tuple[ReportSection, list[str]]] = {}
    for r in rules():
        if r.report_section is not None:
            declared.setdefault(r.report_section.anchor, (r.report_section, []))[1].append(r.name)
    out = []
    for anchor, (section, names) in declared.items():
        types = tuple(names)
        if section.gallery:
            out.append(Section(anchor, section.nav, "report_rings.html", partial(_gallery, types)))
        else:
            out.append(Section(anchor, section.nav, "report_rule.html",
                               partial(_rule_table, section, types)))
    return tuple(out)


def page_sections() -> tuple[Section, ...]:
    """The page's sections in order: the layout draws the navigation from them, then each.
    Between the findings by type and the distributions, the registered rules' own
    (:func:`_rule_sections`)."""
    return (*_HEAD, *_rule_sections(), *_TAIL)


def _core_note(evidence: Mapping[str, Any]) -> str:
    """The line saying a ring is a multi-lending core of a larger group (contract v2)."""
    return str(_environment().get_template("report_macros.html").module.core_note(evidence))


def render(p: PageData) -> str:
    """The whole page as a string."""
    env = _environment()
    css, _, _ = env.loader.get_source(env, "report.css")  # type: ignore[union-attr]
    prev = (f" · compared with {p.previous_as_of.isoformat()}" if p.previous_as_of else
            " · no previous report")
    return env.get_template("report.html").render(
        p=p, css=Markup(css),
        title=f"xpg nightly report — {p.as_of.isoformat()}",
        subtitle=(f"Run date {p.as_of.isoformat()} · data {p.data_source} · backend {p.backend}"
                  f"{prev}"),
        footer=(f"Generated by xpg {p.version} at "
                f"{p.generated_at.strftime('%Y-%m-%d %H:%M:%S')} UTC. Amounts in CNY."),
        definitions=definitions(), sections=[(s, s.data(p)) for s in page_sections()])
