"""What a session writes: its stored state (:meth:`SessionWrites.write_state`,
:meth:`SessionWrites.keep_state`) and its nightly report (:meth:`SessionWrites.report`);
and that state found and opened again by :func:`xpg.api.open` (:func:`open_stored`).

:class:`xpg.api.Session` inherits :class:`SessionWrites`; its methods use the session's
tables, source, findings and settings.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import TYPE_CHECKING

from xpg.errors import InputError, StateDamagedError
from xpg.inputs import is_uri
from xpg.queries.diff import DEFAULT_RING_OVERLAP
from xpg.settings import Settings

if TYPE_CHECKING:
    from xpg.graph.backend import Backend
    from xpg.queries.findings import FindingsReport
    from xpg.queries.investigate.state import State
    from xpg.report import ReportResult, RunLog

__all__ = ["SessionWrites", "open_stored"]


class SessionWrites:
    """The state and report methods of a session."""

    # -- state ------------------------------------------------------------------------
    def write_state(self, out: str | os.PathLike[str], *, as_of: dt.date | str | None = None,
                    overwrite: bool = False,
                    findings_file: str | os.PathLike[str] | None = None,
                    release: bool = False) -> State:
        """Write the stored state of this run to the folder ``out``: the investigation
        tables and the findings of ``as_of`` as sorted Parquet, with the fingerprint of
        the data folder and the settings (:mod:`xpg.queries.investigate.state`), so that
        ``xpg.open(state=out)`` answers cold queries without loading the data.
        ``findings_file``: the findings file or report folder the state answers for
        (default: the one the session was opened with). ``release``: free each of the
        session's sorted lookup tables once written (a later query builds it again), so
        that the run does not hold them all at once.

        Raises
        ------
        InputError
            The session was not opened from a data folder (``data=``), or ``out``
            exists and ``overwrite`` is false.
        """
        from xpg.queries.investigate import MemorySource
        from xpg.queries.investigate.state import write_state

        self._check_open()
        if self.data_path is None:
            raise InputError("a stored state needs the data folder: open the session with "
                             "data=", argument="data")
        tables = self.dataset
        source = self.source  # the backend's: the link graph's groups, the tables it sorted
        if not isinstance(source, MemorySource):
            source = MemorySource(tables)
        return write_state(source, self.findings(as_of), out, data=self.data_path,
                           settings=self.settings, default_as_of=tables.latest_date(),
                           findings_file=findings_file or self._findings_path,
                           overwrite=overwrite, release=release)

    def keep_state(self, as_of: dt.date | str | None = None,
                   where: str | os.PathLike[str] | None = None) -> State | None:
        """Write the stored state of this run where ``xpg query --data`` finds it
        (:func:`~xpg.queries.investigate.state.default_location`, replacing the one
        kept there for this data folder and settings), unless ``state.write`` is off or
        the session was not opened from a local data folder; then keep at most
        ``state.keep`` states under ``state.dir``. ``where``: that folder instead (the
        state folder of a nightly incremental run; its ``nightly/`` part is kept).

        What ``xpg detect`` and ``xpg report`` do after their run: the session's sorted
        lookup tables are freed as they are written (a later query builds them again)."""
        from xpg.queries.investigate.state import default_location, prune_states

        if not self.settings.state.write or self.data_path is None or (
                self._dataset is None and not is_uri(self.data_path)):
            return None
        auto = default_location(self.data_path, self.settings)
        target = Path(where) if where is not None else auto
        state = self.write_state(target, as_of=as_of, overwrite=True, release=True)
        if target == auto:
            prune_states(auto.parent, self.settings.state.keep)
        return state

    # -- report -----------------------------------------------------------------------
    def report(
        self,
        out: str | os.PathLike[str],
        previous: str | os.PathLike[str] | FindingsReport | None = None,
        *,
        as_of: dt.date | str | None = None,
        overwrite: bool = False,
        top_rings: int = 10,
        ring_overlap: float = DEFAULT_RING_OVERLAP,
        log: RunLog | None = None,
        data_source: str | None = None,
        lock_wait_s: float = 0.0,
    ) -> ReportResult:
        """Write the nightly report folder ``out/<as_of>/`` (see :mod:`xpg.report`):
        gathered from this session (:func:`xpg.gather.gather_report`), then composed and
        written (:func:`xpg.report.write_report`), holding ``out``'s lock
        (:func:`xpg.report.run_lock`; another run there: :class:`~xpg.errors.RunLockedError`
        at once, or after waiting ``lock_wait_s`` seconds)."""
        from xpg.gather import gather_report
        from xpg.privacy import masking
        from xpg.report import RunLog, run_lock, write_report

        self._check_open()
        log = log if log is not None else RunLog()
        with run_lock(out, wait_s=lock_wait_s, log=log), masking(self.settings.privacy.masks):
            inputs = gather_report(self, out, previous=previous, as_of=self._date(as_of),
                                   overwrite=overwrite, top_rings=top_rings,
                                   ring_overlap=ring_overlap, log=log, data_source=data_source)
            return write_report(inputs, out, overwrite=overwrite, log=log)


def _auto_state(data: object, dataset: object, settings: Settings) -> Path | None:
    """The stored state ``xpg detect``/``xpg report`` left for the data folder ``data``
    under ``settings`` (:func:`~xpg.queries.investigate.state.default_location`), if any."""
    from xpg.queries.investigate.state import MANIFEST, default_location

    if data is None or dataset is not None or is_uri(data):
        return None
    where = default_location(data, settings)  # type: ignore[arg-type]
    return where if (where / MANIFEST).is_file() else None



def open_stored(
    state: str | os.PathLike[str], *, data: str | os.PathLike[str] | None,
    dataset: object, settings: Settings,
    findings: FindingsReport | str | os.PathLike[str] | None, as_of: dt.date | None,
    refused: str | None,
) -> tuple[Backend | None, str | None, str | os.PathLike[str] | None]:
    """The backend answering from the stored state ``state`` (``"auto"``: the one kept for
    ``data``, if any) for :func:`xpg.api.open` (see its ``state``), or None when it cannot
    answer (``refused``: why it may not); with the note saying which and why, and the data
    folder to load instead (the state's own when none was given).

    Raises
    ------
    StateDamagedError
        The state is damaged and neither ``data`` nor ``dataset`` was given.
    """
    if state == "auto":
        found = _auto_state(data, dataset, settings)
        if found is None:
            return None, None, data
        state = found
    from xpg.graph.state import open_state
    from xpg.queries.investigate.state import State

    try:
        st = State.open(state)
    except StateDamagedError as e:
        if data is None and dataset is None:
            raise
        return None, f"stored state {state} not used: {e}; loading the data instead", data
    stored, note = open_state(st, data=data, settings=settings, findings=findings,
                              as_of=as_of, refused=refused)
    if stored is None and data is None and dataset is None:
        data = st.data_dir
    return stored, note, data
