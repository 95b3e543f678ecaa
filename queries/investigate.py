"""Investigative queries: one user, one ring, a path between two users, one lender.

An investigator asks *who is this user linked to, and why?*; these functions
answer with frozen dataclasses (``UserView``, ``RingView``, ``PathView``,
``LenderView``) that print as tables, serialize to JSON (``to_dict``) and carry
the small subgraph they talk about (:class:`Subgraph`, exportable to GraphML
or node-link JSON for Gephi and other graph tools).

Each query is split the same way as the detections:

1. an :class:`InvestigationSource` gathers a few small Polars frames about the
   asked ids (the user's accounts, links, loans, ...). :class:`MemorySource`
   does it over a :class:`~xpg.loaders.dataset.Dataset` with sorted copies of
   the tables and binary search, the Neo4j backend with parameterized,
   read-only Cypher (:mod:`xpg.graph.neo4j_investigate`);
2. shared assembly code here turns the frames into the views, so both
   backends give the same answers.

Semantics, the same as the detections' (``docs/detections.md``), evaluated
*as of* a run date:

* an account exists when it has no ``opened_at`` or was opened on or before
  the run date; an external loan counts when opened on or before it;
* a link (user to device or identifier) exists when one of its rows has no
  ``first_seen`` or a ``first_seen`` on or before the run date;
* a device or identifier linked to more than ``hub_max_users`` users is a hub:
  it is listed but never followed (unless ``include_hubs``), and identifiers
  of kinds not enabled for rings are listed but not followed;
* "borrows at" a lender means an ``open`` or ``overdue`` external loan;
* exposure is the contract's: internal limit (accounts not closed), internal
  outstanding, drawable (``max(limit - outstanding, 0)`` of ``active``
  accounts), external outstanding (open/overdue loans) and their total.

Identifiers are labelled as the detections' evidence shows them (card and id
numbers masked to their last four characters, :func:`link_label`); graph node
ids of identifiers use a hash of the value, never the value.

Notes
-----
Cost: every query touches only the rows of the asked users and of the users
within the asked hops: binary searches over sorted copies of the tables
(built once, O(n log n), on first use) and Polars work on the slices. The
whole graph is never put into networkx; networkx only holds a view's
subgraph (export, drawing).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import networkx as nx
import polars as pl
from xpg.loaders.dataset import Dataset
from xpg.queries.asof import OPEN_LOAN_STATUSES, exposure_frame
from xpg.queries.assembly import mask_identifier
from xpg.queries.findings import Exposure, Finding, FindingsReport
from xpg.queries.frames import conform_to

from xpg.errors import InputError, NotFoundError
from xpg.settings import DetectionConfig, FreezeConfig

__all__ = [
    "DEVICE",
    "LENDER",
    "MAX_HOPS",
    "MAX_PATH_HOPS",
    "AccountInfo",
    "FindingRef",
    "FindingsIndex",
    "FlaggedBorrower",
    "GraphEdge",
    "GraphNode",
    "InvestigationSource",
    "LenderLink",
    "LenderShare",
    "LenderView",
    "LinkInfo",
    "MemorySource",
    "Neighbour",
    "PathStep",
    "PathView",
    "RingAtLender",
    "RingMember",
    "RingView",
    "SharedLink",
    "Subgraph",
    "UserView",
    "find_path",
    "investigate_lender",
    "investigate_ring",
    "investigate_user",
    "link_label",
    "node_id",
]

DEVICE = "device"
"""``kind`` of a device link; identifier links carry their identifier kind."""
LENDER = "lender"
"""``kind`` of a borrower-to-lender link (an open or overdue external loan)."""
MAX_HOPS = 4
"""Most hops a user neighbourhood may ask for."""
MAX_PATH_HOPS = 12
"""Most user-to-user hops a path search may ask for."""
LIST_LIMIT = 50
"""Other users listed per device/identifier (the count is always exact)."""
MAX_NEIGHBOURS = 500
"""A neighbourhood stops growing (``truncated``) past this many users."""

_S, _F, _D, _T = pl.String(), pl.Float64(), pl.Date(), pl.Datetime("us")

#: The frames a source returns (column -> dtype); extra columns are dropped.
SOURCE_SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    "users": {"user_id": _S, "registered_at": _T, "credit_score": pl.Int64()},
    "accounts": {
        "account_id": _S, "user_id": _S, "product_id": _S, "product_kind": _S,
        "product_name": _S, "credit_limit": _F, "outstanding": _F, "status": _S,
        "status_reason": _S, "status_changed_at": _T, "opened_at": _D,
    },
    "links": {"user_id": _S, "kind": _S, "value": _S, "first_seen": _T, "last_seen": _T},
    "link_users": {"kind": _S, "value": _S, "user_id": _S},
    "link_degrees": {"kind": _S, "value": _S, "users": pl.Int64()},
    "loans": {
        "user_id": _S, "lender_id": _S, "opened_at": _D, "amount": _F, "outstanding": _F,
        "status": _S, "closed_at": _D,
    },
    "applications": {"user_id": _S, "lender_id": _S, "applied_at": _T, "outcome": _S},
    "lenders": {"lender_id": _S, "name": _S, "type": _S},
}


def conform(name: str, frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with exactly the columns and dtypes of ``SOURCE_SCHEMAS[name]``
    (a missing column is a null one)."""
    return conform_to(name, SOURCE_SCHEMAS[name], frame, fill_missing=True)


# --------------------------------------------------------------------------- helpers


def node_id(kind: str, value: str) -> str:
    """The id of a graph node: ``user:u1``, ``device:d9``, ``lender:L1``,
    ``identifier:phone:<12 hex of the value's hash>`` (a value is never shown).

    Examples
    --------
    >>> node_id("device", "d9"), node_id("user", "u1")
    ('device:d9', 'user:u1')
    >>> node_id("phone", "13812345678").startswith("identifier:phone:")
    True
    """
    if kind in ("user", DEVICE, LENDER):
        return f"{kind}:{value}"
    digest = hashlib.sha1(f"{kind}:{value}".encode()).hexdigest()[:12]
    return f"identifier:{kind}:{digest}"


