"""Rule ``restored_after_freeze``: a user-scope freeze still in force while another of the
user's accounts was unfrozen or reopened after it.

Settings ``[detection.freeze]`` (:class:`~xpg.queries.rules.scope.FreezeConfig`). The form pairs
every freeze event of an account still frozen, with no unfreeze/reopen of that
account after it, with every later unfreeze/reopen event of another account of the
same user; the predicate (:meth:`qualify`) keeps the pairs whose freeze reason (the
event's, else the account's) is of user scope. Cypher: statement
``restored_after_freeze``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
from xpg.queries import spark_columns as sc
from xpg.queries.asof import accounts_as_of, until
from xpg.queries.assembly import (
    ExposureIndex,
    by_user,
    cny,
    distinct,
    exposure_of,
    finding,
    plural,
)
from xpg.queries.findings import Finding
from xpg.queries.frames import Form
from xpg.queries.predicates import HEADROOM
from xpg.queries.rules.freeze_inconsistency import pick
from xpg.queries.rules.scope import FreezeConfig, FreezeRule, reason_phrase, reason_strength

__all__ = ["LIFT_EVENTS", "RULE", "RestoredAfterFreeze", "events_as_of"]

LIFT_EVENTS = ("unfreeze", "reopen")
_S, _F, _T = pl.String(), pl.Float64(), pl.Datetime("us")

SCHEMA = {
    "user_id": _S,
    "frozen_account_id": _S,
    "frozen_product_id": _S,
    "freeze_at": _T,
    "freeze_reason": _S,
    "restored_account_id": _S,
    "restored_product_id": _S,
    "restored_event": _S,
    "restored_at": _T,
    "restored_drawable": _F,
}
"""Frame ``restored_after_freeze``: one row per (freeze event, later lift event) pair."""


def events_as_of(hooks: Any, as_of: dt.date, *predicates: pl.Expr) -> pl.DataFrame:
    """Events on or before ``as_of`` of accounts existing as of then, with the account.

    ``predicates`` (on event columns) select the events before they are joined
    with their account: each rule joins only the events it looks at.
    """
    acc = accounts_as_of(hooks.dataset, as_of).select(
        "account_id",
        "user_id",
        "product_id",
        "kind",
        pl.col("status").alias("account_status"),
        "status_reason",
        HEADROOM.polars().alias("account_drawable"),
    )
    return hooks.dataset.account_events.filter(
        pl.col("at").dt.date() <= as_of, *predicates
    ).join(acc, on="account_id", how="inner")


_FREEZE = {"frozen_account_id": "account_id", "frozen_product_id": "product_id",
           "freeze_at": "at", "freeze_reason": "freeze_reason"}
_RESTORE = {"account_id": "account_id", "product_id": "product_id", "event": "event",
            "at": "at"}
"""The frame's columns (the keys of _FREEZE; ``restored_`` + a key of _RESTORE) and the
event columns they come from, in both forms."""


def _polars(hooks: Any, config: FreezeConfig, as_of: dt.date) -> pl.DataFrame:
    events = events_as_of(hooks, as_of, pl.col("event").is_in(("freeze", *LIFT_EVENTS)))
    lifts = events.filter(pl.col("event").is_in(LIFT_EVENTS))
    last_lift = lifts.group_by("account_id").agg(pl.col("at").max().alias("last_lift"))
    reason = pl.coalesce(pl.col("reason"), pl.col("status_reason"))
    freezes = (
        events.filter(pl.col("event") == "freeze", pl.col("account_status") == "frozen")
        .with_columns(reason.alias("freeze_reason"))
        .join(last_lift, on="account_id", how="left")
        .filter(pl.col("last_lift").is_null() | (pl.col("last_lift") <= pl.col("at")))
    )
    freezes = pick(
        freezes,
        "",
        **_FREEZE,
    )
    restores = pick(
        lifts,
        "restored_",
        **_RESTORE,
        drawable=pl.when(pl.col("account_status") == "active")
        .then(pl.col("account_drawable"))
        .otherwise(0.0),
    )
    return freezes.join(restores, on="user_id").filter(
        pl.col("restored_account_id") != pl.col("frozen_account_id"),
        pl.col("restored_at") > pl.col("freeze_at"),
    )


def _spark(hooks: Any, config: FreezeConfig, as_of: dt.date) -> Any:
    """The Spark form (the same pairs as :func:`_polars`)."""
    from pyspark.sql import functions as F

    events = hooks.events_as_of(as_of, F.col("event").isin("freeze", *LIFT_EVENTS))
    lifts = events.where(F.col("event").isin(*LIFT_EVENTS))
    last_lift = lifts.groupBy("account_id").agg(F.max("at").alias("last_lift"))
    freezes = (
        events.where((F.col("event") == "freeze") & (F.col("account_status") == "frozen"))
        .withColumn("freeze_reason", F.coalesce(F.col("reason"), F.col("status_reason")))
        .join(last_lift, "account_id", "left")
        .where(F.col("last_lift").isNull() | (F.col("last_lift") <= F.col("at")))
    )
    freezes = sc.pick(
        freezes,
        "",
        **_FREEZE,
    )
    restores = sc.pick(
        lifts,
        "restored_",
        **_RESTORE,
        drawable=F.when(F.col("account_status") == "active", F.col("account_drawable"))
        .otherwise(F.lit(0.0)),
    )
    return freezes.join(restores, "user_id").where(
        (F.col("restored_account_id") != F.col("frozen_account_id"))
        & (F.col("restored_at") > F.col("freeze_at"))
    )


def _params(config: FreezeConfig, as_of: dt.date) -> dict[str, Any]:
    return {"as_of": as_of, "until": until(as_of), "lifts": list(LIFT_EVENTS)}


class RestoredAfterFreeze(FreezeRule):
    """Rule ``restored_after_freeze`` (see the module docstring)."""

    name = "restored_after_freeze"
    incremental = "user"  # a user's findings: that user's rows, shared tables, run date
    at_risk_evidence = "restorations"  # its drawable accounts at risk (queries/totals.py)
    reason_column = "freeze_reason"
    forms = (Form("restored_after_freeze", SCHEMA, _polars, "restored_after_freeze", _params,
                  cypher_file="rules/restored_after_freeze", spark=_spark),)

    def assemble(self, result: pl.DataFrame, exposure: ExposureIndex, config: FreezeConfig
                 ) -> list[Finding]:
        """One finding per user.

        ``at_risk`` is the drawable amount of the distinct restored accounts that are
        active now. ``strength`` as for ``freeze_inconsistency``.
        """
        findings = []
        for user, rows in by_user(
            result, ["freeze_at", "frozen_account_id", "restored_at", "restored_account_id"]
        ).items():
            freezes = distinct(
                rows, ["frozen_account_id", "frozen_product_id", "freeze_at", "freeze_reason"]
            )
            restores = sorted(
                distinct(
                    rows,
                    [
                        "restored_account_id",
                        "restored_product_id",
                        "restored_event",
                        "restored_at",
                        "restored_drawable",
                    ],
                ),
                key=lambda r: (r["restored_at"], r["restored_account_id"]),
            )
            by_account = {r["restored_account_id"]: r["restored_drawable"] for r in restores}
            at_risk = round(sum(round(v, 2) for v in by_account.values()), 2)
            f0, r0 = freezes[0], restores[0]
            verb = "unfrozen" if r0["restored_event"] == "unfreeze" else "reopened"
            more = len(restores) - 1
            extra = f" ({plural(more, 'more restoration')})" if more else ""
            findings.append(
                finding(
                    self.name,
                    user,
                    [user],
                    reason_strength([r["freeze_reason"] for r in freezes], config),
                    exposure_of(exposure[user], at_risk=at_risk),
                    {
                        "freezes": [
                            {
                                "account_id": r["frozen_account_id"],
                                "product_id": r["frozen_product_id"],
                                "event": "freeze",
                                "at": r["freeze_at"],
                                "reason": r["freeze_reason"],
                            }
                            for r in freezes
                        ],
                        "restorations": [
                            {
                                "account_id": r["restored_account_id"],
                                "product_id": r["restored_product_id"],
                                "event": r["restored_event"],
                                "at": r["restored_at"],
                                "drawable": round(r["restored_drawable"], 2),
                            }
                            for r in restores
                        ],
                    },
                    f"User {user}'s {f0['frozen_product_id']} account "
                    f"{f0['frozen_account_id']} was "
                    f"frozen {reason_phrase(f0['freeze_reason'], config)} on "
                    f"{f0['freeze_at'].date().isoformat()} and is still frozen, yet "
                    f"{r0['restored_product_id']} account {r0['restored_account_id']} "
                    f"was {verb} on "
                    f"{r0['restored_at'].date().isoformat()}{extra}; "
                    f"{cny(at_risk)} drawable.",
                )
            )
        return findings


RULE = RestoredAfterFreeze()
