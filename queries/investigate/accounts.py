"""Accounts and exposure as the views show them: each account with the scope of its
freeze reason, and the contract's exposure per user from the as-of frames."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import polars as pl
from xpg.queries.asof import exposure_frame
from xpg.queries.findings import Exposure
from xpg.queries.investigate.base import money
from xpg.queries.investigate.views import AccountInfo
from xpg.queries.predicates import DRAWABLE
from xpg.queries.rules.scope import FreezeConfig

__all__ = ["ZERO_EXPOSURE", "account_infos", "exposure_by_user", "sum_exposure"]


def account_infos(acc: pl.DataFrame, freeze: FreezeConfig) -> dict[str, tuple[AccountInfo, ...]]:
    out: dict[str, list[AccountInfo]] = defaultdict(list)
    acc = acc.with_columns(DRAWABLE.polars().alias("drawable")).sort("user_id", "account_id")
    for r in acc.iter_rows(named=True):
        scope = None
        if r["status"] != "active":
            scope = freeze.scope(r["status_reason"])
        out[r["user_id"]].append(AccountInfo(
            account_id=r["account_id"], user_id=r["user_id"], product_id=r["product_id"],
            product_kind=r["product_kind"], product_name=r["product_name"],
            credit_limit=money(r["credit_limit"]), outstanding=money(r["outstanding"]),
            drawable=money(r["drawable"]), status=r["status"],
            status_reason=r["status_reason"], reason_scope=scope,
            status_changed_at=r["status_changed_at"], opened_at=r["opened_at"],
        ))
    return {k: tuple(v) for k, v in out.items()}


def exposure_by_user(accounts: pl.DataFrame, loans: pl.DataFrame) -> dict[str, Exposure]:
    """The contract's exposure per user from their (as-of) accounts and loans frames
    (:func:`xpg.queries.asof.exposure_frame`, as the detections compute it)."""
    out = {}
    for r in exposure_frame(accounts, loans).iter_rows(named=True):
        out[r["user_id"]] = Exposure(
            total=money(r["total"]), internal_limit=money(r["internal_limit"]),
            internal_outstanding=money(r["internal_outstanding"]),
            drawable=money(r["drawable"]),
            external_outstanding=money(r["external_outstanding"]),
        )
    return out


ZERO_EXPOSURE = Exposure(0.0)


def sum_exposure(items: Iterable[Exposure]) -> Exposure:
    items = list(items)
    return Exposure(
        total=money(sum(e.total for e in items)),
        internal_limit=money(sum(e.internal_limit for e in items)),
        internal_outstanding=money(sum(e.internal_outstanding for e in items)),
        drawable=money(sum(e.drawable for e in items)),
        external_outstanding=money(sum(e.external_outstanding for e in items)),
    )
