"""The stored state of a run: what the investigations read, as Parquet, for cold queries.

A cold ``xpg query user`` would otherwise load, validate, build and detect
everything before answering. :func:`write_state` keeps, in one folder, the
sorted lookup tables :class:`~xpg.queries.investigate.sources.MemorySource`
builds (accounts, links by user and by node, loans by user and by lender,
applications, lenders, users) and the findings (one row per finding, one row
per flagged user), each sorted by its lookup key in small row groups so that a
lazy scan filtered on the key (Polars predicate pushdown over the row-group
statistics) reads a few row groups only.
:class:`~xpg.queries.investigate.state_source.StateSource` answers from them.

The state is only valid for the data and settings it was built from:
``manifest.json`` records the fingerprint of the input files (name, size and
modification time of each ``.csv``/``.parquet`` table file), of the settings
(:func:`xpg.settings.config_key` of the load and detection sections), of the
findings file when the findings were read from one, and the run date.
:meth:`State.unusable` says why a state does not fit a query (``None`` when it
does): the caller then takes the full path and says so.

**Integrity.** The manifest also lists every file of the folder with its size and
checksum (``files``, :data:`CHECKSUM`) and the run date it holds (``as_of``).
:meth:`State.open` checks
that every listed file is there with its size (one ``stat`` each: a deleted or
truncated file is caught before anything is read) and that no other table file lies
beside them; the content of a file is hashed the first time a query reads it
(:meth:`State.checked`), so a flipped byte or another night's file of the same size
is caught before its rows are used. Either raises
:class:`~xpg.errors.StateDamagedError`: the state is never answered from.

**Where it lives.** ``xpg detect`` and ``xpg report`` write it by default to a cache
folder keyed by the data folder and the settings (:func:`default_location`:
``<state.dir>/<key>``, ``state.dir`` defaulting to ``~/.cache/xpg/state``); ``xpg
query``/``xpg serve`` with ``--data DIR`` look there first. At most ``state.keep``
states are kept (the least recently written go first).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import xxhash

from xpg.errors import InputError, StateDamagedError
from xpg.settings import Settings, config_key

if TYPE_CHECKING:
    from xpg.queries.findings import FindingsReport
    from xpg.queries.investigate.sources import MemorySource

__all__ = [
    "CHECKSUM",
    "KEYS",
    "NIGHTLY",
    "SEAL",
    "SHARED_NODES",
    "STATE_VERSION",
    "State",
    "data_key",
    "default_location",
    "file_checksum",
    "file_checksums",
    "files_fingerprint",
    "local_folder",
    "prune_states",
    "sealed",
    "settings_fingerprint",
    "shared_nodes",
    "write_state",
]

STATE_VERSION = 5  # 3: XXH3 checksums, shared_nodes; 4: account events; 5: sealed
"""Bumped whenever the layout of a state folder changes (an older state is then unused)."""

MANIFEST = "manifest.json"
NIGHTLY = "nightly"
"""The subfolder of a state that holds the nightly incremental run's part
(:mod:`xpg.graph.nightly.state`: Arrow tables under a manifest and checksums of their own)."""
ROW_GROUP = 2_048
"""Rows per Parquet row group: a key lookup reads about one group per asked key (the
row-group statistics prune the others), so a small group reads little: a group query
asking 20 users' links, nodes, accounts and loans at 1,000,000 users takes about half the
CPU with groups of 2,048 rows that it takes with groups of 16,384."""

COMPRESSION = "lz4"
"""The state's Parquet codec: a cache rewritten on every run, so written and read fast. At
200,000 users against zstd: half the CPU to write (1.28 against 2.52 s) and to read back
(0.32 against 0.68 s), 1.55x the bytes on disk (113 against 73 MB); measured with the
tables of one state in row groups of 16,384 rows, 2026-12-07."""

PART_ROWS = 16 * ROW_GROUP
"""Rows per part of a large table: the integrity check of a lookup hashes the parts
holding the asked keys (under 1 MB each), not the whole table."""

#: the lookup key of each state table
KEYS = {
    "users": "user_id", "accounts": "user_id", "links_by_user": "user_id",
    "links_by_node": "node", "loans_by_user": "user_id", "loans_by_lender": "lender_id",
    "apps_by_user": "user_id", "lenders": "lender_id", "events_by_user": "user_id",
}

#: state table -> (MemorySource sorted table attribute, its sort key)
TABLES: dict[str, str] = {
    "users": "_users",
    "accounts": "_accounts",
    "links_by_user": "_links_by_user",
    "links_by_node": "_links_by_node",
    "loans_by_user": "_loans_by_user",
    "loans_by_lender": "_loans_by_lender",
    "apps_by_user": "_apps_by_user",
    "lenders": "_lenders",
    "events_by_user": "_events_by_user",
}

_TABLE_SUFFIXES = (".csv", ".parquet")


def local_folder(data: str | os.PathLike[str]) -> Path | None:
    """The local folder ``data`` names: a path, or a ``file://`` URI; None for a URI of
    another scheme (object storage, HDFS: this machine cannot list it without Spark).

    >>> local_folder("file:///srv/x"), local_folder("data"), local_folder("s3a://b/x")
    (PosixPath('/srv/x'), PosixPath('data'), None)
    """
    text = os.fspath(data)
    if "://" not in text:
        return Path(text)
    from urllib.parse import unquote, urlparse

    parsed = urlparse(text)
    return Path(unquote(parsed.path)) if parsed.scheme == "file" else None


def data_key(data: str | os.PathLike[str]) -> str:
    """How a state records its data: a local folder's absolute path, else the URI."""
    local = local_folder(data)
    return str(local.resolve()) if local is not None and "://" not in os.fspath(data) \
        else os.fspath(data)


