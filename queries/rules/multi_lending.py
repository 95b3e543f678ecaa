"""Rule ``multi_lending``: a user borrowing from, or applying to, many lenders.

Three criteria, each a count of distinct lenders against a threshold of
``[detection.multi_lending]`` (:class:`MultiLendingConfig`):
open/overdue external loans (``min_open_lenders``), applications in the short
window (``short_window_lenders``) and in the long window (``long_window_lenders``).
A user meeting one is a finding.

The one threshold predicate is :func:`met`. The forms return the lender lists of the
candidate users only (a pre-filter: only a few percent of the users' lists are
built): the Polars form keeps the users a criterion is :func:`met` for; statement
``multi_lending`` of ``multi_lending.cypher`` (beside this module), the Spark form
:func:`_spark`, those whose count reaches
:func:`least_count` (passed as parameters). :meth:`MultiLending.qualify` then applies
:func:`met` to the lists' lengths, and only it decides.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

import polars as pl
from xpg.queries import spark_columns as sc
from xpg.queries.asof import (
    OPEN_LOAN_STATUSES,
    day_start,
    open_loans_as_of,
    until,
    window_start,
)
from xpg.queries.assembly import AMOUNTS, ExposureIndex, cny, exposure_of, finding, rows
from xpg.queries.findings import EXPOSURE_KEYS, Finding, stable_ids
from xpg.queries.frames import Form
from xpg.queries.lines import (
    amount_texts,
    empty_findings,
    json_string,
    json_string_list,
    rounded_texts,
    scores,
    severity,
)
from xpg.queries.rules.base import Rule

from xpg.settings import Count, settings_section


@settings_section("detection.multi_lending")
class MultiLendingConfig:
    """The ``[detection.multi_lending]`` settings: the three criteria's thresholds and windows."""

    min_open_lenders: Count
    short_window_days: Count
    short_window_lenders: Count
    long_window_days: Count
    long_window_lenders: Count


__all__ = ["CRITERIA", "RULE", "Criterion", "MultiLending", "MultiLendingConfig", "least_count",
           "met"]

_LIST = pl.List(pl.String())

SCHEMA = {
    "user_id": pl.String(),
    "open_lenders": _LIST,
    "short_window_lenders": _LIST,
    "long_window_lenders": _LIST,
}
"""Frame ``multi_lending``: one row per candidate user; lists are distinct lender ids."""


@dataclass(frozen=True)
class Criterion:
    """One criterion: its name in evidence, its key, its lender list and its setting."""

    name: str
    key: str
    column: str
    setting: str

    def threshold(self, config: MultiLendingConfig) -> int:
        """The criterion's threshold in ``config``."""
        return int(getattr(config, self.setting))


CRITERIA = (
    Criterion("open_loans", "open", "open_lenders", "min_open_lenders"),
    Criterion("applications_short_window", "short", "short_window_lenders",
              "short_window_lenders"),
    Criterion("applications_long_window", "long", "long_window_lenders", "long_window_lenders"),
)


def met(count: pl.Expr, threshold: int) -> pl.Expr:
    """THE predicate: a criterion is met when its count of distinct lenders reaches its
    threshold.

    Examples
    --------
    >>> pl.select(met(pl.lit(4), 4)).item(), pl.select(met(pl.lit(3), 4)).item()
    (True, False)
    """
    return count >= threshold


def least_count(threshold: int) -> int:
    """The smallest count :func:`met` accepts for ``threshold``: the forms' pre-filter
    (change it with :func:`met`)."""
    return threshold


def _polars(hooks: Any, config: MultiLendingConfig, as_of: dt.date) -> pl.DataFrame:
    """Counts of distinct lenders per user first; lender lists only for the users
    that meet a criterion (a few percent of them)."""
    dataset = hooks.dataset
    loans = open_loans_as_of(dataset, as_of).lazy().select("user_id", "lender_id")
    day = pl.col("applied_at").dt.date()
    widest = max(config.short_window_days, config.long_window_days)
    apps = (
        dataset.applications.lazy()
        .filter(day <= as_of, day >= window_start(as_of, widest))
        .select("user_id", "lender_id", day.alias("day"))
    )
    sources = {
        "open_lenders": loans,
        "short_window_lenders": apps.filter(
            pl.col("day") >= window_start(as_of, config.short_window_days)
        ),
        "long_window_lenders": apps.filter(
            pl.col("day") >= window_start(as_of, config.long_window_days)
        ),
    }
    # one lazy plan: the three counts (and then the three lists) run in parallel
    flagged = pl.concat(
        [
            sources[c.column]
            .group_by("user_id")
            .agg(pl.col("lender_id").n_unique().alias("n"))
            .filter(met(pl.col("n"), c.threshold(config)))
            .select("user_id")
            for c in CRITERIA
        ]
    ).unique()
    frame = flagged
    for name, rows_ in sources.items():
        lists = (
            rows_.join(flagged, on="user_id", how="semi")
            .group_by("user_id")
            .agg(pl.col("lender_id").unique().sort().alias(name))
        )
        frame = frame.join(lists, on="user_id", how="left")
    return frame.with_columns(pl.col(list(sources)).fill_null(pl.lit([], dtype=_LIST))).collect()


