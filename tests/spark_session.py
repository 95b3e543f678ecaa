"""The test session's one SparkSession (local mode), and which Spark cases run.

``spark`` (session scope) starts one local SparkSession for the whole test session:
``local[2]``, two shuffle partitions, no UI, 2 GB for the driver (several test runs
share this machine's two cores). ``spark_backend`` is a
:class:`~xpg.graph.spark.backend.SparkBackend` on it; closing that leaves the session
running.

Server cases marked ``slow`` as well, Spark's or Neo4j's (generated data, the
components oracle on many graphs, a JVM of their own, a server killed and restarted, a
case another one covers), run in CI (``CI=true``, set by .ci/run) or with
``XPG_SPARK_SLOW=1``; a plain ``make test`` deselects them and says so. The fast cases
always run. (``slow`` alone, on an in-memory case, deselects nothing.)
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import pytest
from server_starts import started

from xpg.settings import SparkConfig

__all__ = ["TEST_CONFIG", "run_slow_spark", "spark", "spark_backend"]

TEST_CONFIG = SparkConfig(
    master="local[2]",
    app_name="xpg-tests",
    shuffle_partitions=2,
    driver_memory="2g",
    conf={"spark.default.parallelism": "2", "spark.sql.adaptive.enabled": "true"},
)


def run_slow_spark() -> bool:
    """Whether the slow server cases run: in CI or when ``XPG_SPARK_SLOW=1``."""
    return (os.environ.get("CI", "").lower() == "true"
            or os.environ.get("XPG_SPARK_SLOW") == "1")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if run_slow_spark():
        return
    slow = [i for i in items if i.get_closest_marker("slow") and (
        i.get_closest_marker("spark") or i.get_closest_marker("neo4j"))]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [i for i in items if i not in set(slow)]


def pytest_report_header(config: pytest.Config) -> str:
    return ("spark, neo4j: slow cases included" if run_slow_spark()
            else "spark, neo4j: slow cases deselected (CI=true or XPG_SPARK_SLOW=1 runs them)")


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    """One local SparkSession for the test session."""
    from xpg.graph.spark.session import spark_session

    start = time.monotonic()
    session = spark_session(TEST_CONFIG)
    started(f"SparkSession {TEST_CONFIG.master}", time.monotonic() - start)
    try:
        yield session
    finally:
        session.stop()


@pytest.fixture
def spark_backend(spark) -> Iterator[object]:
    """A Spark backend on the session's SparkSession, holding nothing yet."""
    from xpg.graph.spark.backend import SparkBackend

    backend = SparkBackend(TEST_CONFIG, session=spark)
    try:
        yield backend
    finally:
        backend.close()
