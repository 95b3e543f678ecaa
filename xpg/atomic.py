"""Writing a folder or a file whole or not at all.

:func:`staging` gives a temporary folder next to the target (same file system,
so the final rename is atomic); :func:`replace_directory` renames it into
place, moving an existing target aside first and removing it after. Readers
see either the old folder or the new one, never a half-written one.
:func:`write_text_atomic` does the same for one text file.

What these create gets the permissions any new folder or file gets (``0o777``
or ``0o666`` less the umask), not the owner-only ``0o700``/``0o600`` of
:func:`tempfile.mkdtemp`/:func:`tempfile.mkstemp`: a report or a dataset
written for a team is readable by it as if written in place.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

__all__ = ["replace_directory", "staging", "write_text_atomic"]

_T = TypeVar("_T")


def _next_to(target: Path, make: Callable[[Path], _T]) -> _T:
    """``make`` a new hidden sibling ``.<name>.<random>.tmp`` of ``target`` (exclusive create)."""
    for _ in range(100):
        try:
            return make(target.parent / f".{target.name}.{secrets.token_hex(4)}.tmp")
        except FileExistsError:
            continue
    raise FileExistsError(f"no free temporary name next to {target}")  # pragma: no cover


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


def _make_folder(path: Path) -> Path:
    path.mkdir(mode=0o777)  # the umask applies, as for any new folder
    return path


@contextmanager
def staging(target: Path) -> Iterator[Path]:
    """A temporary folder next to ``target``, renamed to ``target`` when the block succeeds.

    On an exception the temporary folder is removed and ``target`` is untouched.
    The folder gets the usual permissions of a new folder (``0o777`` less the umask).

    Examples
    --------
    >>> import pathlib, tempfile
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "result"
    >>> with staging(out) as tmp:
    ...     _ = (tmp / "a.txt").write_text("done")
    >>> (out / "a.txt").read_text()
    'done'
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _next_to(target, _make_folder)
    try:
        yield tmp
        replace_directory(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _open_new_file(path: Path) -> tuple[int, Path]:
    # 0o666: the umask applies, as for any new file (mkstemp would give 0o600)
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), path


def write_text_atomic(path: str | os.PathLike[str], text: str, *,
                      encoding: str = "utf-8") -> None:
    """Write ``text`` to ``path`` whole or not at all: a temporary file in the same
    folder, then :func:`os.replace` (an existing file is replaced in one step).

    The text is written as given (no newline added, ``\\n`` kept as is). The file
    gets the usual permissions of a new file (``0o666`` less the umask).

    Raises
    ------
    OSError
        The folder is missing or not writable, or ``path`` is a folder; nothing is
        left behind and an existing ``path`` is untouched.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "findings.txt"
    >>> write_text_atomic(out, "one finding\\n")
    >>> out.read_text()
    'one finding\\n'
    """
    path = Path(path)
    fd, tmp = _next_to(path, _open_new_file)
    try:
        with os.fdopen(fd, "w", encoding=encoding, newline="") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