def _params(config: MultiLendingConfig, as_of: dt.date) -> dict[str, Any]:
    return {
        "as_of": as_of,
        "until": until(as_of),
        "open": list(OPEN_LOAN_STATUSES),
        "short_start": day_start(window_start(as_of, config.short_window_days)),
        "long_start": day_start(window_start(as_of, config.long_window_days)),
        **{c.setting: least_count(c.threshold(config)) for c in CRITERIA},
    }


def _spark(hooks: Any, config: MultiLendingConfig, as_of: dt.date) -> Any:
    """The Spark form: the lender lists of the users whose count reaches a criterion's
    :func:`least_count`."""
    from pyspark.sql import functions as F

    loans = hooks.open_loans_as_of(as_of).select("user_id", "lender_id")
    widest = max(config.short_window_days, config.long_window_days)
    apps = (
        hooks.tables["applications"]
        .withColumn("day", sc.day("applied_at"))
        .where((F.col("day") <= F.lit(as_of))
               & (F.col("day") >= F.lit(window_start(as_of, widest))))
        .select("user_id", "lender_id", "day")
    )

    def since(days: int) -> Any:
        return apps.where(F.col("day") >= F.lit(window_start(as_of, days)))

    rows_of = {
        "open_lenders": loans,
        "short_window_lenders": since(config.short_window_days),
        "long_window_lenders": since(config.long_window_days),
    }
    sources = {c.column: (rows_of[c.column], least_count(c.threshold(config))) for c in CRITERIA}
    counted = [
        found.groupBy("user_id").agg(F.countDistinct("lender_id").alias("n"))
        .where(F.col("n") >= least).select("user_id")
        for found, least in sources.values()
    ]
    flagged = counted[0].union(counted[1]).union(counted[2]).distinct()
    frame = flagged
    for name, (found, _) in sources.items():
        lists = (
            found.join(flagged, "user_id", "left_semi")
            .groupBy("user_id")
            .agg(F.array_sort(F.collect_set("lender_id")).alias(name))
        )
        frame = frame.join(lists, "user_id", "left")
    empty = F.array().cast("array<string>")
    return frame.select("user_id", *(F.coalesce(F.col(n), empty).alias(n) for n in sources))


