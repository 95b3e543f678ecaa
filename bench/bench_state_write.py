"""What the stored state costs `xpg detect` (or `xpg report`): two installs of xpg run in
turn on the same data, each a fresh process, with the state on and off.

    python bench/bench_state_write.py --data D [--command report] [--runs 2]
        [--before /work/main/.venv/bin/python] [--after .venv/bin/python] [--no-off]

Each run is ``PYTHON -c 'from xpg.cli import main; main()' detect --data D --out F`` (or
``report --data D --out O``) with ``XPG_STATE_DIR`` set to a scratch folder of its own, so
the state it keeps replaces nothing in ``~/.cache``; ``state off`` adds ``--config`` of a
file setting ``[state] write = false``. The runs alternate (before, after, before, after, ...) so a
drift in the machine's speed reaches both. Printed per install and mode: the median wall
seconds, CPU seconds (user + system of the process and its children, from ``wait4``) and
peak resident memory (MiB), each run's figures, the load average before and after, and the
ratio after/before. Then the check that both installs wrote the same state: every file of
the two state folders has the same SHA-256 (``manifest.json``'s ``files``), and the same
findings (detect: the findings JSON without its run time; report: ``findings.json``).
Nothing is asserted: the script prints figures and says what differs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

RUN = "from xpg.cli import main; import sys; sys.exit(main())"


def _run(python: str, argv: list[str], env: dict[str, str], cwd: Path) -> dict[str, float]:
    start = time.perf_counter()
    # run in a scratch folder: from a checkout, `python -c` would import its xpg
    proc = subprocess.Popen([python, "-c", RUN, *argv], env=env, cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    err = proc.stderr.read() if proc.stderr else ""
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        print(f"  exit {code}: {err[-2000:]}", file=sys.stderr)
    return {"wall s": wall, "cpu s": usage.ru_utime + usage.ru_stime,
            "peak MiB": usage.ru_maxrss / 1024, "exit": code}


def _findings(path: Path) -> Any:
    doc = json.loads(path.read_text(encoding="utf-8"))
    for volatile in ("generated_at", "run", "timings", "elapsed_s"):
        doc.pop(volatile, None)
    return doc


def _states(root: Path) -> dict[str, str]:
    found = [p for p in root.iterdir() if (p / "manifest.json").is_file()] if root.is_dir() \
        else []
    if len(found) != 1:
        return {}
    # the bytes themselves: the two installs' manifests may use different checksums
    files = json.loads((found[0] / "manifest.json").read_text())["files"]
    return {name: hashlib.sha256((found[0] / name).read_bytes()).hexdigest() for name in files}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=lambda p: Path(p).resolve(), required=True)
    ap.add_argument("--command", choices=("detect", "report"), default="detect")
    ap.add_argument("--runs", type=int, default=2)
    ap.add_argument("--before", default="/work/main/.venv/bin/python")
    ap.add_argument("--after", default=str(Path(sys.executable)))
    ap.add_argument("--no-off", action="store_true", help="skip the runs with the state off")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench_state_write_"))
    off = work / "state-off.toml"
    off.write_text("[state]\nwrite = false\n", encoding="utf-8")
    installs = {"before": args.before, "after": args.after}
    modes = ["on"] if args.no_off else ["on", "off"]
    figures: dict[tuple[str, str], list[dict[str, float]]] = {}
    print(f"load average before: {os.getloadavg()}")
    for i in range(args.runs):
        for mode in modes:
            for which, python in installs.items():
                scratch = work / f"{which}-{mode}-{i}"
                env = {**os.environ, "XPG_STATE_DIR": str(scratch / "state")}
                out = scratch / ("findings.json" if args.command == "detect" else "reports")
                argv = [args.command, "--data", str(args.data), "--out", str(out)]
                if mode == "off":
                    argv += ["--config", str(off)]
                scratch.mkdir(parents=True)
                got = _run(python, argv, env, scratch)
                figures.setdefault((which, mode), []).append(got)
                print(f"  run {i + 1} {which:6s} state {mode:3s}: " + ", ".join(
                    f"{k} {v:.2f}" for k, v in got.items() if k != "exit"), flush=True)
    print(f"load average after: {os.getloadavg()}")
    print(f"{'install':8s} {'state':5s} {'wall s':>8s} {'cpu s':>8s} {'peak MiB':>9s}")
    medians = {}
    for (which, mode), runs in figures.items():
        med = {k: statistics.median(r[k] for r in runs) for k in ("wall s", "cpu s", "peak MiB")}
        medians[(which, mode)] = med
        print(f"{which:8s} {mode:5s} {med['wall s']:8.2f} {med['cpu s']:8.2f} "
              f"{med['peak MiB']:9.0f}")
    for mode in modes:
        b, a = medians[("before", mode)], medians[("after", mode)]
        print(f"after/before, state {mode}: " + ", ".join(
            f"{k} {a[k] / b[k]:.2f}" for k in ("wall s", "cpu s", "peak MiB")))
    if "off" in modes:
        for which in installs:
            on, off = medians[(which, "on")], medians[(which, "off")]
            print(f"{which}: the state costs {on['cpu s'] - off['cpu s']:.2f} CPU s, "
                  f"{on['wall s'] - off['wall s']:.2f} s wall")
    # the same state and findings from both installs (first run, state on)
    b, a = work / "before-on-0", work / "after-on-0"
    sb, sa = _states(b / "state"), _states(a / "state")
    if not sb or not sa:
        print("state check: a state folder is missing")
    else:
        differ = sorted(k for k in sb.keys() | sa.keys() if sb.get(k) != sa.get(k))
        print("state check: " + ("every file the same" if not differ else
                                 f"{len(differ)} files differ: {', '.join(differ[:8])}"))
    if args.command == "detect":
        fb, fa = b / "findings.json", a / "findings.json"
    else:
        fb = next((b / "reports").rglob("findings.json"), None)
        fa = next((a / "reports").rglob("findings.json"), None)
    if fb and fa and fb.is_file() and fa.is_file():
        print("findings check: " + ("the same" if _findings(fb) == _findings(fa) else "DIFFER"))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
