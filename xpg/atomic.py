"""Writing a folder whole or not at all.

:func:`staging` gives a temporary folder next to the target (same file system,
so the final rename is atomic); :func:`replace_directory` renames it into
place, moving an existing target aside first and removing it after. Readers
see either the old folder or the new one, never a half-written one.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["replace_directory", "staging"]


def replace_directory(tmp: Path, target: Path) -> None:
    """Rename the folder ``tmp`` to ``target``, replacing ``target`` if it exists."""
    if not target.exists():
        tmp.rename(target)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
    old.rmdir()
    target.rename(old)
    try:
        tmp.rename(target)
    except BaseException:
        old.rename(target)
        raise
    shutil.rmtree(old, ignore_errors=True)


@contextmanager
def staging(target: Path) -> Iterator[Path]:
    """A temporary folder next to ``target``, renamed to ``target`` when the block succeeds.

    On an exception the temporary folder is removed and ``target`` is untouched.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "result"
    >>> with staging(out) as tmp:
    ...     _ = (tmp / "a.txt").write_text("done")
    >>> (out / "a.txt").read_text()
    'done'
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield tmp
        replace_directory(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
