"""The load half of the Neo4j backend: schema, batched writes and retirement.

:class:`Neo4jLoader` (mixed into :class:`~xpg.graph.neo4j.Neo4jBackend`) writes a
dataset as the graph of ``docs/graph-model.md``: constraints and indexes first,
then batched, parameterized ``UNWIND $rows ... MERGE`` statements
(``graph/neo4j/cypher/load.cypher``, planned by :mod:`xpg.graph.neo4j.write`) in
managed write transactions, then retires what the snapshot no longer holds. Every
statement states its :class:`~xpg.graph.neo4j.connection.QueryMode`.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import polars as pl
from xpg.graph.backend import LoadStats
from xpg.graph.neo4j.connection import Neo4jConnection, QueryMode, now
from xpg.graph.neo4j.delta import (
    HASH_VERSION,
    DeltaLoad,
    hashed_plan,
    row_hash_indexes,
    write_manifest,
)
from xpg.graph.neo4j.lock import job_lock
from xpg.graph.neo4j.statements import statement, statements
from xpg.graph.neo4j.write import WriteStep, resolve
from xpg.loaders.dataset import Dataset

from xpg.errors import BackendError, GraphIncompleteError, GraphMissingError
from xpg.progress import NO_PROGRESS, Progress

_log = logging.getLogger(__name__)

__all__ = ["RETIRE", "Neo4jLoader"]

RETIRE = (
    "retire_used",
    "retire_has_identifier",
    "retire_borrowed_from",
    "retire_applied_to",
    "retire_has_account",
    "retire_in_product",
    "retire_users",
    "retire_products",
    "retire_accounts",
    "retire_lenders",
    "retire_devices",
    "retire_identifiers",
    "retire_account_events",
)
"""What a complete load retires, in order: facts first, then nodes."""


def _schema_name(query: str) -> str:
    """The name a ``CREATE CONSTRAINT|INDEX <name> IF NOT EXISTS`` statement gives."""
    return query.split()[2]


def _hashed(meta: dict[str, Any] | None) -> bool:
    """Whether the last load completed and hashed its rows as this version does (a
    delta can then compare with what it wrote)."""
    return (meta is not None and meta.get("state") == "complete"
            and meta.get("row_hash") == HASH_VERSION)


class Neo4jLoader(Neo4jConnection):
    """Schema, load and bookkeeping reads of the Neo4j backend."""

    def counts(self) -> dict[str, int]:
        """Nodes per label and relationships per type (plus ``nodes``/``relationships``)."""
        rows = self.run(statement("load", "counts"), QueryMode.READ)
        return {k: int(v) for k, v in rows[0].items()}

    def ensure_schema(self, wanted: Mapping[str, str] | None = None) -> None:
        """Create the constraints and indexes (idempotent) and wait until they are online.

        ``wanted``: the ``CREATE ... IF NOT EXISTS`` statements by name (default: those of
        ``graph/neo4j/cypher/schema.cypher``).

        One read when they all exist already (their names are ``xpg_*``); the missing
        ones are created side by side (four sessions).
        """
        if wanted is None:
            wanted = {
                name: query
                for name, query in statements("schema").items()
                if name.startswith(("constraint_", "index_"))
            }
        rows = self.run(statement("schema", "existing"), QueryMode.READ)
        have = set(rows[0]["names"]) if rows else set()
        missing = [q for q in wanted.values() if _schema_name(q) not in have]
        # one session each, at once: creating a constraint waits for its index to be
        # built, which over an imported graph is a scan of the label; the server builds
        # them side by side instead of one after the other
        with ThreadPoolExecutor(max(1, min(len(missing), 4))) as pool:
            list(pool.map(lambda query: self.run(query, QueryMode.WRITE), missing))
        if missing or not rows[0]["online"]:
            self.run(statement("schema", "await_indexes"), QueryMode.WRITE)

    def meta(self) -> dict[str, Any] | None:
        """The bookkeeping of the last load (``load``, ``state``, ``latest_date``, ...)."""
        rows = self.run(statement("load", "meta"), QueryMode.READ)
        return dict(rows[0]["m"]) if rows else None

    def latest_date(self) -> dt.date | None:
        """The latest date of the last complete load (None: its data has no dates)."""
        latest = self._complete_meta().get("latest_date")
        return latest.to_native() if hasattr(latest, "to_native") else latest

    def _complete_meta(self) -> dict[str, Any]:
        meta = self.meta()
        if meta is None:
            raise GraphMissingError(
                f"the Neo4j database {self.config.database!r} at {self.config.redacted_uri} "
                "holds no xpg graph"
            )
        if meta.get("state") != "complete":
            raise GraphIncompleteError(
                f"the last load into {self.config.database!r} at {self.config.redacted_uri} "
                "did not complete"
            )
        return meta

    def _load(self, dataset: Dataset, progress: Progress | None = None) -> LoadStats:
        """Write ``dataset`` into the database, updating what an earlier load wrote.

        New keys are added, known ones updated (an account whose status or reason
        changed gets a ``StatusChange`` history node), and once every step has been
        written, whatever this load did not write is retired (``docs/neo4j.md``).
        With ``load_mode = "delta"`` over a completed load hashed the same way, only the
        new and changed rows are written and the removed ones retired
        (:mod:`xpg.graph.neo4j.delta`); the graph is the same.
        Running it again on the same data changes no count; after a failure,
        running it again completes it with no duplicates.

        Returns
        -------
        LoadStats
            The nodes and relationships the dataset makes, and the seconds taken.

        Raises
        ------
        LockHeldError
            Another load or detection runs on the database (:mod:`xpg.graph.neo4j.lock`).
        BackendError
            When the database fails or cannot be reached.
        """
        progress = progress or NO_PROGRESS
        start = time.perf_counter()
        plan = hashed_plan(dataset)
        phases = {"plan": time.perf_counter() - start}
        self.ensure_schema()
        with job_lock(self, "load"):
            return self._load_locked(dataset, plan, start, phases, progress)

    def _load_locked(self, dataset: Dataset, plan: list[WriteStep], start: float,
                     phases: dict[str, float], progress: Progress) -> LoadStats:
        before = self.meta()
        mode = "delta" if self.config.load_mode == "delta" and _hashed(before) else "full"
        load = int(self.run(statement("load", "begin_load"), QueryMode.WRITE, now=now())[0]["load"])
        existing = self.counts()
        delta = None
        t = time.perf_counter()
        phases["setup"] = t - start - phases["plan"]  # schema check, lock, bookkeeping
        if mode == "delta":
            assert before is not None
            delta = DeltaLoad(self, load, self._write_step, previous=int(before["load"]))
            delta.run(plan, existing, progress)
            phases.update(delta.seconds)
        else:
            phases.update(self._write_full(plan, load, existing, progress))
        t = time.perf_counter()
        write_manifest(self, plan, load)
        phases["manifest"] = time.perf_counter() - t
        self.finish_load(dataset, load, row_hash=HASH_VERSION, mode=mode)
        seconds = time.perf_counter() - start
        phases["finish"] = seconds - sum(phases.values())
        return LoadStats(
            nodes=sum(s.node_count for s in plan),
            relationships=sum(s.relationship_count for s in plan),
            seconds=seconds,
            mode=mode,
            written=None if delta is None else delta.written,
            retired=None if delta is None else delta.retired,
            phases=phases,
        )

    def finish_load(self, dataset: Dataset, load: int, *, row_hash: str | None = None,
                    mode: str = "full") -> None:
        """Mark load number ``load`` (of ``dataset``) complete in ``XpgMeta``, with how its
        rows were hashed (``row_hash``: None when they were not, so that the next load
        writes every row) and how it wrote them (``mode``)."""
        self.run(
            statement("load", "end_load"),
            QueryMode.WRITE,
            load=load,
            now=now(),
            latest_date=dataset.latest_date(),
            source=dataset.source,
            tables=sorted(dataset.present)
            or [n for n in dataset.table_names() if dataset.table(n).height],
            users=dataset.users.select("user_id").n_unique(),
            row_hash=row_hash,
            mode=mode,
        )

    def _write_full(self, plan: list[WriteStep], load: int, existing: dict[str, int],
                    progress: Progress) -> dict[str, float]:
        """Write every row of ``plan``, then retire whatever this load did not write, and
        create the ``row_hash`` indexes the next delta retires with when they are missing
        (a first load: built over the written graph, not kept up row by row while it is
        written). Returns the seconds of each phase (``write``, ``retire``, ``index``)."""
        node_ids: dict[str, pl.DataFrame] = {}
        t = time.perf_counter()
        for step in plan:
            create = existing.get(step.empty_when, 0) == 0
            ids = self._write_step(resolve(step, node_ids), load, create, progress)
            if ids is not None:
                node_ids[step.empty_when] = ids
        phases = {"write": time.perf_counter() - t}
        t = time.perf_counter()
        with progress.step("Retiring what the snapshot no longer holds", len(RETIRE)) as advance:
            for name in RETIRE:
                self.run(statement("load", name), QueryMode.WRITE, retry=False, load=load,
                         now=now(), batch=self.config.batch_size)
                advance(1)
        phases["retire"] = time.perf_counter() - t
        t = time.perf_counter()
        self.ensure_schema(row_hash_indexes())
        phases["index"] = time.perf_counter() - t
        return phases

    def _write_step(
        self, step: WriteStep, load: int, create: bool, progress: Progress
    ) -> pl.DataFrame | None:
        """Send one step's rows in batches of ``batch_size``, as column lists.

        Returns, for a step with ``returns``, the written nodes' keys (named as the
        label's key properties) and element ids (``node``); else ``None``.
        """
        import neo4j

        total = step.rows.height
        merge = statement("load", f"merge_{step.name}")
        query = statement("load", f"create_{step.name}") if create else merge
        size = self.config.batch_size
        stamp = now()
        positions: list[int] = []
        nodes: list[str] = []

        def work(tx: Any, columns: dict[str, list[Any]], text: str = query) -> Any:
            return tx.run(text, columns, load=load, now=stamp).single()

        with (
            progress.step(f"Writing {step.title}", total) as advance,
            self.errors(f"writing {step.title}"),
            self.session(QueryMode.WRITE) as session,
        ):
            for offset, batch in zip(
                range(0, total, size), step.rows.iter_slices(size), strict=False
            ):
                columns = {name: batch.get_column(name).to_list() for name in batch.columns}
                if create:
                    # every row is new: run once, no retries (a CREATE retried after a
                    # commit whose answer was lost would duplicate). When it fails, the
                    # idempotent MERGE form finishes the batch whether or not it committed.
                    try:
                        with session.begin_transaction() as tx:
                            record = work(tx, columns)
                            tx.commit()
                    except (neo4j.exceptions.Neo4jError, neo4j.exceptions.DriverError) as e:
                        _log.warning("writing %s: a CREATE batch failed (%s); MERGE finishes it",
                                     step.title, self.redact(str(e)))
                        record = session.execute_write(work, columns, merge)
                else:
                    record = session.execute_write(work, columns)
                written = record["rows"]
                if isinstance(written, list):
                    positions += [offset + k for k in written]
                    nodes += record["nodes"]
                    written = len(written)
                if written != batch.height:
                    raise BackendError(
                        f"writing {step.title}: {batch.height - written} of {batch.height} rows "
                        "name a user, product, lender or account that is not in the database"
                    )
                advance(batch.height)
            if step.extras is not None:
                self._write_extras(session, step, size)
        if step.returns is None:
            return None
        keys = step.rows.select(pl.col(c).alias(k) for c, k in step.returns.items())
        order = pl.DataFrame(
            {"position": positions, "node": nodes},
            schema={"position": pl.Int64, "node": pl.String},
        ).sort("position")
        return keys.with_columns(order.get_column("node"))

    def _write_extras(self, session: Any, step: WriteStep, size: int) -> None:
        """Write the input's extra columns as properties (idempotent: ``SET +=``)."""
        query = statement("load", f"extra_{step.name}")

        def work(tx: Any, columns: dict[str, list[Any]]) -> None:
            tx.run(query, columns).consume()

        assert step.extras is not None
        for batch in step.extras.iter_slices(size):
            columns = {name: batch.get_column(name).to_list() for name in batch.columns}
            session.execute_write(work, columns)

