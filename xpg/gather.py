"""Gathering a report's inputs from an open session (the first of gather, compose, write).

:func:`gather_report` asks the session for what the nightly report shows (the
findings of the run date, the previous report and the diff with it, every
user's exposure, the top rings' views, the lenders per user) and returns it as
a plain :class:`~xpg.report.inputs.ReportInputs`; :func:`xpg.report.write_report`
composes and writes the folder from that alone. This module sits outside
:mod:`xpg.report` so that the report never depends on a session or a backend.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import polars as pl

from xpg.errors import InputError
from xpg.privacy import masking
from xpg.queries.diff import DEFAULT_RING_OVERLAP, diff_reports, ring_users
from xpg.queries.findings import Finding, FindingsReport
from xpg.queries.investigate import RING_PAGE, FindingsIndex, RingView, investigate_ring
from xpg.queries.predicates import OPEN_LOAN
from xpg.queries.reasons import kept_links_of
from xpg.queries.rules.ring import NAME as RING
from xpg.report.inputs import ReportInputs
from xpg.report.trends import history as trend_history
from xpg.report.writer import (
    RunLog,
    find_previous,
    previous_row_counts,
    refuse_existing,
    report_folder,
)
from xpg.session_cases import night_cases
from xpg.version import installed_version

if TYPE_CHECKING:
    from xpg.graph.backend import Backend
    from xpg.loaders.dataset import Dataset
    from xpg.queries.investigate import InvestigationSource
    from xpg.settings import Settings

__all__ = ["ReportSession", "gather_report"]


class ReportSession(Protocol):
    """What :func:`gather_report` reads from a session (an open :class:`xpg.api.Session`
    is one): passed in, so that this module does not import the API that calls it."""

    settings: Settings
    backend: Backend

    @property
    def dataset(self) -> Dataset: ...

    @property
    def as_of(self) -> dt.date: ...

    @property
    def source(self) -> InvestigationSource: ...

    def findings(self, as_of: dt.date | str | None = None) -> FindingsReport: ...

    def exposure(self, as_of: dt.date | str | None = None) -> pl.DataFrame: ...


def gather_report(
    session: ReportSession,
    out: str | os.PathLike[str],
    *,
    previous: str | os.PathLike[str] | FindingsReport | None = None,
    as_of: dt.date | None = None,
    overwrite: bool = False,
    top_rings: int = 10,
    ring_overlap: float = DEFAULT_RING_OVERLAP,
    log: RunLog | None = None,
    data_source: str | None = None,
) -> ReportInputs:
    """What the report of ``as_of`` shows, read from an open session with its tables.

    Parameters are those of :meth:`xpg.api.Session.report`; ``out`` is needed
    for ``previous="auto"`` (the latest earlier report there) and to refuse an
    existing folder for the date before anything is computed. Steps are logged
    to ``log`` (pass the same log to :func:`~xpg.report.write_report`).

    Raises
    ------
    InputError
        The folder exists (without ``overwrite``), the previous report is
        unreadable or dated after ``as_of``.
    """
    started = time.perf_counter()
    log = log if log is not None else RunLog()
    dataset = session.dataset  # the tables given, or the graph read back
    as_of = as_of or session.as_of
    root = Path(out)
    target = report_folder(root, as_of)
    refuse_existing(target, overwrite)

    prev_report, prev_path = _read_previous(previous, root, as_of, log)
    if prev_report is not None and prev_report.as_of > as_of:
        raise InputError(f"the previous report is dated {prev_report.as_of}, after {as_of}")
    log.info(f"report as of {as_of} into {target}"
             + (f"; previous {prev_report.as_of} ({prev_path or 'given'})" if prev_report else ""))

    # the case store, opened once for the night: analysts' confirmed fraud become the
    # detection's known-bad users (linked_risk), then the findings' states and precision
    with night_cases(session, root) as night:
        night.adopt_known_bad(session, log)
        with log.step("findings"):
            detected = session.findings(as_of)
        log.info("findings: " + ", ".join(f"{k} {v}" for k, v in
                                         _count_types(detected.findings).items()))
        diff = None
        report = detected
        if prev_report is not None:
            with log.step("changes since the previous report"):
                ring = session.settings.detection.ring
                links = kept_links_of(ring_users(prev_report, detected), dataset.devices,
                                      dataset.identifiers, ring.identifier_kinds,
                                      ring.hub_max_users, as_of)
                diff = diff_reports(prev_report, detected, ring_overlap=ring_overlap,
                                    loans=dataset.external_loans, links=links)
                report = diff.apply(detected)
            log.info("changes: " + ", ".join(f"{k} {v}" for k, v in diff.counts().items() if v))
            if diff.carried_ids:
                log.info(f"ring ids carried forward: {len(diff.carried_ids)}")
        with log.step("cases"):
            cases = night.gather(session, report, diff, log)
    with log.step("exposure per user"):
        exposure = session.exposure(as_of)

    with log.step(f"top {top_rings} rings"):
        index = FindingsIndex(report)
        rings = sorted((f for f in report.findings if f.type == RING),
                       key=lambda f: (-f.exposure.total, f.id))[:top_rings]
        with masking(session.settings.privacy.masks):
            views = tuple(_drawn(investigate_ring(
                session.source, index, session.settings.detection, f.id, as_of=as_of,
                limit=RING_PAGE), session, index, as_of) for f in rings)

    loans = dataset.external_loans.filter(OPEN_LOAN.polars(as_of=as_of))
    open_lenders = loans.group_by("user_id").agg(pl.col("lender_id").n_unique().alias("n"))
    return ReportInputs(
        as_of=as_of, findings=report, exposure=exposure, rings=views,
        open_lenders=open_lenders, users=dataset.users.height,
        min_open_lenders=session.settings.detection.multi_lending.min_open_lenders,
        diff=diff, previous_path=prev_path, ring_overlap=ring_overlap,
        data_source=data_source or str(dataset.source or "-"), backend=session.backend.name,
        version=installed_version(), started=started,
        row_counts={n: f.height for n, f in dataset.tables().items()},
        previous_row_counts=previous_row_counts(prev_path),
        row_drop_warn=session.settings.report.row_drop_warn,
        trend_history=trend_history(root, as_of, session.settings.report.trend_nights),
        trend_nights=session.settings.report.trend_nights,
        cases=cases,
        folder=str(target),
    )


DRAW_WHOLE_MAX = 2_000
"""A ring of more members than a page lists, up to this many, is drawn from its whole
graph (the report's drawing keeps the members carrying the exposure and the links:
:func:`xpg.report.svg.readable`); a larger one from its page's."""