class MultiLending(Rule):
    """Rule ``multi_lending`` (see the module docstring)."""

    name = "multi_lending"
    incremental = "user"  # a user's findings: that user's rows, shared tables, run date
    change_reasons = "loans"  # loans closed or opened at its lenders, windows passed
    screening = "elevated"  # a linked multi-lender makes an applicant elevated
    section = "multi_lending"
    config_class = MultiLendingConfig
    forms = (Form("multi_lending", SCHEMA, _polars, "multi_lending", _params,
                  cypher_file="rules/multi_lending", spark=_spark),)

    def qualify(self, frame: pl.DataFrame, config: MultiLendingConfig) -> pl.DataFrame:
        """``frame`` sorted by user, lists sorted, with per criterion its count and whether
        it is :func:`met` (``n_*``, ``met_*``), the largest count/threshold ratio among
        those met (``ratio``), the union of the lender lists (``lenders``); users meeting
        none dropped."""
        counts = [pl.col(c.column).list.len().cast(pl.Int64).alias(f"n_{c.key}") for c in CRITERIA]
        flags = [met(pl.col(f"n_{c.key}"), c.threshold(config)).alias(f"met_{c.key}")
                 for c in CRITERIA]
        ratios = [
            pl.when(pl.col(f"met_{c.key}")).then(pl.col(f"n_{c.key}") / max(c.threshold(config), 1))
            for c in CRITERIA
        ]
        lists = [pl.col(c.column) for c in CRITERIA]
        return (
            frame.sort("user_id")
            .with_columns(pl.col(c.column).list.sort() for c in CRITERIA)
            .with_columns(counts)
            .with_columns(flags)
            .filter(pl.any_horizontal(pl.col(f"met_{c.key}" for c in CRITERIA)))
            .with_columns(
                pl.max_horizontal(ratios).alias("ratio"),
                pl.concat_list(lists).list.unique().list.sort().alias("lenders"),
            )
        )

    def assemble(
        self, result: pl.DataFrame, exposure: ExposureIndex, config: MultiLendingConfig
    ) -> list[Finding]:
        """One finding per qualifying user.

        ``strength = min(1, r / 2)`` where ``r`` is the largest count/threshold ratio of
        the criteria met (exactly at a threshold: 0.5; twice the threshold: 1).
        """
        short_days, long_days = config.short_window_days, config.long_window_days
        phrases = {
            "open": "holds open loans at {n} lenders",
            "short": f"applied to {{n}} lenders in {short_days} days",
            "long": f"applied to {{n}} lenders in {long_days} days",
        }
        findings = []
        for row in rows(result):
            user = row["user_id"]
            met_ = [c for c in CRITERIA if row[f"met_{c.key}"]]
            parts = [phrases[c.key].format(n=row[f"n_{c.key}"]) for c in met_]
            exposure_ = exposure_of(exposure[user])
            findings.append(
                finding(
                    self.name,
                    user,
                    [user],
                    row["ratio"] / 2,
                    exposure_,
                    {
                        "criteria": [c.name for c in met_],
                        "lenders": row["lenders"],
                        "open_loan_lenders": row["open_lenders"],
                        "applied_lenders_short_window": row["short_window_lenders"],
                        "applied_lenders_long_window": row["long_window_lenders"],
                        "short_window_days": short_days,
                        "long_window_days": long_days,
                    },
                    f"User {user} {' and '.join(parts)}; exposure {cny(exposure_.total)}.",
                )
            )
        return findings

    def assemble_frame(
        self, result: pl.DataFrame, exposure: ExposureIndex, config: MultiLendingConfig
    ) -> pl.DataFrame:
        """:meth:`assemble` as one frame of JSON lines (:mod:`xpg.queries.lines`)."""
        if not result.height:
            return empty_findings()
        short_days, long_days = config.short_window_days, config.long_window_days
        frame = exposure.joined(result)
        users = frame.get_column("user_id").to_list()
        totals = frame.get_column("total").to_list()
        score = scores([r / 2 for r in frame.get_column("ratio").to_list()], totals)
        texts = {a: rounded_texts(frame.get_column(a), 2) for a in AMOUNTS}
        frame = frame.with_columns(
            pl.Series("id", stable_ids(self.name, users), dtype=pl.String),
            pl.Series("score", score, dtype=pl.Float64),
            rounded_texts(pl.Series(score, dtype=pl.Float64), 4).alias("score_text"),
            amount_texts(totals).alias("cny"),
            *(t.alias(f"{a}_text") for a, t in texts.items()),
        ).with_columns(severity(pl.col("score")).alias("severity"))
        phrases = {
            "open": ["holds open loans at ", " lenders"],
            "short": ["applied to ", f" lenders in {short_days} days"],
            "long": ["applied to ", f" lenders in {long_days} days"],
        }
        met_ = {c.key: pl.col(f"met_{c.key}") for c in CRITERIA}
        criteria = pl.concat_str(
            [pl.when(met_[c.key]).then(pl.lit(json.dumps(c.name))) for c in CRITERIA],
            separator=", ", ignore_nulls=True)
        parts = pl.concat_str(
            [pl.when(met_[c.key]).then(pl.concat_str(
                pl.lit(phrases[c.key][0]), pl.col(f"n_{c.key}").cast(pl.String),
                pl.lit(phrases[c.key][1]))) for c in CRITERIA],
            separator=" and ", ignore_nulls=True)
        explanation = pl.concat_str(pl.lit("User "), pl.col("user_id"), pl.lit(" "), parts,
                                    pl.lit("; exposure "), pl.col("cny"), pl.lit(" CNY."))
        user = json_string(pl.col("user_id"))
        line = pl.concat_str(
            pl.lit('{"id": "'), pl.col("id"), pl.lit(f'", "type": "{self.name}", "severity": "'),
            pl.col("severity"), pl.lit('", "score": '), pl.col("score_text"),
            pl.lit(', "users": ['), user, pl.lit('], "exposure": {'),
            *_amounts_json(),
            pl.lit('}, "evidence": {"criteria": ['), criteria,
            pl.lit('], "lenders": '), json_string_list(pl.col("lenders")),
            pl.lit(', "open_loan_lenders": '), json_string_list(pl.col("open_lenders")),
            pl.lit(', "applied_lenders_short_window": '),
            json_string_list(pl.col("short_window_lenders")),
            pl.lit(', "applied_lenders_long_window": '),
            json_string_list(pl.col("long_window_lenders")),
            pl.lit(f', "short_window_days": {int(short_days)}, '
                   f'"long_window_days": {int(long_days)}}}, "explanation": '),
            json_string(explanation), pl.lit("}"),
        )
        return frame.select(
            "id", "severity", "score", pl.concat_list(pl.col("user_id")).alias("users"),
            pl.lit(None, dtype=pl.Float64).alias("at_risk"), line.alias("line"))


def _amounts_json() -> list[pl.Expr]:
    """``"total": T, "internal_limit": L, ...`` from the ``<amount>_text`` columns, in
    :meth:`Exposure.to_dict <xpg.queries.findings.Exposure.to_dict>` order."""
    out: list[pl.Expr] = []
    for i, a in enumerate(EXPOSURE_KEYS):
        out += [pl.lit(f'{", " if i else ""}"{a}": '), pl.col(f"{a}_text")]
    return out


RULE = MultiLending()
