"""The state a nightly run leaves for the next one (:mod:`xpg.nightly`).

A folder of Arrow IPC tables (``<name>.arrow``, uncompressed: written and read back at
memory speed, memory-mapped) and a manifest:

* ``manifest.json``: layout version, run date, the settings' fingerprint, the rules in
  force, the Polars version (its hashes are kept), and every table file's size and
  SHA-256 (``files``: sizes checked when the state is weighed for a run, content when a
  table is first read; a damaged or foreign file makes the run a full one, saying why);
* ``users``: ``user_id``, ``uh`` (its hash) and ``label`` (its connected group over the
  ring rule's kept links, ``-1`` when it has none), by position (the ``ui`` of ``edges``);
* ``fingerprints``: per user hash ``uh`` the fingerprint of every row it owns in every
  table (``f``: the sum modulo 2^64 of each row's 64-bit hash; ``n``: the rows), so
  that a changed, added or removed row changes its owner's fingerprint;
* ``keyed``: ``table``, ``key``, ``h``: the row hashes of the shared tables
  (products, lenders) by their key;
* ``edges`` and ``nodes``: the distinct links of every user, hashed
  (:mod:`xpg.graph.stored_links`); ``nodes`` adds ``ok`` (its kind counts for rings)
  and ``deg`` (its users for the hub cut as of the run date);
* ``exposure``: every user's exposure as of the run date (frame ``exposure``);
* ``findings``: one row per finding: ``id``, ``type``, ``severity``, ``score``,
  ``users``, ``at_risk`` (what sorting and the summary read) and ``line``, its JSON
  exactly as the findings document writes it.

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from xpg.atomic import staging
from xpg.errors import StateDamagedError
from xpg.queries.investigate.state import file_checksums, settings_fingerprint, sha256_file
from xpg.queries.rules import finding_types
from xpg.settings import Settings

__all__ = ["MANIFEST", "NIGHTLY_VERSION", "TABLES", "NightlyState", "write_nightly"]

NIGHTLY_VERSION = 4
"""The layout version this xpg writes and reads."""

MANIFEST = "nightly.json"
TABLES = ("users", "fingerprints", "keyed", "edges", "nodes", "exposure", "findings")
"""The tables of a state folder (``<name>.arrow``)."""


@dataclass(frozen=True)
class NightlyState:
    """A state folder as written by :func:`write_nightly` (read lazily, table by table)."""

    path: Path
    manifest: dict[str, Any]

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
            size = (self.path / name).stat().st_size
            if size != entry.get("bytes"):
                return (f"its {name} is {size:,} bytes, its manifest says {entry.get('bytes'):,} "
                        "(damaged)")
        if set(files) != {f"{t}.arrow" for t in TABLES}:
            return "its manifest does not list its tables"
        return None

    def read(self, table: str) -> pl.DataFrame:
        """One of :data:`TABLES`, whole, its content checked against the manifest's
        SHA-256 first.

        Raises
        ------
        StateDamagedError
            The file does not match its manifest (damaged, or another night's).
        """
        name = f"{table}.arrow"
        path = self.path / name
        if sha256_file(path) != (self.manifest.get("files") or {}).get(name, {}).get("sha256"):
            raise StateDamagedError(f"its {name} does not match its manifest's checksum "
                                    "(damaged, or another night's)", path=self.path)
        return pl.read_ipc(path)


def write_nightly(target: str | os.PathLike[str], *, as_of: dt.date, settings: Settings,
                  tables: dict[str, pl.DataFrame]) -> NightlyState:
    """Write (or replace, atomically) the state folder ``target``.

    ``tables`` holds every one of :data:`TABLES`.
    """
    folder = Path(target)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with staging(folder) as tmp:
        for name in TABLES:
            tables[name].write_ipc(tmp / f"{name}.arrow", compression="uncompressed")
        manifest = {
            "version": NIGHTLY_VERSION,
            "files": file_checksums(tmp, skip=(MANIFEST,)),
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
