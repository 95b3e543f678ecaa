"""CPU seconds and peak memory of each stage of one ``xpg detect`` process.

``python bench/bench_stages.py detect --data DIR --out F.json`` runs the command line as
``xpg`` would and prints, on stderr's last two lines, JSON objects of ``time.process_time``
seconds (all threads of the process) and of the peak resident memory in MB during each
stage: the imports of the ``detect`` command and :mod:`xpg.api`, load + validate (and of it
the identifier normalization), the in-memory graph build, the detections (with the findings
assembly), the findings JSON (and of it ``FindingsReport.to_dict``) and the total. The peak
of a stage is exact, not sampled: the kernel's high-water mark (``VmHWM``) is read and reset
(``/proc/self/clear_refs``) at each stage's start and end (Linux only; elsewhere no peaks are
printed). ``rss after`` is the resident memory when each stage ended: what it left for the
next. Run it under ``/usr/bin/time`` for the wall time. Nothing is asserted: this script
prints figures.
"""

from __future__ import annotations

import contextlib
import functools
import json
import sys
import time
from pathlib import Path

START = time.process_time()

from xpg.cli import build_app, main  # noqa: E402 - the imports are the first stage

build_app(("detect",))
import xpg.api  # noqa: E402,F401 - what `xpg detect` imports when it runs

STAGES: dict[str, float] = {"imports": time.process_time() - START}
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
        start = time.process_time()
        try:
            return f(*args, **kwargs)
        finally:
            STAGES[label] = STAGES.get(label, 0.0) + time.process_time() - start
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

    _timed(load, "validate_dataset", "load+validate")
    _timed(validate, "normalize_values", "of which normalization")
    _timed(memory.MemoryBackend, "_load", "graph build")
    _timed(detections, "run_detections", "detections")
    _timed(findings.FindingsReport, "document", "findings JSON")
    _timed(findings.FindingsReport, "to_dict", "of which to_dict")
    _OPEN.append("total")
    code = main(argv)
    _mark()
    STAGES["total"] = time.process_time() - START
    print(json.dumps({k: round(v, 2) for k, v in STAGES.items()}), file=sys.stderr)
    if PEAKS:
        peaks = {k: round(PEAKS[k]) for k in STAGES if k in PEAKS}
        after = {k: round(AFTER[k]) for k in STAGES if k in AFTER}
        print(json.dumps({"peak MB": peaks, "rss after MB": after}), file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
