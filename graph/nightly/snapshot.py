"""The new night's data as a nightly incremental run (:mod:`xpg.graph.nightly.run`) sees it: which
users changed since the state's night, their rows, and the rows of a few others.

Two sources give the same answers:

* :class:`Snapshot`, the new snapshot's Parquet tables read whole and hashed per owning
  user (every row is read: the change is found, not named);
* :class:`Changes`, a change set (:mod:`xpg.loaders.changes`) that names the changed
  users and holds their rows, beside the new snapshot: only the change set, the shared
  tables and, for the few unchanged users a change reaches, their rows (read with a
  filter) are read.

Users are keyed by the 64-bit hash of their id (``uh``,
:func:`xpg.graph.stored_links.user_hash`): grouping and joining integers is several
times cheaper than strings. Every check the shortcut relies on is made here, and when
one fails :class:`Fallback` says why (the run is then a full one, which reports the
data's problems as usual).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import tempfile
from abc import ABC, abstractmethod
from functools import cached_property
from pathlib import Path
from typing import Any

import polars as pl
from xpg.graph.stored_links import SEED, user_hash
from xpg.loaders import load_dataset
from xpg.loaders.changes import ChangeSet, read_change_set
from xpg.loaders.dataset import Dataset
from xpg.loaders.schema import TABLES

from xpg.errors import ValidationError
from xpg.settings import Settings

__all__ = ["EVENTS", "SHARED", "USER_TABLES", "Changes", "Fallback", "Snapshot", "Tonight",
           "window_days"]

USER_TABLES = ("users", "accounts", "devices", "external_loans", "applications", "identifiers")
"""The tables whose rows name their user (``user_id``)."""
SHARED = {"products": "product_id", "lenders": "lender_id"}
"""The tables every user shares, by key."""
EVENTS = "account_events"
"""Rows owned by the user of their account."""
ROW_SEEDS = {name: 101 + i for i, name in enumerate((*USER_TABLES, EVENTS))}
"""The seed of each table's row hashes (a row of one table never sums like another's)."""
_EPOCH = dt.date(1970, 1, 1)
FINGERPRINT = {"uh": pl.UInt64, "f": pl.UInt64, "n": pl.Int64, "last": pl.Int32}


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


def _dated(name: str, frame: pl.DataFrame) -> list[str]:
    cols = [c.name for c in TABLES[name].columns
            if c.kind in ("date", "datetime") and c.name in frame.columns]
    for col in cols:
        if not frame.schema[col].is_temporal():
            raise Fallback(f"{name}.{col} is not stored as a date")
    return cols


def _last_day(name: str, frame: pl.DataFrame) -> pl.Expr:
    """Per row: its latest date (days since 1970-01-01; null when none)."""
    cols = _dated(name, frame)
    if not cols:
        return pl.lit(None, dtype=pl.Int32)
    return pl.max_horizontal(pl.col(c).cast(pl.Date) for c in cols).cast(pl.Int32)


def fingerprints(tables: dict[str, pl.DataFrame], owners: dict[str, pl.Series]
                 ) -> pl.DataFrame:
    """Per user: ``uh``, ``f`` (the sum modulo 2^64 of its rows' 64-bit hashes, each table
    seeded apart), ``n`` (its rows) and ``last`` (its latest date, days).

    Polars' sum of ``UInt64`` wraps around (one aggregation, cheaper than summing the
    two 32-bit halves apart):

    >>> pl.Series([2**64 - 1, 5], dtype=pl.UInt64).sum()
    4
    """
    parts = [pl.DataFrame({"uh": owners[name], "h": frame.hash_rows(seed=ROW_SEEDS[name]),
                           "d": frame.select(_last_day(name, frame)).to_series()})
             for name, frame in tables.items() if frame.height]
    if not parts:
        return pl.DataFrame(schema=FINGERPRINT)
    return (
        pl.concat(parts).lazy().group_by("uh")
        .agg(pl.col("h").sum().alias("f"), pl.len().cast(pl.Int64).alias("n"),
             pl.col("d").max().cast(pl.Int32).alias("last"))
        .collect()
    )


def _shared_hashes(frames: dict[str, pl.DataFrame]) -> pl.DataFrame:
    keyed = []
    for name, key in SHARED.items():
        frame = frames.get(name)
        if frame is None:
            continue
        if frame.get_column(key).n_unique() != frame.height:
            raise Fallback(f"{name} repeats a {key}")
        keyed.append(frame.select(pl.lit(name).alias("table"),
                                  pl.col(key).cast(pl.String).alias("key"),
                                  frame.hash_rows(seed=7).alias("h")))
    return (pl.concat(keyed) if keyed else
            pl.DataFrame(schema={"table": pl.String, "key": pl.String, "h": pl.UInt64}))


def _load(frames: dict[str, pl.DataFrame], settings: Settings) -> Dataset:
    """Rows of some users (and the shared tables whole) through the loader, as a full
    run would load them (an empty users or accounts table allowed)."""
    load = dataclasses.replace(settings.load, allow_empty=tuple(
        sorted({*settings.load.allow_empty, *USER_TABLES, EVENTS})))
    with tempfile.TemporaryDirectory(prefix="xpg-nightly-") as tmp:
        for name, frame in frames.items():
            frame.write_parquet(Path(tmp) / f"{name}.parquet")
        try:
            return load_dataset(tmp, dataclasses.replace(settings, load=load)).dataset
        except ValidationError as e:
            raise Fallback(f"the changed rows do not validate ({e})") from e


class Tonight(ABC):
    """The new night's data, as far as the incremental run reads it."""

    data: Path

    @abstractmethod
    def shared(self) -> pl.DataFrame:
        """The shared tables' row hashes: ``table``, ``key``, ``h``."""

    @abstractmethod
    def changed(self, old: pl.DataFrame, old_shared: pl.DataFrame, as_of: dt.date | None,
                state_as_of: dt.date, settings: Settings
                ) -> tuple[dt.date, pl.DataFrame, pl.DataFrame]:
        """The run date, the users gone or changed (``uh``) and tonight's new or changed
        users' ``user_id``, ``uh`` with their fingerprints (:data:`FINGERPRINT`), new
        users in the order they come.

        ``old`` is the state's users table.
        """

    @abstractmethod
    def rows(self, users: pl.Series, settings: Settings,
             tables: tuple[str, ...] | None = None) -> Dataset:
        """The rows of ``users`` (ids; of ``tables`` only when given, every shared table
        whole) loaded and validated by the loader."""

    @abstractmethod
    def row_total(self) -> int:
        """Rows of the user tables (and events) tonight."""


