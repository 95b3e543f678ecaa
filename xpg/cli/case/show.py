"""`xpg case show REF`: a case (by case id or finding id) and its audit trail."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from xpg.cli.case.common import JsonOpt, ReportsOpt, cases, print_case
from xpg.cli.common import BackendOpt, ConfigOpt, write_stdout


def command(
    ref: Annotated[str, typer.Argument(help="A case id, or a finding id a case holds.")],
    reports: ReportsOpt = None,
    as_json: JsonOpt = False,
    backend: BackendOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Show a case and every change made to it."""
    with cases(reports, backend, config) as c:
        if as_json:
            write_stdout(json.dumps(c.show(ref), ensure_ascii=False, indent=2) + "\n")
            return
        print_case(c.get(ref))
        for e in c.events(ref):
            change = ", ".join(f"{k}: {e.before.get(k)!r} -> {v!r}" for k, v in e.after.items()
                               if k != "decision" and e.before.get(k) != v)
            line = f"  #{e.seq} {e.at.isoformat()} {e.by} {e.what}"
            line += f"  {change}" if change else ""
            line += f"  note: {e.note}" if e.note else ""
            write_stdout(line + "\n")
