"""The findings assembly and the findings JSON: Python objects against frames of JSON lines.

``python bench/bench_assembly.py --data DIR [--runs 3]`` loads and detects once, then
times, in the same process and on the same frames, what ``xpg detect`` does after the
rules' frames: the assembly (:func:`xpg.queries.detections.assemble`), the summary and
the findings JSON (:meth:`xpg.queries.findings.FindingsReport.document`), once with
every finding made in Python (``frames=False``, what main did) and once with the frame
assembly, alternately, ``--runs`` times each. Prints CPU seconds (``time.process_time``:
all threads) and wall seconds per step, and whether both documents are the same bytes
(they must be). Nothing is asserted: this script prints figures.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)

    import polars as pl
    from xpg.queries.assembly import ExposureIndex
    from xpg.queries.detections import assemble
    from xpg.queries.findings import FindingsReport
    from xpg.queries.frames import EXPOSURE_SCHEMA, conform
    from xpg.queries.rules import rules
    from xpg.queries.summary import summarize

    import xpg.api as api

    gc.disable()  # as `xpg detect` runs (gc_paused)
    with api.open(data=args.data) as session:
        hooks, config = session.backend.hooks, session.settings.detection
        as_of = session.backend.run_date()
        registered = rules()
        results: dict = {}
        for rule in registered:
            results[rule.name] = rule.detect(hooks, rule.settings(config), as_of, results)
        needed = (pl.concat([rule.users(results[rule.name]) for rule in registered])
                  .unique().sort("user_id").get_column("user_id").to_list())
        frame = conform("exposure", hooks.exposure(as_of, needed), EXPOSURE_SCHEMA)
        users = hooks.user_count()
        texts: dict[bool, str] = {}
        rows = []
        for run in range(args.runs):
            for frames in (False, True):
                clock: dict[str, tuple[float, float]] = {}

                def timed(name, f, clock=clock):
                    c, w = time.process_time(), time.perf_counter()
                    out = f()
                    clock[name] = (time.process_time() - c, time.perf_counter() - w)
                    return out

                exposure = ExposureIndex(frame)
                ordered = timed("assembly", lambda e=exposure, fr=frames: assemble(
                    registered, results, e, config, frames=fr))
                summary = timed("summary", lambda o=ordered, e=exposure: summarize(o, users, e))
                texts[frames] = timed("json", lambda o=ordered, s=summary: FindingsReport(
                    as_of, o, s).document())
                cpu = sum(c for c, _ in clock.values())
                wall = sum(w for _, w in clock.values())
                rows.append({"run": run + 1, "how": "frames" if frames else "objects",
                             **{f"{k} cpu": round(c, 3) for k, (c, _) in clock.items()},
                             "total cpu": round(cpu, 3), "total wall": round(wall, 3)})
                print(json.dumps(rows[-1]), file=sys.stderr)
    print(json.dumps({"findings": len(ordered), "bytes": len(texts[True].encode()),
                      "identical": texts[True] == texts[False], "runs": rows}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
