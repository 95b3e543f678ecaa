"""`xpg case list`: the cases, oldest first, filtered by status, rule and assignee."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from xpg.cli.case.common import JsonOpt, ReportsOpt, cases, print_case
from xpg.cli.common import BackendOpt, ConfigOpt, write_stdout


def command(
    reports: ReportsOpt = None,
    status: Annotated[str | None, typer.Option(
        "--status", help="open, investigating or closed.")] = None,
    rule: Annotated[str | None, typer.Option("--rule", help="The finding type.")] = None,
    assignee: Annotated[str | None, typer.Option("--assignee")] = None,
    as_json: JsonOpt = False,
    backend: BackendOpt = None,
    config: ConfigOpt = None,
) -> None:
    """List the cases."""
    from xpg.cases.model import STATUSES
    from xpg.errors import InputError

    if status is not None and status not in STATUSES:
        raise InputError(f"--status {status!r}: expected one of {', '.join(STATUSES)}")
    with cases(reports, backend, config) as c:
        found = c.list(status=status, rule=rule, assignee=assignee)
        if as_json:
            write_stdout(json.dumps([x.to_dict() for x in found], ensure_ascii=False,
                                    indent=2) + "\n")
            return
        for case in found:
            print_case(case)
