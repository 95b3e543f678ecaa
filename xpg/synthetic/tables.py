"""The contract's tables from the builder's integer rows (see :mod:`xpg.synthetic`)."""

from __future__ import annotations

import numpy as np
import polars as pl

from xpg.loaders.schema import (
    ACCOUNT_STATUSES,
    APPLICATION_OUTCOMES,
    EVENT_KINDS,
    LOAN_STATUSES,
    TABLES,
)
from xpg.synthetic.builder import Builder
from xpg.synthetic.catalogue import IDENTIFIER_KINDS, LENDERS, NULL_TIME, PRODUCTS, REASONS, Profile
from xpg.synthetic.formats import account_ids, device_ids, identifier_values, user_ids

__all__ = ["finalize"]

# ---------------------------------------------------------------------------- finalize


def _time(x: np.ndarray, dtype: pl.DataType) -> pl.Expr:
    s = pl.Series(np.asarray(x, dtype=np.int64))
    return pl.when(pl.lit(s) == NULL_TIME).then(None).otherwise(pl.lit(s)).cast(dtype)


def _float(x: np.ndarray) -> pl.Expr:
    return pl.lit(pl.Series(np.asarray(x, dtype=np.float64), nan_to_null=True))


def _lookup(values: tuple[str, ...] | pl.Series, codes: np.ndarray) -> pl.Expr:
    """Strings of integer codes; code -1 becomes null."""
    codes = np.asarray(codes, dtype=np.int64)
    table = pl.Series([*list(values), None], dtype=pl.String)
    return pl.lit(table).gather(pl.lit(pl.Series(np.where(codes < 0, len(table) - 1, codes))))

def _sorted(df: pl.DataFrame, order: np.ndarray) -> pl.DataFrame:
    return df[np.argsort(order, kind="stable")]


def finalize(b: Builder) -> dict[str, pl.DataFrame]:
    """The contract's tables from the builder's integer rows (exact contract columns and types)."""
    dtypes = {name: t.schema for name, t in TABLES.items()}
    out: dict[str, pl.DataFrame] = {}
    n = b.n
    r = b.rng
    idx = np.arange(n)
    is_ml = np.isin(b.profile, Profile.MULTI_LENDING)
    score = np.round(r.normal(680, 60, n) - 90 * is_ml).clip(350, 950).astype(np.int64)
    out["users"] = pl.select(
        user_id=pl.lit(user_ids(idx)),
        registered_at=_time(b.registered, pl.Datetime("us")),
        credit_score=pl.lit(pl.Series(score)),
    )
    out["products"] = pl.DataFrame(
        {
            "product_id": [p[0] for p in PRODUCTS],
            "kind": [p[1] for p in PRODUCTS],
            "name": [p[2] for p in PRODUCTS],
        }
    )
    a = b.table("accounts")
    out["accounts"] = _sorted(pl.select(
        account_id=account_ids(a["acct"]),
        user_id=pl.lit(user_ids(a["user"])),
        product_id=_lookup(tuple(p[0] for p in PRODUCTS), a["product"]),
        credit_limit=_float(a["limit"]),
        outstanding=_float(a["outstanding"]),
        status=_lookup(ACCOUNT_STATUSES, a["status"]),
        status_reason=_lookup(REASONS, a["reason"]),
        status_changed_at=_time(a["changed"], pl.Datetime("us")),
        opened_at=_time(a["opened"], pl.Date()),
    ), a["user"])  # fmt: skip
    e = b.table("account_events")
    out["account_events"] = _sorted(pl.select(
        account_id=account_ids(e["acct"]),
        at=_time(e["at"], pl.Datetime("us")),
        event=_lookup(EVENT_KINDS, e["event"]),
        old_limit=_float(e["old"]),
        new_limit=_float(e["new"]),
        reason=_lookup(REASONS, e["reason"]),
    ), e["at"])  # fmt: skip
    d = b.table("devices")
    out["devices"] = _sorted(pl.select(
        user_id=pl.lit(user_ids(d["user"])),
        device_id=device_ids(d["device"], b.seed),
        first_seen=_time(d["first"], pl.Datetime("us")),
        last_seen=_time(d["last"], pl.Datetime("us")),
    ), d["user"])  # fmt: skip
    i = b.table("identifiers")
    frames = []
    for k, kind in enumerate(IDENTIFIER_KINDS):
        sel = i["kind"] == k
        frames.append(pl.select(
            user_id=pl.lit(user_ids(i["user"][sel])),
            kind=pl.lit(kind),
            value=identifier_values(kind, i["key"][sel]),
            first_seen=_time(i["first"][sel], pl.Datetime("us")),
            last_seen=_time(i["last"][sel], pl.Datetime("us")),
            _order=pl.lit(pl.Series(i["user"][sel].astype(np.int64))),
        ))  # fmt: skip
    ident = pl.concat(frames)
    out["identifiers"] = ident.sort("_order", maintain_order=True).drop("_order")
    lender_ids = tuple(LENDERS["lender_id"].to_list())
    x = b.table("external_loans")
    out["external_loans"] = _sorted(pl.select(
        user_id=pl.lit(user_ids(x["user"])),
        lender_id=_lookup(lender_ids, x["lender"]),
        opened_at=_time(x["opened"], pl.Date()),
        amount=_float(x["amount"]),
        outstanding=_float(x["outstanding"]),
        status=_lookup(LOAN_STATUSES, x["status"]),
        closed_at=_time(x["closed"], pl.Date()),
    ), x["user"])  # fmt: skip
    p = b.table("applications")
    out["applications"] = _sorted(pl.select(
        user_id=pl.lit(user_ids(p["user"])),
        lender_id=_lookup(lender_ids, p["lender"]),
        applied_at=_time(p["at"], pl.Datetime("us")),
        outcome=_lookup(APPLICATION_OUTCOMES, p["outcome"]),
    ), p["user"])  # fmt: skip
    out["lenders"] = LENDERS
    ordered = {name: out[name].select(pl.col(c).cast(t) for c, t in dtypes[name].items())
               for name in TABLES}  # fmt: skip
    return ordered

