"""The report page: one self-contained HTML file (inline CSS and SVG, no script, no link out).

:func:`render` takes a :class:`PageData` (everything the page shows, composed
by :mod:`xpg.report.compose`) and returns the page. Every value that comes
from the data is escaped; markup produced here is wrapped in :class:`Markup`
so it is not escaped twice.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from importlib import resources
from string import Template
from typing import Any

from xpg.queries.diff import Change, ReportDiff
from xpg.queries.findings import FINDING_TYPES, SEVERITIES, Finding, FindingsReport
from xpg.queries.investigate import RingView, masked_explanation
from xpg.queries.rules.multi_lending import MultiLendingConfig
from xpg.queries.totals import definitions, drawable_at_risk
from xpg.report import svg

__all__ = ["FILE_DESCRIPTIONS", "Markup", "PageData", "render"]

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
    "run.log": "the run log",
    "manifest.json": "files with sizes and SHA-256, inputs and settings of the run",
}


class Markup(str):
    """HTML built here: inserted as is."""


def _e(x: Any) -> str:
    if isinstance(x, Markup):
        return str(x)
    return escape("" if x is None else str(x), quote=True)


def _money(x: float | None) -> str:
    return "" if x is None else f"{x:,.2f}"


def _sev(s: str | None) -> Markup:
    if not s:
        return Markup("")
    return Markup(f'<span class="sev sev-{_e(s)}">{_e(s)}</span>')


def _users(users: Sequence[str], limit: int = 6) -> str:
    users = list(users)
    shown = ", ".join(users[:limit])
    return shown + (f" and {len(users) - limit} more" if len(users) > limit else "")


def _table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, numeric: Iterable[int] = (),
           css: str = "") -> Markup:
    num = set(numeric)
    head = "".join(f'<th class="num">{_e(h)}</th>' if i in num else f"<th>{_e(h)}</th>"
                   for i, h in enumerate(headers))
    body = []
    for row in rows:
        cells = "".join(f'<td class="num">{_e(c)}</td>' if i in num else f"<td>{_e(c)}</td>"
                        for i, c in enumerate(row))
        body.append(f"<tr>{cells}</tr>")
    if not body:
        body.append(f'<tr><td colspan="{len(headers)}" class="muted">none</td></tr>')
    cls = f' class="{_e(css)}"' if css else ""
    return Markup(f"<table{cls}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}"
                  "</tbody></table>")


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


def _card(label: str, value: str, alert: bool = False, *, figure: str = "",
          definition: str = "") -> str:
    fig = f' data-figure="{_e(figure)}"' if figure else ""
    defn = f'<div class="def muted">{_e(definition)}</div>' if definition else ""
    return (f'<div class="card{" alert" if alert else ""}"><div class="value"{fig}>{_e(value)}'
            f'</div><div class="label">{_e(label)}</div>{defn}</div>')


def _figure(name: str, value: float | None) -> Markup:
    """A money figure tagged with its name, so the page's totals can be read back."""
    return Markup(f'<span data-figure="{_e(name)}">{_e(_money(value))}</span>')


