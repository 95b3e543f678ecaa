"""Investigative queries: one user, one ring, a path between two users, one lender.

An investigator asks *who is this user linked to, and why?*; these functions
answer with frozen dataclasses (``UserView``, ``RingView``, ``GroupView``, ``PathView``,
``LenderView``) that print as tables, serialize to JSON (``to_dict``) and carry
the small subgraph they talk about (:class:`Subgraph`, exportable to GraphML
or node-link JSON for Gephi and other graph tools).

Each query is split the same way as the detections:

1. an :class:`InvestigationSource` gathers a few small Polars frames about the
   asked ids (the user's accounts, links, loans, ...). :class:`MemorySource`
   does it over a :class:`~xpg.loaders.dataset.Dataset` with sorted copies of
   the tables and binary search, the Neo4j backend with parameterized,
   read-only Cypher (:mod:`xpg.graph.neo4j.investigate`);
2. shared assembly code in this package turns the frames into the views, so both
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

The package, one module per seam: :mod:`~.views` (the answers),
:mod:`~.subgraph`, :mod:`~.sources` (the source protocol, the in-memory source
and the findings index), :mod:`~.accounts` and :mod:`~.search` (assembly
shared by the queries), and one module per query: :mod:`~.user`,
:mod:`~.ring`, :mod:`~.group`, :mod:`~.path`, :mod:`~.lender`.
"""

from xpg.queries.investigate.accounts import exposure_by_user
from xpg.queries.investigate.base import (
    DEVICE,
    LENDER,
    OPEN_LOAN_STATUSES,
    link_label,
    masked_explanation,
    node_id,
)
from xpg.queries.investigate.group import (
    GROUP_PAGE,
    connected_group,
    group_facts,
    group_from_links,
    investigate_group,
)
from xpg.queries.investigate.lender import investigate_lender
from xpg.queries.investigate.path import MAX_PATH_HOPS, find_path
from xpg.queries.investigate.ring import RING_PAGE, investigate_ring
from xpg.queries.investigate.sources import (
    SOURCE_SCHEMAS,
    FindingsIndex,
    InvestigationSource,
    MemorySource,
    conform,
)
from xpg.queries.investigate.subgraph import GraphEdge, GraphNode, Subgraph
from xpg.queries.investigate.user import LIST_LIMIT, MAX_HOPS, MAX_NEIGHBOURS, investigate_user
from xpg.queries.investigate.views import (
    AccountInfo,
    FindingRef,
    FlaggedBorrower,
    GroupHub,
    GroupRing,
    GroupView,
    LenderLink,
    LenderShare,
    LenderView,
    LinkInfo,
    Neighbour,
    PathStep,
    PathView,
    RingAtLender,
    RingMember,
    RingView,
    SharedLink,
    UserView,
)

__all__ = [
    "DEVICE",
    "GROUP_PAGE",
    "LENDER",
    "LIST_LIMIT",
    "MAX_HOPS",
    "MAX_NEIGHBOURS",
    "MAX_PATH_HOPS",
    "OPEN_LOAN_STATUSES",
    "RING_PAGE",
    "SOURCE_SCHEMAS",
    "AccountInfo",
    "FindingRef",
    "FindingsIndex",
    "FlaggedBorrower",
    "GraphEdge",
    "GraphNode",
    "GroupHub",
    "GroupRing",
    "GroupView",
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
    "conform",
    "connected_group",
    "exposure_by_user",
    "find_path",
    "group_facts",
    "group_from_links",
    "investigate_group",
    "investigate_lender",
    "investigate_ring",
    "investigate_user",
    "link_label",
    "masked_explanation",
    "node_id",
]
