"""The tables as of a run date, and per-user exposure: defined once, for every rule.

What "as of" means (``docs/detections.md``): an account counts when it has no
``opened_at`` or one on or before the run date; an external loan when opened on
or before it and ``open``/``overdue`` (:data:`~xpg.queries.predicates.OPEN_LOAN`, with the
other shared predicates in :mod:`xpg.queries.predicates`); a window of
*N* days holds the *N* whole days ending with the run date (:func:`window_start`).

:func:`exposure_frame` is the one Polars form of the contract's exposure: the
detections (:class:`~xpg.queries.polars_hooks.PolarsHooks`) and the
investigations both call it. The Neo4j backend computes the same columns in
Cypher (statement ``exposure`` of ``graph/neo4j/cypher/detect.cypher``).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import polars as pl
from xpg.queries.predicates import OPEN_LOAN, OPEN_LOAN_STATUSES

if TYPE_CHECKING:
    from xpg.loaders.dataset import Dataset

__all__ = [
    "EXPOSURE_AMOUNTS",
    "MICRO",
    "OPEN_LOAN_STATUSES",
    "accounts_as_of",
    "day_start",
    "exposure_frame",
    "from_micro",
    "micro",
    "open_loans_as_of",
    "until",
    "window_start",
]

EXPOSURE_AMOUNTS = ("internal_limit", "internal_outstanding", "drawable", "external_outstanding")
"""The exposure columns summed per user (``total`` is computed from the last three)."""

MICRO = 1_000_000
"""Exposure sums are taken in whole millionths of a yuan (``Int64``), then turned back into
yuan: an integer sum is exact, so it is the same in any order, and on every backend (a
``Float64`` sum follows the order of its rows, and a sum that lands on a half cent then
rounds either way). The Cypher and Spark forms use the same :func:`micro`."""


def micro(expr: pl.Expr) -> pl.Expr:
    """``floor(amount * 1,000,000 + 0.5)`` as ``Int64``: the amount in millionths of a yuan.

    Examples
    --------
    >>> pl.select(micro(pl.lit(416.911))).item()
    416911000
    """
    return (expr * MICRO + 0.5).floor().cast(pl.Int64)


def from_micro(expr: pl.Expr) -> pl.Expr:
    """Millionths of a yuan back to yuan (``Float64``).

    Examples
    --------
    >>> values = [416.911, 361.993, 494.116, 441.195]  # 1,714.215: a half cent
    >>> pl.DataFrame({"v": values}).select(from_micro(micro(pl.col("v")).sum())).item()
    1714.215
    """
    return expr.cast(pl.Float64).map_batches(_exact_micro_division, return_dtype=pl.Float64)


def _exact_micro_division(values: pl.Series) -> pl.Series:
    # Polars divides a column by a *number* as a product with its reciprocal (984835000 /
    # 1e6 -> 984.8349999999999); numpy, the database and Spark divide exactly (984.835), and
    # the rounding to cents follows. Divided by a column of the number, Polars divides each
    # element exactly, as numpy did here before (same bits; a cold query need not import it).
    divisor = pl.repeat(float(MICRO), values.len(), eager=True, dtype=pl.Float64)
    return (values.cast(pl.Float64) / divisor).fill_nan(None).rename(values.name)


def window_start(as_of: dt.date, days: int) -> dt.date:
    """First day of the ``days``-day window that ends with ``as_of`` (both whole).

    Examples
    --------
    >>> window_start(dt.date(2026, 11, 20), 7)
    datetime.date(2026, 11, 14)
    """
    return as_of - dt.timedelta(days=days - 1)


def day_start(day: dt.date) -> dt.datetime:
    """Midnight (naive UTC) of ``day``: how a date bound is passed to a datetime comparison.

    Examples
    --------
    >>> day_start(window_start(dt.date(2026, 11, 20), 7))
    datetime.datetime(2026, 11, 14, 0, 0)
    """
    return dt.datetime(day.year, day.month, day.day)


def until(as_of: dt.date) -> dt.datetime:
    """The first instant after the run date: a datetime is on or before it when ``< until``.

    Examples
    --------
    >>> until(dt.date(2026, 11, 20))
    datetime.datetime(2026, 11, 21, 0, 0)
    """
    return day_start(as_of + dt.timedelta(days=1))


def accounts_as_of(dataset: Dataset, as_of: dt.date) -> pl.DataFrame:
    """Accounts that exist as of ``as_of`` (no ``opened_at`` or opened on/before it),
    with their product's ``kind``.

    The kind is looked up, not joined, when product ids are distinct (as loaded
    data's are): the account columns are then shared with ``dataset``, not copied.
    """
    products = dataset.products.select("product_id", "kind")
    accounts = dataset.accounts.filter(
        pl.col("opened_at").is_null() | (pl.col("opened_at") <= as_of)
    )
    ids = products.get_column("product_id")
    if ids.is_duplicated().any():
        return accounts.join(products, on="product_id", how="left")
    kind = pl.col("product_id").replace_strict(
        ids, products.get_column("kind"), default=None, return_dtype=pl.String
    )
    return accounts.with_columns(kind.alias("kind"))


def open_loans_as_of(dataset: Dataset, as_of: dt.date) -> pl.DataFrame:
    """External loans with status ``open``/``overdue`` opened on or before ``as_of``."""
    return dataset.external_loans.filter(OPEN_LOAN.polars(as_of=as_of))


def exposure_frame(
    accounts: pl.DataFrame | pl.LazyFrame,
    loans: pl.DataFrame | pl.LazyFrame,
    users: pl.DataFrame | pl.LazyFrame | None = None,
) -> pl.DataFrame:
    """The contract's exposure per user (frame ``exposure``), from as-of tables.

    Parameters
    ----------
    accounts
        Accounts that count as of the run date (``user_id``, ``credit_limit``,
        ``outstanding``, ``status``).
    loans
        External loans opened on or before the run date (``user_id``, ``outstanding``,
        ``status``); only ``open``/``overdue`` ones count.
    users
        The users to answer for, in this order (a frame with ``user_id``); every
        user with an account or a loan (in no set order) when None.

    Returns
    -------
    polars.DataFrame
        ``user_id``, ``internal_limit``, ``internal_outstanding``, ``drawable``,
        ``external_outstanding``, ``total`` (``Float64``; 0 where nothing applies),
        summed exactly in millionths of a yuan (:data:`MICRO`). One lazy plan: the
        account and the loan sides run in parallel.

    Examples
    --------
    >>> acc = pl.DataFrame({"user_id": ["u1", "u1"], "credit_limit": [100.0, 50.0],
    ...                     "outstanding": [30.0, 50.0], "status": ["active", "closed"]})
    >>> loans = pl.DataFrame({"user_id": ["u1"], "outstanding": [5.0], "status": ["open"]})
    >>> exposure_frame(acc, loans).row(0)
    ('u1', 100.0, 80.0, 70.0, 5.0, 155.0)
    """
    acc, lent = accounts.lazy(), loans.lazy()
    lent = lent.filter(pl.col("status").is_in(OPEN_LOAN_STATUSES))
    limit, owed = micro(pl.col("credit_limit")), micro(pl.col("outstanding"))
    internal = acc.group_by("user_id").agg(
        limit.filter(pl.col("status") != "closed").sum().alias("internal_limit"),
        owed.sum().alias("internal_outstanding"),
        (limit - owed)
        .clip(lower_bound=0)
        .filter(pl.col("status") == "active")
        .sum()
        .alias("drawable"),
    )
    external = lent.group_by("user_id").agg(owed.sum().alias("external_outstanding"))
    if users is None:
        wanted = pl.concat([acc.select("user_id"), lent.select("user_id")]).unique()
    else:
        wanted = users.lazy().select("user_id")
    amounts = list(EXPOSURE_AMOUNTS)
    return (
        wanted.join(internal, on="user_id", how="left", maintain_order="left")
        .join(external, on="user_id", how="left", maintain_order="left")
        .with_columns(pl.col(amounts).fill_null(0))
        .with_columns(
            (
                pl.col("internal_outstanding") + pl.col("drawable") + pl.col("external_outstanding")
            ).alias("total")
        )
        .with_columns(from_micro(pl.col([*amounts, "total"])))
        .collect()
    )
