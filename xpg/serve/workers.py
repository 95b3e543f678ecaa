"""Several worker processes over one read-only copy of the data (``xpg serve --workers N``).

Why not fork one loaded session: Polars' thread pool does not survive ``fork()`` (a
child that runs a Polars query after its parent did waits forever; tried with the
100,000-user sample), and every lookup runs Polars. So the parent loads and detects
once, then writes the lookup tables of the run as uncompressed Arrow IPC files into a
private temporary folder (:func:`share`), with the connected groups of the run (so a user
view's group is looked up, not searched; from a stored state, the groups it holds), the
findings and how the settings were made; uvicorn
starts ``N`` fresh (spawned) workers, and each one memory-maps those files
(:func:`open_shared`: pyarrow's memory map handed to Polars without a copy), so the
tables' pages are the operating system's page cache, held once for every worker. A worker starts in
about a second (it parses the findings), whatever the size of the data.

A session over a database (Neo4j) has no tables to share: each worker opens its own
read-only session over the same database.

The workers find the folder through the ``XPG_SERVE_SHARED`` environment variable; the
metrics of all workers meet in the folder ``PROMETHEUS_MULTIPROC_DIR`` names.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from xpg.errors import ConfigError
from xpg.graph.state import StateBackend
from xpg.queries.investigate.sources import MemorySource, _Sorted
from xpg.queries.investigate.state import KEYS, TABLES, settings_fingerprint
from xpg.queries.investigate.state_source import StateSource
from xpg.serve.access import ACCESS_LOGGER
from xpg.serve.limits import Limits
from xpg.serve.metrics import MULTIPROC_ENV
from xpg.settings import load_settings

if TYPE_CHECKING:
    from collections.abc import Iterator

    from fastapi import FastAPI

    from xpg.api import Session

__all__ = ["SHARED_ENV", "access_log_to_stderr", "open_shared", "run", "share", "worker_app"]

SHARED_ENV = "XPG_SERVE_SHARED"
_SPEC = "spec.json"


@dataclass(frozen=True)
class _Held:
    """What a shared folder holds (the stand-in for a state folder's manifest)."""

    path: Path
    as_of: dt.date
    #: what the connected groups in the folder were computed for (None: none written)
    groups: dict[str, Any] | None = None

    def describe(self) -> str:
        return f"{self.path} (run of {self.as_of})"


class _Mapped(_Sorted):
    """A sorted table memory-mapped from an Arrow IPC file (never copied or re-sorted)."""

    def __init__(self, frame: pl.DataFrame, key: str):
        self.key = key
        self.frame = frame
        self.keys = frame.get_column(key).set_sorted()

    def scan(self) -> pl.LazyFrame:
        return self.frame.lazy()


class _MappedSource(StateSource):
    """The stored state's source with every table memory-mapped in full (no Parquet scan
    per lookup)."""

    in_memory = True  # memory-mapped: the page cache, no read call

    def _scanned(self, name: str) -> _Mapped:  # type: ignore[override]
        return _Mapped(_mapped_frame(self.state.path / f"{name}.arrow"), KEYS[name])

    def group(self, user_id: str, as_of: dt.date, kinds: Sequence[str], hub_max: int
              ) -> pl.DataFrame:
        """The connected groups of the served run, computed once by :func:`share` (two
        binary searches and a slice); for another date, kinds or hub cut, breadth-first
        over the lookups, as the in-memory source."""
        from xpg.queries.investigate.group import connected_group

        if self.state.groups == _group_key(kinds, hub_max, as_of):
            return self._groups.members(user_id)
        return connected_group(self, user_id, as_of, kinds, hub_max)

    @cached_property
    def _groups(self) -> _Groups:
        return _Groups(self.state.path)


class _Groups:
    """The connected groups :func:`share` wrote: ``groups_by_user`` (``user_id``,
    ``group``, by user) and ``groups`` (the same rows by group, then user)."""

    def __init__(self, folder: Path):
        self.by_user = _Mapped(_mapped_frame(folder / "groups_by_user.arrow"), "user_id")
        self.by_group = _Mapped(_mapped_frame(folder / "groups.arrow"), "group")

    def members(self, user_id: str) -> pl.DataFrame:
        """The user's group (``user_id``, sorted); the user alone when on no kept link."""
        found = self.by_user.ranges([user_id])
        if not found:
            return pl.DataFrame({"user_id": [user_id]}, schema={"user_id": pl.String})
        group = self.by_user.frame.get_column("group")[found[0][0]]
        (a, b), = self.by_group.ranges([group])
        return self.by_group.frame[a:b].select("user_id")


def _group_key(kinds: Sequence[str], hub_max: int, as_of: dt.date) -> dict[str, Any]:
    return {"as_of": as_of.isoformat(), "kinds": list(kinds), "hub_max": hub_max}


def _mapped_frame(path: Path) -> pl.DataFrame:
    """The Arrow IPC file ``path`` as a frame whose buffers are the file's memory-mapped
    pages (pyarrow's memory map, taken over by Polars without a copy: the columns are
    written in Polars' own layout, strings as views); without pyarrow, read into this
    process's memory."""
    try:
        import pyarrow as pa
    except ImportError:
        return pl.read_ipc(path)
    table = pa.ipc.open_file(pa.memory_map(str(path))).read_all()
    return pl.from_arrow(table, rechunk=False)  # type: ignore[return-value]


class _SharedBackend(StateBackend):
    name = "shared"
    label = "shared tables"

    def _investigation_source(self, dataset: object) -> _MappedSource:
        return _MappedSource(self.state)  # type: ignore[arg-type]

    def stored_index(self, config: object, as_of: dt.date) -> None:  # type: ignore[override]
        return None  # the findings are given to the session: indexed in memory

    def stored_findings(self, config: object, *, as_of: dt.date | None = None) -> None:  # type: ignore[override]
        return None


def share(session: Session, folder: Path, *, limits: Limits, workers: int,
          config: Sequence[str | os.PathLike[str]] = (),
          overrides: Mapping[str, Any] | None = None) -> None:
    """Write what the workers map into ``folder``: the run's lookup tables (Arrow IPC,
    uncompressed), its findings and the limits; the settings as the files and overrides
    they were built from (no secret is written: each worker reads its environment), with
    their fingerprint, which each worker checks."""
    from xpg.queries.investigate.group import group_labels
    from xpg.queries.investigate.search import ring_kinds
    from xpg.serve.data import dumps

    day = session.as_of
    report = session.findings(day)
    source = session.source
    if not isinstance(source, MemorySource):  # a database: each worker opens its own
        spec: dict[str, Any] = {"mode": "open", "as_of": day.isoformat()}
    else:
        for name, attr in TABLES.items():
            table = getattr(source, attr)  # sorted in memory, or a stored state's scan
            frame = table.frame if isinstance(table, _Sorted) else table.scan().collect()
            frame.write_ipc(folder / f"{name}.arrow", compression=None)
        groups = _group_key(ring_kinds(session.settings.detection),
                            session.settings.detection.ring.hub_max_users, day)
        state = getattr(source, "state", None)  # a stored state's source
        if (getattr(state, "manifest", None) or {}).get("groups") == groups:
            # the state holds the groups of this run, date, kinds and hub cut
            labels = pl.scan_parquet(state.parts("groups_by_user")).collect()  # type: ignore[union-attr]
        else:
            links = _mapped_frame(folder / "links_by_user.arrow")
            labels = group_labels(links.lazy(), day, groups["kinds"], groups["hub_max"])
        labels.sort("user_id").write_ipc(folder / "groups_by_user.arrow", compression=None)
        labels.sort("group", "user_id").write_ipc(folder / "groups.arrow", compression=None)
        (folder / "findings.json").write_bytes(dumps(report.to_dict()))
        spec = {"mode": "mapped", "as_of": day.isoformat(), "groups": groups}
    spec["config"] = [str(Path(c).resolve()) for c in config]
    spec["overrides"] = {k: v for k, v in (overrides or {}).items() if v is not None}
    spec["settings"] = settings_fingerprint(session.settings)
    spec["limits"] = asdict(limits)
    spec["workers"] = workers
    reports = getattr(session, "_case_reports", None)  # xpg serve --reports: the cases
    spec["reports"] = None if reports is None else str(Path(reports).resolve())
    (folder / _SPEC).write_text(json.dumps(spec), encoding="utf-8")


def open_shared(folder: Path) -> tuple[Session, Limits, int]:
    """A worker's session over ``folder`` (written by :func:`share`), with the limits and
    the number of workers."""
    import xpg.api as api
    from xpg.inputs import read_findings

    spec = json.loads((folder / _SPEC).read_text(encoding="utf-8"))
    settings = load_settings(spec["config"], overrides=spec["overrides"])
    if settings_fingerprint(settings) != spec["settings"]:
        raise ConfigError("xpg serve: a worker's settings differ from the server's (a "
                          "configuration file or the environment changed while starting)")
    day = dt.date.fromisoformat(spec["as_of"])
    limits = Limits(**spec["limits"])
    if spec["mode"] == "open":
        session = api.open(settings=settings, read_only=True, load=False, detect=False,
                           as_of=day)
    else:
        report = read_findings(folder / "findings.json")
        backend = _SharedBackend(_Held(folder, day, spec.get("groups")))  # type: ignore[arg-type]
        session = api.Session(None, settings, backend, findings=report, as_of=day)
    if spec.get("reports"):
        session.use_reports(spec["reports"])  # each worker opens the cases' SQLite file
    return session, limits, int(spec["workers"])


def worker_app() -> FastAPI:
    """The application of one worker (uvicorn's factory): over the shared folder named by
    ``XPG_SERVE_SHARED``, with its share of the rate limits."""
    from xpg.serve import api_keys_from_env, create_app
    from xpg.serve.limits import per_worker

    session, limits, workers = open_shared(Path(os.environ[SHARED_ENV]))
    access_log_to_stderr()
    return create_app(session, api_keys=api_keys_from_env(),
                      limits=per_worker(limits, workers))


@contextmanager
def _private_folder(prefix: str) -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix=prefix))  # mode 0700
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def run(session: Session, *, host: str, port: int, workers: int, limits: Limits,
        api_keys: Sequence[str], config: Sequence[str | os.PathLike[str]] = (),
        overrides: Mapping[str, Any] | None = None) -> None:
    """Serve ``session`` until interrupted: in this process (``workers`` 1), or from
    ``workers`` spawned processes over its shared tables (``config`` and ``overrides``:
    what the session's settings were built from, :func:`~xpg.settings.load_settings`)."""
    import uvicorn

    if workers <= 1:
        from xpg.serve import create_app

        app = create_app(session, api_keys=api_keys, limits=limits)
        access_log_to_stderr()
        # uvicorn's own access log would write the raw paths (ids): off
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)
        return
    with _private_folder("xpg-serve-") as shared, _private_folder("xpg-metrics-") as prom:
        share(session, shared, limits=limits, workers=workers, config=config,
              overrides=overrides)
        os.environ[SHARED_ENV] = str(shared)
        os.environ[MULTIPROC_ENV] = str(prom)
        try:
            uvicorn.run("xpg.serve.workers:worker_app", factory=True, host=host, port=port,
                        workers=workers, log_level="warning", access_log=False)
        finally:
            for name in (SHARED_ENV, MULTIPROC_ENV):
                os.environ.pop(name, None)


def access_log_to_stderr() -> None:
    """Print the access log (:data:`~xpg.serve.access.ACCESS_LOGGER`) on stderr."""
    import logging

    logger = logging.getLogger(ACCESS_LOGGER)
    if any(getattr(h, "_xpg_stderr", False) for h in logger.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler._xpg_stderr = True  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter("%(asctime)s access %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
