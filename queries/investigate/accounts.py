"""Accounts and exposure as the views show them: each account with the scope of its
freeze reason, and the contract's exposure per user from the as-of frames."""

from __future__ import annotations

import math
from collections import defaultdict

import polars as pl
import xpg.queries.investigate.base as base
from xpg.queries.asof import MICRO, exposure_frame
from xpg.queries.findings import Exposure
from xpg.queries.investigate.base import OPEN_LOAN_STATUSES, money
from xpg.queries.investigate.views import AccountInfo
from xpg.queries.predicates import DRAWABLE
from xpg.queries.rules.scope import FreezeConfig

__all__ = ["ZERO_EXPOSURE", "account_infos", "exposure_by_user"]


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
    (:func:`xpg.queries.asof.exposure_frame`, as the detections compute it).

    A view's frames (up to :data:`~xpg.queries.investigate.base.SMALL_ROWS` rows) are
    summed in Python with the same arithmetic (each amount to whole millionths,
    ``floor(x * 1e6 + 0.5)``, summed as integers, divided back once): the same bits as the
    lazy plan, without its fixed cost (about 6 ms a view)."""
    amounts = _small_exposures(accounts, loans)
    if amounts is None:
        amounts = {r["user_id"]: r for r in exposure_frame(accounts, loans).iter_rows(
            named=True)}
    return {u: Exposure(
        total=money(r["total"]), internal_limit=money(r["internal_limit"]),
        internal_outstanding=money(r["internal_outstanding"]), drawable=money(r["drawable"]),
        external_outstanding=money(r["external_outstanding"]),
    ) for u, r in amounts.items()}


def _small_exposures(accounts: pl.DataFrame, loans: pl.DataFrame
                     ) -> dict[str, dict[str, float]] | None:
    """:func:`exposure_frame`'s amounts per user, summed in Python; None when the frames
    are not small, or an amount is not a finite ``Float64`` (the lazy plan answers)."""
    if accounts.height + loans.height > base.SMALL_ROWS:
        return None
    for frame, columns in ((accounts, ("credit_limit", "outstanding")),
                           (loans, ("outstanding",))):
        if any(frame.schema.get(c) != pl.Float64 for c in columns):
            return None
    sums: dict[str | None, list[int]] = {}  # limit, owed, drawable, external (millionths)
    try:
        for user, limit, owed, status in zip(*(accounts.get_column(c).to_list() for c in (
                "user_id", "credit_limit", "outstanding", "status")), strict=True):
            s = _sums(sums, user)
            lim, own = _micro(limit), _micro(owed)
            if lim is not None and status is not None and status != "closed":
                s[0] += lim
            if own is not None:
                s[1] += own
            if lim is not None and own is not None and status == "active":
                s[2] += max(lim - own, 0)
        for user, owed, status in zip(*(loans.get_column(c).to_list() for c in (
                "user_id", "outstanding", "status")), strict=True):
            if status not in OPEN_LOAN_STATUSES:
                continue
            s = _sums(sums, user)
            own = _micro(owed)
            if own is not None:
                s[3] += own
    except _NotFinite:
        return None
    return {u: {"internal_limit": _yuan(lim), "internal_outstanding": _yuan(own),
                "drawable": _yuan(dr), "external_outstanding": _yuan(ext),
                "total": _yuan(own + dr + ext)}
            for u, (lim, own, dr, ext) in sums.items()}


def _sums(sums: dict[str | None, list[int]], user: str | None) -> list[int]:
    """The running sums of ``user``; a null user is answered zero, as the plan's join on
    the user (nulls never match) leaves it."""
    s = sums.setdefault(user, [0, 0, 0, 0])
    return s if user is not None else [0, 0, 0, 0]


def _yuan(millionths: int) -> float:
    """:func:`xpg.queries.asof.from_micro` of one sum: the integer made a float, then
    divided by a float million (not Python's exact integer division, which differs past
    2**53)."""
    return float(millionths) / float(MICRO)


class _NotFinite(Exception):
    pass


def _micro(x: float | None) -> int | None:
    """:func:`xpg.queries.asof.micro` of one value (the same float operations)."""
    if x is None:
        return None
    if not math.isfinite(x):
        raise _NotFinite
    return math.floor(x * MICRO + 0.5)


ZERO_EXPOSURE = Exposure(0.0)
