"""CPU seconds, wall seconds and peak memory of each stage of one ``xpg detect`` or ``xpg
report`` process, beside the rate that bounds each stage on this machine.

Commands (each a fresh process; run under ``/usr/bin/time`` for the whole process)::

    /usr/bin/time -f "%e s %U+%S cpu %M KB" python bench/bench_stages.py detect --data D --out F
    /usr/bin/time -f "%e s %U+%S cpu %M KB" python bench/bench_stages.py report --data D --out O
    python bench/bench_stages.py --bounds D detect --data D --out F   # + the bounds table

``--bounds DIR`` (before the command) measures, after the run and in the same process, the
rates that bound the stages on this machine (the Parquet reader over DIR's files, Polars'
Parquet writer, a Polars sort on three string keys and a hash group-by on one over DIR's
identifier rows, numpy's memory copy) and prints a table: each stage's work (bytes or
rows), its rate per CPU second and the fraction of its bound reached. Set ``XPG_STATE_DIR``
to a scratch folder so that the stored state each run keeps does not replace the one in
``~/.cache``.

The stages (``of which`` lines are inside the stage above them): the imports of the command
and :mod:`xpg.api`; load + validate (and of it the identifier normalization); the in-memory
graph build; the detections (with the findings assembly); for ``report``: the exposure per
user, the top rings' views, the cases, the tables and page composed, the tables written
(CSV + Parquet) and the page rendered; the findings JSON (and of it ``to_dict``, which
should not run); the stored state (and of it the sorted lookup tables and the link rows they
sort, their Parquet parts, the findings frames and the connected groups; in ``report`` the
lookup tables are built by the top rings' views, before the state); the total. The output
is JSON on stderr's last lines: ``cpu s``, ``wall s``, ``peak MB`` (exact, not sampled: the
kernel's high-water mark ``VmHWM`` is read and reset through ``/proc/self/clear_refs`` at
each stage's start and end; Linux only) and ``rss after MB`` (the resident memory each
stage left). Nothing is asserted: this script prints figures.
"""

from __future__ import annotations

import contextlib
import functools
import json
import sys
import time
from pathlib import Path

START, START_WALL = time.process_time(), time.perf_counter()
BOUNDS = None
if len(sys.argv) > 2 and sys.argv[1] == "--bounds":
    BOUNDS = Path(sys.argv[2])
    del sys.argv[1:3]
COMMAND = sys.argv[1] if len(sys.argv) > 1 else "detect"

from xpg.cli import build_app, main  # noqa: E402 - the imports are the first stage

build_app((COMMAND,))
import xpg.api  # noqa: E402 - what `xpg detect` imports when it runs

STAGES: dict[str, float] = {"imports": time.process_time() - START}
WALL: dict[str, float] = {"imports": time.perf_counter() - START_WALL}
PEAKS: dict[str, float] = {}
AFTER: dict[str, float] = {}
_OPEN: list[str] = []  # the stages running now, outermost first
_STATUS, _CLEAR = Path("/proc/self/status"), Path("/proc/self/clear_refs")


def _kb(field: str) -> float | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field):
                return float(line.split()[1])
    except OSError:
        return None
    return None


def _mark() -> None:
    """Charge the high-water mark so far to every open stage, then reset it."""
    hwm = _kb("VmHWM:")
    if hwm is None:
        return
    for label in _OPEN:
        PEAKS[label] = max(PEAKS.get(label, 0.0), hwm / 1024)
    with contextlib.suppress(OSError):
        _CLEAR.write_text("5")


PEAKS["imports"] = (_kb("VmHWM:") or 0.0) / 1024
_mark()


def _timed(owner: object, name: str, label: str) -> None:
    f = getattr(owner, name)

    @functools.wraps(f)
    def timed(*args, **kwargs):
        _mark()
        _OPEN.append(label)
        start, wall = time.process_time(), time.perf_counter()
        try:
            return f(*args, **kwargs)
        finally:
            STAGES[label] = STAGES.get(label, 0.0) + time.process_time() - start
            WALL[label] = WALL.get(label, 0.0) + time.perf_counter() - wall
            _mark()
            _OPEN.remove(label)
            AFTER[label] = (_kb("VmRSS:") or 0.0) / 1024

    setattr(owner, name, timed)