class Snapshot(Tonight):
    """The Parquet tables of a data folder, as stored (not yet validated), hashed whole.

    Raises
    ------
    Fallback
        A table is CSV, or the users or accounts table is missing.
    """

    def __init__(self, data: Path):
        self.data = data
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
        """:func:`fingerprints` of every user."""
        owned = self._owned()
        fp = fingerprints({n: self.raw[n] for n in owned}, {n: self.owner(n) for n in owned})
        users = self.users
        if fp.height != users.height or fp.join(users, on="uh", how="anti").height:
            raise Fallback("rows name users missing from users")
        return fp

    def row_total(self) -> int:
        return sum(self.raw[n].height for n in self._owned())

    def shared(self) -> pl.DataFrame:
        return _shared_hashes(self.raw)

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
            for col in _dated(name, frame):
                value = frame.get_column(col).max()
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
            for col in _dated(name, frame):
                day = pl.col(col).cast(pl.Date)
                hit = pl.any_horizontal(
                    (day > lo - dt.timedelta(days=k)) & (day <= hi - dt.timedelta(days=k))
                    for k in shifts
                ).fill_null(False)
                found.append(self.owner(name).filter(frame.select(hit).to_series()))
        return pl.concat(found) if found else pl.Series("uh", [], dtype=pl.UInt64)

    def changed(self, old: pl.DataFrame, old_shared: pl.DataFrame, as_of: dt.date | None,
                state_as_of: dt.date, settings: Settings
                ) -> tuple[dt.date, pl.DataFrame, pl.DataFrame]:
        fp = self.fingerprints()
        day = as_of or self.latest_date()
        if day is None:
            raise Fallback("the data has no dates")
        rows = (
            fp.join(old.select("uh", "f", "n"), on="uh", how="full", coalesce=True,
                    suffix="_old")
            .filter(pl.any_horizontal(pl.col(c).ne_missing(pl.col(f"{c}_old"))
                                      for c in ("f", "n")))
            .get_column("uh")
        )
        shared = self.shared()
        moved = pl.concat([shared.join(old_shared, on=["table", "key", "h"], how="anti"),
                           old_shared.join(shared, on=["table", "key", "h"], how="anti")])
        found = [rows]
        for name, tables in (("products", ("accounts",)),
                             ("lenders", ("external_loans", "applications"))):
            keys = moved.filter(pl.col("table") == name).get_column("key")
            if keys.len():
                found.append(self.users_with(SHARED[name], keys, tables))
        if day != state_as_of:
            found.append(self.date_moved(state_as_of, day, window_days(settings.detection)))
        changed = pl.concat(found).unique()
        now = self.users.join(fp, on="uh", how="left", maintain_order="left")
        fresh = now.filter(pl.col("uh").is_in(changed.implode())
                           | ~pl.col("uh").is_in(old.get_column("uh").implode()))
        return day, pl.DataFrame({"uh": changed}), fresh

    def rows(self, users: pl.Series, settings: Settings,
             tables: tuple[str, ...] | None = None) -> Dataset:
        raw = self.raw
        wanted = users.implode()
        frames: dict[str, pl.DataFrame] = {}
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
            frames[name] = part
        return _load(frames, settings)


