"""What a report shows, as plain data: :class:`ReportInputs`.

The report is made in three steps: *gather* (a session reads its findings, the
previous report, exposure and the top rings into a :class:`ReportInputs`:
:func:`xpg.gather.gather_report`), *compose* (pure: inputs to tables and page,
:mod:`xpg.report.compose`) and *write* (the dated folder, whole or not at all,
:func:`xpg.report.writer.write_report`). Nothing under :mod:`xpg.report` knows
the session or a backend: it is handed this dataclass.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from xpg.queries.diff import DEFAULT_RING_OVERLAP, ReportDiff
from xpg.queries.findings import FindingsReport
from xpg.queries.investigate.views import RingView

__all__ = ["ReportInputs"]


@dataclass(frozen=True)
class ReportInputs:
    """Everything one report shows, gathered before anything is written.

    Attributes
    ----------
    as_of : datetime.date
        The run date; the folder is ``OUT/<as_of>/``.
    findings : FindingsReport
        The findings written to ``findings.json``: ring ids carried forward when
        there is a previous report (``diff.apply`` of the detected ones).
    exposure : polars.DataFrame
        Every user's exposure (``user_id``, ``internal_limit``, ``internal_outstanding``,
        ``drawable``, ``external_outstanding``, ``total``) as of the run date.
    rings : tuple of RingView
        The rings that get a section and a drawing, largest exposure first.
    open_lenders : polars.DataFrame
        ``user_id``, ``n``: distinct lenders each borrowing user has an open or overdue
        loan at, as of the run date (users with none are left out).
    users : int
        How many users the data holds.
    min_open_lenders : int
        The multi-lending threshold the page quotes.
    diff : ReportDiff or None
        The comparison with the previous report (None: no previous report).
    previous_path : Path or None
        Where the previous report was read from (None when given as findings).
    ring_overlap : float
        The ring matching threshold the diff used (written to the manifest).
    data_source, backend, version : str
        Run metadata for the page and the manifest: the data's folder, the
        backend's name, the xpg version.
    started : float
        ``time.perf_counter()`` when the run began: the run's seconds count from here.
    row_counts : mapping of str to int
        Rows of each input table tonight (written to the manifest).
    previous_row_counts : mapping of str to int or None
        The previous report's (from its manifest; None when unknown).
    row_drop_warn : float
        A table whose row count fell by this share or more is flagged.
    folder : str
        The report folder as the run named it (``OUT/<as_of>``): what the page's
        commands pass as ``--findings`` ("" when unknown: a placeholder is shown).
    """

    as_of: dt.date
    findings: FindingsReport
    exposure: pl.DataFrame
    rings: tuple[RingView, ...]
    open_lenders: pl.DataFrame
    users: int
    min_open_lenders: int
    diff: ReportDiff | None = None
    previous_path: Path | None = None
    ring_overlap: float = DEFAULT_RING_OVERLAP
    data_source: str = "-"
    backend: str = "-"
    version: str = "-"
    started: float = field(default_factory=time.perf_counter)
    row_counts: Mapping[str, int] = field(default_factory=dict)
    previous_row_counts: Mapping[str, int] | None = None
    row_drop_warn: float = 0.5
    cases: Mapping[str, Any] | None = None
    """The cases section (:meth:`xpg.session_cases.NightCases.gather`): each finding's state
    (new, realerted, suppressed, in_review, ongoing), counts, old open cases, precision."""
    folder: str = ""
    trend_history: tuple[Mapping[str, Any], ...] = ()
    """The earlier nights' per-rule rows (:func:`xpg.report.trends.history`), oldest first."""
    trend_nights: int = 14
    """The nights ``trends.json`` and the page's trends cover (``report.trend_nights``)."""

    @property
    def previous_as_of(self) -> dt.date | None:
        """The previous report's date (None without a previous report)."""
        return None if self.diff is None else self.diff.previous_as_of
