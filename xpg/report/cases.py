"""The report's view of the cases (plain data in: the ``cases`` section of
:class:`~xpg.report.inputs.ReportInputs`): what needs a human, the cases table, the
changes annotated with each finding's case state, and the act-first list.

A finding held by a case is not *new*; one suppressed by a decision is neither new nor
worse; a re-alerted one needs a human whatever the diff says. :func:`needs_human` is the
one place that decides it, for ``changes.json``, the summary, the page and ``--alert-on``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from xpg.queries.diff import ReportDiff
from xpg.queries.findings import SEVERITIES, FindingsReport
from xpg.queries.totals import drawable_at_risk

__all__ = ["act_first", "annotate_changes", "case_table", "counts", "needs_human"]

QUIET = ("suppressed", "in_review")


def state_of(cases: Mapping[str, Any] | None, finding_id: str) -> str | None:
    if not cases:
        return None
    v = cases.get("findings", {}).get(finding_id)
    return None if v is None else v["state"]


def needs_human(finding_id: str, diff_kind: str | None, worse: bool,
                cases: Mapping[str, Any] | None) -> bool:
    """Whether a finding needs a human tonight: re-alerted; or held by no case and new
    (or worse than last night)."""
    state = state_of(cases, finding_id)
    if state == "realerted":
        return True
    if state in QUIET:
        return False
    return diff_kind is None or diff_kind == "new" or worse


def counts(diff: ReportDiff | None, cases: Mapping[str, Any] | None) -> dict[str, int]:
    """The counts of the changes with what the cases say: ``new`` only findings no case
    holds, ``worse`` only those not suppressed or in review, plus ``realerted``,
    ``suppressed``, ``in_review`` and ``open_cases``."""
    out: dict[str, int] = {} if diff is None else dict(diff.counts())
    c = dict(cases.get("counts", {})) if cases else {}
    if diff is not None:
        out["new"] = sum(c_.kind == "new" and state_of(cases, c_.id) not in (*QUIET, "realerted")
                         for c_ in diff.changes)
        out["worse"] = sum(c_.worse and state_of(cases, c_.id) not in (*QUIET, "realerted")
                           for c_ in diff.changes)
    elif cases:
        out["new"] = c.get("new", 0)
    for k in ("realerted", "suppressed", "in_review", "open_cases"):
        out[k] = c.get(k, 0)
    return out


def annotate_changes(changes: dict[str, Any], diff: ReportDiff,
                     cases: Mapping[str, Any] | None) -> dict[str, Any]:
    """``changes.json``'s document with each change's case state and reasons, and counts
    that count only what needs a human (:func:`counts`; the diff's own under
    ``counts_all``)."""
    if not cases:
        return changes
    verdicts = cases.get("findings", {})
    for c in changes["changes"]:
        v = verdicts.get(c["id"])
        c["case"] = None if v is None else {k: v[k] for k in
                                            ("state", "case_id", "case_status", "outcome",
                                             "reasons")}
    realerted = [{"id": k, "reasons": v["reasons"], "case_id": v["case_id"]}
                 for k, v in sorted(verdicts.items()) if v["state"] == "realerted"]
    return {**changes, "counts_all": changes["counts"], "counts": counts(diff, cases),
            "realerted": realerted}


def case_table(cases: Mapping[str, Any] | None) -> pl.DataFrame:
    """One row per finding held by a case: its state, case, status, outcome and reasons."""
    rows = [{"finding_id": k, "state": v["state"], "case_id": v["case_id"],
             "case_status": v["case_status"], "outcome": v["outcome"],
             "reasons": "; ".join(v["reasons"])}
            for k, v in sorted((cases or {}).get("findings", {}).items()) if v["case_id"]]
    return pl.DataFrame(rows, schema={"finding_id": pl.String, "state": pl.String,
                                      "case_id": pl.String, "case_status": pl.String,
                                      "outcome": pl.String, "reasons": pl.String})


def act_first(report: FindingsReport, diff: ReportDiff | None,
              cases: Mapping[str, Any] | None, *, limit: int = 10) -> dict[str, Any]:
    """What needs action today: new or worse critical findings and every re-alerted one
    (with its reasons); the drawable money
    at user-scope freezes (findings with an amount at risk, largest first); open cases
    older than the configured age."""
    kinds = {} if diff is None else {c.id: c for c in diff.changes}
    critical = []
    for f in report.findings:
        state = state_of(cases, f.id)
        if f.severity != SEVERITIES[-1] and state != "realerted":
            continue  # critical findings, and every re-alerted one
        change = kinds.get(f.id)
        if needs_human(f.id, None if change is None else change.kind,
                       bool(change and change.worse), cases):
            reasons = (cases or {}).get("findings", {}).get(f.id, {}).get("reasons", [])
            critical.append({"id": f.id, "type": f.type, "severity": f.severity,
                             "users": len(f.users),
                             "exposure": f.exposure.total,
                             "why": "; ".join(reasons) if state == "realerted" else
                             ("new" if change is None or change.kind == "new" else "worse")})
    critical.sort(key=lambda x: (-x["exposure"], x["id"]))
    loud = [f for f in report.findings if f.exposure.at_risk and f.users
            and state_of(cases, f.id) not in QUIET]
    per_user: dict[str, dict[str, Any]] = {}
    for f in loud:  # one line per user: the rules naming the same accounts agree
        row = per_user.get(f.users[0])
        if row is None or float(f.exposure.at_risk or 0) > row["drawable"]:
            per_user[f.users[0]] = {"id": f.id, "type": f.type, "user": f.users[0],
                                    "drawable": float(f.exposure.at_risk or 0)}
    at_risk = sorted(per_user.values(), key=lambda x: (-x["drawable"], x["id"]))
    old = list((cases or {}).get("old_open_cases", []))
    return {"counts": counts(diff, cases),
            "critical": critical[:limit], "critical_total": len(critical),
            "drawable": at_risk[:limit], "drawable_total": len(at_risk),
            "drawable_sum": round(drawable_at_risk(loud), 2),
            "old_cases": old[:limit], "old_cases_total": len(old),
            "precision": dict((cases or {}).get("precision") or {}),
            "open_age_days": (cases or {}).get("open_age_days")}
