"""Nightly deltas: a new snapshot compared with what the database holds, only the
difference written.

Every row a load writes (a node, or a relationship of the snapshot) keeps two 64-bit
hashes of its input row, made here in Polars (:func:`with_hashes`): ``row_key``, of its
key columns, and ``row_hash``, of all its columns (the extra columns included). A delta
load (:class:`DeltaLoad`) pulls both back for every step in one read each
(``queries/cypher/delta.cypher``), compares them with the new snapshot's in Polars
(:func:`compare`), and then

* writes only the rows whose ``(row_key, row_hash)`` the database does not hold (new
  rows, changed ones and ones that come back after being retired), with the same MERGE
  statements as a full load (so a changed account status still leaves a
  ``StatusChange``);
* retires by ``row_key`` what the database holds and the snapshot no longer does, as a
  full load retires it: relationships deleted, nodes given ``retired_at``.

The hashes are Polars' (:meth:`polars.Expr.hash` over the row's columns as text), which
Polars does not promise to keep across versions: the load bookkeeping records
:data:`HASH_VERSION`, and a load whose database was hashed by another version (or whose
last load did not complete) writes every row, as a full load does.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import polars as pl
from xpg.graph.neo4j_connection import QueryMode
from xpg.graph.neo4j_write import NODE_KEYS, WriteStep, resolve, write_plan
from xpg.queries.cypher import statement

from xpg.progress import Progress

if TYPE_CHECKING:
    from xpg.graph.neo4j_load import Neo4jLoader
    from xpg.loaders.dataset import Dataset

_log = logging.getLogger(__name__)

__all__ = ["HASH_VERSION", "ROW_KEYS", "DeltaLoad", "compare", "hashed_plan", "with_hashes"]

HASH_VERSION = f"polars-{pl.__version__}/concat-hash-1"
"""How the row hashes were made: a delta compares only hashes made the same way."""

_SEED = 0x78_70_67  # "xpg"
_SEP = "\x1f"
_NULL = "\x00"

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

RETIRE_ORDER = (
    "used", "has_identifier", "borrowed_from", "applied_to",
    "users", "products", "accounts", "lenders", "devices", "identifiers", "account_events",
)
"""Steps in the order a delta retires their removed rows: facts first, then nodes."""


def _hash(columns: list[pl.Expr]) -> pl.Expr:
    text = pl.concat_str([c.cast(pl.String).fill_null(_NULL) for c in columns], separator=_SEP)
    return text.hash(seed=_SEED).reinterpret(signed=True)


def with_hashes(step: WriteStep) -> WriteStep:
    """``step`` with ``row_key`` and ``row_hash`` columns (Int64) added to its rows.

    Examples
    --------
    >>> from xpg.graph.neo4j_write import WriteStep
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
    """The load plan of ``dataset`` (:func:`~xpg.graph.neo4j_write.write_plan`) with the
    row hashes every load writes (the Cypher load and the offline import alike)."""
    return [with_hashes(step) for step in write_plan(dataset)]


def compare(rows: pl.DataFrame, held: pl.DataFrame) -> tuple[pl.DataFrame, pl.Series]:
    """The rows to write (their ``(row_key, row_hash)`` is not held) and the row keys to
    retire (held, and no longer in ``rows``).

    Examples
    --------
    >>> new = pl.DataFrame({"id": ["a", "b", "c"], "row_key": [1, 2, 3],
    ...                     "row_hash": [10, 21, 30]})
    >>> held = pl.DataFrame({"row_key": [1, 2, 4], "row_hash": [10, 20, 40]})
    >>> write, retire = compare(new, held)
    >>> write.get_column("id").to_list(), retire.to_list()
    (['b', 'c'], [4])
    """
    write = rows.join(held, on=["row_key", "row_hash"], how="anti", maintain_order="left")
    retire = held.join(rows.select("row_key"), on="row_key", how="anti").get_column("row_key")
    return write, retire


@dataclass
class DeltaLoad:
    """One delta load: the steps written by ``write_step`` (the loader's batched writer),
    only their new and changed rows, then the removed rows retired.

    Attributes
    ----------
    written, retired
        Rows written and row keys retired so far, over every step.
    """

    loader: Neo4jLoader
    load: int
    write_step: Callable[[WriteStep, int, bool, Progress], pl.DataFrame | None]
    written: int = 0
    retired: int = 0

    def held(self, step: WriteStep) -> pl.DataFrame:
        """The ``row_key`` and ``row_hash`` of what the database holds for ``step``."""
        rows = self.loader.run(statement("delta", f"hashes_{step.name}"), QueryMode.READ)
        row = rows[0] if rows else {"row_key": [], "row_hash": []}
        return pl.DataFrame({"row_key": row["row_key"], "row_hash": row["row_hash"]},
                            schema={"row_key": pl.Int64, "row_hash": pl.Int64})

    def run(self, plan: list[WriteStep], existing: Mapping[str, int],
            progress: Progress) -> None:
        """Write ``plan``'s new and changed rows and retire its removed ones."""
        node_ids: dict[str, pl.DataFrame] = {}
        removed: dict[str, pl.Series] = {}
        for step in plan:
            write, retire = compare(step.rows, self.held(step))
            removed[step.name] = retire
            self.written += write.height
            changed = replace(step, rows=write, extras=_extras_of(step, write))
            self._lookups(changed, node_ids)
            create = existing.get(step.empty_when, 0) == 0
            ids = self.write_step(resolve(changed, node_ids), self.load, create, progress)
            if ids is not None:
                node_ids[step.empty_when] = _union(node_ids.get(step.empty_when), ids)
            if step.name == "accounts" and write.height:
                self._batched("relink_accounts", write.get_column("id").to_list(), "ids")
        with progress.step("Retiring what the snapshot no longer holds",
                           len(RETIRE_ORDER)) as advance:
            for name in RETIRE_ORDER:
                keys = removed.get(name)
                if keys is not None and keys.len():
                    self.retired += keys.len()
                    self._batched(f"drop_{name}", keys.to_list(), "keys")
                advance(1)

    def _batched(self, name: str, values: list[Any], param: str) -> None:
        from xpg.graph.neo4j_load import now

        size = self.loader.config.batch_size
        for start in range(0, len(values), size):
            self.loader.run(statement("delta", name), QueryMode.WRITE,
                            **{param: values[start:start + size]}, load=self.load, now=now())

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
