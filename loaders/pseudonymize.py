"""Keyed pseudonyms over a loaded dataset: nothing personal reaches a detection or a file.

:func:`pseudonymize` replaces every user id, account id, device id and
identifier value of a :class:`~xpg.loaders.dataset.Dataset` by its keyed
pseudonym (:func:`xpg.privacy.pseudonym`, HMAC-SHA256 with the key of
``XPG_PSEUDONYM_KEY``). Every table maps a value the same way, so links,
joins and therefore the findings are the same, modulo the mapping; finding ids
(hashes of the pseudonymized keys) are the same on every night with the same
key, so the nightly diff works as before. Lender, product ids and amounts, dates,
statuses and reasons are kept (they are not personal).

Cost: one HMAC per distinct value (users, accounts, devices, identifiers), then
one vectorized replacement per column.
"""

from __future__ import annotations

import dataclasses

import polars as pl
from xpg.loaders.dataset import Dataset

from xpg.privacy import pseudonym

__all__ = ["PSEUDONYMIZED_COLUMNS", "pseudonymize"]

PSEUDONYMIZED_COLUMNS: dict[str, dict[str, str]] = {
    "users": {"user_id": "user"},
    "accounts": {"user_id": "user", "account_id": "account"},
    "devices": {"user_id": "user", "device_id": "device"},
    "external_loans": {"user_id": "user"},
    "applications": {"user_id": "user"},
    "account_events": {"account_id": "account"},
    "identifiers": {"user_id": "user"},
}
"""table -> {column: the kind its values are hashed as}; ``identifiers.value`` is hashed
with the row's own kind."""

_PREFIX = {"user": "u", "account": "a", "device": "d"}


def _mapped(column: pl.Series, kind: str, key: bytes) -> pl.Series:
    values = column.unique().drop_nulls().to_list()
    names = [_PREFIX.get(kind, "") + pseudonym(key, kind, v) for v in values]
    return column.replace_strict(values, names, default=None, return_dtype=pl.String)


def pseudonymize(dataset: Dataset, key: str | bytes) -> Dataset:
    """``dataset`` with its personal ids and identifier values replaced by keyed pseudonyms.

    Examples
    --------
    >>> import polars as pl
    >>> from xpg.loaders.schema import TABLES
    >>> schema = TABLES["users"].empty().schema
    >>> users = pl.DataFrame({c: [None] for c in schema}, schema=schema).with_columns(
    ...     user_id=pl.lit("u1"))
    >>> empty = {t: TABLES[t].empty() for t in ("products", "accounts", "devices",
    ...                                          "external_loans")}
    >>> out = pseudonymize(Dataset(users=users, **empty, present=frozenset({"users"})), "k" * 32)
    >>> out.users.get_column("user_id").item().startswith("u"), out.users.height
    (True, 1)
    """
    raw = key.encode() if isinstance(key, str) else key
    tables = {}
    for name, columns in PSEUDONYMIZED_COLUMNS.items():
        frame = dataset.table(name)
        tables[name] = frame.with_columns(
            _mapped(frame.get_column(c), kind, raw).alias(c) for c, kind in columns.items())
    ids = tables["identifiers"]
    if ids.height:
        pairs = ids.select("kind", "value").unique().drop_nulls()
        kinds, values = pairs.get_column("kind").to_list(), pairs.get_column("value").to_list()
        hashed = pairs.with_columns(pl.Series("hashed", [
            pseudonym(raw, f"identifier:{k}", v) for k, v in zip(kinds, values, strict=True)],
            dtype=pl.String))
        tables["identifiers"] = (ids.join(hashed, on=["kind", "value"], how="left",
                                          nulls_equal=True, maintain_order="left")
                                 .with_columns(pl.col("hashed").alias("value")).drop("hashed")
                                 .select(ids.columns))
    return dataclasses.replace(dataset, **tables)
