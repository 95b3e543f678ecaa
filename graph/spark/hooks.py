"""The detection frames computed by Spark.

:class:`SparkHooks` implements :class:`~xpg.queries.frames.DetectionHooks` over the
contract tables as Spark DataFrames (:mod:`xpg.graph.spark.tables`):
:meth:`SparkHooks.compute` runs the Spark form of a rule's frame (:data:`SPARK_FORMS`
names the method of each), the DataFrame twin of the rule's Polars form in
:mod:`xpg.queries.rules` (the semantics of every frame are in ``docs/detections.md``;
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
from xpg.graph.spark.components import min_label_components
from xpg.graph.spark.tables import Tables
from xpg.queries.asof import MICRO, OPEN_LOAN_STATUSES, window_start
from xpg.queries.frames import EXPOSURE_SCHEMA, Form, Schema, conform_to
from xpg.queries.rules.multi_lending import CRITERIA, least_count
from xpg.queries.rules.restored_after_freeze import LIFT_EVENTS
from xpg.queries.rules.ring import least_size

from xpg.errors import BackendError
from xpg.linkgraph.links import DEVICE_KIND
from xpg.settings import FreezeConfig, LimitDivergenceConfig, MultiLendingConfig, RingConfig

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

__all__ = ["SPARK_FORMS", "SparkHooks", "collect"]

SPARK_FORMS = {
    "multi_lending": "multi_lending",
    "ring_groups": "ring_groups",
    "ring_core_links": "ring_core_links",
    "ring_devices": "ring_devices",
    "ring_identifiers": "ring_identifiers",
    "ring_lenders": "ring_lenders",
    "freeze_inconsistency": "freeze_inconsistency",
    "restored_after_freeze": "restored_after_freeze",
    "limit_divergence": "limit_divergence",
}
"""Frame name -> the :class:`SparkHooks` method computing it (a rule registered with a
frame not named here has no Spark form: :meth:`SparkHooks.compute` says so)."""


def collect(name: str, schema: Schema, frame: DataFrame) -> pl.DataFrame:
    """The Spark DataFrame ``frame`` on the driver (through Arrow) as frame ``name``."""
    return conform_to(name, schema, pl.from_arrow(frame.toArrow()))  # type: ignore[arg-type]


def _day(column: str) -> Column:
    from pyspark.sql import functions as F

    return F.to_date(F.col(column))


def _drawable(limit: str = "credit_limit", outstanding: str = "outstanding") -> Column:
    """``max(limit - outstanding, 0)``, null when either is null (as Polars' ``clip``)."""
    from pyspark.sql import functions as F

    diff = F.col(limit) - F.col(outstanding)
    return F.when(diff.isNull(), None).otherwise(F.greatest(diff, F.lit(0.0)))


def _micro(column: str) -> Column:
    """``floor(amount * 1,000,000 + 0.5)`` as a long (:func:`xpg.queries.asof.micro`)."""
    from pyspark.sql import functions as F

    return F.floor(F.col(column) * F.lit(float(MICRO)) + F.lit(0.5)).cast("long")


def _pick(frame: DataFrame, prefix: str, **columns: str | Column) -> DataFrame:
    """``user_id`` and the given columns of ``frame``, renamed ``<prefix><name>``."""
    from pyspark.sql import functions as F

    return frame.select(
        "user_id",
        *((F.col(c) if isinstance(c, str) else c).alias(prefix + n) for n, c in columns.items()),
    )


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
        Propagation passes of the last ring components computed.
    """

    def __init__(self, spark: SparkSession, tables: Tables):
        self.spark = spark
        self.tables = tables
        self.ring_passes = 0
        self._users: int | None = None
        self._kept: dict[tuple[dt.date, tuple[str, ...], int], tuple[DataFrame, DataFrame]] = {}

    def _accounts_as_of(self, as_of: dt.date) -> DataFrame:
        from pyspark.sql import functions as F

        products = self.tables["products"].select("product_id", "kind")
        accounts = self.tables["accounts"].where(
            F.col("opened_at").isNull() | (F.col("opened_at") <= F.lit(as_of))
        )
        return accounts.join(products, "product_id", "left")

    def _open_loans_as_of(self, as_of: dt.date) -> DataFrame:
        from pyspark.sql import functions as F

        return self.tables["external_loans"].where(
            F.col("status").isin(list(OPEN_LOAN_STATUSES)) & (F.col("opened_at") <= F.lit(as_of))
        )

    def _small(self, frame: pl.DataFrame) -> DataFrame:
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
        wanted = self._small(ids).join(self.tables["users"], "user_id", "left_semi")
        return collect("exposure", EXPOSURE_SCHEMA, self._exposure_of(as_of, F.broadcast(wanted)))

    def compute(self, form: Form, config: Any, as_of: dt.date, **extra: Any) -> pl.DataFrame:
        """The frame of ``form``, computed by Spark and collected.

        Raises
        ------
        BackendError
            When the form has no Spark form (:data:`SPARK_FORMS`).
        """
        method = SPARK_FORMS.get(form.name)
        if method is None:
            raise BackendError(f"the spark backend has no form of frame {form.name!r}")
        frame: DataFrame = getattr(self, method)(config, as_of, **extra)
        return collect(form.name, form.schema, frame)

    def _exposure_of(self, as_of: dt.date, wanted: DataFrame | None) -> DataFrame:
        from pyspark.sql import functions as F

        acc = self._accounts_as_of(as_of)
        loans = self._open_loans_as_of(as_of)
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

    # -- the forms (Spark DataFrames, collected by compute) ---------------------------

    def multi_lending(self, config: MultiLendingConfig, as_of: dt.date) -> DataFrame:
        """Distinct lender lists of the users whose count reaches a criterion's
        :func:`~xpg.queries.rules.multi_lending.least_count`."""
        from pyspark.sql import functions as F

        loans = self._open_loans_as_of(as_of).select("user_id", "lender_id")
        widest = max(config.short_window_days, config.long_window_days)
        apps = (
            self.tables["applications"]
            .withColumn("day", _day("applied_at"))
            .where(
                (F.col("day") <= F.lit(as_of))
                & (F.col("day") >= F.lit(window_start(as_of, widest)))
            )
            .select("user_id", "lender_id", "day")
        )

        def since(days: int) -> DataFrame:
            return apps.where(F.col("day") >= F.lit(window_start(as_of, days)))

        rows_of = {
            "open_lenders": loans,
            "short_window_lenders": since(config.short_window_days),
            "long_window_lenders": since(config.long_window_days),
        }
        sources = {c.column: (rows_of[c.column], least_count(c.threshold(config)))
                   for c in CRITERIA}
        counted = [
            rows.groupBy("user_id")
            .agg(F.countDistinct("lender_id").alias("n"))
            .where(F.col("n") >= least)
            .select("user_id")
            for rows, least in sources.values()
        ]
        flagged = counted[0].union(counted[1]).union(counted[2]).distinct()
        frame = flagged
        for name, (rows, _) in sources.items():
            lists = (
                rows.join(flagged, "user_id", "left_semi")
                .groupBy("user_id")
                .agg(F.array_sort(F.collect_set("lender_id")).alias(name))
            )
            frame = frame.join(lists, "user_id", "left")
        empty = F.array().cast("array<string>")
        return frame.select("user_id", *(F.coalesce(F.col(n), empty).alias(n) for n in sources))

    # -- rings ---------------------------------------------------------------------

    def _kept_links(self, config: RingConfig, as_of: dt.date) -> tuple[DataFrame, DataFrame]:
        """The distinct kept links (``user_id``, ``kind``, ``value``, ``users``: the
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
        exists = F.col("first_seen").isNull() | (_day("first_seen") <= F.lit(as_of))
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
        result = min_label_components(kept.where(F.col("users") >= 2))
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

    def ring_groups(self, config: RingConfig, as_of: dt.date) -> DataFrame:
        """Members of the groups of at least :func:`~xpg.queries.rules.ring.least_size`."""
        from pyspark.sql import Window
        from pyspark.sql import functions as F

        _, labels = self._kept_links(config, as_of)
        size = F.count("*").over(Window.partitionBy("label"))
        return (
            labels.withColumn("size", size)
            .where(F.col("size") >= least_size(config))
            .select(F.col("label").alias("group"), "user_id")
        )

    def ring_core_links(self, config: RingConfig, as_of: dt.date, *, members: pl.DataFrame
                        ) -> DataFrame:
        """The kept links (hubs cut over all users) of the ``members`` asked for: the
        multi_lending users of the groups searched for cores (contract v2)."""
        from pyspark.sql import functions as F

        kept, _ = self._kept_links(config, as_of)
        asked = F.broadcast(self._small(members.select("user_id")))
        return kept.join(asked, "user_id", "left_semi").select("user_id", "kind", "value")

    def _shared(self, config: RingConfig, as_of: dt.date, members: pl.DataFrame) -> DataFrame:
        """Kept devices and identifiers linked to at least two members of a group."""
        from pyspark.sql import functions as F

        kept, _ = self._kept_links(config, as_of)
        return (
            kept.join(F.broadcast(self._small(members.select("group", "user_id"))), "user_id")
            .groupBy("group", "kind", "value")
            .agg(F.count("*").alias("members"))
            .where(F.col("members") >= 2)
        )

    def ring_devices(self, config: RingConfig, as_of: dt.date, *, members: pl.DataFrame
                     ) -> DataFrame:
        from pyspark.sql import functions as F

        shared = self._shared(config, as_of, members)
        return shared.where(F.col("kind") == DEVICE_KIND).withColumnRenamed("value", "device_id")

    def ring_identifiers(self, config: RingConfig, as_of: dt.date, *, members: pl.DataFrame
                         ) -> DataFrame:
        from pyspark.sql import functions as F

        return self._shared(config, as_of, members).where(F.col("kind") != DEVICE_KIND)

    def ring_lenders(self, config: RingConfig, as_of: dt.date, *, members: pl.DataFrame
                     ) -> DataFrame:
        from pyspark.sql import functions as F

        return (
            self._open_loans_as_of(as_of)
            .join(F.broadcast(self._small(members.select("group", "user_id"))), "user_id")
            .groupBy("group", "lender_id")
            .agg(F.countDistinct("user_id").alias("members"))
        )

    # -- cross-product rules ---------------------------------------------------------

    def freeze_inconsistency(self, config: FreezeConfig, as_of: dt.date) -> DataFrame:
        from pyspark.sql import functions as F

        acc = self._accounts_as_of(as_of)
        frozen = _pick(
            acc.where(F.col("status").isin("frozen", "closed")),
            "frozen_",
            account_id="account_id",
            product_id="product_id",
            kind="kind",
            status="status",
            reason="status_reason",
            since="status_changed_at",
        )
        drawable = _pick(
            acc.where((F.col("status") == "active") & (_drawable() > 0)),
            "",
            drawable_account_id="account_id",
            drawable_product_id="product_id",
            drawable_kind="kind",
            drawable=_drawable(),
        )
        return frozen.join(drawable, "user_id").where(
            F.col("frozen_kind") != F.col("drawable_kind")
        )

    def _events_as_of(self, as_of: dt.date, predicate: Column) -> DataFrame:
        """Events on or before ``as_of`` that meet ``predicate``, of accounts existing
        then, with their account (as :meth:`PolarsHooks._events_as_of`)."""
        from pyspark.sql import functions as F

        acc = self._accounts_as_of(as_of).select(
            "account_id",
            "user_id",
            "product_id",
            "kind",
            F.col("status").alias("account_status"),
            "status_reason",
            _drawable().alias("account_drawable"),
        )
        events = self.tables["account_events"].where((_day("at") <= F.lit(as_of)) & predicate)
        return events.join(acc, "account_id")

    def restored_after_freeze(self, config: FreezeConfig, as_of: dt.date) -> DataFrame:
        from pyspark.sql import functions as F

        events = self._events_as_of(as_of, F.col("event").isin("freeze", *LIFT_EVENTS))
        lifts = events.where(F.col("event").isin(*LIFT_EVENTS))
        last_lift = lifts.groupBy("account_id").agg(F.max("at").alias("last_lift"))
        freezes = (
            events.where((F.col("event") == "freeze") & (F.col("account_status") == "frozen"))
            .withColumn("freeze_reason", F.coalesce(F.col("reason"), F.col("status_reason")))
            .join(last_lift, "account_id", "left")
            .where(F.col("last_lift").isNull() | (F.col("last_lift") <= F.col("at")))
        )
        freezes = _pick(
            freezes,
            "",
            frozen_account_id="account_id",
            frozen_product_id="product_id",
            freeze_at="at",
            freeze_reason="freeze_reason",
        )
        restores = _pick(
            lifts,
            "restored_",
            account_id="account_id",
            product_id="product_id",
            event="event",
            at="at",
            drawable=F.when(F.col("account_status") == "active", F.col("account_drawable"))
            .otherwise(F.lit(0.0)),
        )
        return freezes.join(restores, "user_id").where(
            (F.col("restored_account_id") != F.col("frozen_account_id"))
            & (F.col("restored_at") > F.col("freeze_at"))
        )

    def limit_divergence(self, config: LimitDivergenceConfig, as_of: dt.date) -> DataFrame:
        """Pairs of a cut and a raise of another kind (the rule's ``deep_cut`` decides)."""
        from pyspark.sql import functions as F

        old, new = F.col("old_limit"), F.col("new_limit")
        changes = self._events_as_of(
            as_of,
            (F.col("event") == "limit_change")
            & (_day("at") >= F.lit(window_start(as_of, config.window_days)))
            & old.isNotNull()
            & new.isNotNull(),
        )
        names = ("account_id", "product_id", "kind", "at", "old_limit", "new_limit")
        return (
            _pick(changes.where(new < old), "cut_", **{n: n for n in names})
            .join(_pick(changes.where(new > old), "raise_", **{n: n for n in names}), "user_id")
            .where(F.col("cut_kind") != F.col("raise_kind"))
        )
