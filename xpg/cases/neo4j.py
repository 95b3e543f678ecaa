"""The case store in Neo4j: nodes and relationships in the graph's own database.

``(:Case {case_id})`` holds a case's fields, ``-[:HOLDS {position}]->(:CaseFinding
{finding_id})`` the finding ids it holds (one case per finding id: a constraint),
``-[:NAMES]->(:User)`` the users of the graph it names, and ``-[:HAS_EVENT]->(:CaseEvent
{event_id, seq})`` its events. ``case_id``, ``finding_id`` and ``event_id`` are
constrained unique; every write is ``UNWIND ... MERGE`` on those keys.

Each call states its mode (:class:`~xpg.graph.neo4j.connection.QueryMode`). A write is one
managed transaction, retried on a lost server: it first takes the case's write lock (so two
writers are serialized and a version check reads what was committed), and its events carry
ids fixed before the first try, so a retry whose first attempt committed finds its event
and applies nothing twice.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from xpg.cases.model import Case, Event, dumps
from xpg.cases.store import CaseStore, Change, apply_fields, numbered, stale
from xpg.errors import ConflictError, NotFoundError
from xpg.graph.neo4j.connection import Neo4jConnection, QueryMode

__all__ = ["Neo4jCaseStore"]

SCHEMA = (
    "CREATE CONSTRAINT xpg_case_id IF NOT EXISTS FOR (c:Case) REQUIRE c.case_id IS UNIQUE",
    "CREATE CONSTRAINT xpg_case_finding_id IF NOT EXISTS FOR (f:CaseFinding) "
    "REQUIRE f.finding_id IS UNIQUE",
    "CREATE CONSTRAINT xpg_case_event_id IF NOT EXISTS FOR (e:CaseEvent) "
    "REQUIRE e.event_id IS UNIQUE",
)

_READ_CASE = """
MATCH (c:Case {case_id: $case_id})
OPTIONAL MATCH (c)-[h:HOLDS]->(f:CaseFinding)
WITH c, h, f ORDER BY h.position
RETURN properties(c) AS c, [x IN collect(f.finding_id) WHERE x IS NOT NULL] AS ids
"""

_CASE_OF_FINDING = ("MATCH (:CaseFinding {finding_id: $ref})<-[:HOLDS]-(c:Case) "
                    "RETURN c.case_id AS id")

_LIST = """
MATCH (c:Case)
OPTIONAL MATCH (c)-[h:HOLDS]->(f:CaseFinding)
WITH c, h, f ORDER BY h.position
RETURN properties(c) AS c, [x IN collect(f.finding_id) WHERE x IS NOT NULL] AS ids
"""

_EVENTS = """
MATCH (:Case {case_id: $case_id})-[:HAS_EVENT]->(e:CaseEvent)
RETURN properties(e) AS e ORDER BY e.seq
"""

_WRITE_CASE = """
MERGE (c:Case {case_id: $case_id})
SET c = $props
WITH c
UNWIND $users AS user_id
MATCH (u:User {user_id: user_id})
MERGE (c)-[:NAMES]->(u)
"""

_HOLD = """
MATCH (c:Case {case_id: $case_id})
UNWIND $rows AS row
MERGE (f:CaseFinding {finding_id: row.finding_id})
MERGE (c)-[h:HOLDS]->(f) SET h.position = row.position
WITH f
MATCH (f)<-[:HOLDS]-(other:Case) WHERE other.case_id <> $case_id
RETURN f.finding_id AS finding_id, other.case_id AS other
"""

_APPEND = """
MATCH (c:Case {case_id: $case_id})
UNWIND $rows AS row
MERGE (e:CaseEvent {event_id: row.event_id})
SET e += row
MERGE (c)-[:HAS_EVENT]->(e)
"""


class Neo4jCaseStore(CaseStore):
    """Cases in the database of ``connection`` (a :class:`Neo4jBackend` is one)."""

    label = "Neo4j case store"

    def __init__(self, connection: Neo4jConnection):
        self.connection = connection
        if not connection.read_only:
            for statement in SCHEMA:
                connection.run(statement, QueryMode.WRITE, retry=False)

    # -- hooks -------------------------------------------------------------------------------

    def _insert(self, case: Case, event: Event) -> None:
        def work(tx: Any) -> None:
            if _has_event(tx, event.event_id):
                return
            if tx.run("MATCH (c:Case {case_id: $id}) RETURN c", id=case.case_id).peek():
                raise ConflictError(f"case {case.case_id} exists")
            _write(tx, case)
            _hold(tx, case, case.finding_ids)
            _append(tx, case.case_id, [event])

        self._write_tx("open a case", work)

    def _transact(self, case_id: str, expected_version: int | None, token: str,
                  at: dt.datetime, by: str, change: Change) -> Case:
        def work(tx: Any) -> Case:
            first = f"{token}-0"
            if _has_event(tx, first):  # a retry of a transaction that committed
                return _read(tx, case_id)  # type: ignore[return-value]
            locked = tx.run("MATCH (c:Case {case_id: $id}) SET c.lock = $token "
                            "RETURN c.case_id AS id", id=case_id, token=token).peek()
            if locked is None:
                raise NotFoundError(f"no case {case_id!r}")
            case = _read(tx, case_id)
            assert case is not None
            if expected_version is not None and case.version != expected_version:
                raise stale(case_id, expected_version, case.version)
            fields, drafts = change(case)
            if not drafts:
                tx.run("MATCH (c:Case {case_id: $id}) REMOVE c.lock", id=case_id)
                return case
            new = apply_fields(case, fields, at)
            _write(tx, new)
            _hold(tx, new, [f for f in new.finding_ids if f not in case.finding_ids])
            seq = tx.run("MATCH (:Case {case_id: $id})-[:HAS_EVENT]->(e) "
                         "RETURN coalesce(max(e.seq), 0) AS n", id=case_id).single()["n"]
            _append(tx, case_id, numbered(new, drafts, token, at, by, int(seq) + 1))
            return new

        return self._write_tx(f"change case {case_id}", work)

    def _find(self, ref: str) -> Case | None:
        def work(tx: Any) -> Case | None:
            case = _read(tx, ref)
            if case is not None:
                return case
            row = tx.run(_CASE_OF_FINDING, ref=ref).single()
            return None if row is None else _read(tx, row["id"])

        return self._read_tx(work)

    def _list(self) -> list[Case]:
        rows = self.connection.run(_LIST, QueryMode.READ)
        return [_case_of(r["c"], r["ids"]) for r in rows]

    def _events(self, case_id: str) -> list[Event]:
        rows = self.connection.run(_EVENTS, QueryMode.READ, case_id=case_id)
        return [_event_of(r["e"]) for r in rows]

    # -- transactions ------------------------------------------------------------------------

    def _write_tx(self, doing: str, work: Any) -> Any:
        conn = self.connection
        with conn.errors(f"writing ({doing})"), conn.session(QueryMode.WRITE) as session:
            return session.execute_write(work)

    def _read_tx(self, work: Any) -> Any:
        conn = self.connection
        with conn.errors("reading cases"), conn.session(QueryMode.READ) as session:
            return session.execute_read(work)


def _has_event(tx: Any, event_id: str) -> bool:
    return tx.run("MATCH (e:CaseEvent {event_id: $id}) RETURN e.event_id AS id",
                  id=event_id).peek() is not None


def _read(tx: Any, case_id: str) -> Case | None:
    row = tx.run(_READ_CASE, case_id=case_id).single()
    return None if row is None else _case_of(row["c"], row["ids"])


def _write(tx: Any, case: Case) -> None:
    d = case.to_dict()
    props = {k: v for k, v in d.items() if k not in ("finding_ids", "finding_id", "decision")
             and v is not None}
    if d["decision"] is not None:
        props["decision"] = dumps(d["decision"])
    tx.run(_WRITE_CASE, case_id=case.case_id, props=props, users=list(case.users)).consume()


def _hold(tx: Any, case: Case, finding_ids: Any) -> None:
    rows = [{"finding_id": f, "position": case.finding_ids.index(f)} for f in finding_ids]
    if not rows:
        return
    clash = tx.run(_HOLD, case_id=case.case_id, rows=rows).peek()
    if clash is not None:
        raise ConflictError(f"finding {clash['finding_id']} is already held by case "
                            f"{clash['other']}")


def _append(tx: Any, case_id: str, events: list[Event]) -> None:
    rows = [{"event_id": e.event_id, "case_id": e.case_id, "seq": e.seq,
             "at": e.at.isoformat(), "by": e.by, "what": e.what, "before": dumps(e.before),
             "after": dumps(e.after), **({"note": e.note} if e.note is not None else {})}
            for e in events]
    tx.run(_APPEND, case_id=case_id, rows=rows).consume()


def _case_of(props: dict[str, Any], ids: list[str]) -> Case:
    d = dict(props)
    d.pop("lock", None)
    d["finding_ids"] = tuple(ids)
    if d.get("decision"):
        d["decision"] = json.loads(d["decision"])
    return Case.from_dict(d)


def _event_of(p: dict[str, Any]) -> Event:
    return Event(p["event_id"], p["case_id"], int(p["seq"]), dt.datetime.fromisoformat(p["at"]),
                 p["by"], p["what"], json.loads(p["before"]), json.loads(p["after"]),
                 p.get("note"))
