"""Screening an applicant at the door (data contract v3: screening).

An applicant, not necessarily a user, is given by any of a device id and identifier values
(``phone``, ``bank_card``, ``id_number``, ``email``, ``ip``, ``address``), each normalized
as the loader normalizes the tables (:func:`xpg.loaders.normalize.normalize_values`), and
optionally a ``user_id``. :func:`screen` looks each value up as a node of the graph (a
device, or an identifier of that kind) in an investigation source (the stored state or the
loaded tables in memory, the database on Neo4j) and reports every match with its number of
users. Over the nodes that count for rings (devices and the ring's identifier kinds, no hub:
at most ``hub_max_users`` users), the users linked to the applicant decide the verdict:

* ``high``: a linked user is a member of a ``ring`` finding, or known-bad
  (:func:`xpg.queries.rules.linked_risk.known_bad`'s definition: an account frozen or
  closed for a reason of ``[detection.linked_risk] bad_reasons``, a user of
  ``known_bad_users``, a written-off loan when ``written_off``);
* ``elevated``: otherwise, a linked user is in a ``multi_lending``, ``lender_velocity``,
  ``linked_risk`` or ``freeze_inconsistency`` finding;
* ``clear``: otherwise.

A given ``user_id`` counts as a linked user. Each reason names the value given, the node,
the user and the finding (or why the user is known-bad). Hubs and nodes of kinds not enabled
for rings are reported with their user counts and never raise the verdict. Nothing about the
applicant is stored: the lookups are reads.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import phonenumbers
import polars as pl
from xpg.loaders.normalize import normalize_values, unusable_reasons
from xpg.queries.investigate.base import link_label
from xpg.queries.investigate.sources import FindingsIndex, InvestigationSource
from xpg.queries.rules import group_types, screening_levels

from xpg.errors import InputError
from xpg.privacy import mask
from xpg.settings import DetectionConfig

__all__ = ["FIELDS", "MAX_VALUES", "VERDICTS", "Applicant", "Reason",
           "Screening", "applicant", "screen"]

FIELDS: Mapping[str, str] = {
    "device_id": "device", "phone": "phone", "bank_card": "bank_card",
    "id_number": "id_number", "email": "email", "ip": "ip", "address": "address",
}
"""Applicant field -> the node kind it is looked up as."""
MAX_VALUES = 32
"""The most identifier values one applicant may give (every field together)."""
MAX_LENGTH = 256
"""The longest value accepted."""
VERDICTS = ("clear", "elevated", "high")
"""The verdicts, lowest first."""


@dataclass(frozen=True)
class Applicant:
    """The normalized values of an applicant: ``(field, node kind, given, normalized)``,
    and the ``user_id`` given (or None)."""

    values: tuple[tuple[str, str, str, str], ...]
    user_id: str | None = None


def applicant(given: Mapping[str, str | Sequence[str] | None], *, region: str = "CN"
              ) -> Applicant:
    """An :class:`Applicant` from field -> value(s) (:data:`FIELDS` and ``user_id``).

    Raises
    ------
    InputError
        No identifier given; an unknown field; more than :data:`MAX_VALUES` values; a value
        longer than :data:`MAX_LENGTH`; a value that normalizes to nothing, is masked or
        shortened (``138****8000``, ``6.22E+15``), or a phone that is no possible number.

    Examples
    --------
    >>> a = applicant({"phone": "+86 138-0013-8000", "email": " Li@Example.COM "})
    >>> [(f, n) for f, _, _, n in a.values]
    [('phone', '13800138000'), ('email', 'li@example.com')]
    """
    unknown = sorted(set(given) - set(FIELDS) - {"user_id"})
    if unknown:
        raise InputError(f"unknown applicant field {unknown[0]!r}; known: "
                         f"{sorted([*FIELDS, 'user_id'])}", argument=unknown[0])
    rows: list[tuple[str, str]] = []
    for name in FIELDS:
        value = given.get(name)
        values = [] if value is None else [value] if isinstance(value, str) else list(value)
        rows += [(name, v) for v in values]
    user_id = given.get("user_id")
    if isinstance(user_id, str):
        user_id = user_id.strip() or None
    elif user_id is not None:
        raise InputError("user_id must be one user id", argument="user_id")
    if not rows and user_id is None:
        raise InputError("no identifier given: give at least one of "
                         f"{', '.join(FIELDS)} or user_id", argument="identifiers")
    if len(rows) > MAX_VALUES:
        raise InputError(f"{len(rows)} identifier values given; at most {MAX_VALUES} per "
                         "applicant (screen one applicant per request)", argument="identifiers")
    for name, value in rows:
        if not isinstance(value, str) or len(value) > MAX_LENGTH:
            raise InputError(f"{name}: each value must be text of at most {MAX_LENGTH} "
                             "characters", argument=name)
    if user_id is not None and len(user_id) > MAX_LENGTH:
        raise InputError(f"user_id: at most {MAX_LENGTH} characters", argument="user_id")
    kinds = pl.Series([FIELDS[n] for n, _ in rows], dtype=pl.String)
    written = pl.Series([v.strip() for _, v in rows], dtype=pl.String)
    normalized = normalize_values(kinds, written, region).to_list() if rows else []
    unusable = unusable_reasons(written, pl.Series(normalized, dtype=pl.String)).to_list() \
        if rows else []
    out = []
    for (name, value), norm, bad in zip(rows, normalized, unusable, strict=True):
        if not norm or bad:
            why = bad or "it normalizes to nothing"
            raise InputError(f"{name} {value!r} cannot be looked up: {why}", argument=name)
        if FIELDS[name] == "phone" and not _possible_phone(norm, region):
            raise InputError(f"phone {value!r} is not a possible phone number (region "
                             f"{region} when no country code is written)", argument=name)
        out.append((name, FIELDS[name], value, norm))
    return Applicant(tuple(out), user_id)


def _possible_phone(normalized: str, region: str) -> bool:
    try:
        number = phonenumbers.parse(normalized, region)
    except phonenumbers.NumberParseException:
        return False
    return bool(phonenumbers.is_possible_number(number))


@dataclass(frozen=True)
class Match:
    """A value given that is a node of the graph."""

    field: str
    given: str
    node: str
    users: int
    hub: bool
    counts: bool
    note: str


@dataclass(frozen=True)
class Reason:
    """Why the verdict is what it is: one linked user, through one value given."""

    verdict: str
    user_id: str
    via: str
    node: str | None
    why: str
    finding_id: str | None
    text: str


@dataclass(frozen=True)
class Screening:
    """The answer for one applicant: the verdict, its reasons, every match."""

    as_of: dt.date
    verdict: str
    reasons: tuple[Reason, ...]
    matches: tuple[Match, ...]
    linked_users: int
    unmatched: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["as_of"] = self.as_of.isoformat()
        out["reasons"] = [asdict(r) for r in self.reasons]
        out["matches"] = [asdict(m) for m in self.matches]
        out["unmatched"] = list(self.unmatched)
        return out


def screen(source: InvestigationSource, findings: FindingsIndex, config: DetectionConfig,
           who: Applicant, *, as_of: dt.date | None = None) -> Screening:
    """The verdict on ``who`` as of ``as_of`` (default: the findings' date); see the module.

    Cost: two node lookups (degrees, then the users of the nodes that count), one account
    lookup of the linked users (and their loans when written-off loans count), and the
    findings index: independent of the graph's size.
    """
    as_of = as_of or findings.as_of
    ring, own = config.ring, config.linked_risk
    hub_max = ring.hub_max_users
    ring_kinds = {"device", *ring.identifier_kinds}
    nodes = pl.DataFrame([(k, n) for _, k, _, n in who.values],
                         schema={"kind": pl.String, "value": pl.String}, orient="row").unique()
    degrees = ({(k, v): int(n) for k, v, n in source.link_degrees(nodes, as_of)
                .select("kind", "value", "users").iter_rows()} if nodes.height else {})
    counted = [key for key, n in degrees.items() if key[0] in ring_kinds and n <= hub_max]
    on_node: dict[tuple[str, str], list[str]] = {}
    if counted:
        wanted = pl.DataFrame(counted, schema={"kind": pl.String, "value": pl.String},
                              orient="row")
        for k, v, u in source.link_users(wanted, as_of, None).select(
                "kind", "value", "user_id").iter_rows():
            on_node.setdefault((k, v), []).append(u)
    matches, unmatched = [], []
    via: dict[str, list[tuple[str, str, str, str]]] = {}  # user -> (field, given, kind, value)
    for name, kind, value, norm in who.values:
        key = (kind, norm)
        shown = _shown(kind, value)
        if key not in degrees:
            unmatched.append(f"{name} {shown}")
            continue
        n = degrees[key]
        hub, counts = n > hub_max, kind in ring_kinds and n <= hub_max
        if hub:
            note = f"a hub: {n} users (over {hub_max}), never decisive"
        elif not counts:
            note = f"{kind} is not an identifier kind enabled for rings: reported only"
        else:
            note = f"{n} user{'s' if n != 1 else ''} on it"
        matches.append(Match(name, shown, link_label(*key), n, hub, counts, note))
        for u in on_node.get(key, []) if counts else ():
            via.setdefault(u, []).append((name, shown, kind, norm))
    if who.user_id is not None:
        if source.users([who.user_id]).height:
            via.setdefault(who.user_id, []).insert(0, ("user_id", who.user_id, "user", ""))
        else:
            unmatched.append(f"user_id {who.user_id}")
    reasons = _reasons(source, findings, own, via, as_of)
    verdict = max((r.verdict for r in reasons), key=VERDICTS.index, default="clear")
    return Screening(as_of, verdict, tuple(reasons), tuple(matches), len(via), tuple(unmatched))


def _shown(kind: str, value: str) -> str:
    return value if kind == "device" else mask(kind, value)


def _reasons(source: InvestigationSource, findings: FindingsIndex, own: Any,
             via: Mapping[str, list[tuple[str, str, str, str]]], as_of: dt.date
             ) -> list[Reason]:
    users = sorted(via)
    if not users:
        return []
    bad: dict[str, list[str]] = {u: ["confirmed as fraud by an analyst"]
                                 for u in users if u in set(own.known_bad_users)}
    accounts = source.accounts(users, as_of)
    for u, acc, product, status, reason in accounts.filter(
            pl.col("status").is_in(("frozen", "closed")),
            pl.col("status_reason").is_in(list(own.bad_reasons))).select(
            "user_id", "account_id", "product_id", "status", "status_reason").iter_rows():
        bad.setdefault(u, []).append(f"{product} account {acc} {status} for {reason}")
    if own.written_off:
        loans = source.loans(users, as_of).filter(pl.col("status") == "written_off")
        for u, lender in loans.select("user_id", "lender_id").unique().sort(
                "user_id", "lender_id").iter_rows():
            bad.setdefault(u, []).append(f"a loan written off at {lender}")
    out: list[Reason] = []
    levels, groups = screening_levels(), group_types()  # each rule's (Rule.screening)
    for u in users:
        name, given, kind, value = via[u][0]
        node = None if kind == "user" else link_label(kind, value)
        through = (f"user_id {u}" if kind == "user" else f"device {given}"
                   if kind == "device" else str(node))
        for why in bad.get(u, []):
            out.append(Reason("high", u, name, node, f"known-bad: {why}", None,
                              f"{through} links to {u}, known-bad: {why}"))
        for f in sorted(findings.of_user(u), key=lambda f: (f.type, f.id)):
            level = levels.get(f.type)
            if level is None:
                continue
            what = (f"a member of ring {f.id} ({len(f.users)} users)" if f.type in groups
                    else f"in {f.type} finding {f.id}")
            out.append(Reason(level, u, name, node, f.type, f.id, f"{through} links to {u}, "
                              f"{what}"))
    return sorted(out, key=lambda r: (-VERDICTS.index(r.verdict), r.user_id, r.why))
