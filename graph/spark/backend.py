"""The Spark backend: the rules' detection frames computed by Spark.

:class:`SparkBackend` holds the contract tables as Spark DataFrames, either handed
over from a loaded :class:`~xpg.loaders.dataset.Dataset` (:meth:`~SparkBackend.load`)
or read by Spark from Parquet under a URI (:meth:`~SparkBackend.read_tables`, for
data on object storage or HDFS that no single machine should load).
:class:`~xpg.graph.spark.hooks.SparkHooks` computes the detection frames; the rules'
shared predicates and assembly turn them into findings, so they are those of the
in-memory backend, ids included.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from xpg.graph.backend import Backend, LoadStats
from xpg.graph.spark.tables import Tables, from_dataset, to_dataset
from xpg.loaders.dataset import Dataset
from xpg.loaders.schema import TABLES

from xpg.errors import BackendError
from xpg.progress import NO_PROGRESS, Progress
from xpg.settings import LoadConfig, SparkConfig

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from xpg.graph.spark.hooks import SparkHooks
    from xpg.graph.spark.validate import SparkValidation
    from xpg.queries.investigate import InvestigationSource

__all__ = ["SparkBackend"]


class SparkBackend(Backend):
    """The contract tables in Spark, and the detections over them.

    Parameters
    ----------
    config
        Master, application name, shuffle partitions, driver memory, extra conf.
    session
        A SparkSession to use (a notebook's, a test's); by default the active one
        (``spark-submit``'s), else a new one from ``config``. :meth:`close` stops
        only a session this backend started.
    read_only
        Accepted for the interface; the backend writes nothing anyway.
    load
        The ``[load]`` settings the checks of tables read from a URI follow (default
        region of phones, ``max_errors``, ``max_id_length``).

    Examples
    --------
    >>> SparkBackend().name  # nothing starts until data is loaded
    'spark'
    """

    name = "spark"
    label = "spark backend"
    keeps_data = False

    def __init__(
        self,
        config: SparkConfig | None = None,
        *,
        session: SparkSession | None = None,
        read_only: bool = False,
        load: LoadConfig | None = None,
    ):
        super().__init__(read_only=read_only)
        self.config = config or SparkConfig()
        self.load_config = load
        self.validation: SparkValidation | None = None
        self._read: Tables | None = None
        self._uri: str | None = None
        self._session = session
        self._owns_session = False
        self._hooks: SparkHooks | None = None
        self._dataset: Dataset | None = None
        self._latest: dt.date | None = None

    def _failure_hint(self, error: BaseException) -> str:
        text = str(error)
        if any(m in text for m in ("Could not allocate memory", "OutOfMemoryError",
                                   "Not enough memory", "Java heap space")):
            return ("Spark ran out of memory: give it more (for local mode, e.g. "
                    '[spark] driver_memory = "4g"; on a cluster, e.g. [spark.conf] '
                    '"spark.executor.memory" = "8g")')
        return ""

    @property
    def session(self) -> SparkSession:
        """The SparkSession (started on first use)."""
        if self._session is None:
            from xpg.graph.spark.session import active_session, spark_session

            # a session already running (spark-submit's, a notebook's) is used, not owned
            self._session = active_session()
            self._owns_session = self._session is None
            self._session = self._session or spark_session(self.config)
        return self._session

    @property
    def hooks(self) -> SparkHooks:
        """The Spark detection hooks over the tables held."""
        if self._hooks is None:
            raise BackendError("the spark backend holds no data: call load(dataset) first")
        return self._hooks

    def _hold(self, tables: Tables, dataset: Dataset | None) -> None:
        from xpg.graph.spark.hooks import SparkHooks

        self._hooks = SparkHooks(self.session, tables)
        self._dataset = dataset
        self._latest = None if dataset is None else dataset.latest_date()

    # -- Backend hooks ------------------------------------------------------------

    def _load(self, dataset: Dataset, progress: Progress | None = None) -> LoadStats:
        """Hand ``dataset``'s tables to Spark (through Arrow).

        The counts are of users and rows handed over: the Spark backend builds no
        graph, it joins tables.
        """
        progress = progress or NO_PROGRESS
        start = time.perf_counter()
        with progress.step("Handing the tables to Spark", dataset.row_count) as advance:
            self._hold(from_dataset(self.session, dataset), dataset)
            advance(dataset.row_count)
        return LoadStats(dataset.users.height, dataset.row_count, time.perf_counter() - start)

    def _read_tables(self, uri: str, progress: Progress | None) -> LoadStats:
        """Let Spark read ``uri/<table>.parquet``, check them by the loader's rules and
        normalize their identifiers (:func:`~xpg.graph.spark.validate.validate_tables`);
        nothing is read on this machine but the failures' counts and first rows.

        Raises
        ------
        ValidationError
            A table breaks the data contract: the loader's error, its failures with the
            file and row of each (``counts``: per table and rule); nothing is held.
        """
        from xpg.graph.spark.validate import validate_tables
        from xpg.loaders.normalize import check_region

        progress = progress or NO_PROGRESS
        start = time.perf_counter()
        load = self.load_config
        with progress.step(f"Reading and validating the tables with Spark from {uri}",
                           1) as advance:
            validation = validate_tables(
                self.session, uri,
                region=check_region(load.default_region) if load else "CN",
                cap=load.max_errors if load else 1000,
                max_id_length=load.max_id_length if load else 256)
            self.validation = validation
            if not validation.valid:
                raise validation.error()
            self._read = validation.tables
            self._hold({t: f.drop("_file", "_row") for t, f in validation.tables.items()}
                       | _absent(self.session, validation.tables), None)
            self._uri = uri
            advance(1)
        users = self.hooks.user_count()
        return LoadStats(users, users, time.perf_counter() - start)

    @contextmanager
    def _detection_hooks(self) -> Iterator[SparkHooks]:
        yield self.hooks

    def _investigation_source(self, dataset: Dataset | None) -> InvestigationSource:
        """Investigations read the session's tables in memory (a neighbourhood is small;
        Spark would answer each one with several jobs)."""
        from xpg.queries.investigate import MemorySource

        return MemorySource(dataset or self.snapshot())

    def latest_date(self) -> dt.date | None:
        """The latest date in any contract date/datetime column (one Spark job per
        table when the tables were read by Spark)."""
        if self._latest is None:
            self._latest = _latest_date(self.hooks.tables)
        return self._latest

    def snapshot(self) -> Dataset:
        """The tables handed to Spark, or those Spark read itself from a URI (checked and
        normalized), brought to this machine once through Arrow
        (:func:`~xpg.graph.spark.tables.to_dataset`): what a report and a stored state are
        written from, and investigations read."""
        if self._dataset is None:
            if self._read is None:
                raise BackendError("the spark backend holds no data: call load(dataset) "
                                   "or read_tables(uri) first")
            self._dataset = to_dataset(self._read, self._uri)
        return self._dataset

    def close(self) -> None:
        """Drop the tables; stop the SparkSession if this backend started it."""
        self._hooks = None
        self._dataset = None
        self._read = None
        if self._session is not None and self._owns_session:
            self._session.stop()
        self._session = None
        self._owns_session = False


def _absent(spark: SparkSession, tables: Tables) -> dict[str, DataFrame]:
    """An empty DataFrame for each optional table not under the URI."""
    from xpg.graph.spark.tables import spark_schema

    return {name: spark.createDataFrame([], spark_schema(name))
            for name in Dataset.table_names() if name not in tables}


def _latest_date(tables: Tables) -> dt.date | None:
    from pyspark.sql import functions as F

    best: dt.date | None = None
    for name, frame in tables.items():
        columns = [c.name for c in TABLES[name].columns if c.kind in ("date", "datetime")]
        if not columns:
            continue
        row = frame.agg(*(F.max(F.to_date(F.col(c))) for c in columns)).first()
        for value in row or ():
            if value is not None and (best is None or value > best):
                best = value
    return best
