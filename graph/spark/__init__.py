"""The Spark backend: the same detection frames as Polars, computed by Spark.

Needs the ``spark`` extra (pyspark and pyarrow: ``pip install 'xpg-exposure[spark]'``,
from a clone ``pip install '.[spark]'``) and a Java runtime (17 or 21). Modules:

* :mod:`~xpg.graph.spark.session`: the :class:`pyspark.sql.SparkSession` from
  :class:`~xpg.settings.SparkConfig`;
* :mod:`~xpg.graph.spark.tables`: the contract tables as Spark DataFrames, from a
  :class:`~xpg.loaders.dataset.Dataset` (through Arrow) or read by Spark from Parquet
  (local, HDFS or object storage);
* :mod:`~xpg.graph.spark.components`: connected components as iterative min-label
  propagation in Spark SQL (no GraphFrames jar);
* :mod:`~xpg.graph.spark.hooks`: :class:`SparkHooks`, the detection frames;
* :mod:`~xpg.graph.spark.backend`: :class:`SparkBackend`.

Only the detection frames (small) come back to the driver; the shared assembly makes
the findings, so they are those of the in-memory backend, ids included. Nothing here
imports pyspark until a backend is made: see ``docs/spark.md``.
"""

__all__: list[str] = []
