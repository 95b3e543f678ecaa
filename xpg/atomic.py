"""Writing a folder or a file whole or not at all.

:func:`staging` gives a temporary folder next to the target (same file system,
so the final rename is atomic); :func:`replace_directory` renames it into
place, moving an existing target aside first and removing it after. Readers
see either the old folder or the new one, never a half-written one.
:func:`write_text_atomic` does the same for one text file.

:func:`folder_lock` serializes the runs that write into one folder (a lock file with
its holder, the kernel's ``flock``: released when the holder dies however it dies), and
:func:`remove_debris` clears the temporary folders and files a killed run left there.
:func:`storage_error` turns the file system's refusals (no space, no permission) into
:class:`~xpg.errors.StorageError` naming the path.

What these create gets the permissions any new folder or file gets (``0o777``
or ``0o666`` less the umask), not the owner-only ``0o700``/``0o600`` of
:func:`tempfile.mkdtemp`/:func:`tempfile.mkstemp`: a report or a dataset
written for a team is readable by it as if written in place.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import errno as errno_
import fcntl
import json
import os
import re
import secrets
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from xpg.errors import InputError, RunLockedError, StorageError

__all__ = ["LOCK_FILE", "Holder", "folder_lock", "remove_debris", "replace_directory",
           "staging", "storage_error", "write_text_atomic"]

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

    On an exception the temporary folder is removed and ``target`` is untouched;
    the file system's refusals (no space, no permission) are raised as
    :class:`~xpg.errors.StorageError` naming ``target``.
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
    try:
        tmp = _next_to(target, _make_folder)
    except OSError as e:
        raise (storage_error(e, target.parent) or e) from e
    held = _hold(tmp)  # while this process lives, remove_debris(live=...) leaves it alone
    try:
        yield tmp
        replace_directory(tmp, target)
    except BaseException as e:
        shutil.rmtree(tmp, ignore_errors=True)
        error = storage_error(e, target) if isinstance(e, Exception) else None
        if error is not None and error is not e:
            raise error from e
        raise
    finally:
        if held is not None:
            os.close(held)


def _hold(folder: Path) -> int | None:
    """A shared ``flock`` on ``folder`` (its own descriptor), which the kernel releases when
    the process dies however it dies; None where the file system has no locks."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _staging_live(folder: Path) -> bool:
    """Whether a live :func:`staging` holds ``folder`` (or it cannot be told)."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return True  # no locks here: only the age can tell
    finally:
        os.close(fd)
    return False


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
        The folder is missing or not writable, or ``path`` is a folder
        (:class:`~xpg.errors.StorageError`, an ``OSError``, naming ``path`` for no space
        or no permission); nothing is left behind and an existing ``path`` is untouched.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "findings.txt"
    >>> write_text_atomic(out, "one finding\\n")
    >>> out.read_text()
    'one finding\\n'
    """
    path = Path(path)
    try:
        fd, tmp = _next_to(path, _open_new_file)
    except OSError as e:
        raise (storage_error(e, path) or e) from e
    try:
        with os.fdopen(fd, "w", encoding=encoding, newline="") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException as e:
        tmp.unlink(missing_ok=True)
        error = storage_error(e, path) if isinstance(e, Exception) else None
        if error is not None and error is not e:
            raise error from e
        raise


# -- the file system's refusals ------------------------------------------------------

_STORAGE = {
    errno_.ENOSPC: "no space left on the device",
    errno_.EDQUOT: "the disk quota is exceeded",
    errno_.EFBIG: "the file is too large for the file system",
    errno_.EACCES: "permission denied",
    errno_.EPERM: "operation not permitted",
    errno_.EROFS: "the file system is read-only",
}
_OS_ERROR = re.compile(r"\(os error (\d+)\)")