def run(argv: list[str]) -> int:
    import xpg.graph.memory as memory
    import xpg.loaders.load as load
    import xpg.loaders.validate as validate
    import xpg.queries.detections as detections
    import xpg.queries.findings as findings
    import xpg.queries.investigate.sources as sources
    import xpg.queries.investigate.state as state

    _timed(load, "validate_dataset", "load+validate")
    _timed(validate, "normalize_values", "of which normalization")
    _timed(memory.MemoryBackend, "_load", "graph build")
    _timed(detections, "run_detections", "detections")
    if COMMAND == "report":  # not imported by `xpg detect`
        import xpg.gather as gather
        import xpg.report.writer as writer

        _timed(xpg.api.Session, "exposure", "exposure per user")
        _timed(gather, "investigate_ring", "top rings")
        import xpg.session_cases as session_cases

        _timed(session_cases.NightCases, "gather", "cases")
        _timed(writer, "compose", "compose tables+page")
        _timed(writer, "_write_frames", "tables CSV+Parquet")
        _timed(writer, "render", "page")
    _timed(findings.FindingsReport, "document", "findings JSON")
    _timed(findings.FindingsReport, "to_dict", "of which to_dict")
    _timed(state, "write_state", "stored state")
    _timed(sources._Sorted, "__init__", "of which sorted tables")
    _timed(sources.MemorySource, "_link_rows", "of which link rows")
    _timed(state, "_write_parts", "of which state Parquet")
    _timed(state, "_findings_frames", "of which findings frames")
    _timed(state, "_group_frames", "of which groups")
    _OPEN.append("total")
    code = main(argv)
    _mark()
    STAGES["total"] = time.process_time() - START
    WALL["total"] = time.perf_counter() - START_WALL
    print(json.dumps({"cpu s": {k: round(v, 2) for k, v in STAGES.items()}}), file=sys.stderr)
    print(json.dumps({"wall s": {k: round(v, 2) for k, v in WALL.items()}}), file=sys.stderr)
    if PEAKS:
        peaks = {k: round(PEAKS[k]) for k in STAGES if k in PEAKS}
        after = {k: round(AFTER[k]) for k in STAGES if k in AFTER}
        print(json.dumps({"peak MB": peaks, "rss after MB": after}), file=sys.stderr)
    if BOUNDS is not None:
        print(bounds_table(BOUNDS, argv), file=sys.stderr)
    return code


# -- the rates that bound each stage -----------------------------------------------------

def _rate(work: float, f) -> float:
    """``work`` units per CPU second of ``f()`` (all threads)."""
    start = time.process_time()
    f()
    return work / max(time.process_time() - start, 1e-9)


def bounds_table(data: Path, argv: list[str]) -> str:
    """A markdown table: each stage's work, rate per CPU s, bound and fraction reached.

    The bounds are measured here, on this machine, in this process, over the same
    input: what the stage could not go faster than if it did nothing but that primitive.
    """
    import numpy as np
    import polars as pl

    files = sorted(data.glob("*.parquet"))
    in_bytes = sum(f.stat().st_size for f in files)
    read = _rate(in_bytes, lambda: [pl.read_parquet(f) for f in files])
    tables = {f.stem: pl.read_parquet(f) for f in files}
    rows = sum(t.height for t in tables.values())
    ids = tables["identifiers"]
    sort = _rate(ids.height, lambda: ids.sort("user_id", "kind", "value"))
    group = _rate(ids.height, lambda: ids.group_by("user_id").len())
    block = np.ones(64 << 20, dtype=np.float64)  # 512 MiB
    copy = _rate(2 * block.nbytes, lambda: block.copy())  # read + write
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        write = _rate(ids.estimated_size(), lambda: ids.write_parquet(Path(tmp) / "x.parquet"))
    out = Path(argv[argv.index("--out") + 1]) if "--out" in argv else None
    out_bytes = out.stat().st_size if out is not None and out.is_file() else 0
    import os

    state_dir = None
    states = Path(os.environ.get("XPG_STATE_DIR") or Path.home() / ".cache" / "xpg" / "state")
    kept = [p for p in states.glob(f"{data.resolve().name[:40]}-*") if p.is_dir()]
    if kept:
        state_dir = max(kept, key=lambda p: p.stat().st_mtime)
    state_bytes = (sum(f.stat().st_size for f in state_dir.rglob("*") if f.is_file())
                   if state_dir else 0)
    links = tables["devices"].height + ids.height
    # stage -> (work, unit, bound rate, what bounds it)
    spec = {
        "load+validate": (in_bytes, "B", read, "Parquet read (B/CPU s)"),
        "graph build": (links, "rows", group, "1-string-key group-by (rows/CPU s)"),
        "detections": (rows, "rows", group, "1-string-key group-by (rows/CPU s)"),
        "findings JSON": (out_bytes, "B", copy, "memory copy (B/CPU s)"),
        "of which sorted tables": (rows, "rows", sort, "3-string-key sort (rows/CPU s)"),
        "of which state Parquet": (state_bytes, "B", write, "Parquet write (B/CPU s, in memory)"),
    }
    lines = ["| stage | CPU s | wall s | work | rate per CPU s | bound | fraction |",
             "|---|---:|---:|---:|---:|---|---:|"]
    for label, (work, unit, bound, what) in spec.items():
        cpu = STAGES.get(label)
        if not cpu or not work:
            continue
        rate = work / cpu
        lines.append(f"| {label} | {cpu:.2f} | {WALL.get(label, 0):.2f} | {work:,.0f} {unit} "
                     f"| {rate:,.0f} | {bound:,.0f} {what} | {rate / bound:.2f} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
