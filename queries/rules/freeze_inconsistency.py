"""Rule ``freeze_inconsistency``: a user frozen for a user-scope reason in one product yet
able to draw in a product of another kind.

Settings ``[detection.freeze]`` (:class:`~xpg.queries.rules.scope.FreezeConfig`). The form pairs
every frozen or closed account with every active account of the same user with
drawable credit, of another product kind; the predicate (:meth:`qualify`, with
:func:`~xpg.queries.rules.scope.user_scope`) keeps the pairs whose freeze reason is
of user scope. Cypher: statement ``freeze_inconsistency``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
from xpg.queries import spark_columns as sc
from xpg.queries.asof import accounts_as_of
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
from xpg.queries.predicates import DRAWABLE_ACCOUNT, HEADROOM
from xpg.queries.rules.base import Total
from xpg.queries.rules.scope import FreezeConfig, FreezeRule, reason_phrase, reason_strength

__all__ = ["RULE", "FreezeInconsistency", "pick"]

_S, _F, _T = pl.String(), pl.Float64(), pl.Datetime("us")

SCHEMA = {
    "user_id": _S,
    "frozen_account_id": _S,
    "frozen_product_id": _S,
    "frozen_kind": _S,
    "frozen_status": _S,
    "frozen_reason": _S,
    "frozen_since": _T,
    "drawable_account_id": _S,
    "drawable_product_id": _S,
    "drawable_kind": _S,
    "drawable": _F,
}
"""Frame ``freeze_inconsistency``: one row per (frozen account, drawable account of
another kind) pair."""


def pick(frame: pl.DataFrame, prefix: str, **columns: str | pl.Expr) -> pl.DataFrame:
    """``user_id`` and the given columns of ``frame``, renamed ``<prefix><name>``."""
    return frame.select(
        "user_id",
        *((pl.col(c) if isinstance(c, str) else c).alias(prefix + n) for n, c in columns.items()),
    )


_FROZEN = {"account_id": "account_id", "product_id": "product_id", "kind": "kind",
           "status": "status", "reason": "status_reason", "since": "status_changed_at"}
_DRAWABLE = {"drawable_account_id": "account_id", "drawable_product_id": "product_id",
             "drawable_kind": "kind"}
"""The frame's columns (``frozen_`` + a key of _FROZEN; the keys of _DRAWABLE) and the
account columns they come from, in both forms."""


def _polars(hooks: Any, config: FreezeConfig, as_of: dt.date) -> pl.DataFrame:
    acc = accounts_as_of(hooks.dataset, as_of)
    frozen = pick(
        acc.filter(pl.col("status").is_in(("frozen", "closed"))),
        "frozen_",
        **_FROZEN,
    )
    drawable = pick(
        acc.filter(DRAWABLE_ACCOUNT.polars()),
        "",
        **_DRAWABLE,
        drawable=HEADROOM.polars(),
    )
    return frozen.join(drawable, on="user_id").filter(
        pl.col("frozen_kind") != pl.col("drawable_kind")
    )


def _spark(hooks: Any, config: FreezeConfig, as_of: dt.date) -> Any:
    """The Spark form (the same pairs as :func:`_polars`)."""
    from pyspark.sql import functions as F

    acc = hooks.accounts_as_of(as_of)
    frozen = sc.pick(
        acc.where(F.col("status").isin("frozen", "closed")),
        "frozen_",
        **_FROZEN,
    )
    drawable = sc.pick(
        acc.where(sc.sql(DRAWABLE_ACCOUNT)),
        "",
        **_DRAWABLE,
        drawable=sc.sql(HEADROOM),
    )
    return frozen.join(drawable, "user_id").where(F.col("frozen_kind") != F.col("drawable_kind"))


def _params(config: FreezeConfig, as_of: dt.date) -> dict[str, Any]:
    return {"as_of": as_of}


class FreezeInconsistency(FreezeRule):
    """Rule ``freeze_inconsistency`` (see the module docstring)."""

    name = "freeze_inconsistency"
    incremental = "user"  # a user's findings: that user's rows, shared tables, run date
    totals = (Total("at_risk_total", "at_risk"),)  # the summary's sum of its amounts at risk
    at_risk_evidence = "drawable_accounts"  # its drawable accounts at risk (queries/totals.py)
    screening = "elevated"  # a linked user's inconsistent freeze makes an applicant elevated
    reason_column = "frozen_reason"
    forms = (Form("freeze_inconsistency", SCHEMA, _polars, "freeze_inconsistency", _params,
                  cypher_file="rules/freeze_inconsistency", spark=_spark),)

    def assemble(self, result: pl.DataFrame, exposure: ExposureIndex, config: FreezeConfig
                 ) -> list[Finding]:
        """One finding per user.

        ``at_risk`` is the drawable amount of the user's distinct drawable accounts.
        ``strength`` is 1.0 when a listed user-scope reason is involved, 0.75 when the
        frozen accounts carry only unlisted or missing reasons.
        """
        findings = []
        for user, rows in by_user(result, ["frozen_account_id", "drawable_account_id"]).items():
            frozen = distinct(
                rows,
                [
                    "frozen_account_id",
                    "frozen_product_id",
                    "frozen_kind",
                    "frozen_status",
                    "frozen_reason",
                    "frozen_since",
                ],
            )
            drawable = sorted(
                distinct(rows, ["drawable_account_id", "drawable_product_id", "drawable_kind",
                                "drawable"]),
                key=lambda r: r["drawable_account_id"],
            )
            at_risk = round(sum(round(r["drawable"], 2) for r in drawable), 2)
            f0, d0 = frozen[0], drawable[0]
            status = "frozen" if f0["frozen_status"] == "frozen" else "closed"
            first = (
                f"{f0['frozen_product_id']} account {f0['frozen_account_id']} "
                f"({f0['frozen_kind']}) is {status} {reason_phrase(f0['frozen_reason'], config)}"
            )
            if len(frozen) > 1:
                first += f" (and {plural(len(frozen) - 1, 'more account')})"
            second = (
                f"{d0['drawable_product_id']} account {d0['drawable_account_id']} "
                f"({d0['drawable_kind']}) is active"
            )
            if len(drawable) > 1:
                second += f" (and {plural(len(drawable) - 1, 'more account')})"
            findings.append(
                finding(
                    self.name,
                    user,
                    [user],
                    reason_strength([r["frozen_reason"] for r in frozen], config),
                    exposure_of(exposure[user], at_risk=at_risk),
                    {
                        "frozen_accounts": [
                            {
                                "account_id": r["frozen_account_id"],
                                "product_id": r["frozen_product_id"],
                                "kind": r["frozen_kind"],
                                "status": r["frozen_status"],
                                "reason": r["frozen_reason"],
                                "since": r["frozen_since"],
                            }
                            for r in frozen
                        ],
                        "drawable_accounts": [
                            {
                                "account_id": r["drawable_account_id"],
                                "product_id": r["drawable_product_id"],
                                "kind": r["drawable_kind"],
                                "status": "active",
                                "drawable": round(r["drawable"], 2),
                            }
                            for r in drawable
                        ],
                    },
                    f"User {user}'s {first}, yet {second} with {cny(at_risk)} drawable.",
                )
            )
        return findings


RULE = FreezeInconsistency()
