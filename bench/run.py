"""End-to-end figures for issue 2: ``python bench/run.py [--users N] [--work DIR]``.

Runs each step as its own process (the way a scheduler runs xpg) and prints
wall seconds and that process's peak resident memory:

1. ``xpg generate`` of N users, Parquet and CSV;
2. ``xpg detect`` from each format: load, validate, build, every detection and the
   findings JSON written to a file — the figure the issue's goal is about;
3. ``bench/bench_detect.py`` on the Parquet data: the time of each detection, and the
   ring components with scipy against plain networkx in the same run.

Nothing is asserted: figures are printed. The machine is shared and noisy; compare
ratios within one run rather than figures across runs.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def run(label: str, argv: list[str]) -> tuple[float, float]:
    """Run ``argv``; print and return (wall seconds, peak RSS MiB) of that process alone.

    Also printed: the CPU seconds (user + system) of that process, which depend much
    less than wall seconds on the other jobs of a shared machine.
    """
    start = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        err.seek(0)
        messages = err.read().decode("utf-8", "replace")
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    peak = usage.ru_maxrss / 1024  # KiB on Linux
    cpu = usage.ru_utime + usage.ru_stime
    print(
        f"{label:<34} {wall:8.2f} s   cpu {cpu:7.2f} s   peak {peak:8.0f} MiB   exit {code}",
        flush=True,
    )
    if code != 0:
        raise SystemExit(f"{label} failed with exit code {code}:\n{messages}")
    return wall, peak


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--work", type=Path, help="scratch folder (default: a temp dir, removed)")
    parser.add_argument("--skip-components", action="store_true")
    args = parser.parse_args(argv)

    work = args.work or Path(tempfile.mkdtemp(prefix="xpg-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    xpg = str(BIN / "xpg")
    print(f"xpg end-to-end: {args.users:,} users, seed {args.seed}, {os.cpu_count()} cpus")
    try:
        for fmt in ("parquet", "csv"):
            out = work / fmt
            shutil.rmtree(out, ignore_errors=True)
            run(
                f"generate ({fmt})",
                [xpg, "generate", "--users", str(args.users), "--seed", str(args.seed),
                 "--out", str(out), "--format", fmt],
            )
        for fmt in ("parquet", "csv"):
            run(
                f"detect end-to-end ({fmt})",
                [xpg, "detect", "--data", str(work / fmt), "--format", "json",
                 "--out", str(work / f"findings-{fmt}.json")],
            )
        same = (work / "findings-parquet.json").read_bytes() == (
            work / "findings-csv.json"
        ).read_bytes()
        print(f"findings identical from Parquet and CSV: {same}", flush=True)
        if not args.skip_components:
            print("--- per detection, and components scipy vs networkx (bench/bench_detect.py)")
            subprocess.run(
                [sys.executable, str(Path(__file__).with_name("bench_detect.py")),
                 str(work / "parquet")],
                check=True,
            )
    finally:
        if args.work is None:
            shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
