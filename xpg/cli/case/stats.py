"""`xpg case stats`: per-rule precision (confirmed / decided) over a period."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from xpg.cli.case.common import JsonOpt, ReportsOpt, cases, parse_day
from xpg.cli.common import BackendOpt, ConfigOpt, write_stdout


def command(
    reports: ReportsOpt = None,
    since: Annotated[str | None, typer.Option("--since", help="Closed on or after.")] = None,
    until: Annotated[str | None, typer.Option("--until", help="Closed on or before.")] = None,
    as_json: JsonOpt = False,
    backend: BackendOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Per rule: cases closed by outcome and the precision, confirmed_fraud / (confirmed_fraud
    + false_positive + benign)."""
    with cases(reports, backend, config) as c:
        stats = c.stats(parse_day(since, "--since"), parse_day(until, "--until"))
    if as_json:
        write_stdout(json.dumps(stats, indent=2) + "\n")
        return
    write_stdout("rule                   confirmed  false_pos  benign  duplicate  precision\n")
    for rule, row in stats["rules"].items():
        p = "-" if row["precision"] is None else f"{row['precision']:.1%}"
        write_stdout(f"{rule:<22} {row['confirmed_fraud']:>9}  {row['false_positive']:>9}  "
                     f"{row['benign']:>6}  {row['duplicate']:>9}  {p:>9}\n")
    write_stdout("cases: " + ", ".join(f"{k} {v}" for k, v in
                                       sorted(stats["cases_by_status"].items())) + "\n")
