"""What a session is opened from: tables refused by a backend that keeps its graph, a
findings file, pseudonymized tables, a URI rather than a folder (:func:`xpg.open`'s
inputs; re-exported by :mod:`xpg.api`)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from xpg.errors import ConfigError, GraphSourceError, InputError

if TYPE_CHECKING:
    from xpg.graph.backend import Backend
    from xpg.loaders import LoadResult
    from xpg.loaders.dataset import Dataset
    from xpg.progress import Progress
    from xpg.queries.findings import FindingsReport
    from xpg.settings import Settings

__all__ = ["is_uri", "pseudonymized", "read_findings", "tables_refused"]


def tables_refused(backend: Backend) -> GraphSourceError:
    """The error for tables given to a session over a backend that keeps its graph
    (a database) without leave to write them (``open(..., load=False)``)."""
    return GraphSourceError(
        f"data: the {backend.label} works on the graph its database holds; tables given "
        "here would replace that graph", argument="data")


def read_findings(path: str | os.PathLike[str]) -> FindingsReport:
    """A findings document from a ``findings.json`` file or a report folder holding one
    (:meth:`FindingsReport.read <xpg.queries.findings.FindingsReport.read>`).

    Raises
    ------
    InputError
        Missing or unreadable file, or not a findings document.
    """
    from xpg.queries.findings import FindingsReport

    return FindingsReport.read(path)


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
