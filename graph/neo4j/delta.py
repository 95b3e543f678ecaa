"""Nightly deltas: a new snapshot compared with what the database holds, only the
difference written.

Every row a load writes (a node, or a relationship of the snapshot) keeps two 64-bit
hashes of its input row, made here in Polars (:func:`with_hashes`): ``row_key``, of its
key columns, and ``row_hash``, of all its columns (the extra columns included, the key
columns too). A delta load (:class:`DeltaLoad`) pulls the ``row_hash`` of every current
row back, one read per step (``graph/neo4j/cypher/delta.cypher``: one list of integers, read
without the driver's per-value ``Record.data()`` walk; four reads at a time), compares
them with the new snapshot's in Polars (:func:`compare`), and then

* writes only the rows whose ``row_hash`` the database does not hold (new rows, changed
  ones and ones that come back after being retired), with the same MERGE statements as a
  full load (so a changed account status still leaves a ``StatusChange``);
* retires what still carries a held hash the snapshot does not have (the changed rows
  were just written with their new hash, so those left were removed), one index seek per
  hash on ``row_hash`` (indexes the first delta creates), all steps in one transaction
  per ``batch_size`` hashes, as a full load retires it: relationships deleted, nodes given
  ``retired_at``.

:attr:`DeltaLoad.seconds` says where the time went, per phase.

The hashes are Polars' (:meth:`polars.Expr.hash` of a struct of the row's columns, which
hashes each column's values as they are and combines them: no text is built), which
Polars does not promise to keep across versions: the load bookkeeping records
:data:`HASH_VERSION`, and a load whose database was hashed by another version (or whose
last load did not complete) writes every row, as a full load does.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import polars as pl
from xpg.graph.neo4j.connection import QueryMode, now
from xpg.graph.neo4j.pull import read_record
from xpg.graph.neo4j.statements import statement, statements
from xpg.graph.neo4j.write import NODE_KEYS, WriteStep, resolve, write_plan

from xpg.progress import Progress

if TYPE_CHECKING:
    from xpg.loaders.dataset import Dataset

    from xpg.settings import Neo4jConfig

_log = logging.getLogger(__name__)

__all__ = [
    "HASH_VERSION", "MANIFEST_PART", "ROW_KEYS", "DeltaLoad", "compare", "hashed_plan",
    "read_manifest", "row_hash_indexes", "with_hashes", "write_manifest",
]

class Loader(Protocol):
    """What a delta uses of the loader (:class:`~xpg.graph.neo4j.load.Neo4jLoader`, which
    runs it: this module does not import it back)."""

    config: Neo4jConfig

    def errors(self, doing: str) -> AbstractContextManager[None]: ...

    def session(self, mode: QueryMode) -> AbstractContextManager[Any]: ...

    def run(self, query: str, mode: QueryMode, **params: Any) -> list[dict[str, Any]]: ...

    def ensure_schema(self, wanted: Mapping[str, str] | None = None) -> None: ...


HASH_VERSION = f"polars-{pl.__version__}/struct-hash-2"
"""How the row hashes were made: a delta compares only hashes made the same way."""

_SEED = 0x78_70_67  # "xpg"

ROW_KEYS: Mapping[str, tuple[str, ...]] = {
    "products": ("id",),
    "lenders": ("id",),
    "users": ("id",),
    "devices": ("id",),
    "identifiers": ("kind", "value"),
    "accounts": ("id",),
    "used": ("user_id", "device_id"),
    "has_identifier": ("user_id", "kind", "value"),
    "borrowed_from": ("user_id", "lender_id", "opened_at", "seq"),
    "applied_to": ("user_id", "lender_id", "applied_at", "seq"),
    "account_events": ("key",),
}
"""The columns of each step's rows that identify a row (its node or relationship)."""

MANIFEST_PART = 1_000_000
"""Row hashes per ``XpgHashes`` node of the manifest (8 MB of bytes)."""

RETIRE_ORDER = (
    "used", "has_identifier", "borrowed_from", "applied_to",
    "users", "products", "accounts", "lenders", "devices", "identifiers", "account_events",
)
"""Steps in the order a delta retires their removed rows: facts first, then nodes."""


