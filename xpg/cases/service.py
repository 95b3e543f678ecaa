"""What an analyst does with cases, by finding id or case id: :class:`Cases`.

A :class:`Cases` joins a :class:`~xpg.cases.store.CaseStore` with the findings an analyst
looks at (the latest report's, ring ids carried forward): deciding, snoozing or assigning a
finding that no case holds yet opens its case first, in the same call, after every input
was checked (bad input writes nothing). A finding id neither in those findings nor held by
a case is a :class:`~xpg.errors.NotFoundError`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from xpg.cases.model import Case, Event, check_name, check_note, check_outcome, check_snooze
from xpg.cases.store import CaseStore, utcnow
from xpg.errors import InputError, NotFoundError
from xpg.queries.findings import Finding, FindingsReport

__all__ = ["Cases"]


class Cases:
    """Cases over ``store`` for the findings of ``findings`` (None: only cases already
    open can be acted on)."""

    def __init__(self, store: CaseStore, findings: FindingsReport | None = None):
        self.store = store
        self.findings = findings
        self._by_id = {} if findings is None else {f.id: f for f in findings.findings}

    def close(self) -> None:
        self.store.close()

    # -- reading -----------------------------------------------------------------------------
    def finding(self, finding_id: str) -> Finding | None:
        return self._by_id.get(finding_id)

    def get(self, ref: str) -> Case:
        return self.store.get(ref)

    def show(self, ref: str) -> dict[str, Any]:
        """The case of ``ref`` and its events, JSON-ready."""
        case = self.store.get(ref)
        return {**case.to_dict(), "events": [e.to_dict() for e in self.store.events(ref)]}

    def list(self, **filters: Any) -> list[Case]:
        return self.store.list(**filters)

    def events(self, ref: str) -> list[Event]:
        return self.store.events(ref)

    def stats(self, since: dt.date | None = None, until: dt.date | None = None
              ) -> dict[str, Any]:
        """Per-rule precision (closed in [since, until]) and the count of cases by status."""
        by_status: dict[str, int] = {}
        for c in self.store.list():
            by_status[c.status] = by_status.get(c.status, 0) + 1
        return {"since": None if since is None else since.isoformat(),
                "until": None if until is None else until.isoformat(),
                "cases_by_status": by_status, "rules": self.store.precision(since, until)}

    def known_bad_users(self) -> frozenset[str]:
        return self.store.known_bad_users()

    # -- writing -----------------------------------------------------------------------------
    def open(self, *, finding_id: str | None = None, user: str | None = None, by: str,
             note: str | None = None, at: dt.datetime | None = None) -> Case:
        """Open a case on a finding (a ring's id opens it on the ring) or by hand on a user."""
        if finding_id is not None:
            f = self._finding(finding_id)
            return self.store.open(finding=f, by=by, note=note, at=at)
        return self.store.open(user=user, by=by, note=note, at=at)

    def decide(self, ref: str, outcome: str, *, by: str, note: str | None = None,
               snooze_until: dt.date | None = None, expected_version: int | None = None,
               at: dt.datetime | None = None) -> Case:
        at = at or utcnow()
        check_outcome(outcome)
        check_note(note)
        if snooze_until is not None:
            check_snooze(snooze_until, at.date())
        case, f = self._case(ref, by, at)
        return self.store.decide(case.case_id, outcome, by=by, finding=f, note=note,
                                 snooze_until=snooze_until, expected_version=expected_version,
                                 at=at)

    def snooze(self, ref: str, until: dt.date, *, by: str, note: str | None = None,
               expected_version: int | None = None, at: dt.datetime | None = None) -> Case:
        at = at or utcnow()
        check_snooze(until, at.date())
        check_note(note)
        case, f = self._case(ref, by, at)
        return self.store.snooze(case.case_id, until, by=by, finding=f, note=note,
                                 expected_version=expected_version, at=at)

    def assign(self, ref: str, assignee: str, *, by: str,
               expected_version: int | None = None, at: dt.datetime | None = None) -> Case:
        check_name(assignee, "assignee")
        case, _ = self._case(ref, by, at)
        return self.store.assign(case.case_id, assignee, by=by,
                                 expected_version=expected_version, at=at)

    def note(self, ref: str, text: str, *, by: str, expected_version: int | None = None,
             at: dt.datetime | None = None) -> Case:
        check_note(text)
        case, _ = self._case(ref, by, at)
        return self.store.note(case.case_id, text, by=by, expected_version=expected_version,
                               at=at)

    def set_status(self, ref: str, status: str, *, by: str, note: str | None = None,
                   expected_version: int | None = None, at: dt.datetime | None = None) -> Case:
        """``investigating`` or ``open`` (reopen a closed case); closing is :meth:`decide`."""
        if status not in ("investigating", "open"):
            raise InputError(f"status {status!r}: set investigating or open (reopen); close "
                             "a case by deciding its outcome", argument="status")
        case, _ = self._case(ref, by, at)
        if status == "investigating":
            return self.store.investigate(case.case_id, by=by, note=note,
                                          expected_version=expected_version, at=at)
        return self.store.reopen(case.case_id, by=by, note=note,
                                 expected_version=expected_version, at=at)

    # -- helpers -----------------------------------------------------------------------------
    def _finding(self, finding_id: str) -> Finding:
        f = self._by_id.get(finding_id)
        if f is None:
            where = ("no findings were given" if self.findings is None
                     else f"the findings of {self.findings.as_of}")
            raise NotFoundError(f"finding {finding_id!r} is not in {where}, and no case holds "
                                "it", argument="finding_id")
        return f

    def _case(self, ref: str, by: str, at: dt.datetime | None) -> tuple[Case, Finding | None]:
        """The case of ``ref`` (opened on the finding when none holds it yet) and the
        finding it holds now, as the findings show it."""
        check_name(by)
        case = self.store.find(ref)
        if case is None:
            case = self.store.open(finding=self._finding(ref), by=by, at=at)
        f = self._by_id.get(ref) or next(
            (self._by_id[i] for i in reversed(case.finding_ids) if i in self._by_id), None)
        return case, f
