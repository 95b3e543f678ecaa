"""Hostile values stay data: CSV exports neutralize formulas; every Cypher statement is a
fixed text from graph/neo4j/cypher/ with its values as parameters."""

from __future__ import annotations

import ast
import csv
from pathlib import Path

import polars as pl
from investigation_data import AS_OF, tables
from xpg.loaders.dataset import Dataset

import xpg

ROOT = Path(__file__).resolve().parents[1]
EVIL = ["=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1:A9)"]


def test_csv_cells_that_look_like_formulas_are_neutralized(tmp_path):
    t = tables()
    users = sorted(t["users"].get_column("user_id").to_list())[:len(EVIL)]
    rename = dict(zip(users, EVIL, strict=True))
    for name, frame in t.items():
        if "user_id" in frame.columns:
            t[name] = frame.with_columns(pl.col("user_id").replace(rename))
    with xpg.open(dataset=Dataset(**t, present=frozenset(t))) as s:
        r = s.report(tmp_path, as_of=AS_OF)
    cells = []
    for path in r.folder.glob("*.csv"):
        with path.open(newline="", encoding="utf-8") as fh:
            cells += [c for row in csv.reader(fh) for c in row]
    assert {f"'{e}" for e in EVIL} <= set(cells)
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    # the Parquet files keep the values as they are
    parquet = pl.read_parquet(r.folder / "exposure.parquet").get_column("user_id").to_list()
    assert set(EVIL) <= set(parquet)


def _cypher_calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr in ("run", "execute_query") and node.args:
            yield node


def test_every_cypher_statement_is_fixed_text_with_parameters():
    """No Cypher is built from values: a statement comes from ``statement()`` or
    ``statements()`` (the files under graph/neo4j/cypher/), never from an f-string, a ``+``,
    a ``%`` or ``.format``; the values travel as the driver's parameters."""
    checked = 0
    for path in sorted((ROOT / "graph").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.JoinedStr):
                text = "".join(v.value for v in node.values if isinstance(v, ast.Constant))
                assert not any(k in text.upper() for k in ("MATCH ", "MERGE ", "CREATE ",
                                                           "RETURN ", "DETACH ")), \
                    f"{path.name}:{node.lineno}: Cypher in an f-string"
        for call in _cypher_calls(tree):
            first = call.args[0]
            assert not isinstance(first, ast.JoinedStr | ast.BinOp), \
                f"{path.name}:{call.lineno}: a statement built in code"
            assert not (isinstance(first, ast.Call) and isinstance(first.func, ast.Attribute)
                        and first.func.attr == "format"), f"{path.name}:{call.lineno}"
            checked += 1
    assert checked >= 10
    for path in sorted((ROOT / "queries" / "cypher").glob("*.cypher")):
        text = path.read_text(encoding="utf-8")
        # no placeholders for Python to fill: values are $parameters
        assert "%s" not in text and "{0}" not in text and "{}" not in text, path.name
        # every file takes values as $parameters, but those whose statements take none:
        # the schema, and the whole-table reads of pull.cypher (the snapshot read back)
        assert "$" in text or path.name in {"schema.cypher", "pull.cypher"}, path.name