def _hash(columns: list[pl.Expr]) -> pl.Expr:
    """One Int64 hash per row of ``columns``: the hash of a struct of them, which combines
    its fields' hashes (several times cheaper than building each row as one string).

    Examples
    --------
    A null is not an empty string, and a value is not the same value in another column:

    >>> rows = pl.DataFrame({"a": ["", None, "x", "xy", "x"], "b": [None, "", "y", "", None]})
    >>> rows.select(_hash([pl.col("a"), pl.col("b")])).to_series().n_unique()
    5
    """
    return pl.struct(columns).hash(seed=_SEED).reinterpret(signed=True)


def with_hashes(step: WriteStep) -> WriteStep:
    """``step`` with ``row_key`` and ``row_hash`` columns (Int64) added to its rows.

    Examples
    --------
    >>> from xpg.graph.neo4j.write import WriteStep
    >>> rows = pl.DataFrame({"id": ["u1", "u2"], "credit_score": [700, None]})
    >>> step = with_hashes(WriteStep("users", "users", "User", rows, 1, 0))
    >>> step.rows.columns, step.rows.get_column("row_key").n_unique()
    (['id', 'credit_score', 'row_key', 'row_hash'], 2)
    >>> changed = with_hashes(WriteStep("users", "users", "User",
    ...                                 rows.with_columns(credit_score=pl.lit(1)), 1, 0))
    >>> (changed.rows["row_key"] == step.rows["row_key"]).all()
    True
    >>> (changed.rows["row_hash"] == step.rows["row_hash"]).any()
    False
    """
    rows = step.rows
    content = [pl.col(c) for c in rows.columns]
    if step.extras is not None:
        extra = step.extras.get_column("extra").struct.json_encode().alias("_extra")
        rows = rows.with_columns(extra)
        content.append(pl.col("_extra"))
    rows = rows.with_columns(
        _hash([pl.col(c) for c in ROW_KEYS[step.name]]).alias("row_key"),
        _hash(content).alias("row_hash"),
    ).drop("_extra", strict=False)
    types = {**step.types, "row_key": pl.Int64(), "row_hash": pl.Int64()} if step.types else {}
    return replace(step, rows=rows, types=types)


def hashed_plan(dataset: Dataset) -> list[WriteStep]:
    """The load plan of ``dataset`` (:func:`~xpg.graph.neo4j.write.write_plan`) with the
    row hashes every load writes (the Cypher load and the offline import alike)."""
    return [with_hashes(step) for step in write_plan(dataset)]


def compare(rows: pl.DataFrame, held: pl.Series) -> tuple[pl.DataFrame, pl.Series]:
    """The rows to write (their ``row_hash`` is not held) and the held hashes that are no
    longer in ``rows`` (rows changed or removed: once the changed ones are written again,
    what still carries one of these hashes is retired).

    A row's hash covers its key columns too, so a hash alone tells a row and its
    content: a row whose hash the database holds is there, unchanged.

    Examples
    --------
    >>> new = pl.DataFrame({"id": ["a", "b", "c"], "row_key": [1, 2, 3],
    ...                     "row_hash": [10, 21, 30]})
    >>> write, gone = compare(new, pl.Series("row_hash", [10, 20, 40]))
    >>> write.get_column("id").to_list(), gone.to_list()
    (['b', 'c'], [20, 40])
    """
    held_frame = held.rename("row_hash").to_frame()
    write = rows.join(held_frame, on="row_hash", how="anti", maintain_order="left")
    gone = held_frame.join(rows.select("row_hash"), on="row_hash", how="anti")
    return write, gone.get_column("row_hash")


def row_hash_indexes() -> dict[str, str]:
    """The ``CREATE INDEX ... IF NOT EXISTS`` statements of the ``row_hash`` range indexes
    (one per label and relationship type of a step), by name."""
    return {name: query for name, query in statements("delta").items()
            if name.startswith("index_row_hash_")}


