"""`xpg report`: placeholder until its issue lands; replaced by the module's owner."""

from __future__ import annotations


def command() -> None:
    """Not built yet."""
    raise NotImplementedError("xpg report is not built yet")
