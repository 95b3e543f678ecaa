"""Nightly delta against full reload, and detection in the database against memory:
``python bench/bench_neo4j_delta.py [--users N] [--share 0.01] [--repeat 1]``.

For N generated users (default 100,000) and the next night's snapshot with ``--share`` of
its users changed or gone (``tests/delta_data.py``), in one run on one server:

1. the first load of night 1 into an empty database (the CREATE path);
2. night 2 as a delta over night 1 (``neo4j.load_mode = "delta"``): rows written, retired,
   seconds (wall, this process's and the server's CPU), and the seconds of each phase;
3. night 1 again as a full reload over night 2 (``load_mode = "full"``, the same amount of
   change the other way): the same figures; the ratio full / delta;
4. detection on the graph of night 2, loaded as a delta (``--detect-repeat`` times each):
   in the database with Cypher (``neo4j.detection = "cypher"``), pulled into Polars
   (``"pull"``), and in memory from the tables, each compared with memory's findings
   (whether the database after a delta gives a fresh in-memory run's findings).

``--first-load import`` makes step 1 the offline importer (``xpg load --via import``), for
sizes where the Cypher first load takes too long; it is followed by night 1 loaded again as
a delta (printed apart: the importer writes neither the ``row_hash`` indexes nor the hash
manifest, so this first delta reads every row's hash and builds the indexes, once).
``--data DIR`` takes night 1 from tables.

Steps 2-3 run ``--repeat`` times (delta, then full back, alternately). Runs on a throwaway
server (``scripts/neo4j-local``; ``XPG_NEO4J_HEAP``/``XPG_NEO4J_PAGECACHE``, default 2g).
Figures are printed and written as JSON to ``bench/out/neo4j-delta-<N>.json``. The machine
is shared: compare within one run.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "bench"), str(ROOT / "tests")]

from bench_neo4j import _cpu_of, _own_cpu  # noqa: E402
from bench_neo4j_import import fresh_server  # noqa: E402
from delta_data import next_night  # noqa: E402


def timed(call: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    out = call()
    return out, time.perf_counter() - start


def measured(call: Any, state: Path) -> tuple[Any, dict[str, Any]]:
    """``call()`` with its wall seconds, this process's and the server's CPU seconds and
    the load average at its end."""
    pid_file = state / "pid"

    def server() -> float:
        return _cpu_of(int(pid_file.read_text())) if pid_file.exists() else 0.0

    server0, own0 = server(), _own_cpu()
    out, seconds = timed(call)
    return out, {"seconds": seconds, "client_cpu": _own_cpu() - own0,
                 "server_cpu": server() - server0, "load_average": os.getloadavg()[0]}


def figures(f: dict[str, Any]) -> str:
    return (f"{f['seconds']:.1f} s wall, cpu {f['client_cpu']:.1f} client + "
            f"{f['server_cpu']:.1f} server, load {f['load_average']:.1f}")


def phases(stats: Any) -> str:
    return ", ".join(f"{k} {v:.1f} s" for k, v in stats.phases.items())


def detections(runs: dict[str, Any], repeat: int) -> dict[str, Any]:
    """Each detection run ``repeat`` times: seconds (and load average) of each run, and
    how many findings differ from memory's."""
    found: dict[str, Any] = {}
    out: dict[str, Any] = {}
    for _ in range(repeat):
        for name, call in runs.items():
            found[name], seconds = timed(call)
            out.setdefault(name, {"seconds": [], "load_average": []})
            out[name]["seconds"].append(seconds)
            out[name]["load_average"].append(os.getloadavg()[0])
    want = found["memory"]["findings"]
    for name, figures in out.items():
        got = found[name]["findings"]
        figures["findings"] = len(got)
        figures["differing"] = sum(a != b for a, b in zip(got, want, strict=False)) + abs(
            len(got) - len(want))
        figures["same"] = found[name] == found["memory"]
        print(f"detection {name}: " + ", ".join(
            f"{s:.1f} s (load {a:.1f})" for s, a in zip(figures["seconds"],
                                                        figures["load_average"], strict=True))
            + f"; {figures['findings']:,} findings, identical to memory's: {figures['same']}"
            + ("" if figures["same"] else f" ({figures['differing']} differ)"), flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--data", type=Path, help="night 1 from these tables (else generated)")
    parser.add_argument("--share", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--detect-repeat", type=int, default=1,
                        help="times each detection (cypher, pull, memory) is run (0: none)")
    parser.add_argument("--first-load", choices=("cypher", "import"), default="cypher",
                        help="night 1 by the Cypher load or the offline importer "
                             "(xpg load --via import; the Cypher load at 1M takes many minutes)")
    args = parser.parse_args(argv)

    from xpg.graph.memory import MemoryBackend
    from xpg.graph.neo4j import Neo4jBackend

    from xpg.settings import DetectionConfig
    from xpg.synthetic import generate

    if args.data is not None:
        from xpg.loaders import load_dataset

        first = load_dataset(args.data).dataset
        args.users = first.users.height
    else:
        first = generate(args.users, args.seed).dataset()
    second = next_night(first, share=args.share, seed=args.seed + 1)
    config = DetectionConfig()
    out: dict[str, Any] = {"users": args.users, "share": args.share, "rounds": []}
    state = Path(tempfile.mkdtemp(prefix="xpg-bench-delta-"))
    with fresh_server(state) as neo4j:
        delta_cfg = dataclasses.replace(neo4j, load_mode="delta")
        full_cfg = dataclasses.replace(neo4j, load_mode="full")
        if args.first_load == "import":
            from xpg.graph.neo4j.importer import offline_import

            stats, seconds = timed(lambda: offline_import(first, delta_cfg, state=state))
        with Neo4jBackend(delta_cfg) as delta, Neo4jBackend(full_cfg) as full:
            if args.first_load == "cypher":
                stats, seconds = timed(lambda: delta.load(first))
            out["first_load"] = {"via": args.first_load, "seconds": seconds,
                                 "relationships_per_s": stats.relationships / seconds,
                                 "load_average": os.getloadavg()[0]}
            out["relationships"] = stats.relationships
            print(f"first load of night 1 ({args.first_load}): {stats.nodes:,} nodes, "
                  f"{stats.relationships:,} relationships in {seconds:.1f} s = "
                  f"{stats.relationships / seconds:,.0f} relationships/s (load average "
                  f"{os.getloadavg()[0]:.1f})", flush=True)
            if stats.phases:
                print(f"  first load phases: {phases(stats)}", flush=True)
            if args.first_load == "import":
                # the importer writes neither the row_hash indexes nor the hash manifest:
                # the first delta after it reads every row's hash and builds the indexes
                # (a one-time cost); night 1 over itself, so that the rounds are nightly
                w, w_f = measured(lambda: delta.load(first), state)
                out["first_delta_after_import"] = {**w_f, "phases": dict(w.phases),
                                                   "written": w.written}
                print(f"first delta after the import (night 1 again): {figures(w_f)}; "
                      f"{w.written:,} rows written; phases: {phases(w)}", flush=True)
            for n in range(args.repeat):
                d, d_f = measured(lambda: delta.load(second), state)
                assert d.mode == "delta", d.mode
                f, f_f = measured(lambda: full.load(first), state)
                assert f.mode == "full", f.mode
                d_s, f_s = d_f["seconds"], f_f["seconds"]
                round_ = {"delta_s": d_s, "written": d.written, "retired": d.retired,
                          "full_s": f_s, "ratio": f_s / d_s, "phases": dict(d.phases),
                          "full_phases": dict(f.phases), "delta": d_f, "full": f_f,
                          "load_average": os.getloadavg()[0]}
                out["rounds"].append(round_)
                print(f"round {n + 1}: delta {d_s:.1f} s ({d.written:,} rows written, "
                      f"{d.retired:,} retired); full reload {f_s:.1f} s; "
                      f"full / delta = {f_s / d_s:.1f}x\n"
                      f"  delta: {figures(d_f)}; phases: {phases(d)}\n"
                      f"  full:  {figures(f_f)}; phases: {phases(f)}", flush=True)
            if not args.detect_repeat:
                return finish(out, args.users)
            memory = MemoryBackend()
            memory.load(second)
            d = delta.load(second)  # night 2 in the database, for the detections
            pull_cfg = dataclasses.replace(delta_cfg, detection="pull")
            with Neo4jBackend(pull_cfg, read_only=True) as pull:
                out["detect"] = detections(
                    {"cypher": lambda: delta.detect(config, write_findings=False).to_dict(),
                     "pull": lambda: pull.detect(config).to_dict(),
                     "memory": lambda: memory.detect(config).to_dict()},
                    args.detect_repeat)
    return finish(out, args.users)


def finish(out: dict[str, Any], users: int) -> int:
    target = ROOT / "bench" / "out" / f"neo4j-delta-{users}.json"
    target.parent.mkdir(exist_ok=True)
    target.write_text(json.dumps(out, indent=2))
    print(f"written to {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
