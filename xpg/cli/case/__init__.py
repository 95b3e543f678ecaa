"""`xpg case`: cases and decisions on findings (contract v3), one module per subcommand.

The cases live beside the reports (``--reports DIR``: ``DIR/cases.sqlite``; a finding id is
looked up in the latest report there, ring ids as carried forward), or in the graph's
Neo4j database (``--backend neo4j``). Every write names its analyst (``--by``) and is an
event of the case's audit trail (``xpg case show``).
"""

from __future__ import annotations

import typer

from xpg.cli.case import assign, decide, list_, note, open_, show, snooze, stats

__all__ = ["app"]

app = typer.Typer(help="Cases and decisions on findings: list, show, open, assign, note, "
                       "decide, snooze, stats.", no_args_is_help=True)

for _module, _name in ((list_, "list"), (show, "show"), (open_, "open"), (assign, "assign"),
                       (note, "note"), (decide, "decide"), (snooze, "snooze"), (stats, "stats")):
    app.command(_name)(_module.command)