def files_fingerprint(data: str | os.PathLike[str]) -> dict[str, list[int]]:
    """``{file name: [size, mtime_ns]}`` of the table files (``.csv``, ``.parquet``, not
    hidden) of a data folder (a path or a ``file://`` URI; a folder of part files, as
    Spark writes a table, counts with its parts): any file added, removed, rewritten or
    touched changes it. Empty for a URI this machine cannot list (:func:`local_folder`).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "users.csv").write_text("user_id\\n")
    >>> list(files_fingerprint(d))
    ['users.csv']
    """
    out: dict[str, list[int]] = {}
    folder = local_folder(data)
    if folder is None:
        return out
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if entry.name.startswith(".") or not entry.name.lower().endswith(_TABLE_SUFFIXES):
            continue
        if entry.is_file():
            st = entry.stat()
            out[entry.name] = [st.st_size, st.st_mtime_ns]
        elif entry.is_dir():  # <table>.parquet as a folder of parts
            for part in sorted(Path(entry.path).rglob("*")):
                if part.is_file() and not part.name.startswith((".", "_")):
                    st = part.stat()
                    out[part.relative_to(folder).as_posix()] = [st.st_size, st.st_mtime_ns]
    return out


def settings_fingerprint(settings: Settings) -> str:
    """A short hash of the settings that shape the tables and the findings (the ``load``
    and ``detection`` sections; not the backend or its connection).

    Examples
    --------
    >>> settings_fingerprint(Settings()) == settings_fingerprint(Settings())
    True
    """
    text = config_key(settings.load) + "\n" + config_key(settings.detection)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


CHECKSUM = "xxh3_128"
"""The manifest's key for a file's checksum: XXH3 (128 bits) of its bytes, a checksum
made to catch damage (a flipped byte, a truncated or swapped file) at memory speed; a
cold query checks every part it reads, so SHA-256 (about 1 GB/s here) cost it 0.1 s."""


def checksum(data: bytes | memoryview) -> str:
    """The :data:`CHECKSUM` of ``data``, in hex.

    >>> checksum(b"abc")
    '06b05ab6733a618578af5f94892f3950'
    """
    return xxhash.xxh3_128_hexdigest(data)


