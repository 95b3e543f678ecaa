"""The Neo4j backend: the exposure graph kept in a Neo4j database.

:class:`Neo4jBackend` is a :class:`~xpg.graph.backend.Backend` made of three halves:

* the connection (:mod:`xpg.graph.neo4j.connection`): the driver, sessions, and
  every statement run with its :class:`~xpg.graph.neo4j.connection.QueryMode`;
  opened ``read_only``, it refuses every write;
* the load (:mod:`xpg.graph.neo4j.load`): writes a dataset as the graph of
  ``docs/graph-model.md`` and retires what the snapshot no longer holds;
* the findings store (:mod:`xpg.graph.neo4j.findings`): findings written back as
  ``Finding`` nodes, and read back when still current.

Its detection hooks compute every detection frame either with Cypher in the database
(``neo4j.detection = "cypher"``, :class:`~xpg.graph.neo4j.hooks.Neo4jHooks`: only the
frames come back) or, with ``"pull"``, with the rules' Polars forms over the snapshot
read back in one read per table (:func:`~xpg.graph.neo4j.pull.pull_dataset`); either
way the shared rules make the same findings as in memory, ids included.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from xpg.graph.backend import Backend
from xpg.graph.neo4j.connection import Neo4jConnection, QueryMode
from xpg.graph.neo4j.findings import Neo4jFindingsStore, config_key
from xpg.graph.neo4j.groups import Neo4jGroupStore
from xpg.loaders.dataset import Dataset

from xpg.errors import BackendError, InputError
from xpg.settings import DetectionConfig, Neo4jConfig

if TYPE_CHECKING:
    from xpg.queries.findings import FindingsReport
    from xpg.queries.frames import DetectionHooks
    from xpg.queries.investigate import InvestigationSource

_log = logging.getLogger(__name__)

__all__ = [
    "NODE_LABELS",
    "RELATIONSHIP_TYPES",
    "XPG_LABELS",
    "Neo4jBackend",
    "QueryMode",
    "config_key",
]

NODE_LABELS = (
    "User",
    "Product",
    "Account",
    "Lender",
    "Device",
    "Identifier",
    "AccountEvent",
    "StatusChange",
    "Finding",
    "FindingsRun",
)
"""Labels of the exposure graph's nodes (``docs/graph-model.md``)."""

RELATIONSHIP_TYPES = (
    "HAS_ACCOUNT",
    "IN_PRODUCT",
    "USED",
    "HAS_IDENTIFIER",
    "BORROWED_FROM",
    "APPLIED_TO",
    "HAD_EVENT",
    "STATUS_CHANGED",
    "FLAGS",
)
"""Relationship types of the exposure graph."""

XPG_LABELS = (*NODE_LABELS, "XpgMeta", "XpgHashes", "XpgLock", "XpgRingLink", "XpgRingUser",
              "XpgGroup", "XpgGroupMember", "XpgGroupsRun")
"""Every label xpg writes (the bookkeeping ones included)."""


class Neo4jBackend(Neo4jFindingsStore, Neo4jGroupStore, Backend):
    """The exposure graph in a Neo4j 5 database.

    Parameters
    ----------
    config
        Connection (``uri``, ``user``, ``password``, ``database``) and ``batch_size``
        (rows per write transaction).
    driver
        An open :class:`neo4j.Driver` to use instead of making one; the backend then
        never closes it.
    read_only
        Never write: loading and storing findings are refused, and a detection (when
        no stored findings are current) computes the ring components without the
        scratch labels (see :class:`~xpg.graph.neo4j.hooks.Neo4jHooks`).

    Notes
    -----
    One load or writing detection at a time per database, which the job lock
    (:mod:`xpg.graph.neo4j.lock`) enforces: a load stamps what it writes with its
    number and retires the rest, and the ring detection of a writing backend keeps
    scratch properties on the nodes it visits until it ends.

    Examples
    --------
    >>> from xpg.settings import Neo4jConfig
    >>> backend = Neo4jBackend(Neo4jConfig(uri="bolt://127.0.0.1:1"))  # connects lazily
    >>> backend.name
    'neo4j'
    >>> backend.close()
    """

    name = "neo4j"
    label = "neo4j backend"

    def __init__(self, config: Neo4jConfig, *, driver: Any = None, read_only: bool = False):
        if config.batch_size < 1:
            raise InputError(f"neo4j.batch_size must be at least 1, got {config.batch_size}")
        Backend.__init__(self, read_only=read_only)
        Neo4jConnection.__init__(self, config, driver=driver, read_only=read_only)
        self._snapshot: tuple[Any, Dataset] | None = None

    @contextmanager
    def _detection_hooks(self) -> Iterator[DetectionHooks]:
        if self.read_only:  # writes nothing: no lock to take
            with self._hooks() as hooks:
                yield hooks
            return
        from xpg.graph.neo4j.lock import job_lock

        with job_lock(self, "detect"), self._hooks() as hooks:
            yield hooks

    @contextmanager
    def _hooks(self) -> Iterator[DetectionHooks]:
        if self.config.detection == "pull":
            from xpg.queries.polars_hooks import PolarsHooks

            yield PolarsHooks(self.snapshot())
            return
        from xpg.graph.neo4j.hooks import Neo4jHooks

        self._complete_meta()
        hooks = Neo4jHooks(self)
        try:
            yield hooks
        except BaseException:
            # the detection's own error is the one to report (a lost server fails both)
            try:
                hooks.cleanup()
            except BackendError as e:
                _log.warning("could not remove the ring scratch labels (%s); the next "
                             "detection removes them", e)
            raise
        hooks.cleanup()

    def _store_findings(self, report: FindingsReport, config: DetectionConfig) -> None:
        """The findings, then the connected groups of the run date (for ``xpg query
        group``: :mod:`xpg.graph.neo4j.groups`)."""
        self.write_findings(report, config)
        self.write_groups(report.as_of, config)

    def snapshot(self) -> Dataset:
        """The graph of the last complete load read back as tables (reads only; kept
        for the backend's life while no other load completes)."""
        from xpg.graph.neo4j.pull import pull_dataset

        meta = self._complete_meta()
        if self._snapshot is None or self._snapshot[0] != meta.get("load"):
            self._snapshot = (meta.get("load"), pull_dataset(self, meta))
        return self._snapshot[1]

    def _investigation_source(self, dataset: Dataset | None) -> InvestigationSource:
        from xpg.graph.neo4j.investigate import Neo4jSource

        return Neo4jSource(self)

    def close(self) -> None:
        self._snapshot = None
        Neo4jConnection.close(self)
