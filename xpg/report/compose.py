"""Composing the report from its inputs: tables, summary and page, with no I/O.

:func:`compose` turns a :class:`~xpg.report.inputs.ReportInputs` into a
:class:`ReportContent`: the tables written as CSV and Parquet, the summary of
the manifest and ``runs.log``, the list of files, and the
:class:`~xpg.report.html.PageData` that :func:`xpg.report.html.render` makes
the page of. The same inputs give the same content (the page's
``generated_at`` is passed in).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

import xpg.report.cases as report_cases
import xpg.report.trends as report_trends
from xpg.queries.diff import ReportDiff
from xpg.queries.findings import SEVERITIES, FindingsReport
from xpg.queries.rules import FINDING_TYPES, group_types, rules
from xpg.queries.tables import exposure_frame, finding_users_frame, findings_frame
from xpg.queries.totals import at_risk_types, drawable_at_risk, exposure_of_users
from xpg.report.html import PageData
from xpg.report.inputs import ReportInputs

__all__ = ["EMPTY_WARN_TABLES", "ReportContent", "compose", "ordered", "row_drops"]

EMPTY_WARN_TABLES = ("accounts", "external_loans", "applications", "devices", "identifiers")
"""Tables flagged when empty even without a previous report to compare with."""

# buckets of exposure (CNY): [lo, hi) with a label
_MONEY_BUCKETS = (
    (0, 10_000, "<10k"),
    (10_000, 30_000, "10k–30k"),
    (30_000, 100_000, "30k–100k"),
    (100_000, 300_000, "100k–300k"),
    (300_000, 1_000_000, "300k–1M"),
    (1_000_000, float("inf"), "≥1M"),
)


@dataclass(frozen=True)
class ReportContent:
    """What the report folder holds, before it is written.

    ``tables`` (name -> frame) are written as ``<name>.csv`` and
    ``<name>.parquet``; ``files`` names every file of the folder in the order
    they are written; ``page`` is what ``index.html`` shows.
    """

    tables: dict[str, pl.DataFrame]
    summary: dict[str, Any]
    files: tuple[str, ...]
    page: PageData
    row_drops: tuple[dict[str, Any], ...] = ()
    row_warnings: tuple[str, ...] = ()
    trends: dict[str, Any] | None = None
    """``trends.json``'s document (:mod:`xpg.report.trends`)."""


def row_drops(previous: Mapping[str, int] | None, current: Mapping[str, int],
              threshold: float) -> tuple[dict[str, Any], ...]:
    """The tables whose row count fell by ``threshold`` (a share) or more since the previous
    report: ``{"table", "previous", "current", "drop"}`` each.

    Examples
    --------
    >>> row_drops({"external_loans": 4000, "users": 1000}, {"external_loans": 0, "users": 990},
    ...           0.5)
    ({'table': 'external_loans', 'previous': 4000, 'current': 0, 'drop': 1.0},)
    >>> row_drops(None, {"users": 0}, 0.5)
    ()
    """
    out = []
    for table, before in sorted((previous or {}).items()):
        now = int(current.get(table, 0))
        if before > 0 and (before - now) / before >= threshold:
            out.append({"table": table, "previous": int(before), "current": now,
                        "drop": round((before - now) / before, 4)})
    return tuple(out)

