"""The nightly report: a dated folder with a self-contained HTML page, findings and tables.

``xpg report --data DIR --out DIR [--previous DIR|auto]`` and
:meth:`xpg.api.Session.report` both make it in three steps:

1. *gather*: :func:`xpg.gather.gather_report` reads from the session what the
   report shows into a plain :class:`ReportInputs` (:mod:`xpg.report.inputs`);
2. *compose*: :func:`compose` turns the inputs into tables, summary and page
   data with no I/O (:mod:`xpg.report.compose`; :mod:`xpg.report.html` renders
   the page, :mod:`xpg.report.svg` its charts and ring drawings);
3. *write*: :func:`write_report` writes the folder, whole or not at all
   (:mod:`xpg.report.writer`, which lists its contents and guarantees).

Nothing here imports :mod:`xpg.api` or a backend (``xpg.graph``): the report is
handed data. ``docs/reports.md`` covers scheduling.
"""

from __future__ import annotations

from xpg.report.compose import ReportContent, compose
from xpg.report.inputs import ReportInputs
from xpg.report.writer import (
    EXIT_ALERT,
    EXIT_ROW_DROP,
    ReportResult,
    RunLog,
    find_previous,
    record_failure,
    refuse_existing,
    report_folder,
    run_lock,
    stage,
    write_report,
)

__all__ = [
    "EXIT_ALERT",
    "EXIT_ROW_DROP",
    "ReportContent",
    "ReportInputs",
    "ReportResult",
    "RunLog",
    "compose",
    "find_previous",
    "record_failure",
    "refuse_existing",
    "report_folder",
    "run_lock",
    "stage",
    "write_report",
]
