"""Why a finding changed or resolved between two nights: reason codes for the diff.

Each non-new change of :func:`xpg.queries.diff.diff_reports` gets a ``reason``
(one code or several joined by ``+``) and a ``why`` sentence, computed from the
previous and the current finding's evidence and, where the evidence alone
cannot tell, the current external loans:

===================  ==========================================================
code                 meaning
===================  ==========================================================
window_passed        the events the rule counted fell out of its window
                     (applications older than the multi-lending windows, a
                     limit cut older than ``limit_divergence.window_days``)
loans_closed         the user's loans at the counted lenders are no longer open
                     (the user still has loans in the data)
loans_absent         the current data holds no external loan of the user at all
                     (the loans table may be incomplete or empty)
loans_opened         more open-loan lenders than before
status_changed       an account's status changed (unfrozen, closed, frozen, no
                     longer drawable): the inconsistency is gone
limit_changed        the cut limit was raised again or the raise undone
members_left         ring members are gone (resolved: no current ring holds
                     enough of them)
fewer_multi_lenders  fewer of the ring's members are multi-lending now (the why
                     gives how many of them, and how many before); a ring rule's
                     share of multi-lenders may no longer hold
more_multi_lenders   more of the ring's members are multi-lending now
judged_by_core       the ring's group joined a larger connected group (contract
                     v2, over ring.max_group_users): only its multi-lending
                     core is the ring now, so members that are not
                     multi-lending dropped out though still linked
members_joined       users joined the ring
members_changed      the same number of members, some swapped
rings_merged         two or more previous rings are one now
ring_split           the previous ring is several rings now
severity_changed     the severity moved (score crossed a band)
exposure_changed     the balances behind the exposure moved
===================  ==========================================================
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import polars as pl
from xpg.queries.findings import Finding

if TYPE_CHECKING:
    from xpg.queries.diff import Change

__all__ = ["REASONS", "explain", "loan_users_of"]

REASONS: dict[str, str] = {
    "window_passed": "the events counted fell out of the rule's window",
    "loans_closed": "the loans at the counted lenders are no longer open",
    "loans_absent": "the current data holds no external loan of the user",
    "loans_opened": "loans were opened at more lenders",
    "status_changed": "an account's status changed",
    "limit_changed": "the limit changed again",
    "members_left": "members left the ring",
    "fewer_multi_lenders": "fewer of its members are multi-lending now",
    "more_multi_lenders": "more of its members are multi-lending now",
    "judged_by_core": "its group joined a larger connected group, where only the "
                      "multi-lending core is the ring",
    "members_joined": "users joined the ring",
    "members_changed": "members were swapped",
    "rings_merged": "rings merged",
    "ring_split": "the ring split",
    "severity_changed": "the severity moved",
    "exposure_changed": "the balances behind the exposure moved",
}
"""Every reason code and its sentence."""

_RING = {"resolved": "members_left", "grew": "members_joined", "shrank": "members_left",
         "reshaped": "members_changed", "merged": "rings_merged", "split": "ring_split"}
_WINDOWS = {"applications_short_window", "applications_long_window"}


def explain(change: Change, old: Finding | None, new: Finding | None, as_of: dt.date,
            loan_users: frozenset[str] | None = None,
            multi_lenders: frozenset[str] | None = None) -> Change:
    """``change`` with its ``reason`` and ``why`` set (unchanged for new/unchanged).

    ``loan_users`` are the users with any external loan in the current data
    (None: unknown, a closed loan is then assumed); ``multi_lenders`` the users with a
    ``multi_lending`` finding in the current report (None: unknown; a resolved ring's
    members are then not checked for it).
    """
    if change.kind in ("new", "unchanged") or old is None:
        return change
    counts: dict[str, str] = {}
    codes = _codes(change, old, new, as_of, loan_users, multi_lenders, counts)
    return dataclasses.replace(change, reason="+".join(codes),
                               why="; ".join(REASONS[c] + counts.get(c, "") for c in codes))


def _codes(change: Change, old: Finding, new: Finding | None, as_of: dt.date,
           loan_users: frozenset[str] | None, multi_lenders: frozenset[str] | None,
           counts: dict[str, str]) -> list[str]:
    if old.type == "ring":
        codes = _ring(change, old, new, multi_lenders, counts)
    elif old.type == "multi_lending":
        codes = _multi_lending(old, new, loan_users)
    elif old.type == "limit_divergence":
        codes = _limit(old, new, as_of)
    elif new is None:
        codes = ["status_changed"]
    else:
        codes = []
    if new is not None and not codes:
        if change.severity_change:
            codes.append("severity_changed")
        if change.exposure_change:
            codes.append("exposure_changed")
    return codes or ["exposure_changed"]


def _ring(change: Change, old: Finding, new: Finding | None,
          multi_lenders: frozenset[str] | None, counts: dict[str, str]) -> list[str]:
    """A ring's reasons: what its evidence (and, once resolved, tonight's multi-lending
    findings of its members) says changed; the kind's own code when nothing more."""
    codes = []
    if new is not None and new.evidence.get("core") and not old.evidence.get("core"):
        codes.append("judged_by_core")
    before = _multi_lending_members(old)
    if new is not None:
        now = _multi_lending_members(new) if "multi_lending_members" in new.evidence else before
        of = len(new.users)
    elif multi_lenders is not None:
        now = sum(u in multi_lenders for u in old.users)
        of = len(old.users)
    else:
        now = of = before
    if now != before:
        codes.append("fewer_multi_lenders" if now < before else "more_multi_lenders")
        counts[codes[-1]] = f" ({now} of {of} members, {before} before)"
    kind = _RING.get(change.kind)  # a reshaped ring always took in members
    if kind is not None and (not codes or change.kind in ("grew", "merged", "split", "reshaped")):
        codes.append(kind)
    return codes


def _multi_lending_members(ring: Finding) -> int:
    """How many of a ring's members are multi-lending (its evidence lists them)."""
    listed = ring.evidence.get("multi_lending_members", ())
    return len(listed) if isinstance(listed, list | tuple) else int(listed)


def _criteria(f: Finding | None) -> set[str]:
    ev: Mapping[str, Any] = f.evidence if f is not None else {}
    return set(ev.get("criteria", ()))


def _multi_lending(old: Finding, new: Finding | None, loan_users: frozenset[str] | None
                   ) -> list[str]:
    before, after = _criteria(old), _criteria(new)
    codes = []
    if "open_loans" in before - after or (new is not None and len(
            new.evidence.get("open_loan_lenders", ())) < len(
            old.evidence.get("open_loan_lenders", ()))):
        absent = loan_users is not None and old.users[0] not in loan_users
        codes.append("loans_absent" if absent else "loans_closed")
    elif new is not None and len(new.evidence.get("open_loan_lenders", ())) > len(
            old.evidence.get("open_loan_lenders", ())):
        codes.append("loans_opened")
    if (before - after) & _WINDOWS:
        codes.append("window_passed")
    return codes


def _limit(old: Finding, new: Finding | None, as_of: dt.date) -> list[str]:
    if new is not None:
        return []
    days = int(old.evidence.get("window_days", 0))
    cuts = old.evidence.get("cuts", ())
    ats = [dt.datetime.fromisoformat(str(c["at"])).date() for c in cuts if c.get("at")]
    if ats and all((as_of - a).days > days for a in ats):
        return ["window_passed"]
    return ["limit_changed"]


def loan_users_of(loans: pl.DataFrame | None) -> frozenset[str] | None:
    """The users with any external loan in ``loans`` (None when not given)."""
    if loans is None:
        return None
    return frozenset(loans.get_column("user_id").unique().to_list())
