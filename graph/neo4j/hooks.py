"""The detection frames computed in Neo4j with Cypher.

:class:`Neo4jHooks` implements :class:`~xpg.queries.frames.DetectionHooks` for
a :class:`~xpg.graph.neo4j.Neo4jBackend`: each rule form gives a parameterized
statement (``Form.statement``: in the ``.cypher`` file beside the rule's module) and its
parameters; the hooks run
it as a read and turn its rows (the frame, nothing more) into a Polars frame of
the form's schema. The rules then decide and assemble as in memory, so both
backends give the same findings.

Ring components (the forms that ``prepare`` ``"ring_components"``):

* a backend that may write computes them in the database: min-label propagation
  over the kept user <-> device/identifier links (see :meth:`Neo4jHooks.ring_groups`),
  or Graph Data Science WCC when the GDS plugin is installed (detected at run time),
  with scratch labels removed at the end (:meth:`Neo4jHooks.cleanup`);
* a read-only backend writes nothing: one read returns the kept links
  (statement ``ring_kept_links``), and the components are computed in Python
  with scipy, the groups and their shared links then following from those links.
  Same groups, same evidence, same findings.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl
from xpg.graph.neo4j.connection import QueryMode
from xpg.graph.neo4j.statements import statement
from xpg.queries.asof import OPEN_LOAN_STATUSES, until
from xpg.queries.frames import EXPOSURE_SCHEMA, Form, Schema, conform_to
from xpg.queries.rules.ring import GROUPS, RingConfig

from xpg.errors import BackendError

if TYPE_CHECKING:
    from xpg.graph.neo4j.connection import Neo4jConnection

__all__ = ["MAX_PASSES", "Neo4jHooks"]

MAX_PASSES = 100_000
"""Propagation passes after which ring detection gives up (it converges long before)."""


def _native(value: Any) -> Any:
    """Driver temporal values as Python's (``neo4j.time`` types have ``to_native``)."""
    to_native = getattr(value, "to_native", None)
    return to_native() if to_native is not None else value


def _frame(name: str, schema: Schema, rows: list[dict[str, Any]]) -> pl.DataFrame:
    """The frame ``name`` from result rows (temporal columns converted to Python's)."""
    temporal = [c for c, t in schema.items() if isinstance(t, pl.Datetime | pl.Date)]
    columns: dict[str, list[Any]] = {c: [r[c] for r in rows] for c in schema}
    for c in temporal:
        columns[c] = [_native(v) for v in columns[c]]
    return conform_to(name, schema, pl.DataFrame(columns, schema=dict(schema)))


