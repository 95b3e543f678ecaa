"""The contract's tables from the builder's integer rows (see :mod:`xpg.synthetic`).

:func:`plan` turns the builder's integer rows into one :class:`TableRows` per contract table:
its final row order (the sort of each table) and a way to format any run of those rows as
contract columns. :func:`finalize` formats every table whole; the writer formats and writes
them :data:`CHUNK_ROWS` rows at a time, so that only the integer rows and one chunk of
strings are held at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

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

__all__ = ["CHUNK_ROWS", "TableRows", "finalize", "plan"]

CHUNK_ROWS = 1 << 20
"""Rows formatted at once when a table is written in chunks (a multiple of 2**17)."""

# ---------------------------------------------------------------------------- columns


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


_LENDER_IDS = tuple(LENDERS["lender_id"].to_list())
_PRODUCT_IDS = tuple(p[0] for p in PRODUCTS)
_DATETIME = pl.Datetime("us")

# ---------------------------------------------------------------------------- tables


@dataclass(frozen=True)
class TableRows:
    """One contract table still as integer rows: ``height`` rows in their final order, and
    ``frame(start, stop)`` the contract frame (columns and types) of rows ``start:stop``.

    Examples
    --------
    >>> from xpg.synthetic import generate
    >>> import datetime as dt
    >>> b = Builder(300, 7, dt.date(2026, 11, 20))
    >>> t = plan(b)["products"]
    >>> t.height, t.frame(0, 2).columns
    (3, ['product_id', 'kind', 'name'])
    """

    height: int
    build: Callable[[int, int], pl.DataFrame]

    def frame(self, start: int, stop: int) -> pl.DataFrame:
        return self.build(start, min(stop, self.height))

    def chunks(self, rows: int = CHUNK_ROWS) -> Iterator[pl.DataFrame]:
        """The table in frames of ``rows`` rows (the last one shorter; one empty frame if none)."""
        for start in range(0, max(self.height, 1), rows):
            yield self.frame(start, start + rows)


def _static(df: pl.DataFrame) -> TableRows:
    return TableRows(df.height, lambda start, stop: df.slice(start, stop - start))


def _rows(
    b: Builder, name: str, order: str, build: Callable[[dict[str, np.ndarray]], pl.DataFrame]
) -> TableRows:
    """An internal table of the builder, stably sorted by column ``order``; ``build`` formats
    the columns of a run of rows. The builder's parts of the table are concatenated when the
    first rows are formatted, and released then."""
    parts = b.parts.pop(name, [])
    height = sum(len(p[order]) for p in parts)
    held: list[tuple[dict[str, np.ndarray], np.ndarray]] = []

    def frame(start: int, stop: int) -> pl.DataFrame:
        if not held:
            b.parts[name] = parts
            cols = b.table(name)
            del b.parts[name]
            parts.clear()
            held.append((cols, _order(name, cols, order)))
        cols, perm = held[0]
        rows = perm[start:stop]
        return build({c: v[rows] for c, v in cols.items()})

    return TableRows(height, frame)


def _order(name: str, cols: dict[str, np.ndarray], order: str) -> np.ndarray:
    """The final row order: stably by ``order``; identifiers first by kind (in
    :data:`IDENTIFIER_KINDS` order), then stably by user."""
    if name != "identifiers":
        return np.argsort(cols[order], kind="stable")
    by_kind = np.concatenate([np.flatnonzero(cols["kind"] == k)
                              for k in range(len(IDENTIFIER_KINDS))])  # fmt: skip
    return by_kind[np.argsort(cols[order][by_kind], kind="stable")]


def _accounts(a: dict[str, np.ndarray]) -> pl.DataFrame:
    return pl.select(
        account_id=account_ids(a["acct"]),
        user_id=pl.lit(user_ids(a["user"])),
        product_id=_lookup(_PRODUCT_IDS, a["product"]),
        credit_limit=_float(a["limit"]),
        outstanding=_float(a["outstanding"]),
        status=_lookup(ACCOUNT_STATUSES, a["status"]),
        status_reason=_lookup(REASONS, a["reason"]),
        status_changed_at=_time(a["changed"], _DATETIME),
        opened_at=_time(a["opened"], pl.Date()),
    )


def _events(e: dict[str, np.ndarray]) -> pl.DataFrame:
    return pl.select(
        account_id=account_ids(e["acct"]),
        at=_time(e["at"], _DATETIME),
        event=_lookup(EVENT_KINDS, e["event"]),
        old_limit=_float(e["old"]),
        new_limit=_float(e["new"]),
        reason=_lookup(REASONS, e["reason"]),
    )


def _identifiers(i: dict[str, np.ndarray]) -> pl.DataFrame:
    frames = []
    for k, kind in enumerate(IDENTIFIER_KINDS):
        at = np.flatnonzero(i["kind"] == k)
        if at.size:
            frames.append(pl.select(
                user_id=pl.lit(user_ids(i["user"][at])),
                kind=pl.lit(kind),
                value=identifier_values(kind, i["key"][at]),
                first_seen=_time(i["first"][at], _DATETIME),
                last_seen=_time(i["last"][at], _DATETIME),
                _at=pl.lit(pl.Series(at)),
            ))  # fmt: skip
    if not frames:
        return pl.DataFrame(schema=TABLES["identifiers"].schema)
    return pl.concat(frames).sort("_at").drop("_at")


def plan(b: Builder) -> dict[str, TableRows]:
    """Every contract table of the builder's rows, in :data:`~xpg.loaders.schema.TABLES` order.

    Draws the users' credit scores (the last random draw of a generation) and releases the
    builder's row parts: call it once, after every row is planted.
    """
    n = b.n
    is_ml = np.isin(b.profile, Profile.MULTI_LENDING)
    score = np.round(b.rng.normal(680, 60, n) - 90 * is_ml).clip(350, 950).astype(np.int64)
    registered = b.registered

    def users(start: int, stop: int) -> pl.DataFrame:
        return pl.select(
            user_id=pl.lit(user_ids(np.arange(start, stop))),
            registered_at=_time(registered[start:stop], _DATETIME),
            credit_score=pl.lit(pl.Series(score[start:stop])),
        )

    seed = b.seed
    out: dict[str, TableRows] = {
        "users": TableRows(n, users),
        "products": _static(pl.DataFrame({
            "product_id": [p[0] for p in PRODUCTS],
            "kind": [p[1] for p in PRODUCTS],
            "name": [p[2] for p in PRODUCTS],
        })),
        "accounts": _rows(b, "accounts", "user", _accounts),
        "account_events": _rows(b, "account_events", "at", _events),
        "devices": _rows(b, "devices", "user", lambda d: pl.select(
            user_id=pl.lit(user_ids(d["user"])),
            device_id=device_ids(d["device"], seed),
            first_seen=_time(d["first"], _DATETIME),
            last_seen=_time(d["last"], _DATETIME),
        )),
        "identifiers": _rows(b, "identifiers", "user", _identifiers),
        "external_loans": _rows(b, "external_loans", "user", lambda x: pl.select(
            user_id=pl.lit(user_ids(x["user"])),
            lender_id=_lookup(_LENDER_IDS, x["lender"]),
            opened_at=_time(x["opened"], pl.Date()),
            amount=_float(x["amount"]),
            outstanding=_float(x["outstanding"]),
            status=_lookup(LOAN_STATUSES, x["status"]),
            closed_at=_time(x["closed"], pl.Date()),
        )),
        "applications": _rows(b, "applications", "user", lambda p: pl.select(
            user_id=pl.lit(user_ids(p["user"])),
            lender_id=_lookup(_LENDER_IDS, p["lender"]),
            applied_at=_time(p["at"], _DATETIME),
            outcome=_lookup(APPLICATION_OUTCOMES, p["outcome"]),
        )),
        "lenders": _static(LENDERS),
    }
    return {name: _typed(name, out[name]) for name in TABLES}


def _typed(name: str, rows: TableRows) -> TableRows:
    schema = TABLES[name].schema
    return TableRows(rows.height, lambda start, stop: rows.build(start, stop).select(
        pl.col(c).cast(t) for c, t in schema.items()))  # fmt: skip


def finalize(b: Builder) -> dict[str, pl.DataFrame]:
    """The contract's tables from the builder's integer rows (exact contract columns and types)."""
    return {name: rows.frame(0, rows.height) for name, rows in plan(b).items()}
