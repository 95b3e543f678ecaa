"""One base class, several backends.

:class:`Backend` is what the public API and the CLI talk to (in the shape of
splink's ``DatabaseAPI``): the shared steps are final methods of the base —
:meth:`~Backend.load`, :meth:`~Backend.detect`, :meth:`~Backend.findings`,
:meth:`~Backend.run_date`, :meth:`~Backend.investigations` — over a few hooks each
backend fills:

* :meth:`~Backend._load`: hold or write a dataset (and, optionally,
  :meth:`~Backend._read_tables`: read the tables from a URI itself);
* :meth:`~Backend._detection_hooks`: its :class:`~xpg.queries.frames.DetectionHooks`
  (the pipeline, :func:`xpg.queries.detections.run_detections`, calls them);
* :meth:`~Backend._detect_since` (optional): a detection that starts from the previous
  night's state (:class:`NightlyRun`) and recomputes only what changed (the in-memory
  backend's, :mod:`xpg.graph.nightly`); a backend without one detects in full and says so;
* :meth:`~Backend._investigation_source`: its
  :class:`~xpg.queries.investigate.InvestigationSource`;
* :meth:`~Backend.latest_date`: the default run date of what it holds;
* :meth:`~Backend.snapshot`: what it holds as tables (a database reads them back);
* :meth:`~Backend.stored_findings` and :meth:`~Backend.stored_index` (None by default) and
  :meth:`~Backend._store_findings` (nothing by default): findings kept from an
  earlier detection.

A backend opened ``read_only`` never writes: its :meth:`~Backend.load` refuses
when loading would write to a store (:attr:`~Backend.keeps_data`), and its
detections keep nothing.
A session (:class:`xpg.api.Session`) runs every step inside :meth:`Backend.failures`,
the one place where unexpected failures of the backend's machinery (a driver, a
database) become :class:`~xpg.errors.BackendError` named by :attr:`Backend.label`;
nobody asks a backend its name.

The in-memory backend (:mod:`xpg.graph.memory`) is the default; the Neo4j
backend (:mod:`xpg.graph.neo4j`) keeps the same graph in a database; the Spark
backend (:mod:`xpg.graph.spark`) runs the detections in Spark, on one machine or a
cluster. All three return the same :class:`~xpg.queries.findings.FindingsReport` on
the same data, ids included: the parity tests assert it.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, final

from xpg.errors import (
    BackendError,
    InputError,
    ReadOnlyError,
    RunDateUnknownError,
    XpgError,
    first_line,
)
from xpg.progress import Progress
from xpg.settings import DetectionConfig, Settings

if TYPE_CHECKING:
    import polars as pl
    from xpg.loaders.dataset import Dataset
    from xpg.loaders.load import TakeLinks
    from xpg.queries.findings import FindingsReport
    from xpg.queries.frames import DetectionHooks
    from xpg.queries.investigate import FindingsIndex, InvestigationSource

__all__ = ["Backend", "LoadStats", "NightlyRun", "brief"]


@dataclass(frozen=True)
class LoadStats:
    """What a load wrote: the nodes and relationships the dataset makes, the seconds
    taken, and for a database, ``mode`` (``full`` or ``delta``) with, for a delta, the
    rows written (new or changed) and retired, and ``phases``: seconds per phase (a
    database load's ``plan``, ``setup``, ``write``, ``retire``, ``index``, ``manifest``,
    ``finish``; a delta's ``read``, ``compare`` and ``lookup`` too)."""

    nodes: int
    relationships: int
    seconds: float
    mode: str = "full"
    written: int | None = None
    retired: int | None = None
    phases: Mapping[str, float] = field(default_factory=dict)


@dataclass
class NightlyRun:
    """A detection given the previous night: :meth:`Backend.detect` with ``night=``.

    The run reads ``data`` (tonight's snapshot: Parquet tables) and the state folder
    ``state`` the previous run left, recomputes only what the changes reach when the
    state fits, and (with ``write_state``) leaves the new state there for the next
    night; when the state does not fit, or the backend has no incremental detection, it
    detects in full. Either way the findings are a full run's, byte for byte.

    Attributes
    ----------
    data, state, settings
        Tonight's data folder, the state folder, and the settings (their detection
        section is the ``config`` given to :meth:`Backend.detect`).
    changes
        A change set (:mod:`xpg.loaders.changes`) naming what changed since the state's
        night: read instead of hashing every row of ``data``.
    write_state
        Leave the new state in ``state``.
    incremental, reason, changed_users, ring_users, timings
        What the run did, set by :meth:`Backend.detect`: whether it was incremental;
        why it was full (or, incremental, why a change set was not used); the users the
        per-user rules and the ring stage ran over (every user when full); seconds per
        stage.
    """

    data: Path
    state: Path
    settings: Settings
    changes: Path | None = None
    write_state: bool = True
    incremental: bool = field(default=False, init=False)
    reason: str | None = field(default=None, init=False)
    changed_users: int = field(default=0, init=False)
    ring_users: int = field(default=0, init=False)
    timings: dict[str, float] = field(default_factory=dict, init=False)


def brief(error: BaseException) -> str:
    """``error``'s message in one line: its first line and, where it names one, its root
    cause (a JVM's error, through py4j, carries its whole stack trace in its message).

    >>> brief(RuntimeError("Job aborted\\n\\tat a.b(C.java:1)\\nCaused by: X: y\\n\\tat d"))
    'Job aborted (Caused by: X: y)'
    >>> brief(ValueError("one line"))
    'one line'
    """
    causes = [line.strip() for line in str(error).strip().splitlines()[1:]
              if line.strip().startswith("Caused by:")]
    return first_line(error) + (f" ({causes[-1]})" if causes else "")


class Backend(ABC):
    """The exposure graph held somewhere; subclass it and fill the hooks.

    Parameters
    ----------
    read_only
        Never write: :meth:`load` refuses when :attr:`keeps_data`, and
        :meth:`detect` / :meth:`findings` store nothing.

    Attributes
    ----------
    name
        A short name for people (``memory``, ``neo4j``): shown in reports, never
        compared by the API.
    label
        How error messages name it (``"neo4j backend"``).
    wraps_errors
        Whether unexpected exceptions of its machinery become :class:`BackendError`
        (True for a backend over a server; the in-memory backend's own failures are
        bugs and pass through as they are).
    keeps_data
        Whether the backend keeps what it holds between sessions (a database): its
        :meth:`load` writes to that store (so a read-only one refuses it), and a
        session may open it without tables, over what an earlier load wrote.
    detects_since
        Whether it fills :meth:`_detect_since` (reading the night's data itself): a
        session opened for a nightly run then loads no tables before detecting.
    """

    name: ClassVar[str]
    label: ClassVar[str]
    wraps_errors: ClassVar[bool] = True
    keeps_data: ClassVar[bool] = True
    detects_since: ClassVar[bool] = False

    def __init__(self, *, read_only: bool = False) -> None:
        self.read_only = read_only

    # -- hooks --------------------------------------------------------------------

    @abstractmethod
    def _load(self, dataset: Dataset, progress: Progress | None) -> LoadStats:
        """Hold ``dataset`` (replacing or updating what it held)."""

    @abstractmethod
    def _detection_hooks(self) -> AbstractContextManager[DetectionHooks]:
        """The detection hooks over what the backend holds, for one detection run
        (a context: whatever a run leaves behind is cleaned up at its end)."""

    @abstractmethod
    def _investigation_source(self, dataset: Dataset | None) -> InvestigationSource:
        """Where the investigations read (``dataset``: the tables, when the session has
        them)."""

    @abstractmethod
    def latest_date(self) -> dt.date | None:
        """The latest date of what the backend holds (None: it holds no date)."""

    @abstractmethod
    def snapshot(self) -> Dataset:
        """What the backend holds, as tables (a database reads them back: reads only)."""

    def stored_findings(
        self, config: DetectionConfig, *, as_of: dt.date | None = None
    ) -> FindingsReport | None:
        """Findings kept from an earlier detection of ``as_of`` on the same data and
        settings, or None (the default: the backend keeps none). Reads only."""
        return None

    def stored_index(self, config: DetectionConfig, as_of: dt.date) -> FindingsIndex | None:
        """An index of the stored findings of ``as_of`` that reads lazily (a stored state:
        :class:`~xpg.queries.investigate.state_source.StateFindings`), or None (the
        default: the session indexes :meth:`findings`)."""
        return None

    def _store_findings(self, report: FindingsReport, config: DetectionConfig) -> None:  # noqa: B027
        """Keep a detection's findings (the default: nothing is kept)."""

    def user_exposure(self, dataset: Dataset, as_of: dt.date) -> pl.DataFrame:
        """Exposure of every user of ``dataset`` (:func:`xpg.queries.exposure.user_exposure`;
        a backend may answer from a cache)."""
        from xpg.queries.exposure import user_exposure

        return user_exposure(dataset, as_of)

    def _detect_since(self, night: NightlyRun, as_of: dt.date | None
                      ) -> FindingsReport | None:
        """A detection that starts from the previous night (:class:`NightlyRun`): the
        findings, with ``night``'s outcome filled in; None (the default) when the backend
        has none (:meth:`detect` then detects in full and says so)."""
        return None

    def _read_tables(self, uri: str, progress: Progress | None) -> LoadStats:
        """Read the contract tables from ``uri`` itself (default: the backend cannot)."""
        raise InputError(f"data: {uri} is a URI; the {self.label} loads local folders "
                         "(the spark backend reads URIs)", argument="data")

    def close(self) -> None:  # noqa: B027
        """Release what the backend holds (idempotent)."""

    def take_links(self) -> TakeLinks | None:
        """For a session that only detects: a ``take_links`` for
        :func:`xpg.loaders.load_dataset` that builds what the backend needs from the
        link tables while they are loaded, so their rows need not be held beside the
        other tables; None (the default) when the backend needs the whole dataset."""
        return None

    # -- shared steps (final) --------------------------------------------------------

    @final
    @contextmanager
    def failures(self, doing: str) -> Iterator[None]:
        """Unexpected exceptions of the backend's machinery as
        ``BackendError("<label> failed to <doing>: ...")`` (see :attr:`wraps_errors`);
        xpg's own errors pass through."""
        try:
            yield
        except XpgError:
            raise
        except Exception as e:
            if not self.wraps_errors:
                raise
            hint = self._failure_hint(e)
            raise BackendError(f"{self.label} failed to {doing}: {brief(e)}"
                               + (f"; {hint}" if hint else "")) from e

    def _failure_hint(self, error: BaseException) -> str:
        """What to change when ``error`` is one the user can fix by a setting (a config
        line), or ""; a backend fills it for the failures of its machinery it knows."""
        return ""

    @final
    def check_writable(self, doing: str) -> None:
        """Raise :class:`~xpg.errors.ReadOnlyError` when the backend is read-only."""
        if self.read_only:
            raise ReadOnlyError(f"the {self.label} was opened for reading: it cannot {doing}")

    @final
    def load(self, dataset: Dataset, *, progress: Progress | None = None) -> LoadStats:
        """Make the backend hold ``dataset`` (replacing or updating what it held).

        Raises
        ------
        ReadOnlyError
            When the backend is read-only and loading writes (:attr:`keeps_data`).
        """
        if self.keeps_data:
            self.check_writable("load data")
        return self._load(dataset, progress)

    @final
    def read_tables(self, uri: str, *, progress: Progress | None = None) -> LoadStats:
        """Make the backend hold the tables it reads from ``uri`` (``<table>.parquet``
        under any URI its engine reads: object storage, HDFS, ``file://``), never
        loaded here (:meth:`_read_tables`).

        Raises
        ------
        InputError
            When the backend reads no URI (only local folders, through :meth:`load`).
        ReadOnlyError
            When the backend is read-only and loading writes (:attr:`keeps_data`).
        """
        if self.keeps_data:
            self.check_writable("load data")
        return self._read_tables(uri, progress)

    @final
    def run_date(self) -> dt.date:
        """The default run date: :meth:`latest_date`.

        Raises
        ------
        RunDateUnknownError
            When the data holds no date at all.
        """
        latest = self.latest_date()
        if latest is None:
            raise RunDateUnknownError("cannot infer the run date: the data has no dates",
                                      argument="as_of")
        return latest

    @final
    def detect(
        self,
        config: DetectionConfig,
        *,
        as_of: dt.date | None = None,
        progress: Progress | None = None,
        timings: MutableMapping[str, float] | None = None,
        write_findings: bool = True,
        night: NightlyRun | None = None,
    ) -> FindingsReport:
        """Every detection as of ``as_of`` (default: :meth:`run_date`).

        The backend's hooks compute the frames; the registered rules make the findings
        (:func:`xpg.queries.detections.run_detections`). With ``write_findings`` (and
        a backend that is not read-only) the backend keeps them (:meth:`_store_findings`).

        Given ``night`` (:class:`NightlyRun`), the detection starts from the previous
        night's state where the backend can (:meth:`_detect_since`: the in-memory
        backend, over ``night.data`` whether or not it holds the tables; its default run
        date is the data's latest date) and fills in what it did; elsewhere it is a full
        one, and ``night.reason`` says so. The findings are the same either way.

        Raises
        ------
        InputError
            ``night.settings`` detect with other settings than ``config``.
        """
        from xpg.queries.detections import run_detections

        report = None
        if night is not None:
            if night.settings.detection != config:
                raise InputError("night: its settings' detection section is not the one "
                                 "given to detect", argument="night")
            night.incremental, night.reason = False, None
            night.changed_users = night.ring_users = 0
            night.timings.clear()
            report = self._detect_since(night, as_of)
            if report is None:
                night.reason = (f"the {self.label} detects in full (the incremental run "
                                "is the memory backend's); no nightly state is kept")
        if report is None:
            day = as_of or self.run_date()
            with self._detection_hooks() as hooks:
                report = run_detections(hooks, config, day, progress=progress,
                                        timings=timings)
        if write_findings and not self.read_only:
            self._store_findings(report, config)
        return report

    @final
    def findings(
        self, config: DetectionConfig, *, as_of: dt.date | None = None
    ) -> FindingsReport:
        """The findings of ``as_of``: the stored ones when the backend kept them for the
        same data and settings, else detected (and kept, unless read-only)."""
        day = as_of or self.run_date()
        stored = self.stored_findings(config, as_of=day)
        return stored if stored is not None else self.detect(config, as_of=day)

    @final
    def investigations(self, dataset: Dataset | None) -> InvestigationSource:
        """The investigation source over what the backend holds."""
        return self._investigation_source(dataset)

    def __enter__(self) -> Backend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
