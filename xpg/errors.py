"""The exceptions xpg raises.

One root, :class:`XpgError`; each subclass also derives from the builtin it
refines, so callers that already catch ``ValueError`` or ``KeyError`` keep
working. Library code raises; only the CLI turns an error into a message and an
exit code (``exit_code`` below, documented in ``docs/cli.md``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl

__all__ = [
    "BackendError",
    "ConfigError",
    "InputError",
    "NotFoundError",
    "ValidationError",
    "XpgError",
]


class XpgError(Exception):
    """Root of every error xpg raises on purpose."""

    exit_code: int = 1


class ConfigError(XpgError, ValueError):
    """A setting is unknown, of the wrong type, or out of range."""

    exit_code = 2


class InputError(XpgError, ValueError):
    """The input data or a command's argument is unusable (missing folder, bad date, ...)."""

    exit_code = 2


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

    exit_code = 4

    def __str__(self) -> str:  # KeyError quotes its argument; keep the sentence readable
        return str(self.args[0]) if self.args else "not found"


class BackendError(XpgError, RuntimeError):
    """A storage backend failed or cannot be reached (Neo4j down, bad credentials, ...)."""

    exit_code = 3
