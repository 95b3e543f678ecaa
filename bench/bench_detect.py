"""Time every detection on one data directory: ``python bench/bench_detect.py DIR``.

Prints, for a directory of contract tables (``--synthetic USERS`` writes a
generated one there first):

* load + validate (:func:`xpg.loaders.load_dataset`) and the in-memory graph build;
* each detection's seconds (``multi_lending``, ``ring``, ``freeze_inconsistency``,
  ``restored_after_freeze``, ``limit_divergence``) plus the shared ``exposure`` and
  ``assembly`` steps, from a cold backend (``--repeat`` more cold runs);
* the ring's connected components: scipy (what xpg uses) against plain
  ``networkx.connected_components`` on the same bipartite user <-> device/identifier
  graph. networkx runs on the first ``--nx-max-edges`` edges when the graph is larger
  (both sizes printed; scipy is timed on that same subset too);
* peak resident memory.

Nothing is asserted: this script prints figures.
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import time
from pathlib import Path


def _peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _components(links, config, as_of, nx_max_edges: int) -> None:
    import networkx as nx

    from xpg.linkgraph.components import bipartite_components

    kept = links.kept(config.ring.identifier_kinds, config.ring.hub_max_users, as_of)
    user, node = kept.user, kept.node
    start = time.perf_counter()
    bipartite_components(links.n_users, links.n_nodes, user, node)
    full = time.perf_counter() - start
    print(
        f"components scipy: {full:.3f} s  on {links.n_users:,} users + {links.n_nodes:,} "
        f"devices/identifiers, {user.size:,} edges (hubs dropped: {kept.hubs.size:,})"
    )
    if user.size > nx_max_edges:
        user, node = user[:nx_max_edges], node[:nx_max_edges]
        start = time.perf_counter()
        bipartite_components(links.n_users, links.n_nodes, user, node)
        print(
            f"components scipy: {time.perf_counter() - start:.3f} s  on the first "
            f"{user.size:,} edges (networkx's size)"
        )
    start = time.perf_counter()
    g = nx.Graph()
    g.add_nodes_from(range(links.n_users))
    offset = links.n_users
    g.add_edges_from(zip(user.tolist(), (node + offset).tolist(), strict=True))
    built = time.perf_counter() - start
    start = time.perf_counter()
    groups = sum(1 for _ in nx.connected_components(g))
    walked = time.perf_counter() - start
    print(
        f"components networkx: {built + walked:.3f} s (graph build {built:.3f} s, "
        f"connected_components {walked:.3f} s) on {g.number_of_nodes():,} nodes, "
        f"{g.number_of_edges():,} edges, {groups:,} components"
    )
    del g
    gc.collect()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="directory of <table>.parquet|csv files")
    parser.add_argument("--synthetic", type=int, metavar="USERS", help="generate DIR first")
    parser.add_argument("--format", choices=("parquet", "csv"), default="parquet")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=1, help="cold detection runs")
    parser.add_argument(
        "--nx-max-edges", type=int, default=1_000_000, help="largest graph networkx gets"
    )
    parser.add_argument("--no-networkx", action="store_true", help="skip the networkx run")
    args = parser.parse_args(argv)

    from xpg.graph.memory import MemoryBackend
    from xpg.loaders import load_dataset
    from xpg.queries.detections import default_as_of, detection_steps

    from xpg.settings import load_settings

    settings = load_settings(environ={})
    config = settings.detection
    if args.synthetic:
        from xpg import synthetic

        start = time.perf_counter()
        synthetic.write(args.data, args.synthetic, args.seed, fmt=args.format, force=True)
        print(
            f"generate {args.synthetic:,} users ({args.format}): "
            f"{time.perf_counter() - start:.2f} s"
        )

    start, cpu = time.perf_counter(), time.process_time()
    dataset = load_dataset(args.data, settings).dataset
    loaded = time.perf_counter() - start
    print(
        f"load+validate: {loaded:.2f} s (cpu {time.process_time() - cpu:.2f} s)  "
        f"({dataset.users.height:,} users, {dataset.row_count:,} rows)"
    )
    as_of = default_as_of(dataset)

    backend = None
    for i in range(args.repeat):
        backend = MemoryBackend()
        start, cpu = time.perf_counter(), time.process_time()
        backend.load(dataset)
        built, built_cpu = time.perf_counter() - start, time.process_time() - cpu
        timings: dict[str, float] = {}
        start, cpu = time.perf_counter(), time.process_time()
        report = backend.detect(config, as_of=as_of, timings=timings)
        detected, detected_cpu = time.perf_counter() - start, time.process_time() - cpu
        steps = "  ".join(f"{name} {timings.get(name, 0.0):.3f}" for name in detection_steps())
        print(
            f"run {i + 1}: build {built:.2f} s (cpu {built_cpu:.2f}), "
            f"detect {detected:.2f} s (cpu {detected_cpu:.2f})  [{steps}]"
        )
        print(
            f"run {i + 1}: load+validate+build+detect {loaded + built + detected:.2f} s, "
            f"{len(report.findings):,} findings {report.summary['findings_by_type']}"
        )
        start = time.perf_counter()
        text = report.document()
        dumped = time.perf_counter() - start
        print(f"run {i + 1}: findings JSON {dumped:.2f} s ({len(text) / 2**20:,.1f} MiB)")

    print(f"peak RSS after load and detect: {_peak_rss_mib():,.0f} MiB")
    if not args.no_networkx and backend is not None:
        _components(backend.links, config, as_of, args.nx_max_edges)
    print(f"peak RSS (with networkx): {_peak_rss_mib():,.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
