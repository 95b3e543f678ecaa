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
                     enough of them) and nothing below says why
link_removed         members are no longer linked to the rest of the ring by
                     tonight's kept devices and identifiers: a device or
                     identifier row disappeared (or its node became a hub, or is
                     of a kind no longer kept); needs tonight's links
link_added           users joined through a device or identifier that links them
                     tonight and did not last night (they were not in the
                     previous ring though multi-lending then, or the ring is a
                     whole group); needs tonight's links
fewer_multi_lenders  members of the ring stopped multi-lending (the why gives how
                     many members are multi-lending now and before); a ring
                     rule's share of multi-lenders may no longer hold. A member
                     who left but is still multi-lending does not count
more_multi_lenders   members (staying or joining) started multi-lending
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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl
from xpg.queries.changes import Change
from xpg.queries.findings import Finding
from xpg.queries.rules import of_type

__all__ = ["REASONS", "Nights", "explain", "kept_links_of", "loan_users_of"]

REASONS: dict[str, str] = {
    "window_passed": "the events counted fell out of the rule's window",
    "loans_closed": "the loans at the counted lenders are no longer open",
    "loans_absent": "the current data holds no external loan of the user",
    "loans_opened": "loans were opened at more lenders",
    "status_changed": "an account's status changed",
    "limit_changed": "the limit changed again",
    "members_left": "members left the ring",
    "link_removed": "a device or identifier that linked members to the ring is gone",
    "link_added": "a device or identifier now links new members to the ring",
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


@dataclass(frozen=True)
class Nights:
    """What the two nights say about users beyond the changed findings' own evidence.

    ``loan_users``: the users with any external loan in the current data; ``multi_now``
    and ``multi_before``: the users with a ``multi_lending`` finding tonight and in the
    previous report; ``links``: tonight's kept device/identifier links of the ring
    users (user -> nodes, :func:`kept_links_of`). None: unknown (a closed loan is then
    assumed, a resolved ring's members are not checked for multi-lending, and no link
    reason is given).
    """

    loan_users: frozenset[str] | None = None
    multi_now: frozenset[str] | None = None
    multi_before: frozenset[str] | None = None
    links: Mapping[str, frozenset[str]] | None = None


def explain(change: Change, old: Finding | None, new: Finding | None, as_of: dt.date,
            loan_users: frozenset[str] | None = None,
            multi_lenders: frozenset[str] | None = None, *,
            nights: Nights | None = None) -> Change:
    """``change`` with its ``reason`` and ``why`` set (unchanged for new/unchanged).

    ``nights`` (or, as before, ``loan_users`` and ``multi_lenders``: tonight's
    multi-lenders) says what the data and the reports hold beyond the evidence.
    """
    if change.kind in ("new", "unchanged") or old is None:
        return change
    if nights is None:
        nights = Nights(loan_users=loan_users, multi_now=multi_lenders)
    counts: dict[str, str] = {}
    codes = _codes(change, old, new, as_of, nights, counts)
    return dataclasses.replace(change, reason="+".join(codes),
                               why="; ".join(REASONS[c] + counts.get(c, "") for c in codes))


def _codes(change: Change, old: Finding, new: Finding | None, as_of: dt.date,
           nights: Nights, counts: dict[str, str]) -> list[str]:
    rule = of_type(old.type)
    how = None if rule is None else rule.change_reasons
    if how == "members":
        codes = _ring(change, old, new, nights, counts)
    elif how == "loans":
        codes = _multi_lending(old, new, nights.loan_users)
    elif how == "window":
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


def _ring(change: Change, old: Finding, new: Finding | None, nights: Nights,
          counts: dict[str, str]) -> list[str]:
    """A ring's reasons, per member who moved: the ones cut off from the ring by
    tonight's links (``link_removed``), those linked in anew (``link_added``), members
    who stopped or started multi-lending, a group now judged by its core; the kind's own
    code when none of these explains the change."""
    codes: list[str] = []
    judged = bool(new is not None and new.evidence.get("core") and not old.evidence.get("core"))
    if judged:
        codes.append("judged_by_core")
    now_users = set(new.users) if new is not None else set()
    left = sorted(set(old.users) - now_users)
    joined = sorted(now_users - set(old.users))
    if nights.links is not None:
        cut = _cut_off(old, new, left, nights.links)
        if cut:
            codes.append("link_removed")
            counts["link_removed"] = f" ({_members(cut)} no longer linked)"
        linked_in = [] if judged or new is None else _linked_in(old, new, joined, nights)
        if linked_in:
            codes.append("link_added")
            counts["link_added"] = f" ({_members(linked_in)} linked in)"
    stopped, started = _multi_lending_moves(old, new, nights)
    if stopped or started:
        before = _multi_lending_members(old)
        if new is not None:
            now = _multi_lending_members(new) if "multi_lending_members" in new.evidence \
                else before
            of = len(new.users)
        else:
            now = sum(u in (nights.multi_now or ()) for u in old.users)
            of = len(old.users)
        code = "fewer_multi_lenders" if stopped else "more_multi_lenders"
        codes.append(code)
        counts[code] = f" ({now} of {of} members, {before} before)"
        if stopped and started:
            codes.append("more_multi_lenders")
    kind = _RING.get(change.kind)
    explained = {"link_added", "more_multi_lenders", "judged_by_core"} & set(codes)
    if kind is not None and (not codes or change.kind in ("merged", "split")
                             or (change.kind in ("grew", "reshaped") and not explained)):
        codes.append(kind)
    return codes


def _members(users: list[str]) -> str:
    return f"{len(users)} member{'s' if len(users) != 1 else ''}: {', '.join(users[:3])}" + (
        f" and {len(users) - 3} more" if len(users) > 3 else "")


def _components(users: Iterable[str], links: Mapping[str, frozenset[str]]) -> dict[str, str]:
    """Each of ``users`` -> a component label over the link nodes two of them share."""
    parent = {u: u for u in users}

    def root(u: str) -> str:
        while parent[u] != u:
            parent[u] = parent[parent[u]]
            u = parent[u]
        return u

    first: dict[str, str] = {}  # node -> the first of the users holding it
    for u in sorted(parent):
        for node in links.get(u, ()):
            other = first.setdefault(node, u)
            if other != u:
                parent[root(u)] = root(other)
    return {u: root(u) for u in parent}


def _cut_off(old: Finding, new: Finding | None, left: list[str],
             links: Mapping[str, frozenset[str]]) -> list[str]:
    """Members who left and are no longer linked (tonight) to the ring's other members:
    not to any member of the current ring, or, for a ring resolved, outside the largest
    still-linked part of it."""
    if not left:
        return []
    users = set(old.users) | (set(new.users) if new is not None else set())
    label = _components(users, links)
    if new is not None:
        kept = {label[u] for u in new.users}
    else:
        parts: dict[str, list[str]] = {}
        for u in sorted(old.users):
            parts.setdefault(label[u], []).append(u)
        if len(parts) == 1:
            return []
        # the largest part stays (ties: the one with the smallest member id)
        kept = {min(parts, key=lambda k: (-len(parts[k]), parts[k][0]))}
    return [u for u in left if label[u] not in kept]


def _linked_in(old: Finding, new: Finding, joined: list[str], nights: Nights) -> list[str]:
    """Users who joined the ring through a link new since last night: linked tonight to
    the old members, and outside the old ring although it took in any linked user (a
    whole group) or although multi-lending then (a core)."""
    assert nights.links is not None
    label = _components(set(old.users) | set(new.users), nights.links)
    olds = {label[u] for u in old.users if u in new.users}
    was_multi = nights.multi_before
    return [u for u in joined if label[u] in olds and (
        not old.evidence.get("core") or (was_multi is not None and u in was_multi))]


def _multi_lending_moves(old: Finding, new: Finding | None, nights: Nights
                         ) -> tuple[list[str], list[str]]:
    """(members who stopped multi-lending, members who started): a member still in the
    ring is judged by the ring's evidence, one who left by tonight's multi-lending
    findings; a member who left still multi-lending stopped nothing."""
    listed = old.evidence.get("multi_lending_members", ())
    if not isinstance(listed, list | tuple):  # a count only: compare the counts
        before = _multi_lending_members(old)
        now = _multi_lending_members(new) if new is not None else before
        return (["?"] if now < before else []), (["?"] if now > before else [])
    ml_before = set(listed)
    now_ml = set(new.evidence.get("multi_lending_members", ml_before)) if new is not None \
        else set()
    now_users = set(new.users) if new is not None else set()
    multi_now = nights.multi_now
    stopped = sorted(u for u in ml_before if (u not in now_ml) if u in now_users
                     or (multi_now is not None and u not in multi_now))
    was = nights.multi_before
    started = sorted(u for u in now_ml - ml_before
                     if u in old.users or was is None or u not in was)
    return stopped, started


def _multi_lending_members(ring: Finding) -> int:
    """How many of a ring's members are multi-lending (its evidence lists them)."""
    listed = ring.evidence.get("multi_lending_members", ())
    return len(listed) if isinstance(listed, list | tuple) else int(listed)


def kept_links_of(users: Iterable[str], devices: pl.DataFrame,
                  identifiers: pl.DataFrame | None, kinds: Iterable[str],
                  hub_max_users: int, as_of: dt.date) -> dict[str, frozenset[str]]:
    """Tonight's links of ``users`` that count for rings (as the ring rule keeps them:
    devices and identifiers of ``kinds``, seen by ``as_of``, on at most
    ``hub_max_users`` users): user -> nodes (``device:ID``, ``KIND:VALUE``).

    Only the nodes of ``users`` are counted for hubs: O(their rows + the link rows)
    in Polars.
    """
    wanted = pl.Series("user_id", sorted(set(users)), dtype=pl.String)
    seen = pl.col("first_seen").is_null() | (
        pl.col("first_seen").cast(pl.Datetime("us")).dt.date() <= as_of)
    parts = [devices.filter(seen).select(
        "user_id", pl.concat_str(pl.lit("device:"), pl.col("device_id")).alias("node"))]
    if identifiers is not None and identifiers.height:
        parts.append(identifiers.filter(seen, pl.col("kind").is_in(list(kinds))).select(
            "user_id", pl.concat_str("kind", pl.lit(":"), "value").alias("node")))
    rows = pl.concat(parts).unique()
    nodes = rows.filter(pl.col("user_id").is_in(wanted.implode())).get_column("node").unique()
    rows = rows.filter(pl.col("node").is_in(nodes.implode()))
    hubs = rows.group_by("node").agg(pl.len().alias("n")).filter(pl.col("n") > hub_max_users)
    mine = rows.filter(pl.col("user_id").is_in(wanted.implode())).join(
        hubs.select("node"), on="node", how="anti")
    return {u: frozenset(ns) for u, ns in
            mine.group_by("user_id").agg(pl.col("node")).iter_rows()}


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
