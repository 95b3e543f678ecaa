"""A Neo4j server for the test session (a pytest plugin, registered by conftest.py).

``neo4j_server`` (session scope) yields a :class:`~xpg.settings.Neo4jConfig`:

* ``NEO4J_URI`` set: that server (with ``NEO4J_USER``/``NEO4J_PASSWORD``/``NEO4J_DATABASE``).
  The tests wipe its database, so they refuse one that holds nodes xpg did not write;
* otherwise: a throwaway server started with ``scripts/neo4j-local`` in a temporary state
  folder (stopped at the end of the session; it also stops by itself when this process
  dies, so no JVM outlives the tests);
* no Java or Maven: the Neo4j tests are skipped, unless ``XPG_REQUIRE_NEO4J=1`` (CI), where
  they fail.

``neo4j_driver`` (session scope) is one driver for the session; ``neo4j_backend`` a
:class:`~xpg.graph.neo4j.Neo4jBackend` on it over an empty database (:func:`wipe` empties it
before every test).

``neo4j_own_server`` (session scope, started only when a test asks for it) is a second
throwaway server, always one of ``scripts/neo4j-local`` (even with ``NEO4J_URI`` set), with
the Graph Data Science plugin, for the tests that stop the server: the offline import
(``tests/test_neo4j_import.py``, which stops and restarts it; also the GDS ring path) and
the faults (``tests/test_neo4j_faults.py``). It yields an :class:`OwnServer`, which can be
crashed (:meth:`OwnServer.kill`, a SIGKILL of its JVM) and started again on the same data
(:meth:`OwnServer.restart`); a test that stops it starts it again before it ends. So a
whole session starts at most two servers; :func:`own_server` starts another one for a
test that needs one of its own (none does now). Every start prints a line and is counted
in the summary (``tests/server_starts.py``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from server_starts import started
from xpg.graph.neo4j.connection import QueryMode

from xpg.settings import Neo4jConfig, load_settings

__all__ = [
    "OwnServer",
    "dump",
    "neo4j_backend",
    "neo4j_driver",
    "neo4j_own_server",
    "neo4j_server",
    "own_server",
    "require_or_skip",
    "wipe",
]

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "neo4j-local"
START_TIMEOUT_S = 900  # the first start downloads the jars from Maven Central
RESTART_TIMEOUT_S = 600  # recovery after a kill, on a machine busy with other jobs


def require_or_skip(reason: str) -> None:
    """Skip the test, or fail it where Neo4j is required (``XPG_REQUIRE_NEO4J=1``)."""
    if os.environ.get("XPG_REQUIRE_NEO4J") == "1":
        pytest.fail(f"Neo4j is required here (XPG_REQUIRE_NEO4J=1): {reason}", pytrace=False)
    pytest.skip(f"no Neo4j: {reason}")


def _parse_env(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.startswith("NEO4J_"):
            out[key.strip()] = value.strip()
    return out


def _start_local(state: Path, *options: str) -> dict[str, str]:
    start = time.monotonic()
    missing = [tool for tool in ("java", "mvn") if shutil.which(tool) is None]
    if missing:
        require_or_skip(f"{' and '.join(missing)} not found on PATH")
    try:
        done = subprocess.run(
            [str(SCRIPT), "start", "--state", str(state), "--watch-pid", str(os.getpid()),
             *options],
            capture_output=True,
            text=True,
            timeout=START_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired:
        require_or_skip(f"scripts/neo4j-local start took over {START_TIMEOUT_S} s")
    if done.returncode != 0:
        require_or_skip(f"scripts/neo4j-local start failed:\n{done.stderr[-2000:]}")
    env = _parse_env(done.stdout)
    if "NEO4J_URI" not in env or "NEO4J_PASSWORD" not in env:
        require_or_skip(f"scripts/neo4j-local printed no connection:\n{done.stdout[-500:]}")
    started(f"Neo4j {' '.join((state.name, *options))} at {env['NEO4J_URI']}",
            time.monotonic() - start)
    return env


def _stop_local(state: Path) -> None:
    subprocess.run(
        [str(SCRIPT), "stop", "--state", str(state)],
        capture_output=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="session")
def neo4j_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Neo4jConfig]:
    """The connection of the session's Neo4j server (see the module docstring)."""
    if os.environ.get("NEO4J_URI"):
        config = load_settings(environ=os.environ).neo4j
        _check_foreign(config)
        yield config
        return
    state = tmp_path_factory.mktemp("neo4j-state")
    env = _start_local(state)
    try:
        yield load_settings(environ=env).neo4j
    finally:
        _stop_local(state)


@dataclass(frozen=True)
class OwnServer:
    """A server of ``scripts/neo4j-local``: its connection and its state folder."""

    config: Neo4jConfig
    state: Path

    def _script(self, command: str, timeout: float) -> float:
        start = time.monotonic()
        env = {**os.environ, "XPG_NEO4J_START_TIMEOUT": str(RESTART_TIMEOUT_S)}
        done = subprocess.run([str(SCRIPT), command, "--state", str(self.state)],
                              capture_output=True, text=True, timeout=timeout, env=env,
                              check=False)
        assert done.returncode == 0, f"scripts/neo4j-local {command} failed:\n{done.stderr}"
        return time.monotonic() - start

    def kill(self) -> None:
        """Crash it: SIGKILL its JVM (its data folder stays) and wait until it is gone."""
        self._script("kill", 60)

    def restart(self) -> float:
        """Start it again on the same data folder, port and password (after :meth:`kill`,
        the database recovers); the seconds it took."""
        seconds = self._script("restart", RESTART_TIMEOUT_S + 60)
        started(f"Neo4j {self.state.name} restarted after a kill", seconds)
        return seconds


