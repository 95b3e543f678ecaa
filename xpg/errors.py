"""The exceptions xpg raises.

One root, :class:`XpgError`; each subclass also derives from the builtin it
refines, so callers that already catch ``ValueError`` or ``KeyError`` keep
working. Library code raises and says what is wrong, in the terms of the
library (its parameters, its settings); it carries no exit code and no
command-line wording. Only the CLI turns an error into a message, a hint
naming its flags and an exit code (one table in ``xpg/cli/errors.py``,
documented in ``docs/cli.md``).

Examples
--------
>>> e = TargetExistsError("out/2026-11-20 already exists", replace_with="overwrite")
>>> isinstance(e, InputError), isinstance(e, ValueError), str(e), e.replace_with
(True, True, 'out/2026-11-20 already exists', 'overwrite')
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl

__all__ = [
    "BackendError",
    "ConfigError",
    "ConflictError",
    "FindingsRefusedError",
    "GraphIncompleteError",
    "GraphMissingError",
    "GraphSourceError",
    "InputError",
    "LockHeldError",
    "NoFindingsError",
    "NotFoundError",
    "ReadOnlyError",
    "RunDateUnknownError",
    "RunLockedError",
    "StateDamagedError",
    "StorageError",
    "TargetExistsError",
    "ValidationError",
    "XpgError",
]


class XpgError(Exception):
    """Root of every error xpg raises on purpose.

    ``argument``, when given, names the parameter of the library call the error is
    about (``"out"``, ``"users"``, ``"as_of"``); a message about one parameter starts
    with its name, so a front end can name its own spelling of it (``--out``) instead.
    """

    def __init__(self, *args: object, argument: str | None = None) -> None:
        super().__init__(*args)
        self.argument = argument


class ConfigError(XpgError, ValueError):
    """A setting is unknown, of the wrong type, or out of range.

    ``key``, when given, is the dotted setting at fault (``"load.mapping.users"``), so a
    front end can name the file that set it.
    """

    def __init__(self, *args: object, key: str | None = None, argument: str | None = None):
        super().__init__(*args, argument=argument)
        self.key = key


class InputError(XpgError, ValueError):
    """The input data or a command's argument is unusable (missing folder, bad date, ...)."""


class RunDateUnknownError(InputError):
    """No run date was given and the data holds no date to take the latest of."""


class GraphSourceError(InputError):
    """Tables were given to a session over a backend that keeps its own graph (a
    database), where the session only reads that graph: the graph is written by a load
    of its own, never on the way to another task."""


class TargetExistsError(InputError):
    """An output would replace something that exists; ``replace_with`` names the
    parameter (``overwrite``, ``force``) that allows it."""

    def __init__(self, *args: object, replace_with: str, argument: str | None = None) -> None:
        super().__init__(*args, argument=argument)
        self.replace_with = replace_with


class ValidationError(InputError):
    """The input tables break the data contract.

    ``failures`` is a Polars frame with one row per problem and the columns
    ``table``, ``row`` (1-based line number in the file, header = line 1;
    null for table-level problems), ``column``, ``value``, ``rule`` (a reason
    code such as ``not_null`` or ``unknown_reference``) and ``message``.
    ``total`` counts every failure found, also those beyond the cap kept in
    ``failures``.
    """

    def __init__(self, message: str, failures: pl.DataFrame, total: int | None = None):
        super().__init__(message)
        self.failures = failures
        self.total = failures.height if total is None else total


class NotFoundError(XpgError, KeyError):
    """An id asked for (user, ring, lender, finding) does not exist."""

    def __str__(self) -> str:  # KeyError quotes its argument; keep the sentence readable
        return str(self.args[0]) if self.args else "not found"


class NoFindingsError(XpgError, LookupError):
    """A session that only reads the findings a detection stored found none current for
    the date (no detection ran on this graph with these settings since its last load)."""


class BackendError(XpgError, RuntimeError):
    """A storage backend failed or cannot be reached (Neo4j down, bad credentials, ...)."""


class GraphMissingError(BackendError):
    """The database holds no graph loaded by xpg."""


class GraphIncompleteError(GraphMissingError):
    """The last load into the database did not complete."""


class ReadOnlyError(BackendError):
    """A backend or session opened for reading was asked to write (load, store findings)."""


class LockHeldError(BackendError):
    """Another job holds the database's job lock (a load or a detection runs there):
    ``owner`` (``host:pid``) and ``since`` (when it took it) name the holder."""

    def __init__(self, *args: object, owner: str = "", since: object = None) -> None:
        super().__init__(*args)
        self.owner = owner
        self.since = since


class ConflictError(XpgError, RuntimeError):
    """A write was based on an older version of a record than the one stored (another
    writer changed it first): ``expected`` and ``found`` are the two versions. Read it
    again and retry the change if it still applies."""

    def __init__(self, *args: object, expected: int | None = None, found: int | None = None):
        super().__init__(*args)
        self.expected = expected
        self.found = found


class StateDamagedError(XpgError, ValueError):
    """A stored state (or a findings document) does not match its own manifest: a file
    missing, truncated, changed, or from another run. It is never answered from; ``path``
    is the state folder (or document) at fault."""

    def __init__(self, *args: object, path: object = None, argument: str | None = None
                 ) -> None:
        super().__init__(*args, argument=argument)
        self.path = path


class FindingsRefusedError(StateDamagedError):
    """A findings document given to be used as it is (``--findings``) that cannot be: it
    does not match its report's manifest, holds another run, repeats an id, or names users
    the data does not have. Never used; ``path`` is the document."""


class StorageError(XpgError, OSError):
    """The file system refused a read or write: no space left, no permission, a
    read-only file system. ``path`` names the file or folder; ``errno`` is the OS's;
    ``reason`` says what the file system said, in words."""

    def __init__(self, message: str, *, path: object = None, errno: int | None = None,
                 reason: str = "", argument: str | None = None) -> None:
        XpgError.__init__(self, message, argument=argument)
        self.path = None if path is None else str(path)
        self.errno = errno
        self.reason = reason or message

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "storage error"


class RunLockedError(XpgError, BlockingIOError):
    """Another run writes into the same output folder (its lock is held): ``owner``
    (``host:pid``), ``job`` and ``since`` name the holder."""

    def __init__(self, *args: object, owner: str = "", job: str = "", since: str = "") -> None:
        XpgError.__init__(self, *args)
        self.owner, self.job, self.since = owner, job, since

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "locked"


def first_line(error: BaseException) -> str:
    """The first line of ``error``'s message (its class's name when it has none): a
    library's error may carry a plan, a query or a stack trace after it.

    >>> first_line(ValueError("bad value\\n  in the plan: ..."))
    'bad value'
    >>> first_line(ValueError())
    'ValueError'
    """
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__
