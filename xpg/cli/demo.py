"""`xpg demo`: placeholder until its issue lands; replaced by the module's owner."""

from __future__ import annotations


def command() -> None:
    """Not built yet."""
    raise NotImplementedError("xpg demo is not built yet")
