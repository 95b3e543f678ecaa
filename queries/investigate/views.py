"""The answers of the investigative queries: frozen dataclasses that print as
tables and serialize to JSON (``to_dict``, ``to_json``), each carrying its
:class:`~xpg.queries.investigate.subgraph.Subgraph`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from xpg.queries.findings import Exposure, Finding
from xpg.queries.investigate.base import View, masked_explanation, money
from xpg.queries.investigate.subgraph import Subgraph

if TYPE_CHECKING:
    import polars as pl

__all__ = [
    "AccountInfo",
    "FindingRef",
    "FlaggedBorrower",
    "GroupHub",
    "GroupRing",
    "GroupView",
    "LenderLink",
    "LenderShare",
    "LenderView",
    "LinkInfo",
    "Neighbour",
    "PathStep",
    "PathView",
    "RingAtLender",
    "RingMember",
    "RingView",
    "SharedLink",
    "Subgraph",
    "UserView",
]


@dataclass(frozen=True)
class FindingRef(View):
    id: str
    type: str
    severity: str
    exposure_total: float
    users: int
    explanation: str

    @classmethod
    def of(cls, f: Finding) -> FindingRef:
        return cls(f.id, f.type, f.severity, money(f.exposure.total), len(f.users),
                   masked_explanation(f.explanation, f.evidence))


@dataclass(frozen=True)
class AccountInfo(View):
    """One account of the platform's own products, with why it is in its state."""

    account_id: str
    user_id: str
    product_id: str
    product_kind: str | None
    product_name: str | None
    credit_limit: float
    outstanding: float
    drawable: float
    status: str
    status_reason: str | None
    reason_scope: str | None  # "user" / "product" for a frozen, limited or closed account
    status_changed_at: dt.datetime | None
    opened_at: dt.date | None


@dataclass(frozen=True)
class LinkInfo(View):
    """A device or identifier of a user, with who else is on it and whether rings count it."""

    kind: str
    node: str
    label: str
    users: int
    hub: bool
    counts_for_rings: bool
    other_users: tuple[str, ...]
    more_users: int
    first_seen: dt.datetime | None
    last_seen: dt.datetime | None
    reason: str


@dataclass(frozen=True)
class LenderLink(View):
    """An external lender of a user: loans (any status) and recent applications there."""

    lender_id: str
    name: str | None
    type: str | None
    loans: int
    open_loans: int
    amount: float
    outstanding: float
    statuses: tuple[str, ...]
    applications: int
    reason: str


@dataclass(frozen=True)
class Neighbour(View):
    user_id: str
    hops: int
    through: str
    via: str
    findings: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class UserView(View):
    user_id: str
    as_of: dt.date
    hops: int
    registered_at: dt.datetime | None
    credit_score: int | None
    exposure: Exposure
    accounts: tuple[AccountInfo, ...]
    devices: tuple[LinkInfo, ...]
    identifiers: tuple[LinkInfo, ...]
    lenders: tuple[LenderLink, ...]
    findings: tuple[FindingRef, ...]
    neighbours: tuple[Neighbour, ...]
    truncated: bool
    graph: Subgraph
    group_users: int = 1
    """Users of the user's connected group (the ring rule's links), the user included."""
    in_core: bool = False
    """Whether the user is in a multi-lending core (a ring found in a large group)."""
    core_ring: str | None = None
    """The id of that core's ring finding (None: in no core)."""
    ring: str | None = None
    """The id of the ring finding the user is a member of: a core (:attr:`core_ring`) or
    a whole connected group judged as a ring (None: in no ring)."""


@dataclass(frozen=True)
class RingMember(View):
    user_id: str
    multi_lending: bool
    findings: tuple[str, ...]
    exposure: Exposure
    freeze_state: Literal["frozen", "partly_frozen", "drawable", "none"]
    frozen_products: tuple[str, ...]
    drawable_products: tuple[str, ...]
    accounts: tuple[AccountInfo, ...]


@dataclass(frozen=True)
class SharedLink(View):
    kind: str
    node: str
    label: str
    members: tuple[str, ...]
    users: int


@dataclass(frozen=True)
class LenderShare(View):
    lender_id: str
    name: str | None
    type: str | None
    members: tuple[str, ...]
    loans: int
    outstanding: float
    borrowers: int = 0
    """Members borrowing here (``members`` lists the first ``limit`` of them)."""


