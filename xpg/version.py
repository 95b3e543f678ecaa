"""The distribution xpg is installed as, and its version (``xpg.__version__``).

Part of the foundation: it imports nothing of xpg, so that any layer can name the
version (the report, the service) without importing the package root.
"""

from __future__ import annotations

__all__ = ["DISTRIBUTION", "installed_version"]

DISTRIBUTION = "xpg-exposure"
"""The name xpg is installed under (``pip install xpg-exposure``): ``xpg`` on the public
package index is an unrelated project. The import name and the command are ``xpg``."""


def installed_version() -> str:
    """The installed distribution's version (``pyproject.toml`` is the one place it is set);
    ``0+unknown`` when xpg runs from sources that were never installed."""
    import importlib.metadata

    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"