def _summary(p: PageData) -> str:
    s = p.summary
    by_sev = s.get("findings_by_severity", {})
    cards = [
        _card("users in the data", f"{s.get('users', 0):,}"),
        _card("flagged users", f"{s.get('flagged_users', 0):,}"),
        _card("findings", f"{s.get('findings', 0):,}"),
        _card("critical findings", f"{by_sev.get('critical', 0):,}", by_sev.get("critical", 0) > 0),
        _card("rings", f"{s.get('findings_by_type', {}).get('ring', 0):,}"),
        _card("exposure of flagged users (CNY)", _money(s.get("exposure_total", 0.0)),
              figure="exposure_total", definition=definitions()["exposure"]),
        _card("drawable at risk (CNY)", _money(s.get("drawable_at_risk_total", 0.0)),
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
    return (f'<section id="summary"><h2>Summary</h2><div class="cards">{"".join(cards)}</div>'
            + "".join(f'<p class="muted">{_e(n)}</p>' for n in p.notes) + "</section>")


def _delta(c: Change) -> Markup:
    if c.exposure_before is None or c.exposure_after is None:
        return Markup(_e(_money(c.exposure_after if c.exposure_after is not None
                                else c.exposure_before)))
    d = c.exposure_delta or 0.0
    cls = "up" if d > 0 else "down" if d < 0 else "muted"
    sign = "+" if d > 0 else ""
    return Markup(f"{_e(_money(c.exposure_before))} → {_e(_money(c.exposure_after))} "
                  f'<span class="{cls}">({sign}{_e(_money(d))})</span>')


def _sev_change(c: Change) -> Markup:
    if c.severity_before and c.severity_after and c.severity_before != c.severity_after:
        return Markup(f"{_sev(c.severity_before)} → {_sev(c.severity_after)}")
    return _sev(c.severity_after or c.severity_before)


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


def _changes(p: PageData, limit: int = 25) -> str:
    out = ['<section id="changes"><h2>What changed since the previous report</h2>']
    if p.diff is None:
        out.append('<p class="muted">No previous report was given: everything below is as of '
                   f"{_e(p.as_of.isoformat())} only.</p></section>")
        return "".join(out)
    counts = p.diff.counts()
    out.append(f"<p>Compared with the report of <b>{_e(p.previous_as_of)}</b>: "
               + ", ".join(f"{n} {_e(k)}" for k, n in counts.items() if n) + ".</p>"
               if any(counts.values()) else "<p>No findings in either report.</p>")
    out.append('<p class="muted">Findings are matched by id; rings by shared members '
               f"(overlap ≥ {p.diff.ring_overlap:.0%} of the smaller ring), keeping the "
               "earlier ring's id.</p>")
    for kind, title in _CHANGE_TITLES.items():
        items = p.diff.of_kind(kind)
        if not items:
            continue
        rows = []
        for c in items[:limit]:
            members = ""
            if c.type == "ring" and kind != "new" and kind != "resolved":
                plus, minus = c.users_added, c.users_removed
                members = " ".join(filter(None, [f"+{_users(plus, 4)}" if plus else "",
                                                 f"−{_users(minus, 4)}" if minus else ""]))
            prev = ", ".join(x for x in c.previous_ids if x != c.id)
            rows.append([c.id, c.type, _sev_change(c), _delta(c), members,
                         prev and f"from {prev}",
                         Markup(f"<code>{_e(c.reason)}</code> {_e(c.why)}") if c.reason else "",
                         c.masked_explanation()])
        out.append(f'<h3><span class="chg chg-{_e(kind)}">{_e(title)}</span> ({len(items)})</h3>')
        out.append(_table(["id", "type", "severity", "exposure (CNY)", "members", "lineage",
                           "why", "explanation"], rows, numeric=[3]))
        if len(items) > limit:
            out.append(f'<p class="muted">… and {len(items) - limit} more in changes.csv.</p>')
    out.append("</section>")
    return "".join(out)


def _by_type(p: PageData) -> str:
    counts = {t: dict.fromkeys(SEVERITIES, 0) for t in FINDING_TYPES}
    for f in p.findings.findings:
        counts.setdefault(f.type, dict.fromkeys(SEVERITIES, 0))[f.severity] += 1
    money = {t: (e, r) for t, e, r in p.money_by_type}
    order = list(reversed(SEVERITIES))
    rows = [[t, *[counts[t][s] for s in order], sum(counts[t].values()),
             _figure(f"exposure.{t}", money.get(t, (0.0, None))[0]),
             _figure(f"drawable_at_risk.{t}", money[t][1])
             if money.get(t, (0.0, None))[1] is not None else "—"]
            for t in counts]
    s = p.summary
    rows.append([Markup("<b>all findings</b>"), *[s.get("findings_by_severity", {}).get(x, 0)
                                                   for x in order],
                 s.get("findings", len(p.findings.findings)),
                 _figure("exposure_total", s.get("exposure_total", 0.0)),
                 _figure("drawable_at_risk_total", s.get("drawable_at_risk_total", 0.0))])
    chart = svg.stacked_bar_chart(
        [(t, counts[t]) for t in counts], title="Findings by type and severity", order=order,
        colours=svg.SEVERITY_COLOURS)
    return ('<section id="by-type"><h2>Findings by type and severity</h2><div class="grid"><div>'
            + _table(["type", *order, "total", "exposure (CNY)", "drawable at risk (CNY)"], rows,
                     numeric=range(1, 8))
            + f'<p class="muted">Exposure: {_e(definitions()["exposure"])}. Drawable at risk: '
              f'{_e(definitions()["drawable_at_risk"])}. Per type, within that type; the last row '
              "counts each user and account once across all types, so it is less than the sum "
              "of the rows when findings of several types name the same user.</p></div><div>"
            + chart + "</div></div></section>")


def _core_note(evidence: Mapping[str, Any]) -> str:
    """The line saying a ring is a multi-lending core of a larger group (contract v2)."""
    if not evidence.get("core"):
        return ""
    return ('<p class="core"><b>Multi-lending core</b> of a connected group of '
            f'{int(evidence["group_users"]):,} users: only its multi-lending members are '
            "the ring; the group around it is not judged whole.</p>")


def _more_members(view: RingView, data_source: str) -> str:
    """The line under a cut member table: how many are not listed, and where they are."""
    if not view.more_members:
        return ""
    data = data_source if data_source and data_source != "unknown" else "DATA"
    return (f'<p class="muted">and {view.more_members:,} more members, of smaller exposure: '
            f"every member is in findings.json and finding_users.csv; "
            f"<code>xpg query ring {_e(view.id)} --data {_e(data)} --findings "
            f"REPORT_FOLDER --limit {view.member_count}</code> lists them all "
            "(REPORT_FOLDER: the folder of this page, whose findings carry the ring ids "
            "shown here).</p>")


def _ring(view: RingView, change: Change | None, evidence: Mapping[str, Any],
          data_source: str = "") -> str:
    f = view.finding
    badge = ""
    if change is not None and change.kind != "unchanged":
        badge = f' <span class="chg chg-{_e(change.kind)}">{_e(change.kind)}</span>'
    members = [[m.user_id, "yes" if m.multi_lending else "", m.freeze_state.replace("_", " "),
                ", ".join(m.frozen_products), ", ".join(m.drawable_products),
                _money(m.exposure.drawable), _money(m.exposure.external_outstanding),
                _money(m.exposure.total)] for m in view.members]
    shared = [[s.label, _users(s.members)] for s in (*view.shared_devices,
                                                     *view.shared_identifiers)]
    lenders = [[x.lender_id + (f" ({x.name})" if x.name else ""), len(x.members),
                _money(x.outstanding)] for x in view.lenders_in_common]
    drawing = svg.graph_drawing(view.graph, title=f"Subgraph of ring {view.id}")
    return (
        f'<section class="ring" id="{_e(view.id)}"><h3>{_e(view.id)} {_sev(f.severity)}{badge} '
        f'— {view.member_count:,} members, exposure {_e(_money(view.exposure.total))} CNY</h3>'
        + _core_note(evidence)
        + f"<p>{_e(f.explanation)}</p>"
        f"<p>Frozen somewhere: <b>{view.frozen_members}</b> of {view.member_count:,} members; "
        f"still drawable: <b>{view.drawable_members}</b> members, "
        f"<b>{_e(_money(view.drawable_total))}</b> CNY.</p>"
        + _table(["member", "multi-lending", "freeze state", "frozen", "drawable in",
                  "drawable", "external outstanding", "exposure"], members, numeric=[5, 6, 7])
        + _more_members(view, data_source)
        + f'<div class="grid"><div class="drawing">{drawing}</div><div class="side">'
        + _table(["shared device / identifier", "members"], shared)
        + _table(["lender in common", "members", "outstanding"], lenders, numeric=[1, 2])
        + "</div></div></section>"
    )


def _rings(p: PageData) -> str:
    total = p.summary.get("findings_by_type", {}).get("ring", 0)
    if not p.rings:
        return '<section id="rings"><h2>Top rings by exposure</h2><p>No rings.</p></section>'
    changes = {} if p.diff is None else {c.id: c for c in p.diff.changes}
    evidence = {f.id: f.evidence for f in p.findings.findings if f.type == "ring"}
    cards = "".join(_ring(v, changes.get(v.id), evidence.get(v.id, {}), p.data_source)
                    for v in p.rings)
    return (f'<section id="rings"><h2>Top {len(p.rings)} rings by exposure</h2>'
            f'<p class="muted">{total} ring finding(s) in all; each drawing shows the members, '
            "the devices and identifiers they share, and the lenders two or more of them borrow "
            "at.</p>" + cards + "</section>")


def _inconsistencies(p: PageData, limit: int = 50) -> str:
    items = [f for f in p.findings.findings
             if f.type in ("freeze_inconsistency", "restored_after_freeze")]
    items.sort(key=lambda f: (-(f.exposure.at_risk or 0.0), f.id))
    total = drawable_at_risk(items)
    rows = [[f.users[0] if len(f.users) == 1 else _users(f.users), f.type, _sev(f.severity),
             _money(f.exposure.at_risk), _money(f.exposure.total),
             masked_explanation(f.explanation, f.evidence)]
            for f in items[:limit]]
    more = (f'<p class="muted">… and {len(items) - limit} more in findings.csv.</p>'
            if len(items) > limit else "")
    return ('<section id="inconsistencies"><h2>Cross-product inconsistencies</h2>'
            f"<p>{len(items)} finding(s): a user stopped in one product for a user-scope reason "
            "but still able to draw in the other kind of product. Drawable amount at risk: "
            f"<b>{_figure('drawable_at_risk_total', total)}</b> CNY "
            f'<span class="muted">({_e(definitions()["drawable_at_risk"])}; a row\'s amount is '
            "that finding's own, so a user with both kinds of finding is in two rows but in the "
            "total once)</span>.</p>"
            + _table(["user", "type", "severity", "drawable at risk (CNY)", "exposure (CNY)",
                      "explanation"], rows, numeric=[3, 4])
            + more + "</section>")


def _charts(p: PageData) -> str:
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
    return ('<section id="charts"><h2>Distributions</h2><div class="grid">'
            + "".join(f"<div>{c}</div>" for c in charts) + "</div></section>")


def _findings_table(p: PageData) -> str:
    changes = {} if p.diff is None else {c.id: c.kind for c in p.diff.changes}
    items: list[Finding] = sorted(p.findings.findings,
                                  key=lambda f: (-f.exposure.total, f.id))
    rows = [[f.id, f.type, _sev(f.severity), _users(sorted(f.users), 4),
             _money(f.exposure.total), _money(f.exposure.at_risk),
             changes.get(f.id, ""), masked_explanation(f.explanation, f.evidence)]
            for f in items[:p.top_findings]]
    note = (f'<p class="muted">The {p.top_findings} largest by exposure of {len(items)}; all of '
            "them are in findings.csv, findings.parquet and findings.json.</p>"
            if len(items) > p.top_findings else "")
    return ('<section id="findings"><h2>All findings</h2>' + note
            + _table(["id", "type", "severity", "users", "exposure (CNY)", "at risk (CNY)",
                      "change", "explanation"], rows, numeric=[4, 5]) + "</section>")


def _files(p: PageData) -> str:
    rows = [[Markup(f"<code>{_e(name)}</code>"), FILE_DESCRIPTIONS.get(name, "")]
            for name in p.files]
    return ('<section id="files"><h2>Files of this report</h2>'
            + _table(["file", "what it holds"], rows) + "</section>")


def render(p: PageData) -> str:
    """The whole page as a string."""
    page = Template(resources.files("xpg").joinpath("templates/report.html").read_text("utf-8"))
    css = resources.files("xpg").joinpath("templates/report.css").read_text("utf-8")
    prev = (f" · compared with {p.previous_as_of.isoformat()}" if p.previous_as_of else
            " · no previous report")
    subtitle = (f"Run date {p.as_of.isoformat()} · data {p.data_source} · backend {p.backend}"
                f"{prev}")
    body = "".join([_summary(p), _changes(p), _by_type(p), _rings(p), _inconsistencies(p),
                    _charts(p), _findings_table(p), _files(p)])
    footer = (f"Generated by xpg {p.version} at "
              f"{p.generated_at.strftime('%Y-%m-%d %H:%M:%S')} UTC. Amounts in CNY.")
    return page.substitute(
        version=_e(p.version), title=_e(f"xpg nightly report — {p.as_of.isoformat()}"),
        subtitle=_e(subtitle), css=css, body=body, footer=_e(footer))
