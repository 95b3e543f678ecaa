"""Cases: decisions written per second, and the nightly report's added cost of many cases.

``python bench/bench_cases.py [--decisions 500] [--cases 10000] [--findings 50000]
[--data DIR [--out DIR] [--repeat 2] [--skip-store]]``

* **store**: ``--decisions`` findings decided one by one through the case store the CLI
  uses (``SqliteCaseStore``: each decision opens its case, then closes it: two
  transactions, each synced to disk), and the same through the Python API
  (``Session.decide`` over the same store kind);
* **HTTP**: the same through ``xpg serve``'s ``POST /v1/cases/{id}/decision`` (FastAPI's
  TestClient, in process: the routing, validation and JSON, not the network);
* **triage**: the report's added step (:func:`xpg.cases.triage.triage`, plus reading the
  cases back) with ``--cases`` cases over a night of ``--findings`` findings (half of the
  cases suppressing, a tenth of them re-alerted), which is what 10,000 cases cost a report
  at 1,000,000 users: the report's other steps do not grow with the cases.

* **nightly report** (with ``--data DIR``, e.g. ``/work/perfdata/1m``: 1,000,000 users):
  the whole report (``Session.report``) of one session over the data, without cases and
  with ``--cases`` cases in the reports folder's store (opened on the night's findings,
  half decided ``false_positive``: none confirmed, so the detection is the same), in turn
  ``--repeat`` times in the same process after a warm-up report (the findings and exposure
  computed once, as every report of a session shares them): the difference is what the
  cases add (opening the store once, reading the cases, triage, the cases table, the act-
  first list). Reports are written under ``--out`` (default ``/tmp/xpg-bench-cases``).

Prints wall and CPU seconds (``time.process_time``) and rates; the load average first (and
after each report). Nothing is asserted: this script prints figures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any


def _timed(label: str, n: int, fn) -> None:
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    print(f"{label:<44} {n:>7,}  wall {wall:7.2f} s  cpu {cpu:7.2f} s  "
          f"{n / wall:9,.0f}/s wall")


def _findings(n: int, day: dt.date):
    from xpg.queries.findings import Exposure, Finding, FindingsReport

    out = []
    for i in range(n):
        users = (f"u{i}",) if i % 5 else (f"u{i}", f"v{i}", f"w{i}")
        kind = "multi_lending" if i % 5 else "ring"
        out.append(Finding(f"{kind}-{i:012x}", kind, "high", 0.9, users,
                           Exposure(1000.0 + i), {"lenders": ["L1", "L2", "L3", "L4"]}, "x"))
    return FindingsReport(day, tuple(out))


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load {one:.1f}/{five:.1f}"


def report_cost(data: Path, out: Path, n_cases: int, repeat: int) -> None:
    """The nightly report at ``data``'s scale, without and with ``n_cases`` cases."""
    import shutil
    import statistics

    from xpg.queries.findings import FindingsReport

    import xpg.api as api
    from xpg.cases.sqlite import SqliteCaseStore

    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    wall, cpu = time.perf_counter(), time.process_time()
    with api.open(data) as s:
        print(f"open {data}: {s.dataset.users.height:,} users  wall "
              f"{time.perf_counter() - wall:7.2f} s  cpu {time.process_time() - cpu:7.2f} s  "
              f"{_load()}", flush=True)
        timed: dict[str, list[tuple[float, float]]] = {"without cases": [], "with cases": []}

        def report(kind: str, folder: Path) -> Any:
            w, c = time.perf_counter(), time.process_time()
            r = s.report(folder, overwrite=True)
            w, c = time.perf_counter() - w, time.process_time() - c
            if kind in timed:
                timed[kind].append((w, c))
            print(f"report {kind:<14} wall {w:7.2f} s  cpu {c:7.2f} s  {_load()}", flush=True)
            return r

        warm = report("warm-up", out / "warm")  # the findings and exposure, once
        night = FindingsReport.read(warm.folder / "findings.json")
        cases = out / "with-cases"
        cases.mkdir()
        store = SqliteCaseStore(cases / "cases.sqlite")
        at = dt.datetime.combine(night.as_of, dt.time(9)) - dt.timedelta(days=1)
        picked = sorted(night.findings, key=lambda f: (-f.exposure.total, f.id))[:n_cases]
        w, c = time.perf_counter(), time.process_time()
        for i, f in enumerate(picked):
            store.open(finding=f, by="bench", at=at)
            if i % 2 == 0:
                store.decide(f.id, "false_positive", by="bench", finding=f, at=at)
        store.close()
        print(f"setup: {len(picked):,} cases on the night's {len(night.findings):,} findings "
              f"(half decided)  wall {time.perf_counter() - w:7.2f} s  "
              f"cpu {time.process_time() - c:7.2f} s", flush=True)
        for _ in range(repeat):
            report("without cases", out / "without-cases")
            r = report("with cases", cases)
        print("states:", r.cases["counts"] if r.cases else None)
    med = {k: (statistics.median(x[0] for x in v), statistics.median(x[1] for x in v))
           for k, v in timed.items()}
    (w0, c0), (w1, c1) = med["without cases"], med["with cases"]
    print(f"median of {repeat}: without cases wall {w0:.2f} s cpu {c0:.2f} s; with "
          f"{len(picked):,} cases wall {w1:.2f} s cpu {c1:.2f} s; added wall {w1 - w0:+.2f} s "
          f"cpu {c1 - c0:+.2f} s (x{w1 / w0:.2f} wall, x{c1 / c0:.2f} cpu)", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=500)
    parser.add_argument("--cases", type=int, default=10_000)
    parser.add_argument("--findings", type=int, default=50_000)
    parser.add_argument("--data", help="a data folder: also time the nightly report on it, "
                                       "without and with --cases cases")
    parser.add_argument("--out", default="/tmp/xpg-bench-cases",
                        help="where --data's reports are written (emptied first)")
    parser.add_argument("--repeat", type=int, default=2, help="reports of each kind, in turn")
    parser.add_argument("--skip-store", action="store_true",
                        help="only the nightly report (with --data)")
    args = parser.parse_args(argv)
    if args.data:
        report_cost(Path(args.data), Path(args.out), args.cases, args.repeat)
        if args.skip_store:
            return 0

    from xpg.cases.service import Cases
    from xpg.cases.sqlite import SqliteCaseStore
    from xpg.cases.triage import triage

    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}; "
          f"python {sys.version.split()[0]}")
    day = dt.date(2026, 11, 20)
    report = _findings(max(args.findings, args.decisions * 3), day)
    ids = [f.id for f in report.findings]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        store = SqliteCaseStore(root / "cli" / "cases.sqlite")
        cases = Cases(store, report)
        picked = ids[: args.decisions]
        _timed("decisions, CLI store (open + decide each)", len(picked), lambda: [
            cases.decide(fid, "false_positive", by="bench") for fid in picked])
        store.close()

        from investigation_data import dataset  # tests/: a small graph for the session

        import xpg.api as api

        with api.open(dataset=dataset()) as s:
            s.use_reports(root / "api")
            s._cases = Cases(s.cases.store, report)  # decide on the bench's findings
            picked = ids[args.decisions: 2 * args.decisions]
            _timed("decisions, Python API (Session.decide)", len(picked), lambda: [
                s.decide(fid, "benign", by="bench") for fid in picked])

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                from fastapi.testclient import TestClient
            from xpg.serve import Limits, create_app

            os.environ["XPG_API_WRITE_KEY"] = "bench-write-key-0123456789"
            app = create_app(s, api_keys=["bench-read-key-0123456789"],
                             limits=Limits(rate_limit=10**9))
            client = TestClient(app)
            head = {"X-API-Key": os.environ["XPG_API_WRITE_KEY"]}
            picked = ids[2 * args.decisions: 3 * args.decisions]

            def http() -> None:
                for fid in picked:
                    r = client.post(f"/v1/cases/{fid}/decision", headers=head,
                                    json={"by": "bench", "outcome": "duplicate"})
                    assert r.status_code == 200, r.text
            _timed("decisions, HTTP (POST .../decision)", len(picked), http)

        # the report's added cost: many cases over one night
        big = SqliteCaseStore(root / "big" / "cases.sqlite")
        at = dt.datetime(2026, 11, 19, 9)
        few = report.findings[: args.cases]

        def fill() -> None:
            for i, f in enumerate(few):
                big.open(finding=f, by="bench", at=at)
                if i % 2 == 0:
                    big.decide(f.id, "false_positive", by="bench", finding=f, at=at)
        _timed("setup: cases opened (half decided)", len(few), fill)
        worse = _findings(args.findings, day + dt.timedelta(days=1))
        worse = worse.__class__(worse.as_of, tuple(
            f if i % 10 else f.__class__(**{**f.__dict__, "exposure": f.exposure.__class__(
                f.exposure.total * 2)}) for i, f in enumerate(worse.findings)))
        result = {}

        def night() -> None:
            result["t"] = triage(worse, None, big.list(), share=0.25)
        _timed(f"report step: read {len(few):,} cases + triage", args.findings, night)
        print("states:", result["t"].counts())
        big.close()
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    raise SystemExit(main())
