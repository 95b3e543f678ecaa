"""The next night's snapshot of a dataset: a share of its users changed (for the delta
load's tests and bench/bench_neo4j_delta.py).

Of the users picked (``share`` of them, at random with ``seed``): a third leave (every
row naming them, or their accounts, goes), and the others change: credit score,
account balances (and every fifth active account frozen for fraud), loan balances,
last-seen times, and pairs of them start sharing a new device.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import polars as pl
from xpg.loaders.dataset import Dataset

__all__ = ["next_night"]


def next_night(dataset: Dataset, share: float = 0.01, seed: int = 1) -> Dataset:
    """``dataset`` with ``share`` of its users changed or gone (see the module)."""
    users = dataset.users.get_column("user_id").unique().sort()
    picked = users.sample(fraction=share, seed=seed, shuffle=True)
    gone = picked.head(picked.len() // 3)
    changed = picked.slice(picked.len() // 3)
    gone_accounts = dataset.accounts.filter(pl.col("user_id").is_in(gone.implode()))
    gone_accounts = gone_accounts.get_column("account_id")

    def keep(frame: pl.DataFrame, column: str = "user_id") -> pl.DataFrame:
        ids = gone_accounts if column == "account_id" else gone
        return frame.filter(~pl.col(column).is_in(ids.implode()))

    mine = pl.col("user_id").is_in(changed.implode())
    users_ = keep(dataset.users).with_columns(
        credit_score=pl.when(mine).then(pl.col("credit_score").fill_null(600) + 7)
        .otherwise(pl.col("credit_score")))
    accounts = keep(dataset.accounts)
    freeze = mine & (pl.col("status") == "active") & (pl.int_range(pl.len()) % 5 == 0)
    accounts = accounts.with_columns(
        outstanding=pl.when(mine).then(pl.col("outstanding") * 0.9)
        .otherwise(pl.col("outstanding")),
        status_reason=pl.when(freeze).then(pl.lit("fraud")).otherwise(pl.col("status_reason")),
        status=pl.when(freeze).then(pl.lit("frozen")).otherwise(pl.col("status")),
    )
    loans = keep(dataset.external_loans).with_columns(
        outstanding=pl.when(mine).then(pl.col("outstanding") * 0.8)
        .otherwise(pl.col("outstanding")))
    devices = keep(dataset.devices).with_columns(
        last_seen=pl.when(mine).then(pl.col("last_seen") + dt.timedelta(hours=5))
        .otherwise(pl.col("last_seen")))
    pairs = changed.head(changed.len() // 2 * 2)
    shared = pl.DataFrame({
        "user_id": pairs,
        "device_id": [f"dnew{i // 2}" for i in range(pairs.len())],
    }).with_columns(first_seen=pl.lit(None, pl.Datetime("us")),
                    last_seen=pl.lit(None, pl.Datetime("us")))
    devices = pl.concat([devices, shared.select(devices.columns)], how="vertical_relaxed")
    return dataclasses.replace(
        dataset,
        users=users_,
        accounts=accounts,
        external_loans=loans,
        devices=devices,
        applications=keep(dataset.applications),
        identifiers=keep(dataset.identifiers),
        account_events=keep(dataset.account_events, "account_id"),
    )
