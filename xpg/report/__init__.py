"""The nightly report: a dated folder with a self-contained HTML page, findings and tables.

``xpg report --data DIR --out DIR [--previous DIR|auto]`` and
:meth:`xpg.api.Session.report` both call :func:`write_report`. See
:mod:`xpg.report.writer` for the folder's contents and guarantees,
:mod:`xpg.report.html` for the page and :mod:`xpg.report.svg` for its charts
and ring drawings; ``docs/reports.md`` for scheduling.
"""

from __future__ import annotations

from xpg.report.writer import (
    EXIT_ALERT,
    ReportResult,
    RunLog,
    find_previous,
    record_failure,
    refuse_existing,
    report_folder,
    write_report,
)

__all__ = [
    "EXIT_ALERT",
    "ReportResult",
    "RunLog",
    "find_previous",
    "record_failure",
    "refuse_existing",
    "report_folder",
    "write_report",
]
