"""Writing the nightly report folder, whole or not at all.

:func:`write_report` runs the findings of one date through the diff with the
previous report, gathers the top rings' subgraphs, the tables and the
distributions, and writes ``OUT/<as_of>/``:

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
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from xpg.atomic import staging
from xpg.errors import InputError, TargetExistsError
from xpg.queries.diff import DEFAULT_RING_OVERLAP, ReportDiff, diff_reports
from xpg.queries.findings import SEVERITIES, Finding, FindingsReport
from xpg.queries.investigate import FindingsIndex, RingView, investigate_ring
from xpg.report.html import PageData, render

if TYPE_CHECKING:
    from xpg.api import Session

__all__ = [
    "EXIT_ALERT",
    "ReportResult",
    "RunLog",
    "find_previous",
    "record_failure",
    "write_report",
]

EXIT_ALERT = 5
"""Exit code of ``xpg report --alert-on SEVERITY`` when the report was written and has
new or worsened findings at or above that severity."""

_DAY = "%Y-%m-%d"
# buckets of exposure (CNY): [lo, hi) with a label
_MONEY_BUCKETS = (
    (0, 10_000, "<10k"),
    (10_000, 30_000, "10k–30k"),
    (30_000, 100_000, "30k–100k"),
    (100_000, 300_000, "100k–300k"),
    (300_000, 1_000_000, "300k–1M"),
    (1_000_000, float("inf"), "≥1M"),
)


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

    def alerts(self, severity: str = "critical") -> tuple[Finding, ...]:
        """Findings at or above ``severity`` that are new since the previous report or whose
        severity went up (every finding at that level when there was no previous report)."""
        if severity not in SEVERITIES:
            raise InputError(f"severity must be one of {list(SEVERITIES)}, got {severity!r}")
        floor = SEVERITIES.index(severity)
        hot = {f.id: f for f in self.findings.findings if SEVERITIES.index(f.severity) >= floor}
        if self.diff is None:
            return tuple(hot.values())
        picked = []
        for c in self.diff.changes:
            if c.id in hot and (c.kind in ("new", "merged", "split", "grew", "reshaped")
                                or c.severity_change == "up"):
                if c.kind == "split" and c.id in c.previous_ids and c.severity_change != "up":
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


def _read_previous(previous: str | os.PathLike[str] | FindingsReport | None, out: Path,
                   as_of: dt.date, log: RunLog) -> tuple[FindingsReport | None, Path | None]:
    from xpg.api import read_findings

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
    return read_findings(path), path


def _bucket_counts(values: pl.Series) -> list[tuple[str, float]]:
    out = []
    for lo, hi, label in _MONEY_BUCKETS:
        out.append((label, float(((values >= lo) & (values < hi)).sum())))
    return out


def _lenders_per_user(session: Session, as_of: dt.date, top: int = 8) -> list[tuple[str, float]]:
    loans = session.dataset.external_loans.filter(
        pl.col("status").is_in(("open", "overdue")), pl.col("opened_at") <= as_of)
    per_user = loans.group_by("user_id").agg(pl.col("lender_id").n_unique().alias("n"))
    counts = dict(per_user.group_by("n").len().iter_rows())
    zero = session.dataset.users.height - per_user.height
    items = [("0", float(max(zero, 0)))]
    for n in range(1, top):
        items.append((str(n), float(counts.get(n, 0))))
    items.append((f"{top}+", float(sum(v for k, v in counts.items() if k >= top))))
    return items


def _ring_sizes(findings: FindingsReport, top: int = 10) -> list[tuple[str, float]]:
    sizes = [len(f.users) for f in findings.findings if f.type == "ring"]
    if not sizes:
        return []
    low = min(sizes)
    items = [(str(n), float(sizes.count(n))) for n in range(low, top)]
    items.append((f"{top}+", float(sum(1 for s in sizes if s >= top))))
    return items


def _tables(report: FindingsReport, diff: ReportDiff | None, exposure: pl.DataFrame
            ) -> dict[str, pl.DataFrame]:
    kinds = {} if diff is None else {c.id: c.kind for c in diff.changes}
    rows = []
    pairs = []
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
        pairs.extend({"finding_id": f.id, "type": f.type, "severity": f.severity,
                      "user_id": u} for u in sorted(f.users))
    findings = pl.DataFrame(rows, schema={
        "id": pl.String, "type": pl.String, "severity": pl.String, "score": pl.Float64,
        "users": pl.String, "user_count": pl.Int64, "exposure_total": pl.Float64,
        "internal_limit": pl.Float64, "internal_outstanding": pl.Float64,
        "drawable": pl.Float64, "external_outstanding": pl.Float64, "at_risk": pl.Float64,
        "change": pl.String, "detected_id": pl.String, "explanation": pl.String,
    })
    finding_users = pl.DataFrame(pairs, schema={"finding_id": pl.String, "type": pl.String,
                                                "severity": pl.String, "user_id": pl.String})
    per_user = finding_users.group_by("user_id").agg(
        pl.col("type").unique().sort().str.join(" ").alias("finding_types"),
        pl.col("finding_id").n_unique().cast(pl.Int64).alias("findings"),
    )
    exposure_table = (
        exposure.join(per_user, on="user_id", how="left")
        .with_columns(pl.col("findings").fill_null(0), pl.col("finding_types").fill_null(""))
        .sort("total", "user_id", descending=[True, False])
    )
    out = {"findings": findings, "finding_users": finding_users, "exposure": exposure_table}
    if diff is not None:
        changes = [c.to_dict() for c in diff.changes]
        for c in changes:
            for k in ("previous_ids", "users_added", "users_removed"):
                c[k] = " ".join(c[k])
        out["changes"] = pl.DataFrame(changes, schema={
            "kind": pl.String, "id": pl.String, "type": pl.String, "detected_id": pl.String,
            "previous_ids": pl.String, "severity_before": pl.String,
            "severity_after": pl.String, "severity_change": pl.String,
            "exposure_before": pl.Float64, "exposure_after": pl.Float64,
            "exposure_delta": pl.Float64, "exposure_change": pl.String,
            "users_added": pl.String, "users_removed": pl.String, "explanation": pl.String,
        })
    return out


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _summary(session: Session, report: FindingsReport, exposure: pl.DataFrame
             ) -> dict[str, Any]:
    if {"flagged_users", "exposure_total", "at_risk_total"} <= set(report.summary):
        return dict(report.summary)
    from xpg.queries.findings import FINDING_TYPES

    flagged = {u for f in report.findings for u in f.users}
    by_type = dict.fromkeys(FINDING_TYPES, 0)
    by_sev = dict.fromkeys(reversed(SEVERITIES), 0)
    for f in report.findings:
        by_type[f.type] = by_type.get(f.type, 0) + 1
        by_sev[f.severity] = by_sev.get(f.severity, 0) + 1
    totals = exposure.filter(pl.col("user_id").is_in(sorted(flagged))).get_column("total").sum()
    return {
        **dict(report.summary),
        "users": report.summary.get("users", session.dataset.users.height),
        "flagged_users": len(flagged), "findings": len(report.findings),
        "findings_by_type": by_type, "findings_by_severity": by_sev,
        "exposure_total": round(float(totals or 0.0), 2),
        "at_risk_total": round(sum(f.exposure.at_risk or 0.0 for f in report.findings
                                   if f.type == "freeze_inconsistency"), 2),
    }


def _write_frames(folder: Path, name: str, frame: pl.DataFrame) -> list[str]:
    frame.write_csv(folder / f"{name}.csv")
    frame.write_parquet(folder / f"{name}.parquet")
    return [f"{name}.csv", f"{name}.parquet"]


def write_report(
    session: Session,
    out: str | os.PathLike[str],
    *,
    previous: str | os.PathLike[str] | FindingsReport | None = None,
    as_of: dt.date | None = None,
    overwrite: bool = False,
    top_rings: int = 10,
    ring_overlap: float = DEFAULT_RING_OVERLAP,
    log: RunLog | None = None,
    data_source: str | None = None,
) -> ReportResult:
    """Write the report folder ``out/<as_of>/`` for an open session.

    Parameters
    ----------
    session
        An open :class:`xpg.api.Session` (its backend finds; the dataset
        gives the tables and distributions).
    out
        The reports folder (created if missing).
    previous
        The previous report: its folder, its ``findings.json``, a
        :class:`FindingsReport`, or ``"auto"`` (the latest dated folder in
        ``out`` before ``as_of``). None: no changes section.
    as_of
        The run date (default: the session's).
    overwrite
        Replace an existing folder for the same date.
    top_rings
        How many rings (largest exposure first) get a section and a drawing.
    ring_overlap
        The ring matching threshold of :func:`xpg.queries.diff.diff_reports`.
    log
        A run log to append to (the CLI's, echoing to stderr); a new one otherwise.

    Raises
    ------
    InputError
        The folder exists (without ``overwrite``), the previous report is
        unreadable or dated after ``as_of``, or ``out`` cannot be written.
    """
    from xpg import __version__

    started = time.perf_counter()
    log = log or RunLog()
    as_of = as_of or session.as_of
    root = Path(out)
    target = report_folder(root, as_of)
    refuse_existing(target, overwrite)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"cannot create the reports folder {root}: {e}") from e

    prev_report, prev_path = _read_previous(previous, root, as_of, log)
    if prev_report is not None and prev_report.as_of > as_of:
        raise InputError(f"the previous report is dated {prev_report.as_of}, after {as_of}")
    log.info(f"report as of {as_of} into {target}"
             + (f"; previous {prev_report.as_of} ({prev_path or 'given'})" if prev_report else ""))

    with log.step("findings"):
        detected = session.findings(as_of)
    log.info("findings: " + ", ".join(f"{k} {v}" for k, v in
                                     _count_types(detected.findings).items()))
    diff = None
    report = detected
    if prev_report is not None:
        with log.step("changes since the previous report"):
            diff = diff_reports(prev_report, detected, ring_overlap=ring_overlap)
            report = diff.apply(detected)
        log.info("changes: " + ", ".join(f"{k} {v}" for k, v in diff.counts().items() if v))
        if diff.carried_ids:
            log.info(f"ring ids carried forward: {len(diff.carried_ids)}")
    with log.step("exposure per user"):
        exposure = session.exposure(as_of)
    summary = _summary(session, report, exposure)

    with log.step(f"top {top_rings} rings"):
        index = FindingsIndex(report)
        rings = sorted((f for f in report.findings if f.type == "ring"),
                       key=lambda f: (-f.exposure.total, f.id))[:top_rings]
        views: list[RingView] = [
            investigate_ring(session.source, index, session.settings.detection, f.id,
                             as_of=as_of) for f in rings]

    with log.step("tables and distributions"):
        tables = _tables(report, diff, exposure)
        flagged = tables["exposure"].filter(pl.col("findings") > 0).get_column("total")
        ring_totals = pl.Series([f.exposure.total for f in report.findings if f.type == "ring"],
                                dtype=pl.Float64)
        lenders_hist = _lenders_per_user(session, as_of)

    try:
        with staging(target) as tmp:
            files: list[str] = ["index.html", "findings.json"]
            (tmp / "findings.json").write_text(report.to_json(), encoding="utf-8")
            for name, frame in tables.items():
                files += _write_frames(tmp, name, frame)
            if diff is not None:
                (tmp / "changes.json").write_text(
                    json.dumps(diff.to_dict(), indent=2, ensure_ascii=False), encoding="utf-8")
                files.append("changes.json")
            files += ["run.log", "manifest.json"]
            page = PageData(
                as_of=as_of, generated_at=dt.datetime.now(dt.UTC).replace(tzinfo=None),
                version=__version__, data_source=data_source or str(session.dataset.source or "-"),
                backend=session.backend.name, findings=report, summary=summary, diff=diff,
                previous_as_of=None if prev_report is None else prev_report.as_of,
                rings=tuple(views), lenders_per_user=lenders_hist,
                ring_exposure=_bucket_counts(ring_totals) if ring_totals.len() else [],
                ring_sizes=_ring_sizes(report), flagged_exposure=_bucket_counts(flagged)
                if flagged.len() else [], files=tuple(_ordered(files)),
                min_open_lenders=session.settings.detection.multi_lending.min_open_lenders,
            )
            with log.step("page"):
                (tmp / "index.html").write_text(render(page), encoding="utf-8")
            seconds = time.perf_counter() - started
            log.info(f"wrote {len(files)} files in {seconds:.2f} s")
            (tmp / "run.log").write_text(log.text(), encoding="utf-8")
            manifest = {
                "as_of": as_of.isoformat(),
                "generated_at": page.generated_at.isoformat() + "Z",
                "xpg_version": __version__,
                "data": page.data_source,
                "backend": session.backend.name,
                "previous": None if prev_report is None else {
                    "as_of": prev_report.as_of.isoformat(),
                    "path": None if prev_path is None else str(prev_path)},
                "ring_overlap": ring_overlap,
                "summary": summary,
                "changes": None if diff is None else diff.counts(),
                "files": {name: {"bytes": (tmp / name).stat().st_size,
                                 "sha256": _sha256(tmp / name)}
                          for name in files if name != "manifest.json"},
            }
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False),
                                               encoding="utf-8")
            refuse_existing(target, overwrite)  # appeared while we were writing
    except OSError as e:
        raise InputError(f"cannot write the report into {root}: {e}") from e
    _append_runs_log(root, as_of, "ok", summary, diff, seconds, log=log)
    return ReportResult(folder=target, as_of=as_of, findings=report, diff=diff,
                        previous=prev_path, files=tuple(_ordered(files)), seconds=seconds,
                        log=tuple(log.lines))


def _ordered(files: Sequence[str]) -> list[str]:
    return sorted(set(files), key=lambda n: (n != "index.html", n))


def _count_types(findings: Sequence[Finding]) -> dict[str, int]:
    out: dict[str, int] = {}
    for f in findings:
        out[f.type] = out.get(f.type, 0) + 1
    return out or {"none": 0}


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
        parts += [f"new={c['new']}", f"resolved={c['resolved']}"]
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
