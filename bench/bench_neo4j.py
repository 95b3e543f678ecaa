"""Neo4j write throughput and detection times: ``python bench/bench_neo4j.py [--users N]``.

Prints, for N generated users (default 100,000), or the tables of ``--data DIR``:

1. batch sizes compared on a smaller dataset (``--tune-users``);
2. one row per transaction on a small sample (``--single-users``), extrapolated to N;
3. the server's ceiling on this machine: the barest Cypher write of relationships
   (``UNWIND`` of element-id pairs, ``CREATE`` with no property) between scratch nodes, in
   batches of the load's size: what the load's rate is to be compared with;
4. the batched load into an empty database (the CREATE path) per step, and in total:
   nodes, relationships, seconds, relationships per second (relationships written divided
   by the whole load's seconds, nodes included), plus the server's and this process's CPU
   seconds (the server's only when this script started it);
5. the same data loaded again (the idempotent MERGE path: nothing changes);
6. the time of each detection in Neo4j, on the graph of step 5, against in memory (and
   whether the findings are identical).

Uses ``NEO4J_URI``/``NEO4J_USER``/``NEO4J_PASSWORD``/``NEO4J_DATABASE`` when set (the
database is wiped!), else starts a throwaway server with ``scripts/neo4j-local`` (heap and
page cache from ``XPG_NEO4J_HEAP``/``XPG_NEO4J_PAGECACHE``, default 2g each here) and stops
it at the end. ``--keep`` leaves the loaded graph in the database (for
``bench/bench_queries.py DIR --backend neo4j --in-database`` on the same server). Nothing is
asserted: figures are printed, and written as JSON to ``bench/out/neo4j-<N>.json``. The
machine is shared: compare figures within one run.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "neo4j-local"


def _cpu_of(pid: int | None) -> float:
    """CPU seconds (user + system) a process has used so far; 0 when unknown."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _own_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class Clock:
    """A Progress that records each step's rows, wall seconds and CPU seconds."""

    def __init__(self, server_pid: int | None):
        self.server_pid = server_pid
        self.steps: list[dict[str, Any]] = []

    @contextmanager
    def step(self, description: str, total: int | None = None) -> Iterator[Any]:
        done = 0

        def advance(n: int = 1) -> None:
            nonlocal done
            done += n

        start, server, own = time.perf_counter(), _cpu_of(self.server_pid), _own_cpu()
        yield advance
        self.steps.append(
            {
                "step": description,
                "rows": done,
                "seconds": time.perf_counter() - start,
                "server_cpu": _cpu_of(self.server_pid) - server,
                "client_cpu": _own_cpu() - own,
            }
        )


@contextmanager
def server() -> Iterator[tuple[Any, int | None]]:
    """(Neo4jConfig, server pid or None): the user's server, or a throwaway one."""
    from xpg.settings import load_settings

    if os.environ.get("NEO4J_URI"):
        yield load_settings().neo4j, None
        return
    state = Path(tempfile.mkdtemp(prefix="xpg-bench-neo4j-"))
    env = {
        "XPG_NEO4J_HEAP": "2g",
        "XPG_NEO4J_PAGECACHE": "2g",
        **os.environ,
    }
    done = subprocess.run(
        [str(SCRIPT), "start", "--state", str(state), "--watch-pid", str(os.getpid())],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"cannot start Neo4j:\n{done.stderr}")
    lines = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    try:
        yield load_settings(environ=lines).neo4j, int((state / "pid").read_text())
    finally:
        subprocess.run([str(SCRIPT), "stop", "--state", str(state)], check=False)
        shutil.rmtree(state, ignore_errors=True)


def wipe(backend: Any) -> None:
    """Empty the database: relationships first (a product node has too many for one
    transaction), then nodes, in bounded transactions."""
    from xpg.graph.neo4j.connection import QueryMode

    for query in ("MATCH ()-[r]->() CALL (r) { DELETE r } IN TRANSACTIONS OF 10000 ROWS",
                  "MATCH (n) CALL (n) { DELETE n } IN TRANSACTIONS OF 10000 ROWS"):
        backend.run(query, QueryMode.WRITE, retry=False)


CEILING_NODES = """
UNWIND range(0, $n - 1) AS k CREATE (x:XpgBenchCeiling) RETURN collect(elementId(x)) AS ids
"""
CEILING_RELATIONSHIPS = """
UNWIND range(0, size($a) - 1) AS k
MATCH (x:XpgBenchCeiling) WHERE elementId(x) = $a[k]
MATCH (y:XpgBenchCeiling) WHERE elementId(y) = $b[k]
CREATE (x)-[:XPG_BENCH_CEILING]->(y)
"""