def compose(inputs: ReportInputs, *, generated_at: dt.datetime) -> ReportContent:
    """The tables, summary, file list and page data of a report (pure)."""
    report, diff = inputs.findings, inputs.diff
    summary = _summary(inputs)
    tables = _tables(report, diff, inputs.exposure)
    if inputs.cases is not None:  # the cases' counts and the findings they hold
        summary["cases"] = report_cases.counts(diff, inputs.cases)
        summary["precision"] = dict(inputs.cases.get("precision") or {})
        held = report_cases.case_table(inputs.cases)
        if held.height:  # cases.csv/.parquet only once cases hold findings
            tables["cases"] = held
    flagged = tables["exposure"].filter(pl.col("findings") > 0).get_column("total")
    groups = group_types()
    ring_totals = pl.Series([f.exposure.total for f in report.findings if f.type in groups],
                            dtype=pl.Float64)
    money = _money_by_type(report, inputs.exposure)
    trends = report_trends.document([*inputs.trend_history, report_trends.night_row(
        inputs.as_of, _count_by_type(report), {t: (x, r) for t, x, r in money},
        (inputs.cases or {}).get("precision_as_of"))], inputs.trend_nights)
    files = ["index.html", "findings.json"]
    for name in tables:
        files += [f"{name}.csv", f"{name}.parquet"]
    if diff is not None:
        files.append("changes.json")
    files.append(report_trends.FILE)
    files += ["run.log", "manifest.json"]
    drops = row_drops(inputs.previous_row_counts, inputs.row_counts, inputs.row_drop_warn)
    warnings = [f"table {d['table']}: {d['current']:,} rows, {d['previous']:,} in the previous "
                f"report ({d['drop']:.0%} fewer): check the export before trusting what "
                "resolved" for d in drops]
    warnings += [f"table {t} is empty" for t in EMPTY_WARN_TABLES
                 if t in inputs.row_counts and inputs.row_counts[t] == 0
                 and not any(d["table"] == t for d in drops)]
    page = PageData(
        as_of=inputs.as_of, generated_at=generated_at, version=inputs.version,
        data_source=inputs.data_source, backend=inputs.backend, findings=report,
        folder=inputs.folder,
        summary=summary, diff=diff, previous_as_of=inputs.previous_as_of,
        rings=inputs.rings, lenders_per_user=_lenders_per_user(inputs.open_lenders, inputs.users),
        ring_exposure=_bucket_counts(ring_totals) if ring_totals.len() else [],
        ring_sizes=_ring_sizes(report), flagged_exposure=_bucket_counts(flagged)
        if flagged.len() else [], files=tuple(ordered(files)),
        min_open_lenders=inputs.min_open_lenders,
        money_by_type=money, trends=trends,
        member_exposure=_member_exposure(inputs),
        notes=tuple(f"Warning: {w}." for w in warnings),
        act_first=report_cases.act_first(report, diff, inputs.cases),
    )
    return ReportContent(tables=tables, summary=summary, files=tuple(files), page=page,
                         row_drops=drops, row_warnings=tuple(warnings), trends=trends)


def ordered(files: Sequence[str]) -> list[str]:
    """File names as the page and :class:`~xpg.report.writer.ReportResult` list them:
    ``index.html`` first, then by name."""
    return sorted(set(files), key=lambda n: (n != "index.html", n))


def _bucket_counts(values: pl.Series) -> list[tuple[str, float]]:
    out = []
    for lo, hi, label in _MONEY_BUCKETS:
        out.append((label, float(((values >= lo) & (values < hi)).sum())))
    return out


def _lenders_per_user(per_user: pl.DataFrame, users: int, top: int = 8
                      ) -> list[tuple[str, float]]:
    counts = dict(per_user.group_by("n").len().iter_rows())
    zero = users - per_user.height
    items = [("0", float(max(zero, 0)))]
    for n in range(1, top):
        items.append((str(n), float(counts.get(n, 0))))
    items.append((f"{top}+", float(sum(v for k, v in counts.items() if k >= top))))
    return items


def _ring_sizes(findings: FindingsReport, top: int = 10) -> list[tuple[str, float]]:
    groups = group_types()
    sizes = [len(f.users) for f in findings.findings if f.type in groups]
    if not sizes:
        return []
    low = min(sizes)
    items = [(str(n), float(sizes.count(n))) for n in range(low, top)]
    items.append((f"{top}+", float(sum(1 for s in sizes if s >= top))))
    return items


