"""Which servers the test session started, and how long each start took (a pytest plugin).

The Neo4j servers of ``tests/neo4j_server.py`` and the SparkSession of
``tests/spark_session.py`` call :func:`started` once started: a line is printed at once
(``server started: ...``) and the terminal summary counts them, so a change that makes a
module start a server of its own shows in ``make test``'s output.
"""

from __future__ import annotations

import pytest

__all__ = ["STARTS", "started"]

STARTS: list[tuple[str, float]] = []
"""``(what, seconds)`` of every start, in order."""

_CONFIG: list[pytest.Config] = []


def pytest_configure(config: pytest.Config) -> None:
    _CONFIG[:] = [config]


def started(what: str, seconds: float) -> None:
    """Record a start and print its line."""
    STARTS.append((what, seconds))
    reporter = _CONFIG[0].pluginmanager.get_plugin("terminalreporter") if _CONFIG else None
    if reporter is not None:
        reporter.write_line(f"server started: {what} in {seconds:.1f} s")


def pytest_terminal_summary(terminalreporter) -> None:
    if not STARTS:
        return
    total = sum(s for _, s in STARTS)
    terminalreporter.write_sep("-", f"{len(STARTS)} server start(s), {total:.0f} s in all")
    for what, seconds in STARTS:
        terminalreporter.write_line(f"{seconds:7.1f} s  {what}")
