"""The loaded, validated tables: the one value every backend and detection reads."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, fields

import polars as pl
from xpg.loaders.schema import TABLES

__all__ = ["Dataset", "latest_of"]


@dataclass(frozen=True)
class Dataset:
    """All contract tables as normalized Polars frames.

    Every frame has at least the contract's columns with the types of
    :data:`xpg.loaders.schema.DTYPES` (ids and enums ``String``, dates
    ``Date``, datetimes naive-UTC ``Datetime("us")``, amounts ``Float64``);
    extra input columns are kept after them. Optional tables that were not
    given are empty frames with the contract's schema. ``present`` names the
    tables that were actually given.

    ``released`` names the tables whose rows were let go once a backend had built
    what it needs from them (the in-memory backend's link graph, for a session that
    only detects: :func:`xpg.loaders.load_dataset`'s ``take_links``): they are empty
    frames here, and ``released_latest`` keeps their latest date for
    :meth:`latest_date`.
    """

    users: pl.DataFrame
    products: pl.DataFrame
    accounts: pl.DataFrame
    devices: pl.DataFrame
    external_loans: pl.DataFrame
    applications: pl.DataFrame = field(default_factory=lambda: TABLES["applications"].empty())
    lenders: pl.DataFrame = field(default_factory=lambda: TABLES["lenders"].empty())
    account_events: pl.DataFrame = field(default_factory=lambda: TABLES["account_events"].empty())
    identifiers: pl.DataFrame = field(default_factory=lambda: TABLES["identifiers"].empty())
    present: frozenset[str] = frozenset()
    source: str | None = None
    released: frozenset[str] = frozenset()
    released_latest: dt.date | None = None

    @classmethod
    def table_names(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls) if f.name in TABLES)

    def table(self, name: str) -> pl.DataFrame:
        if name not in TABLES:
            raise KeyError(name)
        return getattr(self, name)

    def tables(self) -> dict[str, pl.DataFrame]:
        return {name: self.table(name) for name in self.table_names()}

    @property
    def row_count(self) -> int:
        return sum(df.height for df in self.tables().values())

    def latest_date(self) -> dt.date | None:
        """The latest date in any date or datetime column of the contract: the default run date."""
        days = [latest_of(name, df) for name, df in self.tables().items()]
        days.append(self.released_latest)
        return max((d for d in days if d is not None), default=None)


def latest_of(name: str, df: pl.DataFrame) -> dt.date | None:
    """The latest date in the contract's date and datetime columns of table ``name``."""
    best: dt.date | None = None
    for col in TABLES[name].columns:
        if col.kind not in ("date", "datetime") or col.name not in df.columns:
            continue
        value = df.get_column(col.name).max()
        if value is None:
            continue
        day = value.date() if isinstance(value, dt.datetime) else value
        if best is None or day > best:
            best = day
    return best
