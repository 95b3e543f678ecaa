"""Local Spark against the in-memory backend on one data directory.

    .venv/bin/xpg generate --users 100000 --seed 1 --out /tmp/xpg-100k
    .venv/bin/python bench/bench_spark.py /tmp/xpg-100k --runs 3

For each of ``--runs`` runs, in this one process: the in-memory backend (load of the
validated tables into it, then every detection) and the Spark backend on a local
SparkSession (``--master``, default ``local[2]``): the tables handed over through Arrow,
then every detection; and, with ``--parquet``, Spark reading the Parquet files itself
(``file://`` URI) instead. The SparkSession is started once, before the first run
(its start is printed on its own: a cluster pays it once per job too). Every Spark
report is checked to equal the in-memory one, ids included.

Printed: per run and backend the load and detect seconds, each detection step's
seconds, and the ring components' propagation passes; then the median of the runs.
Nothing is asserted beyond the equality: this script prints figures.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--shuffle-partitions", type=int, default=4)
    parser.add_argument("--driver-memory", default="2g")
    parser.add_argument("--parquet", action="store_true",
                        help="also let Spark read the Parquet files itself (file:// URI)")
    args = parser.parse_args()

    from xpg.graph.memory import MemoryBackend
    from xpg.graph.spark.backend import SparkBackend
    from xpg.graph.spark.session import spark_session
    from xpg.loaders import load_dataset

    from xpg.settings import SparkConfig, load_settings

    settings = load_settings(environ={})
    config = SparkConfig(master=args.master, shuffle_partitions=args.shuffle_partitions,
                         driver_memory=args.driver_memory)
    start = time.perf_counter()
    dataset = load_dataset(args.data, settings).dataset
    print(f"load + validate (Polars): {time.perf_counter() - start:.2f} s, "
          f"{dataset.users.height:,} users, {dataset.row_count:,} rows")
    start = time.perf_counter()
    session = spark_session(config)
    print(f"SparkSession start ({args.master}, {args.shuffle_partitions} shuffle partitions): "
          f"{time.perf_counter() - start:.2f} s")

    figures: dict[str, list[tuple[float, float]]] = {}

    def record(name: str, load_s: float, detect_s: float, timings: dict[str, float],
               extra: str = "") -> None:
        figures.setdefault(name, []).append((load_s, detect_s))
        steps = ", ".join(f"{k} {v:.2f}" for k, v in timings.items())
        print(f"  {name:<14} load {load_s:7.2f} s  detect {detect_s:7.2f} s  ({steps}){extra}")

    uri = args.data.resolve().as_uri()
    for run in range(1, args.runs + 1):
        print(f"run {run}")
        memory = MemoryBackend()
        start = time.perf_counter()
        memory.load(dataset)
        loaded = time.perf_counter()
        timings: dict[str, float] = {}
        expected = memory.detect(settings.detection, timings=timings)
        record("memory", loaded - start, time.perf_counter() - loaded, timings)
        memory.close()
        sources = [("spark (arrow)", lambda b: b.load(dataset))]
        if args.parquet:
            sources.append(("spark (parquet)", lambda b: b.read_tables(uri)))
        for name, load in sources:
            backend = SparkBackend(config, session=session)
            start = time.perf_counter()
            load(backend)
            loaded = time.perf_counter()
            timings = {}
            report = backend.detect(settings.detection, timings=timings)
            record(name, loaded - start, time.perf_counter() - loaded, timings,
                   f"  passes {backend.hooks.ring_passes}")
            assert report.to_dict() == expected.to_dict(), f"{name}: findings differ"
            backend.close()
    print(f"median of {args.runs} run(s), seconds (load, detect, total):")
    for name, runs in figures.items():
        load_s = statistics.median(r[0] for r in runs)
        detect_s = statistics.median(r[1] for r in runs)
        total = statistics.median(r[0] + r[1] for r in runs)
        print(f"  {name:<16} {load_s:8.2f} {detect_s:8.2f} {total:8.2f}")
    session.stop()


if __name__ == "__main__":
    main()
