"""Options and helpers shared by the subcommands."""

from __future__ import annotations

import datetime as dt
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

import typer

from xpg import atomic
from xpg.cli.errors import message
from xpg.errors import ConfigError, InputError, ValidationError, XpgError
from xpg.loaders.mapping import mapping_plan
from xpg.loaders.sources import check_sources
from xpg.progress import TerminalProgress
from xpg.settings import Settings, key_source, load_settings

__all__ = [
    "AsOfOpt",
    "BackendOpt",
    "ConfigOpt",
    "DataOpt",
    "PseudonymizeOpt",
    "QuarantineOpt",
    "SourceDataOpt",
    "format_failure",
    "parse_as_of",
    "progress",
    "render_error",
    "settings_from",
    "write_stdout",
    "write_text_atomic",
]

_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")

DataOpt = Annotated[
    Path, typer.Option("--data", help="Directory of input tables (.parquet or .csv).")
]
SourceDataOpt = Annotated[
    Path | None,
    typer.Option("--data", help="Directory of input tables (.parquet or .csv). With --backend "
                                "neo4j leave it out: the graph the database holds is the source "
                                "(write it with `xpg load`)."),
]
ConfigOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--config",
        metavar="FILE",
        help="TOML file overriding config/defaults.toml; give it again to layer another file "
        "over it (later files win, key by key).",
    ),
]
PseudonymizeOpt = Annotated[
    bool,
    typer.Option(
        "--pseudonymize",
        help="Replace user, account and device ids and identifier values by keyed "
             "pseudonyms (HMAC-SHA256, key from XPG_PSEUDONYM_KEY) in everything written.",
    ),
]
QuarantineOpt = Annotated[
    Path | None,
    typer.Option(
        "--quarantine",
        help="Load the valid rows; write rejected rows with their reasons to this folder.",
    ),
]
AsOfOpt = Annotated[
    str | None,
    typer.Option("--as-of", help="Run date YYYY-MM-DD (default: latest date in the data)."),
]
ChangesOpt = Annotated[
    Path | None,
    typer.Option("--changes", help="With --incremental: a change set, the rows of the users "
                 "changed since the state's night (docs/data-contract.md, Change sets); read "
                 "instead of hashing every row of --data."),
]
BackendOpt = Annotated[
    str | None, typer.Option("--backend", help="memory (default), neo4j or spark.")
]


def parse_as_of(value: str | None) -> dt.date | None:
    if value is None:
        return None
    # strictly YYYY-MM-DD: date.fromisoformat also takes 20261120 and 2026-W47-5
    try:
        if not _ISO_DAY.fullmatch(value):
            raise ValueError(value)
        return dt.date.fromisoformat(value)
    except ValueError:
        raise InputError(f"--as-of: {value!r} is not a date of the form YYYY-MM-DD") from None


RUN_DATE_SLACK_DAYS = 31
"""A run date more days than this before the data's latest date is warned about."""


def run_date_warning(as_of: dt.date | None, latest: dt.date | None) -> str | None:
    """A warning when ``as_of``, the run date given, is after the data's ``latest`` date,
    or more than :data:`RUN_DATE_SLACK_DAYS` days before it (a mistyped year, a wrong
    scheduler date): the statuses and balances stay the snapshot's, only the windows move.

    Examples
    --------
    >>> run_date_warning(dt.date(2026, 11, 19), dt.date(2026, 11, 20)) is None
    True
    >>> run_date_warning(dt.date(2026, 11, 21), dt.date(2026, 11, 20)) is None
    True
    >>> run_date_warning(dt.date(2025, 11, 20), dt.date(2026, 11, 20))[:45]
    'the run date 2025-11-20 is 365 days before th'
    """
    if as_of is None or latest is None or as_of == latest:
        return None
    days = abs((latest - as_of).days)
    if as_of > latest and days == 1:
        return None  # a nightly run dated the day after its snapshot's last date
    if as_of > latest:
        return (f"the run date {as_of} is {days} day{'s' * (days != 1)} after the latest date in "
                f"the data ({latest}): nothing in the data is dated then; is --as-of right?")
    if days <= RUN_DATE_SLACK_DAYS:
        return None
    return (f"the run date {as_of} is {days} days before the latest date in the data "
            f"({latest}): statuses and balances are still those of the snapshot; only the "
            "windows move")


