"""Screening an applicant at the door (data contract v3: screening).

An applicant, not necessarily a user, is given by any of a device id and identifier values
(``phone``, ``bank_card``, ``id_number``, ``email``, ``ip``, ``address``), each normalized
as the loader normalizes the tables (:func:`xpg.loaders.normalize_one.normalize_value`: the
loader's rules for one value, in plain Python), and
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
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import phonenumbers
import polars as pl
from xpg.loaders.normalize_one import bare_mobile, normalize_value, trim
from xpg.queries.investigate import base as _base
from xpg.queries.investigate.base import link_label
from xpg.queries.investigate.sources import (
    NODE_SEPARATOR,
    FindingsIndex,
    InvestigationSource,
    _seen,
    _seen_by,
)
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
        user_id = trim(user_id) or None
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
    out = []
    for name, value in rows:
        norm, bad = normalize_value(FIELDS[name], trim(value), region)
        if not norm or bad:
            why = bad or "it normalizes to nothing"
            raise InputError(f"{name} {value!r} cannot be looked up: {why}", argument=name)
        if FIELDS[name] == "phone" and not _possible_phone(norm, region):
            raise InputError(f"phone {value!r} is not a possible phone number (region "
                             f"{region} when no country code is written)", argument=name)
        out.append((name, FIELDS[name], value, norm))
    return Applicant(tuple(out), user_id)


_BARE_POSSIBLE: dict[tuple[str, str], bool] = {}
"""(region, first three digits) -> libphonenumber's answer for the bare mobiles of that
prefix (at most 69 prefixes per region)."""


def _possible_phone(normalized: str, region: str) -> bool:
    """Whether libphonenumber finds ``normalized`` a possible number of ``region``.

    Its answer for a bare mainland mobile (:func:`~xpg.loaders.normalize_one.bare_mobile`:
    eleven digits) depends on the leading digits only (the national prefix a region strips
    is matched on them, and the length is fixed): it is kept per first three digits, as
    parsing costs about 30 microseconds. ``tests/test_screen.py`` checks that every prefix
    of five digits gets its first three's answer and has no national prefix stripped."""
    if not bare_mobile(normalized, region):
        return _libphonenumber_possible(normalized, region)
    key = (region, normalized[:3])
    known = _BARE_POSSIBLE.get(key)
    if known is None:
        known = _BARE_POSSIBLE[key] = _libphonenumber_possible(normalized, region)
    return known


def _libphonenumber_possible(normalized: str, region: str) -> bool:
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
        """What :func:`dataclasses.asdict` gives (same keys, same order), without its deep
        copies (the fields are text, numbers and flags)."""
        return {"as_of": self.as_of.isoformat(), "verdict": self.verdict,
                "reasons": [dict(vars(r)) for r in self.reasons],
                "matches": [dict(vars(m)) for m in self.matches],
                "linked_users": self.linked_users, "unmatched": list(self.unmatched)}


def screen(source: InvestigationSource, findings: FindingsIndex, config: DetectionConfig,
           who: Applicant, *, as_of: dt.date | None = None) -> Screening:
    """The verdict on ``who`` as of ``as_of`` (default: the findings' date); see the module.

    Cost: two node lookups (degrees, then the users of the nodes that count), one account
    lookup of the linked users (and their loans when written-off loans count), and the
    findings index: independent of the graph's size. Over sorted tables (the memory source,
    the stored state, ``xpg serve``'s workers: :meth:`MemorySource.key_rows`) each lookup is
    binary searches and slices read in Python, with no Polars query (a few tens of
    microseconds); over a database, the source's queries.
    """
    as_of = as_of or findings.as_of
    ring, own = config.ring, config.linked_risk
    hub_max = ring.hub_max_users
    ring_kinds = {"device", *ring.identifier_kinds}
    look: _Lookups = (_Slices(source) if hasattr(source, "key_rows")
                      else _Queries(source))
    keys = list(dict.fromkeys((k, n) for _, k, _, n in who.values))
    degrees, on_node = look.nodes(keys, as_of, ring_kinds, hub_max)
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
        if look.user_known(who.user_id):
            via.setdefault(who.user_id, []).insert(0, ("user_id", who.user_id, "user", ""))
        else:
            unmatched.append(f"user_id {who.user_id}")
    reasons = _reasons(look, findings, own, via, as_of)
    verdict = max((r.verdict for r in reasons), key=VERDICTS.index, default="clear")
    return Screening(as_of, verdict, tuple(reasons), tuple(matches), len(via), tuple(unmatched))


