"""Shared fixtures: the per-backend `backend` fixture used through tests/decorator.py."""

from __future__ import annotations

import pytest

# The session's Neo4j server and driver (fixtures `neo4j_server`, `neo4j_driver`).
pytest_plugins = ["neo4j_server"]


@pytest.fixture
def backend(request):
    name = request.param
    if name == "memory":
        from xpg.graph.memory import MemoryBackend

        b = MemoryBackend()
    elif name == "neo4j":
        from neo4j_server import wipe
        from xpg.graph.neo4j import Neo4jBackend

        config = request.getfixturevalue("neo4j_server")
        driver = request.getfixturevalue("neo4j_driver")
        wipe(driver, config.database)  # a fresh, empty database for every test
        b = Neo4jBackend(config, driver=driver)
    else:  # pragma: no cover
        raise ValueError(name)
    try:
        yield b
    finally:
        b.close()
