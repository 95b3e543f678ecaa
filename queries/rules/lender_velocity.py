"""Rule ``lender_velocity`` (data contract v3): a user taking up many new lenders at once,
before any multi-lending threshold is met.

For each lender at which a user holds an external loan (of any status) or made an
application, the user's *first date* there is the earliest ``opened_at`` or ``applied_at``
(its day) at that lender, on or before the run date. The lenders whose first date falls in
the last ``window_days`` days (counted as every window: the run date and the days before
it) are *new*. A user with ``min_new_lenders`` or more new lenders is a finding, unless the
same run finds the user ``multi_lending`` (so this rule runs after that one).

Form ``lender_velocity``: the new lenders of the users having at least
:func:`least_count` of them (a pre-filter), with their first dates; the predicate
(:func:`met`, in :meth:`LenderVelocity.qualify`) decides on every backend alike.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import polars as pl
from xpg.queries.asof import until, window_start
from xpg.queries.assembly import ExposureIndex, cny, exposure_of, finding, names
from xpg.queries.findings import Finding
from xpg.queries.frames import DetectionHooks, Form
from xpg.queries.rules.base import Rule

from xpg.settings import Count, settings_section

__all__ = ["RULE", "LenderVelocity", "LenderVelocityConfig", "least_count", "met"]


@settings_section("detection.lender_velocity")
class LenderVelocityConfig:
    """The ``[detection.lender_velocity]`` settings (contract v3)."""

    window_days: Count
    min_new_lenders: Count


SCHEMA = {"user_id": pl.String(), "lender_id": pl.String(), "first_day": pl.Date()}
"""Frame ``lender_velocity``: one row per new lender of a candidate user, with the user's
first date there."""


def met(new_lenders: pl.Expr, config: LenderVelocityConfig) -> pl.Expr:
    """THE predicate: a user with this many new lenders is a finding (before the
    multi_lending exclusion).

    Examples
    --------
    >>> c = LenderVelocityConfig()
    >>> pl.select(met(pl.lit(3), c)).item(), pl.select(met(pl.lit(2), c)).item()
    (True, False)
    """
    return new_lenders >= config.min_new_lenders


def least_count(config: LenderVelocityConfig) -> int:
    """The fewest new lenders :func:`met` accepts: the forms' pre-filter."""
    return config.min_new_lenders


def _polars(hooks: Any, config: LenderVelocityConfig, as_of: dt.date) -> pl.DataFrame:
    dataset = hooks.dataset
    loans = dataset.external_loans.lazy().select(
        "user_id", "lender_id", pl.col("opened_at").alias("day"))
    apps = dataset.applications.lazy().select(
        "user_id", "lender_id", pl.col("applied_at").dt.date().alias("day"))
    start, least = window_start(as_of, config.window_days), least_count(config)
    rows = pl.concat([loans, apps]).filter(pl.col("day") <= as_of)
    # A new lender has a row in the window (its first), so only the users with rows at
    # `least` lenders or more in the window can have as many new lenders: the first days
    # (a group-by on two strings over every row) are found for theirs alone.
    candidates = (rows.filter(pl.col("day") >= start).group_by("user_id")
                  .agg(pl.col("lender_id").n_unique().alias("n"))
                  .filter(pl.col("n") >= least).select("user_id"))
    first = (rows.join(candidates, on="user_id", how="semi")
             .group_by("user_id", "lender_id").agg(pl.col("day").min().alias("first_day"))
             .filter(pl.col("first_day") >= start))
    return first.filter(pl.len().over("user_id") >= least).select(*SCHEMA).collect()


def _spark(hooks: Any, config: LenderVelocityConfig, as_of: dt.date) -> Any:
    """The Spark form (the same rows as :func:`_polars`)."""
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
    return (first.withColumn("n", count).where(F.col("n") >= least_count(config))
            .select(*SCHEMA))


def _params(config: LenderVelocityConfig, as_of: dt.date) -> dict[str, Any]:
    return {"as_of": as_of, "until": until(as_of),
            "window_start": window_start(as_of, config.window_days),
            "min_new_lenders": least_count(config)}


FORM = Form("lender_velocity", SCHEMA, _polars, "lender_velocity", _params,
            cypher_file="rules/lender_velocity", spark=_spark)


class LenderVelocity(Rule):
    """Rule ``lender_velocity`` (see the module docstring)."""

    name = "lender_velocity"
    section = "lender_velocity"
    config_class = LenderVelocityConfig
    forms = (FORM,)
    after = ("multi_lending",)
    incremental = "user"  # a user's findings: that user's rows (and its multi_lending), run date
    screening = "elevated"

    def detect(self, hooks: DetectionHooks, config: LenderVelocityConfig, as_of: dt.date,
               earlier: Mapping[str, Any]) -> pl.DataFrame:
        frame = self.qualify(FORM.conform(hooks.compute(FORM, config, as_of)), config)
        return frame.join(earlier["multi_lending"].select("user_id"), on="user_id", how="anti")

    def qualify(self, frame: pl.DataFrame, config: LenderVelocityConfig) -> pl.DataFrame:
        """The rows of the users whose count of new lenders is :func:`met`, sorted."""
        return (frame.unique().filter(met(pl.len().over("user_id"), config))
                .sort("user_id", "first_day", "lender_id"))

    def users(self, result: pl.DataFrame) -> pl.DataFrame:
        return result.select("user_id").unique()

    def assemble(self, result: pl.DataFrame, exposure: ExposureIndex,
                 config: LenderVelocityConfig) -> list[Finding]:
        """One finding per user. ``strength = min(1, n / (2 * min_new_lenders))``."""
        findings = []
        # One pass over the rows (users in first-seen order), not a frame per user.
        by_user: dict[str, list[dict[str, str]]] = {}
        for user, lender, day in result.select("user_id", "lender_id", "first_day").iter_rows():
            by_user.setdefault(user, []).append({"lender_id": lender,
                                                 "first_date": day.isoformat()})
        for user, lenders in by_user.items():
            n = len(lenders)
            listed = names([f"{x['lender_id']} on {x['first_date']}" for x in lenders])
            amounts = exposure_of(exposure[user])
            findings.append(finding(
                self.name, user, [user], min(1.0, n / (2 * config.min_new_lenders)), amounts,
                {"new_lenders": lenders, "window_days": config.window_days,
                 "min_new_lenders": config.min_new_lenders},
                f"User {user} took up {n} new lenders in {config.window_days} days "
                f"({listed}), "
                f"not yet multi-lending; exposure {cny(amounts.total)}.",
            ))
        return findings


RULE = LenderVelocity()
