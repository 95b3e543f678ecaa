"""The state a nightly run leaves for the next one (:mod:`xpg.graph.nightly.run`).

A folder of Arrow IPC tables (``<name>.arrow``, uncompressed: written and read back at
memory speed), the node names' segments and a manifest:

* ``nightly.json``: layout version, run date, the settings' fingerprint, the rules in
  force, the Polars version (its hashes are kept), the node kinds, and every table
  file's size and checksum (``files``: sizes checked when the state is weighed for a run,
  content when a table is first read; a damaged or foreign file makes the run a full
  one, saying why);
* ``users``: by position (the ``ui`` of ``edges``): ``user_id``, ``uh`` (its hash),
  ``label`` (its connected group over the ring rule's kept links, ``-1`` when it has
  none), ``f`` and ``n`` (the fingerprint of every row it owns in every table: the sum
  modulo 2^64 of each row's 64-bit hash, and the rows, so that a changed, added or
  removed row changes its owner's fingerprint), ``last`` (the latest day of its rows,
  days since 1970-01-01) and its exposure as of the run date (frame ``exposure``'s
  columns);
* ``keyed``: ``table``, ``key``, ``h``: the row hashes of the shared tables
  (products, lenders) by their key;
* ``edges``: the distinct links of every user (``ui``, ``ni``, ``first``,
  :mod:`xpg.graph.stored_links`); ``nodes``: by position (``ni``), ``nh`` (the hash of
  its kind and value) and ``k`` (its kind, an index into the manifest's ``kinds``);
* ``names-<i>.bin`` / ``names-<i>.idx``: the nodes' values, UTF-8 back to back and the
  offsets of each (``int64``), one segment per night that added nodes (a segment is
  never rewritten: the next state links it). A run reads only the values it needs and
  checks each against its node's hash (:meth:`NightlyState.names`);
* ``findings``: one row per finding: ``type`` and the columns of
  :data:`~xpg.queries.lines.FINDING_FRAME` (``line`` its JSON exactly as the findings
  document writes it), and the graph rule's ``core`` and ``group_users`` (null for the
  others).

Examples
--------
>>> import tempfile, pathlib
>>> NightlyState.open(pathlib.Path(tempfile.mkdtemp())) is None
True
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from xpg.graph.stored_links import node_hash
from xpg.queries.investigate.state import CHECKSUM, file_checksum, settings_fingerprint
from xpg.queries.rules import finding_types

from xpg.atomic import staging
from xpg.errors import StateDamagedError
from xpg.settings import Settings

__all__ = ["MANIFEST", "NIGHTLY_VERSION", "TABLES", "Names", "NightlyState", "write_nightly"]

NIGHTLY_VERSION = 6
"""The layout version this xpg writes and reads."""

MANIFEST = "nightly.json"
TABLES = ("users", "keyed", "edges", "nodes", "findings")
"""The tables of a state folder (``<name>.arrow``)."""
MAX_SEGMENTS = 16
"""Name segments kept before they are written again as one."""


@dataclass(frozen=True)
class Names:
    """The nodes' values of a state: segments of UTF-8 bytes and offsets, read on demand.

    ``segments`` lists ``(first node, nodes, bytes file, offsets file)``.
    """

    folder: Path
    segments: tuple[tuple[int, int, str, str], ...]

    @property
    def count(self) -> int:
        return self.segments[-1][0] + self.segments[-1][1] if self.segments else 0

    def values(self, positions: np.ndarray) -> list[str]:
        """The values of the nodes at ``positions``."""
        out: list[str] = [""] * positions.size
        order = np.argsort(positions, kind="stable")
        pos = positions[order]
        for start, rows, data, index in self.segments:
            lo, hi = np.searchsorted(pos, [start, start + rows])
            if lo == hi:
                continue
            offsets = np.load(self.folder / index, mmap_mode="r")
            local = pos[lo:hi] - start
            begin = np.asarray(offsets[local], dtype=np.int64)
            length = np.asarray(offsets[local + 1], dtype=np.int64) - begin
            ends = np.cumsum(length)
            total = int(ends[-1]) if ends.size else 0
            if total:
                raw = np.memmap(self.folder / data, dtype=np.uint8, mode="r")
                at = np.repeat(begin - (ends - length), length) + np.arange(total)
                buf = np.asarray(raw[at]).tobytes()
            else:
                buf = b""
            starts = (ends - length).tolist()
            for i, b, e in zip(order[lo:hi].tolist(), starts, ends.tolist(), strict=True):
                out[i] = buf[b:e].decode("utf-8")
        return out


def write_names(folder: Path, number: int, values: pl.Series) -> tuple[str, str]:
    """Write a segment of node values; returns its two file names."""
    data, index = f"names-{number}.bin", f"names-{number}.idx.npy"
    values = values.cast(pl.String)
    lengths = values.str.len_bytes().fill_null(0).to_numpy().astype(np.int64)
    offsets = np.zeros(lengths.size + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    joined = values.str.join("").item() if values.len() else ""
    (folder / data).write_bytes((joined or "").encode("utf-8"))
    np.save(folder / index, offsets)
    return data, index


@dataclass(frozen=True)
class NightlyState:
    """A state folder as written by :func:`write_nightly` (read lazily, table by table)."""

    path: Path
    manifest: dict[str, Any]
    _read: dict[str, pl.DataFrame] = field(default_factory=dict, compare=False)

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> NightlyState | None:
        """The state in ``path``, or None when it holds none (or an unreadable one)."""
        folder = Path(path)
        try:
            manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(manifest, dict):
            return None
        return cls(folder, manifest)

    @property
    def as_of(self) -> dt.date:
        """The run date of the run that wrote it."""
        return dt.date.fromisoformat(self.manifest["as_of"])

    @property
    def kinds(self) -> list[str]:
        """The node kinds, by ``k``."""
        return list(self.manifest.get("kinds") or [])

    def unusable(self, settings: Settings) -> str | None:
        """Why this state cannot seed an incremental run under ``settings`` (None: it can)."""
        m = self.manifest
        if m.get("version") != NIGHTLY_VERSION:
            return f"it has layout version {m.get('version')}, this xpg reads {NIGHTLY_VERSION}"
        if m.get("polars") != pl.__version__:
            return (f"it was written with Polars {m.get('polars')} (its hashes are kept), "
                    f"this is {pl.__version__}")
        if m.get("settings") != settings_fingerprint(settings):
            return "the load or detection settings changed since"
        if m.get("rules") != list(finding_types()):
            return "the registered rules changed since"
        missing = [t for t in TABLES if not (self.path / f"{t}.arrow").is_file()]
        if missing:
            return f"it lacks {', '.join(missing)}"
        files = m.get("files") or {}
        for name, entry in files.items():
            path = self.path / name
            size = path.stat().st_size if path.is_file() else None
            if size != entry.get("bytes"):
                return (f"its {name} is {size if size is None else format(size, ',')} bytes, "
                        f"its manifest says {entry.get('bytes'):,} (damaged)")
        listed = {f"{t}.arrow" for t in TABLES}
        listed |= {name for seg in m.get("names") or () for name in seg[2:]}
        if set(files) != listed:
            return "its manifest does not list its tables"
        return None

    def read(self, table: str) -> pl.DataFrame:
        """One of :data:`TABLES`, whole, its content checked against the manifest's
        checksum first (once per table).

        Raises
        ------
        StateDamagedError
            The file does not match its manifest (damaged, or another night's).
        """
        if table in self._read:
            return self._read[table]
        name = f"{table}.arrow"
        path = self.path / name
        if file_checksum(path) != (self.manifest.get("files") or {}).get(name, {}).get(CHECKSUM):
            raise StateDamagedError(f"its {name} differs from its manifest's checksum "
                                    "(damaged, or another night's)", path=self.path)
        frame = pl.read_ipc(path)
        self._read[table] = frame
        return frame

    @property
    def names(self) -> Names:
        """The nodes' values (:class:`Names`)."""
        return Names(self.path, tuple(tuple(s) for s in self.manifest.get("names") or ()))

    def node_values(self, positions: np.ndarray) -> pl.DataFrame:
        """``kind``, ``value`` of the nodes at ``positions``, each checked against its hash.

        Raises
        ------
        StateDamagedError
            A value does not hash to its node's ``nh`` (a damaged segment).
        """
        nodes = self.read("nodes")
        kinds = pl.Series("kind", self.kinds, dtype=pl.String)
        try:
            values = self.names.values(positions)
        except (OSError, ValueError, UnicodeDecodeError) as e:
            raise StateDamagedError(f"its node names cannot be read ({e})",
                                    path=self.path) from e
        picked = nodes[positions]
        out = pl.DataFrame({"kind": kinds.gather(picked.get_column("k")),
                            "value": pl.Series(values, dtype=pl.String)})
        check = out.select(node_hash(pl.col("kind"), pl.col("value"))).to_series()
        if not bool((check == picked.get_column("nh")).all()):
            raise StateDamagedError("a node name does not match its hash (damaged segment)",
                                    path=self.path)
        return out


def write_nightly(target: str | os.PathLike[str], *, as_of: dt.date, settings: Settings,
                  tables: dict[str, pl.DataFrame], kinds: list[str],
                  names: tuple[NightlyState | None, pl.Series]) -> NightlyState:
    """Write (or replace, atomically) the state folder ``target``.

    ``tables`` holds every one of :data:`TABLES`; ``kinds`` the node kinds ``k`` indexes;
    ``names`` the state whose name segments are kept (None: none) and the values of the
    nodes after them.
    """
    folder = Path(target)
    folder.parent.mkdir(parents=True, exist_ok=True)
    previous, added = names
    with staging(folder) as tmp:
        files: dict[str, dict[str, Any]] = {}
        for name in TABLES:
            tables[name].write_ipc(tmp / f"{name}.arrow", compression="uncompressed")
            files[f"{name}.arrow"] = {"bytes": (tmp / f"{name}.arrow").stat().st_size,
                                      CHECKSUM: file_checksum(tmp / f"{name}.arrow")}
        segments: list[list[Any]] = []
        if previous is not None:
            for seg in previous.names.segments:
                for file in seg[2:]:
                    os.link(previous.path / file, tmp / file)
                    files[file] = {"bytes": (tmp / file).stat().st_size}
                segments.append(list(seg))
        start = segments[-1][0] + segments[-1][1] if segments else 0
        if added.len() or not segments:
            number = max((int(s[2].split("-")[1].split(".")[0]) for s in segments),
                         default=-1) + 1
            data, index = write_names(tmp, number, added)
            for file in (data, index):
                files[file] = {"bytes": (tmp / file).stat().st_size}
            segments.append([start, added.len(), data, index])
        manifest = {
            "version": NIGHTLY_VERSION,
            "files": files,
            "names": segments,
            "kinds": kinds,
            "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "as_of": as_of.isoformat(),
            "settings": settings_fingerprint(settings),
            "rules": list(finding_types()),
            "polars": pl.__version__,
            "users": tables["users"].height,
            "findings": tables["findings"].height,
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    state = NightlyState.open(folder)
    assert state is not None
    return state
