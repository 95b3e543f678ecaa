"""`xpg case assign REF ASSIGNEE`: who works on the case."""

from __future__ import annotations

from typing import Annotated

import typer

from xpg.cli.case.common import ByOpt, ExpectedOpt, JsonOpt, ReportsOpt, cases, print_case
from xpg.cli.common import BackendOpt, ConfigOpt


def command(
    ref: Annotated[str, typer.Argument(help="A finding id or a case id.")],
    assignee: Annotated[str, typer.Argument(help="The analyst to assign.")],
    by: ByOpt,
    investigating: Annotated[bool, typer.Option(
        "--investigating", help="Also set the status to investigating.")] = False,
    expected_version: ExpectedOpt = None,
    reports: ReportsOpt = None,
    as_json: JsonOpt = False,
    backend: BackendOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Assign the case of a finding (opened when none holds it)."""
    with cases(reports, backend, config) as c:
        case = c.assign(ref, assignee, by=by, expected_version=expected_version)
        if investigating:
            case = c.set_status(case.case_id, "investigating", by=by)
        print_case(case, as_json)
