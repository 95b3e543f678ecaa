"""Shared fixtures: the per-backend `backend` fixture used through tests/decorator.py."""

from __future__ import annotations

import pytest

# The session's Neo4j server and driver (fixtures `neo4j_server`, `neo4j_driver`); the
# docstring examples of every package module (tests/package_doctests.py); the session's
# SparkSession (`spark`, `spark_backend`) and which Spark cases run (tests/spark_session.py);
# a line for every server they start, counted in the summary (tests/server_starts.py).
pytest_plugins = ["server_starts", "neo4j_server", "package_doctests", "spark_session",
                  "workers"]


@pytest.fixture
def backend(request):
    name = request.param
    if name == "memory":
        from xpg.graph.memory import MemoryBackend

        b = MemoryBackend()
    elif name == "neo4j":
        b = request.getfixturevalue("neo4j_backend")  # tests/neo4j_server.py: emptied first
    elif name == "spark":
        b = request.getfixturevalue("spark_backend")  # on the session's one SparkSession
    else:  # pragma: no cover
        raise ValueError(name)
    try:
        yield b
    finally:
        b.close()


@pytest.fixture(autouse=True)
def _state_dir(tmp_path_factory, monkeypatch):
    """Each test keeps the stored states that `xpg detect`/`xpg report` write in a folder
    of its own (never the home cache; never another test's)."""
    monkeypatch.setenv("XPG_STATE_DIR", str(tmp_path_factory.mktemp("xpg-state")))
