"""What a case is (data contract v3, "cases"): its record, its events and the checks on input.

A :class:`Case` holds one finding across nights (``finding_ids``: every id it has held,
the first the id it was opened on; a ring's carried-forward id is followed), or, opened by
hand, a user (``subject="user:<id>"``), and then holds whatever findings name that user.
Its ``status`` is ``open``, ``investigating`` or ``closed`` (a closed case may be
reopened); a closed case has an ``outcome``; a case may be snoozed until a date after the
day of the decision. ``decision`` is the finding as it was at the last decision (close or
snooze): what re-alerting compares against. ``version`` counts the changes: a writer
that read version N may ask that its change apply only to version N (a conflict
otherwise).

Every change is an :class:`Event` (who, when, what, the values before and after),
numbered in order per case and never changed or deleted.

Examples
--------
>>> check_outcome("false_positive")
'false_positive'
>>> check_outcome("fraud")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
xpg.errors.InputError: outcome 'fraud': expected one of confirmed_fraud, false_positive, ...
>>> import datetime as dt
>>> check_snooze(dt.date(2026, 11, 20), dt.date(2026, 11, 20))  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
xpg.errors.InputError: until 2026-11-20: a snooze must end after the day of the decision ...
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from xpg.errors import InputError
from xpg.queries.findings import SEVERITIES, Finding

__all__ = [
    "NOTE_MAX_CHARS",
    "OUTCOMES",
    "STATUSES",
    "SUPPRESSING_OUTCOMES",
    "USER_PREFIX",
    "Case",
    "Event",
    "Snapshot",
    "check_name",
    "check_note",
    "check_outcome",
    "check_snooze",
    "new_case_id",
    "new_event_id",
]

STATUSES = ("open", "investigating", "closed")
OUTCOMES = ("confirmed_fraud", "false_positive", "benign", "duplicate")
SUPPRESSING_OUTCOMES = ("false_positive", "benign", "duplicate")
"""Outcomes whose finding is suppressed on later nights until it gets materially worse."""
PRECISION_OUTCOMES = ("confirmed_fraud", "false_positive", "benign")
"""The denominator of a rule's precision (``duplicate`` says nothing about the rule)."""

NOTE_MAX_CHARS = 10_000
"""The longest note (characters): a note is an analyst's sentence or paragraph, not a file."""
NAME_MAX_CHARS = 200
USER_PREFIX = "user:"
"""``subject`` of a case opened by hand on a user: ``user:<user_id>``."""


def new_case_id() -> str:
    return f"case-{uuid.uuid4().hex[:12]}"


def new_event_id() -> str:
    return uuid.uuid4().hex


def check_outcome(outcome: str) -> str:
    if outcome not in OUTCOMES:
        raise InputError(f"outcome {outcome!r}: expected one of {', '.join(OUTCOMES)}",
                         argument="outcome")
    return outcome


def check_note(note: str | None) -> str | None:
    if note is None:
        return None
    if not isinstance(note, str):
        raise InputError(f"note: expected text, got {type(note).__name__}", argument="note")
    if not note.strip():
        raise InputError("note: empty; write what was found", argument="note")
    if len(note) > NOTE_MAX_CHARS:
        raise InputError(f"note: {len(note):,} characters, more than the {NOTE_MAX_CHARS:,} "
                         "a note may hold; keep the note short and attach documents "
                         "elsewhere", argument="note")
    return note


def check_name(name: str, argument: str = "by") -> str:
    """An analyst's name (``by``, ``assignee``): non-empty, one line, at most 200 characters."""
    if not isinstance(name, str) or not name.strip():
        raise InputError(f"{argument}: give the analyst's name", argument=argument)
    if len(name) > NAME_MAX_CHARS or "\n" in name or "\r" in name:
        raise InputError(f"{argument} {name[:40]!r}...: a name is one line of at most "
                         f"{NAME_MAX_CHARS} characters", argument=argument)
    return name.strip()


def check_snooze(until: dt.date, day: dt.date) -> dt.date:
    if not isinstance(until, dt.date) or isinstance(until, dt.datetime):
        raise InputError(f"until {until!r}: expected a date (YYYY-MM-DD)", argument="until")
    if until <= day:
        raise InputError(f"until {until}: a snooze must end after the day of the decision "
                         f"({day})", argument="until")
    return until


