"""Cold and warm investigative queries side by side.

For ``xpg query user`` and ``xpg query ring``: a cold CLI process with the stored
state (``--state``), a cold CLI process without it (load, validate, build, detect,
index), and the warm API (a session already open: the first call, then the next);
wall time and peak memory (the process's maximum RSS) of each, ``--runs`` times.

    .venv/bin/xpg generate --users 1000000 --seed 1 --out /work/perfdata/cold/1m
    .venv/bin/xpg state build --data /work/perfdata/cold/1m --out /work/perfdata/cold/state-1m
    .venv/bin/python bench/bench_cold_queries.py --data /work/perfdata/cold/1m \\
        --state /work/perfdata/cold/state-1m --runs 3 --out bench/results/cold_queries.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import polars as pl

XPG = str(Path(sys.executable).with_name("xpg"))


def _child(cmd: list[str]) -> tuple[float, float, float]:
    """Wall seconds, peak RSS (MiB) and CPU seconds (user + system) of one fresh process."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}): {err}")
    return wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def _pick(state: Path) -> tuple[str, str]:
    """A ring member and the largest ring of the state (a realistic, not a trivial, ask)."""
    members = pl.read_parquet(state / "finding_users.parquet")
    found = pl.read_parquet(state / "findings.parquet", columns=["id", "type", "members"])
    ring = found.filter(pl.col("type") == "ring").sort("members", "id",
                                                       descending=[True, False])["id"][0]
    user = members.filter(pl.col("finding_id") == ring).sort("user_id")["user_id"][0]
    return user, ring


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--state", type=Path, required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--full-runs", type=int, default=None,
                    help="runs of the cold path without state (default: --runs)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    user, ring = _pick(args.state)
    asks = {"user": ["query", "user", user, "--format", "json"],
            "ring": ["query", "ring", ring, "--format", "json"]}
    rows = []
    for what, ask in asks.items():
        base = [XPG, *ask, "--data", str(args.data)]
        for label, cmd, runs in (
            ("cold CLI, --state", [*base, "--state", str(args.state)], args.runs),
            ("cold CLI, no state", base, args.full_runs or args.runs),
        ):
            walls, peaks, cpus = [], [], []
            for _ in range(runs):
                wall, peak, cpu = _child(cmd)
                walls.append(wall)
                peaks.append(peak)
                cpus.append(cpu)
            rows.append({"query": what, "how": label, "runs": walls, "cpu_runs": cpus,
                         "median_s": statistics.median(walls),
                         "median_cpu_s": statistics.median(cpus), "peak_mib": max(peaks)})
            print(json.dumps(rows[-1]), flush=True)
    # warm: one session, open once
    import xpg.api as api

    for label, kw in (("warm API, state session", {"state": args.state}),
                      ("warm API, full session", {})):
        t = time.perf_counter()
        with api.open(data=args.data, **kw) as s:
            opened = time.perf_counter() - t
            for what, call in (("user", lambda s=s: s.user(user)),
                               ("ring", lambda s=s: s.ring(ring))):
                walls = []
                for _ in range(args.runs + 1):  # the first call builds what it caches
                    t = time.perf_counter()
                    call().to_json()
                    walls.append(time.perf_counter() - t)
                rows.append({"query": what, "how": label, "open_s": opened,
                             "first_s": walls[0], "runs": walls[1:],
                             "median_s": statistics.median(walls[1:])})
                print(json.dumps(rows[-1]), flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {"data": str(args.data), "state": str(args.state), "user": user, "ring": ring,
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "cpus": os.cpu_count(), "load_avg": os.getloadavg(),
              "warm_process_peak_mib": peak, "rows": rows}
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'query':6} {'how':26} {'median s':>9} {'CPU s':>7} {'peak MiB':>9}  runs")
    for r in rows:
        runs = " ".join(f"{x:.3f}" for x in r["runs"])
        print(f"{r['query']:6} {r['how']:26} {r['median_s']:9.3f} "
              f"{r.get('median_cpu_s', float('nan')):7.2f} "
              f"{r.get('peak_mib', float('nan')):9.0f}  {runs}")


if __name__ == "__main__":
    main()