@dataclass(frozen=True)
class RingView(View):
    id: str
    as_of: dt.date
    finding: FindingRef
    members: tuple[RingMember, ...]
    shared_devices: tuple[SharedLink, ...]
    shared_identifiers: tuple[SharedLink, ...]
    lenders: tuple[LenderShare, ...]
    exposure: Exposure
    frozen_members: int
    drawable_members: int
    drawable_total: float
    graph: Subgraph
    member_count: int = 0
    """Members of the ring; ``members`` lists the ``limit`` of largest exposure first."""
    more_members: int = 0
    """Members not listed (the page was cut at the query's ``limit``)."""
    shared_devices_total: int = 0
    shared_identifiers_total: int = 0
    lenders_total: int = 0
    """Lenders at which members borrow; ``lenders`` lists the ``limit`` with the most
    borrowers first (the lenders in common come first)."""

    def to_polars(self) -> pl.DataFrame:
        """The listed members (largest exposure first), one row each: ``user_id``,
        ``multi_lending``, ``freeze_state``, ``frozen_products`` and ``drawable_products``
        (lists), ``findings`` (ids, a list) and the exposure's amounts (``total``,
        ``internal_limit``, ``internal_outstanding``, ``drawable``,
        ``external_outstanding`` as in ``exposure.parquet``; ``at_risk``, null where no
        rule names one). Every member when the query's ``limit`` is at least
        :attr:`member_count`."""
        import polars as pl

        amounts = ("total", "internal_limit", "internal_outstanding", "drawable",
                   "external_outstanding", "at_risk")
        rows = [{"user_id": m.user_id, "multi_lending": m.multi_lending,
                 "freeze_state": m.freeze_state, "frozen_products": list(m.frozen_products),
                 "drawable_products": list(m.drawable_products), "findings": list(m.findings),
                 **{k: getattr(m.exposure, k) for k in amounts}}
                for m in self.members]
        return pl.DataFrame(rows, schema={
            "user_id": pl.String, "multi_lending": pl.Boolean, "freeze_state": pl.String,
            "frozen_products": pl.List(pl.String), "drawable_products": pl.List(pl.String),
            "findings": pl.List(pl.String), **dict.fromkeys(amounts, pl.Float64)})

    @property
    def lenders_in_common(self) -> tuple[LenderShare, ...]:
        """Lenders at which two or more members borrow."""
        return tuple(x for x in self.lenders if len(x.members) >= 2)


@dataclass(frozen=True)
class PathStep(View):
    user: str
    kind: str
    node: str
    label: str
    next_user: str
    reason: str


@dataclass(frozen=True)
class PathView(View):
    source: str
    target: str
    as_of: dt.date
    found: bool
    hops: int | None
    users: tuple[str, ...]
    steps: tuple[PathStep, ...]
    via_lenders: bool
    include_hubs: bool
    max_hops: int
    graph: Subgraph


@dataclass(frozen=True)
class FlaggedBorrower(View):
    user_id: str
    findings: tuple[str, ...]
    loans: int
    outstanding: float


@dataclass(frozen=True)
class RingAtLender(View):
    ring_id: str
    severity: str
    members: int
    members_borrowing: tuple[str, ...]
    outstanding: float


@dataclass(frozen=True)
class LenderView(View):
    lender_id: str
    name: str | None
    type: str | None
    as_of: dt.date
    borrowers: int
    loans: int
    outstanding: float
    applications: int
    flagged_users: int
    flagged_outstanding: float
    flagged: tuple[FlaggedBorrower, ...]
    rings: tuple[RingAtLender, ...]
    rings_outstanding: float
    graph: Subgraph


@dataclass(frozen=True)
class GroupHub(View):
    """A hub next to a group: a node of more than ``hub_max_users`` users, not crossed."""

    kind: str
    node: str
    label: str
    users: int
    members: int
    """Users of the group linked to it."""


@dataclass(frozen=True)
class GroupRing(View):
    """A ring finding in a group: a multi-lending core, or the group judged whole."""

    ring_id: str
    severity: str
    core: bool
    users: int
    exposure_total: float
    has_user: bool
    """Whether the asked user is a member."""


@dataclass(frozen=True)
class GroupView(View):
    """A user's connected group as a summary, without its members
    (:func:`~xpg.queries.investigate.investigate_group`)."""

    user_id: str
    as_of: dt.date
    users: int
    judged: Literal["whole", "cores"]
    max_group_users: int
    multi_lenders: int
    hub_max_users: int
    hubs_cut: int
    hubs: tuple[GroupHub, ...]
    rings_found: int
    cores_found: int
    rings: tuple[GroupRing, ...]
    rings_users: int
    rings_exposure: float
    exposure: Exposure
    graph: Subgraph
