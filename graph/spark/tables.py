"""The contract tables as Spark DataFrames, with the contract's column types.

Two ways in:

* :func:`from_dataset`: a loaded, validated :class:`~xpg.loaders.dataset.Dataset`
  handed to Spark through Arrow (one process; what the tests and a local run do);
* :func:`from_parquet`: ``<table>.parquet`` files (or folders of part files) under a
  path or URI that Spark itself reads (``s3a://``, ``gs://``, ``abfss://``,
  ``hdfs://``, ``file://``): the data never passes through the driver. Such tables are
  expected to be validated already (``xpg validate`` on a sample, or the producing job).

Either way every table has exactly the contract's columns, cast to
:data:`SPARK_TYPES` (datetimes ``timestamp_ntz``: naive UTC, as in memory); an optional
table that is absent is an empty DataFrame.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from xpg.loaders.dataset import Dataset
from xpg.loaders.schema import TABLES

from xpg.errors import InputError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

__all__ = ["SPARK_TYPES", "Tables", "from_dataset", "from_parquet", "path_exists",
           "spark_schema", "to_dataset"]

SPARK_TYPES: Mapping[str, str] = {
    "id": "string",
    "string": "string",
    "enum": "string",
    "date": "date",
    "datetime": "timestamp_ntz",
    "decimal": "double",
    "integer": "bigint",
}
"""The Spark SQL type of each contract column kind (:data:`xpg.loaders.schema.DTYPES`)."""

Tables = Mapping[str, "DataFrame"]


def spark_schema(table: str) -> str:
    """The DDL schema of a contract table.

    Examples
    --------
    >>> spark_schema("devices")
    'user_id string, device_id string, first_seen timestamp_ntz, last_seen timestamp_ntz'
    """
    return ", ".join(f"{c.name} {SPARK_TYPES[c.kind]}" for c in TABLES[table].columns)


def _conformed(frame: DataFrame, table: str) -> DataFrame:
    from pyspark.sql import functions as F

    columns = TABLES[table].columns
    missing = [c.name for c in columns if c.name not in frame.columns]
    if missing:
        raise InputError(f"{table}: missing column(s) {missing}", argument="data")
    return frame.select(*(F.col(c.name).cast(SPARK_TYPES[c.kind]).alias(c.name) for c in columns))


def from_dataset(spark: SparkSession, dataset: Dataset) -> dict[str, DataFrame]:
    """Every table of ``dataset`` as a Spark DataFrame (contract columns only), via Arrow."""
    import polars as pl
    import pyarrow as pa

    tables: dict[str, DataFrame] = {}
    for name in Dataset.table_names():
        frame = dataset.table(name).select(c.name for c in TABLES[name].columns)
        # plain (not view) Arrow strings, which every pyspark version takes
        arrow = frame.to_arrow(compat_level=pl.CompatLevel.oldest())
        arrow = arrow.cast(
            pa.schema(
                pa.field(f.name, pa.string() if pa.types.is_large_string(f.type) else f.type)
                for f in arrow.schema
            )
        )
        if arrow.num_rows:
            sdf = spark.createDataFrame(arrow)
        else:
            sdf = spark.createDataFrame([], spark_schema(name))
        tables[name] = _conformed(sdf, name)
    return tables


def path_exists(spark: SparkSession, path: str) -> bool:
    """Whether ``path`` exists on its (Hadoop) file system."""
    jvm = spark.sparkContext._jvm  # type: ignore[attr-defined]
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    fs = hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())  # type: ignore[attr-defined]
    return bool(fs.exists(hadoop_path))


def from_parquet(spark: SparkSession, root: str) -> dict[str, DataFrame]:
    """Every contract table read by Spark from ``root/<table>.parquet``.

    Raises
    ------
    InputError
        A required table is missing, or a table lacks a contract column.
    """
    base = root.rstrip("/")
    tables: dict[str, DataFrame] = {}
    for name in Dataset.table_names():
        path = f"{base}/{name}.parquet"
        if path_exists(spark, path):
            tables[name] = _conformed(spark.read.parquet(path), name)
        elif TABLES[name].required:
            raise InputError(f"no {name}.parquet under {root}", argument="data")
        else:
            tables[name] = spark.createDataFrame([], spark_schema(name))
    return tables


def to_dataset(tables: Mapping[str, DataFrame], source: str) -> Dataset:
    """The tables Spark holds (each row with its ``_file`` and ``_row``) brought to the
    driver as a :class:`~xpg.loaders.dataset.Dataset`, in file and row order, through
    Arrow: what a report and a stored state are written from. Contract columns, then
    ``value_raw`` for the identifiers, as the loader gives them."""
    import polars as pl

    frames: dict[str, pl.DataFrame] = {}
    for name, frame in tables.items():
        columns = [c.name for c in TABLES[name].columns]
        if name == "identifiers" and "value_raw" in frame.columns:
            columns.append("value_raw")
        ordered = frame.orderBy("_file", "_row").select(*columns)
        got = pl.from_arrow(ordered.toArrow())
        assert isinstance(got, pl.DataFrame)
        schema = {c.name: c.dtype for c in TABLES[name].columns}
        frames[name] = got.with_columns(pl.col(c).cast(t) for c, t in schema.items())
    present = frozenset(frames)
    for name in Dataset.table_names():
        if name not in frames:
            frames[name] = TABLES[name].empty()
    return Dataset(**frames, present=present, source=source)
