"""The connection half of the Neo4j backend: the driver, sessions and every statement run.

Every call states whether it reads or writes (:class:`QueryMode`), as
graph-data-science-client's query runner does: the session's access mode follows
it (so a cluster routes reads to followers), reads run in managed read
transactions, and a connection opened ``read_only`` refuses every write with a
:class:`~xpg.errors.ReadOnlyError` before anything reaches the server. Only
idempotent work is retried (managed transactions); ``CALL ... IN TRANSACTIONS``
statements run once, in auto-commit transactions.

Driver and server errors come out as :class:`~xpg.errors.BackendError` with the
URI redacted. Faults are of two kinds:

* **permanent**, at the first contact: nothing answers (a wrong port, no server) is
  tried ``connect_retries`` more times, 0.5, 1, 2 ... s apart, then fails; refused
  credentials and a host name that does not resolve fail at once;
* **transient**, once connected: a server lost during a job (restarted, failed over,
  a dropped connection) is waited for. Every managed transaction is retried with
  backoff (0.5 s, growing 1.5 times) for up to ``retry_window_s`` (the driver's
  ``max_transaction_retry_time``), and so is one whose commit lost its answer
  (``IncompleteCommit``, which the driver does not retry: xpg runs only idempotent work
  in managed transactions, so running it again is safe). Statements run once
  (``retry=False``) are not retried.

A driver passed in is never closed.
"""

from __future__ import annotations

import datetime as dt
import logging
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from typing import Any

from xpg.errors import BackendError, ReadOnlyError
from xpg.settings import Neo4jConfig

_log = logging.getLogger(__name__)

__all__ = [
    "RETRY_FIRST_S", "RETRY_GROWTH", "Neo4jConnection", "QueryMode", "RetryingSession", "now",
]

RETRY_FIRST_S = 0.5
"""Seconds before the first retry of a transaction that failed on a lost server."""

RETRY_GROWTH = 1.5
"""Each later retry waits this many times longer (with the driver's 20 % jitter)."""


def now() -> dt.datetime:
    """The current UTC time, as the load and the findings store stamp it."""
    return dt.datetime.now(dt.UTC)


class QueryMode(StrEnum):
    """Whether a statement reads or writes the database."""

    READ = "read"
    WRITE = "write"

    def access_mode(self) -> str:
        """The driver's session access mode for this mode."""
        import neo4j

        return neo4j.READ_ACCESS if self is QueryMode.READ else neo4j.WRITE_ACCESS


