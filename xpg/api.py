"""The Python API: open a dataset once, then ask for findings, users, rings, paths, lenders.

>>> import xpg
>>> with xpg.open(data="demo-output/data") as s:            # doctest: +SKIP
...     report = s.findings()
...     ring = s.ring(report.findings[0].id)
...     print(ring.to_json())

:func:`open` loads and validates the tables (or takes a ready
:class:`~xpg.loaders.dataset.Dataset`), puts them into the chosen backend
(``"memory"``, the default, or ``"neo4j"``) and returns a :class:`Session`.
Every result is a frozen dataclass with ``to_dict()`` (JSON-ready: the
findings document is exactly the data contract's output), so a review tool
can pass it on as is. ``xpg serve`` exposes the same calls over HTTP.

Errors are those of :mod:`xpg.errors`: :class:`~xpg.errors.NotFoundError`
for an unknown id, :class:`~xpg.errors.InputError` /
:class:`~xpg.errors.ValidationError` for bad data or arguments,
:class:`~xpg.errors.BackendError` when the backend fails.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from xpg.errors import InputError
from xpg.progress import NO_PROGRESS, Progress
from xpg.queries.diff import DEFAULT_RING_OVERLAP
from xpg.settings import Settings, load_settings

if TYPE_CHECKING:
    import polars as pl

    from xpg.graph.backend import Backend
    from xpg.loaders import LoadResult
    from xpg.loaders.dataset import Dataset
    from xpg.queries.findings import FindingsReport
    from xpg.queries.investigate import (
        FindingsIndex,
        InvestigationSource,
        LenderView,
        PathView,
        RingView,
        UserView,
    )
    from xpg.queries.investigate.state import State
    from xpg.report import ReportResult, RunLog

__all__ = ["Session", "open", "read_findings"]


def read_findings(path: str | os.PathLike[str]) -> FindingsReport:
    """A findings document from a ``findings.json`` file or a report folder holding one
    (:meth:`FindingsReport.read <xpg.queries.findings.FindingsReport.read>`).

    Raises
    ------
    InputError
        Missing or unreadable file, or not a findings document.
    """
    from xpg.queries.findings import FindingsReport

    return FindingsReport.read(path)


class Session:
    """An opened dataset in a backend. Use :func:`open` to make one.

    Findings are computed once per run date and cached; investigations use
    them (which findings touch a user, which users form a ring). A session is
    a context manager: leaving the ``with`` block closes the backend if the
    session owns it (``owns_backend``: :func:`open` made it); a backend the
    caller made is left open for the caller to close.

    Attributes
    ----------
    settings : Settings
        The settings in force (thresholds, backend, Neo4j connection).
    dataset : Dataset or None
        The loaded tables; None for a session over a Neo4j database opened without
        tables (it answers findings and investigations from the graph there, but
        cannot write reports or exposure tables).
    backend : Backend
        The backend holding them.
    owns_backend : bool
        Whether :meth:`close` closes ``backend`` (True when :func:`open` made it).
    read_only : bool
        Whether the session never writes (its backend is read-only): findings are
        read back or detected without being kept.
    load_result : LoadResult or None
        The validation of the tables when :func:`open` loaded them from ``data=``
        (warnings, rejected rows).
    data_path : Path or None
        The data folder :func:`open` loaded (``data=``).
    state_note : str or None
        With ``state=`` given to :func:`open`: whether the stored state answers, or why
        not (then the data was loaded); a CLI prints it.
    """

    def __init__(
        self,
        dataset: Dataset | None,
        settings: Settings,
        backend: Backend,
        *,
        source: InvestigationSource | None = None,
        findings: FindingsReport | None = None,
        progress: Progress | None = None,
        as_of: dt.date | None = None,
        owns_backend: bool = True,
        load_result: LoadResult | None = None,
        data_path: Path | None = None,
        findings_path: str | os.PathLike[str] | None = None,
        state_note: str | None = None,
    ):
        self.dataset = dataset
        self.load_result = load_result
        self._as_of = as_of
        self.settings = settings
        self.backend = backend
        self.owns_backend = owns_backend
        self._progress = progress or NO_PROGRESS
        self._source = source
        self._findings: dict[dt.date, FindingsReport] = {}
        self._indexes: dict[dt.date, FindingsIndex] = {}
        self._fixed = findings
        if findings is not None:
            self._findings[findings.as_of] = findings
        self._closed = False
        self.data_path = data_path
        self._findings_path = findings_path
        self.state_note = state_note

    # -- lifecycle ------------------------------------------------------------------
    def __enter__(self) -> Session:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """End the session and close the backend if the session owns it (idempotent)."""
        if not self._closed:
            self._closed = True
            if self.owns_backend:
                self.backend.close()

    def _check_open(self) -> None:
        if self._closed:
            raise InputError("this xpg session is closed")

    # -- dates ------------------------------------------------------------------------
    @property
    def as_of(self) -> dt.date:
        """The default run date: the one given to :func:`open`, else the given findings'
        date, else the latest date in the data."""
        if self._as_of is not None:
            return self._as_of
        if self._fixed is not None:
            return self._fixed.as_of
        if self.dataset is None:  # the graph in the database: its last load's latest date
            with self.backend.failures("read the run date"):
                return self.backend.run_date()
        from xpg.queries.detections import default_as_of

        return default_as_of(self.dataset)

    def _date(self, as_of: dt.date | str | None) -> dt.date:
        if as_of is None:
            return self.as_of
        if isinstance(as_of, str):
            try:
                return dt.date.fromisoformat(as_of)
            except ValueError:
                raise InputError(f"as_of: {as_of!r} is not a date YYYY-MM-DD") from None
        return as_of

    # -- findings ---------------------------------------------------------------------
    @property
    def read_only(self) -> bool:
        """Whether the session never writes (its backend was opened for reading)."""
        return self.backend.read_only

    def findings(self, as_of: dt.date | str | None = None) -> FindingsReport:
        """Every finding of the data contract as of a run date (cached per date).

        A backend that keeps findings (Neo4j) answers with the ones its last detection
        of that date wrote, when they were computed on the graph as it is now with the
        same detection settings: read, not detected again. Otherwise they are detected
        (and kept by such a backend, unless the session is read-only).
        """
        self._check_open()
        day = self._date(as_of)
        if day not in self._findings:
            with self.backend.failures("detect"):
                found = self.backend.findings(self.settings.detection, as_of=day)
            self._findings[day] = found
        return self._findings[day]

    def detect(self, as_of: dt.date | str | None = None, *,
               timings: dict[str, float] | None = None) -> FindingsReport:
        """Run every detection now (never the stored findings; what ``xpg detect`` does),
        keep the findings where the backend keeps them, and cache them for the session.

        Raises
        ------
        ReadOnlyError
            Never: a read-only session detects without keeping the findings.
        """
        self._check_open()
        day = self._date(as_of)
        with self.backend.failures("detect"):
            report = self.backend.detect(self.settings.detection, as_of=day,
                                         progress=self._progress, timings=timings)
        self._findings[day] = report
        self._indexes.pop(day, None)
        return report

    def findings_index(self, as_of: dt.date | str | None = None) -> FindingsIndex:
        from xpg.queries.investigate import FindingsIndex

        day = self._date(as_of)
        if day not in self._indexes:
            stored = self.backend.stored_index(self.settings.detection, day)
            self._indexes[day] = stored if stored is not None else FindingsIndex(
                self.findings(day))
        return self._indexes[day]

    def exposure(self, as_of: dt.date | str | None = None) -> pl.DataFrame:
        """Per-user exposure (``user_id``, ``internal_limit``, ``internal_outstanding``,
        ``drawable``, ``external_outstanding``, ``total``) as the contract defines it."""
        self._check_open()
        day = self._date(as_of)
        tables = self._tables("the exposure table")
        return self.backend.user_exposure(tables, day)

    def _tables(self, what: str) -> Dataset:
        if self.dataset is None:
            raise InputError(f"{what} needs the tables: open the session with data= or dataset=")
        return self.dataset

    # -- investigations ---------------------------------------------------------------
    @property
    def source(self) -> InvestigationSource:
        """Where the investigations read: the backend's own source."""
        if self._source is None:
            with self.backend.failures("investigate"):
                self._source = self.backend.investigations(self.dataset)
        return self._source

    def user(self, user_id: str, hops: int = 1, *, as_of: dt.date | str | None = None
             ) -> UserView:
        """A user's accounts, links, lenders, findings, exposure and neighbours within ``hops``."""
        from xpg.queries.investigate import investigate_user

        self._check_open()
        day = self._date(as_of)
        return _wrap(self, lambda: investigate_user(
            self.source, self.findings_index(day), self.settings.detection, user_id,
            hops=hops, as_of=day))

    def ring(self, ring_id: str, *, as_of: dt.date | str | None = None) -> RingView:
        """A ring finding: members, shared links, lenders, exposure and freeze state."""
        from xpg.queries.investigate import investigate_ring

        self._check_open()
        day = self._date(as_of)
        return _wrap(self, lambda: investigate_ring(
            self.source, self.findings_index(day), self.settings.detection, ring_id, as_of=day))

    def path(
        self,
        a: str,
        b: str,
        *,
        via_lenders: bool = False,
        include_hubs: bool = False,
        max_hops: int = 6,
        as_of: dt.date | str | None = None,
    ) -> PathView:
        """The shortest chain of shared devices/identifiers (and lenders) from ``a`` to ``b``."""
        from xpg.queries.investigate import find_path

        self._check_open()
        day = self._date(as_of)
        return _wrap(self, lambda: find_path(
            self.source, self.settings.detection, a, b, as_of=day, via_lenders=via_lenders,
            include_hubs=include_hubs, max_hops=max_hops))

    def lender(self, lender_id: str, *, as_of: dt.date | str | None = None) -> LenderView:
        """How many flagged users and rings borrow at a lender, and how much."""
        from xpg.queries.investigate import investigate_lender

        self._check_open()
        day = self._date(as_of)
        return _wrap(self, lambda: investigate_lender(
            self.source, self.findings_index(day), lender_id, as_of=day))

    # -- state ------------------------------------------------------------------------
    def write_state(self, out: str | os.PathLike[str], *, as_of: dt.date | str | None = None,
                    overwrite: bool = False) -> State:
        """Write the stored state of this run to the folder ``out``: the investigation
        tables and the findings of ``as_of`` as sorted Parquet, with the fingerprint of
        the data folder and the settings (:mod:`xpg.queries.investigate.state`), so that
        ``xpg.open(state=out)`` answers cold queries without loading the data.

        Raises
        ------
        InputError
            The session was not opened from a data folder (``data=``), or ``out``
            exists and ``overwrite`` is false.
        """
        from xpg.queries.detections import default_as_of
        from xpg.queries.investigate import MemorySource
        from xpg.queries.investigate.state import write_state

        self._check_open()
        tables = self._tables("a stored state")
        if self.data_path is None:
            raise InputError("a stored state needs the data folder: open the session with "
                             "data=", argument="data")
        source = self._source if isinstance(self._source, MemorySource) else MemorySource(tables)
        return write_state(source, self.findings(as_of), out, data=self.data_path,
                           settings=self.settings, default_as_of=default_as_of(tables),
                           findings_file=self._findings_path, overwrite=overwrite)

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
    ) -> ReportResult:
        """Write the nightly report folder ``out/<as_of>/`` (see :mod:`xpg.report`):
        gathered from this session (:func:`xpg.gather.gather_report`), then composed and
        written (:func:`xpg.report.write_report`)."""
        from xpg.gather import gather_report
        from xpg.report import RunLog, write_report

        self._check_open()
        log = log if log is not None else RunLog()
        inputs = gather_report(self, out, previous=previous, as_of=self._date(as_of),
                               overwrite=overwrite, top_rings=top_rings,
                               ring_overlap=ring_overlap, log=log, data_source=data_source)
        return write_report(inputs, out, overwrite=overwrite, log=log)