def file_checksum(path: str | os.PathLike[str]) -> str:
    """:func:`checksum` of a file's bytes.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x"
    >>> _ = p.write_bytes(b"abc")
    >>> file_checksum(p) == checksum(b"abc")
    True
    """
    import mmap

    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size == 0:
            return checksum(b"")
        # mapped, not read: the page cache's bytes are hashed where they lie (no copy)
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            return checksum(mapped)


SEAL = "manifest_checksum"
"""The manifest's key for the checksum of the rest of the manifest (its canonical JSON):
a flipped byte in a date, a part's key range or a file's entry is damage like any other."""


def _canonical(manifest: Mapping[str, Any]) -> bytes:
    body = {k: v for k, v in manifest.items() if k != SEAL}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str).encode()


def sealed(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """``manifest`` (as its JSON will read back) with its :data:`SEAL`.

    >>> m = sealed({"version": 1, "as_of": "2026-11-20"})
    >>> m[SEAL] == checksum(_canonical(m))
    True
    """
    body = json.loads(json.dumps({k: v for k, v in manifest.items() if k != SEAL},
                                 default=str))
    return {**body, SEAL: checksum(_canonical(body))}


def _damaged_manifest(manifest: Mapping[str, Any]) -> str | None:
    """What is wrong with a manifest of this layout (None: nothing): its seal, or a field
    of another shape than :func:`write_state` writes (each would otherwise fail later as
    a traceback, or answer for the wrong date or keys)."""
    if manifest.get(SEAL) != checksum(_canonical(manifest)):
        return "does not match its own checksum (edited or damaged)"
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        return "lists no files"
    for name, entry in files.items():
        if not (isinstance(entry, dict) and type(entry.get("bytes")) is int
                and isinstance(entry.get(CHECKSUM), str)):
            return f"has an entry for {name} without its size and checksum"
    for key, required in (("as_of", True), ("default_as_of", False)):
        value = manifest.get(key)
        if value is None and not required:
            continue
        try:
            dt.date.fromisoformat(value)
        except (TypeError, ValueError):
            return f"has {key} {value!r}, not a date"
    parts = manifest.get("parts")
    if not isinstance(parts, dict):
        return "has no parts"
    for table, listed in parts.items():
        if not (isinstance(listed, list) and listed and all(
                isinstance(p, list) and len(p) == 3 and p[0] in files for p in listed)):
            return f"has parts of {table} that are not its files"
    return None


def file_checksums(folder: str | os.PathLike[str], skip: tuple[str, ...] = (MANIFEST,),
                   hashes: Mapping[Path, dict[str, Any]] | None = None,
                   ) -> dict[str, dict[str, Any]]:
    """``{name: {"bytes": size, CHECKSUM: hex}}`` of every file of ``folder`` (its
    manifest left out): what a manifest lists so that a state cannot lie. ``hashes``:
    those already taken (by path, as :func:`_write_parquet` notes them while writing);
    the other files are read and hashed."""
    root = Path(folder)
    known = hashes or {}
    return {p.relative_to(root).as_posix(): known.get(p) or {"bytes": p.stat().st_size,
                                                             CHECKSUM: file_checksum(p)}
            for p in sorted(root.rglob("*"))
            if p.is_file() and p.name not in skip and p.relative_to(root).parts[0] not in
            (NIGHTLY,)}


def default_location(data: str | os.PathLike[str], settings: Settings) -> Path:
    """The state folder of the data folder ``data`` under ``settings``: ``state.dir``
    (default ``~/.cache/xpg/state``) / a key of the data folder's absolute path and the
    settings' fingerprint, so each data folder and settings have their own.

    >>> s = Settings()
    >>> default_location("a", s) == default_location("./a", s) != default_location("b", s)
    True
    """
    root = Path(settings.state.dir).expanduser() if settings.state.dir else (
        Path.home() / ".cache" / "xpg" / "state")
    where = data_key(data)
    key = hashlib.sha256(f"{where}\n{settings_fingerprint(settings)}".encode()).hexdigest()
    return root / f"{Path(where.rstrip('/')).name[:40] or 'data'}-{key[:20]}"


def prune_states(root: str | os.PathLike[str], keep: int) -> list[Path]:
    """Remove all but the ``keep`` most recently written state folders under ``root``
    (those holding a state manifest), and the staging folders of killed writers (those no
    live writer holds, a minute old: :func:`xpg.atomic.remove_debris`); the removed ones."""
    import shutil
    import time

    from xpg.atomic import remove_debris

    folder = Path(root)
    if not folder.is_dir():
        return []
    now = time.time()
    remove_debris(folder, older_than=now - 86_400, live=now - 60)
    found = [p for p in folder.iterdir() if (p / MANIFEST).is_file()]
    found.sort(key=lambda p: (p / MANIFEST).stat().st_mtime_ns, reverse=True)
    gone = found[max(keep, 0):]
    for p in gone:
        shutil.rmtree(p, ignore_errors=True)
    return gone


def _file_key(path: str | os.PathLike[str] | None) -> list[Any] | None:
    """Where findings were read from: the findings file's absolute path, size, mtime."""
    if path is None:
        return None
    p = Path(path)
    if p.is_dir():
        p = p / "findings.json"
    try:
        st = p.stat()
    except OSError:
        return [str(p.resolve()), None, None]
    return [str(p.resolve()), st.st_size, st.st_mtime_ns]


def _file_sizes(folder: Path) -> dict[str, int]:
    """Every file under ``folder`` (its path relative to it, with ``/``) -> its size, one
    ``scandir`` per folder (a state has hundreds of files: ``Path.rglob`` and a ``stat``
    each cost a cold query about 20 ms)."""
    sizes: dict[str, int] = {}
    todo = [(str(folder), "")]
    while todo:
        where, prefix = todo.pop()
        with os.scandir(where) as entries:
            for e in entries:
                if e.is_dir(follow_symlinks=False):
                    todo.append((e.path, f"{prefix}{e.name}/"))
                elif e.is_file():
                    sizes[f"{prefix}{e.name}"] = e.stat().st_size
    return sizes


@dataclass(frozen=True)
class State:
    """A state folder written by :func:`write_state`: its manifest read and every file's
    size checked; a file's content is hashed when it is first read (:meth:`checked`)."""

    path: Path
    manifest: Mapping[str, Any]
    _verified: set[str] = field(default_factory=set, compare=False, repr=False)

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> State:
        """Read the manifest of a state folder and check that it holds exactly the files
        it lists, each of its size.

        Raises
        ------
        InputError
            No state there (no ``manifest.json``).
        StateDamagedError
            An unreadable manifest, a file missing, of another size, or not listed.
        """
        p = Path(path)
        if not (p / MANIFEST).is_file():
            raise InputError(f"state: no xpg state in {p} (no {MANIFEST})", argument="state")
        try:
            manifest = json.loads((p / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise StateDamagedError(f"state: {p / MANIFEST} is unreadable ({e})",
                                    path=p) from e
        if not isinstance(manifest, dict):
            raise StateDamagedError(f"state: {p / MANIFEST} is not a state manifest", path=p)
        state = cls(p, manifest)
        if manifest.get("version") == STATE_VERSION:
            why = _damaged_manifest(manifest)
            if why:
                raise StateDamagedError(f"state: {p / MANIFEST} {why}", path=p)
            state.check_sizes()
        return state

    def check_sizes(self) -> None:
        """Every file the manifest lists is there with its size, and no other table file.

        Raises
        ------
        StateDamagedError
            Says which file and how.
        """
        files = self.manifest.get("files")
        if not isinstance(files, dict) or not files:
            raise StateDamagedError(f"state: {self.path / MANIFEST} lists no files", path=self.path)
        present = _file_sizes(self.path)
        for name, entry in files.items():
            size = present.get(name)
            if size is None:
                raise StateDamagedError(f"state: {self.path / name} is missing", path=self.path)
            if size != entry.get("bytes"):
                raise StateDamagedError(
                    f"state: {self.path / name} is {size:,} bytes, its manifest says "
                    f"{entry.get('bytes'):,} (truncated or replaced)", path=self.path)
        extra = sorted(rel for rel in present
                       if rel not in files and rel != MANIFEST
                       and not rel.startswith(f"{NIGHTLY}/")
                       and rel.endswith((".parquet", ".arrow", ".json")))
        if extra:
            raise StateDamagedError(f"state: {self.path} holds files its manifest does not "
                                    f"list: {', '.join(extra)}", path=self.path)

    def checked(self, name: str) -> Path:
        """The path of the state file ``name``, its content checked against the manifest's
        checksum the first time it is asked for in this process.

        Raises
        ------
        StateDamagedError
            The file is missing, unlisted, or its content differs.
        """
        path = self.path / name
        if name in self._verified:
            return path
        entry = (self.manifest.get("files") or {}).get(name)
        if entry is None:
            raise StateDamagedError(f"state: {path} is not in its manifest", path=self.path)
        try:
            digest = file_checksum(path)
        except OSError as e:
            raise StateDamagedError(f"state: {path} cannot be read ({e.strerror})",
                                    path=self.path) from e
        if digest != entry.get(CHECKSUM):
            raise StateDamagedError(
                f"state: {path} does not match its manifest's checksum (damaged, or a file "
                f"of another run)", path=self.path)
        self._verified.add(name)
        return path

    def verify(self) -> None:
        """Hash every file now (what ``xpg state verify`` does)."""
        self.check_sizes()
        for name in self.manifest.get("files", {}):
            self.checked(name)

    @property
    def as_of(self) -> dt.date:
        return dt.date.fromisoformat(self.manifest["as_of"])

    @property
    def data_dir(self) -> Path | str:
        """The data folder the state was built from (a URI as written when it was one)."""
        text = self.manifest["data_dir"]
        return text if "://" in text else Path(text)

    def table(self, name: str) -> Path:
        """The Parquet file of table ``name``, its content checked (:meth:`checked`)."""
        return self.checked(f"{name}.parquet")

    def parts(self, name: str, values: list[Any] | None = None) -> list[Path]:
        """The files of table ``name`` (one, or its parts, in key order) that may hold the
        keys ``values`` (all of them when None), each checked (:meth:`checked`); at least
        one, so that a scan has the table's columns."""
        listed = (self.manifest.get("parts") or {}).get(name)
        if not listed:
            return [self.table(name)]
        if values is not None and len(listed) > 1:
            keep = [f for f, lo, hi in listed if any(lo <= v <= hi for v in values)]
            files = keep or [listed[0][0]]
        else:
            files = [f for f, _, _ in listed]
        return [self.checked(f) for f in files]

    def unusable(
        self,
        *,
        data: str | os.PathLike[str] | None,
        settings: Settings,
        findings: str | os.PathLike[str] | None = None,
        as_of: dt.date | None = None,
    ) -> str | None:
        """Why this state cannot answer for ``data`` (default: the folder it was built
        from), ``settings``, ``findings`` and ``as_of``; ``None`` when it can."""
        m = self.manifest
        if m.get("version") != STATE_VERSION:
            return f"it has layout version {m.get('version')!r}, this xpg reads {STATE_VERSION}"
        given = data if data is not None else self.data_dir
        folder = local_folder(given)
        if folder is None:  # object storage or HDFS: not listable without Spark
            if data_key(given) != m.get("data_dir"):
                return f"it was built from {m.get('data_dir')}, not {given}"
        elif not folder.is_dir():
            return f"its data folder {given} is not there"
        now = files_fingerprint(given) if folder is not None else m.get("data_files", {})
        then = m.get("data_files", {})
        if now != then:
            changed = sorted(k for k in now.keys() & then.keys() if now[k] != then[k])
            added, gone = sorted(now.keys() - then.keys()), sorted(then.keys() - now.keys())
            parts = [f"{what} {', '.join(names)}" for what, names in
                     (("changed", changed), ("added", added), ("removed", gone)) if names]
            return f"the input files differ from those it was built from ({'; '.join(parts)})"
        if m.get("settings") != settings_fingerprint(settings):
            return "the load or detection settings differ from those it was built with"
        if _file_key(findings) != m.get("findings_file"):
            if findings is None:
                return "it holds the findings of a report; give that report with --findings"
            return f"it was not built from the findings in {findings}"
        # the full path's default run date: the findings' date, else the data's latest
        if as_of is None and findings is None and m.get("default_as_of") is None:
            return "the data has no dates, so the run date must be given"
        wanted = as_of or (self.as_of if findings is not None
                           else dt.date.fromisoformat(m["default_as_of"]))
        if wanted != self.as_of:
            return f"it holds the run of {self.as_of}, not of {wanted}"
        return None

    def describe(self) -> str:
        return (f"{self.path} (run of {self.as_of}, built {self.manifest.get('created_at')} "
                f"from {self.data_dir})")


def write_state(
    source: MemorySource,
    report: FindingsReport,
    out: str | os.PathLike[str],
    *,
    data: str | os.PathLike[str],
    settings: Settings,
    default_as_of: dt.date | None,
    findings_file: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    carry: tuple[str, ...] = (NIGHTLY,),
    release: bool = False,
) -> State:
    """Write the state folder ``out`` (atomically) from a session's in-memory source and
    findings.

    Parameters
    ----------
    source
        The in-memory source over the loaded tables (its sorted tables are written).
    report
        The findings the state answers with (their run date is the state's).
    data
        The data folder the tables were loaded from (fingerprinted).
    settings
        The settings in force (fingerprinted).
    default_as_of
        The data's default run date (the latest date in it; None when it has no dates:
        the state then answers only a run date given).
    findings_file
        The findings file or report folder ``report`` was read from, if any.
    overwrite
        Replace an existing folder.
    carry
        Subfolders of an existing ``out`` moved into the new one (the nightly run's
        part, :data:`NIGHTLY`, which has a manifest and checksums of its own).
    release
        Free each of the source's sorted tables once it is written and no table still
        to write is sorted from it
        (:meth:`~xpg.queries.investigate.sources.MemorySource.forget`), so that they are
        not all held at once; a later lookup on ``source`` builds them again. For a run
        that ends with the state.

    Raises
    ------
    InputError
        ``out`` exists and ``overwrite`` is false.
    """
    import polars as pl

    from xpg.atomic import staging

    target = Path(out)
    if target.exists() and not overwrite:
        raise InputError(f"state: {target} already exists", argument="out")
    fingerprint = files_fingerprint(data)
    with staging(target) as tmp:
        hashes: dict[Path, dict[str, Any]] = {}  # each file's, taken as it is written
        parts: dict[str, list[list[Any]]] = {}
        # first: without the link graph, the groups are computed from the link rows
        groups = _group_frames(source, settings, report.as_of)
        for name, attr in TABLES.items():
            frame = getattr(source, attr).frame
            parts[name] = _write_parts(frame, tmp, name, KEYS[name], hashes)
            if name == "links_by_node":
                # one file (1.6 MB at 1,000,000 users): a lookup's nodes lie all over it
                _write_parquet(shared_nodes(frame, report.as_of),
                               tmp / f"{SHARED_NODES}.parquet", hashes)
                parts[SHARED_NODES] = [[f"{SHARED_NODES}.parquet", None, None]]
            del frame
            if release:
                source.forget(*_released_after(attr))
        parts["groups_by_user"] = _write_parts(groups, tmp, "groups_by_user", "user_id",
                                               hashes)
        # in user order already: a stable sort on the group orders by group, user
        parts["groups"] = _write_parts(groups.sort("group", maintain_order=True), tmp,
                                       "groups", "group", hashes)
        del groups
        found, members = _findings_frames(report)
        _write_parquet(found, tmp / "findings.parquet", hashes)
        _write_parquet(members, tmp / "finding_users.parquet", hashes)
        manifest = {
            "version": STATE_VERSION,
            "files": file_checksums(tmp, hashes=hashes),
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "as_of": report.as_of.isoformat(),
            "default_as_of": None if default_as_of is None else default_as_of.isoformat(),
            "data_dir": data_key(data),
            "data_files": fingerprint,
            "settings": settings_fingerprint(settings),
            "parts": parts,
            "findings_file": _file_key(findings_file),
            "groups": _group_key(settings, report.as_of),
            "report": report.head(),
            "findings": found.height,
            "polars": pl.__version__,
        }
        (tmp / MANIFEST).write_text(json.dumps(sealed(manifest), indent=2) + "\n",
                                    encoding="utf-8")
        for sub in carry:  # last: nothing can fail between this and the rename
            if (target / sub).is_dir():
                (target / sub).rename(tmp / sub)
    return State.open(target)


_DERIVED_FROM = {"_links_by_node": "_links_by_user", "_loans_by_lender": "_loans_by_user"}
"""The source's sorted tables sorted from another one, not from the data."""


def _released_after(attr: str) -> tuple[str, ...]:
    """The sorted tables of the source that no table still to write (after ``attr``, in
    :data:`TABLES` order) needs once ``attr`` is written: ``attr`` and the table it is
    sorted from (:data:`_DERIVED_FROM`), unless a later table is sorted from them.

    >>> _released_after("_links_by_user"), _released_after("_links_by_node")
    ((), ('_links_by_node', '_links_by_user'))
    """
    order = list(TABLES.values())
    needed = {_DERIVED_FROM.get(t) for t in order[order.index(attr) + 1:]}
    return tuple(t for t in (attr, _DERIVED_FROM.get(attr)) if t is not None and t not in needed)


SHARED_NODES = "shared_nodes"
"""The state table of the nodes (devices, identifiers) that two or more users share as of
the state's run date, with their users (``node``, ``users``, sorted by ``node``): a
node a user looked up has one user (that user) unless it is here, so a group's hub
check reads this small table (about 4 % of the nodes at 1,000,000 users) and no part of
``links_by_node`` (a 20-user group's nodes lie in 63 of them)."""


def shared_nodes(by_node: Any, as_of: dt.date) -> Any:
    """``node``, ``users`` of the nodes of ``by_node`` (link rows sorted by ``node``)
    with two or more rows seen by ``as_of`` (``first_seen`` null or on or before it), as
    :meth:`~xpg.queries.investigate.sources.MemorySource.link_degrees` counts them. Only
    the rows of runs of one node longer than one are grouped (a node of one row is
    nobody's shared node): 0.3 CPU s and 70 MB over the 5.6 million link rows of
    1,000,000 users, against 2.4 s and 1.2 GB for a count over every node.

    >>> import polars as pl, datetime as dt
    >>> rows = pl.DataFrame({"node": ["a", "a", "b", "c", "c", "c"], "first_seen": [
    ...     dt.datetime(2026, 1, 1), None, None, None, dt.datetime(2026, 3, 1), None]})
    >>> shared_nodes(rows, dt.date(2026, 2, 1)).rows()
    [('a', 2), ('c', 2)]
    """
    import polars as pl
    from xpg.queries.investigate.sources import _seen_by

    node = pl.col("node")
    return (by_node.lazy().filter((node == node.shift(1)) | (node == node.shift(-1)))
            .filter(_seen_by("first_seen", as_of))
            .group_by("node", maintain_order=True).agg(pl.len().cast(pl.Int64).alias("users"))
            .filter(pl.col("users") >= 2).collect())


def _write_parquet(frame: Any, path: Path,
                   hashes: dict[Path, dict[str, Any]] | None = None) -> None:
    """One state table: small row groups with their statistics, :data:`COMPRESSION`.
    ``hashes``: its size and checksum are noted there under ``path``, taken from the bytes
    written (:func:`file_checksums` then need not read the file back)."""
    if hashes is None:
        frame.write_parquet(path, row_group_size=ROW_GROUP, compression=COMPRESSION,
                            statistics=True)
        return
    import io

    buffer = io.BytesIO()
    frame.write_parquet(buffer, row_group_size=ROW_GROUP, compression=COMPRESSION,
                        statistics=True)
    data = buffer.getbuffer()
    path.write_bytes(data)
    hashes[path] = {"bytes": data.nbytes, CHECKSUM: checksum(data)}


def _write_parts(frame: Any, tmp: Path, name: str, key: str,
                 hashes: dict[Path, dict[str, Any]] | None = None) -> list[list[Any]]:
    """Write ``frame`` (sorted by ``key``) as ``name.parquet``, or when it has more than
    :data:`PART_ROWS` rows as ``name/NNNNN.parquet`` parts of consecutive keys; the
    parts as ``[file, first key, last key]`` (a lookup hashes only the parts it reads).
    ``hashes``: as :func:`_write_parquet`."""
    if frame.height <= PART_ROWS:
        _write_parquet(frame, tmp / f"{name}.parquet", hashes)
        return [[f"{name}.parquet", None, None]]
    (tmp / name).mkdir()
    out = []
    for i, start in enumerate(range(0, frame.height, PART_ROWS)):
        part = frame.slice(start, PART_ROWS)
        file = f"{name}/{i:05d}.parquet"
        _write_parquet(part, tmp / file, hashes)
        keys = part.get_column(key)
        out.append([file, keys[0], keys[-1]])
    return out


def _group_key(settings: Settings, as_of: dt.date) -> dict[str, Any]:
    """What the stored connected groups were computed for (run date, link kinds, hub cut)."""
    from xpg.queries.investigate.search import ring_kinds

    return {"as_of": as_of.isoformat(), "kinds": list(ring_kinds(settings.detection)),
            "hub_max": settings.detection.ring.hub_max_users}


def _group_frames(source: MemorySource, settings: Settings, as_of: dt.date) -> Any:
    """``user_id``, ``group`` of every user on a kept link as of ``as_of``, sorted by
    ``user_id``: the ring rule's connected groups, so that a cold query reads a group's
    members instead of every link. From the link graph's components when the source has
    them (:meth:`~xpg.queries.investigate.sources.MemorySource.linked_groups`), else from
    the link rows (:func:`~xpg.queries.investigate.group.group_labels`)."""
    from xpg.queries.investigate.group import group_labels

    key = _group_key(settings, as_of)
    linked = source.linked_groups(as_of, key["kinds"], key["hub_max"])
    if linked is not None:
        return linked
    return group_labels(source._links_by_user.frame.lazy(), as_of, key["kinds"],
                        key["hub_max"]).sort("user_id")


def _findings_frames(report: FindingsReport) -> tuple[Any, Any]:
    """``findings`` (rank, id, type, severity, detected id, the finding's JSON), sorted by
    id, and ``finding_users`` (user_id, rank, pos, finding_id, type), sorted by user; from
    the report's index frame (:meth:`~xpg.queries.findings.FindingsReport.index_frame`:
    its JSON lines, encoded once for the state and the findings document)."""
    import polars as pl

    index = report.index_frame().with_row_index("rank").with_columns(
        pl.col("rank").cast(pl.Int64))
    found = index.select(
        "id", "rank", "type", "severity",
        pl.col("users").list.len().cast(pl.Int64).alias("members"),
        "detected_id", pl.col("line").alias("doc"),
    ).sort("id")
    members = (
        index.select("users", "rank", pl.col("id").alias("finding_id"), "type")
        .with_columns(pl.int_ranges(pl.col("users").list.len(), dtype=pl.Int64).alias("pos"))
        .explode("users", "pos")
        .select(pl.col("users").alias("user_id"), "rank", "pos", "finding_id", "type")
        .drop_nulls("user_id")
        .sort("user_id", "rank")
    )
    return found, members