def link_label(kind: str, value: str) -> str:
    """How a link node is named to a person: the device id, the lender id, or
    ``kind value`` for an identifier, masked as the detections' evidence masks it
    (:func:`xpg.queries.assembly.mask_identifier`: card and id numbers keep their
    last four characters).

    Examples
    --------
    >>> link_label("device", "d9"), link_label("bank_card", "6222020200112233")
    ('d9', 'bank_card ****2233')
    """
    if kind in (DEVICE, LENDER):
        return value
    return mask_identifier(kind, value).replace(":", " ", 1)


def _money(x: float | None) -> float:
    return round(float(x or 0.0), 2)


def _plain(x: Any) -> Any:
    if isinstance(x, _View):
        return {f.name: _plain(getattr(x, f.name)) for f in dataclasses.fields(x)}
    if hasattr(x, "to_dict") and not isinstance(x, type):
        return x.to_dict()
    if isinstance(x, Mapping):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, list | tuple | set | frozenset):
        return [_plain(v) for v in x]
    if isinstance(x, dt.datetime | dt.date):
        return x.isoformat()
    if isinstance(x, float):
        return round(x, 2)
    return x


class _View:
    """Mixin: ``to_dict()`` gives plain JSON-ready data (dates ISO, money to cents)."""

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)


# --------------------------------------------------------------------------- subgraphs

NodeKind = Literal["user", "device", "identifier", "lender"]


@dataclass(frozen=True)
class GraphNode(_View):
    id: str
    kind: NodeKind
    label: str
    attrs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GraphEdge(_View):
    source: str
    target: str
    kind: Literal["seen_on", "linked_to", "borrows_at"]
    reason: str


