"""The new night's snapshot as read for an incremental run (:mod:`xpg.nightly`): raw
Parquet tables, hashed per owning user, and the changed users' rows loaded through the
loader.

Users are keyed by the 64-bit hash of their id (``uh``,
:func:`xpg.graph.stored_links.user_hash`): grouping and joining integers is several
times cheaper than strings. Every check the shortcut relies on is made here, and when
one fails :class:`Fallback` says why (the run is then a full one, which reports the
data's problems as usual).
"""

from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import replace
from functools import cached_property
from pathlib import Path
from typing import Any

import polars as pl

from xpg.errors import ValidationError
from xpg.graph.stored_links import SEED, user_hash
from xpg.loaders import load_dataset
from xpg.loaders.dataset import Dataset
from xpg.loaders.schema import TABLES
from xpg.settings import Settings

__all__ = ["EVENTS", "SHARED", "USER_TABLES", "Fallback", "Snapshot", "window_days"]

USER_TABLES = ("users", "accounts", "devices", "external_loans", "applications", "identifiers")
"""The tables whose rows name their user (``user_id``)."""
SHARED = {"products": "product_id", "lenders": "lender_id"}
"""The tables every user shares, by key."""
EVENTS = "account_events"
"""Rows owned by the user of their account."""


class Fallback(Exception):
    """The state cannot seed this run: run in full (the message says why)."""


def window_days(config: Any) -> set[int]:
    """Every ``*_days`` integer of a settings section, nested sections included.

    Examples
    --------
    >>> from xpg.settings import DetectionConfig
    >>> sorted(window_days(DetectionConfig()))[:2]
    [7, 30]
    """
    out: set[int] = set()
    items = config.items() if isinstance(config, dict) else vars(config).items()
    for key, value in items:
        if isinstance(value, int) and not isinstance(value, bool) and key.endswith("_days"):
            out.add(value)
        elif hasattr(value, "__dict__") or isinstance(value, dict):
            out |= window_days(value)
    return out


