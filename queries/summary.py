"""The findings document's order and summary over every registered rule.

:func:`sort_findings` puts the findings in the document's order (the registry's rule
order, then severity, score, id); :func:`summarize` gives the report's ``summary``
(counts by type and severity, the flagged users' exposure, each rule's
:attr:`~xpg.queries.rules.base.Rule.totals`). They read the registry, which the
per-rule helpers of :mod:`xpg.queries.assembly` do not.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import polars as pl
from xpg.queries.assembly import ExposureIndex
from xpg.queries.findings import SEVERITIES, Finding, FindingSequence
from xpg.queries.rules import finding_types, rules

__all__ = ["sort_findings", "summarize"]


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Type (contract order), then severity (critical first), score (high first), id."""
    type_rank = {t: i for i, t in enumerate(finding_types())}
    sev_rank = {s: i for i, s in enumerate(SEVERITIES)}
    return sorted(
        findings, key=lambda f: (type_rank[f.type], -sev_rank[f.severity], -f.score, f.id)
    )


def _flagged_total(users: list[str], exposure: ExposureIndex) -> float:
    """The exposure ``total`` of ``users`` summed in their order (zero for a user without
    exposure): one join for the lookups, the same float additions as one by one."""
    frame = exposure.joined(pl.DataFrame({"user_id": users}, schema={"user_id": pl.String}))
    return sum(frame.get_column("total").to_list())


def summarize(findings: Sequence[Finding], users: int, exposure: ExposureIndex) -> dict[str, Any]:
    """The report's ``summary``.

    ``exposure_total`` is the total exposure of the distinct flagged users (each
    counted once however many findings name them); then each registered rule's
    :attr:`~xpg.queries.rules.base.Rule.totals` (``at_risk_total``: the sum of the
    ``freeze_inconsistency`` amounts at risk; ``ring_members``: the users the rings
    name), by key. A :class:`FindingSequence` is read part by part (a frame part's
    columns, not its objects): the same figures.
    """
    parts = (findings.parts() if isinstance(findings, FindingSequence)
             else [("", findings, None)])
    flagged: set[str] = set()
    by_type = dict.fromkeys(finding_types(), 0)
    by_severity = dict.fromkeys(reversed(SEVERITIES), 0)
    of_type: dict[str, list[Any]] = {}
    for r in rules():
        for total in r.totals:
            of_type.setdefault(r.name, []).append(total)
    sums: dict[str, list[float]] = {t.key: [] for ts in of_type.values() for t in ts}
    for ftype, objects, frame in parts:  # in document order: the same float sums either way
        if frame is not None:
            flagged.update(frame.get_column("users").explode().drop_nulls().to_list())
            by_type[ftype] += frame.height
            for sev, n in frame.group_by("severity").len().iter_rows():
                by_severity[sev] += n
            for total in of_type.get(ftype, ()):
                sums[total.key].extend(total.of_frame(frame))
            continue
        for f in objects or ():
            flagged.update(f.users)
            by_type[f.type] += 1
            by_severity[f.severity] += 1
            for total in of_type.get(f.type, ()):
                sums[total.key].append(total.of_finding(f))
    kinds = {t.key: t for ts in of_type.values() for t in ts}
    totals = {key: kinds[key].total(values) for key, values in sorted(sums.items())}
    return {
        "users": users,
        "flagged_users": len(flagged),
        "findings": len(findings),
        "findings_by_type": by_type,
        "findings_by_severity": by_severity,
        "exposure_total": round(_flagged_total(sorted(flagged), exposure), 2),
        **totals,
    }