@dataclass(frozen=True)
class Subgraph(_View):
    """The small graph a view talks about: users, devices, identifiers, lenders."""

    nodes: tuple[GraphNode, ...] = ()
    edges: tuple[GraphEdge, ...] = ()

    def to_networkx(self) -> nx.Graph:
        """An undirected networkx graph; attributes are strings, numbers or booleans."""
        g = nx.Graph()
        for n in self.nodes:
            attrs = {k: _scalar(v) for k, v in n.attrs.items() if v is not None}
            g.add_node(n.id, kind=n.kind, label=n.label, **attrs)
        for e in self.edges:
            g.add_edge(e.source, e.target, kind=e.kind, reason=e.reason)
        return g

    def node_link(self) -> dict[str, Any]:
        """Node-link JSON (as networkx writes it), readable by d3 and Gephi plug-ins."""
        return nx.node_link_data(self.to_networkx(), edges="links")

    def write(self, path: str | Path) -> Path:
        """Write as GraphML (``.graphml``) or node-link JSON (``.json``), atomically."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in (".graphml", ".json"):
            raise InputError(f"export: {path.name} must end in .graphml or .json",
                             argument="export")
        tmp = path.with_name(f".{path.name}.tmp")
        try:
            if suffix == ".graphml":
                nx.write_graphml(self.to_networkx(), tmp)
            else:
                tmp.write_text(json.dumps(self.node_link(), indent=2, ensure_ascii=False))
            tmp.replace(path)
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise InputError(f"cannot write {path}: {e}") from e
        return path


def _scalar(v: Any) -> str | int | float | bool:
    if isinstance(v, bool | int | float | str):
        return v
    if isinstance(v, dt.date | dt.datetime):
        return v.isoformat()
    if isinstance(v, list | tuple):
        return ",".join(str(x) for x in v)
    return str(v)


class _GraphBuilder:
    def __init__(self) -> None:
        self.nodes: dict[str, GraphNode] = {}
        self.edges: dict[tuple[str, str], GraphEdge] = {}

    def user(self, user_id: str, **attrs: Any) -> str:
        nid = node_id("user", user_id)
        old = self.nodes.get(nid)
        merged = {**(old.attrs if old else {}), **attrs}
        self.nodes[nid] = GraphNode(nid, "user", user_id, merged)
        return nid

    def link(self, kind: str, value: str, **attrs: Any) -> str:
        nid = node_id(kind, value)
        if kind == LENDER:
            gk: NodeKind = "lender"
        elif kind == DEVICE:
            gk = "device"
        else:
            gk = "identifier"
            attrs = {"identifier_kind": kind, **attrs}
        old = self.nodes.get(nid)
        merged = {**(old.attrs if old else {}), **attrs}
        self.nodes[nid] = GraphNode(nid, gk, link_label(kind, value), merged)
        return nid

    def edge(self, user_id: str, kind: str, value: str, reason: str) -> None:
        u, n = node_id("user", user_id), node_id(kind, value)
        ek = "seen_on" if kind == DEVICE else "borrows_at" if kind == LENDER else "linked_to"
        self.edges.setdefault((u, n), GraphEdge(u, n, ek, reason))

    def build(self) -> Subgraph:
        return Subgraph(
            tuple(sorted(self.nodes.values(), key=lambda n: n.id)),
            tuple(sorted(self.edges.values(), key=lambda e: (e.source, e.target))),
        )


# --------------------------------------------------------------------------- views


@dataclass(frozen=True)
class FindingRef(_View):
    id: str
    type: str
    severity: str
    exposure_total: float
    users: int
    explanation: str

    @classmethod
    def of(cls, f: Finding) -> FindingRef:
        return cls(f.id, f.type, f.severity, _money(f.exposure.total), len(f.users),
                   f.explanation)


@dataclass(frozen=True)
class AccountInfo(_View):
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
class LinkInfo(_View):
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
class LenderLink(_View):
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
class Neighbour(_View):
    user_id: str
    hops: int
    through: str
    via: str
    findings: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class UserView(_View):
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


@dataclass(frozen=True)
class RingMember(_View):
    user_id: str
    multi_lending: bool
    findings: tuple[str, ...]
    exposure: Exposure
    freeze_state: Literal["frozen", "partly_frozen", "drawable", "none"]
    frozen_products: tuple[str, ...]
    drawable_products: tuple[str, ...]
    accounts: tuple[AccountInfo, ...]


@dataclass(frozen=True)
class SharedLink(_View):
    kind: str
    node: str
    label: str
    members: tuple[str, ...]
    users: int


@dataclass(frozen=True)
class LenderShare(_View):
    lender_id: str
    name: str | None
    type: str | None
    members: tuple[str, ...]
    loans: int
    outstanding: float


@dataclass(frozen=True)
class RingView(_View):
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

    @property
    def lenders_in_common(self) -> tuple[LenderShare, ...]:
        """Lenders at which two or more members borrow."""
        return tuple(x for x in self.lenders if len(x.members) >= 2)


@dataclass(frozen=True)
class PathStep(_View):
    user: str
    kind: str
    node: str
    label: str
    next_user: str
    reason: str


@dataclass(frozen=True)
class PathView(_View):
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
class FlaggedBorrower(_View):
    user_id: str
    findings: tuple[str, ...]
    loans: int
    outstanding: float


@dataclass(frozen=True)
class RingAtLender(_View):
    ring_id: str
    severity: str
    members: int
    members_borrowing: tuple[str, ...]
    outstanding: float


@dataclass(frozen=True)
class LenderView(_View):
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


# --------------------------------------------------------------------------- findings


class FindingsIndex:
    """A findings report indexed by id and by user (built once per report).

    Ring ids may be asked by the id a nightly report carried forward or by the
    id the detection gave (``evidence["lineage"]["detected_id"]``).
    """

    def __init__(self, report: FindingsReport):
        self.report = report
        self.by_id: dict[str, Finding] = {f.id: f for f in report.findings}
        self._alias: dict[str, str] = {}
        users: dict[str, list[Finding]] = defaultdict(list)
        for f in report.findings:
            for u in f.users:
                users[u].append(f)
            lineage = f.evidence.get("lineage") if isinstance(f.evidence, Mapping) else None
            if isinstance(lineage, Mapping) and lineage.get("detected_id"):
                self._alias[str(lineage["detected_id"])] = f.id
        self._by_user = dict(users)

    @property
    def as_of(self) -> dt.date:
        return self.report.as_of

    def get(self, finding_id: str) -> Finding | None:
        f = self.by_id.get(finding_id)
        if f is None and finding_id in self._alias:
            f = self.by_id.get(self._alias[finding_id])
        return f

    def of_user(self, user_id: str) -> tuple[Finding, ...]:
        return tuple(self._by_user.get(user_id, ()))

    def types_of(self, user_id: str) -> tuple[str, ...]:
        return tuple(sorted({f.type for f in self.of_user(user_id)}))

    def flagged_users(self) -> set[str]:
        return set(self._by_user)

    @cached_property
    def flagged_frame(self) -> pl.DataFrame:
        """The flagged users as a one-column frame (``user_id``), for joins."""
        return pl.DataFrame({"user_id": sorted(self._by_user)}, schema={"user_id": pl.String})

    @cached_property
    def ring_members(self) -> pl.DataFrame:
        """One row per (ring finding, member): ``ring_id``, ``severity``, ``members`` (the
        ring's size) and ``user_id``, for joins."""
        rings = [f for f in self.report.findings if f.type == "ring"]
        return pl.DataFrame(
            {
                "ring_id": [f.id for f in rings for _ in f.users],
                "severity": [f.severity for f in rings for _ in f.users],
                "members": [len(f.users) for f in rings for _ in f.users],
                "user_id": [u for f in rings for u in f.users],
            },
            schema={"ring_id": pl.String, "severity": pl.String, "members": pl.Int64,
                    "user_id": pl.String},
        )


# --------------------------------------------------------------------------- sources


@runtime_checkable
class InvestigationSource(Protocol):
    """What a backend answers so that the views can be assembled.

    Every method returns a frame of :data:`SOURCE_SCHEMAS` (run it through
    :func:`conform`), filtered *as of* the run date as the module says.
    ``kinds`` names link kinds: ``"device"``, identifier kinds and ``"lender"``
    (open/overdue loans, ``value`` = lender id, ``first_seen`` = opened at).
    """

    def users(self, user_ids: Sequence[str]) -> pl.DataFrame: ...

    def accounts(self, user_ids: Sequence[str], as_of: dt.date) -> pl.DataFrame: ...

    def links(
        self, user_ids: Sequence[str], as_of: dt.date, kinds: Sequence[str] | None
    ) -> pl.DataFrame:
        """Links of the users (``kinds=None``: devices and every identifier kind)."""
        ...

    def link_degrees(self, nodes: pl.DataFrame, as_of: dt.date) -> pl.DataFrame:
        """Distinct users of each ``(kind, value)`` node as of the date."""
        ...

    def link_users(
        self, nodes: pl.DataFrame, as_of: dt.date, limit: int | None
    ) -> pl.DataFrame:
        """Users of each node, the ``limit`` smallest user ids per node (``None``: all)."""
        ...

    def loans(self, user_ids: Sequence[str], as_of: dt.date) -> pl.DataFrame: ...

    def applications(self, user_ids: Sequence[str], as_of: dt.date) -> pl.DataFrame: ...

    def lenders(self, lender_ids: Sequence[str]) -> pl.DataFrame: ...

    def lender_loans(self, lender_id: str, as_of: dt.date) -> pl.DataFrame:
        """Every external loan at the lender (any status) opened on or before the date."""
        ...

    def lender_applications(self, lender_id: str, as_of: dt.date) -> int: ...

    def lender_known(self, lender_id: str) -> bool:
        """Whether the lender is in ``lenders`` or named by any loan or application."""
        ...


class _Sorted:
    """A frame sorted by one string key, sliced by binary search (small key sets)."""

    _SEARCH_MAX = 256

    def __init__(self, frame: pl.DataFrame, key: str, *then: str):
        self.key = key
        self.frame = frame.sort([key, *then])
        self.keys = self.frame.get_column(key).set_sorted()

    def take(self, values: Iterable[str]) -> pl.DataFrame:
        """The rows whose key is one of ``values``, in key order.

        Few keys: two vectorized binary searches and zero-copy slices; many keys
        (a large frontier): one hash filter over the whole frame.
        """
        vals = sorted({v for v in values if v is not None})
        if not vals:
            return self.frame.clear()
        if len(vals) > self._SEARCH_MAX:
            return self.frame.filter(pl.col(self.key).is_in(vals))
        wanted = pl.Series(vals, dtype=pl.String)
        lo = self.keys.search_sorted(wanted, side="left").to_list()
        hi = self.keys.search_sorted(wanted, side="right").to_list()
        parts = [self.frame[a:b] for a, b in zip(lo, hi, strict=True) if b > a]
        if len(parts) == 1:
            return parts[0]
        return pl.concat(parts) if parts else self.frame.clear()


def _seen_by(column: str, as_of: dt.date) -> pl.Expr:
    return pl.col(column).is_null() | (pl.col(column).dt.date() <= as_of)


class MemorySource:
    """:class:`InvestigationSource` over an in-memory :class:`Dataset`.

    Sorted copies of the tables are built on first use (one sort per table
    and key); each lookup is then a binary search and a slice.
    """

    def __init__(self, dataset: Dataset):
        self.dataset = dataset
        self._last_nodes: tuple[dt.date, set[tuple[str, str]], pl.DataFrame] | None = None

    # sorted tables -----------------------------------------------------------
    @cached_property
    def _users(self) -> _Sorted:
        return _Sorted(conform("users", self.dataset.users), "user_id")

    @cached_property
    def _accounts(self) -> _Sorted:
        products = self.dataset.products.select(
            "product_id", pl.col("kind").alias("product_kind"),
            pl.col("name").alias("product_name"),
        )
        acc = self.dataset.accounts.join(products, on="product_id", how="left")
        return _Sorted(conform("accounts", acc), "user_id", "account_id")

    def _link_rows(self) -> pl.DataFrame:
        ds = self.dataset
        rows = pl.concat([
            ds.devices.select(
                "user_id", pl.lit(DEVICE, dtype=pl.String).alias("kind"),
                pl.col("device_id").alias("value"), "first_seen", "last_seen"),
            ds.identifiers.select("user_id", "kind", "value", "first_seen", "last_seen"),
        ], how="vertical_relaxed")
        # one row per (user, node): earliest first_seen (null if any row lacks one)
        return rows.group_by("user_id", "kind", "value").agg(
            pl.when(pl.col("first_seen").null_count() > 0).then(None)
            .otherwise(pl.col("first_seen").min()).alias("first_seen"),
            pl.col("last_seen").max(),
        )

    @cached_property
    def _links_by_user(self) -> _Sorted:
        return _Sorted(self._link_rows(), "user_id", "kind", "value")

    @cached_property
    def _links_by_node(self) -> _Sorted:
        rows = self._links_by_user.frame.select(
            (pl.col("kind") + pl.lit("\x1f") + pl.col("value")).alias("node"),
            "kind", "value", "user_id", "first_seen")
        return _Sorted(rows, "node", "user_id")

    @cached_property
    def _loans_by_user(self) -> _Sorted:
        return _Sorted(conform("loans", self.dataset.external_loans), "user_id", "lender_id",
                       "opened_at")

    @cached_property
    def _loans_by_lender(self) -> _Sorted:
        return _Sorted(conform("loans", self.dataset.external_loans), "lender_id", "user_id",
                       "opened_at")

    @cached_property
    def _apps_by_user(self) -> _Sorted:
        return _Sorted(conform("applications", self.dataset.applications), "user_id",
                       "applied_at")

    @cached_property
    def _lenders(self) -> _Sorted:
        return _Sorted(conform("lenders", self.dataset.lenders), "lender_id")

    # protocol ----------------------------------------------------------------
    def users(self, user_ids: Sequence[str]) -> pl.DataFrame:
        return self._users.take(user_ids)

    def accounts(self, user_ids: Sequence[str], as_of: dt.date) -> pl.DataFrame:
        acc = self._accounts.take(user_ids)
        return acc.filter(pl.col("opened_at").is_null() | (pl.col("opened_at") <= as_of))

    def _lender_links(self, user_ids: Sequence[str], as_of: dt.date) -> pl.DataFrame:
        loans = self.loans(user_ids, as_of).filter(pl.col("status").is_in(OPEN_LOAN_STATUSES))
        return loans.group_by("user_id", "lender_id").agg(
            pl.col("opened_at").min().cast(_T).alias("first_seen")
        ).select("user_id", pl.lit(LENDER).alias("kind"), pl.col("lender_id").alias("value"),
                 "first_seen", pl.lit(None, dtype=_T).alias("last_seen"))

    def links(
        self, user_ids: Sequence[str], as_of: dt.date, kinds: Sequence[str] | None
    ) -> pl.DataFrame:
        seen = _seen_by("first_seen", as_of)
        rows = self._links_by_user.take(user_ids).filter(
            seen if kinds is None else seen & pl.col("kind").is_in(list(kinds)))
        rows = conform("links", rows)
        if kinds is not None and LENDER in kinds:
            lent = conform("links", self._lender_links(user_ids, as_of))
            rows = pl.concat([rows, lent]).sort("user_id", "kind", "value")
        return rows

    def _node_rows(self, nodes: pl.DataFrame, as_of: dt.date) -> pl.DataFrame:
        """(kind, value, user_id) of every user of the nodes as of the date, sorted.

        The last answer is kept: a query asks for the degrees and then the users
        of the same nodes (or of a subset of them), which then costs one filter.
        """
        pairs = set(nodes.select("kind", "value").iter_rows())
        cached = self._last_nodes
        if cached is not None and cached[0] == as_of and pairs <= cached[1]:
            if pairs == cached[1]:
                return cached[2]
            return cached[2].join(nodes.select("kind", "value"), on=["kind", "value"],
                                  how="semi")
        keys = [f"{k}\x1f{v}" for k, v in pairs if k != LENDER]
        rows = self._links_by_node.take(keys).filter(_seen_by("first_seen", as_of)).select(
            "kind", "value", "user_id")
        lenders = [v for k, v in pairs if k == LENDER]
        if lenders:
            lend = self._loans_by_lender.take(lenders).filter(
                pl.col("status").is_in(OPEN_LOAN_STATUSES), pl.col("opened_at") <= as_of
            ).select(pl.lit(LENDER).alias("kind"), pl.col("lender_id").alias("value"),
                     "user_id").unique()
            rows = pl.concat([rows, lend]).sort("kind", "value", "user_id")
        self._last_nodes = (as_of, pairs, rows)
        return rows

    def link_degrees(self, nodes: pl.DataFrame, as_of: dt.date) -> pl.DataFrame:
        rows = self._node_rows(nodes, as_of)
        return conform("link_degrees", rows.group_by("kind", "value").agg(
            pl.len().alias("users")))

    def link_users(
        self, nodes: pl.DataFrame, as_of: dt.date, limit: int | None
    ) -> pl.DataFrame:
        rows = self._node_rows(nodes, as_of)
        if limit is not None:
            rows = rows.filter(pl.int_range(pl.len()).over("kind", "value") < limit)
        return conform("link_users", rows)

    def loans(self, user_ids: Sequence[str], as_of: dt.date) -> pl.DataFrame:
        return self._loans_by_user.take(user_ids).filter(pl.col("opened_at") <= as_of)

    def applications(self, user_ids: Sequence[str], as_of: dt.date) -> pl.DataFrame:
        return self._apps_by_user.take(user_ids).filter(
            pl.col("applied_at").dt.date() <= as_of)

    def lenders(self, lender_ids: Sequence[str]) -> pl.DataFrame:
        return self._lenders.take(lender_ids)

    def lender_loans(self, lender_id: str, as_of: dt.date) -> pl.DataFrame:
        return self._loans_by_lender.take([lender_id]).filter(pl.col("opened_at") <= as_of)

    def lender_applications(self, lender_id: str, as_of: dt.date) -> int:
        # one pass over the applications (a lender query is rare: no sorted copy kept)
        apps = self.dataset.applications
        return apps.filter(pl.col("lender_id") == lender_id,
                           pl.col("applied_at").dt.date() <= as_of).height

    def lender_known(self, lender_id: str) -> bool:
        if self._lenders.take([lender_id]).height or self._loans_by_lender.take(
                [lender_id]).height:
            return True
        return self.dataset.applications.filter(pl.col("lender_id") == lender_id).height > 0


# --------------------------------------------------------------------------- assembly


def _drawable_expr() -> pl.Expr:
    return (
        pl.when(pl.col("status") == "active")
        .then((pl.col("credit_limit") - pl.col("outstanding")).clip(lower_bound=0.0))
        .otherwise(0.0)
    )


def _account_infos(acc: pl.DataFrame, freeze: FreezeConfig) -> dict[str, tuple[AccountInfo, ...]]:
    out: dict[str, list[AccountInfo]] = defaultdict(list)
    acc = acc.with_columns(_drawable_expr().alias("drawable")).sort("user_id", "account_id")
    for r in acc.iter_rows(named=True):
        scope = None
        if r["status"] != "active":
            scope = freeze.scope(r["status_reason"])
        out[r["user_id"]].append(AccountInfo(
            account_id=r["account_id"], user_id=r["user_id"], product_id=r["product_id"],
            product_kind=r["product_kind"], product_name=r["product_name"],
            credit_limit=_money(r["credit_limit"]), outstanding=_money(r["outstanding"]),
            drawable=_money(r["drawable"]), status=r["status"],
            status_reason=r["status_reason"], reason_scope=scope,
            status_changed_at=r["status_changed_at"], opened_at=r["opened_at"],
        ))
    return {k: tuple(v) for k, v in out.items()}


def exposure_by_user(accounts: pl.DataFrame, loans: pl.DataFrame) -> dict[str, Exposure]:
    """The contract's exposure per user from their (as-of) accounts and loans frames
    (:func:`xpg.queries.asof.exposure_frame`, as the detections compute it)."""
    out = {}
    for r in exposure_frame(accounts, loans).iter_rows(named=True):
        out[r["user_id"]] = Exposure(
            total=_money(r["total"]), internal_limit=_money(r["internal_limit"]),
            internal_outstanding=_money(r["internal_outstanding"]),
            drawable=_money(r["drawable"]),
            external_outstanding=_money(r["external_outstanding"]),
        )
    return out


_ZERO = Exposure(0.0)


def _sum_exposure(items: Iterable[Exposure]) -> Exposure:
    items = list(items)
    return Exposure(
        total=_money(sum(e.total for e in items)),
        internal_limit=_money(sum(e.internal_limit for e in items)),
        internal_outstanding=_money(sum(e.internal_outstanding for e in items)),
        drawable=_money(sum(e.drawable for e in items)),
        external_outstanding=_money(sum(e.external_outstanding for e in items)),
    )


def _ring_kinds(config: DetectionConfig) -> tuple[str, ...]:
    return (DEVICE, *config.ring.identifier_kinds)


def _require_users(source: InvestigationSource, user_ids: Sequence[str]) -> None:
    found = set(source.users(user_ids).get_column("user_id").to_list())
    missing = [u for u in user_ids if u not in found]
    if missing:
        raise NotFoundError(f"unknown user {missing[0]!r}")


def _lender_names(source: InvestigationSource, lender_ids: Iterable[str]) -> dict[str, dict]:
    rows = source.lenders(sorted(set(lender_ids)))
    return {r["lender_id"]: r for r in rows.iter_rows(named=True)}


@dataclass
class _Search:
    """One side of a breadth-first search over users and link nodes."""

    depth: dict[str, int]
    parent: dict[str, tuple[str, str, str]]  # user -> (previous user, kind, value)
    frontier: list[str]
    edges: list[pl.DataFrame] = field(default_factory=list)  # user_id, kind, value


def _new_search(start: str) -> _Search:
    return _Search(depth={start: 0}, parent={}, frontier=[start])


def _expand(
    source: InvestigationSource,
    search: _Search,
    as_of: dt.date,
    kinds: Sequence[str],
    hub_max: int | None,
    seen_nodes: set[tuple[str, str]],
) -> None:
    """One level: frontier users -> their (non-hub) nodes -> users not reached yet."""
    level = max(search.depth[u] for u in search.frontier) + 1
    links = source.links(search.frontier, as_of, kinds).select("user_id", "kind", "value")
    nodes = links.select("kind", "value").unique()
    if seen_nodes:
        seen = pl.DataFrame([list(k) for k in seen_nodes], schema=["kind", "value"], orient="row")
        nodes = nodes.join(seen, on=["kind", "value"], how="anti")
    seen_nodes.update(nodes.iter_rows())
    if hub_max is not None and nodes.height:
        deg = source.link_degrees(nodes, as_of)
        nodes = deg.filter((pl.col("kind") == LENDER) | (pl.col("users") <= hub_max)).select(
            "kind", "value")
    if nodes.height == 0:
        search.frontier = []
        return
    links = links.join(nodes, on=["kind", "value"], how="semi")
    reached = source.link_users(nodes, as_of, None)
    search.edges.extend([links, reached])
    known = pl.DataFrame({"user_id": list(search.depth)}, schema={"user_id": pl.String})
    order = {k: i for i, k in enumerate(kinds)}
    new = (
        reached.join(known, on="user_id", how="anti")
        .join(links.rename({"user_id": "prev"}), on=["kind", "value"])
        .with_columns(pl.col("kind").replace_strict(order, default=len(order)).alias("rank"))
        .sort("user_id", "rank", "value", "prev")
        .unique("user_id", keep="first", maintain_order=True)
    )
    for user, kind, value, prev in new.select("user_id", "kind", "value", "prev").iter_rows():
        search.depth[user] = level
        search.parent[user] = (prev, kind, value)
    search.frontier = new.get_column("user_id").to_list()


def _chain(search: _Search, user: str) -> list[tuple[str, str, str, str]]:
    """Steps (user, kind, value, next user) from the search's start to ``user``."""
    steps = []
    while user in search.parent:
        prev, kind, value = search.parent[user]
        steps.append((prev, kind, value, user))
        user = prev
    return steps[::-1]


def _link_reason(kind: str, value: str, a: str, b: str) -> str:
    if kind == DEVICE:
        return f"{a} and {b} were both seen on device {value}"
    if kind == LENDER:
        return f"{a} and {b} both borrow at lender {value}"
    return f"{a} and {b} are both linked to {link_label(kind, value)}"


def investigate_user(
    source: InvestigationSource,
    findings: FindingsIndex,
    config: DetectionConfig,
    user_id: str,
    *,
    hops: int = 1,
    as_of: dt.date | None = None,
    list_limit: int = LIST_LIMIT,
    max_neighbours: int = MAX_NEIGHBOURS,
) -> UserView:
    """Everything about one user and the users within ``hops`` of them.

    The user's accounts (with the scope of each freeze reason), devices and
    identifiers with who else is on them, external lenders, the findings
    touching the user, the exposure breakdown, and the users reached within
    ``hops`` through non-hub devices and ring-enabled identifiers (the
    ring rule's graph), each with the link that reaches them.

    Raises
    ------
    NotFoundError
        The user does not exist.
    InputError
        ``hops`` outside 0..:data:`MAX_HOPS`.

    Notes
    -----
    Cost: one lookup per table for the user, then one batched lookup per hop
    for the frontier; bounded by ``max_neighbours``.
    """
    if not 0 <= hops <= MAX_HOPS:
        raise InputError(f"hops must be between 0 and {MAX_HOPS}, got {hops}")
    as_of = as_of or findings.as_of
    users = source.users([user_id])
    if users.height == 0:
        raise NotFoundError(f"unknown user {user_id!r}")
    profile = users.row(0, named=True)
    ring_kinds = _ring_kinds(config)
    hub_max = config.ring.hub_max_users

    acc = source.accounts([user_id], as_of)
    loans = source.loans([user_id], as_of)
    exposure = exposure_by_user(acc, loans).get(user_id, _ZERO)
    accounts = _account_infos(acc, config.freeze).get(user_id, ())

    g = _GraphBuilder()
    g.user(user_id, focus=True, findings=",".join(findings.types_of(user_id)))

    # devices and identifiers, with who else is on them
    links = source.links([user_id], as_of, None)
    nodes = links.select("kind", "value").unique()
    degrees = {(k, v): n for k, v, n in source.link_degrees(nodes, as_of).iter_rows()}
    others: dict[tuple[str, str], list[str]] = defaultdict(list)
    for k, v, u in source.link_users(nodes, as_of, list_limit + 1).iter_rows():
        if u != user_id:
            others[(k, v)].append(u)
    devices, identifiers = [], []
    for r in links.iter_rows(named=True):
        key = (r["kind"], r["value"])
        n = degrees.get(key, 1)
        hub = n > hub_max
        counts = r["kind"] in ring_kinds and not hub
        shown = tuple(others[key][:list_limit])
        label = link_label(*key)
        if hub:
            why = f"linked to {n} users: a hub (over {hub_max}), left out of rings and paths"
        elif not counts:
            why = f"{r['kind']} is not an identifier kind enabled for rings"
        elif n > 1:
            why = f"shared with {n - 1} other user{'s' if n > 2 else ''}"
        else:
            why = "used by this user only"
        info = LinkInfo(
            kind=r["kind"], node=node_id(*key), label=label, users=n, hub=hub,
            counts_for_rings=counts, other_users=shown, more_users=max(n - 1 - len(shown), 0),
            first_seen=r["first_seen"], last_seen=r["last_seen"],
            reason=f"{user_id} {'was seen on' if r['kind'] == DEVICE else 'is linked to'} "
                   f"{label}; {why}",
        )
        (devices if r["kind"] == DEVICE else identifiers).append(info)
        g.link(*key, users=n, hub=hub)
        g.edge(user_id, *key, info.reason)

    # lenders: loans of any status and applications
    apps = source.applications([user_id], as_of)
    app_counts = dict(apps.group_by("lender_id").len().iter_rows())
    lender_ids = set(loans.get_column("lender_id").to_list()) | set(app_counts)
    names = _lender_names(source, lender_ids)
    per_lender = {r["lender_id"]: r for r in loans.group_by("lender_id").agg(
        pl.len().alias("loans"),
        pl.col("status").is_in(OPEN_LOAN_STATUSES).sum().alias("open_loans"),
        pl.col("amount").sum().alias("amount"),
        pl.col("outstanding").filter(pl.col("status").is_in(OPEN_LOAN_STATUSES)).sum()
        .alias("outstanding"),
        pl.col("status").unique().sort().alias("statuses"),
    ).iter_rows(named=True)}
    lenders = []
    for lid in sorted(lender_ids):
        r = per_lender.get(lid, {})
        n_open, n_apps = int(r.get("open_loans") or 0), int(app_counts.get(lid, 0))
        if n_open:
            why = (f"{user_id} holds {n_open} open loan{'s' if n_open > 1 else ''} at {lid} "
                   f"({_money(r.get('outstanding')):,.2f} CNY outstanding)")
        elif r:
            why = f"{user_id} had loans at {lid}, none open now"
        else:
            why = f"{user_id} applied to {lid} ({n_apps} application{'s' if n_apps > 1 else ''})"
        meta = names.get(lid, {})
        lenders.append(LenderLink(
            lender_id=lid, name=meta.get("name"), type=meta.get("type"),
            loans=int(r.get("loans") or 0), open_loans=n_open, amount=_money(r.get("amount")),
            outstanding=_money(r.get("outstanding")), statuses=tuple(r.get("statuses") or ()),
            applications=n_apps, reason=why,
        ))
        if n_open:
            g.link(LENDER, lid, name=meta.get("name"))
            g.edge(user_id, LENDER, lid, why)

    # neighbourhood through the ring rule's links
    search = _new_search(user_id)
    seen_nodes: set[tuple[str, str]] = set()
    truncated = False
    for _ in range(hops):
        if not search.frontier:
            break
        _expand(source, search, as_of, ring_kinds, hub_max, seen_nodes)
        if len(search.depth) - 1 > max_neighbours:
            truncated = True
            break
    reached = sorted((d, u) for u, d in search.depth.items() if u != user_id)
    if truncated:
        reached = reached[:max_neighbours]
    keep = {u for _, u in reached} | {user_id}
    neighbours = []
    for d, u in reached:
        prev, kind, value = search.parent[u]
        neighbours.append(Neighbour(
            user_id=u, hops=d, through=prev, via=link_label(kind, value),
            findings=findings.types_of(u), reason=_link_reason(kind, value, prev, u),
        ))
        g.user(u, hops=d, findings=",".join(findings.types_of(u)))
    for frame in search.edges:
        for u, kind, value in frame.select("user_id", "kind", "value").iter_rows():
            if u in keep:
                g.link(kind, value)
                g.edge(u, kind, value, f"{u} {'was seen on' if kind == DEVICE else 'is linked to'}"
                                       f" {link_label(kind, value)}")

    return UserView(
        user_id=user_id, as_of=as_of, hops=hops,
        registered_at=profile.get("registered_at"), credit_score=profile.get("credit_score"),
        exposure=exposure, accounts=accounts, devices=tuple(devices),
        identifiers=tuple(identifiers), lenders=tuple(lenders),
        findings=tuple(FindingRef.of(f) for f in sorted(
            findings.of_user(user_id), key=lambda f: (f.type, f.id))),
        neighbours=tuple(neighbours), truncated=truncated, graph=g.build(),
    )


def _freeze_state(accounts: Sequence[AccountInfo]) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    frozen = tuple(a.product_id for a in accounts if a.status == "frozen")
    drawable = tuple(a.product_id for a in accounts if a.drawable > 0)
    if frozen and drawable:
        state = "partly_frozen"
    elif frozen:
        state = "frozen"
    elif drawable:
        state = "drawable"
    else:
        state = "none"
    return state, frozen, drawable


def investigate_ring(
    source: InvestigationSource,
    findings: FindingsIndex,
    config: DetectionConfig,
    ring_id: str,
    *,
    as_of: dt.date | None = None,
) -> RingView:
    """One ring finding: members, what links them, lenders, exposure and freeze state.

    ``shared_devices``/``shared_identifiers`` are the non-hub devices and
    ring-enabled identifiers used by two or more members (what made the
    ring); ``lenders`` every lender at which a member borrows (open or
    overdue loans), most members first; each member's freeze state says
    whether their products are ``frozen``, ``partly_frozen`` (a frozen
    product while another is still drawable), ``drawable`` or ``none``.

    Raises
    ------
    NotFoundError
        No ring finding has this id.
    """
    finding = findings.get(ring_id)
    if finding is None or finding.type != "ring":
        raise NotFoundError(f"unknown ring {ring_id!r}")
    as_of = as_of or findings.as_of
    members = sorted(finding.users)
    hub_max = config.ring.hub_max_users

    acc = source.accounts(members, as_of)
    loans = source.loans(members, as_of)
    exposures = exposure_by_user(acc, loans)
    infos = _account_infos(acc, config.freeze)

    g = _GraphBuilder()
    rows = []
    for u in members:
        types = findings.types_of(u)
        state, frozen, drawable = _freeze_state(infos.get(u, ()))
        rows.append(RingMember(
            user_id=u, multi_lending="multi_lending" in types, findings=types,
            exposure=exposures.get(u, _ZERO), freeze_state=state,  # type: ignore[arg-type]
            frozen_products=frozen, drawable_products=drawable, accounts=infos.get(u, ()),
        ))
        g.user(u, multi_lending="multi_lending" in types, freeze_state=state,
               exposure=exposures.get(u, _ZERO).total)

    links = source.links(members, as_of, _ring_kinds(config))
    shared = links.group_by("kind", "value").agg(pl.col("user_id").unique().sort()
                                                  .alias("members"))
    shared = shared.filter(pl.col("members").list.len() >= 2)
    degrees = {(k, v): n for k, v, n in source.link_degrees(
        shared.select("kind", "value"), as_of).iter_rows()}
    devices, identifiers = [], []
    for kind, value, who in shared.sort("kind", "value").iter_rows():
        n = degrees.get((kind, value), len(who))
        if n > hub_max:
            continue
        item = SharedLink(kind, node_id(kind, value), link_label(kind, value), tuple(who), n)
        (devices if kind == DEVICE else identifiers).append(item)
        g.link(kind, value, users=n)
        for u in who:
            g.edge(u, kind, value, f"{u} {'was seen on' if kind == DEVICE else 'is linked to'} "
                                   f"{item.label}, shared by {len(who)} members")

    open_loans = loans.filter(pl.col("status").is_in(OPEN_LOAN_STATUSES))
    per_lender = open_loans.group_by("lender_id").agg(
        pl.col("user_id").unique().sort().alias("members"), pl.len().alias("loans"),
        pl.col("outstanding").sum().alias("outstanding"),
    )
    names = _lender_names(source, per_lender.get_column("lender_id").to_list())
    lenders = []
    for lid, who, n_loans, out in per_lender.select(
            "lender_id", "members", "loans", "outstanding").iter_rows():
        meta = names.get(lid, {})
        lenders.append(LenderShare(lid, meta.get("name"), meta.get("type"), tuple(who),
                                   int(n_loans), _money(out)))
        if len(who) >= 2:
            g.link(LENDER, lid, name=meta.get("name"), members=len(who))
            for u in who:
                g.edge(u, LENDER, lid, f"{u} borrows at {lid}, as do {len(who) - 1} other members")
    lenders.sort(key=lambda x: (-len(x.members), -x.outstanding, x.lender_id))

    return RingView(
        id=finding.id, as_of=as_of, finding=FindingRef.of(finding), members=tuple(rows),
        shared_devices=tuple(devices), shared_identifiers=tuple(identifiers),
        lenders=tuple(lenders), exposure=_sum_exposure(m.exposure for m in rows),
        frozen_members=sum(1 for m in rows if m.frozen_products),
        drawable_members=sum(1 for m in rows if m.drawable_products),
        drawable_total=_money(sum(m.exposure.drawable for m in rows)), graph=g.build(),
    )


def find_path(
    source: InvestigationSource,
    config: DetectionConfig,
    a: str,
    b: str,
    *,
    as_of: dt.date,
    via_lenders: bool = False,
    include_hubs: bool = False,
    max_hops: int = 6,
) -> PathView:
    """The shortest chain of users linking ``a`` to ``b``.

    Two users are one hop apart when they share a device or a ring-enabled
    identifier (and, with ``via_lenders``, when both borrow at the same
    lender). Hubs are left out as the ring rule does unless ``include_hubs``
    (lenders are never hubs). Among equally short chains the one with the
    smallest (kind, node, user) at each step is returned, so the answer is
    the same on every run and backend. ``found`` is false when no chain of at
    most ``max_hops`` hops exists.

    Raises
    ------
    NotFoundError
        Either user does not exist.
    InputError
        ``max_hops`` outside 1..:data:`MAX_PATH_HOPS`.

    Notes
    -----
    Bidirectional breadth-first search: each level expands the side with the
    smaller frontier with one batched lookup, so the work is about the
    square root of a one-sided search's.
    """
    if not 1 <= max_hops <= MAX_PATH_HOPS:
        raise InputError(f"max_hops must be between 1 and {MAX_PATH_HOPS}, got {max_hops}")
    _require_users(source, [a, b])
    kinds = [*_ring_kinds(config), *([LENDER] if via_lenders else [])]
    hub_max = None if include_hubs else config.ring.hub_max_users
    g = _GraphBuilder()

    def view(chain: list[tuple[str, str, str, str]]) -> PathView:
        steps, users = [], [a]
        for prev, kind, value, nxt in chain:
            steps.append(PathStep(prev, kind, node_id(kind, value), link_label(kind, value), nxt,
                                  _link_reason(kind, value, prev, nxt)))
            users.append(nxt)
            g.user(prev)
            g.user(nxt)
            g.link(kind, value)
            g.edge(prev, kind, value, f"{prev} {'borrows at' if kind == LENDER else 'uses'} "
                                      f"{link_label(kind, value)}")
            g.edge(nxt, kind, value, f"{nxt} {'borrows at' if kind == LENDER else 'uses'} "
                                     f"{link_label(kind, value)}")
        found = bool(chain) or a == b
        if not chain:
            g.user(a)
            g.user(b)
        return PathView(
            source=a, target=b, as_of=as_of, found=found, hops=len(chain) if found else None,
            users=tuple(users) if found else (), steps=tuple(steps), via_lenders=via_lenders,
            include_hubs=include_hubs, max_hops=max_hops, graph=g.build(),
        )

    if a == b:
        return view([])
    fwd, bwd = _new_search(a), _new_search(b)
    seen_f: set[tuple[str, str]] = set()
    seen_b: set[tuple[str, str]] = set()
    done = 0
    while fwd.frontier and bwd.frontier and done < max_hops:
        forward = len(fwd.frontier) <= len(bwd.frontier)
        side, seen = (fwd, seen_f) if forward else (bwd, seen_b)
        _expand(source, side, as_of, kinds, hub_max, seen)
        done += 1
        other = bwd if forward else fwd
        meet = [(fwd.depth[u] + bwd.depth[u], u) for u in side.frontier if u in other.depth]
        if meet:
            _total, m = min(meet)
            back = [(nxt, kind, value, prev) for prev, kind, value, nxt in _chain(bwd, m)][::-1]
            return view(_chain(fwd, m) + back)
    return view([])


def investigate_lender(
    source: InvestigationSource,
    findings: FindingsIndex,
    lender_id: str,
    *,
    as_of: dt.date | None = None,
) -> LenderView:
    """A lender: its borrowers, and how many flagged users and rings borrow there, how much.

    Borrowers are users with an ``open`` or ``overdue`` loan at the lender; a
    flagged user is one any finding names; a ring borrows there when one of
    its members does. Amounts are the outstanding of those open loans.

    Raises
    ------
    NotFoundError
        The lender is in no table.
    """
    if not source.lender_known(lender_id):
        raise NotFoundError(f"unknown lender {lender_id!r}")
    as_of = as_of or findings.as_of
    meta = source.lenders([lender_id])
    name = meta.get_column("name")[0] if meta.height else None
    ltype = meta.get_column("type")[0] if meta.height else None
    loans = source.lender_loans(lender_id, as_of).filter(
        pl.col("status").is_in(OPEN_LOAN_STATUSES))
    per_user = loans.group_by("user_id").agg(
        pl.len().alias("loans"), pl.col("outstanding").sum().alias("outstanding")
    ).sort("user_id")
    # joins, not a Python pass over every borrower: only the flagged ones become objects
    flagged_rows = per_user.join(findings.flagged_frame, on="user_id", how="semi")
    flagged = [
        FlaggedBorrower(u, findings.types_of(u), int(n), _money(out))
        for u, n, out in flagged_rows.iter_rows()
    ]
    flagged.sort(key=lambda x: (-x.outstanding, x.user_id))
    ring_rows = (
        findings.ring_members
        .join(per_user.select("user_id", "outstanding"), on="user_id", how="inner")
        .sort("ring_id", "user_id")
        .group_by("ring_id", maintain_order=True)
        .agg(pl.col("severity").first(), pl.col("members").first(),
             pl.col("user_id").alias("borrowing"), pl.col("outstanding").sum())
    )
    rings = [
        RingAtLender(ring, severity, int(members), tuple(borrowing), _money(out))
        for ring, severity, members, borrowing, out in ring_rows.iter_rows()
    ]
    rings.sort(key=lambda x: (-x.outstanding, x.ring_id))

    g = _GraphBuilder()
    g.link(LENDER, lender_id, name=name, focus=True)
    for x in flagged:
        g.user(x.user_id, findings=",".join(x.findings), outstanding=x.outstanding)
        g.edge(x.user_id, LENDER, lender_id,
               f"{x.user_id} owes {x.outstanding:,.2f} CNY on {x.loans} open loan(s)")
    return LenderView(
        lender_id=lender_id, name=name, type=ltype, as_of=as_of,
        borrowers=per_user.height, loans=loans.height,
        outstanding=_money(loans.get_column("outstanding").sum()),
        applications=source.lender_applications(lender_id, as_of),
        flagged_users=len(flagged), flagged_outstanding=_money(sum(x.outstanding for x in flagged)),
        flagged=tuple(flagged), rings=tuple(rings),
        rings_outstanding=_money(sum(x.outstanding for x in rings)), graph=g.build(),
    )
