"""`xpg detect`: run every detection on a directory of tables (or on the graph a Neo4j
database holds), print or write the findings."""

from __future__ import annotations

import atexit
import datetime as dt
import gc
import io
import sys
import time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from xpg.cli.common import (
    AsOfOpt,
    BackendOpt,
    ChangesOpt,
    ConfigOpt,
    PseudonymizeOpt,
    QuarantineOpt,
    parse_as_of,
    progress,
    run_date_warning,
    settings_from,
    write_stdout,
    write_text_atomic,
)
from xpg.errors import InputError
from xpg.privacy import masking
from xpg.progress import Progress
from xpg.queries.findings import FindingsReport, gc_paused
from xpg.queries.investigate import masked_explanation
from xpg.settings import Settings

if TYPE_CHECKING:
    from xpg.loaders import LoadResult

__all__ = [
    "OutputFormat",
    "command",
    "findings_table",
    "freeze_at_exit",
    "parse_format",
    "print_table",
    "render_table_text",
    "run",
    "summary_line",
]


class OutputFormat(StrEnum):
    json = "json"
    table = "table"


def parse_format(value: str) -> OutputFormat:
    """The ``--format`` value, or :class:`InputError` naming the choices."""
    try:
        return OutputFormat(value)
    except ValueError:
        choices = " or ".join(f.value for f in OutputFormat)
        raise InputError(f"--format {value!r}: expected {choices}") from None


_FREEZE_AT_EXIT: list[bool] = []


def freeze_at_exit() -> None:
    """At interpreter exit, move the objects still alive out of the cyclic collector's
    reach (:func:`gc.freeze`, once, before the interpreter tears down its modules).

    Exit otherwise runs full collections that walk every object left (at 1,000,000
    users about 0.17 of the 0.23 CPU s the main thread spends exiting; measured under a
    load of 11, the exit took 1.8-2.4 s without, 1.1-1.7 s with). The exit is otherwise
    the usual one: the other ``atexit`` handlers run, the
    standard streams are flushed, modules are torn down and objects freed by reference
    count; only cyclic garbage left at exit is not collected, and the operating system
    reclaims it with the process. Files are written and closed before (``--out`` is
    written atomically).
    """
    if not _FREEZE_AT_EXIT:
        _FREEZE_AT_EXIT.append(True)
        atexit.register(gc.freeze)


def _users(users: tuple[str, ...], shown: int = 3) -> str:
    if len(users) <= shown:
        return ", ".join(users)
    return ", ".join(users[:shown]) + f" +{len(users) - shown}"


def findings_table(report: FindingsReport, *, top: int | None = None) -> Table:
    """A rich table of the findings (the first ``top`` only, when given), in report order."""
    findings = report.findings if top is None else report.findings[:top]
    table = Table(
        title=f"xpg findings as of {report.as_of.isoformat()}",
        show_lines=False,
        expand=False,
    )
    table.add_column("id", no_wrap=True)
    table.add_column("type", no_wrap=True)
    table.add_column("severity", no_wrap=True)
    table.add_column("score", justify="right")
    table.add_column("users")
    table.add_column("exposure CNY", justify="right", no_wrap=True)
    table.add_column("at risk CNY", justify="right", no_wrap=True)
    table.add_column("explanation")
    style = {"critical": "bold red", "high": "red", "medium": "yellow", "low": "green"}
    for f in findings:
        at_risk = "" if f.exposure.at_risk is None else f"{f.exposure.at_risk:,.0f}"
        table.add_row(
            f.id,
            f.type,
            f"[{style[f.severity]}]{f.severity}[/]",
            f"{f.score:.2f}",
            _users(f.users),
            f"{f.exposure.total:,.0f}",
            at_risk,
            masked_explanation(f.explanation, f.evidence),
        )
    if top is not None and len(report.findings) > top:
        table.caption = f"the first {top} of {len(report.findings)} findings"
    return table


def summary_line(report: FindingsReport) -> str:
    """One line: how many findings of each type, for how many users, and the money at stake
    (drawable at risk counted as the report counts it: each account once,
    :func:`xpg.queries.totals.drawable_at_risk`)."""
    from xpg.queries.totals import at_risk_types, drawable_at_risk

    s = report.summary
    by_type = ", ".join(f"{n} {t}" for t, n in s.get("findings_by_type", {}).items())
    return (
        f"{len(report.findings):,} findings for {s.get('users', 0):,} users as of "
        f"{report.as_of.isoformat()} ({by_type}); "
        f"{s.get('flagged_users', 0):,} users flagged, exposure "
        f"{s.get('exposure_total', 0.0):,.0f} CNY, drawable at risk "
        f"{drawable_at_risk(report.of_type(*at_risk_types())):,.0f} CNY"
    )


def print_table(report: FindingsReport, console: Console, *, top: int | None = None) -> None:
    """Print the findings table and the summary line on ``console``."""
    console.print(findings_table(report, top=top))
    console.print(summary_line(report), soft_wrap=True)


