"""The detection frames computed in Neo4j with Cypher.

:class:`Neo4jHooks` implements :class:`~xpg.queries.frames.DetectionHooks` for
a :class:`~xpg.graph.neo4j.Neo4jBackend`: each method runs one parameterized
statement of ``queries/cypher/detect.cypher`` and turns its rows (the frame,
nothing more) into a Polars frame of :data:`~xpg.queries.frames.FRAME_SCHEMAS`.
:func:`xpg.queries.detections.run_detections` then runs the same assembly as in
memory, so both backends give the same findings.

Ring components are computed in the database: min-label propagation over the
kept user <-> device/identifier links (see :meth:`Neo4jHooks.ring_groups`), or
Graph Data Science WCC when the GDS plugin is installed (detected at run time).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import polars as pl
from xpg.queries.cypher import statement
from xpg.queries.frames import FRAME_SCHEMAS, RingEvidence, conform
from xpg.queries.polars_hooks import CUT_TOLERANCE, OPEN_LOAN_STATUSES

from xpg.errors import BackendError
from xpg.settings import FreezeConfig, LimitDivergenceConfig, MultiLendingConfig, RingConfig

if TYPE_CHECKING:
    from xpg.graph.neo4j import Neo4jBackend

__all__ = ["MAX_PASSES", "Neo4jHooks"]

MAX_PASSES = 100_000
"""Propagation passes after which ring detection gives up (it converges long before)."""


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day)


def _until(as_of: dt.date) -> dt.datetime:
    """The first instant after the run date: a datetime is on or before it when ``< _until``."""
    return _midnight(as_of + dt.timedelta(days=1))


def _window_start(as_of: dt.date, days: int) -> dt.datetime:
    """Midnight of the first day of the ``days``-day window ending with ``as_of``."""
    return _midnight(as_of - dt.timedelta(days=days - 1))


def _native(value: Any) -> Any:
    """Driver temporal values as Python's (``neo4j.time`` types have ``to_native``)."""
    to_native = getattr(value, "to_native", None)
    return to_native() if to_native is not None else value


