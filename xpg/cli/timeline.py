"""How ``xpg query user ID --timeline`` shows a user's timeline (a table, or JSON)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from xpg.cli.common import table_console, write_stdout

if TYPE_CHECKING:
    from xpg.queries.investigate.timeline import TimelineView

__all__ = ["emit_timeline", "render_timeline"]


def emit_timeline(view: TimelineView, as_json: bool) -> None:
    """Write ``view`` to standard output: JSON, or the table."""
    if as_json:
        write_stdout(view.to_json() + "\n")
    else:
        render_timeline(view, table_console())


def render_timeline(view: TimelineView, console: Console) -> None:
    """One dated row per entry, oldest first."""
    nights = f"{len(view.nights)} night{'s' if len(view.nights) != 1 else ''} of findings"
    console.print(f"Timeline of {escape(view.user_id)} as of {view.as_of}  ·  "
                  f"{len(view.entries)} entries  ·  {nights}")
    t = Table(title_justify="left")
    for c in ("when", "product", "what", "why"):
        t.add_column(c, overflow="fold", no_wrap=c == "when")
    for e in view.entries:
        t.add_row(escape(e.at.replace("T00:00:00", "")), escape(e.product or ""),
                  escape(e.what), escape(e.reason))
    console.print(t)
    for note in view.notes:
        console.print(f"note: {escape(note)}")