def _shown(kind: str, value: str) -> str:
    return value if kind == "device" else mask(kind, value)


class _Lookups(Protocol):
    """What screening reads of a source (one implementation per kind of source)."""

    def nodes(self, keys: Sequence[tuple[str, str]], as_of: dt.date, ring_kinds: set[str],
              hub_max: int) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], list[str]]]:
        """Per node (kind, value) on at least one user as of the date: its users; and the
        users (by id) of the nodes that count for rings (kind in ``ring_kinds``, at most
        ``hub_max`` users)."""
        ...

    def user_known(self, user_id: str) -> bool: ...

    def bad_accounts(self, users: Sequence[str], as_of: dt.date, reasons: Sequence[str]
                     ) -> list[tuple[str, str, str, str, str]]:
        """(user, account, product, status, reason) of the users' accounts open by the date
        and frozen or closed for one of ``reasons``, by user then account."""
        ...

    def written_off(self, users: Sequence[str], as_of: dt.date) -> list[tuple[str, str]]:
        """(user, lender) of the users' loans opened by the date and written off, unique,
        sorted."""
        ...


class _Queries:
    """:class:`_Lookups` through the protocol's frames (any source: a database)."""

    def __init__(self, source: InvestigationSource):
        self.source = source

    def nodes(self, keys: Sequence[tuple[str, str]], as_of: dt.date, ring_kinds: set[str],
              hub_max: int) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], list[str]]]:
        if not keys:
            return {}, {}
        nodes = pl.DataFrame(list(keys), schema={"kind": pl.String, "value": pl.String},
                             orient="row")
        degrees = {(k, v): int(n) for k, v, n in self.source.link_degrees(nodes, as_of)
                   .select("kind", "value", "users").iter_rows()}
        counted = [key for key, n in degrees.items() if key[0] in ring_kinds and n <= hub_max]
        on_node: dict[tuple[str, str], list[str]] = {}
        if counted:
            wanted = pl.DataFrame(counted, schema={"kind": pl.String, "value": pl.String},
                                  orient="row")
            for k, v, u in self.source.link_users(wanted, as_of, None).select(
                    "kind", "value", "user_id").iter_rows():
                on_node.setdefault((k, v), []).append(u)
        return degrees, on_node

    def user_known(self, user_id: str) -> bool:
        return self.source.users([user_id]).height > 0

    def bad_accounts(self, users: Sequence[str], as_of: dt.date, reasons: Sequence[str]
                     ) -> list[tuple[str, str, str, str, str]]:
        return self.source.accounts(users, as_of).filter(
            pl.col("status").is_in(("frozen", "closed")),
            pl.col("status_reason").is_in(list(reasons))).select(
            "user_id", "account_id", "product_id", "status", "status_reason").rows()

    def written_off(self, users: Sequence[str], as_of: dt.date) -> list[tuple[str, str]]:
        loans = self.source.loans(users, as_of).filter(pl.col("status") == "written_off")
        return loans.select("user_id", "lender_id").unique().sort(
            "user_id", "lender_id").rows()


def _on_or_before(at: dt.date | None, as_of: dt.date) -> bool:
    """``at <= as_of`` as Polars compares a column with a date (a datetime against the
    date's midnight); False for a null, as a Polars filter drops it."""
    if at is None:
        return False
    if isinstance(at, dt.datetime):
        return at <= dt.datetime.combine(as_of, dt.time(), at.tzinfo)
    return at <= as_of