def _tables(report: FindingsReport, diff: ReportDiff | None, exposure: pl.DataFrame
            ) -> dict[str, pl.DataFrame]:
    kinds = {} if diff is None else {c.id: c.kind for c in diff.changes}
    findings = findings_frame(report, kinds)
    finding_users = finding_users_frame(report)
    exposure_table = exposure_frame(report, exposure, finding_users)
    out = {"findings": findings, "finding_users": finding_users, "exposure": exposure_table}
    if diff is not None:
        changes = [c.to_dict() for c in diff.changes]
        for c in changes:
            for k in ("previous_ids", "users_added", "users_removed"):
                c[k] = " ".join(c[k])
        out["changes"] = pl.DataFrame(changes, schema={
            "kind": pl.String, "id": pl.String, "type": pl.String, "detected_id": pl.String,
            "previous_ids": pl.String, "severity_before": pl.String,
            "severity_after": pl.String, "severity_change": pl.String,
            "exposure_before": pl.Float64, "exposure_after": pl.Float64,
            "exposure_delta": pl.Float64, "exposure_change": pl.String,
            "users_added": pl.String, "users_removed": pl.String, "explanation": pl.String,
            "reason": pl.String, "why": pl.String,
        })
    return out


def _member_exposure(inputs: ReportInputs) -> dict[str, float]:
    """The exposure total of every user in the drawn rings' graphs."""
    users = sorted({n.label for v in inputs.rings for n in v.graph.nodes if n.kind == "user"})
    if not users:
        return {}
    rows = inputs.exposure.filter(pl.col("user_id").is_in(users)).select("user_id", "total")
    return dict(zip(rows.get_column("user_id").to_list(), rows.get_column("total").to_list(),
                    strict=True))


def _count_by_type(report: FindingsReport) -> dict[str, int]:
    """Findings per type: every registered type (0 when none), then any other found."""
    out = dict.fromkeys(FINDING_TYPES, 0)
    for f in report.findings:
        out[f.type] = out.get(f.type, 0) + 1
    return out


def _money_by_type(report: FindingsReport, exposure: pl.DataFrame
                   ) -> list[tuple[str, float, float | None]]:
    """``(type, exposure, drawable at risk)`` per finding type, each user / account once
    within the type (at risk None for the types that name none)."""
    total_of = dict(zip(exposure.get_column("user_id").to_list(),
                        exposure.get_column("total").to_list(), strict=True))
    out = []
    for t in dict.fromkeys([*FINDING_TYPES, *(f.type for f in report.findings)]):
        of_type = [f for f in report.findings if f.type == t]
        out.append((t, exposure_of_users(of_type, total_of),
                    drawable_at_risk(of_type) if t in at_risk_types() else None))
    return out


def _rule_total(key: str, report: FindingsReport) -> Any:
    """The summary figure ``key`` that a registered rule declares
    (:attr:`~xpg.queries.rules.base.Rule.totals`) over the report's findings; 0.0 when
    no rule does."""
    for r in rules():
        for total in r.totals:
            if total.key == key:
                return total.total([total.of_finding(f) for f in report.findings
                                    if f.type == r.name])
    return 0.0


def _summary(inputs: ReportInputs) -> dict[str, Any]:
    """The report's summary: the findings' own, with ``drawable_at_risk_total`` (each
    account at risk once, :mod:`xpg.queries.totals`)."""
    once = {"drawable_at_risk_total": drawable_at_risk(inputs.findings.findings)}
    report, exposure = inputs.findings, inputs.exposure
    if {"flagged_users", "exposure_total", "at_risk_total"} <= set(report.summary):
        return {**report.summary, **once}
    flagged = {u for f in report.findings for u in f.users}
    by_type = dict.fromkeys(FINDING_TYPES, 0)
    by_sev = dict.fromkeys(reversed(SEVERITIES), 0)
    for f in report.findings:
        by_type[f.type] = by_type.get(f.type, 0) + 1
        by_sev[f.severity] = by_sev.get(f.severity, 0) + 1
    totals = exposure.filter(pl.col("user_id").is_in(sorted(flagged))).get_column("total").sum()
    return {
        **dict(report.summary),
        "users": report.summary.get("users", inputs.users),
        "flagged_users": len(flagged), "findings": len(report.findings),
        "findings_by_type": by_type, "findings_by_severity": by_sev,
        "exposure_total": round(float(totals or 0.0), 2),
        "at_risk_total": _rule_total("at_risk_total", report),
        **once,
    }
