"""Latency of the investigative queries: ``python bench/bench_queries.py [DIR]``.

Prints the median and 95th percentile latency (milliseconds) of ``query user`` (hops 1) and
``query ring`` on an opened session, per backend, plus the one-off costs (load, findings,
the first query, which builds the sorted lookup tables). Without DIR, ``--synthetic USERS``
generates a dataset into a temporary folder first (default 100,000 users).

* ``--backend memory`` (default), ``neo4j`` or ``both``. Neo4j uses ``NEO4J_URI``,
  ``NEO4J_USER``, ``NEO4J_PASSWORD`` (``scripts/neo4j-local start`` prints them); the data
  is loaded into it first, unless ``--in-database``: then the session answers from the graph
  already there (its last complete load, e.g. left by ``bench/bench_neo4j.py --data DIR
  --keep``), which must be DIR's tables; DIR is still read to pick the users asked. A
  second session then times reading the findings back (no detection).
* Users asked: a seeded sample mixing flagged users (in findings, so with neighbours and
  findings to gather) and ordinary ones; rings: every ring finding, cycled.

Goal (issue 4): p95 under 50 ms in memory and under 200 ms on Neo4j at 1,000,000 users.
Nothing is asserted: this script prints figures.

Examples
--------
    python bench/bench_queries.py --synthetic 100000 --queries 300
    python bench/bench_queries.py /data/snapshot --backend both
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def _timed(calls: list[Callable[[], object]]) -> list[float]:
    out = []
    for call in calls:
        start = time.perf_counter()
        call()
        out.append((time.perf_counter() - start) * 1000)
    return out


def _line(name: str, ms: list[float]) -> str:
    return (f"  {name:<16} n={len(ms):>5}  median {statistics.median(ms):8.2f} ms  "
            f"p95 {_percentile(ms, 0.95):8.2f} ms  max {max(ms):8.2f} ms")


def bench(data: Path, backend: str, queries: int, seed: int, in_database: bool = False) -> None:
    from xpg.loaders import load_dataset

    import xpg
    from xpg.settings import load_settings

    settings = load_settings(overrides={"backend": backend})
    start = time.perf_counter()
    dataset = load_dataset(data, settings).dataset
    loaded = time.perf_counter() - start
    print(f"[{backend}] {dataset.users.height:,} users, {dataset.row_count:,} rows; "
          f"load+validate {loaded:.2f} s")
    start = time.perf_counter()
    given = {} if in_database and backend == "neo4j" else {"dataset": dataset}
    with xpg.open(settings=settings, **given) as s:
        into = "the graph already loaded" if not given else "into the backend"
        print(f"[{backend}] {into}: {time.perf_counter() - start:.2f} s")
        start = time.perf_counter()
        report = s.findings()
        print(f"[{backend}] findings: {len(report.findings):,} in "
              f"{time.perf_counter() - start:.2f} s")
        rng = random.Random(seed)
        flagged = sorted({u for f in report.findings for u in f.users})
        everyone = dataset.users.get_column("user_id")
        ordinary = everyone.sample(min(queries, everyone.len()), seed=seed).to_list()
        half = queries // 2
        users = rng.sample(flagged, min(half, len(flagged))) + ordinary[: queries - half]
        rng.shuffle(users)
        rings = sorted(f.id for f in report.findings if f.type == "ring")

        start = time.perf_counter()
        s.user(users[0])
        if rings:
            s.ring(rings[0])
        print(f"[{backend}] first queries (lookup tables built): "
              f"{time.perf_counter() - start:.2f} s")
        user_ms = _timed([lambda u=u: s.user(u, hops=1) for u in users])
        print(_line("query user", user_ms))
        if rings:
            ring_ids = [rings[i % len(rings)] for i in range(queries)]
            ring_ms = _timed([lambda r=r: s.ring(r) for r in ring_ids])
            print(_line("query ring", ring_ms))
        else:
            print("  query ring       no ring findings in this data")
        pairs = [(users[i], users[-1 - i]) for i in range(min(50, len(users) // 2))]
        path_ms = _timed([lambda a=a, b=b: s.path(a, b) for a, b in pairs])
        print(_line("query path", path_ms))
    if backend == "neo4j":  # a later session on the same graph reads the findings back
        with xpg.open(settings=settings) as s:
            start = time.perf_counter()
            again = s.findings()
            print(f"[{backend}] findings in a new session on the same graph (read back): "
                  f"{len(again.findings):,} in {time.perf_counter() - start:.2f} s; "
                  f"identical: {again.to_dict() == report.to_dict()}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("data", nargs="?", type=Path, help="a directory of contract tables")
    p.add_argument("--synthetic", type=int, default=100_000, metavar="USERS",
                   help="without DIR: generate this many users first (default 100,000)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--queries", type=int, default=300, help="queries of each kind")
    p.add_argument("--backend", choices=("memory", "neo4j", "both"), default="memory")
    p.add_argument("--in-database", action="store_true",
                   help="Neo4j: query the graph already loaded instead of loading DIR")
    args = p.parse_args(argv)
    if args.in_database and (args.data is None or args.backend == "memory"):
        p.error("--in-database: give DIR (the tables loaded in the database) and a Neo4j backend")
    backends = ["memory", "neo4j"] if args.backend == "both" else [args.backend]
    with tempfile.TemporaryDirectory(prefix="xpg-bench-") as tmp:
        data = args.data
        if data is None:
            from xpg.synthetic import write

            data = Path(tmp) / "data"
            start = time.perf_counter()
            write(data, args.synthetic, args.seed)
            print(f"generated {args.synthetic:,} users in {time.perf_counter() - start:.1f} s "
                  f"into {data}")
        for backend in backends:
            try:
                bench(data, backend, args.queries, args.seed, args.in_database)
            except Exception as e:  # one backend's failure does not hide the other's figures
                print(f"[{backend}] failed: {type(e).__name__}: {e}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
