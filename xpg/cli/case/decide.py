"""`xpg case decide REF --outcome OUTCOME`: close the case with an outcome."""

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
    outcome: Annotated[str, typer.Option(
        "--outcome", help="confirmed_fraud, false_positive, benign or duplicate.")],
    by: ByOpt,
    note: NoteOpt = None,
    snooze_until: Annotated[str | None, typer.Option(
        "--snooze-until", help="Also snooze until this date (YYYY-MM-DD, after today).")
    ] = None,
    expected_version: ExpectedOpt = None,
    reports: ReportsOpt = None,
    as_json: JsonOpt = False,
    backend: BackendOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Decide a finding: close its case (opened now when none holds it) with an outcome;
    later nights suppress it unless it gets materially worse (false_positive, benign,
    duplicate)."""
    until = parse_day(snooze_until, "--snooze-until")
    with cases(reports, backend, config) as c:
        print_case(c.decide(ref, outcome, by=by, note=note, snooze_until=until,
                            expected_version=expected_version), as_json)
