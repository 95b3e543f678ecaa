"""Writing the nightly report folder, whole or not at all.

:func:`write_report` takes a report's :class:`~xpg.report.inputs.ReportInputs`
(gathered from a session by :func:`xpg.gather.gather_report`: the findings of
one date, the diff with the previous report, the top rings, exposure), composes
the tables and the page (:func:`xpg.report.compose.compose`, pure) and writes
``OUT/<as_of>/``:

==========================  =================================================
``index.html``              the self-contained page (inline CSS and SVG)
``findings.json``           the contract's findings document, ring ids carried
``findings.csv/.parquet``   one row per finding
``finding_users.csv/...``   one row per (finding, user)
``exposure.csv/.parquet``   every user's exposure and the findings naming them
``changes.json/.csv``       the diff with the previous report (when given)
``trends.json``             per rule over the last nights (:mod:`xpg.report.trends`)
``run.log``                 what the run did, step by step, with timings
``manifest.json``           files (bytes, SHA-256), inputs, settings
==========================  =================================================

Everything is written into a hidden sibling folder (``OUT/.<as_of>.*.tmp``, see
:func:`xpg.atomic.staging`) that is renamed to ``OUT/<as_of>`` at the end: a
reader (or the next night's ``--previous``) sees the whole folder or none. An
existing folder for the same date is refused unless ``overwrite`` (then it is
swapped out by two renames and deleted).

One run at a time writes into ``OUT`` (:func:`run_lock`: ``OUT/.xpg.lock``, its holder
named to a second run, which fails at once or waits); the run holding it first removes
what killed runs left there (their hidden temporary folders) and records a run that
died holding the lock. ``OUT/runs.log`` gets the run's line (``run=ID``) before the
final rename and ``run=ID written`` after it; a failed run gets a ``status=failed``
line; a run killed on the way gets ``status=died`` from the next run (or its line stays
without the mark), so a monitor tells written, failed and died apart.

Ring ids: ``findings.json`` holds ring ids *carried forward* by the diff
(:mod:`xpg.queries.diff`): a ring that matches a ring of the previous report
keeps that ring's id, and its evidence gains ``lineage`` (``detected_id``: the
detection's own content id, ``change``, ``previous_ids``). Without a previous
report the ids are the detection's.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import os
import secrets
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from xpg.atomic import Holder, folder_lock, remove_debris, staging, storage_error
from xpg.errors import InputError, StorageError, TargetExistsError
from xpg.queries.diff import ReportDiff
from xpg.queries.findings import SEVERITIES, Finding, FindingsReport
from xpg.report.cases import annotate_changes, needs_human, state_of
from xpg.report.compose import compose, ordered
from xpg.report.html import render
from xpg.report.inputs import ReportInputs
from xpg.report.trends import FILE as TRENDS_FILE

__all__ = [
    "EXIT_ALERT",
    "EXIT_ROW_DROP",
    "ReportResult",
    "RunLog",
    "find_previous",
    "previous_row_counts",
    "record_failure",
    "refuse_existing",
    "report_folder",
    "run_lock",
    "stage",
    "write_report",
]

EXIT_ALERT = 5
"""Exit code of ``xpg report --alert-on SEVERITY`` when the report was written and has
new or worsened findings at or above that severity."""

EXIT_ROW_DROP = 6
"""Exit code of ``xpg report`` when the report was written but an input table's row count
fell by ``report.row_drop_warn`` or more since the previous report (checked before
``--alert-on``: what resolved may be missing data)."""

_DAY = "%Y-%m-%d"

PAUSE_ENV = "XPG_PAUSE_AT"
"""Environment variable naming a :func:`stage` where the run stops (it says so on
stderr and sleeps): how the tests kill a report at each stage."""


def stage(name: str) -> None:
    """A point of a report run (``locked``, ``gathered``, ``writing``, ``renaming``,
    ``renamed``): where a run stops when ``XPG_PAUSE_AT`` names it (for the tests that
    kill a run at each stage); nothing otherwise."""
    if os.environ.get(PAUSE_ENV) == name:
        print(f"xpg: paused at {name}", file=sys.stderr, flush=True)
        while True:
            time.sleep(60)


@contextlib.contextmanager
def run_lock(out: str | os.PathLike[str], *, wait_s: float = 0.0,
             log: RunLog | None = None) -> Iterator[Holder]:
    """Hold ``out``'s lock for a report run (:func:`xpg.atomic.folder_lock`), then
    remove the debris of killed runs (``older`` than this run: none can still be live)
    and record in ``runs.log`` a holder that died holding the lock.

    Raises
    ------
    RunLockedError
        Another run writes into ``out`` (after ``wait_s`` seconds).
    StorageError
        ``out`` cannot be made or its lock written.
    """
    root = Path(out)
    started = time.time()

    def died(holder: Holder) -> None:
        detail = f"{holder.job or 'run'} of {holder.owner} since {holder.since} ended " \
                 "without finishing (killed?)"
        if log is not None:
            log.warn(f"the previous run {detail}")
        _append_runs_log(root, None, "died", None, None, 0.0, detail, log=log)

    with folder_lock(root, "report", wait_s=wait_s, on_died=died) as holder:
        removed = remove_debris(root, older_than=started)
        if removed and log is not None:
            log.info(f"removed {len(removed)} leftovers of killed runs: "
                     + ", ".join(p.name for p in removed))
        yield holder


class RunLog:
    """The run log: timestamped lines, optionally echoed as they come (to stderr by the CLI)."""

    def __init__(self, echo: Callable[[str], None] | None = None):
        self.lines: list[str] = []
        self._echo = echo

    def _add(self, level: str, message: str) -> None:
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")[:-4] + "Z"
        line = f"{now} {level:<5} {message}"
        self.lines.append(line)
        if self._echo is not None:
            self._echo(line)

    def info(self, message: str) -> None:
        self._add("INFO", message)

    def warn(self, message: str) -> None:
        self._add("WARN", message)

    def error(self, message: str) -> None:
        self._add("ERROR", message)

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        self.info(f"{name} ...")
        yield
        self.info(f"{name}: done in {time.perf_counter() - start:.2f} s")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


@dataclass(frozen=True)
class ReportResult:
    """What a report run wrote.

    ``findings`` is the document written to ``findings.json`` (ring ids
    carried forward); ``diff`` the comparison with the previous report.
    """

    folder: Path
    as_of: dt.date
    findings: FindingsReport
    diff: ReportDiff | None
    previous: Path | None
    files: tuple[str, ...]
    seconds: float
    log: tuple[str, ...] = field(default=(), repr=False)
    row_drops: tuple[dict[str, Any], ...] = ()
    cases: Mapping[str, Any] | None = field(default=None, repr=False)
    trends: Mapping[str, Any] | None = field(default=None, repr=False)
    """``trends.json``'s document: per rule over the last nights (:mod:`xpg.report.trends`)."""

    def alerts(self, severity: str = "critical") -> tuple[Finding, ...]:
        """Findings at or above ``severity`` that are new since the previous report or whose
        severity went up (every finding at that level when there was no previous report)."""
        if severity not in SEVERITIES:
            raise InputError(f"severity must be one of {list(SEVERITIES)}, got {severity!r}")
        floor = SEVERITIES.index(severity)
        hot = {f.id: f for f in self.findings.findings if SEVERITIES.index(f.severity) >= floor}
        if self.diff is None:  # the first night: all but what decisions suppress
            return tuple(f for f in hot.values() if needs_human(f.id, None, False, self.cases))
        picked = []
        for c in self.diff.changes:
            if c.id in hot and needs_human(c.id, c.kind, c.worse, self.cases):
                if (c.kind == "split" and c.id in c.previous_ids and c.severity_change != "up"
                        and state_of(self.cases, c.id) != "realerted"):
                    continue  # the part that kept the id and did not get worse
                picked.append(hot[c.id])
        return tuple(picked)

    def to_dict(self) -> dict[str, Any]:
        return {
            "folder": str(self.folder),
            "as_of": self.as_of.isoformat(),
            "previous": None if self.previous is None else str(self.previous),
            "files": list(self.files),
            "seconds": round(self.seconds, 3),
            "summary": dict(self.findings.summary),
            "changes": None if self.diff is None else self.diff.counts(),
        }


