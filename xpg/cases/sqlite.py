"""The case store in SQLite (the standard library's ``sqlite3``), a file beside the reports.

The database runs in WAL mode (readers never wait for a writer) with ``synchronous=FULL``
(a committed decision survives a power cut); every write is one ``BEGIN IMMEDIATE``
transaction, so two writers are serialized (the second waits up to ``busy_timeout_s``) and
a process killed mid-write leaves the last committed state (SQLite's journal rolls the rest
back on the next open). Events are append-only in the database itself: triggers refuse any
UPDATE or DELETE of an event.

``schema_version`` holds the schema's version; opening a store runs the migrations from
the stored version up to :data:`SCHEMA_VERSION`, each in its own transaction, and refuses a
database written by a newer xpg.

Examples
--------
>>> import tempfile, pathlib
>>> from xpg.cases.sqlite import SqliteCaseStore
>>> with tempfile.TemporaryDirectory() as d, SqliteCaseStore(pathlib.Path(d) / "c.db") as s:
...     case = s.open(user="u1", by="alice", note="customer appeal")
...     [e.what for e in s.events(case.case_id)], s.schema_version()
(['opened'], 2)
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

from xpg.cases.model import Case, Event, Snapshot, dumps
from xpg.cases.store import CaseStore, Change, apply_fields, numbered, stale
from xpg.errors import BackendError, ConflictError, NotFoundError, StorageError

__all__ = ["SCHEMA_VERSION", "SqliteCaseStore"]

MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (  # 1: cases, the finding ids they hold, events
        """CREATE TABLE cases (
            case_id TEXT PRIMARY KEY, subject TEXT NOT NULL, rule TEXT, users TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('open', 'investigating', 'closed')),
            outcome TEXT CHECK (outcome IS NULL OR outcome IN
                ('confirmed_fraud', 'false_positive', 'benign', 'duplicate')),
            assignee TEXT, snooze_until TEXT, version INTEGER NOT NULL,
            opened_at TEXT NOT NULL, opened_by TEXT NOT NULL, decided_at TEXT,
            closed_at TEXT, decision TEXT, updated_at TEXT)""",
        """CREATE TABLE case_findings (
            finding_id TEXT PRIMARY KEY, case_id TEXT NOT NULL REFERENCES cases(case_id),
            position INTEGER NOT NULL)""",
        """CREATE TABLE events (
            event_id TEXT PRIMARY KEY, case_id TEXT NOT NULL REFERENCES cases(case_id),
            seq INTEGER NOT NULL, at TEXT NOT NULL, by TEXT NOT NULL, what TEXT NOT NULL,
            before TEXT NOT NULL, after TEXT NOT NULL, note TEXT, UNIQUE (case_id, seq))""",
        "CREATE INDEX case_findings_case ON case_findings (case_id)",
    ),
    (  # 2: events are append-only, enforced by the database
        """CREATE TRIGGER events_no_update BEFORE UPDATE ON events
           BEGIN SELECT RAISE(ABORT, 'case events are append-only'); END""",
        """CREATE TRIGGER events_no_delete BEFORE DELETE ON events
           BEGIN SELECT RAISE(ABORT, 'case events are append-only'); END""",
        """CREATE TRIGGER cases_no_delete BEFORE DELETE ON cases
           BEGIN SELECT RAISE(ABORT, 'cases are never deleted'); END""",
        "CREATE INDEX cases_status ON cases (status)",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)

_CASE_COLUMNS = ("case_id", "subject", "rule", "users", "status", "outcome", "assignee",
                 "snooze_until", "version", "opened_at", "opened_by", "decided_at",
                 "closed_at", "decision", "updated_at")


def _storage(error: BaseException, path: Path) -> StorageError | None:
    """SQLite's "database or disk is full" and "attempt to write a readonly database" as
    the file system's refusals they are (a StorageError naming the store); None else."""
    from xpg.atomic import storage_error

    code = getattr(error, "sqlite_errorcode", None)
    if code == sqlite3.SQLITE_FULL:
        return storage_error(OSError(errno.ENOSPC, "disk full"), path)
    if code == sqlite3.SQLITE_READONLY:
        return storage_error(OSError(errno.EROFS, "read-only"), path)
    return storage_error(error, path)


