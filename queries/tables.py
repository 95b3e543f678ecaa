"""Findings and exposure as Polars frames: the report's tables, and what ``to_polars()``
gives a notebook.

:func:`findings_frame` (one row per finding), :func:`finding_users_frame` (one row per
finding and user) and :func:`exposure_frame` (every user's exposure and the findings
naming them) are exactly what the nightly report writes to ``findings.parquet``,
``finding_users.parquet`` and ``exposure.parquet``;
:meth:`xpg.queries.findings.FindingsReport.to_polars` and
:meth:`~xpg.queries.findings.FindingsReport.users_to_polars` return the first two.

Examples
--------
>>> import datetime as dt
>>> from xpg.queries.findings import Exposure, Finding, FindingsReport
>>> r = FindingsReport(dt.date(2026, 11, 20), (
...     Finding("ml-1", "multi_lending", "high", 0.8, ("u1",), Exposure(100.0), {}, "x"),))
>>> findings_frame(r).select("id", "type", "user_count", "exposure_total").row(0)
('ml-1', 'multi_lending', 1, 100.0)
>>> finding_users_frame(r).row(0)
('ml-1', 'multi_lending', 'high', 'u1')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import polars as pl

__all__ = ["FINDINGS_SCHEMA", "FINDING_USERS_SCHEMA", "Findings", "exposure_frame",
           "finding_users_frame", "findings_frame"]


class Findings(Protocol):
    """What the frames read of a report: its findings (a
    :class:`~xpg.queries.findings.FindingsReport` is one, and its ``to_polars`` calls
    these frames, so this module does not import it)."""

    @property
    def findings(self) -> Sequence[Any]: ...

FINDINGS_SCHEMA: dict[str, pl.DataType] = {
    "id": pl.String(), "type": pl.String(), "severity": pl.String(), "score": pl.Float64(),
    "users": pl.String(), "user_count": pl.Int64(), "exposure_total": pl.Float64(),
    "internal_limit": pl.Float64(), "internal_outstanding": pl.Float64(),
    "drawable": pl.Float64(), "external_outstanding": pl.Float64(), "at_risk": pl.Float64(),
    "change": pl.String(), "detected_id": pl.String(), "explanation": pl.String(),
}
"""The columns of ``findings.parquet`` (``users``: the user ids joined by spaces;
``change``: the diff's kind, null without a previous report)."""

FINDING_USERS_SCHEMA: dict[str, pl.DataType] = {
    "finding_id": pl.String(), "type": pl.String(), "severity": pl.String(),
    "user_id": pl.String(),
}
"""The columns of ``finding_users.parquet``."""


def findings_frame(report: Findings, changes: Mapping[str, str] | None = None
                   ) -> pl.DataFrame:
    """One row per finding of ``report`` (``changes``: finding id -> the diff's kind)."""
    kinds = changes or {}
    rows = []
    for f in report.findings:
        e = f.exposure
        lineage = f.evidence.get("lineage", {}) if hasattr(f.evidence, "get") else {}
        rows.append({
            "id": f.id, "type": f.type, "severity": f.severity, "score": float(f.score),
            "users": " ".join(sorted(f.users)), "user_count": len(f.users),
            "exposure_total": e.total, "internal_limit": e.internal_limit,
            "internal_outstanding": e.internal_outstanding, "drawable": e.drawable,
            "external_outstanding": e.external_outstanding, "at_risk": e.at_risk,
            "change": kinds.get(f.id),
            "detected_id": lineage.get("detected_id", f.id) if lineage else f.id,
            "explanation": f.explanation,
        })
    return pl.DataFrame(rows, schema=FINDINGS_SCHEMA)


def finding_users_frame(report: Findings) -> pl.DataFrame:
    """One row per (finding, user) of ``report``, users in order within a finding."""
    pairs = [{"finding_id": f.id, "type": f.type, "severity": f.severity, "user_id": u}
             for f in report.findings for u in sorted(f.users)]
    return pl.DataFrame(pairs, schema=FINDING_USERS_SCHEMA)


def exposure_frame(report: Findings, exposure: pl.DataFrame,
                   finding_users: pl.DataFrame | None = None) -> pl.DataFrame:
    """Every user's exposure (``exposure``: a session's per-user frame) with the
    findings naming them (``finding_types``, ``findings``), largest total first."""
    pairs = finding_users if finding_users is not None else finding_users_frame(report)
    per_user = pairs.group_by("user_id").agg(
        pl.col("type").unique().sort().str.join(" ").alias("finding_types"),
        pl.col("finding_id").n_unique().cast(pl.Int64).alias("findings"),
    )
    return (
        exposure.join(per_user, on="user_id", how="left")
        .with_columns(pl.col("findings").fill_null(0), pl.col("finding_types").fill_null(""))
        .sort("total", "user_id", descending=[True, False])
    )
