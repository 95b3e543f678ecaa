"""The Neo4j backend: the exposure graph kept in a Neo4j database.

One module per part, each a room of its own:

* :mod:`~xpg.graph.neo4j.backend`: :class:`Neo4jBackend`, the backend put together;
* :mod:`~xpg.graph.neo4j.connection`: the driver, sessions, retries, and every statement
  run with its :class:`QueryMode`;
* :mod:`~xpg.graph.neo4j.write`: the load plan (the tables as the graph's steps);
* :mod:`~xpg.graph.neo4j.load`: the load (full or delta), and
  :mod:`~xpg.graph.neo4j.delta`: what a delta writes and retires (row hashes, manifest);
* :mod:`~xpg.graph.neo4j.importer`: the first load through the offline importer;
* :mod:`~xpg.graph.neo4j.lock`: the job lock;
* :mod:`~xpg.graph.neo4j.findings`: the findings store (written back, read when current);
* :mod:`~xpg.graph.neo4j.hooks`: the detection hooks (the rule forms in Cypher);
* :mod:`~xpg.graph.neo4j.pull`: the snapshot read back as tables;
* :mod:`~xpg.graph.neo4j.investigate`: the investigation source;
* :mod:`~xpg.graph.neo4j.statements`: the named Cypher statements of ``cypher/*.cypher``.
"""

from __future__ import annotations

from xpg.graph.neo4j.backend import (
    NODE_LABELS,
    RELATIONSHIP_TYPES,
    XPG_LABELS,
    Neo4jBackend,
    QueryMode,
    config_key,
)

__all__ = [
    "NODE_LABELS",
    "RELATIONSHIP_TYPES",
    "XPG_LABELS",
    "Neo4jBackend",
    "QueryMode",
    "config_key",
]
