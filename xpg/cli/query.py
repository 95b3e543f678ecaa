"""`xpg query ...`: placeholder until its issue lands; replaced by the module's owner."""

from __future__ import annotations

import typer

app = typer.Typer(help="Investigative queries: user, ring, path, lender.", no_args_is_help=True)
