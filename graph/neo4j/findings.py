"""The findings store of the Neo4j backend: findings written back, and read back.

:class:`Neo4jFindingsStore` (mixed into :class:`~xpg.graph.neo4j.Neo4jBackend`)
keeps each detection's findings as ``Finding`` nodes versioned by run date, with a
``FindingsRun`` node recording the load and the settings they were computed with
(:func:`xpg.settings.config_key`), so that a later session on the same graph and settings reads
them (:meth:`~Neo4jFindingsStore.stored_findings`, read transactions only)
instead of detecting again.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from xpg.graph.neo4j.connection import QueryMode, now
from xpg.graph.neo4j.load import Neo4jLoader
from xpg.graph.neo4j.statements import statement
from xpg.queries.findings import FindingsReport

from xpg.settings import DetectionConfig, config_key

__all__ = ["Neo4jFindingsStore", "config_key"]


class Neo4jFindingsStore(Neo4jLoader):
    """Findings written back to, and read back from, the Neo4j database."""

    def write_findings(self, report: FindingsReport, config: DetectionConfig) -> None:
        """Replace the ``Finding`` nodes of ``report.as_of`` with ``report``'s, atomically.

        Each finding becomes ``(:Finding {id, as_of, rank, type, severity, score, ...})``
        with ``-[:FLAGS]->`` to each of its users; ``exposure`` and ``evidence`` are
        stored as JSON text (``exposure_total`` also as a number). ``(:FindingsRun
        {as_of})`` records the summary, the load the report was computed on and
        ``config`` (the detection settings it was computed with), for
        :meth:`stored_findings`. Refused on a read-only backend.
        JSON keeps the keys in the rules' order, so findings read back serialize to the
        same bytes as the ones detected.
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
                    "exposure": json.dumps(f["exposure"]),
                    "evidence": json.dumps(f["evidence"], ensure_ascii=False),
                    "explanation": f["explanation"],
                },
            }
            for rank, f in enumerate(document["findings"])
        ]
        replace = statement("findings", "replace_findings")
        delete = statement("findings", "delete_findings")
        run = statement("findings", "write_findings_run")
        summary = json.dumps(document["summary"], ensure_ascii=False)

        def work(tx: Any) -> None:
            stamp = now()
            tx.run(delete, as_of=report.as_of).consume()
            tx.run(replace, rows=rows, as_of=report.as_of, now=stamp).consume()
            tx.run(run, as_of=report.as_of, config=config_key(config), summary=summary,
                   count=len(rows), now=stamp).consume()

        # one managed write transaction: replacing a date's findings is idempotent
        with self.errors("writing findings"), self.session(QueryMode.WRITE) as session:
            session.execute_write(work)

    def _store_findings(self, report: FindingsReport, config: DetectionConfig) -> None:
        self.write_findings(report, config)

    def finding_nodes(self, as_of: dt.date) -> list[Mapping[str, Any]]:
        """The ``Finding`` nodes of one run date, as property maps in report order."""
        rows = self.run(statement("findings", "read_findings"), QueryMode.READ, as_of=as_of)
        return [r["f"] for r in rows]

    def stored_findings(
        self, config: DetectionConfig, *, as_of: dt.date | None = None
    ) -> FindingsReport | None:
        """The findings a detection wrote back for ``as_of`` (default: the latest date of
        the loaded data), when they were computed on the graph as it is now (the same
        load) with the same detection settings; else ``None``. Reads only.
        """
        day = as_of or self.latest_date()
        if day is None:
            return None
        run = statement("findings", "read_findings_run")
        nodes = statement("findings", "read_findings")

        def work(tx: Any) -> tuple[Any, list[Any]]:
            head = tx.run(run, as_of=day, config=config_key(config)).single()
            if head is None:
                return None, []
            return head, [r["f"] for r in tx.run(nodes, as_of=day)]

        with self.errors("reading findings"), self.session(QueryMode.READ) as session:
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