def _frame(name: str, rows: list[dict[str, Any]]) -> pl.DataFrame:
    """The frame ``name`` from result rows (temporal columns converted to Python's)."""
    schema = FRAME_SCHEMAS[name]
    temporal = [c for c, t in schema.items() if isinstance(t, pl.Datetime | pl.Date)]
    columns: dict[str, list[Any]] = {c: [r[c] for r in rows] for c in schema}
    for c in temporal:
        columns[c] = [_native(v) for v in columns[c]]
    return conform(name, pl.DataFrame(columns, schema=dict(schema)))


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

    def __init__(self, backend: Neo4jBackend, *, use_gds: bool | None = None):
        self.backend = backend
        self.use_gds = use_gds
        self.ring_method: str | None = None  # "cypher" or "gds" once rings were computed
        self.ring_passes = 0
        self._ring_key: tuple[dt.date, tuple[str, ...], int] | None = None

    @property
    def _batch(self) -> int:
        return self.backend.config.batch_size

    def _read(self, name: str, **params: Any) -> list[dict[str, Any]]:
        return self.backend.run_read(statement("detect", name), **params)

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
        return _frame("exposure", rows)

    def multi_lending(self, config: MultiLendingConfig, as_of: dt.date) -> pl.DataFrame:
        rows = self._read(
            "multi_lending",
            as_of=as_of,
            until=_until(as_of),
            open=list(OPEN_LOAN_STATUSES),
            short_start=_window_start(as_of, config.short_window_days),
            long_start=_window_start(as_of, config.long_window_days),
            min_open_lenders=config.min_open_lenders,
            short_window_lenders=config.short_window_lenders,
            long_window_lenders=config.long_window_lenders,
        )
        lists = ["open_lenders", "short_window_lenders", "long_window_lenders"]
        frame = _frame("multi_lending", rows)
        return frame.with_columns(pl.col(c).list.sort() for c in lists)

    # -- rings ---------------------------------------------------------------------

    def gds_available(self) -> bool:
        """Whether the Graph Data Science procedures WCC needs are installed."""
        rows = self._read("gds_available")
        return bool(rows and rows[0]["available"])

    def cleanup(self) -> None:
        """Remove the ring detection's scratch labels and properties."""
        self.backend.run_batched(statement("detect", "ring_cleanup"), batch=self._batch)
        self._ring_key = None

    def _components(self, config: RingConfig, as_of: dt.date) -> None:
        """Label every user with a kept link with the smallest user_id of its group."""
        key = (as_of, tuple(sorted(set(config.identifier_kinds))), config.hub_max_users)
        if self._ring_key == key:
            return
        self.cleanup()
        until = _until(as_of)
        common = {"until": until, "batch": self._batch, "hub_max_users": config.hub_max_users}
        self.backend.run_batched(statement("detect", "ring_mark_devices"), **common)
        self.backend.run_batched(
            statement("detect", "ring_mark_identifiers"),
            kinds=list(key[1]),
            **common,
        )
        self.backend.run_batched(
            statement("detect", "ring_mark_users"), until=until, batch=self._batch
        )
        use_gds = self.gds_available() if self.use_gds is None else self.use_gds
        if use_gds:
            self._components_gds(until)
        else:
            self._components_cypher(until)
        self._ring_key = key

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
            query = statement("detect", passes[(number - 1) % 2])
            rows = self.backend.run_batched(
                query, previous=previous, until=until, batch=self._batch, **{"pass": number}
            )
            self.ring_passes = number
            if not rows or not rows[0]["lowered"]:
                self.ring_method = "cypher"
                return
            previous = number
        raise BackendError(f"ring components did not converge in {MAX_PASSES} passes")

    def _components_gds(self, until: dt.datetime) -> None:
        graph = f"xpg-rings-{uuid.uuid4().hex}"
        self.backend.run_write(statement("detect", "gds_project"), graph=graph, until=until)
        try:
            self.backend.run_write(statement("detect", "gds_wcc"), graph=graph)
        finally:
            self.backend.run_write(statement("detect", "gds_drop"), graph=graph)
        self.ring_method = "gds"

    def ring_groups(self, config: RingConfig, as_of: dt.date) -> pl.DataFrame:
        self._components(config, as_of)
        rows = self._read("ring_groups", min_users=config.min_users)
        return _frame("ring_groups", rows)

    def ring_evidence(
        self, config: RingConfig, as_of: dt.date, members: pl.DataFrame
    ) -> RingEvidence:
        self._components(config, as_of)
        params = {
            "members": members.select("group", "user_id").to_dicts(),
            "until": _until(as_of),
            "as_of": as_of,
            "open": list(OPEN_LOAN_STATUSES),
        }
        return RingEvidence(
            devices=_frame("ring_devices", self._read("ring_devices", **params)),
            identifiers=_frame("ring_identifiers", self._read("ring_identifiers", **params)),
            lenders=_frame("ring_lenders", self._read("ring_lenders", **params)),
        )

    # -- cross-product rules ---------------------------------------------------------

    @staticmethod
    def _scope(config: FreezeConfig) -> dict[str, Any]:
        return {
            "user_reasons": list(config.user_scope_reasons),
            "product_reasons": list(config.product_scope_reasons),
            "unknown_scope": config.unknown_reason_scope,
        }

    def freeze_inconsistency(self, config: FreezeConfig, as_of: dt.date) -> pl.DataFrame:
        rows = self._read("freeze_inconsistency", as_of=as_of, **self._scope(config))
        return _frame("freeze_inconsistency", rows)

    def restored_after_freeze(self, config: FreezeConfig, as_of: dt.date) -> pl.DataFrame:
        rows = self._read(
            "restored_after_freeze", as_of=as_of, until=_until(as_of), **self._scope(config)
        )
        return _frame("restored_after_freeze", rows)

    def limit_divergence(self, config: LimitDivergenceConfig, as_of: dt.date) -> pl.DataFrame:
        rows = self._read(
            "limit_divergence",
            as_of=as_of,
            until=_until(as_of),
            window_start=_window_start(as_of, config.window_days),
            cut_to_at_most=config.cut_to_at_most,
            cut_fraction=config.cut_fraction,
            tolerance=CUT_TOLERANCE,
        )
        return _frame("limit_divergence", rows)