def write_manifest(loader: Loader, plan: list[WriteStep], load: int) -> None:
    """Keep the ``row_hash`` of every row of ``plan`` in the database as the manifest of
    load ``load`` (``XpgHashes`` nodes: per step, byte arrays of up to
    :data:`MANIFEST_PART` little-endian 64-bit hashes), and drop the other loads'.

    Written before the load is marked complete: the next delta reads these few byte arrays
    (:func:`read_manifest`) instead of a property of every node and relationship.
    """
    query = statement("delta", "manifest_write")

    def work(tx: Any, **params: Any) -> None:
        tx.run(query, params, load=load).consume()

    with loader.errors("writing the hash manifest"), loader.session(QueryMode.WRITE) as session:
        for step in plan:
            hashes = step.rows.get_column("row_hash").to_numpy().astype("<i8", copy=False)
            parts = max(1, -(-len(hashes) // MANIFEST_PART))
            for part in range(parts):
                chunk = hashes[part * MANIFEST_PART:(part + 1) * MANIFEST_PART]
                session.execute_write(work, step=step.name, part=part, parts=parts,
                                      hashes=chunk.tobytes())
        session.execute_write(
            lambda tx: tx.run(statement("delta", "manifest_clear"), load=load).consume())


def read_manifest(loader: Loader, step: str, load: int) -> pl.Series | None:
    """The row hashes the manifest of load ``load`` keeps for ``step`` (one read), or None
    when its parts are not all there (a graph the offline importer or an older xpg wrote).

    Examples
    --------
    The parts are byte arrays of little-endian 64-bit integers:

    >>> np.frombuffer(np.array([3, -1], dtype="<i8").tobytes(), dtype="<i8").tolist()
    [3, -1]
    """
    row = read_record(loader, statement("delta", "manifest_read"), step=step, load=load)
    parts = row.get("part") or []
    if not parts or sorted(parts) != list(range(row["parts"][0])):
        return None
    data = b"".join(bytes(row["hashes"][k]) for k in sorted(range(len(parts)),
                                                              key=parts.__getitem__))
    return pl.Series("row_hash", np.frombuffer(data, dtype="<i8").astype(np.int64))


@dataclass
class DeltaLoad:
    """One delta load: the steps written by ``write_step`` (the loader's batched writer),
    only their new and changed rows, then the removed rows retired.

    Attributes
    ----------
    previous
        The number of the last complete load, whose hash manifest the delta reads
        (:func:`read_manifest`); ``None``: read the hashes from the graph.
    written, retired
        Rows written and rows retired so far, over every step.
    scanned
        The steps whose hashes were read from the graph (their manifest missing).
    seconds
        Wall seconds spent so far per phase (``index``, ``read``: the hashes read back,
        ``compare``, ``lookup``, ``write``, ``retire``): where a delta's time goes.
    """

    loader: Loader
    load: int
    write_step: Callable[[WriteStep, int, bool, Progress], pl.DataFrame | None]
    previous: int | None = None
    written: int = 0
    retired: int = 0
    scanned: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))

    def _ensure_timed(self) -> float:
        start = time.perf_counter()
        self.ensure_indexes()
        return start

    def _clock(self, phase: str, start: float) -> float:
        now = time.perf_counter()
        self.seconds[phase] += now - start
        return now

    def held(self, step: WriteStep) -> pl.Series:
        """The ``row_hash`` of what the database holds for ``step`` (one read): from the
        last load's manifest, else from every current node or relationship of the step."""
        if self.previous is not None:
            hashes = read_manifest(self.loader, step.name, self.previous)
            if hashes is not None:
                return hashes
        self.scanned.append(step.name)
        _log.info("delta: no manifest for %s of load %s: its hashes are read from the graph",
                  step.name, self.previous)
        row = read_record(self.loader, statement("delta", f"hashes_{step.name}"))
        return pl.Series("row_hash", row.get("row_hash", []), dtype=pl.Int64)

    def ensure_indexes(self) -> None:
        """Create the ``row_hash`` indexes the retirement seeks with, when missing, and wait
        until they are online (a full load creates them; this is for a graph loaded
        without them: the offline import, an older xpg)."""
        self.loader.ensure_schema(row_hash_indexes())

    def run(self, plan: list[WriteStep], existing: Mapping[str, int],
            progress: Progress) -> None:
        """Write ``plan``'s new and changed rows and retire its removed ones."""
        node_ids: dict[str, pl.DataFrame] = {}
        removed: dict[str, pl.Series] = {}
        self._clock("index", self._ensure_timed())
        # the hash reads are independent of each other and of the writes: all of them
        # first, side by side (the server runs each query on one thread)
        t = time.perf_counter()
        with ThreadPoolExecutor(4) as pool:
            held_by_step = dict(zip([s.name for s in plan], pool.map(self.held, plan),
                                    strict=True))
        self._clock("read", t)
        for step in plan:
            t = time.perf_counter()
            write, retire = compare(step.rows, held_by_step.pop(step.name))
            removed[step.name] = retire
            self.written += write.height
            changed = replace(step, rows=write, extras=_extras_of(step, write))
            t = self._clock("compare", t)
            self._lookups(changed, node_ids)
            t = self._clock("lookup", t)
            create = existing.get(step.empty_when, 0) == 0
            ids = self.write_step(resolve(changed, node_ids), self.load, create, progress)
            if ids is not None:
                node_ids[step.empty_when] = _union(node_ids.get(step.empty_when), ids)
            if step.name == "accounts" and write.height:
                self._batched("relink_accounts", write.get_column("id").to_list(), "ids")
            self._clock("write", t)
        t = time.perf_counter()
        with progress.step("Retiring what the snapshot no longer holds",
                           len(RETIRE_ORDER)) as advance:
            self.retired += self._retire(removed)
            advance(len(RETIRE_ORDER))
        self._clock("retire", t)

    def _retire(self, removed: Mapping[str, pl.Series]) -> int:
        """Run the ``drop_*`` statements over the ``removed`` hashes, in the order of
        :data:`RETIRE_ORDER`, grouped into transactions of up to ``batch_size`` hashes
        (one commit for a nightly change, not one per step); the rows retired."""

        size = self.loader.config.batch_size
        groups: list[list[tuple[str, list[Any]]]] = [[]]
        room = size
        for name in RETIRE_ORDER:
            hashes = removed.get(name)
            values = [] if hashes is None else hashes.to_list()
            while values:
                if room == 0:
                    groups.append([])
                    room = size
                part, values = values[:room], values[room:]
                groups[-1].append((statement("delta", f"drop_{name}"), part))
                room -= len(part)
        stamp = now()

        def work(tx: Any, group: list[tuple[str, list[Any]]]) -> int:
            return sum(int(tx.run(query, hashes=part, load=self.load, now=stamp).single()["n"])
                       for query, part in group)

        done = 0
        with self.loader.errors("retiring"), self.loader.session(QueryMode.WRITE) as session:
            for group in groups:
                if group:
                    done += session.execute_write(work, group)
        return done

    def _batched(self, name: str, values: list[Any], param: str) -> int:
        """Run ``name`` over ``values`` in batches; the sum of the ``n`` they return."""

        size = self.loader.config.batch_size
        done = 0
        for start in range(0, len(values), size):
            rows = self.loader.run(statement("delta", name), QueryMode.WRITE,
                                   **{param: values[start:start + size]}, load=self.load,
                                   now=now())
            done += int(rows[0]["n"]) if rows and "n" in rows[0] else 0
        return done

    def _lookups(self, step: WriteStep, node_ids: dict[str, pl.DataFrame]) -> None:
        """Add to ``node_ids`` the element ids of the nodes ``step``'s rows look up that
        this load did not write (one read per label, by key)."""
        for label, columns in step.lookups.values():
            keys = step.rows.select(pl.col(c).alias(k) for c, k in columns.items()).unique()
            known = node_ids.get(label)
            if known is not None:
                keys = keys.join(known, on=list(columns.values()), how="anti")
            if keys.height == 0:
                node_ids.setdefault(label, _empty_ids(label))
                continue
            row = self.loader.run(statement("delta", f"ids_{label}"), QueryMode.READ,
                                  **{k: keys.get_column(k).to_list() for k in keys.columns})[0]
            fetched = pl.DataFrame({k: row[k] for k in (*NODE_KEYS[label], "node")},
                                   schema={**dict.fromkeys(NODE_KEYS[label], pl.String),
                                           "node": pl.String})
            node_ids[label] = _union(known, fetched)


def _empty_ids(label: str) -> pl.DataFrame:
    return pl.DataFrame(schema={**dict.fromkeys(NODE_KEYS[label], pl.String), "node": pl.String})


def _union(known: pl.DataFrame | None, more: pl.DataFrame) -> pl.DataFrame:
    return more if known is None else pl.concat([known, more.select(known.columns)])


def _extras_of(step: WriteStep, write: pl.DataFrame) -> pl.DataFrame | None:
    """The extra columns of the rows in ``write`` only."""
    if step.extras is None:
        return None
    keys = [c for c in step.extras.columns if c != "extra"]
    return step.extras.join(write.select(keys), on=keys, how="semi", maintain_order="left")