def storage_error(error: BaseException, path: str | os.PathLike[str] | None = None, *,
                  any_refusal: bool = False) -> StorageError | None:
    """``error`` as a :class:`~xpg.errors.StorageError` naming ``path`` (else the error's
    own file name) when the file system refused (no space, quota, permission, read-only;
    also Polars' and Arrow's "(os error 28)" messages); None for anything else.
    ``any_refusal``: any ``OSError`` with an ``errno`` is one too, its reason the OS's
    words (a folder gone mid-run, EIO, a pseudo file system: what the CLI says in one line
    rather than as a traceback).

    Examples
    --------
    >>> e = storage_error(OSError(28, "No space left on device", "/r/x.parquet"))
    >>> str(e), e.path
    ('/r/x.parquet: no space left on the device', '/r/x.parquet')
    >>> storage_error(ValueError("no")) is None
    True
    >>> e = OSError(2, "No such file or directory", "/proc/.x.tmp")
    >>> storage_error(e) is None, str(storage_error(e, any_refusal=True))
    (True, '/proc/.x.tmp: no such file or directory')
    """
    if isinstance(error, StorageError):
        return error
    code = getattr(error, "errno", None) if isinstance(error, OSError) else None
    if code is None:
        found = _OS_ERROR.search(str(error))
        code = int(found.group(1)) if found else None
    if code in _STORAGE:
        reason = _STORAGE[code]
    elif any_refusal and code is not None and isinstance(error, OSError):
        reason = (error.strerror or str(error)).lower()
    else:
        return None
    where = path if path is not None else getattr(error, "filename", None)
    text = reason if where is None else f"{where}: {reason}"
    return StorageError(text, path=where, errno=code, reason=reason)


# -- one run at a time per folder -----------------------------------------------------

LOCK_FILE = ".xpg.lock"
"""The lock file of a folder runs write into (there while a run holds it, or left by a
run that died holding it)."""


@dataclasses.dataclass(frozen=True)
class Holder:
    """Who holds (or held) a folder's lock: ``owner`` (``host:pid``), ``job``, ``since``
    (ISO time, UTC)."""

    owner: str
    job: str
    since: str

    @classmethod
    def read(cls, text: str) -> Holder | None:
        try:
            d = json.loads(text)
            return cls(str(d["owner"]), str(d.get("job", "")), str(d.get("since", "")))
        except (ValueError, KeyError, TypeError):
            return None


_held: dict[str, tuple[int, int]] = {}  # lock path -> (fd, depth): re-entered in one process
_held_guard = threading.Lock()


