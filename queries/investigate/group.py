"""A user's connected group, summarized without listing it (:func:`investigate_group`),
and the group facts the user view shows (:func:`group_facts`).

The connected group is the ring rule's (data contract v2): the users reached from the
user through kept devices and ring-enabled identifiers (seen as of the run date, with at
most ``hub_max_users`` users; a larger node is a hub, cut). A group of more than
``max_group_users`` users is not judged whole but searched for its multi-lending cores,
whose ring findings the summary names.

A source answers :meth:`~xpg.queries.investigate.sources.InvestigationSource.group`;
:func:`~xpg.queries.investigate.search.connected_group` is the breadth-first search every
source can use over its link hooks (the in-memory backend answers from the components its
detection computed).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import polars as pl
from xpg.queries.asof import exposure_frame
from xpg.queries.assembly import AMOUNTS
from xpg.queries.findings import Exposure
from xpg.queries.investigate.base import link_label, money, node_id
from xpg.queries.investigate.search import connected_group, ring_kinds
from xpg.queries.investigate.subgraph import GraphBuilder
from xpg.queries.investigate.views import GroupHub, GroupRing, GroupView
from xpg.queries.rules import group_types, member_types

from xpg.errors import InputError, NotFoundError
from xpg.settings import DetectionConfig

if TYPE_CHECKING:
    from xpg.queries.investigate.sources import FindingsIndex, InvestigationSource

__all__ = ["GROUP_PAGE", "GroupSummary", "GroupSummarySource", "connected_group", "group_facts",
           "group_from_links", "group_labels", "group_summaries", "investigate_group"]

GROUP_PAGE = 10
"""Hubs and rings a group summary lists by default (the counts are always exact)."""

_USERS = {"user_id": pl.String}


def group_from_links(links: pl.LazyFrame, user_id: str, as_of: dt.date, kinds: Sequence[str],
                     hub_max: int) -> pl.DataFrame:
    """What :func:`connected_group` answers, from every link at once (``user_id``, ``kind``,
    ``value``, ``first_seen``: a source holding them as one scannable table): one read,
    the hub cut, then the connected components of the kept links (scipy, in C).

    Examples
    --------
    >>> links = pl.LazyFrame({"user_id": ["a", "b", "b", "c", "d"],
    ...                       "kind": ["device"] * 5, "value": ["d1", "d1", "d2", "d2", "d3"],
    ...                       "first_seen": [None] * 5})
    >>> group_from_links(links, "a", dt.date(2026, 1, 1), ["device"], 20)["user_id"].to_list()
    ['a', 'b', 'c']
    """
    labels = group_labels(links, as_of, kinds, hub_max)
    mine = labels.filter(pl.col("user_id") == user_id)
    if mine.height == 0:
        return pl.DataFrame({"user_id": [user_id]}, schema=_USERS)
    return (labels.filter(pl.col("group") == mine.get_column("group")[0])
            .select("user_id").sort("user_id"))


def group_labels(links: pl.LazyFrame, as_of: dt.date, kinds: Sequence[str], hub_max: int
                 ) -> pl.DataFrame:
    """``user_id``, ``group`` (a label, Int64) of every user on a kept link (a node of
    ``kinds``, seen by ``as_of``, of 2 to ``hub_max`` users): the connected groups
    :func:`group_from_links` answers one of; a user not listed is a group of one.

    >>> links = pl.LazyFrame({"user_id": ["a", "b", "b", "c", "d"],
    ...                       "kind": ["device"] * 5, "value": ["d1", "d1", "d2", "d2", "d3"],
    ...                       "first_seen": [None] * 5})
    >>> group_labels(links, dt.date(2026, 1, 1), ["device"], 20).sort("user_id").rows()
    [('a', 0), ('b', 0), ('c', 0)]
    """
    import numpy as np
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    seen = pl.col("first_seen").is_null() | (pl.col("first_seen").cast(pl.Date) <= as_of)
    rows = (links.filter(pl.col("kind").is_in(list(kinds)), seen)
            .select("user_id", (pl.col("kind") + "\x1f" + pl.col("value")).alias("node"))
            .unique()
            .filter(pl.len().over("node").is_between(2, hub_max))
            .collect())
    if rows.height == 0:
        return pl.DataFrame(schema={"user_id": pl.String, "group": pl.Int64})
    coded = rows.with_columns(pl.col("user_id").rank("dense").cast(pl.Int64).alias("u") - 1,
                              pl.col("node").rank("dense").cast(pl.Int64).alias("n") - 1)
    u, n = coded.get_column("u").to_numpy(), coded.get_column("n").to_numpy()
    n_users = int(u.max()) + 1
    size = n_users + int(n.max()) + 1
    graph = coo_matrix((np.ones(u.size, dtype=np.int8), (u, n + n_users)), shape=(size, size))
    labels = connected_components(graph, directed=False)[1][:n_users]
    ids = coded.select("u", "user_id").unique("u")
    return ids.select("user_id", pl.Series("group", labels[ids.get_column("u").to_numpy()],
                                           dtype=pl.Int64))


_HUBS = {"kind": pl.String, "value": pl.String, "users": pl.Int64, "members": pl.Int64}


@dataclass(frozen=True)
class GroupSummary:
    """What a source kept of one connected group at detection: its ``members`` (frame of
    ``user_id``, sorted), every hub cut next to it (``hubs``: ``kind``, ``value``, ``users``,
    ``members``, most users first) and its users' :class:`Exposure`."""

    members: pl.DataFrame
    hubs: pl.DataFrame
    exposure: Exposure


