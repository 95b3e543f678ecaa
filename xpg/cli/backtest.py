"""`xpg backtest`: what candidate settings would have found on the nights already reported,
per rule, and what that does to the analysts' verdicts (see :mod:`xpg.backtest`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from xpg.cli.common import ConfigOpt, settings_from, write_stdout

__all__ = ["command"]


def command(
    config: ConfigOpt,
    reports: Annotated[Path, typer.Option(
        "--reports", help="The reports folder: its dated reports are the nights re-run, its "
                          "cases.sqlite the decisions.")],
    nights: Annotated[int | None, typer.Option(
        "--nights", min=1, help="Only the latest N nights (default: every night).")] = None,
    data: Annotated[Path | None, typer.Option(
        "--data", help="Re-run every night on this data folder (default: each night's, as "
                       "its manifest.json names it).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON on stdout.")] = False,
) -> None:
    """Re-run the stored nights under the candidate --config: per rule the findings gained
    and lost, and of those with decisions the confirmed frauds and false positives gained
    and lost."""
    from xpg.backtest import backtest
    from xpg.errors import InputError

    if not config:
        raise InputError("give the candidate settings with --config FILE")
    result = backtest(reports, settings_from(config), nights=nights, data=data)
    for note in result.notes:
        print(f"xpg backtest: {note}", file=sys.stderr)
    if as_json:
        write_stdout(json.dumps(result.to_dict(), indent=2) + "\n")
        return
    write_stdout(f"nights: {', '.join(result.nights)}\n")
    write_stdout("rule                   gained   lost  confirmed +/-  false positives +/-\n")
    for rule, r in result.rules.items():
        write_stdout(f"{rule:<22} {r['gained']:>6} {r['lost']:>6}  "
                     f"{r['confirmed_gained']:>5} / {r['confirmed_lost']:<5}  "
                     f"{r['false_positive_gained']:>8} / {r['false_positive_lost']}\n")
    if not result.rules:
        write_stdout("no finding gained or lost\n")