@dataclass(frozen=True)
class Snapshot:
    """A finding as it was at a decision: what re-alerting compares the later nights with."""

    finding_id: str
    day: dt.date
    severity: str
    exposure_total: float
    users: tuple[str, ...]
    lenders: tuple[str, ...] = ()

    @classmethod
    def of(cls, finding: Finding, day: dt.date) -> Snapshot:
        lenders = finding.evidence.get("lenders", ()) if finding.evidence else ()
        return cls(finding.id, day, finding.severity, float(finding.exposure.total),
                   tuple(sorted(finding.users)), tuple(sorted(str(x) for x in lenders)))

    def to_dict(self) -> dict[str, Any]:
        return {"finding_id": self.finding_id, "day": self.day.isoformat(),
                "severity": self.severity, "exposure_total": self.exposure_total,
                "users": list(self.users), "lenders": list(self.lenders)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Snapshot:
        return cls(d["finding_id"], dt.date.fromisoformat(d["day"]), d["severity"],
                   float(d["exposure_total"]), tuple(d["users"]), tuple(d.get("lenders", ())))

    def severity_rank(self) -> int:
        return SEVERITIES.index(self.severity) if self.severity in SEVERITIES else -1


@dataclass(frozen=True)
class Case:
    """One case; see the module docstring. Times are UTC."""

    case_id: str
    subject: str
    rule: str | None
    users: tuple[str, ...]
    status: str
    version: int
    opened_at: dt.datetime
    opened_by: str
    finding_ids: tuple[str, ...] = ()
    outcome: str | None = None
    assignee: str | None = None
    snooze_until: dt.date | None = None
    decided_at: dt.datetime | None = None
    closed_at: dt.datetime | None = None
    decision: Snapshot | None = None
    updated_at: dt.datetime | None = None

    @property
    def finding_id(self) -> str | None:
        """The finding id it holds now (the latest followed), None for a user's case."""
        return self.finding_ids[-1] if self.finding_ids else None

    @property
    def user(self) -> str | None:
        """The user of a case opened by hand on a user."""
        return self.subject[len(USER_PREFIX):] if self.subject.startswith(USER_PREFIX) else None

    def suppresses(self, day: dt.date) -> bool:
        """Whether findings it holds are suppressed on the night of ``day`` (unless worse)."""
        closed_quiet = self.status == "closed" and self.outcome in SUPPRESSING_OUTCOMES
        snoozed = self.snooze_until is not None and self.snooze_until >= day
        return closed_quiet or snoozed

    def fields(self) -> dict[str, Any]:
        """The changeable fields, JSON-ready (what events record before and after)."""
        return {"status": self.status, "outcome": self.outcome, "assignee": self.assignee,
                "snooze_until": _iso(self.snooze_until), "finding_ids": list(self.finding_ids)}

    def to_dict(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id, "subject": self.subject, "rule": self.rule,
            "finding_id": self.finding_id, "finding_ids": list(self.finding_ids),
            "users": list(self.users), "status": self.status, "outcome": self.outcome,
            "assignee": self.assignee, "snooze_until": _iso(self.snooze_until),
            "version": self.version, "opened_at": _iso(self.opened_at),
            "opened_by": self.opened_by, "decided_at": _iso(self.decided_at),
            "closed_at": _iso(self.closed_at), "updated_at": _iso(self.updated_at),
            "decision": None if self.decision is None else self.decision.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Case:
        return cls(
            case_id=d["case_id"], subject=d["subject"], rule=d.get("rule"),
            users=tuple(d.get("users") or ()), status=d["status"], version=int(d["version"]),
            opened_at=_dt(d["opened_at"]), opened_by=d["opened_by"],
            finding_ids=tuple(d.get("finding_ids") or ()), outcome=d.get("outcome"),
            assignee=d.get("assignee"), snooze_until=_day(d.get("snooze_until")),
            decided_at=_dt(d.get("decided_at")), closed_at=_dt(d.get("closed_at")),
            decision=None if not d.get("decision") else Snapshot.from_dict(d["decision"]),
            updated_at=_dt(d.get("updated_at")),
        )


@dataclass(frozen=True)
class Event:
    """One change of a case: ``seq`` numbers a case's events from 1, in order."""

    event_id: str
    case_id: str
    seq: int
    at: dt.datetime
    by: str
    what: str
    before: Mapping[str, Any] = field(default_factory=dict)
    after: Mapping[str, Any] = field(default_factory=dict)
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"event_id": self.event_id, "case_id": self.case_id, "seq": self.seq,
                "at": _iso(self.at), "by": self.by, "what": self.what,
                "before": dict(self.before), "after": dict(self.after), "note": self.note}


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _iso(value: dt.date | None) -> str | None:
    return None if value is None else value.isoformat()


def _dt(value: Any) -> dt.datetime | None:
    if value is None or isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(str(value))


def _day(value: Any) -> dt.date | None:
    if value is None or (isinstance(value, dt.date) and not isinstance(value, dt.datetime)):
        return value
    return dt.date.fromisoformat(str(value))


def users_of(users: Sequence[str]) -> tuple[str, ...]:
    return tuple(sorted(set(users)))
