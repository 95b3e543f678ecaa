"""The Python API: open a dataset once, then ask for findings, users, rings, groups, paths,
lenders.

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

from xpg.errors import InputError, NoFindingsError, RunDateUnknownError
from xpg.inputs import (
    check_findings,
    is_uri,
    pseudonymized,
    read_findings,
    read_tables,
    tables_refused,
)
from xpg.progress import NO_PROGRESS, Progress
from xpg.session_cases import SessionCases
from xpg.session_writes import SessionWrites, open_stored
from xpg.settings import Settings, load_settings

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    import polars as pl

    from xpg.graph.backend import Backend, NightlyRun
    from xpg.loaders import LoadResult
    from xpg.loaders.dataset import Dataset
    from xpg.queries.findings import FindingsReport
    from xpg.queries.investigate import (
        FindingsIndex,
        GroupView,
        InvestigationSource,
        LenderView,
        PathView,
        RingView,
        UserView,
    )
    from xpg.queries.investigate.timeline import TimelineView
    from xpg.queries.screen import Screening

__all__ = ["Session", "is_uri", "open", "pseudonymized", "read_findings", "tables_refused"]


class Session(SessionCases, SessionWrites):
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
    dataset : Dataset
        The loaded tables; for a session over a Neo4j database opened without tables,
        the graph there read back as tables on first use (:meth:`Backend.snapshot
        <xpg.graph.backend.Backend.snapshot>`: reads only), for reports and exposure
        tables. Findings and investigations never need it.
    backend : Backend
        The backend holding them.
    owns_backend : bool
        Whether :meth:`close` closes ``backend`` (True when :func:`open` made it).
    read_only : bool
        Whether the session never writes (its backend is read-only): findings are
        read back or detected without being kept.
    detect : bool
        Whether :meth:`findings` may detect when a backend that keeps its graph (a
        database) has none stored (False: :class:`~xpg.errors.NoFindingsError` instead);
        a backend without a store always detects.
    load_result : LoadResult or None
        The validation of the tables when :func:`open` loaded them from ``data=``
        (warnings, rejected rows).
    data_path : Path or None
        The data folder :func:`open` loaded (``data=``).
    state_note : str or None
        With ``state=`` given to :func:`open`: whether the stored state answers, or why
        not (then the data was loaded); a CLI prints it.
    night : NightlyRun or None
        With ``incremental=`` given to :func:`open`: the nightly run every detection of
        the session is (:meth:`Backend.detect <xpg.graph.backend.Backend.detect>` given
        the previous night), and after one, what it did (incremental, or full and why).
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
        detect: bool = True,
        data_path: Path | None = None,
        findings_path: str | os.PathLike[str] | None = None,
        state_note: str | None = None,
        night: NightlyRun | None = None,
    ):
        self._dataset = dataset
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
        self._may_detect = detect
        if findings is not None:
            self._findings[findings.as_of] = findings
        self._closed = False
        self.data_path = data_path
        self._findings_path = findings_path
        self.state_note = state_note
        self.night = night
        self._night_report: FindingsReport | None = None

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

    @property
    def dataset(self) -> Dataset:
        """The tables (see the class attributes): given, or read back from the backend."""
        if self._dataset is None:
            self._check_open()
            if self.night is not None and self.backend.detects_since:
                # a nightly run detected from the night's data alone: the tables now
                loaded = read_tables(self.night.data, self.backend, self.settings,
                                     quarantine=None, progress=self._progress, take=False)
                assert loaded is not None
                self.load_result = loaded
                with self.backend.failures("load the data"):
                    self.backend.load(loaded.dataset, progress=self._progress)
                self._dataset = loaded.dataset
                return self._dataset
            with self.backend.failures("read the graph back as tables"):
                self._dataset = self.backend.snapshot()
        return self._dataset

    # -- dates ------------------------------------------------------------------------
    @property
    def as_of(self) -> dt.date:
        """The default run date: the one given to :func:`open`, else the given findings'
        date, else the latest date in the data."""
        if self._as_of is not None:
            return self._as_of
        if self._fixed is not None:
            return self._fixed.as_of
        if self._dataset is None and self.night is not None and self.backend.detects_since:
            # the run's date: the night's data's latest
            return (self._night_report or self._nightly(None)).as_of
        if self._dataset is None:  # the graph in the database: its last load's latest date
            with self.backend.failures("read the run date"):
                return self.backend.run_date()
        from xpg.queries.detections import default_as_of

        return default_as_of(self._dataset)

    def data_as_of(self) -> dt.date:
        """The latest date in the data (the database's last load when the session has no
        tables), whatever run date or findings were given."""
        if self._dataset is None:
            with self.backend.failures("read the run date"):
                return self.backend.run_date()
        from xpg.queries.detections import default_as_of

        return default_as_of(self._dataset)

    def data_latest(self) -> dt.date | None:
        """:meth:`data_as_of`, or None when the data holds no date at all (a run that is
        given its date: ``--as-of``)."""
        try:
            return self.data_as_of()
        except RunDateUnknownError:
            return None

    def dates_differ(self) -> str | None:
        """A warning when the findings given to :func:`open` are of another night than the
        data (their ``as_of`` is not the data's latest date); None when they agree or no
        findings were given."""
        if self._fixed is None:
            return None
        data_day = self.data_as_of()
        if data_day == self._fixed.as_of:
            return None
        return (f"the findings are as of {self._fixed.as_of} but the data's latest date is "
                f"{data_day}: ids, members and amounts may not match the data")

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
        (and kept by such a backend, unless the session is read-only), unless the session
        was opened with ``detect=False``.

        Raises
        ------
        NoFindingsError
            ``detect=False`` and no current stored findings for the date.
        """
        self._check_open()
        if self.night is not None and self._night_report is None:
            self._nightly(as_of)
        day = self._date(as_of)
        if day not in self._findings:
            if self._may_detect or not self.backend.keeps_data:
                with self.backend.failures("detect"):
                    found = self.backend.findings(self.settings.detection, as_of=day)
            else:
                with self.backend.failures("read the stored findings"):
                    stored = self.backend.stored_findings(self.settings.detection, as_of=day)
                if stored is None:  # not cached: a detection may store them later
                    raise NoFindingsError(
                        f"no detection has stored findings of {day.isoformat()} for the graph "
                        f"the {self.backend.label} holds now, with these detection settings")
                found = stored
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
        if self.night is not None:
            return self._nightly(as_of, timings)
        day = self._date(as_of)
        with self.backend.failures("detect"):
            report = self.backend.detect(self.settings.detection, as_of=day,
                                         progress=self._progress, timings=timings)
        self._findings[day] = report
        self._indexes.pop(day, None)
        return report

    def _nightly(self, as_of: dt.date | str | None,
                 timings: dict[str, float] | None = None) -> FindingsReport:
        """The session's nightly run (:attr:`night`): :meth:`Backend.detect
        <xpg.graph.backend.Backend.detect>` given the previous night; with no date given,
        the run's own default (the night's data's latest date), so that a backend that
        reads the night's data itself needs no tables loaded first."""
        assert self.night is not None
        day = None if as_of is None and self._as_of is None else self._date(as_of)
        with self.backend.failures("detect"):
            report = self.backend.detect(self.settings.detection, as_of=day,
                                         progress=self._progress, timings=timings,
                                         night=self.night)
        if timings is not None:
            timings.update(self.night.timings)
        self._night_report = report
        self._findings[report.as_of] = report
        self._indexes.pop(report.as_of, None)
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
        return self.backend.user_exposure(self.dataset, day)

    # -- investigations ---------------------------------------------------------------
    @property
    def source(self) -> InvestigationSource:
        """Where the investigations read: the backend's own source."""
        if self._source is None:
            if self._dataset is None and self.night is not None:
                self.dataset  # noqa: B018 (the night's tables, read when first needed)
            with self.backend.failures("investigate"):
                self._source = self.backend.investigations(self._dataset)
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

    def ring(self, ring_id: str, *, as_of: dt.date | str | None = None,
             limit: int | None = 25) -> RingView:
        """A ring finding: members (the ``limit`` of largest exposure; None: all), shared
        links, lenders, exposure and freeze state; bounded on a ring of any size."""
        from xpg.queries.investigate import investigate_ring

        self._check_open()
        day = self._date(as_of)
        return _wrap(self, lambda: investigate_ring(
            self.source, self.findings_index(day), self.settings.detection, ring_id, as_of=day,
            limit=limit))

    def group(self, user_id: str, *, as_of: dt.date | str | None = None,
              limit: int = 10) -> GroupView:
        """A user's connected group as a summary, without its members: size,
        multi-lenders, the hubs cut around it, the rings (cores) found in it, exposure."""
        from xpg.queries.investigate import investigate_group

        self._check_open()
        day = self._date(as_of)
        return _wrap(self, lambda: investigate_group(
            self.source, self.findings_index(day), self.settings.detection, user_id,
            as_of=day, limit=limit))

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

    def screen(self, identifiers: Mapping[str, str | Sequence[str] | None], *,
               as_of: dt.date | str | None = None) -> Screening:
        """An applicant's verdict (``high``, ``elevated``, ``clear``) and its reasons, from
        the identifiers given (``device_id``, ``phone``, ``bank_card``, ``id_number``,
        ``email``, ``ip``, ``address``, ``user_id``); nothing about the applicant is kept
        (:func:`xpg.queries.screen.screen`)."""
        from xpg.queries.screen import applicant, screen

        self._check_open()
        who = applicant(identifiers, region=self.settings.load.default_region)
        day = self._date(as_of)
        return _wrap(self, lambda: screen(self.source, self.findings_index(day),
                                          self.settings.detection, who, as_of=day))

    def timeline(self, user_id: str, *, as_of: dt.date | str | None = None,
                 reports: str | os.PathLike[str] | None = None) -> TimelineView:
        """A user's cross-product timeline: accounts, limit changes, freezes, restores,
        loans, applications, and the findings naming the user on this session's night and
        on each night of ``reports`` (a folder of nightly reports, ``<date>/findings.json``)."""
        from xpg.queries.investigate.timeline import stored_nights, user_timeline

        self._check_open()
        day = self._date(as_of)
        nights = [*(stored_nights(reports) if reports is not None else []),
                  self.findings(day)]
        return _wrap(self, lambda: user_timeline(self.source, user_id, day, nights))


def _wrap(session: Session, call: Any) -> Any:
    """Run an investigation: backend failures as errors, identifiers masked by the
    session's ``privacy.masks``."""
    from xpg.privacy import masking

    with session.backend.failures("investigate"), masking(session.settings.privacy.masks):
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
    load: bool = True,
    detect: bool = True,
    pseudonymize: bool = False,
    state: str | os.PathLike[str] | None = None,
    investigate: bool = True,
    incremental: str | os.PathLike[str] | None = None,
    changes: str | os.PathLike[str] | None = None,
) -> Session:
    """Open a dataset for findings and investigations.

    Parameters
    ----------
    data
        A directory of contract tables (``.parquet``/``.csv``); loaded and
        validated (:func:`xpg.loaders.load_dataset`). A URI (``s3a://...``,
        ``hdfs://...``, ``file://...``) of ``<table>.parquet`` files is read and checked
        by the backend itself (the Spark backend, by the loader's rules; see
        :meth:`xpg.graph.backend.Backend.read_tables`); the session's tables are then
        brought from it when first asked for (:attr:`Session.dataset`).
    dataset
        A ready :class:`~xpg.loaders.dataset.Dataset` instead of ``data``. With
        the Neo4j backend both may be left out: the session then answers from the
        graph already in the database (its last complete load), without loading.
    settings
        Settings to use (default: packaged defaults, ``config`` and the environment).
    config
        A TOML file overriding the defaults (ignored when ``settings`` is given).
    backend
        ``"memory"``, ``"neo4j"`` or ``"spark"`` (default: ``settings.backend``), or a
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
    load
        With a backend that keeps its graph (Neo4j): whether tables given (``data=``,
        ``dataset=``) may be written into it. False refuses them
        (:class:`~xpg.errors.GraphSourceError`): the session then only works on what
        the database holds, as every ``xpg`` command but ``xpg load`` does.
    detect
        With a backend that keeps its graph (Neo4j): whether findings may be detected
        when none are given or stored. False: only the findings the last detection
        stored are used, and asking for a date without them raises
        :class:`~xpg.errors.NoFindingsError` (what ``xpg serve`` does). The in-memory
        backend always detects.
    pseudonymize
        Replace user, account and device ids and identifier values by their keyed
        pseudonyms before anything is detected or written
        (:func:`xpg.loaders.pseudonymize.pseudonymize`, key ``privacy.pseudonym_key``
        from ``XPG_PSEUDONYM_KEY``; a :class:`ConfigError` without it).
    state
        A stored state (:meth:`Session.write_state`), or ``"auto"``: the one ``xpg
        detect``/``xpg report`` keep for the data folder ``data`` under these settings
        (:func:`~xpg.queries.investigate.state.default_location`), if any. A damaged
        state (:class:`~xpg.errors.StateDamagedError`) is never used: with ``data`` the
        data is loaded instead (the note says why), without it the error is raised.
        When it was built from the same
        data folder (``data``, default: the one it records) with the same settings,
        findings file and run date, the session answers from it without loading
        anything (a read-only session of one run date); otherwise the data is loaded as
        usual. :attr:`Session.state_note` says which, and why.
    investigate
        False for a session that only detects (``xpg detect``): a backend that builds
        its own structure from the device and identifier rows (the in-memory backend's
        link graph) builds it while ``data`` loads and lets those rows go, so they are
        never held beside the other tables (:meth:`Backend.take_links
        <xpg.graph.backend.Backend.take_links>`); investigations and the report are
        then refused. The findings are the same.
    incremental
        A nightly state folder: every detection of the session is the nightly run from
        it (:meth:`Backend.detect <xpg.graph.backend.Backend.detect>` given the previous
        night, :attr:`Session.night`): where the state fits, only what changed since the
        run that wrote it is recomputed, and the new state is left there (the in-memory
        backend, Parquet tables in ``data``, which it reads itself: nothing is loaded
        before the detection). Another backend detects in full and says so. The findings
        are a full run's, byte for byte.
    changes
        With ``incremental``: a change set (:mod:`xpg.loaders.changes`) naming what
        changed since the state's night, read instead of hashing every row of ``data``.

    Returns
    -------
    Session
        Close it (or use ``with``) to release the backend.

    Raises
    ------
    InputError, ValidationError
        Neither or both of ``data`` and ``dataset``; bad tables.
    GraphSourceError
        Tables given with ``load=False`` to a backend that keeps its graph.
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
    night = _night(data, settings, incremental, changes, state=state,
                   pseudonymize=pseudonymize)
    backend_given = backend is not None
    if isinstance(backend, str):
        settings = settings.replace(backend=backend)
        backend = None
    note = None
    if state is not None:
        stored, note, data = open_stored(
            state, data=data, dataset=dataset, settings=settings, findings=findings,
            as_of=as_of, refused=("a backend was given" if backend_given else
                                  "pseudonymize was asked" if pseudonymize else None))
        if stored is not None:
            return Session(None, settings, stored, progress=progress, as_of=as_of,
                           state_note=note)
    in_database = data is None and dataset is None
    progress = progress or NO_PROGRESS
    owned = backend is None  # close only what this call made
    if backend is None:
        from xpg.graph import open_backend

        backend = open_backend(settings, read_only=read_only)
    if night is not None and backend.detects_since:  # it reads the night's data itself
        return Session(None, settings, backend, progress=progress, as_of=as_of,
                       owns_backend=owned, detect=detect, data_path=night.data, night=night)
    try:
        if in_database and not backend.keeps_data:
            raise InputError("data: the tables are needed; only the Neo4j backend can "
                             "answer from a graph loaded earlier", argument="data")
        if not in_database and backend.keeps_data and not load:
            raise tables_refused(backend)
        result = read_tables(data, backend, settings, quarantine=quarantine,
                             progress=progress, take=not (investigate or pseudonymize))
        if result is not None:
            dataset = result.dataset
        if pseudonymize:
            dataset = pseudonymized(dataset, settings)
        fixed = read_findings(findings) if isinstance(findings, str | os.PathLike) else findings
        if fixed is not None and dataset is not None and isinstance(findings, str | os.PathLike):
            check_findings(fixed, findings, dataset.users.get_column("user_id"))
        if dataset is not None:
            with backend.failures("load the data"):
                backend.load(dataset, progress=progress)
    except BaseException:
        if owned:
            backend.close()
        raise
    return Session(dataset, settings, backend, findings=fixed, progress=progress, as_of=as_of,
                   owns_backend=owned, load_result=result, detect=detect,
                   data_path=(None if data is None else data if is_uri(data)
                              else Path(os.fspath(data))),  # type: ignore[arg-type]
                   findings_path=findings if isinstance(findings, str | os.PathLike) else None,
                   state_note=note, night=night)


def _night(data: object, settings: Settings, incremental: str | os.PathLike[str] | None,
           changes: str | os.PathLike[str] | None, *, state: object, pseudonymize: bool
           ) -> NightlyRun | None:
    """The nightly run of :func:`open`'s ``incremental=`` (None without it)."""
    if incremental is None:
        if changes is not None:
            raise InputError("changes: give incremental= too (a change set is read against "
                             "the state of the night it follows)", argument="changes")
        return None
    if data is None or is_uri(data):
        raise InputError("incremental: give data= (the new snapshot, a local folder)",
                         argument="incremental")
    if state is not None or pseudonymize:
        raise InputError(f"incremental: not with {'state=' if state else 'pseudonymize'}",
                         argument="incremental")
    from xpg.graph.backend import NightlyRun

    return NightlyRun(Path(os.fspath(data)), Path(os.fspath(incremental)), settings,  # type: ignore[arg-type]
                      changes=None if changes is None else Path(os.fspath(changes)))