class Neo4jConnection:
    """A lazily made driver over one database, and the statements run on it.

    Parameters
    ----------
    config
        Connection (``uri``, ``user``, ``password``, ``database``).
    driver
        An open :class:`neo4j.Driver` to use instead of making one (never closed here).
    read_only
        Refuse every :data:`QueryMode.WRITE` call.
    """

    def __init__(self, config: Neo4jConfig, *, driver: Any = None, read_only: bool = False):
        self.config = config
        self.read_only = read_only
        self._driver = driver
        self._owns_driver = driver is None
        self._closed = False

    @property
    def driver(self) -> Any:
        """The driver (made on first use from the config unless one was passed in)."""
        if self._closed:
            raise BackendError("the Neo4j backend is closed")
        if self._driver is None:
            import neo4j

            auth = (
                None if self.config.password is None else (self.config.user, self.config.password)
            )
            try:
                driver = neo4j.GraphDatabase.driver(
                    self.config.uri, auth=auth,
                    max_transaction_retry_time=float(self.config.retry_window_s))
            except (ValueError, neo4j.exceptions.DriverError) as e:
                raise BackendError(
                    f"cannot open a Neo4j driver for {self.config.redacted_uri}: "
                    f"{self.redact(str(e))}"
                ) from e
            # one round trip first: refused credentials fail now, and a server that does
            # not answer is tried again a few times with backoff, then fails with the cause
            try:
                self._verify(driver)
            except BackendError:
                driver.close()
                raise
            self._driver = driver
        return self._driver

    def _verify(self, driver: Any) -> None:
        """Connect once, retrying a server that does not answer ``connect_retries`` times
        (0.5, 1, 2 ... s apart); refused credentials, or a host name that does not
        resolve, fail at once."""
        import neo4j

        for attempt in range(self.config.connect_retries + 1):
            try:
                with self.errors("connecting"):
                    driver.verify_connectivity()
                return
            except BackendError as e:
                cause = e.__cause__
                transient = (isinstance(cause, neo4j.exceptions.ServiceUnavailable
                                        | neo4j.exceptions.SessionExpired)
                             and not isinstance(cause.__cause__, socket.gaierror))
                if not transient or attempt == self.config.connect_retries:
                    if attempt:
                        raise BackendError(f"{e} (after {attempt + 1} attempts)") from cause
                    raise
                delay = 0.5 * 2 ** attempt
                _log.warning("%s; trying again in %s s", e, delay)
                time.sleep(delay)

    def refuse_writes(self, doing: str) -> None:
        """Raise :class:`~xpg.errors.ReadOnlyError` when opened ``read_only``."""
        if self.read_only:
            raise ReadOnlyError(
                f"the Neo4j backend was opened for reading: it cannot {doing} "
                f"({self.config.database!r} at {self.config.redacted_uri})"
            )

    def session(self, mode: QueryMode, *, retry_s: float | None = None) -> RetryingSession:
        """A session on the configured database in ``mode``'s access mode, whose managed
        transactions are retried for ``retry_s`` seconds (default ``retry_window_s``).

        Raises
        ------
        ReadOnlyError
            For :data:`QueryMode.WRITE` on a read-only connection.
        """
        if mode is QueryMode.WRITE:
            self.refuse_writes("write")
        window = float(self.config.retry_window_s if retry_s is None else retry_s)
        session = self.driver.session(
            database=self.config.database,
            default_access_mode=mode.access_mode(),
            notifications_min_severity="OFF",
            max_transaction_retry_time=window,
            # the driver's backoff, gentler than its default (1 s, doubling): a server
            # back after 30 s is found within about 10 s, not 30
            initial_retry_delay=RETRY_FIRST_S,
            retry_delay_multiplier=RETRY_GROWTH,
        )
        return RetryingSession(session, window, self.redact)

    def redact(self, text: str) -> str:
        """``text`` with the URI's credentials and the password removed."""
        text = text.replace(self.config.uri, self.config.redacted_uri)
        if self.config.password:
            text = text.replace(self.config.password, "***")
        return text

    @contextmanager
    def errors(self, doing: str, *, retried_s: float | None = None) -> Iterator[None]:
        """Turn driver and server errors into :class:`BackendError` (URI redacted); a
        lost server's says how long it was waited for (``retried_s``, default
        ``retry_window_s``; 0: not retried, said nothing)."""
        import neo4j

        try:
            yield
        except BackendError:
            raise
        except neo4j.exceptions.AuthError as e:
            raise BackendError(
                f"Neo4j at {self.config.redacted_uri} refused the credentials of user "
                f"{self.config.user!r} while {doing} (check NEO4J_USER/NEO4J_PASSWORD)"
            ) from e
        except neo4j.exceptions.Neo4jError as e:
            raise BackendError(
                f"Neo4j at {self.config.redacted_uri} failed while {doing}: "
                f"{self.redact(e.message or str(e))}"
            ) from e
        except (neo4j.exceptions.DriverError, OSError) as e:
            waited = ""
            window = self.config.retry_window_s if retried_s is None else retried_s
            if window and doing != "connecting" and isinstance(
                    e, neo4j.exceptions.ServiceUnavailable | neo4j.exceptions.SessionExpired):
                waited = f" (waited up to {window:g} s: neo4j.retry_window_s)"
            # the driver's text runs over lines (where it tried, then why): one line
            why = "; ".join(line.strip(" :") for line in str(e).splitlines() if line.strip())
            hint = ""
            if doing == "connecting":
                hint = ("; is a server running there? (NEO4J_URI names it; a local one: "
                        "scripts/neo4j-local start)")
            raise BackendError(
                f"Neo4j at {self.config.redacted_uri} is unreachable or failed while {doing}: "
                f"{self.redact(why)}{waited}{hint}"
            ) from e

    def run(
        self, query: str, mode: QueryMode, /, *, retry: bool = True,
        retry_s: float | None = None, **params: Any
    ) -> list[dict[str, Any]]:
        """Run one statement; its rows as dicts.

        Parameters
        ----------
        query
            The statement (parameterized: values go in ``params``).
        mode
            :data:`QueryMode.READ`: a managed read transaction (retried on transient
            errors). :data:`QueryMode.WRITE`: a managed write transaction, retried, so
            only for idempotent work; with ``retry=False`` an auto-commit transaction
            run once (``CALL ... IN TRANSACTIONS`` statements need one).
        retry_s
            How long a managed transaction is retried (default ``retry_window_s``).

        Raises
        ------
        ReadOnlyError
            A write on a read-only connection.
        BackendError
            The database failed or cannot be reached.
        """

        def work(tx: Any) -> list[dict[str, Any]]:
            return [r.data() for r in tx.run(query, params)]

        doing = "reading" if mode is QueryMode.READ else "writing"
        with (self.errors(doing, retried_s=retry_s if retry else 0),
              self.session(mode, retry_s=retry_s) as session):
            if not retry:
                return [r.data() for r in session.run(query, params)]
            if mode is QueryMode.READ:
                return session.execute_read(work)
            return session.execute_write(work)

    def close(self) -> None:
        """Close the driver if it was made here; an injected driver stays open."""
        if self._owns_driver and self._driver is not None:
            self._driver.close()
        self._driver = None
        self._closed = True