@contextmanager
def own_server(tmp_path_factory: pytest.TempPathFactory, name: str,
               *options: str) -> Iterator[OwnServer]:
    """A throwaway server of ``scripts/neo4j-local`` in a new state folder, stopped at the
    end (``options``: more options of ``start``, such as ``--gds``)."""
    state = tmp_path_factory.mktemp(name)
    env = _start_local(state, *options)
    try:
        yield OwnServer(load_settings(environ=env).neo4j, state)
    finally:
        _stop_local(state)


@pytest.fixture(scope="session")
def neo4j_own_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnServer]:
    """A second throwaway server, with GDS, that tests may stop (see the module docstring)."""
    with own_server(tmp_path_factory, "neo4j-own-state", "--gds") as server:
        yield server


def _driver(config: Neo4jConfig):
    import neo4j

    auth = None if config.password is None else (config.user, config.password)
    return neo4j.GraphDatabase.driver(config.uri, auth=auth)


def _check_foreign(config: Neo4jConfig) -> None:
    """Refuse a user-given database holding nodes xpg did not write: the tests wipe it."""
    import neo4j
    from xpg.graph.neo4j import XPG_LABELS

    try:
        with _driver(config) as driver:
            records, _, _ = driver.execute_query(
                "MATCH (n) WHERE none(l IN labels(n) WHERE l IN $ours) "
                "RETURN count(n) AS n LIMIT 1",
                ours=list(XPG_LABELS),
                database_=config.database,
            )
    except neo4j.exceptions.Neo4jError as e:
        require_or_skip(f"cannot query {config.redacted_uri}: {e}")
    except neo4j.exceptions.DriverError as e:
        require_or_skip(f"cannot reach {config.redacted_uri}: {e}")
    foreign = records[0]["n"]
    if foreign:
        pytest.exit(
            f"NEO4J_URI={config.redacted_uri} database {config.database!r} holds {foreign} "
            "nodes that xpg did not write; the tests wipe the database, so point NEO4J_URI "
            "at a throwaway one (or unset it to let the tests start their own).",
            returncode=3,
        )


@pytest.fixture(scope="session")
def neo4j_driver(neo4j_server: Neo4jConfig) -> Iterator[object]:
    """One driver for the whole session, closed at its end."""
    driver = _driver(neo4j_server)
    try:
        yield driver
    finally:
        driver.close()


WIPE = (
    "MATCH ()-[r]->() CALL (r) { DELETE r } IN TRANSACTIONS OF 10000 ROWS",
    "MATCH (n) CALL (n) { DELETE n } IN TRANSACTIONS OF 10000 ROWS",
)
"""Empty a database in bounded transactions."""


def wipe(driver, database: str) -> None:
    """Delete every node and relationship (constraints and indexes stay)."""
    import neo4j

    with driver.session(database=database, default_access_mode=neo4j.WRITE_ACCESS) as session:
        # relationships first: a node's DETACH DELETE takes all of its relationships
        # into one transaction, too many for a product node of a large graph
        for query in WIPE:
            session.run(query).consume()


@pytest.fixture
def neo4j_backend(neo4j_server: Neo4jConfig, neo4j_driver) -> Iterator[object]:
    """A backend on the session's driver, over a freshly emptied database."""
    from xpg.graph.neo4j import Neo4jBackend

    wipe(neo4j_driver, neo4j_server.database)
    backend = Neo4jBackend(neo4j_server, driver=neo4j_driver)
    try:
        yield backend
    finally:
        backend.close()


def _hashable(value: object) -> object:
    """The value with its type: 1, 1.0 and True compare equal in Python, not in Neo4j."""
    if isinstance(value, list):
        return ("list", tuple(_hashable(v) for v in value))
    return (type(value).__name__, value)


def dump(backend) -> tuple[Counter, Counter]:
    """The whole graph as multisets of nodes and relationships, for comparing loads.

    A node is its labels and properties, a relationship its type, properties and end
    nodes; the load number (``load``) is left out: it counts loads, not data. The
    bookkeeping nodes (``XpgMeta``, the hash manifest's ``XpgHashes``) are left out too.
    """

    def node(labels: list[str], props: dict) -> tuple:
        return (
            tuple(sorted(labels)),
            tuple(sorted((k, _hashable(v)) for k, v in props.items() if k != "load")),
        )

    rows = backend.run(
        "MATCH (n) WHERE NOT n:XpgMeta AND NOT n:XpgHashes "
        "RETURN labels(n) AS labels, properties(n) AS props"
    , QueryMode.READ)
    nodes = Counter(node(r["labels"], r["props"]) for r in rows)
    rows = backend.run(
        "MATCH (a)-[r]->(b) RETURN labels(a) AS al, properties(a) AS ap, type(r) AS type, "
        "properties(r) AS rp, labels(b) AS bl, properties(b) AS bp"
    , QueryMode.READ)
    rels = Counter(
        (
            r["type"],
            node(r["al"], r["ap"]),
            tuple(sorted((k, _hashable(v)) for k, v in r["rp"].items() if k != "load")),
            node(r["bl"], r["bp"]),
        )
        for r in rows
    )
    return nodes, rels
