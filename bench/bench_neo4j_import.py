"""First load: the offline importer against the Cypher load, ``python bench/bench_neo4j_import.py``.

For N generated users (``--users``, default 100,000; or the tables of ``--data DIR``), in one
run, each into a fresh, empty database of a throwaway server (``scripts/neo4j-local``; heap
and page cache from ``XPG_NEO4J_HEAP``/``XPG_NEO4J_PAGECACHE``, default 2g each here; the
importer runs in the server's JVM, on its heap; ``XPG_NEO4J_IMPORT_MEMORY`` caps its off-heap
memory):

1. ``offline_import`` (``xpg load --via import``): the import files written with Polars (the
   load plan and its hashes, then the CSV files), the server's database stopped,
   ``neo4j-admin database import full`` in the server's JVM, the database started again, the
   constraints and indexes built, the load marked complete; each part timed, with the
   server's and this process's CPU seconds;
2. the batched Cypher load (``xpg load``, the CREATE path into an empty database).

Prints relationships per second of both **end to end** (relationships over the whole load's
seconds, from the dataset in memory to a graph ready for ``xpg detect``: files, import,
database up again, constraints built, ``XpgMeta`` written) and their ratio, the importer's
own rate (relationships over its ``IMPORT DONE in ...`` time), checks that both graphs hold
the same counts, and writes the figures to ``bench/out/neo4j-import-<N>.json``. The load
average is printed at each stage. The machine is shared: compare figures within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench_neo4j import SCRIPT, Clock

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def fresh_server(state: Path) -> Iterator[Any]:
    """A throwaway server with an empty database in ``state`` (stopped at the end)."""
    from xpg.settings import load_settings

    env = {"XPG_NEO4J_HEAP": "2g", "XPG_NEO4J_PAGECACHE": "2g", **os.environ}
    done = subprocess.run(
        [str(SCRIPT), "start", "--state", str(state), "--watch-pid", str(os.getpid())],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"cannot start Neo4j:\n{done.stderr}")
    lines = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    try:
        yield load_settings(environ=lines).neo4j
    finally:
        subprocess.run([str(SCRIPT), "stop", "--state", str(state)], check=False)


def _duration(text: str) -> float:
    """Seconds of the importer's ``1m 23s 456ms`` (``IMPORT DONE in ...``)."""
    units = {"d": 86400, "h": 3600, "m": 60, "s": 1, "ms": 0.001}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)(ms|d|h|m|s)\b", text))


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def _result(stats: Any, clock: Clock, counts: dict[str, int]) -> dict[str, Any]:
    return {
        "nodes": stats.nodes,
        "relationships": stats.relationships,
        "seconds": stats.seconds,
        "relationships_per_s": stats.relationships / stats.seconds,
        "steps": clock.steps,
        "counts": counts,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--data", type=Path, help="load these tables instead of generating")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-cypher", action="store_true", help="only the import")
    args = parser.parse_args(argv)
    sys.stdout.reconfigure(line_buffering=True)

    from xpg.graph.neo4j import Neo4jBackend
    from xpg.graph.neo4j.importer import offline_import

    from xpg.synthetic import generate

    t = time.perf_counter()
    if args.data is not None:
        from xpg.loaders import load_dataset

        dataset = load_dataset(args.data).dataset
    else:
        dataset = generate(args.users, args.seed).dataset()
    users = dataset.users.height
    print(
        f"xpg first-load bench: {users:,} users, {dataset.row_count:,} rows "
        f"(ready in {time.perf_counter() - t:.1f} s), {os.cpu_count()} cpus"
    )
    out: dict[str, Any] = {"users": users, "seed": args.seed, "cpus": os.cpu_count()}
    state = Path(tempfile.mkdtemp(prefix="xpg-bench-import-"))

    print(f"load average before: {_load()}")
    with fresh_server(state) as config:
        clock = Clock(int((state / "pid").read_text()))
        stats = offline_import(dataset, config, state=state, progress=clock)
        with Neo4jBackend(config) as backend:
            counts = backend.counts()
        imported = out["import"] = _result(stats, clock, counts)
    print(f"\n1. offline import (xpg load --via import), load average after: {_load()}")
    print(f"  {'':<56} {'wall s':>8} {'server cpu':>10} {'xpg cpu':>8}")
    for s in imported["steps"]:
        print(f"  {s['step']:<56} {s['seconds']:>8.1f} {s['server_cpu']:>10.1f}"
              f" {s['client_cpu']:>8.1f}")  # fmt: skip
    log = state / "import.log"
    tool = re.search(r"IMPORT DONE in ([^.]+)\.", log.read_text()) if log.exists() else None
    if tool:  # the importer's own time (the rest of that step: stopping and starting)
        seconds = imported["importer_seconds"] = _duration(tool.group(1))
        rate = imported["importer_relationships_per_s"] = imported["relationships"] / seconds
        print(f"    of which the importer itself: {tool.group(1)} = {rate:,.0f} relationships/s")
    rest = imported["seconds"] - sum(s["seconds"] for s in imported["steps"])
    print(f"  {'emptiness check, XpgMeta':<56} {rest:>8.1f}")
    print(
        f"  end to end: {imported['nodes']:,} nodes, {imported['relationships']:,} relationships "
        f"in {imported['seconds']:.1f} s = {imported['relationships_per_s']:,.0f} relationships/s"
    )

    if not args.skip_cypher:
        with fresh_server(state) as config, Neo4jBackend(config) as backend:
            clock = Clock(int((state / "pid").read_text()))
            stats = backend.load(dataset, progress=clock)
            cypher = out["cypher"] = _result(stats, clock, backend.counts())
        server_cpu = sum(s["server_cpu"] for s in cypher["steps"])
        print(
            f"\n2. batched Cypher load (CREATE path): {cypher['relationships']:,} relationships "
            f"in {cypher['seconds']:.1f} s = {cypher['relationships_per_s']:,.0f} relationships/s"
            f" (server cpu {server_cpu:.1f} s), load average after: {_load()}"
        )
        ratio = out["ratio"] = imported["relationships_per_s"] / cypher["relationships_per_s"]
        same = out["same_counts"] = imported["counts"] == cypher["counts"]
        print(f"\nimport / Cypher: {ratio:.1f}x; same counts per label and type: {same}")

    folder = ROOT / "bench" / "out"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"neo4j-import-{users}.json"
    path.write_text(json.dumps(out, indent=2, default=str))
    print(f"\nwritten {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