class Changes(Tonight):
    """A change set (:func:`~xpg.loaders.changes.read_change_set`) beside the new
    snapshot ``data``: the changed users are the ones it names, their rows its own; the
    snapshot's shared tables are read whole (a few rows), and the rows of other users
    only when asked for (:meth:`rows`, a filtered read).

    Raises
    ------
    Fallback
        The change set or the snapshot is not one this run can use: a table of the
        snapshot is CSV or missing.
    InputError
        The change set is malformed (:func:`~xpg.loaders.changes.read_change_set`).
    """

    def __init__(self, data: Path, changes: Path):
        self.data = data
        self.set: ChangeSet = read_change_set(changes)
        for name in TABLES:
            if (data / f"{name}.csv").exists():
                raise Fallback(f"{name} is CSV: the state is kept for Parquet inputs only")
        for name in ("users", "accounts"):
            if not (data / f"{name}.parquet").is_file():
                raise Fallback("the users or accounts table is missing")
        self.shared_raw = {name: pl.read_parquet(data / f"{name}.parquet")
                           for name in SHARED if (data / f"{name}.parquet").is_file()}

    def shared(self) -> pl.DataFrame:
        return _shared_hashes(self.shared_raw)

    def _owners(self) -> dict[str, pl.Series]:
        tables = self.set.tables
        out = {name: user_hash(tables[name].get_column("user_id").cast(pl.String))
               for name in USER_TABLES}
        accounts = tables["accounts"]
        out[EVENTS] = (tables[EVENTS].select("account_id")
                       .join(pl.DataFrame({"account_id": accounts.get_column("account_id"),
                                           "uh": out["accounts"]}),
                             on="account_id", how="left", maintain_order="left")
                       .get_column("uh"))
        return out

    def changed(self, old: pl.DataFrame, old_shared: pl.DataFrame, as_of: dt.date | None,
                state_as_of: dt.date, settings: Settings
                ) -> tuple[dt.date, pl.DataFrame, pl.DataFrame]:
        shared = self.shared()
        moved = pl.concat([shared.join(old_shared, on=["table", "key", "h"], how="anti"),
                           old_shared.join(shared, on=["table", "key", "h"], how="anti")])
        if moved.height:
            raise Fallback(f"{moved.get_column('table')[0]} changed: a change set names "
                           "changed users, not the users a shared row reaches")
        tables = self.set.tables
        ids = self.set.users.cast(pl.String)
        if not bool((ids == ids.str.strip_chars()).all()):
            raise Fallback("user ids with surrounding blanks")
        users = pl.DataFrame({"user_id": ids, "uh": user_hash(ids)})
        if users.get_column("uh").n_unique() != users.height:
            raise Fallback("two changed user ids share a hash")
        fp = fingerprints({n: tables[n] for n in (*USER_TABLES, EVENTS)}, self._owners())
        if fp.join(users, on="uh", how="anti").height:
            raise Fallback("the change set's rows name users missing from its users")
        fresh = users.join(fp, on="uh", how="left", maintain_order="left")
        gone = user_hash(self.set.removed)
        changed = pl.concat([users.get_column("uh"), gone]).unique()
        unchanged = old.filter(~pl.col("uh").is_in(changed.implode()))
        if gone.len() and old.join(pl.DataFrame({"uh": gone}), on="uh", how="semi").height \
                != gone.len():
            raise Fallback("the change set removes users the state does not hold")
        days = [unchanged.get_column("last").max(), fresh.get_column("last").max()]
        for name, frame in self.shared_raw.items():
            days.append(frame.select(_last_day(name, frame).max()).item())
        latest = max((d for d in days if d is not None), default=None)
        day = as_of or (None if latest is None else _EPOCH + dt.timedelta(days=int(latest)))
        if day is None:
            raise Fallback("the data has no dates")
        if day != state_as_of:
            raise Fallback(f"the run date moved ({state_as_of} to {day}): the windows reach "
                           "users the change set does not name")
        return day, pl.DataFrame({"uh": changed}), fresh

    def row_total(self) -> int:
        total = 0
        for name in (*USER_TABLES, EVENTS):
            path = self.data / f"{name}.parquet"
            if path.is_file():
                total += pl.scan_parquet(path).select(pl.len()).collect().item()
        return total

    def rows(self, users: pl.Series, settings: Settings,
             tables: tuple[str, ...] | None = None) -> Dataset:
        frames: dict[str, pl.DataFrame] = dict(self.shared_raw)
        mine = self.set.users.cast(pl.String).implode()
        ours = users.filter(users.is_in(mine)).implode()
        theirs = users.filter(~users.is_in(mine))
        their_accounts = pl.Series("account_id", [], dtype=pl.String)
        for name in (*USER_TABLES, EVENTS):
            given = self.set.tables[name]
            if tables is not None and name not in (*tables, "users", "accounts"):
                frames[name] = given.clear()
                continue
            path = self.data / f"{name}.parquet"
            if name == EVENTS:
                part = given.join(frames["accounts"].select("account_id"), on="account_id",
                                  how="semi")
                if path.is_file() and their_accounts.len():
                    part = pl.concat([part, pl.scan_parquet(path).filter(
                        pl.col("account_id").is_in(their_accounts.implode())).collect()],
                        how="diagonal_relaxed")
            else:
                part = given.filter(pl.col("user_id").is_in(ours))
                if path.is_file() and theirs.len():
                    found = pl.scan_parquet(path).filter(
                        pl.col("user_id").is_in(theirs.implode())).collect()
                    if name == "accounts":
                        their_accounts = found.get_column("account_id")
                    part = pl.concat([part, found], how="diagonal_relaxed")
            frames[name] = part
        return _load(frames, settings)
