"""End-to-end figures: ``python bench/run.py [--sizes N ...] [--cache DIR]`` (``make bench``).

For each size, runs each stage as its own fresh process (the way a scheduler runs
xpg) and records its wall seconds, CPU seconds (user + system) and peak resident
memory:

1. ``xpg generate`` of N users, Parquet and CSV, once per size and seed: the data is
   cached under ``--cache`` (default ``bench/out/data``, gitignored) and reused;
2. ``xpg detect`` from each format: load, validate, build, every detection and the
   findings JSON written to a file (the end-to-end figure); the two findings files
   are compared byte for byte;
3. ``bench/bench_detect.py`` on the Parquet data (its output is printed as is): each
   detection's seconds and the ring components with scipy against networkx.

It also measures this machine's memory bandwidth (a numpy copy of a 512 MiB array:
bytes read + written per second), the limit any pass over the data meets, and gives
each ``detect`` stage's input bytes per second as a fraction of it.

Writes ``bench/results/latest.json`` (``--results``). Nothing is asserted: the
machine is shared and noisy, so CPU seconds say more than wall seconds; compare
ratios within one run rather than figures across runs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
HERE = Path(__file__).resolve().parent


def run(label: str, argv: list[str]) -> dict[str, float | str]:
    """Run ``argv`` in a fresh process; print and return its wall seconds, CPU seconds
    and peak RSS MiB (that process alone)."""
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
    return {"stage": label, "wall_s": round(wall, 3), "cpu_s": round(cpu, 3),
            "peak_mib": round(peak, 1)}


def memory_bandwidth(mib: int = 512, repeat: int = 5) -> float:
    """Bytes per second of a numpy copy of a ``mib`` MiB array (read + write), best of
    ``repeat``, measured in a child process (the arrays would otherwise count in the
    peak memory of every stage started after it)."""
    code = (f"import sys; sys.path.insert(0, {str(HERE)!r}); import run; "
            f"print(run._copy_rate({mib}, {repeat}))")
    done = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return float(done.stdout)


def _copy_rate(mib: int, repeat: int) -> float:
    import numpy as np

    src = np.ones(mib * 2**20 // 8, dtype=np.float64)
    dst = np.empty_like(src)
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - start)
    return 2 * src.nbytes / best


def _dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.iterdir() if p.is_file())


def _data(cache: Path, users: int, seed: int, fmt: str, xpg: str) -> tuple[Path, dict | None]:
    """The cached data folder of (users, seed, fmt), generated (and timed) when missing."""
    out = cache / f"{users}-s{seed}" / fmt
    if (out / ".complete").exists():
        return out, None
    out.parent.mkdir(parents=True, exist_ok=True)
    stage = run(f"generate ({fmt})", [xpg, "generate", "--users", str(users), "--seed",
                                     str(seed), "--out", str(out), "--format", fmt, "--force"])
    (out / ".complete").write_text("")
    return out, stage


def bench_size(users: int, seed: int, cache: Path, bandwidth: float, components: bool) -> dict:
    """Every stage at one size: generate (when not cached), detect from Parquet and CSV."""
    xpg = str(BIN / "xpg")
    print(f"--- {users:,} users, seed {seed}", flush=True)
    stages = []
    folders = {}
    for fmt in ("parquet", "csv"):
        folders[fmt], generated = _data(cache, users, seed, fmt, xpg)
        if generated is not None:
            stages.append(generated)
    findings = {}
    for fmt in ("parquet", "csv"):
        findings[fmt] = folders[fmt].parent / f"findings-{fmt}.json"
        stage = run(f"detect end-to-end ({fmt})",
                    [xpg, "detect", "--data", str(folders[fmt]), "--format", "json",
                     "--out", str(findings[fmt])])
        size = _dir_bytes(folders[fmt])
        stage.update(
            input_bytes=size,
            users_per_s=round(users / stage["wall_s"]),
            cpu_us_per_user=round(stage["cpu_s"] / users * 1e6, 2),
            peak_bytes_per_user=round(stage["peak_mib"] * 2**20 / users),
            bandwidth_fraction=size / stage["wall_s"] / bandwidth,
        )
        stages.append(stage)
    same = findings["parquet"].read_bytes() == findings["csv"].read_bytes()
    print(f"findings identical from Parquet and CSV: {same}", flush=True)
    result = {"users": users, "seed": seed, "stages": stages, "parquet_csv_identical": same}
    if components:
        print("--- per detection, and components scipy vs networkx (bench/bench_detect.py)",
              flush=True)
        done = subprocess.run([sys.executable, str(HERE / "bench_detect.py"),
                               str(folders["parquet"])], check=True, capture_output=True,
                              text=True)
        print(done.stdout, end="", flush=True)
        result["bench_detect"] = done.stdout.splitlines()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000_000],
                        help="numbers of users, one run each (default 1000000)")
    parser.add_argument("--users", type=int, help="one size instead of --sizes")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cache", type=Path, default=HERE / "out" / "data",
                        help="generated data, reused per (size, seed, format)")
    parser.add_argument("--results", type=Path, default=HERE / "results" / "latest.json")
    parser.add_argument("--skip-components", action="store_true")
    args = parser.parse_args(argv)
    if args.users is not None:
        args.sizes = [args.users]

    bandwidth = memory_bandwidth()
    load = os.getloadavg()
    print(f"xpg bench: sizes {args.sizes}, {os.cpu_count()} cpus, load {load[0]:.1f}, "
          f"memory bandwidth {bandwidth / 1e9:.1f} GB/s (numpy copy, read + write)", flush=True)
    sizes = [bench_size(n, args.seed, args.cache, bandwidth, not args.skip_components)
             for n in dict.fromkeys(args.sizes)]
    doc = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version(), "load_average": load,
                    "memory_bandwidth_bytes_per_s": bandwidth},
        "sizes": sizes,
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"written to {args.results}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