def _drawn(view: RingView, session: ReportSession, index: FindingsIndex, as_of: dt.date
           ) -> RingView:
    """``view`` with the graph its drawing is made of: the whole ring's when it has more
    members than the page lists (up to :data:`DRAW_WHOLE_MAX`), so that the drawing can
    pick the members that carry the links, not only the page's by exposure."""
    if not RING_PAGE < view.member_count <= DRAW_WHOLE_MAX:
        return view
    whole = investigate_ring(session.source, index, session.settings.detection, view.id,
                             as_of=as_of, limit=None)
    return dataclasses.replace(view, graph=whole.graph)


def _read_previous(previous: str | os.PathLike[str] | FindingsReport | None, out: Path,
                   as_of: dt.date, log: RunLog) -> tuple[FindingsReport | None, Path | None]:
    if previous is None:
        return None, None
    if isinstance(previous, FindingsReport):
        return previous, None
    if str(previous) == "auto":
        found = find_previous(out, as_of)
        if found is None:
            log.warn(f"previous 'auto': no earlier report in {out}; no changes section")
            return None, None
        previous = found
    path = Path(previous)
    return FindingsReport.read(path), path


def _count_types(findings: Sequence[Finding]) -> dict[str, int]:
    out: dict[str, int] = {}
    for f in findings:
        out[f.type] = out.get(f.type, 0) + 1
    return out or {"none": 0}
