"""`xpg state build|verify`: write (or check) the stored state that answers cold `xpg
query` runs; :func:`keep_state`: what `xpg detect` and `xpg report` do after their run.

The state (:mod:`xpg.queries.investigate.state`) holds the investigation tables and
the findings of one run as sorted Parquet, with the fingerprint of the data files
and the settings. ``xpg query user|ring|path|lender --state DIR`` answers from it
without loading the data while both are unchanged, and says so on stderr; built
into a report folder (``--findings REPORT/DATE`` and no ``--out``: it goes to
``REPORT/DATE/state``), ``xpg query ... --findings REPORT/DATE`` finds it itself.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from xpg.cli.common import AsOfOpt, ConfigOpt, DataOpt, parse_as_of, progress, settings_from
from xpg.errors import InputError

if TYPE_CHECKING:
    from xpg.api import Session
    from xpg.settings import Settings

__all__ = ["app", "keep_report_state", "keep_state", "keeps_state", "state_folder"]

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


@app.command("verify")
def verify(
    state: Annotated[Path, typer.Argument(help="The state folder.")],
) -> None:
    """Check every file of a stored state against the sizes and checksums of its manifest
    (exit 9 when one is missing, truncated, changed or not listed, or the manifest is
    damaged; exit 2 for a state of another layout, which no query would use)."""
    from xpg.errors import InputError
    from xpg.queries.investigate.state import STATE_VERSION, State

    st = State.open(state)
    if st.manifest.get("version") != STATE_VERSION:
        raise InputError(f"state: {state} has layout version {st.manifest.get('version')!r}, "
                         f"this xpg reads {STATE_VERSION}: no query would use it; build it "
                         "again (`xpg state build`, or the next `xpg detect`/`xpg report`)",
                         argument="state")
    st.verify()
    print(f"state {st.describe()}: {len(st.manifest.get('files', {}))} files match its "
          "manifest", file=sys.stderr)


def keep_report_state(session: Session, folder: Path, *, say: Callable[[str], None]) -> None:
    """Write the session's stored state into the report folder it just wrote
    (``folder/state``, tied to that folder's findings), so that ``xpg query --findings
    folder`` answers from it with no backend: what a report over a URI does (its data is
    on a cluster, not here). A failure to write it is said and does not fail the run."""
    import time

    start = time.perf_counter()
    try:
        state = session.write_state(folder / "state", findings_file=folder, overwrite=True)
    except OSError as e:
        say(f"warning: no stored state kept in the report ({_why(e)})")
        return
    say(f"stored state for cold queries kept in {state.path} "
        f"({time.perf_counter() - start:.1f} s)")


def _why(error: OSError) -> str:
    """What the file system refused, with the path: a StorageError says both itself (its
    ``strerror`` and ``filename`` are unset); a plain OSError has them."""
    if error.strerror is None:
        return str(error)
    return f"{error.strerror}: {error.filename}" if error.filename else error.strerror


def keeps_state(data: object, settings: Settings, *, pseudonymize: bool = False) -> bool:
    """Whether a run over ``data`` keeps the stored state for cold queries: a data folder
    or a URI (the backend's tables brought here once), ``state.write`` on, and ids as in
    the data (not pseudonymized)."""
    return settings.state.write and data is not None and not pseudonymize


def keep_state(session: Session, as_of: dt.date, *, say: Callable[[str], None],
               where: Path | None = None) -> None:
    """Write the session's stored state where `xpg query --data` finds it (or in
    ``where``: the state folder of `--incremental`); a failure to write it (no room, no
    permission) is said, and does not fail the run."""
    import time

    start = time.perf_counter()
    try:
        state = session.keep_state(as_of, where)
    except OSError as e:
        say(f"warning: no stored state kept for cold queries ({_why(e)})")
        return
    if state is not None:
        say(f"stored state for cold queries kept in {state.path} "
            f"({time.perf_counter() - start:.1f} s)")


def state_folder(given: Path, data: object, settings: Settings) -> Path:
    """The one state folder ``--incremental`` names: ``given``, or with ``auto`` the one
    `xpg query --data` finds (:func:`~xpg.queries.investigate.state.default_location`)."""
    from xpg.queries.investigate.state import default_location

    if str(given) != "auto":
        return given
    if data is None:
        raise InputError("incremental: auto needs --data", argument="incremental")
    return default_location(data, settings)  # type: ignore[arg-type]
