"""What the `xpg case` subcommands share: their options, the case service of the command's
store and findings, and the printing of a case."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from xpg.cli.common import settings_from, write_stdout
from xpg.errors import InputError

__all__ = ["ByOpt", "ExpectedOpt", "JsonOpt", "NoteOpt", "ReportsOpt", "cases", "parse_day",
           "print_case"]

ReportsOpt = Annotated[Path | None, typer.Option(
    "--reports", help="The reports folder: the cases are in its cases.sqlite, finding ids "
                      "are those of its latest report.")]
ByOpt = Annotated[str, typer.Option("--by", help="The analyst making the change (recorded "
                                                 "in the audit trail).")]
NoteOpt = Annotated[str | None, typer.Option("--note", help="A note on the change.")]
ExpectedOpt = Annotated[int | None, typer.Option(
    "--expected-version", help="Apply only if the case is still at this version (exit 7 "
                               "if another analyst changed it first).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="JSON on stdout.")]


@contextmanager
def cases(reports: Path | None, backend: str | None = None,
          config: Any = None) -> Iterator[Any]:
    """The :class:`~xpg.cases.service.Cases` of the command's store and findings."""
    from xpg.cases import open_case_store
    from xpg.cases.service import Cases
    from xpg.graph import open_backend
    from xpg.session_cases import latest_findings

    settings = settings_from(config, backend=backend)
    graph = open_backend(settings)
    try:
        if reports is not None and not reports.is_dir():
            raise InputError(f"reports: {reports} is not a folder", argument="reports")
        store = open_case_store(graph, reports)
        found = latest_findings(reports)
        if found is None and graph.keeps_data:  # a database: the findings it stored
            found = _stored_findings(graph, settings)
        service = Cases(store, found)
        try:
            yield service
        finally:
            service.close()
    finally:
        graph.close()


def _stored_findings(graph: Any, settings: Any) -> Any:
    """The findings the database's last detection stored (None when there are none)."""
    from xpg.api import Session
    from xpg.errors import NoFindingsError

    try:
        return Session(None, settings, graph, owns_backend=False, detect=False).findings()
    except NoFindingsError:
        return None


def parse_day(value: str | None, flag: str) -> dt.date | None:
    """A YYYY-MM-DD flag value (None stays None)."""
    if value is None:
        return None
    try:
        if len(value) != 10:
            raise ValueError(value)
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InputError(f"{flag}: {value!r} is not a date of the form YYYY-MM-DD") from None


def print_case(case: Any, as_json: bool = False) -> None:
    if as_json:
        write_stdout(json.dumps(case.to_dict(), ensure_ascii=False, indent=2) + "\n")
        return
    parts = [case.case_id, case.status]
    if case.outcome:
        parts.append(case.outcome)
    parts.append(case.finding_id or case.subject)
    if case.assignee:
        parts.append(f"assignee {case.assignee}")
    if case.snooze_until:
        parts.append(f"snoozed until {case.snooze_until}")
    parts.append(f"v{case.version}")
    write_stdout("  ".join(parts) + "\n")