@runtime_checkable
class GroupSummarySource(Protocol):
    """A source that kept the connected groups of a detection (the Neo4j backend):
    :func:`investigate_group` reads a group's summary from it instead of searching."""

    def group_summary(self, user_id: str, as_of: dt.date, kinds: Sequence[str], hub_max: int
                      ) -> GroupSummary | None:
        """The stored summary of the user's group when kept for this date, ``kinds`` and
        ``hub_max`` (and the data as it is now), and the group has more than one user;
        else None (the caller searches)."""
        ...


def group_summaries(source: InvestigationSource, labels: pl.DataFrame, as_of: dt.date,
                    kinds: Sequence[str], hub_max: int) -> list[dict[str, Any]]:
    """One row per group of ``labels`` (``user_id``, ``group``: :func:`group_labels`) with
    what :func:`investigate_group` reports of it, computed for every group at once from the
    source's batched lookups: ``group`` (its smallest user_id), ``members`` (sorted),
    ``hubs`` (``[kind, value, users, members]`` rows, most users first) and the exposure
    (``total``, ``internal_limit``, ...: the same sums, in the same order, as one group's
    view)."""
    if labels.height == 0:
        return []
    labels = (labels.with_columns(pl.col("user_id").min().over("group").alias("name"))
              .select("user_id", pl.col("name").alias("group")).sort("group", "user_id"))
    ids = labels.get_column("user_id").to_list()
    links = (source.links(ids, as_of, kinds).select("user_id", "kind", "value")
             .join(labels, on="user_id"))
    on_node = links.group_by("group", "kind", "value").agg(
        pl.col("user_id").n_unique().cast(pl.Int64).alias("members"))
    nodes = on_node.select("kind", "value").unique()
    degrees = (source.link_degrees(nodes, as_of) if nodes.height else
               pl.DataFrame(schema={"kind": pl.String, "value": pl.String, "users": pl.Int64}))
    hubs = (degrees.filter(pl.col("users") > hub_max).join(on_node, on=["kind", "value"])
            .sort(["group", "users", "kind", "value"], descending=[False, True, False, False])
            .group_by("group", maintain_order=True)
            .agg(pl.concat_list(pl.col("kind"), pl.col("value"),
                                pl.col("users").cast(pl.String),
                                pl.col("members").cast(pl.String)).alias("hubs")))
    frame = (exposure_frame(source.accounts(ids, as_of), source.loans(ids, as_of))
             .with_columns(pl.col(AMOUNTS).round(2)))
    amounts = (labels.join(frame, on="user_id", how="left").sort("group", "user_id")
               .group_by("group", maintain_order=True)
               .agg(pl.col("user_id").alias("members"), *[pl.col(c).drop_nulls()
                                                          for c in AMOUNTS]))
    by_group = dict(hubs.iter_rows())
    out = []
    for row in amounts.iter_rows(named=True):
        hub_rows = [[k, v, int(u), int(m)] for k, v, u, m in by_group.get(row["group"], [])]
        out.append({"group": row["group"], "members": row["members"], "hubs": hub_rows,
                    **{c: money(sum(row[c])) for c in AMOUNTS}})
    return out


def summary_exposure(row: Mapping[str, Any]) -> Exposure:
    """The :class:`Exposure` of a :func:`group_summaries` row."""
    return Exposure(total=row["total"], internal_limit=row["internal_limit"],
                    internal_outstanding=row["internal_outstanding"],
                    drawable=row["drawable"], external_outstanding=row["external_outstanding"])


def summary_hubs(rows: Sequence[Sequence[Any]]) -> pl.DataFrame:
    """The ``hubs`` frame of a :func:`group_summaries` row's ``hubs``."""
    return pl.DataFrame([list(r) for r in rows], schema=_HUBS, orient="row")


def _group(source: InvestigationSource, config: DetectionConfig, user_id: str,
           as_of: dt.date) -> pl.DataFrame:
    return source.group(user_id, as_of, ring_kinds(config), config.ring.hub_max_users)


def _core_ring(findings: FindingsIndex, user_id: str) -> str | None:
    groups = group_types()
    for f in findings.of_user(user_id):
        if f.type in groups and isinstance(f.evidence, Mapping) and f.evidence.get("core"):
            return f.id
    return None


def group_facts(source: InvestigationSource, findings: FindingsIndex, config: DetectionConfig,
                user_id: str, as_of: dt.date) -> tuple[int, str | None]:
    """(users of the user's connected group, the id of the multi-lending core ring the
    user is in or None): what the user view says about the group."""
    return _group(source, config, user_id, as_of).height, _core_ring(findings, user_id)


