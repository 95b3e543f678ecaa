"""Cases on a session (:class:`xpg.api.Session` inherits :class:`SessionCases`), and the
nightly report's reading of them (:func:`night_cases`: the store opened once a night).

The store is the session's backend's (a Neo4j database holds its cases) or the SQLite
file ``cases.sqlite`` in the reports folder (:meth:`SessionCases.use_reports`, or the
folder :meth:`Session.report <xpg.api.Session.report>` writes into). The findings cases
are opened on are the latest report's in that folder (its ring ids are the carried ones),
else the session's own.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xpg.queries.findings import FindingsReport

if TYPE_CHECKING:  # the case modules are imported where used: a cold query needs none
    from xpg.cases.model import Case
    from xpg.cases.service import Cases
    from xpg.cases.store import CaseStore
    from xpg.cases.triage import Triage
    from xpg.queries.diff import ReportDiff
    from xpg.report.writer import RunLog

__all__ = ["NightCases", "SessionCases", "latest_findings", "latest_trends", "night_cases"]


class SessionCases:
    """The case methods of a session."""

    _case_reports: Path | None = None
    _cases: Cases | None = None

    def use_reports(self, reports: str | os.PathLike[str]) -> Cases:
        """Keep cases beside the reports in ``reports`` (the SQLite store of a backend
        without a database of its own); the session's :attr:`cases` from then on. The
        users of its cases closed ``confirmed_fraud`` become known-bad for the detections
        (:meth:`add_known_bad`)."""
        self._case_reports = Path(reports)
        if self._cases is not None:
            self._cases.close()
        self._cases = None
        self.add_known_bad(self.cases.known_bad_users())
        return self.cases

    def add_known_bad(self, users: Iterable[str]) -> int:
        """Count ``users`` as known-bad (contract v3: confirmed fraud by an analyst) in the
        detections from now on; returns how many were new. Findings already computed by
        this session are dropped when any is (they were found without them)."""
        from xpg.queries.rules.linked_risk import with_known_bad

        detection, added = with_known_bad(self.settings.detection, users)  # type: ignore[attr-defined]
        if added:
            self.settings = self.settings.replace(detection=detection)  # type: ignore[attr-defined]
            self._findings.clear()  # type: ignore[attr-defined]
            self._indexes.clear()  # type: ignore[attr-defined]
        return added

    @property
    def cases(self) -> Cases:
        """The session's cases (:class:`xpg.cases.service.Cases`)."""
        if self._cases is None:
            from xpg.cases import open_case_store
            from xpg.cases.service import Cases

            store = open_case_store(self.backend, self._case_reports)  # type: ignore[attr-defined]
            found = latest_findings(self._case_reports)
            if found is None:
                found = self.findings()  # type: ignore[attr-defined]
            self._cases = Cases(store, found)
        return self._cases

    def trends(self, nights: int | None = None) -> dict[str, Any] | None:
        """Per rule over the last nights: the ``trends.json`` of the latest report in the
        reports folder (:meth:`use_reports`), its last ``nights`` nights when given; None
        when there is no such report."""
        return latest_trends(self._case_reports, nights)

    def decide(self, finding_id: str, outcome: str, *, by: str, note: str | None = None,
               snooze_until: dt.date | None = None, expected_version: int | None = None
               ) -> Case:
        """Close the case of ``finding_id`` (opened now when none holds it) with ``outcome``
        (``confirmed_fraud``, ``false_positive``, ``benign``, ``duplicate``)."""
        return self.cases.decide(finding_id, outcome, by=by, note=note,
                                 snooze_until=snooze_until, expected_version=expected_version)


def _dated_folders(reports: Path | None) -> list[Path]:
    """The dated report folders under ``reports``, latest first."""
    if reports is None or not reports.is_dir():
        return []
    days = []
    for p in reports.iterdir():
        try:
            days.append((dt.date.fromisoformat(p.name), p))
        except ValueError:
            continue
    return [p for _, p in sorted(days, reverse=True)]


