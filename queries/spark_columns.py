"""Small Spark column helpers the rules' Spark forms share (pyspark is imported only when
a Spark form runs: the rule modules import this without it).

A rule's Spark form is ``spark(hooks, config, as_of, **extra) -> pyspark DataFrame`` over a
:class:`~xpg.graph.spark.hooks.SparkHooks` (its ``tables``, ``accounts_as_of``,
``open_loans_as_of``, ``events_as_of``, ``small`` and, for the ring forms, ``kept_links``);
the hooks collect the frame and conform it to the form's schema.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame
    from xpg.queries.predicates import Expr

__all__ = ["day", "pick", "sql"]


def day(column: str) -> Column:
    """The date of the timestamp column ``column``."""
    from pyspark.sql import functions as F

    return F.to_date(F.col(column))


def sql(expr: Expr, **params: Any) -> Column:
    """A shared predicate or amount (:mod:`xpg.queries.predicates`) as a Spark column."""
    from pyspark.sql import functions as F

    return F.expr(expr.spark_sql(**params))


def pick(frame: DataFrame, prefix: str, **columns: str | Column) -> DataFrame:
    """``user_id`` and the given columns of ``frame``, renamed ``<prefix><name>``."""
    from pyspark.sql import functions as F

    return frame.select(
        "user_id",
        *((F.col(c) if isinstance(c, str) else c).alias(prefix + n) for n, c in columns.items()),
    )
