"""End-to-end figures: ``python bench/run.py [--sizes N ...] [--cache DIR]`` (``make bench``).

For each size, runs each stage as its own fresh process (the way a scheduler runs
xpg) and records its wall seconds, CPU seconds (user + system) and peak resident
memory:

1. ``xpg generate`` of N users, Parquet and CSV, once per size and seed: the data is
   cached under ``--cache`` (default ``bench/out/data``, gitignored) and reused;
2. ``xpg detect`` from each format with the stored state off (``state.write = false``:
   load, validate, build, every detection and the findings JSON written to a file, the
   end-to-end figure); the two findings files are compared byte for byte; then from
   Parquet with the stored state written (into a fresh folder), the default;
3. ``xpg report`` from Parquet (the nightly report: page, tables, findings, state);
4. ``bench/bench_nightly.py``: a full run against the incremental run given the change
   set of 1% of the users (``--nightly-fraction``), findings compared byte for byte;
5. ``bench/bench_detect.py`` on the Parquet data (its output is printed as is): each
   detection's seconds and the ring components with scipy against networkx;
6. ``bench/bench_spark_components.py`` (with the Spark extra installed): ring components
   on Spark in log rounds against min-label propagation, on the same links
   (``--max-passes`` bounds propagation, which reports "did not converge" past it).

Stages 4-6 each have a ``--skip-...`` flag. It also measures this machine's memory
bandwidth (a numpy copy of a 512 MiB array: bytes read + written per second), the limit
any pass over the data meets, and gives each ``detect`` stage's input bytes per second
as a fraction of it.

Writes ``bench/results/latest.json`` (``--results``). Nothing is asserted: compare
ratios within one run rather than figures across runs, and quote the load average
printed at the start and the end (a busy machine inflates wall seconds most).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
HERE = Path(__file__).resolve().parent


def run(label: str, argv: list[str], env: dict[str, str] | None = None) -> dict[str, float | str]:
    """Run ``argv`` in a fresh process; print and return its wall seconds, CPU seconds
    and peak RSS MiB (that process alone)."""
    start = time.perf_counter()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err,
                                env=None if env is None else {**os.environ, **env})
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


def _script(name: str, args: list[str], title: str) -> list[str]:
    """Run ``bench/<name>`` with this Python; print its output as is and return its lines."""
    print(f"--- {title} (bench/{name})", flush=True)
    done = subprocess.run([sys.executable, str(HERE / name), *args], capture_output=True,
                          text=True)
    print(done.stdout, end="", flush=True)
    if done.returncode != 0:
        print(f"bench/{name} failed with exit code {done.returncode}:\n{done.stderr[-2000:]}",
              flush=True)
    return done.stdout.splitlines()


def bench_size(users: int, seed: int, cache: Path, bandwidth: float, args) -> dict:
    """Every stage at one size (see the module's docstring)."""
    xpg = str(BIN / "xpg")
    print(f"--- {users:,} users, seed {seed}", flush=True)
    stages = []
    folders = {}
    for fmt in ("parquet", "csv"):
        folders[fmt], generated = _data(cache, users, seed, fmt, xpg)
        if generated is not None:
            stages.append(generated)
    work = Path(tempfile.mkdtemp(prefix="xpg-bench-"))
    nostate = work / "no-state.toml"
    nostate.write_text("[state]\nwrite = false\n")
    findings = {}
    for fmt in ("parquet", "csv"):
        findings[fmt] = work / f"findings-{fmt}.json"
        stage = run(f"detect ({fmt}, state off)",
                    [xpg, "detect", "--data", str(folders[fmt]), "--format", "json",
                     "--config", str(nostate), "--out", str(findings[fmt])])
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
    parquet = str(folders["parquet"])
    stages.append(run("detect (parquet, state written)",
                      [xpg, "detect", "--data", parquet, "--format", "json",
                       "--out", str(work / "findings-state.json")],
                      env={"XPG_STATE_DIR": str(work / "state")}))
    stages.append(run("report (parquet)",
                      [xpg, "report", "--data", parquet, "--out", str(work / "reports")],
                      env={"XPG_STATE_DIR": str(work / "state-report")}))
    result = {"users": users, "seed": seed, "stages": stages, "parquet_csv_identical": same}
    if not args.skip_nightly:
        result["bench_nightly"] = _script(
            "bench_nightly.py", ["--data", parquet, "--work", str(work / "nightly"),
                                 "--fraction", str(args.nightly_fraction)],
            f"nightly: full vs incremental, {args.nightly_fraction:.0%} of users changed")
    if not args.skip_components:
        result["bench_detect"] = _script("bench_detect.py", [parquet],
                                         "per detection, and components scipy vs networkx")
    if not args.skip_spark:
        try:
            import pyspark  # noqa: F401
        except ImportError:
            print("--- Spark components: skipped (pip install '.[spark]')", flush=True)
        else:
            result["bench_spark_components"] = _script(
                "bench_spark_components.py",
                ["--users", str(users), "--seed", str(seed), "--runs", "1",
                 "--max-passes", str(args.max_passes)],
                "Spark components: log rounds vs min-label propagation")
    shutil.rmtree(work, ignore_errors=True)
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
    parser.add_argument("--skip-components", action="store_true",
                        help="without bench_detect.py (per detection, scipy vs networkx)")
    parser.add_argument("--skip-nightly", action="store_true",
                        help="without the full vs incremental nightly run")
    parser.add_argument("--nightly-fraction", type=float, default=0.01,
                        help="the share of users changed for the nightly stage")
    parser.add_argument("--skip-spark", action="store_true",
                        help="without Spark's components (log rounds vs min-label)")
    parser.add_argument("--max-passes", type=int, default=200,
                        help="min-label propagation gives up after this many passes")
    args = parser.parse_args(argv)
    if args.users is not None:
        args.sizes = [args.users]

    bandwidth = memory_bandwidth()
    load = os.getloadavg()
    print(f"xpg bench: sizes {args.sizes}, {os.cpu_count()} cpus, load {load[0]:.1f}, "
          f"memory bandwidth {bandwidth / 1e9:.1f} GB/s (numpy copy, read + write)", flush=True)
    sizes = [bench_size(n, args.seed, args.cache, bandwidth, args)
             for n in dict.fromkeys(args.sizes)]
    end_load = os.getloadavg()
    print(f"load average at the end: {end_load[0]:.1f}", flush=True)
    doc = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version(), "load_average": load,
                    "load_average_end": end_load,
                    "memory_bandwidth_bytes_per_s": bandwidth},
        "sizes": sizes,
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"written to {args.results}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
