"""xpg: cross-product exposure graph analyzer for consumer-credit risk teams.

``xpg.open(data=DIR)`` returns a :class:`Session` with ``findings()``, ``user()``,
``ring()``, ``path()``, ``lender()`` and ``report()``: see ``docs/api.md``.
"""

from __future__ import annotations

import importlib.metadata

from xpg.api import Session, open, read_findings
from xpg.errors import (
    BackendError,
    ConfigError,
    InputError,
    NotFoundError,
    ValidationError,
    XpgError,
)
from xpg.queries.findings import Exposure, Finding, FindingsReport
from xpg.settings import Settings, load_settings


def _version() -> str:
    """The installed distribution's version (``pyproject.toml`` is the one place it is set);
    ``0+unknown`` when xpg runs from sources that were never installed."""
    try:
        return importlib.metadata.version("xpg")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


__version__ = _version()

__all__ = [
    "BackendError",
    "ConfigError",
    "Exposure",
    "Finding",
    "FindingsReport",
    "InputError",
    "NotFoundError",
    "Session",
    "Settings",
    "ValidationError",
    "XpgError",
    "__version__",
    "load_settings",
    "open",
    "read_findings",
]