class RetryingSession:
    """A driver session whose managed transactions also survive a lost commit answer.

    The driver retries a managed transaction on transient errors for
    ``max_transaction_retry_time``, but not one whose connection died while it
    committed (:class:`neo4j.exceptions.IncompleteCommit`: it may or may not have been
    applied). Every transaction function xpg runs is idempotent (``MERGE``, replacing a
    run date's findings, the lock's statements), so this runs it again, with the same
    backoff (:data:`RETRY_FIRST_S`, growing :data:`RETRY_GROWTH` times), until ``window``
    seconds have passed. Everything else is the session's.

    Examples
    --------
    >>> class Flaky:  # a session whose first commit loses its answer
    ...     calls = 0
    ...     def execute_write(self, work):
    ...         import neo4j
    ...         self.calls += 1
    ...         if self.calls == 1:
    ...             raise neo4j.exceptions.IncompleteCommit("connection lost")
    ...         return work(None)
    >>> RetryingSession(Flaky(), 5.0, str, first_delay=0).execute_write(lambda tx: "done")
    'done'
    """

    def __init__(self, session: Any, window: float, redact: Any, *,
                 first_delay: float = RETRY_FIRST_S):
        self._session = session
        self._window = window
        self._redact = redact
        self._first_delay = first_delay

    def __getattr__(self, name: str) -> Any:
        return getattr(self._session, name)

    def __enter__(self) -> RetryingSession:
        self._session.__enter__()
        return self

    def __exit__(self, *exc: object) -> Any:
        return self._session.__exit__(*exc)

    def execute_read(self, work: Any, *args: Any, **kwargs: Any) -> Any:
        """:meth:`neo4j.Session.execute_read`, retried also after a lost commit."""
        return self._again(self._session.execute_read, work, args, kwargs)

    def execute_write(self, work: Any, *args: Any, **kwargs: Any) -> Any:
        """:meth:`neo4j.Session.execute_write`, retried also after a lost commit."""
        return self._again(self._session.execute_write, work, args, kwargs)

    def _again(self, execute: Any, work: Any, args: tuple, kwargs: dict) -> Any:
        import neo4j

        deadline = time.monotonic() + self._window
        delay = self._first_delay
        while True:
            try:
                return execute(work, *args, **kwargs)
            except neo4j.exceptions.IncompleteCommit as e:
                if time.monotonic() + delay > deadline:
                    raise
                _log.warning("a commit lost its answer (%s); running the idempotent "
                             "transaction again in %s s", self._redact(str(e)), delay)
                time.sleep(delay)
                delay *= RETRY_GROWTH
