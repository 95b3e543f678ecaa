"""What a session is opened from: tables refused by a backend that keeps its graph, a
findings file, pseudonymized tables, a URI rather than a folder (:func:`xpg.open`'s
inputs; re-exported by :mod:`xpg.api`)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from xpg.errors import ConfigError, FindingsRefusedError, GraphSourceError, InputError

if TYPE_CHECKING:
    import polars as pl

    from xpg.graph.backend import Backend
    from xpg.loaders import LoadResult
    from xpg.loaders.dataset import Dataset
    from xpg.progress import Progress
    from xpg.queries.findings import FindingsReport
    from xpg.settings import Settings

__all__ = ["check_findings", "is_uri", "pseudonymized", "read_findings", "tables_refused"]


def tables_refused(backend: Backend) -> GraphSourceError:
    """The error for tables given to a session over a backend that keeps its graph
    (a database) without leave to write them (``open(..., load=False)``)."""
    return GraphSourceError(
        f"data: the {backend.label} works on the graph its database holds; tables given "
        "here would replace that graph", argument="data")


def read_findings(path: str | os.PathLike[str]) -> FindingsReport:
    """A findings document from a ``findings.json`` file or a report folder holding one
    (:meth:`FindingsReport.read <xpg.queries.findings.FindingsReport.read>`), checked
    before it is used: its bytes and night against the report's ``manifest.json`` when
    one lies beside it (the report wrote the file's SHA-256 and run date there), and
    that it is whole (distinct ids, every finding has users, a ring has two or more).

    Raises
    ------
    InputError
        Missing or unreadable file, or not a findings document.
    FindingsRefusedError
        It does not match its manifest (changed, or another night's), or is not whole.
    """
    import hashlib
    import json
    from pathlib import Path

    from xpg.queries.findings import FindingsReport

    p = Path(path)
    if p.is_dir():
        p = p / "findings.json"
    report = FindingsReport.read(p)
    manifest = p.parent / "manifest.json"
    if manifest.is_file():
        try:
            m = json.loads(manifest.read_text(encoding="utf-8"))
            entry = m["files"]["findings.json"]
        except (OSError, ValueError, KeyError, TypeError):
            m, entry = None, None
        if entry is not None:
            digest = hashlib.sha256(p.read_bytes()).hexdigest()
            if digest != entry.get("sha256"):
                raise FindingsRefusedError(f"findings: {p} does not match the SHA-256 its report's "
                                           f"{manifest} records (changed since it was written)",
                                           path=p)
            night = (m or {}).get("as_of")
            if night is not None and night != report.as_of.isoformat():
                raise FindingsRefusedError(f"findings: {p} holds the run of {report.as_of}, its "
                                           f"report's manifest the run of {night}", path=p)
    check_findings(report, p)
    return report


def check_findings(report: FindingsReport, where: object,
                   users: pl.Series | None = None) -> None:
    """Refuse a findings document that is not whole, or (``users``: the data's user
    ids) names a user the data does not hold.

    Raises
    ------
    FindingsRefusedError
        Says which finding and why.
    """
    import polars as pl

    from xpg.queries.rules import group_types

    groups = group_types()
    ids = [f.id for f in report.findings]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise FindingsRefusedError(f"findings: {where} repeats the finding id {dup}", path=where)
    for f in report.findings:
        if not f.users or (f.type in groups and len(set(f.users)) < 2):
            raise FindingsRefusedError(f"findings: {where}: finding {f.id} ({f.type}) has "
                                       f"{len(set(f.users))} member(s)", path=where)
    if users is None or not report.findings:
        return
    named = pl.Series("user_id", [u for f in report.findings for u in f.users], dtype=pl.String)
    missing = named.filter(~named.is_in(users.implode())).unique()
    if missing.len():
        first = missing.sort()[0]
        owner = next(f.id for f in report.findings if first in f.users)
        raise FindingsRefusedError(f"findings: {where}: finding {owner} names user {first}, who "
                                   f"is not in the data ({missing.len()} such user(s)): these "
                                   "findings are not of this data", path=where)


def pseudonymized(dataset: Dataset | None, settings: Settings) -> Dataset:
    """``dataset`` with keyed pseudonyms (``privacy.pseudonym_key``) for its personal
    ids and values: what ``open(..., pseudonymize=True)`` detects on."""
    from xpg.loaders.pseudonymize import pseudonymize
    from xpg.privacy import PSEUDONYM_KEY_VARIABLE

    if dataset is None:
        raise InputError("pseudonymize: needs the tables (data= or dataset=), not a graph "
                         "loaded earlier", argument="pseudonymize")
    if not settings.privacy.pseudonym_key:
        raise ConfigError(f"pseudonymize: no key; set the {PSEUDONYM_KEY_VARIABLE} environment "
                          "variable to a secret of at least 16 characters (the same on every "
                          "night, so that ids stay stable)", argument="pseudonymize")
    return pseudonymize(dataset, settings.privacy.pseudonym_key)


def is_uri(data: object) -> bool:
    """Whether ``data`` is a URI (``scheme://...``) rather than a local folder.

    >>> is_uri("s3a://bucket/tables"), is_uri("data/tables"), is_uri(None)
    (True, False, False)
    """
    return isinstance(data, str) and "://" in data


def read_tables(data: str | os.PathLike[str] | None, backend: Backend, settings: Settings, *,
                quarantine: str | os.PathLike[str] | None, progress: Progress,
                take: bool) -> LoadResult | None:
    """Read ``data`` for :func:`xpg.open`: a URI into the backend itself (Spark reads
    it), a folder through the loader (its result returned; with ``take`` the backend may
    take the link rows while the tables load), nothing when None."""
    from pathlib import Path

    if data is None:
        return None
    if is_uri(data):
        if quarantine is not None:
            raise InputError(f"data: {data} is read as it is, without a quarantine",
                             argument="quarantine")
        with backend.failures("read the data"):
            backend.read_tables(str(data), progress=progress)
        return None
    from xpg.loaders import load_dataset

    path = Path(os.fspath(data))
    if not path.is_dir():
        raise InputError(f"data: {path} is not a directory", argument="data")
    return load_dataset(path, settings, quarantine=quarantine, progress=progress,
                        take_links=backend.take_links() if take else None)
