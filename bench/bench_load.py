"""Time load + validate of one data directory: ``python bench/bench_load.py DIR [--repeat N]``.

Prints the seconds of :func:`xpg.loaders.load_dataset` (reading, typing and
every contract check, the whole Dataset built), the rows per table, and the
peak resident memory of the process. ``--synthetic USERS`` first writes a
generated dataset of that many users into DIR (``--format parquet|csv``) with
:mod:`xpg.synthetic` and then times loading it. Nothing is asserted:
this script prints figures.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path


def _peak_rss_mib() -> float:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", type=Path, help="directory of <table>.parquet|csv files")
    parser.add_argument("--repeat", type=int, default=1, help="load this many times")
    parser.add_argument("--synthetic", type=int, metavar="USERS", help="generate DIR first")
    parser.add_argument("--format", choices=("parquet", "csv"), default="parquet")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    from xpg.loaders import load_dataset

    if args.synthetic:
        from xpg import synthetic

        start = time.perf_counter()
        synthetic.write(args.data, args.synthetic, args.seed, fmt=args.format)
        print(
            f"generate {args.synthetic:,} users ({args.format}): "
            f"{time.perf_counter() - start:.2f} s"
        )

    for i in range(args.repeat):
        start = time.perf_counter()
        result = load_dataset(args.data)
        seconds = time.perf_counter() - start
        ds = result.dataset
        print(
            f"load+validate #{i + 1}: {seconds:.2f} s  rows {ds.row_count:,}  "
            f"({ds.row_count / seconds / 1e6:.2f} M rows/s)  warnings {result.warning_total:,}"
        )
    for name, frame in ds.tables().items():
        if name in ds.present:
            print(f"  {name:<15} {frame.height:>12,} rows  {frame.estimated_size('mb'):>8.1f} MB")
    print(f"peak RSS {_peak_rss_mib():,.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