class Snapshot:
    """The Parquet tables of a data folder, as stored (not yet validated).

    Raises
    ------
    Fallback
        A table is CSV, or the users or accounts table is missing.
    """

    def __init__(self, data: Path):
        self.raw: dict[str, pl.DataFrame] = {}
        for name in TABLES:
            if (data / f"{name}.csv").exists():
                raise Fallback(f"{name} is CSV: the state is kept for Parquet inputs only")
            path = data / f"{name}.parquet"
            if path.is_file():
                self.raw[name] = pl.read_parquet(path)
        if not {"users", "accounts"} <= set(self.raw):
            raise Fallback("the users or accounts table is missing")

    @cached_property
    def users(self) -> pl.DataFrame:
        """``user_id``, ``uh`` of every user, in the table's order (distinct hashes)."""
        ids = self.raw["users"].get_column("user_id")
        frame = pl.DataFrame({"user_id": ids, "uh": user_hash(ids)})
        if frame.get_column("uh").n_unique() != frame.height:
            raise Fallback("users repeats a user_id (or two ids share a hash)")
        if not bool((ids == ids.str.strip_chars()).all()):
            raise Fallback("user ids with surrounding blanks")
        return frame

    def owner(self, name: str) -> pl.Series:
        """``uh`` of the owner of each row of table ``name``."""
        if name != EVENTS:
            return user_hash(self.raw[name].get_column("user_id"))
        return self._event_owners

    @cached_property
    def _event_owners(self) -> pl.Series:
        accounts = self.raw["accounts"]
        keys = pl.DataFrame({"ah": accounts.get_column("account_id").hash(SEED),
                             "uh": self.owner("accounts")})
        if keys.get_column("ah").n_unique() != keys.height:
            raise Fallback("accounts repeats an account_id (or two ids share a hash)")
        owner = (self.raw[EVENTS].select(pl.col("account_id").hash(SEED).alias("ah"))
                 .join(keys, on="ah", how="left", maintain_order="left").get_column("uh"))
        if owner.null_count():
            raise Fallback("account_events name accounts that do not exist")
        return owner

    def _owned(self) -> list[str]:
        return [n for n in (*USER_TABLES, EVENTS) if n in self.raw and self.raw[n].height]

    def fingerprints(self) -> pl.DataFrame:
        """Per user: ``uh``, ``f`` (the sum modulo 2^64 of its rows' 64-bit hashes, each
        table seeded apart) and ``n`` (its rows).

        Polars' sum of ``UInt64`` wraps around (one aggregation, cheaper than summing the
        two 32-bit halves apart):

        >>> pl.Series([2**64 - 1, 5], dtype=pl.UInt64).sum()
        4
        """
        users = self.users
        parts = [pl.DataFrame({"uh": self.owner(name), "h": self.raw[name].hash_rows(seed=101 + i)})
                 for i, name in enumerate(self._owned())]
        fp = (
            pl.concat(parts).lazy().group_by("uh")
            .agg(pl.col("h").sum().alias("f"),
                 pl.len().cast(pl.Int64).alias("n"))
            .collect()
        )
        if fp.height != users.height or fp.join(users, on="uh", how="anti").height:
            raise Fallback("rows name users missing from users")
        return fp

    def shared(self) -> pl.DataFrame:
        """The shared tables' row hashes: ``table``, ``key``, ``h``."""
        keyed = []
        for name, key in SHARED.items():
            frame = self.raw.get(name)
            if frame is None:
                continue
            if frame.get_column(key).n_unique() != frame.height:
                raise Fallback(f"{name} repeats a {key}")
            keyed.append(frame.select(pl.lit(name).alias("table"),
                                      pl.col(key).cast(pl.String).alias("key"),
                                      frame.hash_rows(seed=7).alias("h")))
        return (pl.concat(keyed) if keyed else
                pl.DataFrame(schema={"table": pl.String, "key": pl.String, "h": pl.UInt64}))

    def users_with(self, key: str, values: pl.Series, tables: tuple[str, ...]) -> pl.Series:
        """``uh`` of the owners of rows of ``tables`` whose ``key`` is among ``values``."""
        found = [self.owner(t).filter(self.raw[t].get_column(key).cast(pl.String)
                                      .is_in(values.implode()))
                 for t in tables if t in self.raw]
        return pl.concat(found) if found else pl.Series("uh", [], dtype=pl.UInt64)

    def latest_date(self) -> dt.date | None:
        """The latest date of any date or datetime column (as :meth:`Dataset.latest_date`)."""
        best: dt.date | None = None
        for name, frame in self.raw.items():
            for col in TABLES[name].columns:
                if col.kind not in ("date", "datetime") or col.name not in frame.columns:
                    continue
                if not frame.schema[col.name].is_temporal():
                    raise Fallback(f"{name}.{col.name} is not stored as a date")
                value = frame.get_column(col.name).max()
                if value is not None:
                    day = value.date() if isinstance(value, dt.datetime) else value
                    best = day if best is None or day > best else best
        return best

    def date_moved(self, old: dt.date, new: dt.date, windows: set[int]) -> pl.Series:
        """``uh`` of the users with a dated row where an as-of test (``day <= run date``)
        or a window's first day (``day > run date - N``; ``N +- 1`` too, to be safe)
        flips between the two run dates."""
        lo, hi = min(old, new), max(old, new)
        shifts = sorted({0} | windows | {n - 1 for n in windows} | {n + 1 for n in windows})
        found = []
        for name in self._owned():
            frame = self.raw[name]
            for col in TABLES[name].columns:
                if col.kind not in ("date", "datetime") or col.name not in frame.columns:
                    continue
                day = pl.col(col.name).cast(pl.Date)
                hit = pl.any_horizontal(
                    (day > lo - dt.timedelta(days=k)) & (day <= hi - dt.timedelta(days=k))
                    for k in shifts
                ).fill_null(False)
                found.append(self.owner(name).filter(frame.select(hit).to_series()))
        return pl.concat(found) if found else pl.Series("uh", [], dtype=pl.UInt64)

    def subset(self, users: pl.Series, settings: Settings,
               tables: tuple[str, ...] | None = None) -> Dataset:
        """The rows of ``users`` (ids; of ``tables`` only when given, every shared table
        whole) loaded and validated by the loader.

        The loader refuses an empty users or accounts table, so the rows of one other
        user with an account (an *anchor*) are loaded along and dropped after.

        Raises
        ------
        Fallback
            The rows do not validate (a full run reports why), or no other user has an
            account.
        """
        raw = self.raw
        others = raw["accounts"].filter(~pl.col("user_id").is_in(users.implode())).head(1)
        if others.height == 0:
            raise Fallback("every user changed")
        anchor = others.get_column("user_id")[0]
        wanted = pl.concat([users, pl.Series([anchor])]).implode()
        with tempfile.TemporaryDirectory(prefix="xpg-nightly-") as tmp:
            for name, frame in raw.items():
                if name in SHARED:
                    part = frame
                elif tables is not None and name not in (*tables, "users", "accounts"):
                    part = frame.clear()
                elif name == EVENTS:
                    accounts = raw["accounts"].filter(pl.col("user_id").is_in(wanted))
                    part = frame.join(accounts.select("account_id"), on="account_id", how="semi")
                else:
                    part = frame.filter(pl.col("user_id").is_in(wanted))
                part.write_parquet(Path(tmp) / f"{name}.parquet")
            try:
                loaded = load_dataset(tmp, settings).dataset
            except ValidationError as e:
                raise Fallback(f"the changed rows do not validate ({e})") from e
        mine = pl.col("user_id") != anchor
        kept = {name: loaded.table(name).filter(mine) for name in USER_TABLES}
        accounts = kept["accounts"].get_column("account_id").implode()
        kept[EVENTS] = loaded.account_events.filter(pl.col("account_id").is_in(accounts))
        return replace(loaded, **kept)
