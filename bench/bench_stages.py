"""CPU seconds of each stage of one ``xpg detect`` process.

``python bench/bench_stages.py detect --data DIR --out F.json`` runs the command line as
``xpg`` would and prints, on stderr's last line, a JSON object of ``time.process_time``
seconds (all threads of the process): the imports of the ``detect`` command and
:mod:`xpg.api`, load + validate (and of it the identifier normalization), the in-memory
graph build, the detections (with the findings assembly), the findings JSON (and of it
``FindingsReport.to_dict``) and the total. Run it under ``/usr/bin/time`` for the wall time
and the peak memory. Nothing is asserted: this script prints figures.
"""

from __future__ import annotations

import functools
import json
import sys
import time

START = time.process_time()

from xpg.cli import build_app, main  # noqa: E402 - the imports are the first stage

build_app(("detect",))
import xpg.api  # noqa: E402,F401 - what `xpg detect` imports when it runs

STAGES: dict[str, float] = {"imports": time.process_time() - START}


def _timed(owner: object, name: str, label: str) -> None:
    f = getattr(owner, name)

    @functools.wraps(f)
    def timed(*args, **kwargs):
        start = time.process_time()
        try:
            return f(*args, **kwargs)
        finally:
            STAGES[label] = STAGES.get(label, 0.0) + time.process_time() - start

    setattr(owner, name, timed)


def run(argv: list[str]) -> int:
    import xpg.graph.memory as memory
    import xpg.loaders.load as load
    import xpg.loaders.validate as validate
    import xpg.queries.detections as detections
    import xpg.queries.findings as findings

    import xpg.cli.detect as cli_detect

    _timed(load, "validate_dataset", "load+validate")
    _timed(validate, "normalize_values", "of which normalization")
    _timed(memory.MemoryBackend, "_load", "graph build")
    _timed(detections, "run_detections", "detections")
    _timed(cli_detect, "report_json", "findings JSON")
    _timed(findings.FindingsReport, "to_dict", "of which to_dict")
    code = main(argv)
    STAGES["total"] = time.process_time() - START
    print(json.dumps({k: round(v, 2) for k, v in STAGES.items()}), file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
