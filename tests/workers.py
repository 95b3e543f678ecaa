"""Which tests share a worker when the suite runs in parallel (a pytest plugin).

``make test`` runs the suite on two pytest-xdist workers (``-n 2 --dist loadgroup``): the
in-memory tests are CPU work, the Neo4j and Spark tests mostly wait on a JVM, so one
worker's Python runs while the other waits. The servers are per worker process (session
fixtures), so the tests are grouped to start each of them once, as a serial run does:

* every Neo4j test (its marker, or a fixture of ``tests/neo4j_server.py``) goes to the
  group ``neo4j``: one worker starts the session's server and, if asked, the second
  server that tests stop (``neo4j_own_server``); no other worker starts one;
* the other tests of a module that has a Spark test go to the group ``spark``: one
  worker starts the SparkSession, and such a module's module-scoped fixtures (the demo of
  ``tests/test_docs_commands.py``) are built once, with its Spark test;
* every other test goes to its module's group, so a module-scoped fixture (a generated
  dataset, a report folder) is built on one worker only, once.

The scheduler (:class:`GroupScheduling`) hands out the server groups first (``neo4j``, then
``spark``: the longest, each waiting on a JVM; handed out by size, the Spark group of 27 tests
came late and was the run's tail), then the others largest first, one group at a time to
whichever worker is free. Each worker writes the
group of every test it collected to a file of the controller's (pytest-xdist's own
``xdist_group`` marks are not used: with pytest 9.2 its worker no longer puts the group
into the test's id, pytest-xdist issue #1386, and the tests land anywhere). Without
xdist (``-n 0``, a plain ``pytest``) this plugin does nothing.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest

__all__ = ["NEO4J_FIXTURES", "SERVER_GROUPS", "SPARK_FIXTURES", "group_of", "groups", "ordered"]

NEO4J_FIXTURES = frozenset({"neo4j_server", "neo4j_driver", "neo4j_backend",
                            "neo4j_own_server"})
SPARK_FIXTURES = frozenset({"spark", "spark_backend"})
SERVER_GROUPS = ("neo4j", "spark")  # handed out first, in this order
_GROUPS_DIR = "xpg_groups_dir"  # the key of the controller's folder in a worker's input
_DIR = pytest.StashKey[Path]()  # that folder, in the controller


def _uses(item: pytest.Item, marker: str, fixtures: frozenset[str]) -> bool:
    return (item.get_closest_marker(marker) is not None
            or not fixtures.isdisjoint(getattr(item, "fixturenames", ())))


def _module(item: pytest.Item) -> str:
    return item.nodeid.split("::", 1)[0]


def group_of(item: pytest.Item, spark_modules: set[str]) -> str:
    """The worker group of ``item`` (``spark_modules``: modules with a selected Spark test)."""
    if _uses(item, "neo4j", NEO4J_FIXTURES):
        return "neo4j"
    return "spark" if _module(item) in spark_modules else _module(item)


def groups(items: list[pytest.Item]) -> dict[str, str]:
    """The group of each selected test, by its id."""
    spark_modules = {_module(i) for i in items
                     if _uses(i, "spark", SPARK_FIXTURES) and not _uses(i, "neo4j", NEO4J_FIXTURES)}
    return {i.nodeid: group_of(i, spark_modules) for i in items}


def ordered(scopes: list[str]) -> list[str]:
    """The order in which the groups are handed out: the server groups first, in the order
    of :data:`SERVER_GROUPS`, then the others in their given order (largest first)."""
    rank = {name: i for i, name in enumerate(SERVER_GROUPS)}
    return sorted(scopes, key=lambda scope: rank.get(scope, len(rank)))


def _distributed(config: pytest.Config) -> bool:
    """Whether this is the controller of a ``--dist loadgroup`` run."""
    return (config.pluginmanager.hasplugin("xdist")
            and not hasattr(config, "workerinput")
            and config.getoption("dist", "no") == "loadgroup"
            and bool(config.getoption("numprocesses", None)))


def pytest_configure(config: pytest.Config) -> None:
    if _distributed(config):
        config.stash[_DIR] = Path(tempfile.mkdtemp(prefix="xpg-test-groups-"))


def pytest_unconfigure(config: pytest.Config) -> None:
    folder = config.stash.get(_DIR, None)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.hookimpl(optionalhook=True)  # xdist, controller: tell each worker where to write
def pytest_configure_node(node) -> None:
    folder = node.config.stash.get(_DIR, None)
    if folder is not None:
        node.workerinput[_GROUPS_DIR] = str(folder)


@pytest.hookimpl(tryfirst=True)  # before xdist's own, which sends the collection on
def pytest_collection_finish(session: pytest.Session) -> None:
    """In a worker: write the group of every selected test (after every deselection),
    before xdist tells the controller the collection is done (the controller reads it
    then: written after, the tests were scheduled by module and both workers started
    every server)."""
    workerinput = getattr(session.config, "workerinput", None)
    if workerinput is None or _GROUPS_DIR not in workerinput:
        return
    path = Path(workerinput[_GROUPS_DIR]) / f"{workerinput['workerid']}.json"
    partial = path.with_suffix(".part")
    partial.write_text(json.dumps(groups(session.items)), encoding="utf-8")
    partial.replace(path)  # whole or absent


@pytest.hookimpl(optionalhook=True)  # xdist, controller
def pytest_xdist_make_scheduler(config: pytest.Config, log):
    folder = config.stash.get(_DIR, None)
    if folder is None:
        return None
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        """LoadScope scheduling whose scopes are the groups the workers wrote."""

        _groups: dict[str, str] | None = None
        _ordered = False

        def _assign_work_unit(self, node) -> None:
            if not self._ordered:  # the queue is built (largest first): servers to the front
                self._ordered = True
                queue = self.workqueue
                self.workqueue = type(queue)((s, queue[s]) for s in ordered(list(queue)))
            super()._assign_work_unit(node)

        def _split_scope(self, nodeid: str) -> str:
            if not self._groups:  # a worker that has collected has written its file
                self._groups = {}
                for path in sorted(folder.glob("*.json")):
                    self._groups.update(json.loads(path.read_text(encoding="utf-8")))
            return self._groups.get(nodeid) or nodeid.split("::", 1)[0]

    return GroupScheduling(config, log)
