"""The SparkSession the Spark backend runs in, built from :class:`~xpg.settings.SparkConfig`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from xpg.errors import BackendError
from xpg.settings import SparkConfig

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["FIXED_CONF", "active_session", "session_conf", "spark_session", "submitted"]

FIXED_CONF: Mapping[str, str] = {
    # Datetimes are naive UTC in the contract: no zone may shift them on the way.
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.timestampType": "TIMESTAMP_NTZ",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
}
"""Settings the backend needs whatever ``[spark.conf]`` says (they are applied last)."""


def session_conf(config: SparkConfig) -> dict[str, str]:
    """Every ``spark.*`` setting a session of ``config`` gets.

    Examples
    --------
    >>> conf = session_conf(SparkConfig(conf={"spark.ui.enabled": "true"}))
    >>> conf["spark.sql.shuffle.partitions"], conf["spark.ui.enabled"], conf["spark.driver.memory"]
    ('4', 'true', '2g')
    """
    return {
        "spark.sql.shuffle.partitions": str(config.shuffle_partitions),
        "spark.driver.memory": config.driver_memory,
        # broadcast joins only where adaptive execution measured the side as small: the
        # static estimate of a Parquet scan is its compressed size, several times too
        # small, and broadcasting on it ran a 2 GB local driver out of memory at 100,000
        # users read from a URI (any [spark.conf] line overrides these two)
        "spark.sql.autoBroadcastJoinThreshold": "-1",
        "spark.sql.adaptive.autoBroadcastJoinThreshold": "10MB",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        **config.conf,
        **FIXED_CONF,
    }


def submitted() -> bool:
    """Whether this process is a driver that ``spark-submit`` started (its JVM is up
    and handed its gateway over).

    >>> import os; submitted() == ("PYSPARK_GATEWAY_PORT" in os.environ)
    True
    """
    return "PYSPARK_GATEWAY_PORT" in os.environ


def active_session() -> SparkSession | None:
    """The SparkSession running in this process, if any (None without pyspark)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        return None
    return SparkSession.getActiveSession()


def spark_session(config: SparkConfig) -> SparkSession:
    """The active SparkSession, or a new one on ``config.master`` (``getOrCreate``).

    Under ``spark-submit`` the master, application name and driver memory are those
    given to ``spark-submit`` (``[spark]``'s are ignored); the other settings apply.

    Raises
    ------
    BackendError
        pyspark is not installed, or Spark (its JVM) cannot start.
    """
    try:
        from pyspark.sql import SparkSession
    except ImportError as e:
        raise BackendError(
            "the spark backend needs pyspark: pip install 'xpg-exposure[spark]' "
            "(from a clone: pip install '.[spark]')"
        ) from e
    conf = session_conf(config)
    try:
        from pyspark import SparkConf

        builder = SparkSession.builder
        if submitted() or SparkConf().contains("spark.master"):
            # spark-submit chose master, name and memory: keep them
            conf.pop("spark.driver.memory")
        else:
            builder = builder.master(config.master).appName(config.app_name)
            conf["spark.driver.extraJavaOptions"] = " ".join(filter(None, (
                conf.get("spark.driver.extraJavaOptions", ""), *quiet_log_options(config))))
        for key, value in conf.items():
            builder = builder.config(key, value)
        spark = builder.getOrCreate()
        for key in ("spark.sql.shuffle.partitions", *FIXED_CONF):
            spark.conf.set(key, conf[key])
    except Exception as e:  # the JVM failed to start (no Java, bad master URL, ...)
        raise BackendError(f"cannot start Spark on {config.master}: {e}") from e
    spark.sparkContext.setLogLevel(config.log_level.upper())
    return spark


def quiet_log_options(config: SparkConfig) -> tuple[str, ...]:
    """The JVM options of a Spark that xpg starts: its log through xpg's log4j2
    configuration, at ``[spark] log_level`` (Spark's default profile logs its start-up
    warnings to stderr on every run).

    >>> opts = quiet_log_options(SparkConfig())
    >>> opts[0].startswith("-Dlog4j2.configurationFile=file:"), opts[1]
    (True, '-Dxpg.spark.log.level=error')
    """
    from importlib import resources

    path = Path(str(resources.files("xpg.config").joinpath("spark-log4j2.properties")))
    return (f"-Dlog4j2.configurationFile={path.as_uri()}",
            f"-Dxpg.spark.log.level={config.log_level}")
