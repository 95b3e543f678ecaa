"""Full vs incremental nightly run, in the same run (issue 21, item 5).

    python bench/bench_nightly.py --data /work/perfdata/1m --work /tmp/nightly --fraction 0.01

1. Copies ``--data`` with ``--fraction`` of its users changed (``changed_copy``): a third
   get a changed account balance, a third a new shared device (another changed user's),
   a third lose a loan; plus as many new users (copies of changed ones) and removed
   users as a tenth of the changed ones. The source folder is never modified. Beside the
   new snapshot it writes the change set that names that change
   (:mod:`xpg.loaders.changes`), as the producer of the export would.
2. Builds the state from the original (``xpg detect --incremental STATE``, a full run).
3. Times, each as a fresh process (wall, CPU = user + system of the process, peak RSS):
   ``xpg detect --data CHANGED --out full.json`` (``state.write = false``: detection
   alone, without the stored state for cold queries it writes by default) and
   ``xpg detect --data CHANGED --incremental STATE --changes CHANGES --out inc.json`` (on
   a copy of the state, ``--runs`` times; with ``--snapshot`` also without
   ``--changes``: the snapshot hashed whole), checks the documents are byte-identical to
   the full run's and prints the ratios and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import polars as pl
from xpg.loaders.changes import CHANGE_TABLES, write_change_set

XPG = str(Path(sys.executable).with_name("xpg"))


def changed_copy(src: Path, dst: Path, changes: Path, fraction: float, seed: int = 1) -> int:
    """Write ``dst``: ``src`` with ``fraction`` of the users changed, and ``changes``: the
    change set naming them; returns how many users changed, were added or removed."""
    t = {p.stem: pl.read_parquet(p) for p in src.glob("*.parquet")}
    users = t["users"].get_column("user_id")
    picked = users.sample(fraction=fraction, seed=seed, shuffle=True)
    n = picked.len()
    balance, device, loan = picked[: n // 3], picked[n // 3: 2 * n // 3], picked[2 * n // 3:]
    t["accounts"] = t["accounts"].with_columns(
        pl.when(pl.col("user_id").is_in(balance.implode())).then(pl.col("outstanding") * 1.01)
        .otherwise(pl.col("outstanding")).alias("outstanding"))
    partner = device.shift(1, fill_value=device[-1])
    shared = (t["devices"].join(pl.DataFrame({"user_id": partner, "to": device}), on="user_id")
              .group_by("to").first().drop("user_id").rename({"to": "user_id"})
              .select(t["devices"].columns))
    t["devices"] = pl.concat([t["devices"], shared])
    loans = t["external_loans"].with_row_index("_r")
    first = loans.filter(pl.col("user_id").is_in(loan.implode())).group_by("user_id").agg(
        pl.col("_r").min())
    t["external_loans"] = loans.join(first, on="_r", how="anti").drop("_r")
    k = max(n // 10, 1)
    gone = picked.tail(k)
    accounts = (t["accounts"].filter(pl.col("user_id").is_in(gone.implode()))
                .get_column("account_id"))
    for name in ("users", "accounts", "devices", "external_loans", "applications", "identifiers"):
        t[name] = t[name].filter(~pl.col("user_id").is_in(gone.implode()))
    t["account_events"] = t["account_events"].filter(
        ~pl.col("account_id").is_in(accounts.implode()))
    clones = picked.head(k)
    for name in ("users", "devices", "external_loans", "applications", "identifiers"):
        rows = t[name].filter(pl.col("user_id").is_in(clones.implode()))
        t[name] = pl.concat([t[name], rows.with_columns(pl.col("user_id") + "_new")])
    acc = t["accounts"].filter(pl.col("user_id").is_in(clones.implode()))
    t["accounts"] = pl.concat([t["accounts"], acc.with_columns(
        pl.col("user_id") + "_new", pl.col("account_id") + "_new")])
    dst.mkdir(parents=True, exist_ok=True)
    for name, frame in t.items():
        frame.write_parquet(dst / f"{name}.parquet")
    # the change set: the rows now of every user whose rows changed (the ones that got a
    # balance, a device or lost a loan, and the new ones), and the ones gone
    named = pl.concat([picked.filter(~picked.is_in(gone.implode())), clones + "_new"]).implode()
    rows = {name: t[name].filter(pl.col("user_id").is_in(named))
            for name in CHANGE_TABLES if name != "account_events"}
    rows["account_events"] = t["account_events"].join(
        rows["accounts"].select("account_id"), on="account_id", how="semi")
    write_change_set(changes, rows, gone)
    return n + k


def timed(cmd: list[str]) -> dict[str, Any]:
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read() if proc.stderr else ""
    if status:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{err}")
    return {"wall_s": round(wall, 2), "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
            "peak_mib": round(usage.ru_maxrss / 1024), "load": os.getloadavg()[0],
            "stderr": err.strip().splitlines()[-3:]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--fraction", type=float, default=0.01)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--snapshot", action="store_true",
                    help="also time the incremental run without the change set")
    args = ap.parse_args()
    work = args.work
    changed, changes = work / "changed", work / "changes"
    if not (changes / "changes.json").exists():
        shutil.rmtree(changed, ignore_errors=True)
        shutil.rmtree(changes, ignore_errors=True)
        n = changed_copy(args.data, changed, changes, args.fraction)
        print(f"changed copy: {n:,} users changed, added or removed -> {changed}, "
              f"change set {changes}")
    state = work / "state"
    if not (state / "nightly" / "nightly.json").exists():
        shutil.rmtree(state, ignore_errors=True)
        print("state build:", timed([XPG, "detect", "--data", str(args.data), "--incremental",
                                      str(state), "--out", str(work / "base.json")]))
    print(f"load average: {os.getloadavg()}")
    # detection alone: the stored state for cold queries, which `xpg detect` also writes
    # by default and the incremental run does not, is left out of the full run
    config = work / "no-cold-state.toml"
    config.write_text("[state]\nwrite = false\n")
    full = timed([XPG, "detect", "--data", str(changed), "--config", str(config),
                  "--out", str(work / "full.json")])
    print("full:", full)
    modes = [("changes", ["--changes", str(changes)])]
    if args.snapshot:
        modes.append(("snapshot", []))
    out: dict[str, Any] = {"full": full}
    reference = (work / "full.json").read_bytes()
    for mode, extra in modes:
        runs = []
        for _ in range(args.runs):
            copy = work / "state-run"
            shutil.rmtree(copy, ignore_errors=True)
            shutil.copytree(state, copy)
            run = timed([XPG, "detect", "--data", str(changed), "--incremental", str(copy),
                         "--config", str(config), *extra, "--out", str(work / f"inc-{mode}.json")])
            print(f"incremental ({mode}):", run)
            if (work / f"inc-{mode}.json").read_bytes() != reference:
                raise SystemExit(f"the incremental findings ({mode}) differ from the full run's")
            runs.append(run)
        best = min(runs, key=lambda r: r["wall_s"])
        out[f"incremental_{mode}"] = best
        out[f"ratio_wall_{mode}"] = round(full["wall_s"] / best["wall_s"], 1)
        out[f"ratio_cpu_{mode}"] = round(full["cpu_s"] / best["cpu_s"], 1)
        out[f"ratio_rss_{mode}"] = round(full["peak_mib"] / best["peak_mib"], 1)
    out["identical"] = True
    out["load_average"] = os.getloadavg()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
