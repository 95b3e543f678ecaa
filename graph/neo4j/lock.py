"""One job at a time per database: the lock a load or a writing detection holds.

:func:`job_lock` takes the database's ``(:XpgLock {name: 'jobs'})`` node (MERGE'd on
its constrained name, ``graph/neo4j/cypher/lock.cypher``) for the length of a job, with
``owner`` (``host:pid``), ``job`` (``load``, ``detect``) and ``since``; a thread beats
it (``beat``) every few seconds while the job runs, and the node is deleted when the
job ends, failed or not. A second job finds it held and refuses with
:class:`~xpg.errors.LockHeldError` naming the holder, or waits for it up to
``neo4j.lock_wait_s``. A holder that crashed stops beating: once its last beat is
older than ``neo4j.lock_stale_s`` the next job takes the lock over (and logs it); a
holder that was a process of this host that no longer runs is taken over at once.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from xpg.graph.neo4j.connection import QueryMode
from xpg.graph.neo4j.statements import statement

from xpg.errors import BackendError, LockHeldError

if TYPE_CHECKING:
    from xpg.graph.neo4j.connection import Neo4jConnection

_log = logging.getLogger(__name__)

__all__ = ["FREE_RETRY_S", "LOCK_NAME", "job_lock", "owner"]

LOCK_NAME = "jobs"
"""The name of the lock every load and writing detection of a database takes."""

FREE_RETRY_S = 5.0
"""Seconds freeing the lock is retried when the server is gone (then it goes stale)."""


def owner() -> str:
    """This process as a lock holder: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _dead(holder: str | None) -> bool:
    """Whether ``holder`` (``host:pid``) is a process of this host that no longer runs
    (a zombie, killed and not yet reaped by its parent, counts as gone)."""
    host, _, pid = (holder or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except OSError:  # it exists, owned by someone else
        return False
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().rpartition(") ")[2][:1] == "Z"
    except OSError:  # no /proc: it runs
        return False


def _native(value: Any) -> Any:
    to_native = getattr(value, "to_native", None)
    return to_native() if to_native is not None else value


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@contextmanager
def job_lock(connection: Neo4jConnection, job: str) -> Iterator[None]:
    """Hold the database's job lock while the ``with`` block runs ``job``.

    Raises
    ------
    LockHeldError
        Another live job holds it (after waiting ``lock_wait_s``, when set).
    """
    config = connection.config
    token = uuid.uuid4().hex
    me = owner()
    deadline = time.monotonic() + config.lock_wait_s
    while True:
        now = _now()
        row = connection.run(
            statement("lock", "take"), QueryMode.WRITE, name=LOCK_NAME, token=token, owner=me,
            job=job, now=now, stale=now - dt.timedelta(seconds=config.lock_stale_s))[0]
        if row["mine"]:
            break
        if _dead(row["owner"]) and connection.run(
                statement("lock", "steal"), QueryMode.WRITE, name=LOCK_NAME, seen=row["token"],
                token=token, owner=me, job=job, now=now)[0]["taken"]:
            row = {**row, "took_over": True}
            break
        if time.monotonic() >= deadline:
            since = _native(row["since"])
            raise LockHeldError(
                f"cannot {job}: {row['owner']} is running a {row['job']} on the Neo4j "
                f"database {config.database!r} at {config.redacted_uri} (since "
                f"{since:%Y-%m-%d %H:%M:%S} UTC); one load or detection at a time",
                owner=row["owner"], since=since)
        time.sleep(min(1.0, max(0.0, deadline - time.monotonic())))
    if row["took_over"]:
        _log.warning("took over the job lock of %s (%s since %s): it is gone or stopped "
                     "beating", row["owner"], row["job"], _native(row["since"]))
    stop = threading.Event()
    beater = threading.Thread(target=_beat, args=(connection, token, stop), daemon=True,
                              name=f"xpg-lock-{job}")
    beater.start()
    try:
        yield
    finally:
        stop.set()
        beater.join()
        try:  # briefly: after a lost server the job has waited its retry window already
            connection.run(statement("lock", "free"), QueryMode.WRITE, name=LOCK_NAME,
                           token=token, retry_s=min(FREE_RETRY_S, config.retry_window_s))
        except BackendError as e:  # the server went away: the lock goes stale instead
            _log.warning("could not free the job lock (%s); it is taken over after %s s",
                         e, config.lock_stale_s)


def _beat(connection: Neo4jConnection, token: str, stop: threading.Event) -> None:
    """Refresh the lock's ``beat`` until ``stop`` (a third of ``lock_stale_s`` apart)."""
    every = max(0.5, connection.config.lock_stale_s / 3)
    while not stop.wait(every):
        try:
            connection.run(statement("lock", "beat"), QueryMode.WRITE, name=LOCK_NAME,
                           token=token, now=_now(), retry_s=every)
        except BackendError as e:  # the job itself will fail or finish; keep trying
            _log.warning("job lock beat failed: %s", e)
