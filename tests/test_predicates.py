"""The shared predicates (xpg/queries/predicates.py): written once, the same meaning in
Polars, Cypher and Spark SQL; and every rule form has its three engines."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from xpg.graph.neo4j.statements import _expand, statement
from xpg.queries import rules as registry
from xpg.queries.predicates import DRAWABLE, DRAWABLE_ACCOUNT, HEADROOM, OPEN_LOAN

AS_OF = dt.date(2026, 11, 20)


def test_open_loan_at_its_boundaries():
    loans = pl.DataFrame({
        "status": ["open", "overdue", "closed", "open", "open"],
        "opened_at": [AS_OF, AS_OF - dt.timedelta(days=1), AS_OF, AS_OF + dt.timedelta(days=1),
                      None],
    })
    kept = loans.with_row_index().filter(OPEN_LOAN.polars(as_of=AS_OF)).get_column("index")
    assert kept.to_list() == [0, 1]  # opened on the run date counts; later or undated not
    assert OPEN_LOAN.cypher("x") == "((x.status IN $open) AND (x.opened_at <= $as_of))"
    assert OPEN_LOAN.spark_sql(as_of=AS_OF, open=["open"]) == (
        "((status IN ('open')) AND (opened_at <= DATE'2026-11-20'))")


def test_headroom_drawable_and_drawable_account():
    acc = pl.DataFrame({
        "status": ["active", "active", "frozen", "active", "closed"],
        "credit_limit": [100.0, 50.0, 100.0, None, 10.0],
        "outstanding": [30.0, 80.0, 0.0, 1.0, 0.0],
    })
    out = acc.select(HEADROOM.polars().alias("h"), DRAWABLE.polars().alias("d"),
                     DRAWABLE_ACCOUNT.polars().alias("a"))
    assert out.get_column("h").to_list() == [70.0, 0.0, 100.0, None, 10.0]
    assert out.get_column("d").to_list() == [70.0, 0.0, 0.0, None, 0.0]
    assert out.get_column("a").to_list() == [True, False, False, None, False]
    assert HEADROOM.spark_sql() == ("CASE WHEN (credit_limit - outstanding) IS NULL THEN NULL "
                                    "ELSE greatest((credit_limit - outstanding), 0.0) END")


def test_cypher_files_name_shared_predicates():
    assert _expand("WHERE {{open_loan x}}", "t") == f"WHERE {OPEN_LOAN.cypher('x')}"
    with pytest.raises(ValueError, match="no shared predicate 'open_lone'"):
        _expand("WHERE {{open_lone x}}", "t")


@pytest.mark.parametrize("rule", registry.rules(), ids=lambda r: r.name)
def test_every_form_of_a_rule_has_its_three_engines(rule):
    for form in rule.forms:
        assert callable(form.polars) and callable(form.spark), form.name
        text = form.statement(statement)
        assert "RETURN" in text and "{{" not in text, form.name
