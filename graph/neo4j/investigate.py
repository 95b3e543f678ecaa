"""The investigative queries on Neo4j: :class:`Neo4jSource`.

It implements :class:`~xpg.queries.investigate.InvestigationSource` with the
parameterized statements of ``graph/neo4j/cypher/investigate.cypher``, each run in
a read transaction (``Neo4jBackend.run(..., QueryMode.READ)``: a READ-mode session
and ``execute_read``, so the driver routes it to a reader and retries transient
errors). Only the rows about the asked ids come back; the shared assembly of
:mod:`xpg.queries.investigate` turns them into the same views as in memory.

Notes
-----
One round trip per source call: a ``query user`` is about ten small queries,
each an index seek on the asked ids (uniqueness constraints on ``user_id``,
``device_id``, ``(kind, value)``, ``lender_id``) and an expansion of their
relationships.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import polars as pl
from xpg.graph.neo4j.connection import Neo4jConnection, QueryMode
from xpg.graph.neo4j.statements import statement
from xpg.queries.asof import OPEN_LOAN_STATUSES, until
from xpg.queries.investigate import DEVICE, LENDER, SOURCE_SCHEMAS, conform
from xpg.queries.investigate.group import GroupSummary, connected_group

__all__ = ["Neo4jSource"]

_log = logging.getLogger(__name__)


def _native(value: Any) -> Any:
    """Neo4j temporal values as Python ``date``/``datetime``; anything else as is."""
    to_native = getattr(value, "to_native", None)
    return to_native() if callable(to_native) else value


def _frame(name: str, rows: Iterable[Mapping[str, Any]]) -> pl.DataFrame:
    schema = SOURCE_SCHEMAS[name]
    data = {col: [_native(r.get(col)) for r in rows] for col in schema}
    if not data or not next(iter(data.values())):
        return pl.DataFrame(schema=schema)
    return conform(name, pl.DataFrame(data, schema=schema, strict=False))


def _nodes(nodes: pl.DataFrame) -> dict[str, Any]:
    devices, identifiers, lenders = [], [], []
    for kind, value in nodes.select("kind", "value").unique().iter_rows():
        if kind == DEVICE:
            devices.append(value)
        elif kind == LENDER:
            lenders.append(value)
        else:
            identifiers.append({"kind": kind, "value": value})
    return {"devices": devices, "identifiers": identifiers, "lenders": lenders}


class Neo4jSource:
    """Investigation source over a loaded :class:`~xpg.graph.neo4j.Neo4jBackend`."""

    def __init__(self, backend: Neo4jConnection):
        self.backend = backend
        # the stored-group read of group_summary, for the group() that follows it (a
        # group of one, or no stored groups) in the same view
        self._last: tuple[tuple[str, Any], _Stored | None] | None = None

    def _read(self, name: str, **params: Any) -> list[dict[str, Any]]:
        # $open: the loan statuses that count as open, defined once (xpg.queries.asof)
        return self.backend.run(statement("investigate", name), QueryMode.READ,
                                open=list(OPEN_LOAN_STATUSES), **params)

    def users(self, user_ids: Sequence[str]) -> pl.DataFrame:
        return _frame("users", self._read("users", ids=list(user_ids)))

    def account_events(self, user_ids: Sequence[str], as_of: dt.date) -> pl.DataFrame:
        rows = self.backend.run(_ACCOUNT_EVENTS, QueryMode.READ, ids=list(user_ids),
                                until=until(as_of))
        return _frame("account_events", rows).sort("user_id", "at")

    def accounts(self, user_ids: Sequence[str], as_of: dt.date) -> pl.DataFrame:
        rows = self._read("accounts", ids=list(user_ids), as_of=as_of)
        return _frame("accounts", rows).sort("user_id", "account_id")

    def links(
        self, user_ids: Sequence[str], as_of: dt.date, kinds: Sequence[str] | None
    ) -> pl.DataFrame:
        rows = self._read("links", ids=list(user_ids), as_of=as_of,
                          kinds=None if kinds is None else list(kinds),
                          lenders_too=kinds is not None and LENDER in kinds)
        return _frame("links", rows).sort("user_id", "kind", "value")

    def link_degrees(self, nodes: pl.DataFrame, as_of: dt.date) -> pl.DataFrame:
        rows = self._read("node_degrees", as_of=as_of, **_nodes(nodes))
        return _frame("link_degrees", rows)

    def link_users(
        self, nodes: pl.DataFrame, as_of: dt.date, limit: int | None
    ) -> pl.DataFrame:
        if limit is None:
            rows = self._read("node_users", as_of=as_of, **_nodes(nodes))
        else:
            rows = self._read("node_users_limited", as_of=as_of, limit=limit, **_nodes(nodes))
        return _frame("link_users", rows).unique().sort("kind", "value", "user_id")

    def loans(self, user_ids: Sequence[str], as_of: dt.date) -> pl.DataFrame:
        rows = self._read("loans", ids=list(user_ids), as_of=as_of)
        return _frame("loans", rows).sort("user_id", "lender_id", "opened_at")

    def applications(self, user_ids: Sequence[str], as_of: dt.date) -> pl.DataFrame:
        rows = self._read("applications", ids=list(user_ids), as_of=as_of)
        return _frame("applications", rows).sort("user_id", "applied_at")

    def lenders(self, lender_ids: Sequence[str]) -> pl.DataFrame:
        return _frame("lenders", self._read("lenders", ids=list(lender_ids)))

    def lender_loans(self, lender_id: str, as_of: dt.date) -> pl.DataFrame:
        rows = self._read("lender_loans", id=lender_id, as_of=as_of)
        return _frame("loans", rows).sort("user_id", "opened_at")

    def lender_applications(self, lender_id: str, as_of: dt.date) -> int:
        (row,) = self._read("lender_applications", id=lender_id, as_of=as_of)
        return int(row["applications"])

    def lender_known(self, lender_id: str) -> bool:
        (row,) = self._read("lender_known", id=lender_id)
        return bool(row["known"])

    def group(
        self, user_id: str, as_of: dt.date, kinds: Sequence[str], hub_max: int
    ) -> pl.DataFrame:
        """The stored group of the detection (one read) when stored for this date and
        settings; else breadth-first over the statements above, one round trip per hook
        and level."""
        stored = self._stored(user_id, as_of, kinds, hub_max)
        if stored is not None:
            return stored.members if stored.summary is None else stored.summary.members
        return connected_group(self, user_id, as_of, kinds, hub_max)

    def group_summary(self, user_id: str, as_of: dt.date, kinds: Sequence[str], hub_max: int
                      ) -> GroupSummary | None:
        """The stored summary of the user's group (one read), or None: no groups stored
        for this date and settings (a warning says so), or a group of one."""
        stored = self._stored(user_id, as_of, kinds, hub_max)
        return None if stored is None else stored.summary

    def _stored(self, user_id: str, as_of: dt.date, kinds: Sequence[str], hub_max: int
                ) -> _Stored | None:
        from xpg.graph.neo4j.groups import GroupsKey, Neo4jGroupStore

        if not isinstance(self.backend, Neo4jGroupStore):
            return None
        wanted = GroupsKey.of(as_of, kinds, hub_max)
        last, self._last = self._last, None  # reused once: by the group() right after
        if last is not None and last[0] == (user_id, wanted):
            return last[1]
        found = self.backend.stored_group(user_id)
        if found.key != wanted:
            _log.warning(
                "the connected groups stored in Neo4j are %s; asked for %s: searching the "
                "group breadth-first (one round trip per level; run `xpg detect` for that "
                "date and settings to store them)",
                "none for the graph as loaded" if found.key is None else
                f"for {found.key.describe()}", wanted.describe())
            result = None
        else:
            one = pl.DataFrame({"user_id": [user_id]}, schema={"user_id": pl.String})
            result = _Stored(one, found.summary)
        self._last = ((user_id, wanted), result)
        return result


class _Stored(NamedTuple):
    members: pl.DataFrame  # the group of one, when the user is on no stored group
    summary: GroupSummary | None


_ACCOUNT_EVENTS = """
MATCH (u:User)-[:HAS_ACCOUNT]->(a:Account)-[:HAD_EVENT]->(e:AccountEvent)
WHERE u.user_id IN $ids AND e.retired_at IS NULL AND e.at < $until
RETURN u.user_id AS user_id, a.account_id AS account_id, a.product_id AS product_id,
       e.at AS at, e.event AS event, e.old_limit AS old_limit, e.new_limit AS new_limit,
       e.reason AS reason
"""
"""The events of the users' accounts before ``$until`` (the user's timeline)."""
