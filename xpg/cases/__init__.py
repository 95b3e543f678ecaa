"""Cases and decisions (data contract v3): the store (SQLite beside the reports, or Neo4j),
the analyst's operations on it, and the known-bad users it names.

:func:`known_bad_users` is the interface the early-warning rule and screening read.
"""

from __future__ import annotations

import os
from pathlib import Path

from xpg.cases.model import OUTCOMES, STATUSES, Case, Event, Snapshot
from xpg.cases.store import CaseStore
from xpg.errors import InputError

__all__ = ["CASES_FILE", "OUTCOMES", "STATUSES", "Case", "CaseStore", "Event", "Snapshot",
           "known_bad_users", "open_case_store"]

CASES_FILE = "cases.sqlite"
"""The SQLite case store's file name in a reports folder."""


def open_case_store(backend: object, reports: str | os.PathLike[str] | None) -> CaseStore:
    """The case store of a session: in the database of a backend that is a Neo4j
    connection (the graph's own database), else the SQLite file ``reports/cases.sqlite``
    beside the reports."""
    from xpg.graph.neo4j.connection import Neo4jConnection

    if isinstance(backend, Neo4jConnection):
        from xpg.cases.neo4j import Neo4jCaseStore

        return Neo4jCaseStore(backend)
    if reports is None:
        raise InputError("reports: give the reports folder the case store lives in "
                         f"(its {CASES_FILE})", argument="reports")
    from xpg.cases.sqlite import SqliteCaseStore

    path = Path(reports)
    return SqliteCaseStore(path if path.suffix == ".sqlite" else path / CASES_FILE)


def known_bad_users(store: CaseStore) -> frozenset[str]:
    """The user ids named by cases closed ``confirmed_fraud``: known-bad users (contract v3)."""
    return store.known_bad_users()
