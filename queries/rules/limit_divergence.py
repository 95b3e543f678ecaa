"""Rule ``limit_divergence``: a user's limit cut in one product while raised in a product
of another kind, within a window.

Settings ``[detection.limit_divergence]`` (:class:`LimitDivergenceConfig`).
The form pairs every limit cut (``new < old``) with every limit raise on an account of
another product kind of the same user, both within ``window_days``; the predicate
(:func:`deep_cut`, applied by :meth:`qualify`) keeps the cuts to at most
``cut_to_at_most`` or by at least ``cut_fraction``. Cypher: statement
``limit_divergence``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
from xpg.queries import spark_columns as sc
from xpg.queries.asof import day_start, until, window_start
from xpg.queries.assembly import ExposureIndex, by_user, cny, distinct, exposure_of, finding
from xpg.queries.findings import Finding
from xpg.queries.frames import Form
from xpg.queries.rules.base import Rule
from xpg.queries.rules.freeze_inconsistency import pick
from xpg.queries.rules.restored_after_freeze import events_as_of

from xpg.settings import Amount, Count, Fraction, settings_section


@settings_section("detection.limit_divergence")
class LimitDivergenceConfig:
    """The ``[detection.limit_divergence]`` settings: the window and what counts as a deep cut."""

    window_days: Count
    cut_to_at_most: Amount
    cut_fraction: Fraction


__all__ = ["CUT_TOLERANCE", "RULE", "LimitDivergence", "LimitDivergenceConfig", "deep_cut"]

CUT_TOLERANCE = 1e-6
"""CNY: a cut "by 80%" holds when ``old - new >= 0.8 * old - CUT_TOLERANCE``."""

_S, _F, _T = pl.String(), pl.Float64(), pl.Datetime("us")
_SIDE = ("account_id", "product_id", "kind", "at", "old_limit", "new_limit")
SCHEMA = {
    "user_id": _S,
    **{f"cut_{n}": t for n, t in zip(_SIDE, (_S, _S, _S, _T, _F, _F), strict=True)},
    **{f"raise_{n}": t for n, t in zip(_SIDE, (_S, _S, _S, _T, _F, _F), strict=True)},
}
"""Frame ``limit_divergence``: one row per (cut event, raise event of another kind) pair."""


def deep_cut(old: pl.Expr, new: pl.Expr, config: LimitDivergenceConfig) -> pl.Expr:
    """THE predicate: a cut from ``old`` to ``new`` is deep enough.

    Examples
    --------
    >>> c = LimitDivergenceConfig()
    >>> pl.select(deep_cut(pl.lit(1000.0), pl.lit(200.0), c)).item()
    True
    >>> pl.select(deep_cut(pl.lit(1000.0), pl.lit(500.0), c)).item()
    False
    """
    return (new <= config.cut_to_at_most) | (
        (old - new) >= config.cut_fraction * old - CUT_TOLERANCE
    )


def _polars(hooks: Any, config: LimitDivergenceConfig, as_of: dt.date) -> pl.DataFrame:
    changes = events_as_of(
        hooks,
        as_of,
        pl.col("event") == "limit_change",
        pl.col("at").dt.date() >= window_start(as_of, config.window_days),
        pl.col("old_limit").is_not_null(),
        pl.col("new_limit").is_not_null(),
    )
    old, new = pl.col("old_limit"), pl.col("new_limit")

    def side(frame: pl.DataFrame, prefix: str) -> pl.DataFrame:
        return pick(frame, f"{prefix}_", **{n: n for n in _SIDE})

    return (
        side(changes.filter(new < old), "cut")
        .join(side(changes.filter(new > old), "raise"), on="user_id")
        .filter(pl.col("cut_kind") != pl.col("raise_kind"))
    )


def _params(config: LimitDivergenceConfig, as_of: dt.date) -> dict[str, Any]:
    return {
        "as_of": as_of,
        "until": until(as_of),
        "window_start": day_start(window_start(as_of, config.window_days)),
    }


def _cut_fraction(old: float, new: float) -> float:
    return (old - new) / old if old > 0 else 0.0


def _spark(hooks: Any, config: LimitDivergenceConfig, as_of: dt.date) -> Any:
    """The Spark form: pairs of a cut and a raise of another kind (:func:`deep_cut` decides)."""
    from pyspark.sql import functions as F

    old, new = F.col("old_limit"), F.col("new_limit")
    changes = hooks.events_as_of(
        as_of,
        (F.col("event") == "limit_change")
        & (sc.day("at") >= F.lit(window_start(as_of, config.window_days)))
        & old.isNotNull()
        & new.isNotNull(),
    )
    names = ("account_id", "product_id", "kind", "at", "old_limit", "new_limit")
    return (
        sc.pick(changes.where(new < old), "cut_", **{n: n for n in names})
        .join(sc.pick(changes.where(new > old), "raise_", **{n: n for n in names}), "user_id")
        .where(F.col("cut_kind") != F.col("raise_kind"))
    )


class LimitDivergence(Rule):
    """Rule ``limit_divergence`` (see the module docstring)."""

    name = "limit_divergence"
    incremental = "user"  # a user's findings: that user's rows, shared tables, run date
    change_reasons = "window"  # the cut fell out of its window, or the limit changed again
    section = "limit_divergence"
    config_class = LimitDivergenceConfig
    forms = (Form("limit_divergence", SCHEMA, _polars, "limit_divergence", _params,
                  cypher_file="rules/limit_divergence", spark=_spark),)

    def qualify(self, frame: pl.DataFrame, config: LimitDivergenceConfig) -> pl.DataFrame:
        """The pairs whose cut is a :func:`deep_cut`."""
        return frame.filter(deep_cut(pl.col("cut_old_limit"), pl.col("cut_new_limit"), config))

    def assemble(self, result: pl.DataFrame, exposure: ExposureIndex,
                 config: LimitDivergenceConfig) -> list[Finding]:
        """One finding per user.

        ``strength`` is the largest cut fraction ``(old - new) / old`` (a cut to 0: 1).
        """
        findings = []
        for user, rows in by_user(
            result, ["cut_at", "cut_account_id", "raise_at", "raise_account_id"]
        ).items():
            cuts = distinct(
                rows,
                [
                    "cut_account_id",
                    "cut_product_id",
                    "cut_kind",
                    "cut_at",
                    "cut_old_limit",
                    "cut_new_limit",
                ],
            )
            raises = sorted(
                distinct(
                    rows,
                    [
                        "raise_account_id",
                        "raise_product_id",
                        "raise_kind",
                        "raise_at",
                        "raise_old_limit",
                        "raise_new_limit",
                    ],
                ),
                key=lambda r: (r["raise_at"], r["raise_account_id"]),
            )
            fractions = [_cut_fraction(c["cut_old_limit"], c["cut_new_limit"]) for c in cuts]
            c0, r0 = cuts[0], raises[0]
            exposure_ = exposure_of(exposure[user])
            findings.append(
                finding(
                    self.name,
                    user,
                    [user],
                    max(fractions),
                    exposure_,
                    {
                        "window_days": config.window_days,
                        "cuts": [
                            {
                                "account_id": c["cut_account_id"],
                                "product_id": c["cut_product_id"],
                                "kind": c["cut_kind"],
                                "event": "limit_change",
                                "at": c["cut_at"],
                                "old_limit": c["cut_old_limit"],
                                "new_limit": c["cut_new_limit"],
                                "cut_fraction": round(f, 4),
                            }
                            for c, f in zip(cuts, fractions, strict=True)
                        ],
                        "raises": [
                            {
                                "account_id": r["raise_account_id"],
                                "product_id": r["raise_product_id"],
                                "kind": r["raise_kind"],
                                "event": "limit_change",
                                "at": r["raise_at"],
                                "old_limit": r["raise_old_limit"],
                                "new_limit": r["raise_new_limit"],
                            }
                            for r in raises
                        ],
                    },
                    f"Within {config.window_days} days user {user}'s {c0['cut_product_id']} "
                    f"({c0['cut_kind']}) limit was cut from {cny(c0['cut_old_limit'])} to "
                    f"{cny(c0['cut_new_limit'])} ({fractions[0]:.0%}) on "
                    f"{c0['cut_at'].date().isoformat()} while the {r0['raise_product_id']} "
                    f"({r0['raise_kind']}) limit was raised from {cny(r0['raise_old_limit'])} to "
                    f"{cny(r0['raise_new_limit'])} on {r0['raise_at'].date().isoformat()}; "
                    f"exposure {cny(exposure_.total)}.",
                )
            )
        return findings


RULE = LimitDivergence()