class SqliteCaseStore(CaseStore):
    """Cases in the SQLite file ``path`` (made with its folder when missing)."""

    label = "SQLite case store"

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout_s: float = 10.0):
        self.path = Path(path)
        self._timeout = busy_timeout_s
        self._local = threading.local()  # one connection per thread (a service's workers)
        self._all: list[sqlite3.Connection] = []
        self._guard = threading.Lock()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._migrate()
        except (sqlite3.Error, OSError) as e:
            raise (_storage(e, self.path)
                   or BackendError(f"the case store {self.path} cannot be opened: {e}")) from e

    @property
    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=self._timeout, isolation_level=None,
                                 check_same_thread=False)
            db.execute("PRAGMA synchronous=FULL")
            db.execute("PRAGMA foreign_keys=ON")
            self._local.db = db
            with self._guard:
                self._all.append(db)
        return db

    def close(self) -> None:
        with self._guard:
            for db in self._all:
                db.close()
            self._all.clear()
        self._local = threading.local()

    def schema_version(self) -> int:
        row = self._db.execute("SELECT max(version) FROM schema_version").fetchone()
        return int(row[0] or 0)

    def _migrate(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            self._db.execute("CREATE TABLE IF NOT EXISTS schema_version "
                             "(version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)")
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        current = self.schema_version()
        if current > SCHEMA_VERSION:
            raise BackendError(f"the case store {self.path} has schema version {current}, "
                               f"newer than this xpg's {SCHEMA_VERSION}: upgrade xpg")
        for version in range(current + 1, SCHEMA_VERSION + 1):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if self.schema_version() >= version:  # another process migrated meanwhile
                    self._db.execute("COMMIT")
                    continue
                for statement in MIGRATIONS[version - 1]:
                    self._db.execute(statement)
                self._db.execute("INSERT INTO schema_version VALUES (?, ?)",
                                 (version, dt.datetime.now(dt.UTC).isoformat()))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    # -- hooks -------------------------------------------------------------------------------

    def _insert(self, case: Case, event: Event) -> None:
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._write_case(case, insert=True)
                for position, fid in enumerate(case.finding_ids):
                    held = self._db.execute("SELECT case_id FROM case_findings WHERE "
                                            "finding_id = ?", (fid,)).fetchone()
                    if held is not None:
                        raise ConflictError(f"finding {fid} is already held by case {held[0]}")
                    self._db.execute("INSERT INTO case_findings VALUES (?, ?, ?)",
                                     (fid, case.case_id, position))
                self._write_events([event])
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        except sqlite3.Error as e:
            raise (_storage(e, self.path) or BackendError(
                f"the case store {self.path} failed to open a case: {e}")) from e

    def _transact(self, case_id: str, expected_version: int | None, token: str,
                  at: dt.datetime, by: str, change: Change) -> Case:
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                case = self._case(case_id)
                if case is None:
                    raise NotFoundError(f"no case {case_id!r}")
                if expected_version is not None and case.version != expected_version:
                    raise stale(case_id, expected_version, case.version)
                fields, drafts = change(case)
                if not drafts:
                    self._db.execute("COMMIT")
                    return case
                new = apply_fields(case, fields, at)
                self._write_case(new, insert=False)
                for position, fid in enumerate(new.finding_ids):
                    if fid not in case.finding_ids:
                        self._db.execute("INSERT INTO case_findings VALUES (?, ?, ?)",
                                         (fid, case_id, position))
                seq = self._db.execute("SELECT coalesce(max(seq), 0) FROM events WHERE "
                                       "case_id = ?", (case_id,)).fetchone()[0]
                self._write_events(numbered(new, drafts, token, at, by, seq + 1))
                self._db.execute("COMMIT")
                return new
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        except sqlite3.IntegrityError as e:
            raise ConflictError(f"case {case_id}: {e}") from e
        except sqlite3.Error as e:
            raise (_storage(e, self.path) or BackendError(
                f"the case store {self.path} failed to change case {case_id}: {e}")) from e

    def _find(self, ref: str) -> Case | None:
        case = self._case(ref)
        if case is not None:
            return case
        row = self._db.execute("SELECT case_id FROM case_findings WHERE finding_id = ?",
                               (ref,)).fetchone()
        return None if row is None else self._case(row[0])

    def _list(self) -> list[Case]:
        rows = self._db.execute(f"SELECT {', '.join(_CASE_COLUMNS)} FROM cases").fetchall()
        ids = self._finding_ids()
        return [_case_of(r, ids.get(r[0], ())) for r in rows]

    def _events(self, case_id: str) -> list[Event]:
        rows = self._db.execute("SELECT event_id, case_id, seq, at, by, what, before, after, "
                                "note FROM events WHERE case_id = ? ORDER BY seq",
                                (case_id,)).fetchall()
        return [Event(r[0], r[1], r[2], dt.datetime.fromisoformat(r[3]), r[4], r[5],
                      json.loads(r[6]), json.loads(r[7]), r[8]) for r in rows]

    # -- rows --------------------------------------------------------------------------------

    def _case(self, case_id: str) -> Case | None:
        row = self._db.execute(f"SELECT {', '.join(_CASE_COLUMNS)} FROM cases WHERE "
                               "case_id = ?", (case_id,)).fetchone()
        if row is None:
            return None
        ids = [r[0] for r in self._db.execute("SELECT finding_id FROM case_findings WHERE "
                                              "case_id = ? ORDER BY position", (case_id,))]
        return _case_of(row, tuple(ids))

    def _finding_ids(self) -> dict[str, tuple[str, ...]]:
        out: dict[str, list[str]] = {}
        for fid, cid in self._db.execute("SELECT finding_id, case_id FROM case_findings "
                                         "ORDER BY case_id, position"):
            out.setdefault(cid, []).append(fid)
        return {k: tuple(v) for k, v in out.items()}

    def _write_case(self, case: Case, *, insert: bool) -> None:
        d = case.to_dict()
        values = [d["case_id"], d["subject"], d["rule"], dumps(d["users"]), d["status"],
                  d["outcome"], d["assignee"], d["snooze_until"], d["version"], d["opened_at"],
                  d["opened_by"], d["decided_at"], d["closed_at"],
                  None if d["decision"] is None else dumps(d["decision"]), d["updated_at"]]
        if insert:
            self._db.execute(f"INSERT INTO cases ({', '.join(_CASE_COLUMNS)}) VALUES "
                             f"({', '.join('?' * len(_CASE_COLUMNS))})", values)
        else:
            sets = ", ".join(f"{c} = ?" for c in _CASE_COLUMNS[1:])
            self._db.execute(f"UPDATE cases SET {sets} WHERE case_id = ?",
                             [*values[1:], values[0]])

    def _write_events(self, events: list[Event]) -> None:
        self._db.executemany(
            "INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(e.event_id, e.case_id, e.seq, e.at.isoformat(), e.by, e.what, dumps(e.before),
              dumps(e.after), e.note) for e in events])


def _case_of(row: tuple[Any, ...], finding_ids: tuple[str, ...]) -> Case:
    d = dict(zip(_CASE_COLUMNS, row, strict=True))
    d["users"] = json.loads(d["users"])
    d["decision"] = None if d["decision"] is None else json.loads(d["decision"])
    d["finding_ids"] = finding_ids
    case = Case.from_dict(d)
    assert case.decision is None or isinstance(case.decision, Snapshot)
    return case
