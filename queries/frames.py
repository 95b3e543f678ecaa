"""Detection frames: the backend-independent facts every detection is built from.

A detection rule (one module of :mod:`xpg.queries.rules`) is split in two:

1. its **forms**, one per *detection frame* it needs (:class:`Form`): a Polars
   frame of raw facts (user ids, account ids, lender ids, amounts, timestamps)
   with exactly the form's schema. Each form says how Polars computes it and which
   parameterized Cypher statement computes it in Neo4j; a backend's
   :class:`DetectionHooks` picks the one it runs (:meth:`DetectionHooks.compute`);
2. the rule's threshold predicate and **assembly**, shared by every backend, that
   turn the frames into :class:`~xpg.queries.findings.Finding` objects. Same frames
   in, same findings out, on every backend.

The exact semantics of every frame (which rows, which columns) are in
``docs/detections.md``. Row order never matters: the assembly sorts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import polars as pl

from xpg.errors import BackendError

__all__ = [
    "EXPOSURE_SCHEMA",
    "DetectionHooks",
    "Form",
    "Schema",
    "conform",
    "conform_to",
    "empty_frame",
]

Schema = Mapping[str, pl.DataType]

EXPOSURE_SCHEMA: Schema = {
    "user_id": pl.String(),
    "internal_limit": pl.Float64(),
    "internal_outstanding": pl.Float64(),
    "drawable": pl.Float64(),
    "external_outstanding": pl.Float64(),
    "total": pl.Float64(),
}
"""Frame ``exposure``: one row per user asked for (:func:`xpg.queries.asof.exposure_frame`)."""


@dataclass(frozen=True)
class Form:
    """One detection frame of a rule: its schema and how each backend computes it.

    Attributes
    ----------
    name
        The frame's name (``docs/detections.md``).
    schema
        Its columns and dtypes.
    polars
        ``polars(hooks, config, as_of, **extra) -> DataFrame``: the in-memory form, over
        a :class:`~xpg.queries.polars_hooks.PolarsHooks`.
    cypher
        Its Cypher statement: the name of a statement of ``<cypher_file>.cypher``, or the
        statement's text itself (anything but a bare name).
    params
        ``params(config, as_of, **extra) -> dict``: the statement's parameters.
    cypher_file
        The Cypher file holding the statement, under ``queries/`` without the suffix
        (``rules/multi_lending``: the file beside the rule's module; a bare name is a
        file of ``graph/neo4j/cypher/``). Default ``detect``.
    spark
        ``spark(hooks, config, as_of, **extra) -> pyspark DataFrame``: the Spark form, over
        a :class:`~xpg.graph.spark.hooks.SparkHooks` (:mod:`xpg.queries.spark_columns`);
        None when the rule has none (the Spark backend then says so).
    prepare
        A step the backend runs before the statement (``"ring_components"``: the
        statement reads the ring components), or None.
    """

    name: str
    schema: Schema
    polars: Callable[..., pl.DataFrame]
    cypher: str
    params: Callable[..., Mapping[str, Any]]
    cypher_file: str = "detect"
    prepare: str | None = None
    spark: Callable[..., Any] | None = None

    def statement(self, named: Callable[[str, str], str]) -> str:
        """The text of its Cypher statement: its own text, or ``named(cypher_file,
        cypher)`` (the Neo4j backend's loader of ``.cypher`` files,
        :func:`xpg.graph.neo4j.statements.statement`: the rules know no backend)."""
        if not self.cypher.isidentifier():
            return self.cypher.strip()
        return named(self.cypher_file, self.cypher)

    def empty(self) -> pl.DataFrame:
        """An empty frame of this form's schema."""
        return empty_frame(self.schema)

    def conform(self, frame: pl.DataFrame) -> pl.DataFrame:
        """``frame`` checked against the schema (see :func:`conform`)."""
        return conform(self.name, frame, self.schema)


def empty_frame(schema: Schema) -> pl.DataFrame:
    """An empty frame of ``schema``."""
    return pl.DataFrame(schema=dict(schema))


def conform_to(
    name: str, schema: Schema, frame: pl.DataFrame, *, fill_missing: bool = False
) -> pl.DataFrame:
    """``frame`` with exactly the columns of ``schema``, in its order, cast to its dtypes.

    Extra columns are dropped; castable dtypes (e.g. ``Int64`` amounts, a ``Null``
    column of an empty result) are cast. A missing column is a null column with
    ``fill_missing``, else a :class:`~xpg.errors.BackendError` (whoever computed the
    frame broke its contract), as is a column that cannot be cast.

    Examples
    --------
    >>> conform_to("t", {"a": pl.String()}, pl.DataFrame({"a": [1], "b": [2]})).dtypes
    [String]
    >>> conform_to("t", {"a": pl.String(), "c": pl.Int64()}, pl.DataFrame({"a": ["x"]}),
    ...            fill_missing=True).row(0)
    ('x', None)
    """
    if frame.schema == schema:  # already in shape: nothing to do
        return frame
    missing = [c for c in schema if c not in frame.columns]
    if missing and not fill_missing:
        raise BackendError(f"frame {name!r} lacks columns {missing}")
    if frame.width == 0:
        return empty_frame(schema)
    columns = [
        pl.col(c).cast(t) if c in frame.columns else pl.lit(None, dtype=t).alias(c)
        for c, t in schema.items()
    ]
    try:
        return frame.select(columns)
    except pl.exceptions.PolarsError as e:
        raise BackendError(f"frame {name!r} has wrong column types: {e}") from e


def conform(name: str, frame: pl.DataFrame, schema: Schema) -> pl.DataFrame:
    """Check a detection frame against its schema; select and cast its columns.

    ``schema``: a form's (:attr:`Form.schema`, which :meth:`Form.conform` passes), or
    :data:`EXPOSURE_SCHEMA`; :func:`xpg.queries.rules.frame_schema` finds a registered
    frame's by name. Missing columns raise :class:`~xpg.errors.BackendError`.

    Examples
    --------
    >>> from xpg.queries.rules import frame_schema
    >>> frame = pl.DataFrame({"group": [1], "user_id": ["u1"]})
    >>> conform("ring_groups", frame, frame_schema("ring_groups")).dtypes
    [String, String]
    """
    return conform_to(name, schema, frame)


@runtime_checkable
class DetectionHooks(Protocol):
    """What a backend computes; :func:`xpg.queries.detections.run_detections` does the rest.

    Every frame follows its schema (extra columns are ignored);
    ``docs/detections.md`` defines each one's rows exactly.
    """

    def user_count(self) -> int:
        """Number of users in the data."""
        ...

    def exposure(self, as_of: dt.date, user_ids: Sequence[str]) -> pl.DataFrame:
        """Frame ``exposure`` for the given users (unknown users may be left out)."""
        ...

    def compute(self, form: Form, config: Any, as_of: dt.date, **extra: Any) -> pl.DataFrame:
        """The frame of ``form`` as of ``as_of`` under the rule's ``config``."""
        ...
