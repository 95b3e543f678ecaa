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

from xpg.errors import BackendError, InputError, XpgError
from xpg.progress import NO_PROGRESS, Progress
from xpg.settings import Settings, load_settings

if TYPE_CHECKING:
    import polars as pl

    from xpg.graph.backend import Backend
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
    from xpg.report import ReportResult

__all__ = ["Session", "investigation_source", "open", "read_findings"]


def read_findings(path: str | os.PathLike[str]) -> FindingsReport:
    """A findings document from a ``findings.json`` file or a report folder holding one.

    Raises
    ------
    InputError
        Missing or unreadable file, or not a findings document.
    """
    from xpg.queries.findings import FindingsReport

    p = Path(path)
    if p.is_dir():
        p = p / "findings.json"
    try:
        return FindingsReport.from_json(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(f"no findings document at {p}") from None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise InputError(f"{p} is not a findings document: {e}") from e


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
    ):
        self.dataset = dataset
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
            return self.backend.latest_date()  # type: ignore[attr-defined]
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
    def findings(self, as_of: dt.date | str | None = None) -> FindingsReport:
        """Every finding of the data contract as of a run date (cached per date).

        A backend that keeps findings (Neo4j) answers with the ones its last detection
        of that date wrote, when they were computed on the graph as it is now with the
        same detection settings: read, not detected again. Otherwise they are detected.
        """
        self._check_open()
        day = self._date(as_of)
        if day not in self._findings:
            try:
                stored = getattr(self.backend, "stored_findings", None)  # optional hook
                found = stored(self.settings.detection, as_of=day) if stored else None
                self._findings[day] = found if found is not None else self.backend.detect(
                    self.settings.detection, as_of=day)
            except XpgError:
                raise
            except Exception as e:  # a driver or database failure
                if self.backend.name == "memory":
                    raise
                raise BackendError(f"{self.backend.name} backend failed to detect: {e}") from e
        return self._findings[day]

    def findings_index(self, as_of: dt.date | str | None = None) -> FindingsIndex:
        from xpg.queries.investigate import FindingsIndex

        day = self._date(as_of)
        if day not in self._indexes:
            self._indexes[day] = FindingsIndex(self.findings(day))
        return self._indexes[day]

    def exposure(self, as_of: dt.date | str | None = None) -> pl.DataFrame:
        """Per-user exposure (``user_id``, ``internal_limit``, ``internal_outstanding``,
        ``drawable``, ``external_outstanding``, ``total``) as the contract defines it."""
        self._check_open()
        day = self._date(as_of)
        tables = self._tables("the exposure table")
        own = getattr(self.backend, "user_exposure", None)
        if callable(own) and self.backend.name == "memory":
            return own(day)
        from xpg.queries.exposure import user_exposure

        return user_exposure(tables, day)

    def _tables(self, what: str) -> Dataset:
        if self.dataset is None:
            raise InputError(f"{what} needs the tables: open the session with data= or dataset=")
        return self.dataset

    # -- investigations ---------------------------------------------------------------
    @property
    def source(self) -> InvestigationSource:
        """Where the investigations read: the backend's own source."""
        if self._source is None:
            self._source = investigation_source(self.backend, self.dataset)
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

    # -- report -----------------------------------------------------------------------
    def report(
        self,
        out: str | os.PathLike[str],
        previous: str | os.PathLike[str] | FindingsReport | None = None,
        *,
        as_of: dt.date | str | None = None,
        overwrite: bool = False,
        top_rings: int = 10,
    ) -> ReportResult:
        """Write the nightly report folder ``out/<as_of>/`` (see :mod:`xpg.report`)."""
        from xpg.report import write_report

        self._check_open()
        self._tables("a report")
        return write_report(self, out, previous=previous, as_of=self._date(as_of),
                            overwrite=overwrite, top_rings=top_rings)


def _wrap(session: Session, call: Any) -> Any:
    try:
        return call()
    except XpgError:
        raise
    except Exception as e:
        if session.backend.name == "memory":
            raise
        raise BackendError(f"{session.backend.name} backend failed: {e}") from e


def investigation_source(backend: Backend, dataset: Dataset | None) -> InvestigationSource:
    """The investigation source of a loaded backend: in memory over ``dataset``, or Cypher
    over the Neo4j database the backend holds."""
    if backend.name == "memory":
        from xpg.queries.investigate import MemorySource

        if dataset is None:
            raise InputError("the in-memory backend needs the tables (data= or dataset=)")
        return MemorySource(dataset)
    if backend.name == "neo4j":
        try:
            from xpg.graph.neo4j_investigate import Neo4jSource
        except ImportError as e:
            raise BackendError("investigations on Neo4j are not available in this build") from e
        return Neo4jSource(backend)
    raise BackendError(f"no investigations for backend {backend.name!r}")


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

    Returns
    -------
    Session
        Close it (or use ``with``) to release the backend.

    Raises
    ------
    InputError, ValidationError
        Neither or both of ``data`` and ``dataset``; bad tables.
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
    in_database = data is None and dataset is None
    kind = settings.backend if backend is None else backend.name
    if in_database and kind != "neo4j":
        raise InputError("data: the tables are needed; only the Neo4j backend can "
                         "answer from a graph loaded earlier", argument="data")
    progress = progress or NO_PROGRESS
    if data is not None:
        from xpg.loaders import load_dataset

        path = Path(os.fspath(data))  # type: ignore[arg-type]
        if not path.is_dir():
            raise InputError(f"data: {path} is not a directory", argument="data")
        dataset = load_dataset(path, settings, progress=progress).dataset
    fixed = read_findings(findings) if isinstance(findings, str | os.PathLike) else findings
    owned = backend is None  # close only what this call made
    if backend is None:
        from xpg.graph import open_backend

        backend = open_backend(settings)
    if in_database:
        return Session(None, settings, backend, findings=fixed, progress=progress, as_of=as_of,
                       owns_backend=owned)
    try:
        backend.load(dataset, progress=progress)  # type: ignore[arg-type]
    except XpgError:
        if owned:
            backend.close()
        raise
    except Exception as e:
        if owned:
            backend.close()
        if backend.name == "memory":
            raise
        raise BackendError(f"{backend.name} backend failed to load the data: {e}") from e
    return Session(dataset, settings, backend, findings=fixed, progress=progress, as_of=as_of,
                   owns_backend=owned)

