"""The nightly report's reading of the cases (contract v3, re-alerting).

:func:`triage` puts each finding of a night in one state:

=============  ==========================================================================
state          meaning
=============  ==========================================================================
new            held by no case and new since the previous report (every finding on the
               first night)
ongoing        held by no case, seen before
in_review      held by a case that does not suppress it (open, investigating, or closed
               ``confirmed_fraud``): not new
suppressed     held by a case closed ``false_positive``/``benign``/``duplicate`` or
               snoozed until the run date or later, and no worse than at its decision
realerted      as suppressed, but materially worse than at the decision; ``reasons`` say
               how: exposure total up by ``share`` of its value then or more; members
               gained (a ring); lenders gained (a multi-lender); severity up
=============  ==========================================================================

A finding is held by the case whose finding ids include its id, or one of the ids its
ring lineage names (``evidence.lineage``: ``detected_id``, ``previous_ids``: the case then
follows the new id, see ``follows``), or by an unclosed or suppressing case opened by hand
on one of its users (a user's case decided with no finding to compare with holds its
findings in review: it never suppresses what it never saw). The result is plain data
(``to_dict``) for the report.

Examples
--------
>>> import datetime as dt
>>> from xpg.cases.model import Snapshot
>>> from xpg.queries.findings import Exposure, Finding
>>> f = Finding("ring-a", "ring", "high", 0.9, ("u1", "u2"), Exposure(1250.0), {}, "r")
>>> snap = Snapshot("ring-a", dt.date(2026, 11, 20), "high", 1000.0, ("u1", "u2"))
>>> worse(f, snap, 0.25)
['exposure total up 25.0% since the decision of 2026-11-20 (1,000.00 -> 1,250.00)']
>>> worse(f, snap, 0.26)
[]
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from xpg.cases.model import Case, Snapshot
from xpg.queries.diff import ReportDiff
from xpg.queries.findings import SEVERITIES, Finding, FindingsReport

__all__ = ["STATES", "Triage", "Verdict", "triage", "worse"]

STATES = ("new", "realerted", "suppressed", "in_review", "ongoing")
NEEDS_HUMAN = ("new", "realerted")

_EPS = 1e-9


@dataclass(frozen=True)
class Verdict:
    finding_id: str
    state: str
    case_id: str | None = None
    case_status: str | None = None
    outcome: str | None = None
    reasons: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"state": self.state, "case_id": self.case_id, "case_status": self.case_status,
                "outcome": self.outcome, "reasons": list(self.reasons)}


@dataclass(frozen=True)
class Triage:
    as_of: dt.date
    verdicts: Mapping[str, Verdict]
    open_cases: int
    follows: tuple[tuple[str, str, str], ...] = ()
    """(case id, the finding id it now follows, why)."""
    cases: tuple[Case, ...] = field(default=(), repr=False)

    def counts(self) -> dict[str, int]:
        out = dict.fromkeys(STATES, 0)
        for v in self.verdicts.values():
            out[v.state] += 1
        return {**out, "open_cases": self.open_cases}

    def state(self, finding_id: str) -> str | None:
        v = self.verdicts.get(finding_id)
        return None if v is None else v.state

    def to_dict(self) -> dict[str, Any]:
        return {"as_of": self.as_of.isoformat(), "counts": self.counts(),
                "findings": {k: v.to_dict() for k, v in sorted(self.verdicts.items())},
                "follows": [list(x) for x in self.follows]}


def worse(finding: Finding, snapshot: Snapshot | None, share: float) -> list[str]:
    """Why ``finding`` is materially worse than ``snapshot`` (empty: it is not)."""
    if snapshot is None:
        return []
    reasons = []
    base, now = snapshot.exposure_total, float(finding.exposure.total)
    risen = now > base if base <= 0 else now - base >= share * base - _EPS * base
    if risen:
        pct = "" if base <= 0 else f" {100 * (now - base) / base:.1f}%"
        reasons.append(f"exposure total up{pct} since the decision of {snapshot.day} "
                       f"({base:,.2f} -> {now:,.2f})")
    gained = sorted(set(finding.users) - set(snapshot.users))
    if gained:
        reasons.append(f"gained {len(gained)} member(s) since the decision: "
                       + ", ".join(gained[:10]) + (" ..." if len(gained) > 10 else ""))
    lenders = finding.evidence.get("lenders", ()) if finding.evidence else ()
    new_lenders = sorted({str(x) for x in lenders} - set(snapshot.lenders))
    if new_lenders and snapshot.lenders:  # a finding that names no lenders gains none
        reasons.append(f"gained {len(new_lenders)} lender(s) since the decision: "
                       + ", ".join(new_lenders))
    rank = SEVERITIES.index(finding.severity) if finding.severity in SEVERITIES else -1
    if rank > snapshot.severity_rank():
        reasons.append(f"severity rose from {snapshot.severity} to {finding.severity}")
    return reasons


def triage(report: FindingsReport, diff: ReportDiff | None, cases: Sequence[Case], *,
           share: float) -> Triage:
    """Each finding of ``report`` (ring ids carried by ``diff``) in one state; see above."""
    as_of = report.as_of
    by_fid = {fid: c for c in cases for fid in c.finding_ids}
    by_user: dict[str, Case] = {}
    for c in sorted(cases, key=lambda c: c.opened_at):
        if c.user is not None and (c.status != "closed" or c.suppresses(as_of)):
            by_user.setdefault(c.user, c)
    new_ids = (None if diff is None
               else {c.id for c in diff.changes if c.kind == "new"})
    verdicts: dict[str, Verdict] = {}
    follows: list[tuple[str, str, str]] = []
    taken: set[str] = set()
    for f in report.findings:
        case = by_fid.get(f.id)
        if case is None:
            for old in _lineage(f):
                held = by_fid.get(old)
                if held is not None and held.case_id not in taken:
                    case = held
                    follows.append((held.case_id, f.id, f"ring {old} is now {f.id}"))
                    break
        if case is None:
            case = next((by_user[u] for u in f.users if u in by_user), None)
        if case is None:
            fresh = new_ids is None or f.id in new_ids
            verdicts[f.id] = Verdict(f.id, "new" if fresh else "ongoing")
            continue
        if case.finding_ids:
            taken.add(case.case_id)
        if case.suppresses(as_of) and (case.decision is not None or case.finding_ids):
            reasons = tuple(worse(f, case.decision, share))
            state = "realerted" if reasons else "suppressed"
        else:
            reasons, state = (), "in_review"
        verdicts[f.id] = Verdict(f.id, state, case.case_id, case.status, case.outcome, reasons)
    open_cases = sum(c.status != "closed" for c in cases)
    return Triage(as_of, verdicts, open_cases, tuple(follows), tuple(cases))


def _lineage(f: Finding) -> Iterable[str]:
    lineage = f.evidence.get("lineage") if f.evidence else None
    if not isinstance(lineage, Mapping):
        return ()
    ids = [lineage.get("detected_id"), *(lineage.get("previous_ids") or ())]
    return [str(x) for x in ids if x]