def ring_of(findings: FindingsIndex, user_id: str) -> str | None:
    """The id of the ring finding (a core or a whole group) the user is a member of."""
    groups = group_types()
    return next((f.id for f in findings.of_user(user_id) if f.type in groups), None)


def _exposure(source: InvestigationSource, ids: list[str], as_of: dt.date) -> Exposure:
    frame = exposure_frame(source.accounts(ids, as_of), source.loans(ids, as_of))
    # per user to the cent, then summed in user order (as a ring's exposure is)
    frame = frame.sort("user_id").with_columns(pl.col(AMOUNTS).round(2))

    def total(col: str) -> float:
        return money(sum(frame.get_column(col).to_list()))

    return Exposure(total=total("total"), internal_limit=total("internal_limit"),
                    internal_outstanding=total("internal_outstanding"),
                    drawable=total("drawable"),
                    external_outstanding=total("external_outstanding"))


def _hubs(source: InvestigationSource, ids: list[str], as_of: dt.date, kinds: Sequence[str],
          hub_max: int) -> pl.DataFrame:
    """``kind``, ``value``, ``users`` (all users of the node), ``members`` (of the group):
    the hubs linked to the group's users, most users first."""
    links = source.links(ids, as_of, kinds).select("user_id", "kind", "value")
    on_node = links.group_by("kind", "value").agg(pl.col("user_id").n_unique()
                                                  .cast(pl.Int64).alias("members"))
    if on_node.height == 0:
        return on_node.with_columns(pl.lit(0, dtype=pl.Int64).alias("users"))
    degrees = source.link_degrees(on_node.select("kind", "value"), as_of)
    return (degrees.filter(pl.col("users") > hub_max)
            .join(on_node, on=["kind", "value"])
            .sort(["users", "kind", "value"], descending=[True, False, False]))


def investigate_group(
    source: InvestigationSource,
    findings: FindingsIndex,
    config: DetectionConfig,
    user_id: str,
    *,
    as_of: dt.date | None = None,
    limit: int = GROUP_PAGE,
) -> GroupView:
    """The connected group of ``user_id`` as a summary: its size, multi-lenders, the hubs
    cut around it (the ``limit`` largest, with their user counts), the rings found in it
    (cores, or the group itself when judged whole: the ``limit`` of largest exposure) and
    the exposure of all its users. Nothing lists the members.

    Raises
    ------
    NotFoundError
        The user does not exist.
    InputError
        ``limit`` below 1.

    Notes
    -----
    The group from :meth:`InvestigationSource.group`, then one batched lookup of its
    users' links, node degrees, accounts and loans: O(the group's rows); the answer
    holds at most ``2 * limit`` items.
    """
    if limit < 1:
        raise InputError(f"limit must be at least 1, got {limit}", argument="limit")
    as_of = as_of or findings.as_of
    if source.users([user_id]).height == 0:
        raise NotFoundError(f"unknown user {user_id!r}")
    kinds, hub_max = ring_kinds(config), config.ring.hub_max_users
    stored = (source.group_summary(user_id, as_of, kinds, hub_max)
              if isinstance(source, GroupSummarySource) else None)
    members = stored.members if stored is not None else _group(source, config, user_id, as_of)
    ids = members.get_column("user_id").to_list()
    flagged = findings.typed_members.join(members, on="user_id", how="semi")
    ml = flagged.filter(pl.col("type").is_in(member_types())).get_column("user_id").n_unique()

    hubs = stored.hubs if stored is not None else _hubs(source, ids, as_of, kinds, hub_max)
    g = GraphBuilder()
    g.user(user_id, focus=True)
    listed_hubs = []
    for kind, value, users, on_group in hubs.head(limit).select(
            "kind", "value", "users", "members").iter_rows():
        listed_hubs.append(GroupHub(kind, node_id(kind, value), link_label(kind, value),
                                    int(users), int(on_group)))
        g.link(kind, value, users=int(users), hub=True)

    rings = []
    in_rings = flagged.filter(pl.col("type").is_in(group_types()))
    for rid in in_rings.get_column("finding_id").unique():
        f = findings.get(rid)
        if f is None:  # pragma: no cover - the index names its own findings
            continue
        evidence: Mapping[str, Any] = f.evidence if isinstance(f.evidence, Mapping) else {}
        rings.append(GroupRing(f.id, f.severity, bool(evidence.get("core")), len(f.users),
                               money(f.exposure.total), user_id in f.users))
    rings.sort(key=lambda r: (-r.exposure_total, r.ring_id))
    return GroupView(
        user_id=user_id, as_of=as_of, users=len(ids),
        judged="whole" if len(ids) <= config.ring.max_group_users else "cores",
        max_group_users=config.ring.max_group_users, multi_lenders=ml,
        hub_max_users=hub_max, hubs_cut=hubs.height, hubs=tuple(listed_hubs),
        rings_found=len(rings), cores_found=sum(1 for r in rings if r.core),
        rings=tuple(rings[:limit]), rings_users=sum(r.users for r in rings),
        rings_exposure=money(sum(r.exposure_total for r in rings)),
        exposure=stored.exposure if stored is not None else _exposure(source, ids, as_of),
        graph=g.build(),
    )

