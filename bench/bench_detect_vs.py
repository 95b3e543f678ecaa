"""``xpg detect`` per stage, this install against another one, in the same run (issue 21,
item 4: the detection path with the stored state off).

    python bench/bench_detect_vs.py --data /work/perfdata/1m --vs /work/main/.venv/bin/python
    python bench/bench_detect_vs.py --data D --vs PYTHON --runs 5 --config nostate.toml

Runs :mod:`bench_stages` (``detect --data D --out F``) as a fresh process under this
interpreter (A) and under ``--vs`` (B, another install: for example the main branch's
virtual environment), in turn A B A B ... ``--runs`` times each, after one warm-up of each.
The stored state is off (``[state] write = false``, a configuration file written to the
scratch folder unless ``--config`` is given), so the figures are those of detection alone.
Prints, per stage, the median CPU and wall seconds of A and of B and the median of the
pair-by-pair ratios A/B (so that a comparison holds while the machine's speed drifts),
the whole process's peak memory, and the load average before and after. Checks that
every run wrote the same findings document, byte for byte; exits 1 when one differs.
Nothing is asserted about time: this script prints figures.
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

STAGES = Path(__file__).with_name("bench_stages.py")


def _run(python: str, data: Path, config: Path, out: Path, scratch: Path) -> dict:
    """One ``bench_stages.py detect`` process: its per-stage figures (``peak MB`` of
    ``total``: the process's peak; ``/usr/bin/time`` would not see it, as bench_stages
    resets the kernel's high-water mark at each stage)."""
    env = {**os.environ, "XPG_STATE_DIR": str(scratch / "state")}
    cmd = [python, str(STAGES), "detect", "--data", str(data),
           "--config", str(config), "--out", str(out)]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        sys.exit(f"{python}: exit {done.returncode}\n{done.stderr[-3000:]}")
    figures: dict = {}
    for line in done.stderr.splitlines():
        if line.startswith("{"):
            figures.update(json.loads(line))
    return figures


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--vs", required=True, help="the other install's python (B)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--config", type=Path, help="default: [state] write = false")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench_detect_vs") as tmp:
        scratch = Path(tmp)
        config = args.config
        if config is None:
            config = scratch / "nostate.toml"
            config.write_text("[state]\nwrite = false\n")
        pythons = {"A": sys.executable, "B": args.vs}
        outs = {k: scratch / f"{k}.json" for k in pythons}
        print(f"A = {pythons['A']}\nB = {pythons['B']}\ndata = {args.data}, "
              f"{args.runs} runs each after a warm-up; load average before: {_load()}")
        for k, py in pythons.items():  # warm-up (file cache, bytecode)
            _run(py, args.data, config, outs[k], scratch)
        runs: dict[str, list[dict]] = {"A": [], "B": []}
        same = True
        for _ in range(args.runs):
            for k, py in pythons.items():
                runs[k].append(_run(py, args.data, config, outs[k], scratch))
            same &= filecmp.cmp(outs["A"], outs["B"], shallow=False)
        print(f"load average after: {_load()}")
    labels = list(runs["A"][0]["cpu s"])
    labels += [x for x in runs["B"][0]["cpu s"] if x not in labels]
    print("| stage | A CPU s | A wall s | B CPU s | B wall s | A/B CPU | A/B wall |")
    print("|---|---:|---:|---:|---:|---:|---:|")

    def med(k: str, what: str, label: str) -> float | None:
        values = [r[what][label] for r in runs[k] if label in r[what]]
        return statistics.median(values) if values else None

    def ratio(what: str, label: str) -> str:
        pairs = [a[what][label] / b[what][label] for a, b in zip(runs["A"], runs["B"],
                                                                 strict=True)
                 if label in a[what] and b[what].get(label)]
        return f"{statistics.median(pairs):.2f}" if pairs else "-"

    def cell(x: float | None) -> str:
        return "-" if x is None else f"{x:.2f}"

    for label in labels:
        print(f"| {label} | {cell(med('A', 'cpu s', label))} | {cell(med('A', 'wall s', label))} "
              f"| {cell(med('B', 'cpu s', label))} | {cell(med('B', 'wall s', label))} "
              f"| {ratio('cpu s', label)} | {ratio('wall s', label)} |")
    peaks = {k: statistics.median(r["peak MB"]["total"] for r in runs[k]) for k in runs}
    print(f"peak memory (whole process, median): A {peaks['A']:,.0f} MB, B {peaks['B']:,.0f} MB")
    print("findings documents: " + ("byte-identical" if same else "DIFFERENT"))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
