"""A user's cross-product timeline (:func:`user_timeline`): both products' accounts, limits,
freezes, restores and limit cuts (``account_events``), external loans opened and closed,
applications, and the findings that named the user on each stored night, in one dated
list, each entry with its reason, so an investigator (or the support team answering "why
was my limit cut to 50?") sees the whole story on one screen.

Nights are given as findings reports (``FindingsReport``): the session's own and those of a
folder of nightly reports (``REPORTS/<date>/findings.json``, :func:`stored_nights`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from xpg.queries.findings import Finding, FindingsReport
from xpg.queries.investigate.sources import InvestigationSource

from xpg.errors import InputError, NotFoundError

__all__ = ["Entry", "TimelineView", "stored_nights", "user_timeline"]

_CUT, _RAISE = "limit_cut", "limit_raise"


@dataclass(frozen=True)
class Entry:
    """One dated fact of the user's story."""

    at: str  # ISO date or datetime
    kind: str  # account_opened, freeze, unfreeze, limit, close, reopen, limit_cut,
    # limit_raise, status, loan_opened, loan_closed, application, finding
    product: str | None  # the platform product (account entries), else None
    what: str
    reason: str


@dataclass(frozen=True)
class TimelineView:
    """The user's entries, oldest first, and the nights read."""

    user_id: str
    as_of: dt.date
    entries: tuple[Entry, ...]
    nights: tuple[str, ...]
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "as_of": self.as_of.isoformat(),
                "entries": [asdict(e) for e in self.entries], "nights": list(self.nights),
                "notes": list(self.notes)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)


def stored_nights(folder: str | Path) -> list[FindingsReport]:
    """The findings of each nightly report under ``folder`` (``<YYYY-MM-DD>/findings.json``),
    oldest first.

    Raises
    ------
    InputError
        ``folder`` is no folder, or holds no report.
    """
    root = Path(folder)
    if not root.is_dir():
        raise InputError(f"reports {root}: not a folder of nightly reports", argument="reports")
    out = []
    for day in sorted(p for p in root.iterdir() if p.is_dir()):
        path = day / "findings.json"
        try:
            dt.date.fromisoformat(day.name)
        except ValueError:
            continue
        if path.is_file():
            out.append(FindingsReport.from_json(path.read_text("utf-8")))
    if not out:
        raise InputError(f"reports {root}: no <YYYY-MM-DD>/findings.json in it",
                         argument="reports")
    return out


def _money(x: float | None) -> str:
    return "?" if x is None else f"{x:,.2f}"


def _stamp(value: dt.datetime | dt.date) -> str:
    return value.isoformat()


def user_timeline(source: InvestigationSource, user_id: str, as_of: dt.date,
                  nights: Sequence[FindingsReport] = ()) -> TimelineView:
    """The user's timeline as of ``as_of`` (see the module docstring).

    Raises
    ------
    NotFoundError
        The user does not exist.
    """
    if source.users([user_id]).height == 0:
        raise NotFoundError(f"unknown user {user_id!r}")
    entries: list[tuple[str, int, Entry]] = []

    def add(at: dt.datetime | dt.date, order: int, entry: Entry) -> None:
        key = (at.isoformat() if isinstance(at, dt.datetime)
               else dt.datetime.combine(at, dt.time()).isoformat())
        entries.append((key, order, entry))

    accounts = source.accounts([user_id], as_of)
    kind_of = {}
    for a in accounts.iter_rows(named=True):
        kind_of[a["account_id"]] = a["product_kind"]
        label = f"{a['product_id']} ({a['product_kind']})"
        if a["opened_at"] is not None:
            add(a["opened_at"], 0, Entry(_stamp(a["opened_at"]), "account_opened",
                                         a["product_id"],
                                         f"{label} account {a['account_id']} opened",
                                         f"limit now {_money(a['credit_limit'])}, "
                                         f"status now {a['status']}"))
    events = source.account_events([user_id], as_of)
    seen_status = set()
    for e in events.iter_rows(named=True):
        product = e["product_id"]
        reason = e["reason"] or "no reason recorded"
        if e["event"] == "limit_change":
            old, new = e["old_limit"], e["new_limit"]
            if old is not None and new is not None and new < old:
                share = f" (-{(old - new) / old:.0%})" if old else ""
                kind, what = _CUT, f"limit cut from {_money(old)} to {_money(new)}{share}"
            else:
                kind, what = _RAISE, f"limit raised from {_money(old)} to {_money(new)}"
        else:
            kind, what = e["event"], {"freeze": "frozen", "unfreeze": "unfrozen",
                                      "limit": "limited", "close": "closed",
                                      "reopen": "reopened"}.get(e["event"], e["event"])
            seen_status.add(e["account_id"])
        add(e["at"], 1, Entry(_stamp(e["at"]), kind, product,
                              f"{product} account {e['account_id']} {what}", reason))
    for a in accounts.iter_rows(named=True):  # a status with no event behind it
        if (a["status"] != "active" and a["account_id"] not in seen_status
                and a["status_changed_at"] is not None):
            add(a["status_changed_at"], 1, Entry(
                _stamp(a["status_changed_at"]), "status", a["product_id"],
                f"{a['product_id']} account {a['account_id']} {a['status']}",
                a["status_reason"] or "no reason recorded"))
    loans = source.loans([user_id], as_of)
    for x in loans.iter_rows(named=True):
        add(x["opened_at"], 2, Entry(_stamp(x["opened_at"]), "loan_opened", None,
                                     f"loan of {_money(x['amount'])} opened at "
                                     f"{x['lender_id']}",
                                     f"status now {x['status']}, outstanding "
                                     f"{_money(x['outstanding'])}"))
        if x["closed_at"] is not None and x["closed_at"] <= as_of:
            add(x["closed_at"], 2, Entry(_stamp(x["closed_at"]), "loan_closed", None,
                                         f"loan at {x['lender_id']} closed",
                                         f"status {x['status']}"))
    for x in source.applications([user_id], as_of).iter_rows(named=True):
        add(x["applied_at"], 3, Entry(_stamp(x["applied_at"]), "application", None,
                                      f"applied to {x['lender_id']}",
                                      f"outcome {x['outcome'] or 'not recorded'}"))
    days = []
    for night in sorted(nights, key=lambda r: r.as_of):
        if night.as_of > as_of or night.as_of.isoformat() in days:
            continue
        days.append(night.as_of.isoformat())
        for f in _naming(night.findings, user_id):
            add(night.as_of, 4, Entry(night.as_of.isoformat(), "finding", None,
                                      f"{f.type} finding {f.id} ({f.severity})",
                                      f.explanation))
    notes = []
    if not events.height and accounts.height:
        notes.append("no account events recorded for the user's accounts")
    ordered = tuple(e for _, _, e in sorted(entries, key=lambda t: (t[0], t[1])))
    return TimelineView(user_id, as_of, ordered, tuple(days), tuple(notes))


def _naming(findings: Iterable[Finding], user_id: str) -> list[Finding]:
    return sorted((f for f in findings if user_id in f.users), key=lambda f: (f.type, f.id))
