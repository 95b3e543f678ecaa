"""The worker groups of a parallel ``make test`` (tests/workers.py): each server on one
worker, each module-scoped fixture built once."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest
from workers import groups, ordered


@dataclass
class Item:
    """What tests/workers.py reads of a collected test."""

    nodeid: str
    fixturenames: tuple[str, ...] = ()
    markers: tuple[str, ...] = ()
    _marks: dict = field(init=False)

    def __post_init__(self):
        self._marks = {m: getattr(pytest.mark, m) for m in self.markers}

    def get_closest_marker(self, name):
        return self._marks.get(name)


def test_every_neo4j_test_is_in_one_group_whatever_its_module():
    items = [
        Item("tests/test_a.py::test_memory[memory]", ("backend",), ("memory",)),
        Item("tests/test_a.py::test_memory[neo4j]", ("backend",), ("neo4j",)),  # by marker
        Item("tests/test_b.py::test_load", ("neo4j_backend", "neo4j_server")),  # by fixture
        Item("tests/test_c.py::test_kill", ("neo4j_own_server",)),
        Item("tests/test_c.py::test_plain"),
    ]
    assert groups(items) == {
        "tests/test_a.py::test_memory[memory]": "tests/test_a.py",
        "tests/test_a.py::test_memory[neo4j]": "neo4j",
        "tests/test_b.py::test_load": "neo4j",
        "tests/test_c.py::test_kill": "neo4j",
        "tests/test_c.py::test_plain": "tests/test_c.py",
    }


def test_a_spark_module_goes_whole_to_the_spark_group_but_its_neo4j_tests():
    """Its module-scoped fixtures are built once, on the worker with the SparkSession."""
    items = [
        Item("tests/test_d.py::test_readme", ("demo",)),
        Item("tests/test_d.py::test_spark_line", ("demo",), ("spark",)),
        Item("tests/test_d.py::test_neo4j_block", ("neo4j_server",), ("neo4j",)),
        Item("tests/test_e.py::test_session", ("spark_backend", "spark")),
        Item("tests/test_f.py::test_other"),
    ]
    assert groups(items) == {
        "tests/test_d.py::test_readme": "spark",
        "tests/test_d.py::test_spark_line": "spark",
        "tests/test_d.py::test_neo4j_block": "neo4j",
        "tests/test_e.py::test_session": "spark",
        "tests/test_f.py::test_other": "tests/test_f.py",
    }



def test_the_server_groups_are_handed_out_first_whatever_their_size():
    """A group's size is its number of tests; the Spark group has few but long ones."""
    by_size = ["neo4j", "tests/test_serve_limits.py", "tests/test_cli_help.py", "spark",
               "tests/test_z.py"]
    assert ordered(by_size) == ["neo4j", "spark", "tests/test_serve_limits.py",
                                "tests/test_cli_help.py", "tests/test_z.py"]
    assert ordered(["tests/test_a.py", "spark", "neo4j"]) == ["neo4j", "spark",
                                                              "tests/test_a.py"]
