"""The Cypher files and the load plan: parsed and prepared right, every statement valid.

The plan tests need no server; ``test_every_statement_compiles`` asks Neo4j to EXPLAIN
each statement (all but the Graph Data Science ones, whose procedures Community lacks).
"""

from __future__ import annotations

import datetime as dt
import re

import polars as pl
import pytest
from detect_fixtures import Builder, at, day
from xpg.graph.neo4j import NODE_LABELS, RELATIONSHIP_TYPES
from xpg.graph.neo4j import statements as loader
from xpg.graph.neo4j.connection import QueryMode
from xpg.graph.neo4j.statements import statement, statements
from xpg.graph.neo4j.write import NODE_KEYS, resolve, wire, write_plan

FILES = ("schema", "load", "detect", "findings", "cores")


def test_statements_are_named_and_comment_free():
    load = statements("load")
    assert {"merge_users", "create_users", "counts", "begin_load", "end_load"} <= set(load)
    for file in FILES:
        for name, text in statements(file).items():
            assert text and not text.startswith("//"), (file, name)
            assert not any(line.lstrip().startswith("//") for line in text.splitlines())


def test_every_step_has_its_statements():
    plan = write_plan(Builder().user("u1").build())
    for step in plan:
        assert f"merge_{step.name}" in statements("load")
        assert f"create_{step.name}" in statements("load")
        assert step.empty_when in (*NODE_LABELS, *RELATIONSHIP_TYPES)
        for label, _columns in step.lookups.values():
            assert label in NODE_KEYS


def test_unknown_file_or_statement():
    with pytest.raises(KeyError, match="no Cypher file"):
        statements("nope")
    with pytest.raises(KeyError, match=r"no statement 'nope' in load\.cypher"):
        statement("load", "nope")


def test_a_repeated_name_is_refused(tmp_path, monkeypatch):
    (tmp_path / "cypher").mkdir()
    (tmp_path / "cypher" / "twice.cypher").write_text(
        "// name: a\nRETURN 1\n// name: a\nRETURN 2\n"
    )

    class Files:
        def joinpath(self, *parts):
            return tmp_path.joinpath(*parts)

    monkeypatch.setattr(loader.resources, "files", lambda _package: Files())
    statements.cache_clear()
    try:
        with pytest.raises(ValueError, match="defined twice"):
            statements("twice")
    finally:
        statements.cache_clear()


def test_wire_turns_dates_into_iso_text():
    frame = pl.DataFrame(
        {"d": [dt.date(2026, 11, 20), None], "t": [dt.datetime(2026, 11, 20, 13, 5), None]}
    )
    assert wire(frame).to_dicts() == [
        {"d": "2026-11-20", "t": "2026-11-20T13:05:00.000000"},
        {"d": None, "t": None},
    ]


def test_the_plan_deduplicates_and_keys_rows():
    b = Builder()
    b.device("u1", "d1", at(-5)).device("u1", "d1", at(-9)).device("u2", "d1")
    b.device("u2", "d1", at(-1))
    b.loan("u1", "L1", outstanding=5).loan("u1", "L1", outstanding=1)
    b.loan("u1", "L1", outstanding=1, opened_at=day(-3))
    b.account("a1", "u1", "huabei")
    b.event("a1", at(-2), "freeze").event("a1", at(-2), "freeze", reason="fraud")
    plan = {s.name: s for s in write_plan(b.build())}

    used = plan["used"].rows.sort("user_id").select("user_id", "first_seen").to_dicts()
    assert used == [
        {"user_id": "u1", "first_seen": "2026-11-11T12:00:00.000000"},  # the earliest
        {"user_id": "u2", "first_seen": None},  # one sighting had no date
    ]
    assert plan["devices"].rows.to_dicts() == [{"id": "d1"}]
    loans = plan["borrowed_from"].rows.select("opened_at", "seq", "outstanding").to_dicts()
    assert sorted(loans, key=lambda r: (r["opened_at"], r["seq"])) == [
        {"opened_at": str(day(-100)), "seq": 0, "outstanding": 1.0},
        {"opened_at": str(day(-100)), "seq": 1, "outstanding": 5.0},
        {"opened_at": str(day(-3)), "seq": 0, "outstanding": 1.0},
    ]
    keys = plan["account_events"].rows.get_column("key").to_list()
    assert sorted(k.split("\x1f")[-1] for k in keys) == ["0", "1"]
    assert plan["accounts"].node_count == 1 and plan["accounts"].relationship_count == 2
    # the same data always gets the same keys
    again = {s.name: s for s in write_plan(b.build())}
    assert again["account_events"].rows.equals(plan["account_events"].rows)


def test_lookups_resolve_to_element_ids_and_drop_the_keys():
    b = Builder().device("u1", "d1").device("u2", "d1")
    step = next(s for s in write_plan(b.build()) if s.name == "used")
    ids = {
        "User": pl.DataFrame({"user_id": ["u1", "u2"], "node": ["e:1", "e:2"]}),
        "Device": pl.DataFrame({"device_id": ["d1"], "node": ["e:9"]}),
    }
    rows = resolve(step, ids).rows
    assert rows.columns == ["first_seen", "last_seen", "u", "d"]
    assert rows.select("u", "d").to_dicts() == [{"u": "e:1", "d": "e:9"}, {"u": "e:2", "d": "e:9"}]


@pytest.mark.neo4j
def test_every_statement_compiles(neo4j_backend):
    neo4j_backend.ensure_schema()
    for file in FILES:
        for name, text in statements(file).items():
            if name.startswith("gds_") or file == "schema":
                continue
            params = {p: None for p in re.findall(r"\$([A-Za-z_]+)", text)}
            if "batch" in params:
                params["batch"] = 1000
            # auto-commit: statements with CALL ... IN TRANSACTIONS need one
            neo4j_backend.run("EXPLAIN " + text, QueryMode.WRITE, retry=False, **params)