def ceiling(backend: Any, relationships: int, batch: int, pid: int | None) -> dict[str, Any]:
    """Relationships per second of the barest Cypher write on this server: pairs of
    element ids seeked and linked by CREATE, no property, ``batch`` rows a transaction,
    between ``relationships // 4`` scratch nodes (wiped afterwards)."""
    import random

    from xpg.graph.neo4j.connection import QueryMode

    nodes: list[str] = []
    count = max(2, relationships // 4)
    for start in range(0, count, batch):
        nodes += backend.run(CEILING_NODES, QueryMode.WRITE, n=min(batch, count - start))[0]["ids"]
    rng = random.Random(relationships)
    a = [nodes[rng.randrange(count)] for _ in range(relationships)]
    b = [nodes[rng.randrange(count)] for _ in range(relationships)]
    server0, own0, start = _cpu_of(pid), _own_cpu(), time.perf_counter()
    for k in range(0, relationships, batch):
        backend.run(CEILING_RELATIONSHIPS, QueryMode.WRITE, a=a[k:k + batch], b=b[k:k + batch])
    seconds = time.perf_counter() - start
    result = {
        "relationships": relationships,
        "seconds": seconds,
        "relationships_per_s": relationships / seconds,
        "server_cpu": _cpu_of(pid) - server0,
        "client_cpu": _own_cpu() - own0,
    }
    wipe(backend)
    return result


def load(backend: Any, dataset: Any, pid: int | None) -> dict[str, Any]:
    clock = Clock(pid)
    server0, own0 = _cpu_of(pid), _own_cpu()
    stats = backend.load(dataset, progress=clock)
    return {
        "nodes": stats.nodes,
        "relationships": stats.relationships,
        "seconds": stats.seconds,
        "relationships_per_s": stats.relationships / stats.seconds,
        "server_cpu": _cpu_of(pid) - server0,
        "client_cpu": _own_cpu() - own0,
        "steps": clock.steps,
    }


def show_load(title: str, result: dict[str, Any]) -> None:
    print(f"\n{title}")
    print(f"  {'step':<44} {'rows':>9} {'s':>7} {'rows/s':>9} {'server cpu':>10} {'client':>7}")
    for s in result["steps"]:
        rate = s["rows"] / s["seconds"] if s["seconds"] > 0 else 0.0
        print(
            f"  {s['step']:<44} {s['rows']:>9,} {s['seconds']:>7.2f} {rate:>9,.0f} "
            f"{s['server_cpu']:>10.2f} {s['client_cpu']:>7.2f}"
        )
    print(
        f"  total: {result['nodes']:,} nodes, {result['relationships']:,} relationships in "
        f"{result['seconds']:.1f} s = {result['relationships_per_s']:,.0f} relationships/s "
        f"(server cpu {result['server_cpu']:.1f} s, client cpu {result['client_cpu']:.1f} s)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--data", type=Path, help="load these tables instead of generating")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=20_000)
    parser.add_argument("--batch-sizes", default="5000,10000,20000,50000")
    parser.add_argument("--tune-users", type=int, default=20_000)
    parser.add_argument("--single-users", type=int, default=300)
    parser.add_argument("--skip-tune", action="store_true")
    parser.add_argument("--ceiling-relationships", type=int, default=400_000)
    parser.add_argument("--skip-reload", action="store_true", help="no step 5")
    parser.add_argument("--skip-detect", action="store_true")
    parser.add_argument("--keep", action="store_true",
                        help="leave the loaded graph in the database at the end")
    args = parser.parse_args(argv)
    if args.ceiling_relationships < 1:
        parser.error("--ceiling-relationships: at least 1")
    sys.stdout.reconfigure(line_buffering=True)  # figures appear as they come, also in a file

    from xpg.graph.memory import MemoryBackend
    from xpg.graph.neo4j import Neo4jBackend

    from xpg.settings import DetectionConfig
    from xpg.synthetic import generate

    t = time.perf_counter()
    if args.data is not None:
        from xpg.loaders import load_dataset

        dataset = load_dataset(args.data).dataset
        source = f"loaded and validated from {args.data}"
    else:
        dataset = generate(args.users, args.seed).dataset()
        source = "generated"
    users = dataset.users.height
    out: dict[str, Any] = {"users": users, "seed": args.seed, "cpus": os.cpu_count()}
    print(
        f"xpg Neo4j bench: {users:,} users, {dataset.row_count:,} rows "
        f"({source} in {time.perf_counter() - t:.1f} s), {os.cpu_count()} cpus"
    )
    with server() as (config, pid):
        config = dataclasses.replace(config, batch_size=args.batch_size)
        print(
            f"server {config.redacted_uri} database {config.database!r}; batch {args.batch_size:,}"
        )
        with Neo4jBackend(config) as backend:
            # warm the server's JIT and query caches on a smaller load first (a server that
            # has run for a while is warm; the first big step would otherwise pay for it)
            wipe(backend)
            backend.load(generate(min(10_000, users), args.seed + 1).dataset())
            wipe(backend)

            if not args.skip_tune:
                tune = generate(min(args.tune_users, users), args.seed + 2).dataset()
                print(f"\n1. batch sizes, {min(args.tune_users, users):,} users")
                out["batch_sizes"] = {}
                for size in (int(s) for s in args.batch_sizes.split(",")):
                    wipe(backend)
                    sized = Neo4jBackend(dataclasses.replace(config, batch_size=size),
                                         driver=backend.driver)  # fmt: skip
                    result = load(sized, tune, pid)
                    out["batch_sizes"][size] = result
                    print(
                        f"  batch {size:>6,}: {result['relationships']:,} relationships in "
                        f"{result['seconds']:6.1f} s = {result['relationships_per_s']:9,.0f}/s"
                    )

            small = generate(args.single_users, args.seed + 3).dataset()
            wipe(backend)
            one = Neo4jBackend(dataclasses.replace(config, batch_size=1), driver=backend.driver)
            single = load(one, small, pid)
            wipe(backend)
            print(
                f"\n2. one row per transaction, {args.single_users:,} users: "
                f"{single['relationships']:,} relationships in {single['seconds']:.1f} s = "
                f"{single['relationships_per_s']:,.0f}/s"
            )

            top = ceiling(backend, args.ceiling_relationships, args.batch_size, pid)
            out["ceiling"] = top
            print(
                f"\n3. the server's Cypher ceiling: {top['relationships']:,} bare relationships "
                f"(element-id seeks, CREATE, no property) in {top['seconds']:.1f} s = "
                f"{top['relationships_per_s']:,.0f}/s (server cpu {top['server_cpu']:.1f} s, "
                f"client cpu {top['client_cpu']:.1f} s)"
            )

            first = load(backend, dataset, pid)
            show_load("4. batched load into an empty database (CREATE path)", first)
            entities = (first["nodes"] + first["relationships"]) / first["seconds"]
            print(
                f"  = {first['relationships_per_s'] / top['relationships_per_s']:.0%} of the "
                f"ceiling's relationships/s; nodes and relationships together "
                f"{entities:,.0f}/s ({entities / top['relationships_per_s']:.0%})"
            )
            if not args.skip_reload:
                counts = backend.counts()
                again = out["reload"] = load(backend, dataset, pid)
                show_load("5. the same data loaded again (MERGE path)", again)
                unchanged = out["reload_counts_unchanged"] = backend.counts() == counts
                print(f"  node and relationship counts unchanged: {unchanged}")
            rate = single["relationships_per_s"]
            extrapolated = first["relationships"] / rate
            print(
                f"  one row per transaction (step 2) would take {extrapolated:,.0f} s "
                f"({extrapolated / 3600:.1f} h) for these {first['relationships']:,} "
                f"relationships against {first['seconds']:.0f} s batched "
                f"({extrapolated / first['seconds']:,.0f}x)"
            )
            out |= {"batched": first, "single_row": single | {"extrapolated_seconds": extrapolated}}

            if not args.skip_detect:  # on the graph as steps 4-5 left it: the dataset's
                memory = MemoryBackend()
                memory.load(dataset)
                detection = DetectionConfig()
                in_memory: dict[str, float] = {}
                in_neo4j: dict[str, float] = {}
                t = time.perf_counter()
                expected = memory.detect(detection, timings=in_memory).to_dict()
                memory_total = time.perf_counter() - t
                t = time.perf_counter()
                got = backend.detect(detection, timings=in_neo4j, write_findings=False)
                neo4j_total = time.perf_counter() - t
                t = time.perf_counter()
                backend.write_findings(got, detection)
                write_s = time.perf_counter() - t
                same = got.to_dict() == expected
                print(f"\n6. detections ({len(got.findings):,} findings; identical: {same})")
                print(f"  {'step':<24} {'neo4j s':>9} {'memory s':>9} {'ratio':>7}")
                for name in in_neo4j:
                    mem = in_memory.get(name, 0.0)
                    ratio = f"{in_neo4j[name] / mem:6.0f}x" if mem > 0 else f"{'':>7}"
                    print(f"  {name:<24} {in_neo4j[name]:>9.2f} {mem:>9.2f} {ratio}")
                print(f"  {'total':<24} {neo4j_total:>9.2f} {memory_total:>9.2f} "
                      f"{neo4j_total / memory_total:6.0f}x")
                print(f"  writing the findings back: {write_s:.2f} s")
                out["detect"] = {
                    "neo4j": in_neo4j,
                    "memory": in_memory,
                    "neo4j_total": neo4j_total,
                    "memory_total": memory_total,
                    "write_findings": write_s,
                    "identical": same,
                    "findings": len(got.findings),
                }
            if args.keep:
                print("\nthe graph is left in the database (--keep)")
            else:
                wipe(backend)
    target = ROOT / "bench" / "out" / f"neo4j-{users}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(out, indent=2, default=str))
    print(f"\nwritten to {target.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
