"""The case store: one interface, a backend per database (SQLite beside the reports, Neo4j).

:class:`CaseStore` holds the shared steps, final: checking input, composing each change
and its event, reading cases by case id or any finding id they held, precision and the
known-bad users. A backend fills five hooks: ``_insert`` (a new case and its first event,
refusing a finding another case holds), ``_transact`` (read the case, apply a change
computed from what is stored, append its events and bump the version, all in one
transaction, refusing a stale ``expected_version``), ``_find``, ``_list`` and ``_events``.

Every write is one transaction: bad input is refused before anything is written, and a
write that fails (or a process killed in it) leaves nothing of itself. Two writers on one
case are serialized by the database; a writer that names the version it read
(``expected_version``) gets a :class:`~xpg.errors.ConflictError` if another landed first,
one that does not is applied to the latest version (both land, in order).
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from xpg.cases.model import (
    PRECISION_OUTCOMES,
    USER_PREFIX,
    Case,
    Event,
    Snapshot,
    check_name,
    check_note,
    check_outcome,
    check_snooze,
    new_case_id,
    users_of,
)
from xpg.errors import ConflictError, InputError, NotFoundError
from xpg.queries.findings import Finding

__all__ = ["CaseStore", "Change", "EventDraft", "known_bad_of", "precision_of", "utcnow"]

EventDraft = tuple[str, dict[str, Any], dict[str, Any], str | None]
"""(what, before, after, note) of an event before it is numbered and stored."""

Change = Callable[[Case], tuple[dict[str, Any], list[EventDraft]]]
"""Given the stored case, the fields to set and the events to append."""


def known_bad_of(cases: Iterable[Case]) -> frozenset[str]:
    """The users named by those of ``cases`` closed ``confirmed_fraud`` (contract v3)."""
    return frozenset(u for c in cases if c.status == "closed" and c.outcome == "confirmed_fraud"
                     for u in c.users)


def precision_of(cases: Iterable[Case], since: dt.date | None = None,
                 until: dt.date | None = None) -> dict[str, dict[str, Any]]:
    """Per rule (finding type): of ``cases``, those closed in [since, until] by outcome, and
    the precision, confirmed_fraud / (confirmed_fraud + false_positive + benign) (None when
    none is decided; ``duplicate`` says nothing about the rule), rules in name order."""
    out: dict[str, dict[str, Any]] = {}
    for c in cases:
        if c.status != "closed" or c.closed_at is None or c.rule is None:
            continue
        day = c.closed_at.date()
        if (since is not None and day < since) or (until is not None and day > until):
            continue
        row = out.setdefault(c.rule, {"confirmed_fraud": 0, "false_positive": 0,
                                      "benign": 0, "duplicate": 0})
        row[c.outcome or "duplicate"] += 1
    for row in out.values():
        decided = sum(row[o] for o in PRECISION_OUTCOMES)
        row["decided"] = decided
        row["precision"] = None if not decided else round(row["confirmed_fraud"] / decided, 4)
    return dict(sorted(out.items()))


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


class CaseStore:
    """Cases and their events in one database; see the module docstring."""

    label = "case store"

    # -- hooks -------------------------------------------------------------------------------

    def _insert(self, case: Case, event: Event) -> None:
        raise NotImplementedError

    def _transact(self, case_id: str, expected_version: int | None, token: str,
                  at: dt.datetime, by: str, change: Change) -> Case:
        """Apply ``change`` to the stored case in one transaction; its events get the ids
        ``{token}-{i}`` (a retried transaction whose first event exists is not applied
        again). Raise ConflictError when ``expected_version`` is not the stored one."""
        raise NotImplementedError

    def _find(self, ref: str) -> Case | None:
        raise NotImplementedError

    def _list(self) -> list[Case]:
        raise NotImplementedError

    def _events(self, case_id: str) -> list[Event]:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self) -> CaseStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading -----------------------------------------------------------------------------

    def find(self, ref: str) -> Case | None:
        """The case of ``ref``: a case id, or a finding id the case holds or held."""
        return self._find(ref)

    def get(self, ref: str) -> Case:
        case = self._find(ref)
        if case is None:
            raise NotFoundError(f"no case {ref!r} (neither a case id nor a finding id a case "
                                "holds)")
        return case

    def list(self, *, status: str | None = None, rule: str | None = None,
             assignee: str | None = None) -> list[Case]:
        """Cases, oldest first, filtered by status, rule (finding type) and assignee."""
        out = [c for c in self._list()
               if (status is None or c.status == status) and (rule is None or c.rule == rule)
               and (assignee is None or c.assignee == assignee)]
        return sorted(out, key=lambda c: (c.opened_at, c.case_id))

    def events(self, ref: str) -> list[Event]:
        """The case's events, in order (the audit trail)."""
        return self._events(self.get(ref).case_id)

    def known_bad_users(self) -> frozenset[str]:
        """Users named by a case closed ``confirmed_fraud`` (contract v3: known-bad users,
        for the early-warning rule and screening)."""
        return known_bad_of(self._list())

    def precision(self, since: dt.date | None = None, until: dt.date | None = None
                  ) -> dict[str, dict[str, Any]]:
        """Per rule: cases closed in [since, until] by outcome, and the precision
        (confirmed_fraud / (confirmed_fraud + false_positive + benign); None when none)."""
        return precision_of(self._list(), since, until)

    # -- writing (final) ---------------------------------------------------------------------

    def open(self, *, finding: Finding | None = None, user: str | None = None, by: str,
             note: str | None = None, at: dt.datetime | None = None) -> Case:
        """Open a case on ``finding`` or, by hand, on ``user`` (it then holds the findings
        naming that user). Raises ConflictError when a case already holds the finding."""
        by = check_name(by)
        note = check_note(note)
        if (finding is None) == (user is None):
            raise InputError("open a case on a finding or on a user (one of them)",
                             argument="finding")
        at = at or utcnow()
        if finding is not None:
            held = self._find(finding.id)
            if held is not None:
                raise ConflictError(f"finding {finding.id} is already held by case "
                                    f"{held.case_id} ({held.status})")
            case = Case(new_case_id(), finding.id, finding.type, users_of(finding.users),
                        "open", 1, at, by, finding_ids=(finding.id,), updated_at=at)
        else:
            if not isinstance(user, str) or not user.strip():
                raise InputError("user: give a user id", argument="user")
            case = Case(new_case_id(), USER_PREFIX + user, None, (user,), "open", 1, at, by,
                        updated_at=at)
        event = Event(f"{uuid.uuid4().hex}-0", case.case_id, 1, at, by, "opened", {},
                      case.fields() | {"subject": case.subject}, note)
        self._insert(case, event)
        return case

    def assign(self, ref: str, assignee: str, *, by: str, expected_version: int | None = None,
               at: dt.datetime | None = None) -> Case:
        assignee = check_name(assignee, "assignee")

        def change(c: Case) -> tuple[dict[str, Any], list[EventDraft]]:
            return {"assignee": assignee}, [("assigned", {"assignee": c.assignee},
                                             {"assignee": assignee}, None)]
        return self._write(ref, by, expected_version, at, change)

    def note(self, ref: str, text: str, *, by: str, expected_version: int | None = None,
             at: dt.datetime | None = None) -> Case:
        text = check_note(text) or ""

        def change(c: Case) -> tuple[dict[str, Any], list[EventDraft]]:
            return {}, [("noted", {}, {}, text)]
        return self._write(ref, by, expected_version, at, change)

    def investigate(self, ref: str, *, by: str, note: str | None = None,
                    expected_version: int | None = None, at: dt.datetime | None = None) -> Case:
        """Status ``investigating`` (from open, or reopening a closed case)."""
        note = check_note(note)

        def change(c: Case) -> tuple[dict[str, Any], list[EventDraft]]:
            if c.status == "investigating":
                raise InputError(f"case {c.case_id} is already being investigated")
            fields = {"status": "investigating", "outcome": None}
            return fields, [("status", {"status": c.status, "outcome": c.outcome}, fields, note)]
        return self._write(ref, by, expected_version, at, change)

    def reopen(self, ref: str, *, by: str, note: str | None = None,
               expected_version: int | None = None, at: dt.datetime | None = None) -> Case:
        """A closed case open again (its outcome cleared; the decision kept for history)."""
        note = check_note(note)

        def change(c: Case) -> tuple[dict[str, Any], list[EventDraft]]:
            if c.status != "closed":
                raise InputError(f"case {c.case_id} is {c.status}, not closed: nothing to "
                                 "reopen")
            fields = {"status": "open", "outcome": None, "closed_at": None}
            return fields, [("reopened", {"status": c.status, "outcome": c.outcome},
                             {"status": "open", "outcome": None}, note)]
        return self._write(ref, by, expected_version, at, change)

    def decide(self, ref: str, outcome: str, *, by: str, finding: Finding | None = None,
               note: str | None = None, snooze_until: dt.date | None = None,
               expected_version: int | None = None, at: dt.datetime | None = None) -> Case:
        """Close the case with ``outcome``; ``finding`` (as it is now) is what later nights
        compare with to re-alert; optionally snoozed too."""
        outcome = check_outcome(outcome)
        note = check_note(note)
        at = at or utcnow()
        if snooze_until is not None:
            check_snooze(snooze_until, at.date())

        def change(c: Case) -> tuple[dict[str, Any], list[EventDraft]]:
            fields: dict[str, Any] = {"status": "closed", "outcome": outcome, "decided_at": at,
                                      "closed_at": at}
            if finding is not None:
                fields["decision"] = Snapshot.of(finding, at.date())
            if snooze_until is not None:
                fields["snooze_until"] = snooze_until
            before = {"status": c.status, "outcome": c.outcome,
                      "snooze_until": _iso(c.snooze_until)}
            after = {"status": "closed", "outcome": outcome,
                     "snooze_until": _iso(snooze_until or c.snooze_until)}
            if finding is not None:
                before["decision"] = None if c.decision is None else c.decision.to_dict()
                after["decision"] = fields["decision"].to_dict()
            return fields, [("decided", before, after, note)]
        return self._write(ref, by, expected_version, at, change)

    def snooze(self, ref: str, until: dt.date, *, by: str, finding: Finding | None = None,
               note: str | None = None, expected_version: int | None = None,
               at: dt.datetime | None = None) -> Case:
        """Suppress the case's findings until ``until`` (after today) unless they get worse
        than ``finding`` is now."""
        note = check_note(note)
        at = at or utcnow()
        check_snooze(until, at.date())

        def change(c: Case) -> tuple[dict[str, Any], list[EventDraft]]:
            fields: dict[str, Any] = {"snooze_until": until, "decided_at": at}
            before: dict[str, Any] = {"snooze_until": _iso(c.snooze_until)}
            after: dict[str, Any] = {"snooze_until": until.isoformat()}
            if finding is not None:
                fields["decision"] = Snapshot.of(finding, at.date())
                before["decision"] = None if c.decision is None else c.decision.to_dict()
                after["decision"] = fields["decision"].to_dict()
            return fields, [("snoozed", before, after, note)]
        return self._write(ref, by, expected_version, at, change)

    def follow(self, ref: str, finding_id: str, *, by: str = "xpg",
               at: dt.datetime | None = None, reason: str | None = None) -> Case:
        """The case now holds ``finding_id`` too (a ring's new id on a later night); a
        finding id another case holds is refused (ConflictError)."""
        held = self._find(finding_id)
        case = self.get(ref)
        if held is not None and held.case_id != case.case_id:
            raise ConflictError(f"finding {finding_id} is already held by case {held.case_id}")

        def change(c: Case) -> tuple[dict[str, Any], list[EventDraft]]:
            if finding_id in c.finding_ids:
                return {}, []
            ids = [*c.finding_ids, finding_id]
            return {"finding_ids": tuple(ids)}, [
                ("followed", {"finding_ids": list(c.finding_ids)}, {"finding_ids": ids}, reason)]
        return self._write(case.case_id, by, None, at, change)

    def _write(self, ref: str, by: str, expected_version: int | None,
               at: dt.datetime | None, change: Change) -> Case:
        by = check_name(by)
        if expected_version is not None and (not isinstance(expected_version, int)
                                             or expected_version < 1):
            raise InputError(f"expected_version {expected_version!r}: a case version (1 or "
                             "more)", argument="expected_version")
        case_id = self.get(ref).case_id
        return self._transact(case_id, expected_version, uuid.uuid4().hex, at or utcnow(),
                              by, change)


def apply_fields(case: Case, fields: Mapping[str, Any], at: dt.datetime) -> Case:
    """``case`` with ``fields`` set, one version on (what a backend stores)."""
    import dataclasses

    return dataclasses.replace(case, **fields, version=case.version + 1, updated_at=at)


def numbered(case: Case, drafts: Iterable[EventDraft], token: str, at: dt.datetime,
             by: str, first_seq: int) -> list[Event]:
    return [Event(f"{token}-{i}", case.case_id, first_seq + i, at, by, what, before, after, note)
            for i, (what, before, after, note) in enumerate(drafts)]


def stale(case_id: str, expected: int, found: int) -> ConflictError:
    return ConflictError(f"case {case_id} is at version {found}, not {expected}: another "
                         "analyst changed it first", expected=expected, found=found)


def _iso(value: dt.date | None) -> str | None:
    return None if value is None else value.isoformat()
