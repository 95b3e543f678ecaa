"""``xpg detect --incremental STATE``: the nightly run that costs what changed (a session
opened with ``incremental=``: :meth:`Backend.detect <xpg.graph.backend.Backend.detect>`
given the previous night), its state in ``STATE/nightly`` (the nightly part of the one
stored state, :mod:`xpg.queries.investigate.state`)."""

from __future__ import annotations

import datetime as dt
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from xpg.errors import InputError
from xpg.settings import Settings

if TYPE_CHECKING:
    from xpg.graph.backend import NightlyRun

__all__ = ["describe_run", "detect_nightly", "refuse_incremental"]


def describe_run(result: NightlyRun, state: Path) -> str:
    """What a nightly run did, for the log: incremental, or full and why, and whether the
    state folder holds the new state (none is kept for CSV input)."""
    from xpg.graph.nightly.state import NightlyState

    if result.incremental:
        note = f" ({result.reason})" if result.reason else ""
        return (f"incremental from {state}: {result.changed_users:,} users recomputed, "
                f"rings over the {result.ring_users:,} users their changes reach{note}")
    kept = NightlyState.open(state) is not None
    return f"full run ({result.reason})" + (f"; state written to {state}" if kept else "")


def refuse_incremental(data: object, settings: Settings, given: dict[str, bool]) -> None:
    """Refuse ``--incremental`` without ``--data``, off the memory backend, or with any of
    the flags in ``given`` (flag -> whether it was given)."""
    if data is None:
        raise InputError("--incremental: give --data (the new snapshot)",
                         argument="incremental")
    refused = [name for name, flag in given.items() if flag]
    if refused:
        raise InputError(f"--incremental: not with {', '.join(refused)}", argument="incremental")
    if settings.backend != "memory":
        raise InputError("--incremental: runs in memory; leave out --backend",
                         argument="incremental")


def detect_nightly(data: str | Path | None, settings: Settings, state: Path, *,
                   as_of: dt.date | None, out: Path | None, table: bool,
                   quarantine: Path | None, pseudonymize: bool,
                   changes: Path | None = None) -> None:
    """Run the nightly detection (a session opened with ``incremental=``) and write its
    findings document like ``xpg detect`` (``--out`` or stdout); say on stderr whether it
    was incremental."""
    from xpg.api import open as open_session
    from xpg.cli.common import write_stdout, write_text_atomic
    from xpg.cli.state import state_folder
    from xpg.queries.findings import gc_paused
    from xpg.queries.investigate.state import NIGHTLY

    refuse_incremental(data, settings, {"--format table": table,
                                        "--quarantine": quarantine is not None,
                                        "--pseudonymize": pseudonymize})
    state = state_folder(state, data, settings) / NIGHTLY  # its part of the one state
    start = time.perf_counter()
    with gc_paused(), open_session(data, settings=settings, incremental=state,  # type: ignore[arg-type]
                                   changes=changes) as session:
        report = session.detect(as_of)
        text = report.document()
        result = session.night
        assert result is not None
    how = describe_run(result, state)
    if out is not None:
        write_text_atomic(out, text)
        print(f"xpg: {len(report.findings):,} findings written to {out}",
              file=sys.stderr)
    else:
        write_stdout(text)
    print(f"xpg: {how}", file=sys.stderr)
    stages = ", ".join(f"{k} {v:.2f}" for k, v in result.timings.items())
    print(f"xpg: stages (s): {stages}", file=sys.stderr)
    print(f"xpg: detect took {time.perf_counter() - start:.1f} s", file=sys.stderr)
