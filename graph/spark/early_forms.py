"""The Spark forms of the early-warning rules (``linked_risk``, ``lender_velocity``):
DataFrame twins of their Polars forms in :mod:`xpg.queries.rules.linked_risk` and
:mod:`xpg.queries.rules.lender_velocity`, over a :class:`~xpg.graph.spark.hooks.SparkHooks`
(its tables, its as-of accounts and its kept ring links). Each returns a Spark DataFrame
that :meth:`SparkHooks.compute` collects and conforms.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import polars as pl
from xpg.queries.asof import window_start

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

__all__ = ["lender_velocity", "linked_risk_accounts", "linked_risk_links",
           "linked_risk_written_off"]


def linked_risk_accounts(hooks: Any, config: Any, as_of: dt.date) -> DataFrame:
    """Every account frozen or closed as of ``as_of``, with its reason."""
    from pyspark.sql import functions as F

    return (hooks._accounts_as_of(as_of).where(F.col("status").isin("frozen", "closed"))
            .select("user_id", "account_id", "product_id", "status",
                    F.col("status_reason").alias("reason")))


def linked_risk_written_off(hooks: Any, config: Any, as_of: dt.date) -> DataFrame:
    """External loans written off, opened on or before ``as_of``."""
    from pyspark.sql import functions as F

    return (hooks.tables["external_loans"]
            .where((F.col("status") == "written_off") & (F.col("opened_at") <= F.lit(as_of)))
            .select("user_id", "lender_id").distinct())


def linked_risk_links(hooks: Any, config: Any, as_of: dt.date, *, bad: pl.DataFrame
                      ) -> DataFrame:
    """For each kept node (the ring's graph) of a user of ``bad``, each other user on it."""
    from pyspark.sql import functions as F

    kept, _ = hooks._kept_links(config.ring, as_of)
    asked = F.broadcast(hooks._small(bad.select(pl.col("user_id").alias("bad_user_id"))))
    bad_side = (kept.join(asked, kept["user_id"] == asked["bad_user_id"])
                .select("bad_user_id", "kind", "value"))
    return (bad_side.join(kept.where(F.col("users") >= 2), ["kind", "value"])
            .where(F.col("user_id") != F.col("bad_user_id"))
            .select("bad_user_id", "kind", "value", "users", "user_id"))


def lender_velocity(hooks: Any, config: Any, as_of: dt.date) -> DataFrame:
    """The new lenders (first day within the window) of the users with at least
    ``min_new_lenders`` of them."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    loans = hooks.tables["external_loans"].select(
        "user_id", "lender_id", F.col("opened_at").alias("day"))
    apps = hooks.tables["applications"].select(
        "user_id", "lender_id", F.to_date(F.col("applied_at")).alias("day"))
    first = (loans.union(apps).where(F.col("day") <= F.lit(as_of))
             .groupBy("user_id", "lender_id").agg(F.min("day").alias("first_day"))
             .where(F.col("first_day") >= F.lit(window_start(as_of, config.window_days))))
    count = F.count("*").over(Window.partitionBy("user_id"))
    return (first.withColumn("n", count).where(F.col("n") >= config.min_new_lenders)
            .select("user_id", "lender_id", "first_day"))