class _Slices:
    """:class:`_Lookups` over a source's sorted tables (:meth:`MemorySource.key_rows`):
    the rows of a few keys read in Python, with the filters of the source's own lookups
    (the same rows, in the same order: ``tests/test_screen.py`` compares)."""

    def __init__(self, source: Any):
        self.source = source

    def nodes(self, keys: Sequence[tuple[str, str]], as_of: dt.date, ring_kinds: set[str],
              hub_max: int) -> tuple[dict[tuple[str, str], int], dict[tuple[str, str], list[str]]]:
        degrees: dict[tuple[str, str], int] = {}
        users: dict[tuple[str, str], list[str]] = {}
        small = _base.SMALL_ROWS  # read here, so that a test can lower it
        for part in self.source.key_rows(
                "links_by_node", [f"{k}{NODE_SEPARATOR}{v}" for k, v in keys],
                ("kind", "value", "user_id", "first_seen"), small):
            if isinstance(part, pl.DataFrame):  # a hub, most likely: counted by Polars
                frame = part.filter(_seen_by("first_seen", as_of))
                node = frame.get_column("node")
                if frame.height > small and node[0] == node[-1]:
                    key = (frame.get_column("kind")[0], frame.get_column("value")[0])
                    degrees[key] = frame.height
                    if key[0] in ring_kinds and frame.height <= hub_max:
                        users[key] = frame.get_column("user_id").to_list()
                    continue
                part = frame.select("kind", "value", "user_id", "first_seen").rows()
            for k, v, u, first in part:
                if _seen(first, as_of):
                    users.setdefault((k, v), []).append(u)
        for key, on in users.items():
            degrees.setdefault(key, len(on))
        on_node = {key: on for key, on in users.items()
                   if key[0] in ring_kinds and degrees[key] <= hub_max}
        return degrees, on_node

    def user_known(self, user_id: str) -> bool:
        return any(self.source.key_rows("users", [user_id], ("user_id",)))

    def _rows(self, table: str, users: Sequence[str], columns: Sequence[str]
              ) -> Iterator[tuple[Any, ...]]:
        for rows in self.source.key_rows(table, users, columns):
            yield from rows

    def bad_accounts(self, users: Sequence[str], as_of: dt.date, reasons: Sequence[str]
                     ) -> list[tuple[str, str, str, str, str]]:
        bad = set(reasons)
        return [(u, acc, product, status, reason) for u, acc, product, status, reason, opened
                in self._rows("accounts", users, ("user_id", "account_id", "product_id",
                                                  "status", "status_reason", "opened_at"))
                if (opened is None or _on_or_before(opened, as_of))
                and status in ("frozen", "closed") and reason in bad]

    def written_off(self, users: Sequence[str], as_of: dt.date) -> list[tuple[str, str]]:
        return sorted({(u, lender) for u, lender, status, opened in self._rows(
            "loans_by_user", users, ("user_id", "lender_id", "status", "opened_at"))
            if status == "written_off" and _on_or_before(opened, as_of)})


def _reasons(look: _Lookups, findings: FindingsIndex, own: Any,
             via: Mapping[str, list[tuple[str, str, str, str]]], as_of: dt.date
             ) -> list[Reason]:
    users = sorted(via)
    if not users:
        return []
    known = set(own.known_bad_users)
    bad: dict[str, list[str]] = {u: ["confirmed as fraud by an analyst"]
                                 for u in users if u in known}
    for u, acc, product, status, reason in look.bad_accounts(users, as_of,
                                                              own.bad_reasons):
        bad.setdefault(u, []).append(f"{product} account {acc} {status} for {reason}")
    if own.written_off:
        for u, lender in look.written_off(users, as_of):
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
