"""The Neo4j backend: the exposure graph kept in a Neo4j database.

:class:`Neo4jBackend` implements :class:`~xpg.graph.backend.Backend`:

* :meth:`~Neo4jBackend.load` writes a dataset as the graph of
  ``docs/graph-model.md``: constraints and indexes first, then batched,
  parameterized ``UNWIND $rows ... MERGE`` statements (``queries/cypher/load.cypher``)
  in managed write transactions, then retires what the snapshot no longer holds;
* :meth:`~Neo4jBackend.detect` computes every detection frame with Cypher in the
  database (:class:`~xpg.graph.neo4j_hooks.Neo4jHooks`), pulls only those frames
  into Python and runs the same assembly as the in-memory backend, so the findings
  are identical, ids included; the findings are then written back as ``Finding``
  nodes.

Every session states its access mode (read or write). Driver errors come out as
:class:`~xpg.errors.BackendError` with the URI redacted. A driver passed in is
never closed by the backend.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import polars as pl
from xpg.graph.backend import LoadStats
from xpg.graph.neo4j_write import WriteStep, resolve, write_plan
from xpg.loaders.dataset import Dataset
from xpg.queries.cypher import statement, statements
from xpg.queries.findings import FindingsReport

from xpg.errors import (
    BackendError,
    GraphIncompleteError,
    GraphMissingError,
    InputError,
    RunDateUnknownError,
)
from xpg.progress import NO_PROGRESS, Progress
from xpg.settings import DetectionConfig, Neo4jConfig

_log = logging.getLogger(__name__)

__all__ = ["NODE_LABELS", "RELATIONSHIP_TYPES", "XPG_LABELS", "Neo4jBackend"]

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

XPG_LABELS = (*NODE_LABELS, "XpgMeta", "XpgRingLink", "XpgRingUser")
"""Every label xpg writes (the bookkeeping ones included)."""

# what a complete load retires, in order: facts first, then nodes
_RETIRE = (
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


def _schema_name(query: str) -> str:
    """The name a ``CREATE CONSTRAINT|INDEX <name> IF NOT EXISTS`` statement gives."""
    return query.split()[2]


def config_key(config: DetectionConfig) -> str:
    """The detection settings as canonical JSON: equal settings, equal text."""

    def plain(x: Any) -> Any:
        if dataclasses.is_dataclass(x) and not isinstance(x, type):
            return {f.name: plain(getattr(x, f.name)) for f in dataclasses.fields(x)}
        if isinstance(x, Mapping):
            return {str(k): plain(v) for k, v in x.items()}
        if isinstance(x, list | tuple):
            return [plain(v) for v in x]
        if isinstance(x, set | frozenset):
            return sorted(plain(v) for v in x)
        return x

    return json.dumps(plain(config), sort_keys=True, default=str)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Neo4jBackend:
    """The exposure graph in a Neo4j 5 database.

    Parameters
    ----------
    config
        Connection (``uri``, ``user``, ``password``, ``database``) and ``batch_size``
        (rows per write transaction).
    driver
        An open :class:`neo4j.Driver` to use instead of making one; the backend then
        never closes it.

    Notes
    -----
    One load or detection at a time per database: a load stamps what it writes with
    its number and retires the rest, and the ring detection keeps scratch
    properties on the nodes it visits until it ends.

    Examples
    --------
    >>> from xpg.settings import Neo4jConfig
    >>> backend = Neo4jBackend(Neo4jConfig(uri="bolt://127.0.0.1:1"))  # connects lazily
    >>> backend.name
    'neo4j'
    >>> backend.close()
    """

    name = "neo4j"

    def __init__(self, config: Neo4jConfig, *, driver: Any = None):
        if config.batch_size < 1:
            raise InputError(f"neo4j.batch_size must be at least 1, got {config.batch_size}")
        self.config = config
        self._driver = driver
        self._owns_driver = driver is None
        self._closed = False

    # -- connection --------------------------------------------------------------

    @property
    def driver(self) -> Any:
        """The driver (made on first use from the config unless one was passed in)."""
        if self._closed:
            raise BackendError("the Neo4j backend is closed")
        if self._driver is None:
            import neo4j

            auth = (
                None if self.config.password is None else (self.config.user, self.config.password)
            )
            try:
                driver = neo4j.GraphDatabase.driver(self.config.uri, auth=auth)
            except (ValueError, neo4j.exceptions.DriverError) as e:
                raise BackendError(
                    f"cannot open a Neo4j driver for {self.config.redacted_uri}: "
                    f"{self._redact(str(e))}"
                ) from e
            # one round trip first: a server that is down or refuses the credentials
            # fails now, in a second, instead of after the managed transactions' retries
            try:
                with self._errors("connecting"):
                    driver.verify_connectivity()
            except BackendError:
                driver.close()
                raise
            self._driver = driver
        return self._driver

    def session(self, *, write: bool) -> Any:
        """A session on the configured database, in write or read access mode."""
        import neo4j

        return self.driver.session(
            database=self.config.database,
            default_access_mode=neo4j.WRITE_ACCESS if write else neo4j.READ_ACCESS,
            notifications_min_severity="OFF",
        )

    def _redact(self, text: str) -> str:
        text = text.replace(self.config.uri, self.config.redacted_uri)
        if self.config.password:
            text = text.replace(self.config.password, "***")
        return text

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        """Turn driver and server errors into :class:`BackendError` (URI redacted)."""
        import neo4j

        try:
            yield
        except BackendError:
            raise
        except neo4j.exceptions.AuthError as e:
            raise BackendError(
                f"Neo4j at {self.config.redacted_uri} refused the credentials of user "
                f"{self.config.user!r} while {doing} (check NEO4J_USER/NEO4J_PASSWORD)"
            ) from e
        except neo4j.exceptions.Neo4jError as e:
            raise BackendError(
                f"Neo4j at {self.config.redacted_uri} failed while {doing}: "
                f"{self._redact(e.message or str(e))}"
            ) from e
        except (neo4j.exceptions.DriverError, OSError) as e:
            raise BackendError(
                f"Neo4j at {self.config.redacted_uri} is unreachable or failed while {doing}: "
                f"{self._redact(str(e))}"
            ) from e

    def close(self) -> None:
        """Close the driver if the backend made it; an injected driver stays open."""
        if self._owns_driver and self._driver is not None:
            self._driver.close()
        self._driver = None
        self._closed = True

    def __enter__(self) -> Neo4jBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- small helpers -----------------------------------------------------------

    def run_write(self, query: str, **params: Any) -> list[dict[str, Any]]:
        """Run one statement in a managed (retried) write transaction; its rows as dicts.

        Only for idempotent work: the driver retries it on transient errors.
        """

        def work(tx: Any) -> list[dict[str, Any]]:
            return [r.data() for r in tx.run(query, params)]

        with self._errors("writing"), self.session(write=True) as session:
            return session.execute_write(work)

    def run_read(self, query: str, **params: Any) -> list[dict[str, Any]]:
        """Run one statement in a managed read transaction; its rows as dicts."""

        def work(tx: Any) -> list[dict[str, Any]]:
            return [r.data() for r in tx.run(query, params)]

        with self._errors("reading"), self.session(write=False) as session:
            return session.execute_read(work)

    def run_batched(self, query: str, **params: Any) -> list[dict[str, Any]]:
        """Run an auto-commit statement (``CALL ... IN TRANSACTIONS``) to completion.

        The driver does not retry these; callers only pass idempotent ones.
        """
        with self._errors("writing"), self.session(write=True) as session:
            return [r.data() for r in session.run(query, params)]

    def counts(self) -> dict[str, int]:
        """Nodes per label and relationships per type (plus ``nodes``/``relationships``)."""
        rows = self.run_read(statement("load", "counts"))
        return {k: int(v) for k, v in rows[0].items()}

    def ensure_schema(self) -> None:
        """Create the constraints and indexes (idempotent) and wait until they are online.

        One read when they all exist already (their names are ``xpg_*``).
        """
        wanted = {
            name: query
            for name, query in statements("schema").items()
            if name.startswith(("constraint_", "index_"))
        }
        rows = self.run_read(statement("schema", "existing"))
        have = set(rows[0]["names"]) if rows else set()
        missing = [q for q in wanted.values() if _schema_name(q) not in have]
        for query in missing:
            self.run_write(query)
        if missing or not rows[0]["online"]:
            self.run_write(statement("schema", "await_indexes"))

    def meta(self) -> dict[str, Any] | None:
        """The bookkeeping of the last load (``load``, ``state``, ``latest_date``, ...)."""
        rows = self.run_read("MATCH (m:XpgMeta {name: 'graph'}) RETURN properties(m) AS m")
        return dict(rows[0]["m"]) if rows else None

    # -- load --------------------------------------------------------------------

    def load(self, dataset: Dataset, *, progress: Progress | None = None) -> LoadStats:
        """Write ``dataset`` into the database, updating what an earlier load wrote.

        New keys are added, known ones updated (an account whose status or reason
        changed gets a ``StatusChange`` history node), and once every step has been
        written, whatever this load did not write is retired (``docs/neo4j.md``).
        Running it again on the same data changes no count; after a failure,
        running it again completes it with no duplicates.

        Returns
        -------
        LoadStats
            The nodes and relationships the dataset makes, and the seconds taken.

        Raises
        ------
        BackendError
            When the database fails or cannot be reached.
        """
        progress = progress or NO_PROGRESS
        start = time.perf_counter()
        plan = write_plan(dataset)
        self.ensure_schema()
        load = int(self.run_write(statement("load", "begin_load"), now=_now())[0]["load"])
        existing = self.counts()
        node_ids: dict[str, pl.DataFrame] = {}
        for step in plan:
            create = existing.get(step.empty_when, 0) == 0
            ids = self._write_step(resolve(step, node_ids), load, create, progress)
            if ids is not None:
                node_ids[step.empty_when] = ids
        with progress.step("Retiring what the snapshot no longer holds", len(_RETIRE)) as advance:
            for name in _RETIRE:
                self.run_batched(
                    statement("load", name), load=load, now=_now(), batch=self.config.batch_size
                )
                advance(1)
        latest = dataset.latest_date()
        self.run_write(
            statement("load", "end_load"),
            load=load,
            now=_now(),
            latest_date=latest,
            source=dataset.source,
            tables=sorted(dataset.present)
            or [n for n in dataset.table_names() if dataset.table(n).height],
            users=dataset.users.select("user_id").n_unique(),
        )
        return LoadStats(
            nodes=sum(s.node_count for s in plan),
            relationships=sum(s.relationship_count for s in plan),
            seconds=time.perf_counter() - start,
        )

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
        now = _now()
        positions: list[int] = []
        nodes: list[str] = []

        def work(tx: Any, columns: dict[str, list[Any]], text: str = query) -> Any:
            return tx.run(text, columns, load=load, now=now).single()

        with (
            progress.step(f"Writing {step.title}", total) as advance,
            self._errors(f"writing {step.title}"),
            self.session(write=True) as session,
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
                                     step.title, self._redact(str(e)))
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

    # -- detect ------------------------------------------------------------------

    def latest_date(self) -> dt.date:
        """The run date by default: the latest date of the last complete load."""
        meta = self._complete_meta()
        latest = meta.get("latest_date")
        if latest is None:
            raise RunDateUnknownError("cannot infer the run date: the data has no dates",
                                      argument="as_of")
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

    def detect(
        self,
        config: DetectionConfig,
        *,
        as_of: dt.date | None = None,
        progress: Progress | None = None,
        timings: dict[str, float] | None = None,
        write_findings: bool = True,
    ) -> FindingsReport:
        """Every detection as of ``as_of`` (default: the latest date of the loaded data).

        The detection frames are computed in the database; only they come back.
        With ``write_findings`` the findings replace, in one transaction, the
        ``Finding`` nodes of the same run date (other dates are kept: findings are
        versioned by run date).
        """
        from xpg.graph.neo4j_hooks import Neo4jHooks
        from xpg.queries.detections import run_detections

        self._complete_meta()
        day = as_of or self.latest_date()
        hooks = Neo4jHooks(self)
        try:
            report = run_detections(hooks, config, day, progress=progress, timings=timings)
        finally:
            hooks.cleanup()
        if write_findings:
            self.write_findings(report, config)
        return report

    def write_findings(self, report: FindingsReport, config: DetectionConfig) -> None:
        """Replace the ``Finding`` nodes of ``report.as_of`` with ``report``'s, atomically.

        Each finding becomes ``(:Finding {id, as_of, rank, type, severity, score, ...})``
        with ``-[:FLAGS]->`` to each of its users; ``exposure`` and ``evidence`` are
        stored as JSON text (``exposure_total`` also as a number). ``(:FindingsRun
        {as_of})`` records the summary, the load the report was computed on and
        ``config`` (the detection settings it was computed with), for
        :meth:`stored_findings`.
        """
        document = report.to_dict()
        rows = [
            {
                "id": f["id"],
                "rank": rank,
                "users": f["users"],
                "p": {
                    "type": f["type"],
                    "severity": f["severity"],
                    "score": f["score"],
                    "users": f["users"],
                    "exposure_total": f["exposure"]["total"],
                    "exposure": json.dumps(f["exposure"], sort_keys=True),
                    "evidence": json.dumps(f["evidence"], sort_keys=True, ensure_ascii=False),
                    "explanation": f["explanation"],
                },
            }
            for rank, f in enumerate(document["findings"])
        ]
        replace = statement("findings", "replace_findings")
        delete = statement("findings", "delete_findings")
        run = statement("findings", "write_findings_run")
        summary = json.dumps(document["summary"], sort_keys=True, ensure_ascii=False)

        def work(tx: Any) -> None:
            now = _now()
            tx.run(delete, as_of=report.as_of).consume()
            tx.run(replace, rows=rows, as_of=report.as_of, now=now).consume()
            tx.run(run, as_of=report.as_of, config=config_key(config), summary=summary,
                   count=len(rows), now=now).consume()

        with self._errors("writing findings"), self.session(write=True) as session:
            session.execute_write(work)

    def findings(self, as_of: dt.date) -> list[Mapping[str, Any]]:
        """The ``Finding`` nodes of one run date, as property maps in report order."""
        rows = self.run_read(statement("findings", "read_findings"), as_of=as_of)
        return [r["f"] for r in rows]

    def stored_findings(
        self, config: DetectionConfig, *, as_of: dt.date | None = None
    ) -> FindingsReport | None:
        """The findings a detection wrote back for ``as_of`` (default: the latest date of
        the loaded data), when they were computed on the graph as it is now (the same
        load) with the same detection settings; else ``None``. Reads only.
        """
        day = as_of or self.latest_date()
        run = statement("findings", "read_findings_run")
        nodes = statement("findings", "read_findings")

        def work(tx: Any) -> tuple[Any, list[Any]]:
            head = tx.run(run, as_of=day, config=config_key(config)).single()
            if head is None:
                return None, []
            return head, [r["f"] for r in tx.run(nodes, as_of=day)]

        with self._errors("reading findings"), self.session(write=False) as session:
            head, stored = session.execute_read(work)
        if head is None or head["findings"] != len(stored):
            return None
        return FindingsReport.from_dict({
            "as_of": day.isoformat(),
            "findings": [
                {**f, "exposure": json.loads(f["exposure"]), "evidence": json.loads(f["evidence"])}
                for f in stored
            ],
            "summary": json.loads(head["summary"]),
        })
