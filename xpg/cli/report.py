"""`xpg report`: write the nightly report folder (HTML page, findings, tables, run log).

Exit codes (for a scheduler):

====  ==============================================================
code  meaning
====  ==============================================================
0     the report folder was written
2     bad input: unreadable or invalid data, bad --previous, the
      folder for that date already exists (without --overwrite), ...
3     the backend is unavailable or failed (e.g. Neo4j unreachable), or
      another run writes into OUT (its lock is held: --wait)
5     only with ``--alert-on SEVERITY``: the report was written *and*
      it has new or worsened findings at or above that severity
8     the file system refused: no space left, no permission (the
      message names the path)
1     a bug (please report it)
====  ==============================================================

On any failure nothing appears under ``OUT/<date>`` and a line is appended to
``OUT/runs.log``. One run at a time writes into OUT: the lock is taken before the data
is read.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from xpg.cli.common import (
    AsOfOpt,
    BackendOpt,
    ChangesOpt,
    ConfigOpt,
    PseudonymizeOpt,
    parse_as_of,
    progress,
    run_date_warning,
    settings_from,
)
from xpg.cli.errors import message
from xpg.errors import InputError, XpgError
from xpg.queries.diff import DEFAULT_RING_OVERLAP
from xpg.queries.findings import SEVERITIES

if TYPE_CHECKING:
    import datetime as dt

    from xpg.graph.backend import Backend, NightlyRun
    from xpg.loaders.dataset import Dataset
    from xpg.report import RunLog
    from xpg.settings import Settings

__all__ = ["command"]


def command(
    out: Annotated[str, typer.Option("--out", help="Reports folder (a path or a file:// "
                                                   "URI); the report goes into "
                                                   "OUT/<run date>/.")],
    data: Annotated[str | None, typer.Option(
        "--data", help="Directory of input tables (.parquet or .csv); with --backend spark "
                       "also a URI (s3a://, hdfs://, file://...) of <table>.parquet files that "
                       "Spark reads and checks itself (the report folder then holds the "
                       "stored state that `xpg query --findings` answers from). With "
                       "--backend neo4j leave it out.")] = None,
    previous: Annotated[str | None, typer.Option(
        "--previous", help="The previous report folder (or its findings.json), or 'auto' for "
                           "the latest earlier report in --out.")] = None,
    as_of: AsOfOpt = None,
    config: ConfigOpt = None,
    backend: BackendOpt = None,
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Replace an existing report folder for the same date.")] = False,
    top_rings: Annotated[int, typer.Option(
        "--top-rings", min=0, max=100, help="Rings drawn in the page, largest first.")] = 10,
    ring_overlap: Annotated[float, typer.Option(
        "--ring-overlap", help="Share of the smaller ring's members two rings must have in "
                               "common to be the same ring across reports.")
    ] = DEFAULT_RING_OVERLAP,
    alert_on: Annotated[str | None, typer.Option(
        "--alert-on", help="Exit with code 5 when the report has new or worsened findings of "
                           "this severity or above (critical, high, medium, low).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No run log on stderr.")] = False,
    wait: Annotated[float, typer.Option(
        "--wait", min=0, help="Seconds to wait for another run writing into --out to end "
                              "(default: fail at once, exit 3).")] = 0.0,
    pseudonymize: PseudonymizeOpt = False,
    incremental: Annotated[Path | None, typer.Option(
        "--incremental", help="The state folder (or 'auto': the one `xpg query --data` "
                              "finds), as `xpg detect --incremental`: the "
                              "findings are recomputed only for what changed since the run "
                              "that wrote it (a full run when it does not fit, saying why), "
                              "and the new state, which also answers cold queries, is left "
                              "there. In memory, Parquet input.")
    ] = None,
    changes: ChangesOpt = None,
) -> int:
    """Write the nightly report: OUT/<date>/ with index.html, findings.json, tables, run log."""
    from xpg.api import Session
    from xpg.cli.state import keep_report_state, keep_state, keeps_state, state_folder
    from xpg.graph import open_backend
    from xpg.inputs import is_uri
    from xpg.queries.investigate.state import NIGHTLY
    from xpg.report import (
        EXIT_ALERT,
        EXIT_ROW_DROP,
        RunLog,
        record_failure,
        refuse_existing,
        report_folder,
        run_lock,
        stage,
    )
    from xpg.report.cases import counts as report_counts

    out = _out_folder(out)  # type: ignore[assignment]
    lake = is_uri(data)
    data = data if data is None or lake else Path(data)  # type: ignore[assignment]
    started = time.perf_counter()
    day = known = None
    log = RunLog(echo=None if quiet else (lambda line: print(line, file=sys.stderr)))
    try:
        day = known = parse_as_of(as_of)
        if alert_on is not None and alert_on not in SEVERITIES:
            raise InputError(f"--alert-on {alert_on!r}: expected one of {', '.join(SEVERITIES)}")
        if not 0.0 < ring_overlap <= 1.0:
            raise InputError(f"--ring-overlap must be in (0, 1], got {ring_overlap}")
        if day is not None:  # known now: refuse an existing folder before loading the data
            refuse_existing(report_folder(out, day), overwrite)
        with run_lock(out, wait_s=wait, log=log):  # before the data is read
            stage("locked")
            settings = settings_from(config, say=log.info, backend=backend)
            if changes is not None and incremental is None:
                raise InputError("--changes: give --incremental STATE too (a change set is "
                                 "read against the state of the night it follows)",
                                 argument="changes")
            if incremental is not None:
                from xpg.cli.nightly import refuse_incremental

                refuse_incremental(data, settings, {"--pseudonymize": pseudonymize})
            backend_ = open_backend(settings)
            try:
                ds = _tables(data, settings, backend_, log, pseudonymize=pseudonymize)
                night = None
                if incremental is not None and ds is not None:
                    incremental = state_folder(incremental, data, settings)
                    night = _nightly(data, settings, incremental / NIGHTLY, ds, day, out,
                                     overwrite, log, changes)
            except BaseException:
                backend_.close()
                raise
            keep = ds is not None and keeps_state(data, settings, pseudonymize=pseudonymize)
            with Session(ds, settings, backend_, progress=progress(), night=night,
                         data_path=data if keep or lake else None) as session:  # type: ignore[arg-type]
                if night is not None:
                    from xpg.cli.nightly import describe_run

                    with log.step("findings from the nightly state"):
                        session.detect(day)
                    log.info(describe_run(night, night.state))
                if day is None:  # the run date, for the runs.log line should a later step fail
                    known = session.as_of
                else:
                    warning = run_date_warning(day, session.data_latest())
                    if warning:
                        log.warn(warning)
                result = session.report(
                    out, previous, as_of=day, overwrite=overwrite, top_rings=top_rings,
                    ring_overlap=ring_overlap, log=log,
                    data_source=None if data is None else str(data),
                )
                if keep:
                    keep_state(session, result.findings.as_of, say=log.info, where=incremental)
                elif lake and settings.state.write and not pseudonymize:
                    keep_report_state(session, result.folder, say=log.info)
    except XpgError as e:
        log.error(f"failed: {message(e)}")
        record_failure(out, known, e, time.perf_counter() - started, log=log)
        raise
    print(result.folder)
    s = result.findings.summary
    line = (f"{s.get('findings', len(result.findings.findings))} findings, "
            f"{s.get('flagged_users', 0)} flagged users")
    if result.diff is not None:
        c = report_counts(result.diff, result.cases)
        line += (f"; since {result.diff.previous_as_of}: {c['new']} new, "
                 f"{c['worse']} worse, {c['resolved']} resolved")
    if result.cases is not None:
        c = report_counts(result.diff, result.cases)
        line += (f"; cases: {c['realerted']} re-alerted, {c['suppressed']} suppressed, "
                 f"{c['in_review']} in review, {c['open_cases']} open")
    print(line)
    if result.row_drops:
        tables = ", ".join(f"{d['table']} {d['previous']:,} -> {d['current']:,}"
                           for d in result.row_drops)
        print(f"WARNING: row counts fell sharply since the previous report: {tables}",
              file=sys.stderr)
        return EXIT_ROW_DROP
    if alert_on is not None:
        alerts = result.alerts(alert_on)
        if alerts:
            print(f"ALERT: {len(alerts)} new or worsened finding(s) at {alert_on} or above "
                  "(re-alerted ones included)",
                  file=sys.stderr)
            return EXIT_ALERT
    return 0


def _nightly(data: Path | None, settings: Settings, state: Path, ds: Dataset,
             day: dt.date | None, out: Path, overwrite: bool, log: RunLog,
             changes: Path | None = None) -> NightlyRun:
    """The report's nightly run over ``state`` (the session detects with it). An existing
    report folder is refused first: the state moves on to this snapshot only when its
    report is about to be written."""
    from xpg.graph.backend import NightlyRun
    from xpg.queries.detections import default_as_of
    from xpg.report import refuse_existing, report_folder

    refuse_existing(report_folder(out, day or default_as_of(ds)), overwrite)
    assert data is not None
    return NightlyRun(Path(data), state, settings, changes=changes)


def _out_folder(out: str) -> Path:
    """``--out`` as a local folder: a path, or a ``file://`` URI."""
    from xpg.queries.investigate.state import local_folder

    folder = local_folder(out)
    if folder is None:
        raise InputError(f"out: {out}: the report is written to a folder of this machine or a "
                         "file:// URI (a shared mount); copy it to object storage afterwards",
                         argument="out")
    return folder