def _to_stderr(line: str) -> None:
    print(f"xpg: {line}", file=sys.stderr)


def settings_from(config: Sequence[Path] | Path | None, *,
                  say: Callable[[str], None] = _to_stderr, **overrides: Any) -> Settings:
    """Settings from the packaged defaults, the ``config`` files (later ones layered over
    earlier ones), the environment and flag overrides; ``say`` names the files it read
    (on stderr, by default). The mapping (``load.mapping``) is checked here, before any
    data is read, and an error in it names the file that set the key."""
    files = [config] if isinstance(config, Path) else list(config or ())
    settings = load_settings(files, overrides=overrides)
    try:
        mapping_plan(settings.load)
        check_sources(settings.load.files, settings.load.query, settings.load.allow_empty)
    except ConfigError as e:
        where = key_source(files, e.key) if e.key else None
        if where is None:
            raise
        raise ConfigError(f"{where}: {e}", key=e.key) from e
    if files:
        say(f"settings from {', '.join(map(str, files))}")
    return settings


def table_console() -> Any:
    """The console the tables of ``query``, ``screen`` and ``--timeline`` print on: the
    terminal's width, or off a terminal (a pipe, a file) 140 columns unless ``COLUMNS``
    says otherwise (80 cut words of the reasons in half)."""
    import os

    from rich.console import Console  # here: --format json never draws a table

    wide = sys.stdout.isatty() or os.environ.get("COLUMNS")
    return Console(width=None if wide else 140, highlight=False, soft_wrap=False)


def progress(unit: str = "rows") -> TerminalProgress:
    return TerminalProgress(unit=unit)


def format_failure(r: dict[str, Any]) -> str:
    """One validation failure (or warning) row as a line: table, row, column, value, rule."""
    row = "" if r["row"] is None else f" row {r['row']}"
    col = "" if r["column"] is None else f" column {r['column']}"
    val = "" if r["value"] is None else f" value {r['value']!r}"
    return f"{r['table']}{row}{col}{val}: [{r['rule']}] {r['message']}"


def render_error(error: XpgError, *, limit: int = 20) -> None:
    """Write ``error`` to stderr as a person reads it (with the hint :mod:`xpg.cli.errors`
    adds); validation failures as a list."""
    print(f"xpg: error: {message(error)}", file=sys.stderr)
    if isinstance(error, ValidationError):
        shown = error.failures.head(limit)
        for r in shown.iter_rows(named=True):
            print(f"  {format_failure(r)}", file=sys.stderr)
        if error.total > shown.height:
            print(f"  ... and {error.total - shown.height} more", file=sys.stderr)


_CHUNK = 1 << 16


def write_stdout(text: str) -> None:
    """Write ``text`` to standard output in 64 KiB pieces, each flushed.

    One large ``write`` to a pipe whose reader goes away (``xpg detect | head -1``)
    returns short and raises nothing, so the output would be cut silently and the
    command exit 0; the next piece raises ``BrokenPipeError``, which :func:`xpg.cli.main`
    turns into exit code 141.
    """
    out = sys.stdout
    raw = getattr(out, "buffer", None)
    if raw is None:  # a text-only stream (embedded, some captures)
        out.write(text)
        out.flush()
        return
    out.flush()  # what the text layer holds goes first
    data = text.encode(out.encoding or "utf-8")
    for start in range(0, len(data), _CHUNK):
        raw.write(data[start:start + _CHUNK])
        raw.flush()


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` (ending with a newline) to ``--out`` whole or not at all, with the
    usual permissions of a new file (:func:`xpg.atomic.write_text_atomic`)."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"--out {path}: is a directory; give a file name")
    if not path.parent.is_dir():
        raise InputError(f"--out {path}: folder {path.parent} does not exist")
    atomic.write_text_atomic(path, text if text.endswith("\n") else text + "\n")
