"""One interface, several backends.

:class:`Backend` is what the CLI and the public API talk to. The in-memory
backend (:mod:`xpg.graph.memory`) is the default; the Neo4j backend
(:mod:`xpg.graph.neo4j`) keeps the same graph in a database. Both return the
same :class:`~xpg.queries.findings.FindingsReport` on the same data, ids
included: the parity tests assert it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from xpg.loaders.dataset import Dataset
from xpg.queries.findings import FindingsReport

from xpg.progress import Progress
from xpg.settings import DetectionConfig

__all__ = ["Backend", "LoadStats"]


@dataclass(frozen=True)
class LoadStats:
    nodes: int
    relationships: int
    seconds: float


@runtime_checkable
class Backend(Protocol):
    name: str

    def load(self, dataset: Dataset, *, progress: Progress | None = None) -> LoadStats:
        """Make the backend hold ``dataset`` (replacing or updating what it held)."""
        ...

    def detect(
        self, config: DetectionConfig, *, as_of: dt.date | None = None
    ) -> FindingsReport:
        """Run every detection as of ``as_of`` (default: the latest date in the data)."""
        ...

    def close(self) -> None: ...

    # Optional: ``stored_findings(config, *, as_of) -> FindingsReport | None``, findings
    # kept from an earlier detection on the same data and settings (the Neo4j backend);
    # a session uses them instead of detecting again when a backend has it.
