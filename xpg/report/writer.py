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
``run.log``                 what the run did, step by step, with timings
``manifest.json``           files (bytes, SHA-256), inputs, settings
==========================  =================================================

Everything is written into a hidden sibling folder (``OUT/.<as_of>.*.tmp``, see
:func:`xpg.atomic.staging`) that is renamed to ``OUT/<as_of>`` at the end: a
reader (or the next night's ``--previous``) sees the whole folder or none. An
existing folder for the same date is refused unless ``overwrite`` (then it is
swapped out by two renames and deleted). Each run also appends one line to ``OUT/runs.log``.

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
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from xpg.atomic import staging
from xpg.errors import InputError, TargetExistsError
from xpg.queries.diff import ReportDiff
from xpg.queries.findings import SEVERITIES, Finding, FindingsReport
from xpg.report.cases import annotate_changes, needs_human, state_of
from xpg.report.compose import compose, ordered
from xpg.report.html import render
from xpg.report.inputs import ReportInputs

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
    as_of = inputs.as_of
    root = Path(out)
    target = report_folder(root, as_of)
    refuse_existing(target, overwrite)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"cannot create the reports folder {root}: {e}") from e

    with log.step("tables and distributions"):
        content = compose(inputs, generated_at=dt.datetime.now(dt.UTC).replace(tzinfo=None))
    for warning in content.row_warnings:
        log.warn(warning)
    report, diff, page = inputs.findings, inputs.diff, content.page
    try:
        with staging(target) as tmp:
            (tmp / "findings.json").write_text(report.to_json(), encoding="utf-8")
            for name, frame in content.tables.items():
                _write_frames(tmp, name, frame)
            if diff is not None:
                changes = annotate_changes(diff.to_dict(), diff, inputs.cases)
                (tmp / "changes.json").write_text(
                    json.dumps(changes, indent=2, ensure_ascii=False), encoding="utf-8")
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
    except OSError as e:
        raise InputError(f"cannot write the report into {root}: {e}") from e
    status = ("warn(row_drop:" + ",".join(d["table"] for d in content.row_drops) + ")"
              if content.row_drops else "ok")
    _append_runs_log(root, as_of, status, content.summary, diff, seconds, log=log)
    return ReportResult(folder=target, as_of=as_of, findings=report, diff=diff,
                        previous=inputs.previous_path, files=tuple(ordered(content.files)),
                        seconds=seconds, log=tuple(log.lines), row_drops=content.row_drops,
                        cases=inputs.cases)


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
                     log: RunLog | None = None) -> None:
    """One line per run in ``root/runs.log``.

    A failing ``runs.log`` never fails a run (the report is already in place): it is
    a WARN line in ``log`` (on stderr when the CLI's run log echoes there).
    """
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    parts = [now, f"as_of={as_of or 'unknown'}", f"status={status}", f"seconds={seconds:.2f}"]
    if summary:
        parts += [f"findings={summary.get('findings', 0)}",
                  f"critical={summary.get('findings_by_severity', {}).get('critical', 0)}"]
    if diff is not None:
        c = diff.counts()
        parts += [f"new={c['new']}", f"worse={diff.worse()}", f"resolved={c['resolved']}"]
    if detail:
        parts.append(f"detail={json.dumps(detail, ensure_ascii=False)}")
    path = root / "runs.log"
    try:
        with path.open("a", encoding="utf-8") as fh:
            fh.write(" ".join(parts) + "\n")
    except OSError as e:
        if log is not None:
            log.warn(f"could not append this run to {path}: {e}")


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
