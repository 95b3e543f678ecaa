"""Progress reporting for long steps.

Library code takes a :class:`Progress` (default :data:`NO_PROGRESS`) and
reports through it; the CLI passes a :class:`TerminalProgress` that draws on
stderr, and stays quiet when stderr is not a terminal.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

__all__ = ["NO_PROGRESS", "NullProgress", "Progress", "TerminalProgress"]

Advance = Callable[[int], None]


class Progress(Protocol):
    def step(self, description: str, total: int | None = None) -> AbstractContextManager[Advance]:
        """A context for one step; the value it yields is called with the units done."""
        ...


class NullProgress:
    @contextmanager
    def step(self, description: str, total: int | None = None) -> Iterator[Advance]:
        yield lambda n=1: None


NO_PROGRESS = NullProgress()


class TerminalProgress:
    """A rich progress bar on stderr, with units per second; silent off a terminal."""

    def __init__(self, *, enabled: bool | None = None, unit: str = "rows"):
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self.unit = unit

    @contextmanager
    def step(self, description: str, total: int | None = None) -> Iterator[Advance]:
        if not self.enabled:
            yield lambda n=1: None
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
        )
        from rich.progress import Progress as RichProgress

        start = time.perf_counter()
        done = 0
        columns = [
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
        ]
        with RichProgress(*columns, console=Console(stderr=True), transient=True) as bar:
            task = bar.add_task(description, total=total, rate="")

            def advance(n: int = 1) -> None:
                nonlocal done
                done += n
                elapsed = max(time.perf_counter() - start, 1e-9)
                bar.update(task, advance=n, rate=f"{done / elapsed:,.0f} {self.unit}/s")

            yield advance
