"""The investigations over a stored state (:mod:`~xpg.queries.investigate.state`):
:class:`StateSource` and :class:`StateFindings`, lazy Parquet scans filtered on the
lookup key, so that a cold process answers one query without loading the data.

Each lookup is ``pl.scan_parquet(table).filter(key in values)``: the tables are
sorted by the key in small row groups, so Polars' predicate pushdown skips every
row group whose key range misses the asked values. The rows come back in the
same order and with the same columns as the in-memory source's slices, so the
views are the same, to the byte.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from functools import cached_property
from typing import Any

import polars as pl
from xpg.queries.findings import Finding, FindingsReport
from xpg.queries.investigate.group import group_from_links
from xpg.queries.investigate.sources import (
    NODE_KEY,
    MemorySource,
    _seen_by,
    _Sorted,
    conform,
)
from xpg.queries.investigate.state import KEYS, SHARED_NODES, TABLES, State
from xpg.queries.rules import group_types

__all__ = ["StateFindings", "StateSource"]


class _Scanned:
    """A sorted Parquet table (one file, or parts of consecutive keys) answering ``take``
    with a lazy, key-filtered scan of the parts that may hold the keys (each checked
    against the state's manifest on first read)."""

    def __init__(self, state: State, name: str, key: str):
        self.state = state
        self.name = name
        self.key = key

    def scan(self, values: list[Any] | None = None) -> pl.LazyFrame:
        return pl.scan_parquet(self.state.parts(self.name, values))

    def take(self, values: Iterable[Any]) -> pl.DataFrame:
        """The rows whose key is one of ``values``, in the file's (key) order."""
        vals = sorted({v for v in values if v is not None})
        # one value: an equality, which the row-group statistics prune best
        where = pl.col(self.key) == vals[0] if len(vals) == 1 else pl.col(self.key).is_in(vals)
        return self.scan(vals).filter(where).collect()

    def slices(self, values: Iterable[Any]) -> list[pl.DataFrame]:
        """:meth:`take` as one frame (what a sorted table gives as one slice per key)."""
        vals = [v for v in values if v is not None]
        return [self.take(vals)] if vals else []


class _LinksByUser(_Scanned):
    """The state's ``links_by_user``, which keeps the rows its last lookup read (``last``):
    the nodes a query asks degrees of next are those of the users it just looked up (a
    group's hub check, :meth:`StateSource.link_degrees`)."""

    def __init__(self, state: State):
        super().__init__(state, "links_by_user", KEYS["links_by_user"])
        self.last: pl.DataFrame | None = None

    def take(self, values: Iterable[Any]) -> pl.DataFrame:
        self.last = rows = super().take(values)
        return rows


class StateSource(MemorySource):
    """:class:`~xpg.queries.investigate.sources.InvestigationSource` over a state folder.

    The in-memory source's lookups, with each sorted table replaced by a lazy scan
    of its Parquet copy (nothing is read until a query asks).
    """

    in_memory = False  # each lookup scans Parquet files

    def __init__(self, state: State):
        self.state = state
        self.dataset = None  # type: ignore[assignment]
        self._last_nodes = None

    def _scanned(self, name: str) -> _Scanned:
        if name == "links_by_user":
            return _LinksByUser(self.state)
        return _Scanned(self.state, name, KEYS[name])

    @cached_property
    def _users(self) -> _Scanned:  # type: ignore[override]
        return self._scanned("users")

    @cached_property
    def _accounts(self) -> _Scanned:  # type: ignore[override]
        return self._scanned("accounts")

    @cached_property
    def _links_by_user(self) -> _Scanned:  # type: ignore[override]
        return self._scanned("links_by_user")

    def link_degrees(self, nodes: pl.DataFrame, as_of: dt.date) -> pl.DataFrame:
        """The users of each node. At the state's run date, for nodes all of the last user
        lookup's seen links: one each, or as many as the state's shared nodes say (no
        ``links_by_node`` part read); else as the in-memory source counts them."""
        if self._on_last_lookup(nodes, as_of):
            asked = nodes.select("kind", "value").unique(maintain_order=True).with_columns(
                NODE_KEY)
            shared = _Scanned(self.state, SHARED_NODES, "node").take(
                asked.get_column("node").to_list())
            return conform("link_degrees", asked.join(shared, on="node", how="left")
                           .with_columns(pl.col("users").fill_null(1)))
        return super().link_degrees(nodes, as_of)

    def _on_last_lookup(self, nodes: pl.DataFrame, as_of: dt.date) -> bool:
        """Whether every one of ``nodes`` is on a link, seen by ``as_of`` (the state's run
        date), of the users the last ``links_by_user`` lookup read: each has that user."""
        links = self._links_by_user
        last = links.last if isinstance(links, _LinksByUser) else None
        if (last is None or as_of != self.state.as_of or not nodes.height
                or SHARED_NODES not in (self.state.manifest.get("parts") or {})):
            return False
        seen = last.filter(_seen_by("first_seen", as_of)).select("kind", "value")
        return nodes.join(seen, on=["kind", "value"], how="anti").height == 0

    @cached_property
    def _links_by_node(self) -> _Scanned:  # type: ignore[override]
        return self._scanned("links_by_node")

    @cached_property
    def _loans_by_user(self) -> _Scanned:  # type: ignore[override]
        return self._scanned("loans_by_user")

    @cached_property
    def _loans_by_lender(self) -> _Scanned:  # type: ignore[override]
        return self._scanned("loans_by_lender")

    @cached_property
    def _apps_by_user(self) -> _Scanned:  # type: ignore[override]
        return self._scanned("apps_by_user")

    @cached_property
    def _lenders(self) -> _Scanned:  # type: ignore[override]
        return self._scanned("lenders")

    @cached_property
    def _events_by_user(self) -> _Scanned:  # type: ignore[override]
        return self._scanned("events_by_user")

    def group(self, user_id: str, as_of: dt.date, kinds: Sequence[str], hub_max: int
              ) -> pl.DataFrame:
        """The stored groups of the state's run (two key lookups: the user's group, its
        members); for another date, kinds or hub cut, from one scan of every link (the
        breadth-first search would scan the links table once per level of a giant
        group)."""
        stored = self.state.manifest.get("groups")
        if stored == {"as_of": as_of.isoformat(), "kinds": list(kinds), "hub_max": hub_max}:
            mine = _Scanned(self.state, "groups_by_user", "user_id").take([user_id])
            if mine.height == 0:
                return pl.DataFrame({"user_id": [user_id]}, schema={"user_id": pl.String})
            group = int(mine.get_column("group")[0])
            return (_Scanned(self.state, "groups", "group").take([group])
                    .select("user_id").sort("user_id"))
        return group_from_links(self._links_by_user.scan(), user_id, as_of, kinds, hub_max)

    def _lender_apps(self, lender_id: str) -> pl.LazyFrame:
        return self._apps_by_user.scan().filter(pl.col("lender_id") == lender_id)

    def lender_applications(self, lender_id: str, as_of: dt.date) -> int:
        return self._lender_apps(lender_id).filter(
            pl.col("applied_at").dt.date() <= as_of).select(pl.len()).collect().item()

    def lender_known(self, lender_id: str) -> bool:
        if self._lenders.take([lender_id]).height or self._loans_by_lender.take(
                [lender_id]).height:
            return True
        return self._lender_apps(lender_id).select(pl.len()).collect().item() > 0


assert set(KEYS) == set(TABLES)


class StateFindings:
    """The findings of a state, with :class:`~xpg.queries.investigate.sources.FindingsIndex`'s
    interface: a finding is read (and parsed) only when a query asks for it."""

    def __init__(self, state: State):
        self.state = state
        self._cache: dict[str, Finding] = {}

    @property
    def as_of(self) -> dt.date:
        return self.state.as_of

    def _scan(self, name: str) -> pl.LazyFrame:
        return pl.scan_parquet(self.state.table(name))

    def _parse(self, rows: pl.DataFrame) -> list[Finding]:
        out = []
        for fid, doc in rows.sort("rank").select("id", "doc").iter_rows():
            if fid not in self._cache:
                self._cache[fid] = Finding.from_dict(json.loads(doc))
            out.append(self._cache[fid])
        return out

    def get(self, finding_id: str) -> Finding | None:
        if finding_id in self._cache:
            return self._cache[finding_id]
        rows = self._scan("findings").filter(pl.col("id") == finding_id).collect()
        if rows.height == 0:  # an id the detection gave, carried forward under another
            rows = self._scan("findings").filter(pl.col("detected_id") == finding_id).collect()
        found = self._parse(rows.head(1))
        return found[0] if found else None

    @cached_property
    def _members(self) -> _Sorted:
        """(user_id, rank, finding_id, type) of every flagged user, in memory (small)."""
        frame = self._scan("finding_users").select("user_id", "rank", "finding_id",
                                                   "type").collect()
        return _Sorted(frame, "user_id", "rank")

    def of_user(self, user_id: str) -> tuple[Finding, ...]:
        ids = self._members.take([user_id]).get_column("finding_id").to_list()
        missing = [i for i in ids if i not in self._cache]
        if missing:
            self._parse(self._scan("findings").filter(pl.col("id").is_in(missing)).collect())
        return tuple(self._cache[i] for i in ids)

    def types_of(self, user_id: str) -> tuple[str, ...]:
        return tuple(sorted(set(self._members.take([user_id]).get_column("type").to_list())))

    def flagged_users(self) -> set[str]:
        return set(self.flagged_frame.get_column("user_id").to_list())

    @cached_property
    def flagged_frame(self) -> pl.DataFrame:
        return self._members.frame.select("user_id").unique(maintain_order=True)

    @cached_property
    def typed_members(self) -> pl.DataFrame:
        return self._members.frame.select("finding_id", "type", "user_id")

    @cached_property
    def ring_members(self) -> pl.DataFrame:
        groups = list(group_types())
        rings = self._scan("findings").filter(pl.col("type").is_in(groups)).select(
            pl.col("id").alias("finding_id"), "severity", "members")
        return (self._scan("finding_users").filter(pl.col("type").is_in(groups))
                .join(rings, on="finding_id").sort("rank", "pos")
                .select(pl.col("finding_id").alias("ring_id"), "severity", "members",
                        "user_id").collect())

    @cached_property
    def report(self) -> FindingsReport:
        """Every finding of the state (reads them all: for callers that want the report)."""
        rows = self._scan("findings").collect()
        head = dict(self.state.manifest.get("report", {}))
        findings = tuple(self._parse(rows))
        return FindingsReport(as_of=self.as_of, findings=findings,
                              summary=head.get("summary", {}))
