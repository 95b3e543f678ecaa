"""The graph in the database read back as tables: a :class:`~xpg.loaders.dataset.Dataset`.

:func:`pull_dataset` reads the current snapshot of a Neo4j database (what its last
load wrote, retired nodes left out) in one read per table
(``graph/neo4j/cypher/pull.cypher``) and returns the contract tables as Polars frames.
It is what lets the database be the source: ``xpg report --backend neo4j`` writes its
tables from it, and the ``pull`` detection mode (``neo4j.detection = "pull"``) runs
the rules' Polars forms on it instead of their Cypher statements.

What does not come back: the input's extra columns, the device and identifier
sightings (one row per (user, device) or (user, identifier) pair, the earliest
``first_seen`` and the latest ``last_seen``: the links the graph keeps, and all the
detections and investigations read), and the lenders come back with every lender a
loan or an application names, not only those of the lenders table.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import polars as pl
from xpg.graph.neo4j.connection import Neo4jConnection, QueryMode
from xpg.graph.neo4j.statements import statement
from xpg.loaders.dataset import Dataset
from xpg.loaders.schema import DTYPES, TABLES

__all__ = ["frame_from_columns", "pull_dataset", "pull_table", "read_record"]

_WIRE = {"datetime": pl.Int64(), "date": pl.String()}


def frame_from_columns(columns: dict[str, list[Any]], kinds: dict[str, str]) -> pl.DataFrame:
    """A frame from one list of values per column (``kinds``: column -> contract kind, in
    order; a column missing from ``columns`` is empty).

    Datetimes arrive as microseconds since the epoch and dates as ISO text; both
    become the contract's types in one vectorized step.

    Examples
    --------
    >>> frame_from_columns({"user_id": ["u1"], "at": [1_700_000_000_000_000], "on": [None]},
    ...                    {"user_id": "id", "at": "datetime", "on": "date"}).row(0)
    ('u1', datetime.datetime(2023, 11, 14, 22, 13, 20), None)
    """
    raw = pl.DataFrame(
        [pl.Series(c, columns.get(c, []), dtype=_WIRE.get(k, DTYPES[k]), strict=False)
         for c, k in kinds.items()]
    )
    out = []
    for column, kind in kinds.items():
        col = pl.col(column)
        if kind == "datetime":
            col = pl.from_epoch(col, time_unit="us")
        elif kind == "date":
            col = col.str.to_date("%Y-%m-%d")
        out.append(col.cast(DTYPES[kind]).alias(column))
    return raw.select(out)


def read_record(connection: Neo4jConnection, query: str, /, **params: Any) -> dict[str, Any]:
    """The one record of a read (``{}`` when there is none), its values as the driver
    decoded them.

    Unlike :meth:`~xpg.graph.neo4j.connection.Neo4jConnection.run`, no ``Record.data()``:
    that walks every element of every list in Python (a few hundred nanoseconds each),
    which for the whole-table reads here (lists of millions of values) costs more than
    the read itself.
    """

    def work(tx: Any) -> dict[str, Any]:
        record = tx.run(query, params).single()
        return {} if record is None else dict(zip(record.keys(), record.values(), strict=True))

    with connection.errors("reading"), connection.session(QueryMode.READ) as session:
        return session.execute_read(work)


def pull_table(connection: Neo4jConnection, name: str) -> pl.DataFrame:
    """One contract table of the current snapshot (one read, one list per column)."""
    columns = read_record(connection, statement("pull", name))
    return frame_from_columns(columns, {c.name: c.kind for c in TABLES[name].columns})


def pull_dataset(connection: Neo4jConnection, meta: dict[str, Any]) -> Dataset:
    """The current snapshot of the database as a :class:`Dataset` (one read per table, four
    at a time).

    ``meta`` is the last complete load's bookkeeping (its ``tables`` and ``source``).
    """
    names = Dataset.table_names()
    # independent reads, four at a time (the server runs each query on one thread)
    with ThreadPoolExecutor(4) as pool:
        tables = dict(zip(names, pool.map(lambda name: pull_table(connection, name), names),
                          strict=True))
    return Dataset(**tables, present=frozenset(meta.get("tables") or ()),
                   source=meta.get("source"))
