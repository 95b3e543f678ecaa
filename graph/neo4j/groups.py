"""The connected groups of a detection, stored in the Neo4j database.

A writing detection on Neo4j (:meth:`Neo4jGroupStore.write_groups`, called when its
findings are stored) keeps, for the run date and the ring rule's link settings (the link
kinds, ``hub_max_users``), each user's group (``XpgGroupMember {user_id, group}``) and
each group's summary (``XpgGroup {group, members, users, hubs, total, ...}``), with an
``XpgGroupsRun`` recording what they were computed for and on which load. They are
computed as the memory backend computes them: the components of the kept links
(:func:`~xpg.queries.investigate.group.group_labels`) and every group's hubs and exposure
at once (:func:`~xpg.queries.investigate.group.group_summaries`), over the snapshot read
back (:meth:`~xpg.graph.neo4j.Neo4jBackend.snapshot`).

:meth:`Neo4jGroupStore.stored_group` reads one user's group in one read; the
investigation source (:mod:`xpg.graph.neo4j.investigate`) answers from it when the run
date and settings match, and searches breadth-first otherwise.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl
from xpg.graph.neo4j.connection import QueryMode, now
from xpg.graph.neo4j.load import Neo4jLoader
from xpg.graph.neo4j.statements import statement
from xpg.queries.investigate.group import (
    GroupSummary,
    group_labels,
    group_summaries,
    summary_exposure,
    summary_hubs,
)

from xpg.settings import DetectionConfig

__all__ = ["GroupsKey", "Neo4jGroupStore", "StoredGroup"]

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GroupsKey:
    """What stored groups were computed for: the run date and the ring rule's link
    settings."""

    as_of: dt.date
    kinds: tuple[str, ...]
    hub_max: int

    @classmethod
    def of(cls, as_of: dt.date, kinds: Sequence[str], hub_max: int) -> GroupsKey:
        return cls(as_of, tuple(sorted(set(kinds))), int(hub_max))

    def describe(self) -> str:
        return (f"run date {self.as_of.isoformat()}, kinds {','.join(self.kinds)}, "
                f"hub_max_users {self.hub_max}")


@dataclass(frozen=True)
class StoredGroup:
    """One read of the stored groups: what they were computed for (``key``, None when
    none are stored for the graph as it is now) and the user's group (``summary``, None
    when the user is on no kept link: a group of one)."""

    key: GroupsKey | None
    summary: GroupSummary | None


def _native(value: Any) -> Any:
    to_native = getattr(value, "to_native", None)
    return to_native() if callable(to_native) else value


class Neo4jGroupStore(Neo4jLoader):
    """Connected groups written at detection, and read back by the investigations."""

    def write_groups(self, as_of: dt.date, config: DetectionConfig) -> int:
        """Replace the stored groups with those of ``as_of`` under ``config``'s ring
        settings; the number of groups (of 2 users or more). Refused on a read-only backend.

        One write transaction per batch of ``neo4j.batch_size`` rows, the nodes of another
        write deleted after (a delete then MERGE of every row in one transaction made each
        MERGE seek through the transaction's own changes: rewriting 20,000 members took 91 s
        that way, 3.1 s this way, on a loaded machine). The run node is removed first and
        written last, so a reader sees either no stored groups (and searches) or all."""
        from xpg.queries.investigate import MemorySource
        from xpg.queries.investigate.search import ring_kinds

        self.refuse_writes("store the connected groups")
        key = GroupsKey.of(as_of, ring_kinds(config), config.ring.hub_max_users)
        source = MemorySource(self.snapshot())  # type: ignore[attr-defined]
        labels = group_labels(source._links_by_user.frame.lazy(), as_of, key.kinds, key.hub_max)
        rows = group_summaries(source, labels, as_of, key.kinds, key.hub_max)
        groups = [{**r, "hubs": json.dumps(r["hubs"], ensure_ascii=False)} for r in rows]
        members = [{"user_id": u, "group": r["group"]} for r in rows for u in r["members"]]
        self.ensure_schema()
        batch, stamp, write = self.config.batch_size, uuid.uuid4().hex, QueryMode.WRITE
        # no run node while writing: a reader searches breadth-first, never reads half
        self.run(statement("groups", "clear_groups_run"), write)
        for name, rows_of in (("write_groups", groups), ("write_group_members", members)):
            for start in range(0, len(rows_of), batch):  # idempotent: MERGE, retried
                self.run(statement("groups", name), write, rows=rows_of[start:start + batch],
                         stamp=stamp)
        self.run(statement("groups", "delete_stale_groups"), write, retry=False, stamp=stamp,
                 batch=batch)
        self.run(statement("groups", "write_groups_run"), write, as_of=key.as_of,
                 kinds=list(key.kinds), hub_max=key.hub_max, groups=len(groups), now=now())
        return len(groups)

    def stored_group(self, user_id: str) -> StoredGroup:
        """The stored groups' key and ``user_id``'s group, in one read."""
        rows = self.run(statement("groups", "read_group"), QueryMode.READ, user_id=user_id)
        run = rows[0]["run"] if rows else None
        if run is None:
            return StoredGroup(None, None)
        key = GroupsKey.of(_native(run["as_of"]), run["kinds"] or (), run["hub_max"])
        g = rows[0]["g"]
        if g is None:
            return StoredGroup(key, None)
        summary = GroupSummary(
            members=pl.DataFrame({"user_id": list(g["members"])}, schema={"user_id": pl.String}),
            hubs=summary_hubs(json.loads(g["hubs"])),
            exposure=summary_exposure(g),
        )
        return StoredGroup(key, summary)
