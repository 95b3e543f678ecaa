"""`xpg case snooze REF --until DATE`: suppress a finding until a date unless it worsens."""

from __future__ import annotations

from typing import Annotated

import typer

from xpg.cli.case.common import (
    ByOpt,
    ExpectedOpt,
    JsonOpt,
    NoteOpt,
    ReportsOpt,
    cases,
    parse_day,
    print_case,
)
from xpg.cli.common import BackendOpt, ConfigOpt


def command(
    ref: Annotated[str, typer.Argument(help="A finding id or a case id.")],
    until: Annotated[str, typer.Option("--until", help="YYYY-MM-DD, after today.")],
    by: ByOpt,
    note: NoteOpt = None,
    expected_version: ExpectedOpt = None,
    reports: ReportsOpt = None,
    as_json: JsonOpt = False,
    backend: BackendOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Snooze a finding: not alerted until the date, unless it gets materially worse."""
    day = parse_day(until, "--until")
    assert day is not None
    with cases(reports, backend, config) as c:
        print_case(c.snooze(ref, day, by=by, note=note, expected_version=expected_version),
                   as_json)