def _wrap(session: Session, call: Any) -> Any:
    with session.backend.failures("investigate"):
        return call()


def open(
    data: str | os.PathLike[str] | None = None,
    *,
    dataset: Dataset | None = None,
    settings: Settings | None = None,
    config: str | os.PathLike[str] | None = None,
    backend: str | Backend | None = None,
    findings: FindingsReport | str | os.PathLike[str] | None = None,
    as_of: dt.date | None = None,
    progress: Progress | None = None,
    read_only: bool = False,
    quarantine: str | os.PathLike[str] | None = None,
    state: str | os.PathLike[str] | None = None,
) -> Session:
    """Open a dataset for findings and investigations.

    Parameters
    ----------
    data
        A directory of contract tables (``.parquet``/``.csv``); loaded and
        validated (:func:`xpg.loaders.load_dataset`).
    dataset
        A ready :class:`~xpg.loaders.dataset.Dataset` instead of ``data``. With
        the Neo4j backend both may be left out: the session then answers from the
        graph already in the database (its last complete load), without loading.
    settings
        Settings to use (default: packaged defaults, ``config`` and the environment).
    config
        A TOML file overriding the defaults (ignored when ``settings`` is given).
    backend
        ``"memory"`` or ``"neo4j"`` (default: ``settings.backend``), or a
        :class:`~xpg.graph.backend.Backend` already made (e.g. a Neo4j
        backend over your own driver); the dataset is loaded into it. A
        backend made here is closed with the session (or when loading
        fails); one you pass in is never closed: close it yourself.
    findings
        Use these findings instead of detecting (a :class:`FindingsReport`, a
        ``findings.json`` or a report folder): ring ids carried forward by a
        nightly report then resolve, and nothing is recomputed.
    as_of
        The session's default run date (default: the findings' date, else the
        latest date in the data).
    progress
        Where long steps report (default: silent).
    read_only
        Never write (what ``xpg query`` and ``xpg serve`` do): the backend made here
        is opened for reading, so loading ``data=`` into a database (Neo4j) is refused
        (load it with ``xpg load`` first and open without tables), and findings are
        read back or detected without being kept. A backend passed in keeps its own mode.
    quarantine
        With ``data=``: write the rejected rows there (:func:`xpg.loaders.load_dataset`).
    state
        A stored state (:meth:`Session.write_state`). When it was built from the same
        data folder (``data``, default: the one it records) with the same settings,
        findings file and run date, the session answers from it without loading
        anything (a read-only session of one run date); otherwise the data is loaded as
        usual. :attr:`Session.state_note` says which, and why.

    Returns
    -------
    Session
        Close it (or use ``with``) to release the backend.

    Raises
    ------
    InputError, ValidationError
        Neither or both of ``data`` and ``dataset``; bad tables.
    ReadOnlyError
        ``read_only`` with tables to load into a database.
    ConfigError
        Bad settings.
    BackendError
        The backend cannot be reached or fails to load.

    Examples
    --------
    >>> with open(data="demo-output/data") as s:                # doctest: +SKIP
    ...     ring = max((f for f in s.findings().findings if f.type == "ring"),
    ...                key=lambda f: f.exposure.total)
    ...     view = s.ring(ring.id)
    ...     [(m.user_id, m.freeze_state) for m in view.members]
    """
    if data is not None and dataset is not None:
        raise InputError("give one of data= (a directory) or dataset=, not both")
    if settings is None:
        settings = load_settings(config)
    if isinstance(backend, str):
        settings = settings.replace(backend=backend)
        backend = None
    note = None
    if state is not None:
        session, note = _from_state(state, data, settings, findings, as_of, backend, progress)
        if session is not None:
            return session
        if data is None and dataset is None:
            from xpg.queries.investigate.state import State

            data = State.open(state).data_dir
    in_database = data is None and dataset is None
    progress = progress or NO_PROGRESS
    owned = backend is None  # close only what this call made
    if backend is None:
        from xpg.graph import open_backend

        backend = open_backend(settings, read_only=read_only)
    try:
        if in_database and not backend.keeps_data:
            raise InputError("data: the tables are needed; only the Neo4j backend can "
                             "answer from a graph loaded earlier", argument="data")
        result = None
        if data is not None:
            from xpg.loaders import load_dataset

            path = Path(os.fspath(data))  # type: ignore[arg-type]
            if not path.is_dir():
                raise InputError(f"data: {path} is not a directory", argument="data")
            result = load_dataset(path, settings, quarantine=quarantine, progress=progress)
            dataset = result.dataset
        fixed = read_findings(findings) if isinstance(findings, str | os.PathLike) else findings
        if dataset is not None:
            with backend.failures("load the data"):
                backend.load(dataset, progress=progress)
    except BaseException:
        if owned:
            backend.close()
        raise
    return Session(dataset, settings, backend, findings=fixed, progress=progress, as_of=as_of,
                   owns_backend=owned, load_result=result,
                   data_path=Path(os.fspath(data)) if data is not None else None,  # type: ignore[arg-type]
                   findings_path=findings if isinstance(findings, str | os.PathLike) else None,
                   state_note=note)


def _from_state(
    state: str | os.PathLike[str],
    data: str | os.PathLike[str] | None,
    settings: Settings,
    findings: FindingsReport | str | os.PathLike[str] | None,
    as_of: dt.date | None,
    backend: str | Backend | None,
    progress: Progress,
) -> tuple[Session | None, str]:
    """A session over the stored state when it fits, else None and why not."""
    from xpg.graph.state import StateBackend
    from xpg.queries.investigate.state import State

    st = State.open(state)
    if backend is not None:
        why: str | None = "a backend was given"
    elif findings is not None and not isinstance(findings, str | os.PathLike):
        why = "the findings were given as an object, not a file"
    else:
        why = st.unusable(data=data, settings=settings, findings=findings, as_of=as_of)
    if why is not None:
        return None, f"stored state {st.path} not used: {why}; loading the data instead"
    session = Session(None, settings, StateBackend(st), progress=progress, as_of=as_of,
                      state_note=f"answering from the stored state {st.describe()}")
    return session, ""