def render_table_text(report: FindingsReport, *, top: int | None = None, width: int = 200) -> str:
    """The findings table and summary line as plain text (for files)."""
    buffer = io.StringIO()
    print_table(report, Console(file=buffer, width=width, color_system=None), top=top)
    return buffer.getvalue()


def _warn(result: LoadResult) -> None:
    total = result.warning_total
    if total:
        rules = result.warnings.group_by("rule").len().sort("rule")
        parts = ", ".join(f"{r} x{n}" for r, n in rules.iter_rows())
        print(f"xpg: {total:,} warning(s) in the input: {parts}", file=sys.stderr)
    if result.rejected:
        print(f"xpg: {result.rejected:,} row(s) rejected into the quarantine", file=sys.stderr)


DataUriOpt = Annotated[
    str | None,
    typer.Option(
        "--data",
        help="Directory of input tables (.parquet or .csv); with --backend spark also a URI "
        "(s3a://, hdfs://, file://...) of <table>.parquet files that Spark reads and checks "
        "itself. "
        "With --backend neo4j leave it out: the graph the database holds is the source "
        "(write it with `xpg load`).",
    ),
]


def run(
    data: str | Path | None,
    settings: Settings,
    *,
    as_of: dt.date | None = None,
    quarantine: Path | None = None,
    bar: Progress | None = None,
    pseudonymize: bool = False,
) -> FindingsReport:
    """Open ``data`` in a session on the configured backend and detect: what ``xpg detect``
    does (the same :func:`xpg.open` as query, report and serve; it always detects). With
    a backend that keeps its graph (Neo4j), ``data`` must be None: the graph the database
    holds is detected on, and only its findings are written."""
    import xpg.api as api
    from xpg.cli.state import keep_state, keeps_state

    keep = keeps_state(data, settings, pseudonymize=pseudonymize)
    with api.open(data=data, settings=settings, quarantine=quarantine, progress=bar,
                  as_of=as_of, load=False, pseudonymize=pseudonymize,
                  investigate=keep) as session:
        if session.load_result is not None:
            _warn(session.load_result)
        warning = run_date_warning(as_of, session.data_latest() if as_of else None)
        if warning:
            print(f"xpg: warning: {warning}", file=sys.stderr)
        report = session.detect()
        if keep:
            keep_state(session, report.as_of, say=lambda m: print(f"xpg: {m}", file=sys.stderr))
        return report


def command(
    data: DataUriOpt = None,
    as_of: AsOfOpt = None,
    fmt: Annotated[
        str, typer.Option("--format", help="json (the contract's document) or table (readable).")
    ] = "json",
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write to this file (atomically) instead of stdout."),
    ] = None,
    config: ConfigOpt = None,
    backend: BackendOpt = None,
    quarantine: QuarantineOpt = None,
    pseudonymize: PseudonymizeOpt = False,
    top: Annotated[
        int | None,
        typer.Option("--top", help="With --format table: show only the first N findings."),
    ] = None,
    incremental: Annotated[
        Path | None,
        typer.Option("--incremental", help="A nightly state folder: recompute only what "
                     "changed since the run that wrote it (a full run when it does not fit, "
                     "saying why), then leave the new state there. In memory, Parquet input."),
    ] = None,
    changes: ChangesOpt = None,
) -> None:
    """Run every detection (multi_lending, ring, freeze_inconsistency, restored_after_freeze,
    limit_divergence) on a directory of tables, or with --backend neo4j on the graph the
    database holds (its findings are written back), and output the findings."""
    output = parse_format(fmt)
    if top is not None and top < 1:
        raise InputError(f"--top {top}: expected a positive number")
    settings = settings_from(config, backend=backend)
    run_date = parse_as_of(as_of)
    freeze_at_exit()
    # A short-lived process: no cyclic garbage worth collecting, while the collector
    # would walk every finding object several times (see gc_paused)
    if changes is not None and incremental is None:
        raise InputError("--changes: give --incremental STATE too (a change set is read "
                         "against the state of the night it follows)", argument="changes")
    if incremental is not None:
        from xpg.cli.nightly import detect_nightly

        detect_nightly(data, settings, incremental, as_of=run_date, out=out, table=(
            output is OutputFormat.table), quarantine=quarantine, pseudonymize=pseudonymize,
            changes=changes)
        return
    with gc_paused(), masking(settings.privacy.masks):
        start = time.perf_counter()
        report = run(data, settings, as_of=run_date, quarantine=quarantine, bar=progress("rows"),
                     pseudonymize=pseudonymize)
        elapsed = time.perf_counter() - start
        if out is not None:
            text = (
                report.document()
                if output is OutputFormat.json
                else render_table_text(report, top=top)
            )
            write_text_atomic(out, text)
            print(f"xpg: {summary_line(report)}; written to {out}", file=sys.stderr)
        elif output is OutputFormat.json:
            write_stdout(report.document())
        else:
            # off a terminal rich would wrap at 80 columns: give the table room
            width = None if sys.stdout.isatty() else 200
            print_table(report, Console(width=width), top=top)
        print(f"xpg: detect took {elapsed:.1f} s", file=sys.stderr)
