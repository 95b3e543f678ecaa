"""`xpg case open`: open a case on a finding (a ring's id: the ring) or by hand on a user."""

from __future__ import annotations

from typing import Annotated

import typer

from xpg.cli.case.common import ByOpt, JsonOpt, NoteOpt, ReportsOpt, cases, print_case
from xpg.cli.common import BackendOpt, ConfigOpt


def command(
    by: ByOpt,
    finding: Annotated[str | None, typer.Option(
        "--finding", help="The finding id (a ring's id opens the case on that ring).")] = None,
    user: Annotated[str | None, typer.Option(
        "--user", help="A user id: the case holds the findings naming the user.")] = None,
    note: NoteOpt = None,
    reports: ReportsOpt = None,
    as_json: JsonOpt = False,
    backend: BackendOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Open a case (a customer's appeal, a tip-off, a finding to investigate)."""
    from xpg.errors import InputError

    if (finding is None) == (user is None):
        raise InputError("give --finding or --user (one of them)")
    with cases(reports, backend, config) as c:
        print_case(c.open(finding_id=finding, user=user, by=by, note=note), as_json)