def latest_trends(reports: Path | None, nights: int | None = None) -> dict[str, Any] | None:
    """The per-rule trends of the latest report under ``reports`` that has them
    (:mod:`xpg.report.trends`), cut to the last ``nights``; None: none."""
    from xpg.report.trends import FILE

    for p in _dated_folders(reports):
        try:
            doc = json.loads((p / FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if nights is not None:
            doc["series"] = doc.get("series", [])[-nights:] if nights > 0 else []
            if "nights" in doc:  # what the document covers now, not what the report kept
                doc["nights"] = min(int(doc["nights"]), nights)
        return doc
    return None


def latest_findings(reports: Path | None) -> FindingsReport | None:
    """The findings of the latest dated report folder under ``reports`` (None: none)."""
    for p in _dated_folders(reports):
        if (p / "findings.json").is_file():
            return FindingsReport.read(p / "findings.json")
    return None


class NightCases:
    """The case store of one nightly run, opened once and read once (:func:`night_cases`).

    ``cases`` is the store's cases as the run began (empty, and no store made, when the
    reports folder has no store yet and the backend keeps none): the known-bad users
    before the detection, the triage, the precision and the trend's precision all read
    that one list; only the follows of a ring's new id write.
    """

    def __init__(self, store: CaseStore | None):
        self.store = store
        self.cases: list[Case] = [] if store is None else store.list()

    def adopt_known_bad(self, session: Any, log: RunLog) -> None:
        """Before the night's detection: the users of the cases closed ``confirmed_fraud``
        become known-bad for it (contract v3)."""
        from xpg.cases.store import known_bad_of

        added = session.add_known_bad(known_bad_of(self.cases))
        if added:
            log.info(f"known-bad users from cases closed as confirmed fraud: {added} more")

    def gather(self, session: Any, report: FindingsReport, diff: ReportDiff | None,
               log: RunLog) -> dict[str, Any]:
        """The report's cases section: each finding's state (:func:`xpg.cases.triage.triage`),
        the counts, the open cases, per-rule precision (every decision, and those closed by
        the run date for the trends); a ring whose id changed is followed by its case
        (written, unless the session only reads)."""
        from xpg.cases.store import precision_of
        from xpg.cases.triage import triage

        cases = self.cases
        result: Triage = triage(report, diff, cases,
                                share=session.settings.cases.realert_exposure_share)
        if result.follows and self.store is not None and not session.read_only:
            for case_id, finding_id, why in result.follows:
                self.store.follow(case_id, finding_id, by="xpg report", reason=why)
            log.info(f"cases following a ring's new id: {len(result.follows)}")
        c = result.counts()
        log.info(f"cases: {c['new']} new, {c['realerted']} re-alerted, {c['suppressed']} "
                 f"suppressed, {c['in_review']} in review; {c['open_cases']} open case(s)")
        age = session.settings.cases.open_age_days
        old = [x.to_dict() for x in cases if x.status != "closed"
               and (report.as_of - x.opened_at.date()).days >= age]
        return {**result.to_dict(), "precision": precision_of(cases),
                "precision_as_of": precision_of(cases, until=report.as_of),
                "open_age_days": age, "old_open_cases": old}

    def close(self) -> None:
        if self.store is not None:
            self.store.close()  # the Neo4j store leaves the backend's connection open


@contextlib.contextmanager
def night_cases(session: Any, out: Path) -> Iterator[NightCases]:
    """The case store of a nightly run into the reports folder ``out``, opened once for
    the whole run and closed at its end: ``out``'s SQLite store (none made while it has no
    case yet), or the graph's own database."""
    from xpg.cases import CASES_FILE, open_case_store

    store = None
    if (out / CASES_FILE).exists() or _keeps_cases(session):
        store = open_case_store(session.backend, out)  # (Neo4j: the graph's database)
    try:
        night = NightCases(store)
    except BaseException:
        if store is not None:
            store.close()
        raise
    try:
        yield night
    finally:
        night.close()


def _keeps_cases(session: Any) -> bool:
    from xpg.graph.neo4j.connection import Neo4jConnection

    return isinstance(session.backend, Neo4jConnection)
