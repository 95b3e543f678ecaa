"""How the command line shows a library error: its exit code and a hint naming the flags.

The library (:mod:`xpg.errors`) says what is wrong in its own terms; this one table
adds what the person at the terminal can do about it. The exit codes are those of
``docs/cli.md``.

Examples
--------
>>> from xpg.errors import RunDateUnknownError, InputError, TargetExistsError
>>> exit_code(RunDateUnknownError("no dates")), exit_code(KeyError("a bug"))
(2, 1)
>>> message(RunDateUnknownError("cannot infer the run date: the data has no dates"))
'cannot infer the run date: the data has no dates; give --as-of'
>>> message(TargetExistsError("out demo: folder exists and is not empty", argument="out",
...                           replace_with="force"))
'--out demo: folder exists and is not empty; pass --force to replace it'
>>> message(InputError("users 5: at least 40 users are needed", argument="users"))
'--users 5: at least 40 users are needed'
"""

from __future__ import annotations

from typing import NamedTuple

from xpg.errors import (
    BackendError,
    ConfigError,
    ConflictError,
    FindingsRefusedError,
    GraphIncompleteError,
    GraphMissingError,
    GraphSourceError,
    InputError,
    LockHeldError,
    NoFindingsError,
    NotFoundError,
    ReadOnlyError,
    RunDateUnknownError,
    RunLockedError,
    StateDamagedError,
    StorageError,
    TargetExistsError,
    XpgError,
)

__all__ = ["ERRORS", "FLAGS", "exit_code", "message"]


class _Entry(NamedTuple):
    code: int
    hint: str | None = None  # ``{flag}``: the flag of the error's ``replace_with``


# Most specific first: the first class an error is an instance of decides.
ERRORS: dict[type[BaseException], _Entry] = {
    RunDateUnknownError: _Entry(2, "give --as-of"),
    TargetExistsError: _Entry(2, "pass {flag} to replace it"),
    GraphSourceError: _Entry(2, "the database is the source: write it with `xpg load "
                                "--data DIR --backend neo4j`, then run this command without "
                                "--data"),
    FindingsRefusedError: _Entry(9, "they are never used: give the findings of this data's "
                                    "run (its report folder), or leave out --findings to "
                                    "detect from the data"),
    StateDamagedError: _Entry(9, "it is never used: give --data DIR to answer from the data, "
                                 "and write the state again (`xpg state build`, or the next "
                                 "`xpg detect`/`xpg report`)"),
    ConfigError: _Entry(2),
    InputError: _Entry(2),
    NotFoundError: _Entry(4),
    NoFindingsError: _Entry(3, "run `xpg detect --backend neo4j` first"),
    GraphIncompleteError: _Entry(3, "run `xpg load --backend neo4j` again"),
    GraphMissingError: _Entry(3, "run `xpg load --backend neo4j` first"),
    LockHeldError: _Entry(3, "try again when it has ended (neo4j.lock_wait_s makes xpg wait); "
                             "a crashed holder's lock is taken over once it is "
                             "neo4j.lock_stale_s seconds old"),
    ReadOnlyError: _Entry(3, "xpg query and xpg serve only read: load with `xpg load "
                             "--backend neo4j` first, then leave out --data"),
    ConflictError: _Entry(7, "run `xpg case show` and retry if the change still applies"),
    BackendError: _Entry(3),
    RunLockedError: _Entry(3, "wait for it to end (--wait SECONDS waits); a run that died "
                              "frees the lock with its process"),
    StorageError: _Entry(8, "free space or fix the permissions there, then run again"),
    XpgError: _Entry(1),
}

# library parameter -> the flag that sets it
FLAGS = {
    "as_of": "--as-of",
    "data": "--data",
    "export": "--export",
    "fmt": "--format",
    "force": "--force",
    "mixing": "--mixing",
    "out": "--out",
    "overwrite": "--overwrite",
    "quarantine": "--quarantine",
    "reports": "--reports",
    "outcome": "--outcome",
    "note": "--note",
    "until": "--until",
    "by": "--by",
    "assignee": "--assignee",
    "expected_version": "--expected-version",
    "shape": "--shape",
    "state": "--state",
    "users": "--users",
    # xpg screen: an applicant's fields
    "device_id": "--device",
    "phone": "--phone",
    "bank_card": "--bank-card",
    "id_number": "--id-number",
    "email": "--email",
    "ip": "--ip",
    "address": "--address",
    "user_id": "--user-id",
}


def _entry(error: BaseException) -> _Entry:
    return next((e for cls, e in ERRORS.items() if isinstance(error, cls)), _Entry(1))


def exit_code(error: BaseException) -> int:
    """The process exit code for ``error`` (1, a bug, for anything not an xpg error)."""
    return _entry(error).code


def message(error: XpgError) -> str:
    """``error`` as the command line says it: the parameter named by its flag, plus the hint."""
    text = str(error)
    argument = error.argument
    if argument in FLAGS and text.startswith(argument) and text[len(argument):][:1] in " :":
        text = FLAGS[argument] + text[len(argument):]
    hint = _entry(error).hint
    if hint is not None:
        flag = FLAGS.get(getattr(error, "replace_with", ""), "")
        text = f"{text}; {hint.format(flag=flag)}"
    return text
