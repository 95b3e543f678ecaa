"""xpg: cross-product exposure graph analyzer for consumer-credit risk teams.

``xpg.open(data=DIR)`` returns a :class:`Session` with ``findings()``, ``user()``,
``ring()``, ``path()``, ``lender()`` and ``report()``: see ``docs/api.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from xpg.errors import (
    BackendError,
    ConfigError,
    InputError,
    NotFoundError,
    ValidationError,
    XpgError,
)
from xpg.queries import rules as _rules  # noqa: F401  (the [detection] sections: the registry's)
from xpg.queries.findings import Exposure, Finding, FindingsReport
from xpg.settings import Settings, load_settings
from xpg.version import DISTRIBUTION, installed_version

if TYPE_CHECKING:
    from xpg.api import Session, open, read_findings


_API = ("Session", "open", "read_findings")


def __getattr__(name: str) -> Any:
    """The session API (:mod:`xpg.api`) and ``__version__``, imported on first use: a
    command line that needs neither does not pay for them."""
    if name in _API:
        from xpg import api

        value = getattr(api, name)
    elif name == "__version__":
        value = installed_version()
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value

__all__ = [
    "DISTRIBUTION",
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
