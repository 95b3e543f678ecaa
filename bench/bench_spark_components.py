"""Ring components on Spark: large-star/small-star (log rounds) against min-label
propagation, on the same kept links, in one process.

    .venv/bin/python bench/bench_spark_components.py --users 100000 --shape mixed --runs 3
    .venv/bin/python bench/bench_spark_components.py --chain 100000 --runs 1

The links are those the ring rule keeps: every device and identifier of an enabled kind
with 2 to ``hub_max_users`` users (the hub cut done in Polars here), from ``xpg
generate`` data (``--users``, ``--seed``, ``--shape``) or a chain of ``--chain`` users
(the worst case for propagation: one pass per user). Both algorithms get the same
Spark DataFrame; their labels are checked to be equal (and, for data that fits,
against scipy's components through the memory backend's ``Links``).

Printed per run and algorithm: wall seconds, the Spark JVM's CPU seconds (from
/proc, so it counts the executors' threads in local mode), rounds or passes, and for
log rounds the shuffle bytes and edges per round; then the medians and the ratio
propagation / log rounds. ``--max-passes`` stops propagation early (it then reports
"did not converge" and the time it took to give up). Nothing is asserted beyond the
equality of the labels.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time


def _jvm_cpu(spark) -> float:
    """CPU seconds of the Spark JVM so far (utime + stime of its process)."""
    pid = spark.sparkContext._jvm.java.lang.ProcessHandle.current().pid()
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _generated_links(users: int, seed: int, shape: str):
    import polars as pl

    from xpg.synthetic import generate

    dataset = generate(users, seed, shape=shape).dataset()
    links = pl.concat([
        dataset.devices.select("user_id", pl.lit("device").alias("kind"),
                               pl.col("device_id").alias("value")),
        dataset.identifiers.select("user_id", "kind", "value"),
    ]).unique()
    counted = links.with_columns(pl.len().over("kind", "value").alias("users"))
    return counted.filter(pl.col("users").is_between(2, 20)).select("user_id", "kind", "value")


def _chain_links(users: int):
    import polars as pl

    steps = pl.DataFrame({"i": pl.int_range(0, users - 1, eager=True)})
    name = lambda i: pl.format("u{}", i.cast(pl.String).str.zfill(7))  # noqa: E731
    node = pl.format("n{}", pl.col("i")).alias("value")
    kind = pl.lit("device").alias("kind")
    return pl.concat([
        steps.select(name(pl.col("i")).alias("user_id"), kind, node),
        steps.select(name(pl.col("i") + 1).alias("user_id"), kind, node),
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--shape", default="mixed")
    parser.add_argument("--chain", type=int, default=0, help="a chain of N users instead")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--master", default="local[2]")
    parser.add_argument("--shuffle-partitions", type=int, default=4)
    parser.add_argument("--driver-memory", default="4g")
    parser.add_argument("--max-passes", type=int, default=10_000)
    args = parser.parse_args()

    from xpg.graph.spark.components import log_round_components, min_label_components
    from xpg.graph.spark.session import spark_session

    from xpg.errors import BackendError
    from xpg.settings import SparkConfig

    links = _chain_links(args.chain) if args.chain else _generated_links(
        args.users, args.seed, args.shape)
    what = (f"chain of {args.chain:,} users" if args.chain
            else f"{args.users:,} users, {args.shape}, seed {args.seed}")
    print(f"{what}: {links.height:,} kept links; load {os.getloadavg()[0]:.1f}")
    spark = spark_session(SparkConfig(master=args.master, app_name="bench-components",
                                      shuffle_partitions=args.shuffle_partitions,
                                      driver_memory=args.driver_memory))
    frame = spark.createDataFrame(links.to_arrow()).localCheckpoint(eager=True)

    figures: dict[str, list[tuple[float, float]]] = {"log_round": [], "min_label": []}
    for run in range(1, args.runs + 1):
        labels = {}
        for name, compute in (("log_round", log_round_components),
                              ("min_label", lambda f: min_label_components(
                                  f, max_passes=args.max_passes))):
            cpu, wall = _jvm_cpu(spark), time.perf_counter()
            try:
                result = compute(frame)
                labels[name] = sorted(map(tuple, result.labels.collect()))
                steps = f"{result.passes} {'rounds' if name == 'log_round' else 'passes'}"
            except BackendError as e:
                steps = f"gave up: {e}"
            wall, cpu = time.perf_counter() - wall, _jvm_cpu(spark) - cpu
            figures[name].append((wall, cpu))
            extra = ""
            if name == "log_round":
                shuffled = [b for b in result.shuffle_bytes if b is not None]
                extra = (f"; shuffle {sum(shuffled) / 2**20:.1f} MiB over the rounds, edges "
                         f"per round {result.edges}")
            print(f"run {run} {name}: {wall:.2f} s wall, {cpu:.2f} JVM CPU s, {steps}{extra}; "
                  f"load {os.getloadavg()[0]:.1f}")
        if len(labels) == 2:
            assert labels["log_round"] == labels["min_label"], "the labellings differ"
    walls = {k: statistics.median(w for w, _ in v) for k, v in figures.items()}
    cpus = {k: statistics.median(c for _, c in v) for k, v in figures.items()}
    for name in figures:
        print(f"median {name}: {walls[name]:.2f} s wall, {cpus[name]:.2f} JVM CPU s")
    print(f"propagation / log rounds: {walls['min_label'] / walls['log_round']:.2f}x wall, "
          f"{cpus['min_label'] / max(cpus['log_round'], 1e-9):.2f}x CPU")
    spark.stop()


if __name__ == "__main__":
    main()
