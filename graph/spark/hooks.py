"""The detection frames computed by Spark.

:class:`SparkHooks` implements :class:`~xpg.queries.frames.DetectionHooks` over the
contract tables as Spark DataFrames (:mod:`xpg.graph.spark.tables`):
:meth:`SparkHooks.compute` runs the Spark form each rule gives its frame (``Form.spark``,
in the rule's module: the DataFrame twin of its Polars form) over what these hooks
offer (the tables as of a date, the kept links and their components; the semantics of
every frame are in ``docs/detections.md``;
like the Polars forms they pre-filter only with what the rule derives from its
settings, and the rule's predicate decides). Only the resulting frame, a few rows per
finding, is collected to the driver (through Arrow) and conformed to the form's
schema. Ring groups come from
:func:`~xpg.graph.spark.components.min_label_components`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import polars as pl
from xpg.graph.spark.components import log_round_components
from xpg.graph.spark.tables import Tables
from xpg.queries import spark_columns as sc
from xpg.queries.asof import MICRO
from xpg.queries.frames import EXPOSURE_SCHEMA, Form, Schema, conform_to
from xpg.queries.predicates import HEADROOM, OPEN_LOAN
from xpg.queries.rules.ring import RingConfig

from xpg.errors import BackendError
from xpg.linkgraph.links import DEVICE_KIND

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

__all__ = ["SparkHooks", "collect"]

def collect(name: str, schema: Schema, frame: DataFrame) -> pl.DataFrame:
    """The Spark DataFrame ``frame`` on the driver (through Arrow) as frame ``name``."""
    return conform_to(name, schema, pl.from_arrow(frame.toArrow()))  # type: ignore[arg-type]


def _micro(column: str) -> Column:
    """``floor(amount * 1,000,000 + 0.5)`` as a long (:func:`xpg.queries.asof.micro`)."""
    from pyspark.sql import functions as F

    return F.floor(F.col(column) * F.lit(float(MICRO)) + F.lit(0.5)).cast("long")


class SparkHooks:
    """Detection frames over the contract tables in Spark.

    Parameters
    ----------
    spark
        The session the tables belong to.
    tables
        Every contract table (:func:`~xpg.graph.spark.tables.from_dataset` or
        :func:`~xpg.graph.spark.tables.from_parquet`).

    Attributes
    ----------
    ring_passes : int
        Rounds of the last ring components computed (large-star/small-star).
    """

    def __init__(self, spark: SparkSession, tables: Tables):
        self.spark = spark
        self.tables = tables
        self.ring_passes = 0
        self._users: int | None = None
        self._kept: dict[tuple[dt.date, tuple[str, ...], int], tuple[DataFrame, DataFrame]] = {}

    def accounts_as_of(self, as_of: dt.date) -> DataFrame:
        """Accounts existing as of ``as_of``, with their product's ``kind``."""
        from pyspark.sql import functions as F

        products = self.tables["products"].select("product_id", "kind")
        accounts = self.tables["accounts"].where(
            F.col("opened_at").isNull() | (F.col("opened_at") <= F.lit(as_of))
        )
        return accounts.join(products, "product_id", "left")

    def open_loans_as_of(self, as_of: dt.date) -> DataFrame:
        """External loans open as of ``as_of`` (:data:`~xpg.queries.predicates.OPEN_LOAN`)."""
        return self.tables["external_loans"].where(sc.sql(OPEN_LOAN, as_of=as_of))

    def small(self, frame: pl.DataFrame) -> DataFrame:
        """A small driver-side Polars frame (ids) as a Spark DataFrame."""
        return self.spark.createDataFrame(frame.to_arrow(compat_level=pl.CompatLevel.oldest()))

    def user_count(self) -> int:
        if self._users is None:
            self._users = self.tables["users"].count()
        return self._users

    def exposure(self, as_of: dt.date, user_ids: Sequence[str]) -> pl.DataFrame:
        from pyspark.sql import functions as F

        ids = pl.DataFrame({"user_id": sorted(set(user_ids))}, schema={"user_id": pl.String})
        if not ids.height:
            return collect("exposure", EXPOSURE_SCHEMA, self._exposure_of(as_of, None).limit(0))
        wanted = self.small(ids).join(self.tables["users"], "user_id", "left_semi")
        return collect("exposure", EXPOSURE_SCHEMA, self._exposure_of(as_of, F.broadcast(wanted)))

    def compute(self, form: Form, config: Any, as_of: dt.date, **extra: Any) -> pl.DataFrame:
        """The frame of ``form``, computed by Spark and collected.

        Raises
        ------
        BackendError
            When the rule gives the form no Spark form (``Form.spark``).
        """
        if form.spark is None:
            raise BackendError(f"the spark backend has no form of frame {form.name!r}: "
                               "its rule gives no Spark form (Form.spark)")
        frame: DataFrame = form.spark(self, config, as_of, **extra)
        return collect(form.name, form.schema, frame)

    def _exposure_of(self, as_of: dt.date, wanted: DataFrame | None) -> DataFrame:
        from pyspark.sql import functions as F

        acc = self.accounts_as_of(as_of)
        loans = self.open_loans_as_of(as_of)
        if wanted is None:
            wanted = self.tables["users"].select("user_id")
        else:
            acc = acc.join(wanted, "user_id", "left_semi")
            loans = loans.join(wanted, "user_id", "left_semi")
        # exact sums in millionths of a yuan, as xpg.queries.asof.micro
        limit, owed = _micro("credit_limit"), _micro("outstanding")
        drawable = F.greatest(limit - owed, F.lit(0))
        internal = acc.groupBy("user_id").agg(
            F.sum(F.when(F.col("status") != "closed", limit)).alias("internal_limit"),
            F.sum(owed).alias("internal_outstanding"),
            F.sum(F.when(F.col("status") == "active", drawable)).alias("drawable"),
        )
        external = loans.groupBy("user_id").agg(F.sum(owed).alias("external_outstanding"))
        amounts = ["internal_limit", "internal_outstanding", "drawable", "external_outstanding"]
        frame = (
            wanted.join(internal, "user_id", "left")
            .join(external, "user_id", "left")
            .select("user_id", *(F.coalesce(F.col(a), F.lit(0)).alias(a) for a in amounts))
        )
        total = F.col("internal_outstanding") + F.col("drawable") + F.col("external_outstanding")
        return frame.select(
            "user_id",
            *((F.col(a).cast("double") / F.lit(MICRO)).alias(a) for a in amounts),
            (total.cast("double") / F.lit(MICRO)).alias("total"),
        )

    # -- what the rules' Spark forms build on ------------------------------------

    def events_as_of(self, as_of: dt.date, predicate: Column) -> DataFrame:
        """Events on or before ``as_of`` that meet ``predicate``, of accounts existing
        then, with their account (as the Polars
        :func:`xpg.queries.rules.restored_after_freeze.events_as_of`)."""
        from pyspark.sql import functions as F

        acc = self.accounts_as_of(as_of).select(
            "account_id",
            "user_id",
            "product_id",
            "kind",
            F.col("status").alias("account_status"),
            "status_reason",
            sc.sql(HEADROOM).alias("account_drawable"),
        )
        events = self.tables["account_events"].where((sc.day("at") <= F.lit(as_of)) & predicate)
        return events.join(acc, "account_id")

    def kept_links(self, config: RingConfig, as_of: dt.date) -> tuple[DataFrame, DataFrame]:
        """What the ring's Spark forms (:mod:`xpg.queries.rules.ring`) build on: the
        distinct kept links (``user_id``, ``kind``, ``value``, ``users``: the
        node's users) and the component ``label`` of every user with one.

        A link exists as of ``as_of`` when one of its rows has no ``first_seen`` or one
        on or before that day; nodes of more than ``hub_max_users`` users are hubs and
        dropped; components are taken over the nodes of two users or more.
        """
        from pyspark.sql import Window
        from pyspark.sql import functions as F

        kinds = tuple(sorted(set(config.identifier_kinds)))
        key = (as_of, kinds, config.hub_max_users)
        if key in self._kept:
            return self._kept[key]
        exists = F.col("first_seen").isNull() | (sc.day("first_seen") <= F.lit(as_of))
        devices = self.tables["devices"].where(exists).select(
            "user_id", F.lit(DEVICE_KIND).alias("kind"), F.col("device_id").alias("value")
        )
        identifiers = (
            self.tables["identifiers"]
            .where(exists & F.col("kind").isin(list(kinds)))
            .select("user_id", "kind", "value")
        )
        links = (
            devices.union(identifiers)
            .join(self.tables["users"].select("user_id"), "user_id", "left_semi")
            .distinct()
        )
        by_node = Window.partitionBy("kind", "value")
        kept = (
            links.withColumn("users", F.count("*").over(by_node))
            .where(F.col("users") <= config.hub_max_users)
            .localCheckpoint(eager=True)
        )
        result = log_round_components(kept.where(F.col("users") >= 2))
        self.ring_passes = result.passes
        labels = (
            kept.select("user_id")
            .distinct()
            .join(result.labels, "user_id", "left")
            .select("user_id", F.coalesce(F.col("label"), F.col("user_id")).alias("label"))
            .localCheckpoint(eager=True)
        )
        self._kept[key] = (kept, labels)
        return kept, labels