class Neo4jHooks:
    """Detection frames of the graph in one Neo4j database.

    Parameters
    ----------
    backend
        The backend whose database holds a complete load.
    use_gds
        ``None`` (default): use Graph Data Science WCC for ring components when the
        plugin is installed, the Cypher propagation otherwise; ``True``/``False``
        force one (``True`` fails without the plugin).

    Notes
    -----
    The ring detection leaves scratch labels on the nodes it visits until
    :meth:`cleanup` (which :meth:`Neo4jBackend.detect` always calls).
    """

    def __init__(self, backend: Neo4jConnection, *, use_gds: bool | None = None):
        self.backend = backend
        self.use_gds = use_gds
        self.ring_method: str | None = None  # "cypher", "gds" or "read" once computed
        self.ring_passes = 0
        self._ring_key: tuple[dt.date, tuple[str, ...], int] | None = None
        self._kept: pl.DataFrame | None = None  # read-only: kept links with their group
        self._scratch = False  # whether scratch labels may be on the graph

    @property
    def _batch(self) -> int:
        return self.backend.config.batch_size

    def _read(self, name: str, **params: Any) -> list[dict[str, Any]]:
        return self.backend.run(statement("detect", name), QueryMode.READ, **params)

    def _batched(self, name: str, **params: Any) -> list[dict[str, Any]]:
        """A ``CALL ... IN TRANSACTIONS`` write of the ring components (run once)."""
        return self.backend.run(statement("detect", name), QueryMode.WRITE, retry=False,
                                **params)

    def user_count(self) -> int:
        rows = self._read("user_count")
        return int(rows[0]["users"] or 0) if rows else 0

    def exposure(self, as_of: dt.date, user_ids: Sequence[str]) -> pl.DataFrame:
        ids = sorted(set(user_ids))
        rows: list[dict[str, Any]] = []
        for start in range(0, len(ids), self._batch):
            rows += self._read(
                "exposure",
                user_ids=ids[start : start + self._batch],
                as_of=as_of,
                open=list(OPEN_LOAN_STATUSES),
            )
        return _frame("exposure", EXPOSURE_SCHEMA, rows)

    def compute(self, form: Form, config: Any, as_of: dt.date, **extra: Any) -> pl.DataFrame:
        """The frame of ``form``: its statement, read, after the step it ``prepare``s."""
        if form.prepare == "ring_components":
            self._components(config, as_of)
            if self.backend.read_only:
                return self._from_kept(form, extra.get("members"))
        rows = self.backend.run(form.statement(statement), QueryMode.READ,
                                **form.params(config, as_of, **extra))
        return _frame(form.name, form.schema, rows)

    def ring_groups(self, config: RingConfig, as_of: dt.date) -> pl.DataFrame:
        """Frame ``ring_groups`` (the ring rule's first form)."""
        return self.compute(GROUPS, config, as_of)

    # -- rings ---------------------------------------------------------------------

    def gds_available(self) -> bool:
        """Whether the Graph Data Science procedures WCC needs are installed."""
        rows = self._read("gds_available")
        return bool(rows and rows[0]["available"])

    def cleanup(self) -> None:
        """Remove the ring detection's scratch labels and properties (when it wrote any)."""
        if self._scratch:
            self._batched("ring_cleanup", batch=self._batch)
            self._scratch = False
        self._ring_key = None
        self._kept = None

    def _components(self, config: RingConfig, as_of: dt.date) -> None:
        """Label every user with a kept link with the smallest user_id of its group."""
        key = (as_of, tuple(sorted(set(config.identifier_kinds))), config.hub_max_users)
        if self._ring_key == key:
            return
        day_after = until(as_of)
        if self.backend.read_only:
            self.cleanup()
            self._components_read(key[1], config.hub_max_users, day_after)
            self._ring_key = key
            return
        # the scratch of an earlier (perhaps interrupted) detection goes first
        self._scratch = True
        self.cleanup()
        self._scratch = True
        common = {"until": day_after, "batch": self._batch, "hub_max_users": config.hub_max_users}
        self._batched("ring_mark_devices", **common)
        self._batched("ring_mark_identifiers", kinds=list(key[1]), **common)
        self._batched("ring_mark_users", until=day_after, batch=self._batch)
        use_gds = self.gds_available() if self.use_gds is None else self.use_gds
        if use_gds:
            self._components_gds(day_after)
        else:
            self._components_cypher(day_after)
        self._ring_key = key

    def _components_read(self, kinds: tuple[str, ...], hub_max_users: int,
                         day_after: dt.datetime) -> None:
        """The components of the kept links, read once and computed with scipy."""
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        rows = self._read("ring_kept_links", until=day_after, kinds=list(kinds),
                          hub_max_users=hub_max_users)
        links = pl.DataFrame(rows, schema={"kind": pl.String, "value": pl.String,
                                           "user_id": pl.String}, orient="row")
        links = links.unique()
        users = links.select("user_id").unique().sort("user_id").with_row_index("u")
        nodes = links.select("kind", "value").unique().with_row_index("n")
        coded = links.join(users, on="user_id").join(nodes, on=["kind", "value"])
        n_users, size = users.height, users.height + nodes.height
        a = coded.get_column("u").to_numpy().astype(np.int64)
        b = coded.get_column("n").to_numpy().astype(np.int64) + n_users
        graph = coo_matrix((np.ones(a.size, dtype=np.int8), (a, b)), shape=(size, size))
        _, labels = connected_components(graph, directed=False)
        label = pl.Series("label", labels[:n_users], dtype=pl.Int64)
        # a group is named by its smallest user_id, as the propagation names it
        groups = users.with_columns(label).with_columns(
            pl.col("user_id").min().over("label").alias("group")).select("user_id", "group")
        self._kept = links.join(groups, on="user_id")
        self.ring_method = "read"

    def _from_kept(self, form: Form, members: pl.DataFrame | None) -> pl.DataFrame:
        """A ring form from the kept links read by :meth:`_components_read`."""
        assert self._kept is not None
        if form.name == "ring_core_links":  # the kept links of the members asked for
            return form.conform(self._kept.join(members.select("user_id"), on="user_id"))
        if members is None:  # ring_groups: the groups of at least min_users users
            groups = self._kept.select("group", "user_id").unique()
            return form.conform(groups)  # the rule's predicate decides the size
        shared = (
            self._kept.join(members.select("user_id", pl.col("group").alias("asked")),
                            on="user_id")
            .group_by("asked", "kind", "value")
            .agg(pl.col("user_id").n_unique().cast(pl.Int64).alias("members"))
            .filter(pl.col("members") >= 2)
            .rename({"asked": "group"})
        )
        if form.name == "ring_devices":
            shared = shared.filter(pl.col("kind") == "device").rename({"value": "device_id"})
        else:
            shared = shared.filter(pl.col("kind") != "device")
        return form.conform(shared)

    def _components_cypher(self, until: dt.datetime) -> None:
        """Min-label propagation until no label changes.

        Notes
        -----
        Each pass touches only the links of the nodes lowered in the pass before,
        so the total work is O(kept links x passes over the frontier); the number
        of passes is about twice the largest group's diameter (in users).
        """
        passes = ("ring_pass_links", "ring_pass_users")
        previous = 0
        for number in range(1, MAX_PASSES + 1):
            rows = self._batched(passes[(number - 1) % 2], previous=previous, until=until,
                                 batch=self._batch, **{"pass": number})
            self.ring_passes = number
            if not rows or not rows[0]["lowered"]:
                self.ring_method = "cypher"
                return
            previous = number
        raise BackendError(f"ring components did not converge in {MAX_PASSES} passes")

    def _components_gds(self, until: dt.datetime) -> None:
        graph = f"xpg-rings-{uuid.uuid4().hex}"
        write = QueryMode.WRITE
        self.backend.run(statement("detect", "gds_project"), write, graph=graph, until=until)
        try:
            self.backend.run(statement("detect", "gds_wcc"), write, graph=graph)
        finally:
            self.backend.run(statement("detect", "gds_drop"), write, graph=graph)
        self.ring_method = "gds"