def previous_row_counts(previous: str | os.PathLike[str] | None) -> dict[str, int] | None:
    """The row counts in the manifest of a previous report (its folder, or its
    findings.json's folder); None when there is none or it predates row counts."""
    if previous is None:
        return None
    path = Path(previous)
    manifest = (path if path.is_dir() else path.parent) / "manifest.json"
    try:
        counts = json.loads(manifest.read_text(encoding="utf-8")).get("row_counts")
    except (OSError, ValueError):
        return None
    return {str(k): int(v) for k, v in counts.items()} if isinstance(counts, dict) else None


def find_previous(out: str | os.PathLike[str], as_of: dt.date) -> Path | None:
    """The latest report folder in ``out`` dated before ``as_of`` that holds findings.json."""
    best: tuple[dt.date, Path] | None = None
    root = Path(out)
    if not root.is_dir():
        return None
    for p in root.iterdir():
        try:
            day = dt.datetime.strptime(p.name, _DAY).date()
        except ValueError:
            continue
        if day < as_of and (p / "findings.json").is_file() and (best is None or day > best[0]):
            best = (day, p)
    return None if best is None else best[1]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


FORMULA_START = r"^[=+\-@\t\r]"
"""A text cell starting with one of these a spreadsheet reads as a formula."""


def neutralized(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with every text cell a spreadsheet would run as a formula (starting with
    ``=``, ``+``, ``-``, ``@``, a tab or a carriage return) prefixed with ``'``: what the
    CSV files hold (the Parquet files keep the values as they are).

    Examples
    --------
    >>> neutralized(pl.DataFrame({"x": ["=1+1", "u1", "@SUM(A1)"]})).get_column("x").to_list()
    ["'=1+1", 'u1', "'@SUM(A1)"]
    """
    text = [c for c, t in frame.schema.items() if t == pl.String]
    return frame.with_columns(
        pl.when(pl.col(c).str.contains(FORMULA_START)).then(pl.lit("'") + pl.col(c))
        .otherwise(pl.col(c)).alias(c) for c in text)


def _write_frames(folder: Path, name: str, frame: pl.DataFrame) -> list[str]:
    neutralized(frame).write_csv(folder / f"{name}.csv")
    frame.write_parquet(folder / f"{name}.parquet")
    return [f"{name}.csv", f"{name}.parquet"]


def write_report(
    inputs: ReportInputs,
    out: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    log: RunLog | None = None,
) -> ReportResult:
    """Compose the report of ``inputs`` and write it to ``out/<as_of>/``, whole or not at all.

    Parameters
    ----------
    inputs
        What the report shows (:func:`xpg.gather.gather_report` makes it from an open
        session; :meth:`xpg.api.Session.report` does both).
    out
        The reports folder (created if missing).
    overwrite
        Replace an existing folder for the same date.
    log
        The run log the inputs were gathered with (the CLI's, echoing to stderr): its
        lines go to ``run.log``; a new one otherwise.

    Raises
    ------
    InputError
        The folder exists (without ``overwrite``) or ``out`` cannot be written.
    """
    log = log if log is not None else RunLog()
    with run_lock(out, log=log):
        return _write(inputs, Path(out), overwrite, log)


def _write(inputs: ReportInputs, root: Path, overwrite: bool, log: RunLog) -> ReportResult:
    as_of = inputs.as_of
    target = report_folder(root, as_of)
    refuse_existing(target, overwrite)
    stage("gathered")
    with log.step("tables and distributions"):
        content = compose(inputs, generated_at=dt.datetime.now(dt.UTC).replace(tzinfo=None))
    for warning in content.row_warnings:
        log.warn(warning)
    report, diff, page = inputs.findings, inputs.diff, content.page
    run = secrets.token_hex(4)
    status = ("warn(row_drop:" + ",".join(d["table"] for d in content.row_drops) + ")"
              if content.row_drops else "ok")
    try:
        with staging(target) as tmp:
            # the layout of `xpg detect --format json` (one finding per line): its lines
            # are encoded once, for this file and the stored state
            (tmp / "findings.json").write_text(report.document(), encoding="utf-8")
            stage("writing")
            for name, frame in content.tables.items():
                _write_frames(tmp, name, frame)
            if diff is not None:
                changes = annotate_changes(diff.to_dict(), diff, inputs.cases)
                (tmp / "changes.json").write_text(
                    json.dumps(changes, indent=2, ensure_ascii=False), encoding="utf-8")
            if content.trends is not None:
                (tmp / TRENDS_FILE).write_text(
                    json.dumps(content.trends, indent=2, ensure_ascii=False), encoding="utf-8")
            with log.step("page"):
                (tmp / "index.html").write_text(render(page), encoding="utf-8")
            seconds = time.perf_counter() - inputs.started
            log.info(f"wrote {len(content.files)} files in {seconds:.2f} s")
            (tmp / "run.log").write_text(log.text(), encoding="utf-8")
            manifest = {
                "as_of": as_of.isoformat(),
                "generated_at": page.generated_at.isoformat() + "Z",
                "xpg_version": inputs.version,
                "data": inputs.data_source,
                "backend": inputs.backend,
                "previous": None if diff is None else {
                    "as_of": inputs.previous_as_of.isoformat(),
                    "path": None if inputs.previous_path is None else str(inputs.previous_path)},
                "ring_overlap": inputs.ring_overlap,
                "summary": content.summary,
                "changes": None if diff is None else diff.counts(),
                "row_counts": dict(inputs.row_counts),
                "row_drop_warn": inputs.row_drop_warn,
                "row_drops": list(content.row_drops),
                "files": {name: {"bytes": (tmp / name).stat().st_size,
                                 "sha256": _sha256(tmp / name)}
                          for name in content.files if name != "manifest.json"},
            }
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False),
                                               encoding="utf-8")
            refuse_existing(target, overwrite)  # appeared while we were writing
            # the run's line before the rename (a monitor sees a run killed from here on),
            # its mark after: a run that cannot log is not put in place
            _append_runs_log(root, as_of, status, content.summary, diff, seconds,
                             run=run, strict=True)
            stage("renaming")
    except (OSError, pl.exceptions.PolarsError) as e:
        error = storage_error(e, getattr(e, "filename", None) or target)
        if error is not None:
            where = "" if error.path == str(target) else f" ({error.path})"
            raise StorageError(f"cannot write the report {target}: {error.reason}{where}",
                               path=error.path, errno=error.errno, reason=error.reason) from e
        if isinstance(e, OSError):
            raise InputError(f"cannot write the report into {root}: {e}") from e
        raise
    stage("renamed")
    _append_runs_log(root, None, "", None, None, seconds, run=run, mark="written", log=log)
    return ReportResult(folder=target, as_of=as_of, findings=report, diff=diff,
                        previous=inputs.previous_path, files=tuple(ordered(content.files)),
                        seconds=seconds, log=tuple(log.lines), row_drops=content.row_drops,
                        cases=inputs.cases, trends=content.trends)


def report_folder(out: str | os.PathLike[str], as_of: dt.date) -> Path:
    """The dated folder of the report of ``as_of`` under ``out``."""
    return Path(out) / as_of.strftime(_DAY)


def refuse_existing(target: Path, overwrite: bool) -> None:
    """Refuse to write ``target`` (a dated report folder) when it exists, unless ``overwrite``."""
    if target.exists() and not overwrite:
        raise TargetExistsError(f"{target} already exists", replace_with="overwrite")


def _append_runs_log(root: Path, as_of: dt.date | None, status: str,
                     summary: dict[str, Any] | None,
                     diff: ReportDiff | None, seconds: float, detail: str = "", *,
                     log: RunLog | None = None, run: str = "", mark: str = "",
                     strict: bool = False) -> None:
    """One line per run in ``root/runs.log`` (``run=ID MARK`` alone: the mark of a run
    whose line is there).

    The line is appended whole or not at all (one write; a short one is cut back). A
    failing ``runs.log`` fails the run only when ``strict`` (the line before the final
    rename: :class:`~xpg.errors.StorageError`); otherwise it is a WARN line in ``log``
    (on stderr when the CLI's run log echoes there).
    """
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if mark:
        parts = [now, f"run={run}", mark]
    else:
        parts = [now, f"as_of={as_of or 'unknown'}", f"status={status}",
                 f"seconds={seconds:.2f}"]
        if summary:
            parts += [f"findings={summary.get('findings', 0)}",
                      f"critical={summary.get('findings_by_severity', {}).get('critical', 0)}"]
        if diff is not None:
            c = diff.counts()
            parts += [f"new={c['new']}", f"worse={diff.worse()}", f"resolved={c['resolved']}"]
        if run:
            parts.append(f"run={run}")
        if detail:
            parts.append(f"detail={json.dumps(detail, ensure_ascii=False)}")
    path = root / "runs.log"
    try:
        _append_line(path, " ".join(parts) + "\n")
    except OSError as e:
        if strict:
            raise (storage_error(e, path) or InputError(f"cannot append to {path}: {e}")) \
                from e
        if log is not None:
            log.warn(f"could not append this run to {path}: {e}")


def _append_line(path: Path, line: str) -> None:
    """Append ``line`` in one write; on a failure or a short write the file is cut back
    to its size before, so that it never ends in half a line."""
    data = line.encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
    try:
        size = os.fstat(fd).st_size
        try:
            if os.write(fd, data) != len(data):
                raise OSError(28, "No space left on device (short write)", str(path))
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)
            raise
    finally:
        os.close(fd)


def record_failure(out: str | os.PathLike[str], as_of: dt.date | None, error: BaseException,
                   seconds: float, log: RunLog | None = None) -> None:
    """Append a failed run to ``out/runs.log`` (used by the CLI; never raises; a failing
    ``runs.log`` is a WARN line in ``log``).

    ``as_of``: the run date when it was known (``as_of=unknown`` otherwise, e.g. the data
    did not load). An ``out`` folder that does not exist yet is made, as a successful
    run makes it, so that the first night's failure is logged too.
    """
    root = Path(out)
    try:
        if not root.is_dir():
            root.mkdir(parents=True)
    except OSError as e:
        if log is not None:
            log.warn(f"could not make {root} for its runs.log: {e}")
    if not root.is_dir():
        return
    _append_runs_log(root, as_of, f"failed({type(error).__name__})", None,
                     None, seconds, str(error), log=log)
