"""`xpg demo`: generate a sample, detect, write the findings, say what was found and where.

The sample has the mixed shape by default (``--shape``): rings inside one giant connected
group, found as its multi-lending cores (data contract v2), as on a real platform.

The demo folder holds ``data/`` (the generated tables and ``truth.json``; an
earlier demo's ``data/`` is replaced, any other non-empty ``data/`` is refused),
``findings.json`` (the contract's document) and ``findings.txt`` (the same
findings as a table). It checks the findings against ``truth.json`` and says so.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from xpg.atomic import write_text_atomic
from xpg.cli.common import ConfigOpt, progress, settings_from
from xpg.cli.detect import render_table_text, run, summary_line
from xpg.errors import InputError
from xpg.queries.findings import FindingsReport
from xpg.queries.rules import FINDING_TYPES

__all__ = ["command", "truth_check"]


def truth_check(report: FindingsReport, truth: dict[str, Any]) -> tuple[int, int, int]:
    """(planted findings expected, of those found, findings not planted) for generated data."""
    expected = {
        (f["type"], tuple(sorted(f["users"])))
        for case in truth.get("cases", [])
        for f in case.get("findings", [])
    }
    got = {(f.type, tuple(sorted(f.users))) for f in report.findings}
    return len(expected), len(expected & got), len(got - expected)


def _best_of_each_type(report: FindingsReport) -> list[str]:
    """One line per finding type: its highest-scored finding's severity and explanation."""
    lines = []
    for ftype in FINDING_TYPES:
        found = [f for f in report.findings if f.type == ftype]
        if found:
            best = max(found, key=lambda f: (f.score, f.exposure.total, f.id))
            lines.append(f"  {ftype} [{best.severity}, {best.id}]: {best.explanation}")
    return lines


def command(
    out: Annotated[
        Path, typer.Option("--out", help="Folder for the sample data and the results.")
    ] = Path("demo-output"),
    users: Annotated[
        int, typer.Option("--users", help="Number of synthetic users (at least 300).")
    ] = 10_000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed of the sample.")] = 1,
    shape: Annotated[
        str,
        typer.Option("--shape", help="mixed (default): a platform-shaped graph whose rings lie "
                     "in one giant connected group (at least 2000 users); islands: small "
                     "separate rings (xpg generate's default)."),
    ] = "mixed",
    config: ConfigOpt = None,
) -> None:
    """Generate a synthetic sample, run every detection, and write findings.json and a table."""
    from xpg.synthetic import TRUTH_FILE, write

    if out.exists() and not out.is_dir():
        raise InputError(f"--out {out}: exists and is not a folder")
    data = out / "data"
    earlier_demo = (data / TRUTH_FILE).is_file()  # a demo's sample: safe to replace
    if data.exists() and not earlier_demo and (not data.is_dir() or any(data.iterdir())):
        raise InputError(
            f"--out {out}: {data} exists and is not the sample of an earlier xpg demo "
            f"(it has no {TRUTH_FILE}); choose another --out, or move it away"
        )
    out.mkdir(parents=True, exist_ok=True)
    settings = settings_from(config)
    bar = progress("rows")
    start = time.perf_counter()
    synthetic = write(data, users, seed, force=earlier_demo, shape=shape,  # type: ignore[arg-type]
                      progress=bar)
    generated = time.perf_counter() - start
    report = run(data, settings, bar=bar)
    detected = time.perf_counter() - start - generated

    findings_json = out / "findings.json"
    findings_txt = out / "findings.txt"
    write_text_atomic(findings_json, report.document())
    write_text_atomic(findings_txt, render_table_text(report))
    from xpg.api import open as open_session
    from xpg.queries.rules.ring import NAME as RING

    with open_session(dataset=synthetic.dataset(), settings=settings, findings=report) as session:
        page = session.report(out / "reports", overwrite=True,
                              data_source=str(data)).folder / "index.html"

    console = Console()
    truth = json.loads((data / TRUTH_FILE).read_text("utf-8"))
    console.print(
        f"[bold]xpg demo[/]: {synthetic.truth['users']:,} synthetic users, "
        f"{synthetic.row_count:,} rows (seed {seed}, as of {report.as_of.isoformat()}), "
        f"generated in {generated:.1f} s, loaded, validated and analysed in {detected:.1f} s",
        soft_wrap=True,
    )
    console.print(summary_line(report), soft_wrap=True)
    if "graph" in synthetic.truth:
        cores = sum(1 for f in report.findings if f.type == RING and f.evidence.get("core"))
        console.print(
            f"largest connected group: {synthetic.truth['graph']['largest_group_users']:,} "
            f"users; {cores:,} rings are multi-lending cores of groups over "
            f"{settings.detection.ring.max_group_users} users", soft_wrap=True)
    severities = Counter(f.severity for f in report.findings)
    console.print(
        "by severity: "
        + ", ".join(f"{s} {severities.get(s, 0)}" for s in ("critical", "high", "medium", "low")),
        soft_wrap=True,
    )
    console.print("the top finding of each type:")
    for line in _best_of_each_type(report):
        console.print(line, soft_wrap=True, markup=False)
    expected, found, unexpected = truth_check(report, truth)
    console.print(
        f"truth check: {found:,} of {expected:,} planted findings found, "
        f"{unexpected:,} findings that were not planted",
        soft_wrap=True,
    )
    console.print(
        f"results: {findings_json} (the contract's JSON), {findings_txt} (a table)",
        soft_wrap=True,
    )
    console.print(f"report:  {page}  (the nightly report page)", soft_wrap=True)
    console.print(
        f"data:    {data}  (try: {_xpg()} detect --data {data} --format table)", soft_wrap=True
    )
    missing = [t for t in FINDING_TYPES if report.summary["findings_by_type"].get(t, 0) == 0]
    if missing:
        print(f"xpg demo: no findings of type {', '.join(missing)}", file=sys.stderr)


def _xpg() -> str:
    """How to call xpg from here: ``xpg`` when it is on PATH, else the path it was run by
    (``.venv/bin/xpg`` after ``make demo``)."""
    if shutil.which("xpg") or not sys.argv or not sys.argv[0].endswith("xpg"):
        return "xpg"
    return os.path.relpath(sys.argv[0])
