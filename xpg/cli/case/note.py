"""`xpg case note REF TEXT`: add a note to the case's trail."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from xpg.cli.case.common import ByOpt, ExpectedOpt, JsonOpt, ReportsOpt, cases, print_case
from xpg.cli.common import BackendOpt, ConfigOpt


def command(
    ref: Annotated[str, typer.Argument(help="A finding id or a case id.")],
    text: Annotated[str, typer.Argument(help="The note ('-': read it from stdin).")],
    by: ByOpt,
    expected_version: ExpectedOpt = None,
    reports: ReportsOpt = None,
    as_json: JsonOpt = False,
    backend: BackendOpt = None,
    config: ConfigOpt = None,
) -> None:
    """Add a note to a case (opened on the finding when none holds it)."""
    if text == "-":
        text = sys.stdin.read()
    with cases(reports, backend, config) as c:
        print_case(c.note(ref, text, by=by, expected_version=expected_version), as_json)
