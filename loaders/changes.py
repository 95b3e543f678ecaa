"""A change set: the rows of the users that changed since an earlier snapshot
(``docs/data-contract.md``, "Change sets").

A nightly incremental run given one (``xpg detect --incremental STATE --changes DIR``)
reads these rows and the state of the earlier night, never the unchanged rows of the
snapshot. The layout::

    CHANGES/
      changes.json            {"format": "xpg-changes", "version": 1}
      users.parquet           one row per changed user still present (added ones too)
      accounts.parquet        every row, as in the new snapshot, of each changed user
      devices.parquet         (a table left out, or a user with no row in it: none now)
      identifiers.parquet
      external_loans.parquet
      applications.parquet
      account_events.parquet  every event of the changed users' accounts
      removed_users.parquet   user_id of each user gone from the new snapshot (optional)

A changed user's rows replace all of its rows of the earlier snapshot (rows it no
longer has are simply absent). ``products`` and ``lenders`` (a few rows, shared by every
user) are read from the snapshot itself. Tables are Parquet, as the incremental run's
snapshot.

Why rows per changed user rather than tables partitioned by a hash of the user id: a
partition can be skipped only when none of its users changed, and changes are spread
over the users; with ``k`` changed users among ``P`` partitions a share
``1 - (1 - 1/P)^k`` of the partitions is touched: 99.995% for 10,000 changed users in
1,024 partitions. The rows of the changed users cost what changed however they are
spread, and they are what a change-data-capture export gives.

Examples
--------
>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> write_change_set(d, {"users": pl.DataFrame({"user_id": ["u1"]})}, removed=["u9"])
>>> c = read_change_set(d)
>>> c.users.to_list(), c.removed.to_list()
(['u1'], ['u9'])
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from xpg.loaders.schema import TABLES

from xpg.errors import InputError

__all__ = ["CHANGE_TABLES", "FORMAT", "MANIFEST", "ChangeSet", "change_set_between",
           "read_change_set",
           "write_change_set"]

FORMAT = {"format": "xpg-changes", "version": 1}
"""What ``changes.json`` holds."""
MANIFEST = "changes.json"
REMOVED = "removed_users"
CHANGE_TABLES = ("users", "accounts", "devices", "identifiers", "external_loans",
                 "applications", "account_events")
"""The tables a change set holds: those whose rows belong to one user."""


@dataclass(frozen=True)
class ChangeSet:
    """A change set as stored (read, not yet validated: the loader validates its rows).

    Attributes
    ----------
    folder
        Where it was read.
    tables
        The rows of each of :data:`CHANGE_TABLES` (the tables left out: empty, with the
        contract's columns).
    removed
        The ids of the users gone.
    """

    folder: Path
    tables: dict[str, pl.DataFrame]
    removed: pl.Series

    @property
    def users(self) -> pl.Series:
        """The ids of the changed users still present."""
        return self.tables["users"].get_column("user_id")

    def given(self, name: str) -> bool:
        """Whether table ``name`` is a file of the change set."""
        return _path(self.folder, name) is not None


def _path(folder: Path, name: str) -> Path | None:
    path = folder / f"{name}.parquet"
    return path if path.is_file() else None


def _read(path: Path) -> pl.DataFrame:
    try:
        return pl.read_parquet(path)
    except (OSError, pl.exceptions.PolarsError) as e:
        raise InputError(f"changes: {path} is not a readable Parquet file ({e})",
                         argument="changes") from e


def read_change_set(folder: str | os.PathLike[str]) -> ChangeSet:
    """Read the change set in ``folder``.

    Raises
    ------
    InputError
        Not a change set (no ``changes.json``, another format or version), a table
        without its user column, a user named twice, rows of a user that is not among
        the changed ones, or a removed user that is also changed. The message names
        the file and how to fix it.
    """
    root = Path(folder)
    manifest = root / MANIFEST
    try:
        found = json.loads(manifest.read_text(encoding="utf-8"))
    except OSError as e:
        raise InputError(f"changes: {root} is not a change set: {manifest.name} is missing "
                         f"(write {json.dumps(FORMAT)} there; see docs/data-contract.md, "
                         "Change sets)", argument="changes") from e
    except ValueError as e:
        raise InputError(f"changes: {manifest} is not JSON ({e})", argument="changes") from e
    if not isinstance(found, dict) or found.get("format") != FORMAT["format"] \
            or found.get("version") != FORMAT["version"]:
        raise InputError(f"changes: {manifest} says {found!r}; this xpg reads "
                         f"{json.dumps(FORMAT)}", argument="changes")
    tables: dict[str, pl.DataFrame] = {}
    for name in CHANGE_TABLES:
        path = _path(root, name)
        frame = TABLES[name].empty() if path is None else _read(path)
        key = "account_id" if name == "account_events" else "user_id"
        if key not in frame.columns:
            raise InputError(f"changes: {path} has no column {key!r} (its columns: "
                             f"{', '.join(frame.columns)})", argument="changes")
        tables[name] = frame
    path = _path(root, REMOVED)
    removed = (pl.Series("user_id", [], dtype=pl.String) if path is None
               else _read(path).get_column("user_id").cast(pl.String))
    users = tables["users"].get_column("user_id").cast(pl.String)
    twice = users.filter(users.is_duplicated()).unique().sort()
    if twice.len():
        raise InputError(f"changes: users of {root} names user {twice[0]!r} twice: one row "
                         "per changed user", argument="changes")
    both = removed.filter(removed.is_in(users.implode()))
    if both.len():
        raise InputError(f"changes: user {both[0]!r} is both in users and in {REMOVED} of "
                         f"{root}: a user is either changed or removed", argument="changes")
    for name in CHANGE_TABLES[1:-1]:
        owners = tables[name].get_column("user_id").cast(pl.String)
        stray = owners.filter(~owners.is_in(users.implode()))
        if stray.len():
            raise InputError(
                f"changes: {name} of {root} has rows of user {stray[0]!r}, who is not in its "
                "users: give every changed user's users row (a change set replaces all the "
                "rows of the users it names)", argument="changes")
    accounts = tables["accounts"].get_column("account_id").cast(pl.String)
    events = tables["account_events"].get_column("account_id").cast(pl.String)
    stray = events.filter(~events.is_in(accounts.implode()))
    if stray.len():
        raise InputError(f"changes: account_events of {root} has events of account "
                         f"{stray[0]!r}, which is not in its accounts", argument="changes")
    return ChangeSet(root, tables, removed)


def write_change_set(folder: str | os.PathLike[str], tables: dict[str, pl.DataFrame],
                     removed: list[str] | pl.Series = ()) -> None:
    """Write a change set (Parquet): ``tables`` holds the changed users' rows of the
    tables of :data:`CHANGE_TABLES` it names, ``removed`` the ids of the users gone."""
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        if name not in CHANGE_TABLES:
            raise ValueError(f"{name} is not a table of a change set")
        frame.write_parquet(root / f"{name}.parquet")
    pl.DataFrame({"user_id": pl.Series(list(removed), dtype=pl.String)}).write_parquet(
        root / f"{REMOVED}.parquet")
    (root / MANIFEST).write_text(json.dumps(FORMAT) + "\n", encoding="utf-8")


def _tables_of(folder: Path) -> dict[str, pl.DataFrame]:
    out = {}
    for name in CHANGE_TABLES:
        path = _path(folder, name)
        if path is not None:
            out[name] = _read(path)
    return out


def change_set_between(before: str | os.PathLike[str], after: str | os.PathLike[str],
                       folder: str | os.PathLike[str]) -> int:
    """Write to ``folder`` the change set that takes the snapshot ``before`` to ``after``
    (Parquet data folders): the users any of whose rows differ, with their
    rows of ``after``, and the users gone. Returns the number of users changed or removed.

    For a producer that keeps its snapshots (and for the tests): one that knows what it
    changed writes its rows directly (:func:`write_change_set`).
    """
    old, new = _tables_of(Path(before)), _tables_of(Path(after))

    def per_user(t: dict[str, pl.DataFrame]) -> pl.DataFrame:
        parts = []
        for i, name in enumerate(CHANGE_TABLES):
            if name not in t:
                continue
            frame = t[name]
            if name == "account_events":
                owner = frame.select("account_id").join(
                    t["accounts"].select("account_id", "user_id"), on="account_id", how="left",
                    maintain_order="left").get_column("user_id")
            else:
                owner = frame.get_column("user_id")
            parts.append(pl.DataFrame({"user_id": owner.cast(pl.String),
                                       "h": frame.hash_rows(seed=101 + i)}))
        return (pl.concat(parts).group_by("user_id")
                .agg(pl.col("h").sort().alias("hs")))

    a, b = per_user(old), per_user(new)
    both = a.join(b, on="user_id", how="full", coalesce=True, suffix="_new")
    differ = both.filter(pl.col("hs").ne_missing(pl.col("hs_new")))
    users_now = new["users"].get_column("user_id").cast(pl.String)
    changed = differ.get_column("user_id").filter(
        differ.get_column("user_id").is_in(users_now.implode()))
    removed = old["users"].get_column("user_id").cast(pl.String)
    removed = removed.filter(~removed.is_in(users_now.implode()))
    wanted = changed.implode()
    rows: dict[str, pl.DataFrame] = {}
    for name, frame in new.items():
        if name == "account_events":
            accounts = new["accounts"].filter(pl.col("user_id").is_in(wanted))
            rows[name] = frame.join(accounts.select("account_id"), on="account_id", how="semi")
        else:
            rows[name] = frame.filter(pl.col("user_id").cast(pl.String).is_in(wanted))
    write_change_set(folder, rows, removed)
    return changed.len() + removed.len()
