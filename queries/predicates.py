"""Predicates written once, compiled to Polars, Cypher and Spark SQL.

A small expression form: columns (:func:`col`), parameters bound at run time
(:func:`param`: a Polars literal, a Cypher ``$name``, a Spark SQL literal), literals
(:func:`lit`), comparisons, ``&``, ``-``, :func:`headroom_of` and :func:`when`. Each
expression compiles to

* ``expr.polars(**params)``: a ``pl.Expr``;
* ``expr.cypher(var)``: Cypher text over the properties of ``var`` (parameters stay
  ``$name``, passed with the statement); a statement of a ``.cypher`` file writes
  ``{{name var}}`` for the shared predicate ``name`` (:data:`SHARED`, expanded by
  :mod:`xpg.graph.neo4j.statements` when the file is read);
* ``expr.spark_sql(**params)``: Spark SQL text (``F.expr`` of it is a ``Column``).

The shared predicates of the rules, the exposure and the investigations are defined
here and nowhere else: :data:`OPEN_LOAN` (an external loan open or overdue, opened by the
run date), :data:`HEADROOM` (what an account's limit leaves undrawn, ``max(limit -
outstanding, 0)``, whatever its status), :data:`DRAWABLE` (what an account can still draw
now: its headroom when active, else 0) and :data:`DRAWABLE_ACCOUNT` (active with headroom
above 0). The user-scope freeze predicate depends on the settings' reason lists:
:func:`xpg.queries.rules.scope.user_scope`.

Examples
--------
>>> OPEN_LOAN.cypher("x")
'((x.status IN $open) AND (x.opened_at <= $as_of))'
>>> import datetime as dt
>>> OPEN_LOAN.spark_sql(as_of=dt.date(2026, 11, 20))
"((status IN ('open', 'overdue')) AND (opened_at <= DATE'2026-11-20'))"
>>> frame = pl.DataFrame({"status": ["active", "frozen"], "credit_limit": [10.0, 10.0],
...                       "outstanding": [4.0, 1.0]})
>>> frame.select(DRAWABLE.polars()).to_series().to_list()
[6.0, 0.0]
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl

__all__ = [
    "DRAWABLE",
    "DRAWABLE_ACCOUNT",
    "HEADROOM",
    "OPEN_LOAN",
    "OPEN_LOAN_STATUSES",
    "SHARED",
    "Expr",
    "col",
    "headroom_of",
    "lit",
    "param",
    "when",
]

OPEN_LOAN_STATUSES = ("open", "overdue")
"""The external-loan statuses that count as open (parameter ``open`` of :data:`OPEN_LOAN`)."""

DEFAULTS: Mapping[str, Any] = {"open": OPEN_LOAN_STATUSES}
"""Parameters with a value of their own (a caller may still pass another)."""


def _sql_literal(value: Any) -> str:
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return f"TIMESTAMP'{value.isoformat(sep=' ')}'"
    if isinstance(value, dt.date):
        return f"DATE'{value.isoformat()}'"
    if isinstance(value, list | tuple):
        return "(" + ", ".join(_sql_literal(v) for v in value) + ")"
    return repr(float(value)) if isinstance(value, float) else str(value)


def _cypher_literal(value: Any) -> str:
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return repr(float(value)) if isinstance(value, float) else str(value)


class Expr:
    """An expression node (build with :func:`col`, :func:`param`, :func:`lit`)."""

    def polars(self, **params: Any) -> pl.Expr:
        raise NotImplementedError

    def cypher(self, var: str) -> str:
        raise NotImplementedError

    def spark_sql(self, **params: Any) -> str:
        raise NotImplementedError

    def __and__(self, other: Expr) -> Expr:
        return _Op("and", self, other)

    def __sub__(self, other: Expr) -> Expr:
        return _Op("-", self, other)

    def __le__(self, other: Expr) -> Expr:  # type: ignore[override]
        return _Op("<=", self, other)

    def __gt__(self, other: Expr) -> Expr:  # type: ignore[override]
        return _Op(">", self, other)

    def eq(self, other: Expr) -> Expr:
        return _Op("=", self, other)

    def is_in(self, other: Expr) -> Expr:
        return _Op("in", self, other)


def _value(name: str, params: Mapping[str, Any]) -> Any:
    if name in params:
        return params[name]
    if name in DEFAULTS:
        return DEFAULTS[name]
    raise KeyError(f"predicate parameter {name!r} not given")


@dataclass(frozen=True, eq=False)
class _Col(Expr):
    name: str

    def polars(self, **params: Any) -> pl.Expr:
        return pl.col(self.name)

    def cypher(self, var: str) -> str:
        return f"{var}.{self.name}"

    def spark_sql(self, **params: Any) -> str:
        return self.name


@dataclass(frozen=True, eq=False)
class _Param(Expr):
    name: str

    def polars(self, **params: Any) -> pl.Expr:
        value = _value(self.name, params)
        return pl.lit(list(value) if isinstance(value, tuple) else value)

    def cypher(self, var: str) -> str:
        return f"${self.name}"

    def spark_sql(self, **params: Any) -> str:
        return _sql_literal(_value(self.name, params))


@dataclass(frozen=True, eq=False)
class _Lit(Expr):
    value: Any

    def polars(self, **params: Any) -> pl.Expr:
        return pl.lit(self.value)

    def cypher(self, var: str) -> str:
        return _cypher_literal(self.value)

    def spark_sql(self, **params: Any) -> str:
        return _sql_literal(self.value)


@dataclass(frozen=True, eq=False)
class _Op(Expr):
    op: str
    left: Expr
    right: Expr

    def polars(self, **params: Any) -> pl.Expr:
        a = self.left.polars(**params)
        if self.op == "in":
            assert isinstance(self.right, _Param | _Lit)
            value = (_value(self.right.name, params) if isinstance(self.right, _Param)
                     else self.right.value)
            return a.is_in(list(value))
        b = self.right.polars(**params)
        return {"and": lambda: a & b, "-": lambda: a - b, "<=": lambda: a <= b,
                ">": lambda: a > b, "=": lambda: a == b}[self.op]()

    def cypher(self, var: str) -> str:
        word = {"and": "AND", "in": "IN"}.get(self.op, self.op)
        return f"({self.left.cypher(var)} {word} {self.right.cypher(var)})"

    def spark_sql(self, **params: Any) -> str:
        word = {"and": "AND", "in": "IN"}.get(self.op, self.op)
        return f"({self.left.spark_sql(**params)} {word} {self.right.spark_sql(**params)})"


@dataclass(frozen=True, eq=False)
class _Headroom(Expr):
    """``max(x, 0)``, null when ``x`` is null (as Polars' ``clip``)."""

    x: Expr

    def polars(self, **params: Any) -> pl.Expr:
        return self.x.polars(**params).clip(lower_bound=0.0)

    def cypher(self, var: str) -> str:
        x = self.x.cypher(var)
        return f"CASE WHEN {x} IS NULL THEN null WHEN {x} > 0 THEN {x} ELSE 0.0 END"

    def spark_sql(self, **params: Any) -> str:
        x = self.x.spark_sql(**params)
        return f"CASE WHEN {x} IS NULL THEN NULL ELSE greatest({x}, 0.0) END"


@dataclass(frozen=True, eq=False)
class _When(Expr):
    condition: Expr
    then: Expr
    otherwise: Expr

    def polars(self, **params: Any) -> pl.Expr:
        return (pl.when(self.condition.polars(**params)).then(self.then.polars(**params))
                .otherwise(self.otherwise.polars(**params)))

    def cypher(self, var: str) -> str:
        return (f"CASE WHEN {self.condition.cypher(var)} THEN {self.then.cypher(var)} "
                f"ELSE {self.otherwise.cypher(var)} END")

    def spark_sql(self, **params: Any) -> str:
        return (f"CASE WHEN {self.condition.spark_sql(**params)} THEN "
                f"{self.then.spark_sql(**params)} ELSE {self.otherwise.spark_sql(**params)} END")


def col(name: str) -> Expr:
    """The column (Polars, Spark) or property (Cypher) ``name``."""
    return _Col(name)


def param(name: str) -> Expr:
    """A value given at run time (``$name`` in Cypher)."""
    return _Param(name)


def lit(value: Any) -> Expr:
    """A constant."""
    return _Lit(value)


def headroom_of(x: Expr) -> Expr:
    """``max(x, 0)``, null when ``x`` is null."""
    return _Headroom(x)


def when(condition: Expr, then: Expr, otherwise: Expr) -> Expr:
    """``then`` where ``condition`` holds, else ``otherwise``."""
    return _When(condition, then, otherwise)


OPEN_LOAN = col("status").is_in(param("open")) & (col("opened_at") <= param("as_of"))
"""An external loan open or overdue (parameter ``open``) and opened on or before the run
date (parameter ``as_of``)."""

HEADROOM = headroom_of(col("credit_limit") - col("outstanding"))
"""What an account's limit leaves undrawn, whatever its status: ``max(limit - outstanding,
0)`` (null when either is null)."""

DRAWABLE = when(col("status").eq(lit("active")), HEADROOM, lit(0.0))
"""What an account can still draw now: its :data:`HEADROOM` when active, else 0."""

DRAWABLE_ACCOUNT = col("status").eq(lit("active")) & (lit(0) < HEADROOM)
"""An active account with headroom above 0 (the freeze rules' drawable other account)."""

SHARED: Mapping[str, Expr] = {
    "open_loan": OPEN_LOAN,
    "headroom": HEADROOM,
    "drawable": DRAWABLE,
    "drawable_account": DRAWABLE_ACCOUNT,
}
"""The predicates a ``.cypher`` file names as ``{{name var}}``."""
