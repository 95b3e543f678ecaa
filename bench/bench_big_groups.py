"""Investigating a giant connected group: ``xpg query ring|group|user`` as cold CLI processes.

On a generated mixed graph (``xpg generate --shape mixed``) the largest connected group
holds most users (92,339 of 100,000 at seed 1). Contract v2 never makes such a group one
ring; to time the ring view on it, the detection here judges every group whole and keeps
any share of multi-lenders (``max_group_users`` above the group, ``min_multi_lending_share``
0), so the giant group is one ring finding. Then, ``--runs`` times each, one fresh process:

* ``query ring`` of that ring with the default ``--limit`` (25), from the stored state
  (``xpg state build``: no data loaded) and, ``--full-runs`` times, from the data;
* ``query group`` and ``query user`` of one of its members, from the stored state.

Printed per command: wall seconds, CPU seconds (user + system, all threads) and peak
memory of each run, the lines printed, and the command. No assertion: the figures depend
on the machine (and on what else runs on it: the load average is printed too).

    .venv/bin/python bench/bench_big_groups.py --work /tmp/big --users 100000 --runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

XPG = str(Path(sys.executable).with_name("xpg"))
WHOLE = "[detection.ring]\nmax_group_users = 100000000\nmin_multi_lending_share = 0.0\n"


def _child(cmd: list[str]) -> tuple[float, float, float, int]:
    """Wall seconds, CPU seconds, peak RSS (MiB) and stdout lines of one fresh process."""
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    lines = proc.stdout.read().decode().count("\n")
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"{' '.join(cmd)} failed")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, lines


def _step(args: list[str], cwd: Path) -> None:
    subprocess.run([XPG, *args], check=True, cwd=cwd, stdout=subprocess.DEVNULL)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, required=True, help="folder for the data and state")
    ap.add_argument("--users", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--full-runs", type=int, default=1)
    a = ap.parse_args()
    work = a.work
    work.mkdir(parents=True, exist_ok=True)
    data, state, config = work / "data", work / "state", work / "whole.toml"
    findings = work / "findings.json"
    config.write_text(WHOLE)
    if not (data / "truth.json").is_file():
        _step(["generate", "--shape", "mixed", "--users", str(a.users), "--seed", str(a.seed),
               "--out", str(data), "--force"], work)
    if not findings.is_file():
        _step(["detect", "--data", str(data), "--config", str(config), "--format", "json",
               "--out", str(findings)], work)
    if not (state / "manifest.json").is_file():
        _step(["state", "build", "--data", str(data), "--config", str(config), "--findings",
               str(findings), "--out", str(state), "--overwrite"], work)
    doc = json.loads(findings.read_text())
    ring = max((f for f in doc["findings"] if f["type"] == "ring"), key=lambda f: len(f["users"]))
    user = ring["users"][0]
    common = ["--data", str(data), "--config", str(config), "--findings", str(findings)]
    cases = [
        ("query ring, state", ["query", "ring", ring["id"], *common, "--state", str(state)],
         a.runs),
        ("query ring, data", ["query", "ring", ring["id"], *common], a.full_runs),
        ("query group, state", ["query", "group", user, *common, "--state", str(state)],
         a.runs),
        ("query user, state", ["query", "user", user, *common, "--state", str(state)], a.runs),
    ]
    print(f"{a.users:,} users (mixed, seed {a.seed}); ring {ring['id']} of "
          f"{len(ring['users']):,} users (the largest connected group, judged whole); "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    for name, args, runs in cases:
        if runs < 1:  # --full-runs 0: the slow case skipped
            continue
        got = [_child([XPG, *args]) for _ in range(runs)]
        walls = ", ".join(f"{w:.2f}" for w, *_ in got)
        cpus = ", ".join(f"{c:.2f}" for _, c, *_ in got)
        print(f"{name}: wall {walls} s; CPU {cpus} s; peak {max(g[2] for g in got):.0f} MiB; "
              f"{got[-1][3]} lines")
        print(f"  xpg {' '.join(args)}")


if __name__ == "__main__":
    main()
