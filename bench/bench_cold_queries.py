"""Cold and warm investigative queries side by side.

For ``xpg query user``, ``ring`` and ``group``: a cold CLI process given only
``--data`` (it finds the state ``xpg detect``/``xpg report`` kept for that folder:
the automatic state), a cold CLI process given ``--state``, a cold CLI process with
no state (``XPG_STATE_DIR`` an empty folder: load, validate, build, detect, index),
and the warm API (a session already open: the first call, then the next); wall time,
CPU time and peak memory (the process's maximum RSS) of each, ``--runs`` times.

    .venv/bin/xpg generate --users 1000000 --seed 7 --out /work/perfdata/1m
    XPG_STATE_DIR=/work/perfdata/states .venv/bin/xpg report --data /work/perfdata/1m \
        --out /work/perfdata/reports-1m      # the nightly run: keeps the state
    XPG_STATE_DIR=/work/perfdata/states .venv/bin/python bench/bench_cold_queries.py \
        --data /work/perfdata/1m --runs 3 --full-runs 1 --no-warm \
        --out bench/results/cold_queries.json

``--state`` defaults to the automatic state of ``--data`` (what ``xpg query`` finds).

Each cold row is the median of ``--runs`` fresh processes (wall, CPU = user + system,
peak RSS), after ``--warmup`` uncounted runs, with the load average (1 minute) before
and after its runs: on a shared machine wall time follows the load, CPU time much less.
The child processes may write bytecode (``PYTHONDONTWRITEBYTECODE`` is dropped for
them), as an installed xpg has it: otherwise every run would compile xpg's sources.
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


def _child(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, float]:
    """Wall seconds, peak RSS (MiB) and CPU seconds (user + system) of one fresh process."""
    t = time.perf_counter()
    base = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**base, **(env or {})})
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
    ap.add_argument("--state", type=Path, default=None,
                    help="default: the automatic state of --data (XPG_STATE_DIR)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1, help="uncounted runs before each row")
    ap.add_argument("--full-runs", type=int, default=None,
                    help="runs of the cold path without state (default: --runs; 0: none)")
    ap.add_argument("--no-warm", action="store_true", help="leave out the warm API rows")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    import tempfile

    from xpg.queries.investigate.state import default_location

    from xpg.settings import load_settings

    if args.state is None:
        args.state = default_location(args.data, load_settings())
    user, ring = _pick(args.state)
    asks = {"user": ["query", "user", user, "--format", "json"],
            "ring": ["query", "ring", ring, "--format", "json"],
            "group": ["query", "group", user, "--format", "json"]}
    empty = tempfile.mkdtemp(prefix="xpg-no-state-")
    full_runs = args.runs if args.full_runs is None else args.full_runs
    rows = []
    # the floor: the third-party libraries a cold query imports, and nothing else
    libraries = [sys.executable, "-c", "import polars, pydantic, typer, rich.console, rich.table"]
    for what, ask in {"-": None, **asks}.items():
        base = [XPG, *ask, "--data", str(args.data)] if ask else []
        for label, cmd, runs, env in ((
            ("cold CLI, automatic state", base, args.runs, None),
            ("cold CLI, --state", [*base, "--state", str(args.state)], args.runs, None),
            ("cold CLI, no state", base, full_runs, {"XPG_STATE_DIR": empty}),
        ) if ask else (("imports of Polars, pydantic, typer, rich", libraries, args.runs, None),)):
            if runs == 0:
                continue
            for _ in range(args.warmup if label != "cold CLI, no state" else 0):
                _child(cmd, env)
            walls, peaks, cpus = [], [], []
            load_before = os.getloadavg()[0]
            for _ in range(runs):
                wall, peak, cpu = _child(cmd, env)
                walls.append(wall)
                peaks.append(peak)
                cpus.append(cpu)
            rows.append({"query": what, "how": label, "runs": walls, "cpu_runs": cpus,
                         "peak_runs": peaks, "median_s": statistics.median(walls),
                         "median_cpu_s": statistics.median(cpus),
                         "median_peak_mib": statistics.median(peaks), "peak_mib": max(peaks),
                         "load_1m": [load_before, os.getloadavg()[0]]})
            print(json.dumps(rows[-1]), flush=True)
    # warm: one session, open once
    import xpg.api as api

    for label, kw in (() if args.no_warm else (("warm API, state session", {"state": args.state}),
                                               ("warm API, full session", {}))):
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
    # the integrity checks' cost: one stat per file at open, each file's checksum on first read
    from xpg.queries.investigate.state import State, file_checksum

    t = time.perf_counter()
    st = State.open(args.state)
    opened_s = time.perf_counter() - t
    hashes = {}
    for name in st.manifest["files"]:
        t = time.perf_counter()
        file_checksum(args.state / name)
        hashes[name] = time.perf_counter() - t
    rows.append({"query": "-", "how": "integrity: open (sizes)", "runs": [opened_s],
                 "median_s": opened_s})
    rows.append({"query": "-", "how": "integrity: checksum all", "runs": list(hashes.values()),
                 "median_s": sum(hashes.values()),
                 "bytes": sum(e["bytes"] for e in st.manifest["files"].values())})
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {"data": str(args.data), "state": str(args.state), "user": user, "ring": ring,
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "cpus": os.cpu_count(), "load_avg": os.getloadavg(),
              "warm_process_peak_mib": peak, "rows": rows}
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'query':6} {'how':26} {'wall s':>7} {'CPU s':>6} {'RSS MiB':>8} {'load':>11}"
          "  wall of each run")
    for r in rows:
        runs = " ".join(f"{x:.3f}" for x in r["runs"][:6])
        load = "-".join(f"{x:.1f}" for x in r.get("load_1m", ()))
        print(f"{r['query']:6} {r['how']:26} {r['median_s']:7.3f} "
              f"{r.get('median_cpu_s', float('nan')):6.2f} "
              f"{r.get('median_peak_mib', float('nan')):8.0f} {load:>11}  {runs}")
    print(f"medians of {args.runs} runs; {os.cpu_count()} CPUs; load average now "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