@contextmanager
def folder_lock(folder: str | os.PathLike[str], job: str, *, wait_s: float = 0.0,
                on_died: Callable[[Holder], None] | None = None) -> Iterator[Holder]:
    """Hold ``folder``'s lock for the block: one writing run at a time in a folder.

    The lock is ``folder/.xpg.lock`` under ``flock``: the kernel frees it when its
    holder ends, even killed, so a crashed run never blocks the next. The file holds
    the holder (``owner`` ``host:pid``, ``job``, ``since``) for the message of a run
    that finds it taken, and is removed when the block ends; a holder found in it by
    the next run never ended its block: it died (``on_died`` is called with it).
    Re-entering the lock in the same process (a command, then the API it calls) nests.

    Raises
    ------
    RunLockedError
        Another live run holds it (after waiting ``wait_s`` seconds for it).
    StorageError
        The folder cannot be made or the lock file written.
    """
    root = Path(folder)
    try:
        root.mkdir(parents=True, exist_ok=True)
        path = root / LOCK_FILE
        key = str(path.resolve())
    except OSError as e:
        raise (storage_error(e, root) or InputError(f"cannot make the folder {root}: {e}")) \
            from e
    with _held_guard:
        if key in _held:
            fd, depth = _held[key]
            _held[key] = (fd, depth + 1)
            nested = True
        else:
            nested = False
    if nested:
        try:
            yield _holder_of(fd)
        finally:
            with _held_guard:
                fd, depth = _held[key]
                _held[key] = (fd, depth - 1)
        return
    fd = _open_locked(path, wait_s)
    try:
        before = _holder_of(fd)
        me = Holder(f"{socket.gethostname()}:{os.getpid()}", job,
                    dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
        try:
            _write_holder(fd, json.dumps(dataclasses.asdict(me)))
        except OSError as e:
            with contextlib.suppress(OSError):  # held: nobody else can be using it
                path.unlink()
            raise (storage_error(e, path) or InputError(f"cannot write the lock {path}: {e}")) \
                from e
        if before is not None and on_died is not None:
            on_died(before)
        with _held_guard:
            _held[key] = (fd, 1)
        try:
            yield me
        finally:
            with _held_guard:
                del _held[key]
            # removed while held: a run waiting on this file finds it gone and retries
            with contextlib.suppress(OSError):
                path.unlink()
    finally:
        os.close(fd)  # frees the flock


def _open_locked(path: Path, wait_s: float) -> int:
    """The lock file ``path`` opened and ``flock``-ed (retried when the holder removed
    the file meanwhile: the lock must be on the file the path names)."""
    deadline = time.monotonic() + max(wait_s, 0.0)
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as e:
            raise (storage_error(e, path) or InputError(f"cannot open the lock {path}: {e}")) \
                from e
        try:
            _take(fd, path, max(deadline - time.monotonic(), 0.0), wait_s)
            try:
                same = os.fstat(fd).st_ino == os.stat(path).st_ino
            except FileNotFoundError:
                same = False
        except BaseException:
            os.close(fd)
            raise
        if same:
            return fd
        os.close(fd)


def _take(fd: int, path: Path, left_s: float, wait_s: float) -> None:
    deadline = time.monotonic() + left_s
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                holder = _holder_of(fd)
                who = (f"{holder.job or 'a run'} of {holder.owner}, since {holder.since}"
                       if holder else "another run")
                waited = f" (waited {wait_s:g} s)" if wait_s > 0 else ""
                raise RunLockedError(
                    f"{path.parent} is being written by {who}{waited}; its lock is {path}",
                    owner=holder.owner if holder else "", job=holder.job if holder else "",
                    since=holder.since if holder else "") from None
            time.sleep(min(0.2, max(deadline - time.monotonic(), 0.01)))


def _holder_of(fd: int) -> Holder | None:
    os.lseek(fd, 0, os.SEEK_SET)
    return Holder.read(os.read(fd, 4096).decode("utf-8", "replace"))


def _write_holder(fd: int, text: str) -> None:
    os.ftruncate(fd, 0)
    if text:
        os.pwrite(fd, text.encode("utf-8"), 0)


_DEBRIS = re.compile(r"^\..+\.(?:[0-9a-f]{8}\.tmp|[^.]+\.old)$")


def remove_debris(folder: str | os.PathLike[str], *, older_than: float,
                  live: float | None = None) -> list[Path]:
    """Remove what killed runs left in ``folder``: the hidden ``.<name>.<hex>.tmp``
    staging folders and files of :func:`staging`/:func:`write_text_atomic` and the
    ``.<name>.<random>.old`` folders :func:`replace_directory` moves aside, when last
    modified before ``older_than`` (a ``time.time()``; give the start of the earliest
    run that may still be writing there: the lock holder's own start under
    :func:`folder_lock`). Returns what was removed; what cannot be removed is left.

    ``live``: where no folder lock serializes the writers (the stored states under
    ``state.dir``), a ``.tmp`` staging folder last modified before ``live`` is removed
    whatever ``older_than`` says unless a live :func:`staging` still holds it (its
    ``flock`` dies with its process); ``live`` only spares one just made, not yet locked.
    """
    removed = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return removed
    for entry in entries:
        if not _DEBRIS.match(entry.name):
            continue
        try:
            mtime = entry.lstat().st_mtime
            if (live is not None and mtime < live and entry.name.endswith(".tmp")
                    and entry.is_dir() and not entry.is_symlink()):
                if _staging_live(entry):
                    continue
            elif mtime >= older_than:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        except OSError:
            continue
        removed.append(entry)
    return removed