def _tables(data: Path | str | None, settings: Settings, backend: Backend, log: RunLog, *,
            pseudonymize: bool = False) -> Dataset | None:
    """The tables of the report: ``data`` loaded into the in-memory backend; None over a
    database (the session reads its graph back; ``data`` is refused there) and for a URI
    the backend reads and checks itself (the session takes its tables from it)."""
    from xpg.api import pseudonymized, tables_refused
    from xpg.inputs import is_uri
    from xpg.loaders import load_dataset

    if is_uri(data):
        if pseudonymize:
            raise InputError("pseudonymize: tables under a URI are reported as they are; "
                             "pseudonymize them where they are produced",
                             argument="pseudonymize")
        log.info(f"xpg report: data {data}, read and checked by the {backend.label}")
        with log.step(f"read and validate in the {backend.label}"), \
                backend.failures("read the data"):
            backend.read_tables(str(data), progress=progress())
        return None
    assert not isinstance(data, str)

    if backend.keeps_data:
        if data is not None:
            raise tables_refused(backend)
        if pseudonymize:
            raise InputError("pseudonymize: the graph in a database is reported as it was "
                             "loaded; pseudonymize the tables before `xpg load`",
                             argument="pseudonymize")
        log.info(f"xpg report: the graph in the {backend.label}")
        return None
    if data is None:
        raise InputError("data: give the directory of tables to report on", argument="data")
    if not data.is_dir():
        raise InputError(f"data: {data} is not a directory", argument="data")
    log.info(f"xpg report: data {data}, backend {settings.backend}")
    with log.step("load and validate"):
        loaded = load_dataset(data, settings, progress=progress())
    ds = pseudonymized(loaded.dataset, settings) if pseudonymize else loaded.dataset
    log.info("tables: " + ", ".join(f"{n} {f.height:,}" for n, f in ds.tables().items()))
    if loaded.warnings.height:
        log.warn(f"{loaded.warning_total} data warning(s), e.g. "
                 + "; ".join(loaded.warnings.get_column("message").head(3).to_list()))
    with log.step(f"load into the {backend.label}"):
        backend.load(ds, progress=progress())
    return ds
