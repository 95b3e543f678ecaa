"""`xpg state build`: write the stored state that answers cold `xpg query` runs.

The state (:mod:`xpg.queries.investigate.state`) holds the investigation tables and
the findings of one run as sorted Parquet, with the fingerprint of the data files
and the settings. ``xpg query user|ring|path|lender --state DIR`` answers from it
without loading the data while both are unchanged, and says so on stderr; built
into a report folder (``--findings REPORT/DATE`` and no ``--out``: it goes to
``REPORT/DATE/state``), ``xpg query ... --findings REPORT/DATE`` finds it itself.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from xpg.cli.common import AsOfOpt, ConfigOpt, DataOpt, parse_as_of, progress, settings_from
from xpg.errors import InputError

__all__ = ["app"]

app = typer.Typer(help="The stored state of a run, for cold queries.", no_args_is_help=True)


@app.command("build")
def build(
    data: DataOpt,
    out: Annotated[Path | None, typer.Option(
        "--out", help="The state folder to write (default: the state/ folder of the "
                      "--findings report folder).")] = None,
    findings: Annotated[Path | None, typer.Option(
        "--findings", help="Keep these findings (a report folder or findings.json) instead "
                           "of detecting: carried ring ids resolve.")] = None,
    as_of: AsOfOpt = None,
    config: ConfigOpt = None,
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Replace an existing state folder.")] = False,
) -> None:
    """Load and detect once, and write the state `xpg query --state` answers from."""
    import xpg.api as api

    if out is None:
        if findings is None or not findings.is_dir():
            raise InputError("out: give --out, or --findings with a report folder",
                             argument="out")
        out = findings / "state"
    settings = settings_from(config)
    with api.open(data=data, settings=settings, findings=findings, progress=progress(),
                  read_only=True) as s:
        state = s.write_state(out, as_of=parse_as_of(as_of), overwrite=overwrite)
    print(f"state written to {state.describe()}", file=sys.stderr)
