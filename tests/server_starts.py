"""Which servers the test session started, and how long each start took (a pytest plugin).

The Neo4j servers of ``tests/neo4j_server.py`` and the SparkSession of
``tests/spark_session.py`` call :func:`started` once started: a line is printed at once
(``server started: ...``) and the terminal summary counts them, so a change that makes a
module start a server of its own shows in ``make test``'s output. Under pytest-xdist
(``make test`` runs two workers, tests/workers.py) each worker sends its starts to the
controller at its end, and the summary counts them all, each with its worker's name.
"""

from __future__ import annotations

import pytest

__all__ = ["STARTS", "started"]

STARTS: list[tuple[str, float]] = []
"""``(what, seconds)`` of every start, in order (the controller's: every worker's)."""

_CONFIG: list[pytest.Config] = []


def pytest_configure(config: pytest.Config) -> None:
    _CONFIG[:] = [config]


def _worker(config: pytest.Config) -> str | None:
    """This process's xdist worker name (``gw0``); None in the controller or a plain run."""
    workerinput = getattr(config, "workerinput", None)
    return None if workerinput is None else workerinput["workerid"]


def started(what: str, seconds: float) -> None:
    """Record a start and print its line."""
    config = _CONFIG[0] if _CONFIG else None
    worker = None if config is None else _worker(config)
    if worker is not None:
        what = f"{what} (worker {worker})"
    STARTS.append((what, seconds))
    reporter = config.pluginmanager.get_plugin("terminalreporter") if config else None
    if reporter is not None and worker is None:  # a worker's terminal is not shown
        reporter.write_line(f"server started: {what} in {seconds:.1f} s")


def pytest_sessionfinish(session: pytest.Session) -> None:
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # an xdist worker: hand the starts to the controller
        workeroutput["server_starts"] = list(STARTS)


@pytest.hookimpl(optionalhook=True)  # an xdist hook: called in the controller
def pytest_testnodedown(node, error) -> None:
    STARTS.extend(tuple(s) for s in getattr(node, "workeroutput", {}).get("server_starts", ()))


def pytest_terminal_summary(terminalreporter) -> None:
    if not STARTS:
        return
    total = sum(s for _, s in STARTS)
    terminalreporter.write_sep("-", f"{len(STARTS)} server start(s), {total:.0f} s in all")
    for what, seconds in STARTS:
        terminalreporter.write_line(f"{seconds:7.1f} s  {what}")
