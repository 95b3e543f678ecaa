"""Peak memory of a load as a multiple of the input size:
``python bench/bench_load_memory.py [--users N] [--dir DIR]``.

For CSV and Parquet alike, writes a generated dataset of N users (:mod:`xpg.synthetic`),
then loads it with :func:`xpg.loaders.load_dataset` in a fresh process and prints the
input's size on disk, the process's peak resident memory, the memory it held before
loading (Python, Polars and xpg imported), the ratio (peak - before) / input, and the CPU
seconds of the bounds scan alone (``scan_bounds``: it is part of the load's figures too). The
estimate that refuses a load (``PEAK_MEMORY_FACTOR`` in ``xpg/loaders/sources.py``,
docs/configuration.md "Bounded input") is set above the ratios measured here. Nothing is
asserted: this script prints figures.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

_CHILD = r"""
import json, resource, sys, time
from xpg.loaders import load_dataset
def rss():
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
before = rss()
import dataclasses
from xpg.loaders.sources import discover, scan_bounds
scan = time.process_time()
for tf in discover(__import__("pathlib").Path(sys.argv[1])).found.values():
    scan_bounds(dataclasses.replace(tf, max_field_bytes=1 << 20, max_rows=10**9))
scan = time.process_time() - scan
start, cpu = time.perf_counter(), time.process_time()
result = load_dataset(sys.argv[1])
wall, cpu = time.perf_counter() - start, time.process_time() - cpu
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({"before": before, "peak": peak, "rows": result.dataset.row_count,
                  "wall": wall, "cpu": cpu, "scan": scan}))
"""


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()
               and p.suffix in (".csv", ".parquet"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--dir", type=Path, help="where to write the data (a temporary folder)")
    args = parser.parse_args(argv)
    from xpg import synthetic

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        print(f"{'format':<8} {'input MB':>9} {'rows':>10} {'peak MB':>8} {'before MB':>9} "
              f"{'ratio':>6} {'wall s':>7} {'cpu s':>6} {'bounds cpu s':>12}")
        for fmt in ("csv", "parquet"):
            folder = Path(tmp) / fmt
            synthetic.write(folder, args.users, 7, fmt=fmt)
            out = subprocess.run([sys.executable, "-c", _CHILD, str(folder)], check=True,
                                 capture_output=True, text=True).stdout
            m = json.loads(out.strip().splitlines()[-1])
            size = _size(folder)
            ratio = (m["peak"] - m["before"]) / size
            print(f"{fmt:<8} {size / 2**20:>9.1f} {m['rows']:>10,} {m['peak'] / 2**20:>8.0f} "
                  f"{m['before'] / 2**20:>9.0f} {ratio:>6.2f} {m['wall']:>7.2f} {m['cpu']:>6.2f} "
                  f"{m['scan']:>12.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
