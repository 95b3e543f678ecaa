"""Breadth-first search over users and link nodes, as the ring rule links users:
non-hub devices and ring-enabled identifiers (and lenders when asked)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import polars as pl
import xpg.queries.investigate.base as base
from xpg.queries.investigate.base import DEVICE, LENDER

from xpg.settings import DetectionConfig

__all__ = ["LinkSource", "Search", "connected_group", "expand", "new_search", "ring_kinds",
           "steps_to"]

_USERS = {"user_id": pl.String}


@runtime_checkable
class LinkSource(Protocol):
    """The link hooks a search reads, part of every
    :class:`~xpg.queries.investigate.sources.InvestigationSource`."""

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


def ring_kinds(config: DetectionConfig) -> tuple[str, ...]:
    return (DEVICE, *config.ring.identifier_kinds)


@dataclass
class Search:
    """One side of a breadth-first search over users and link nodes."""

    depth: dict[str, int]
    parent: dict[str, tuple[str, str, str]]  # user -> (previous user, kind, value)
    frontier: list[str]
    edges: list[pl.DataFrame] = field(default_factory=list)  # user_id, kind, value


def new_search(start: str) -> Search:
    return Search(depth={start: 0}, parent={}, frontier=[start])


def expand(
    source: LinkSource,
    search: Search,
    as_of: dt.date,
    kinds: Sequence[str],
    hub_max: int | None,
    seen_nodes: set[tuple[str, str]],
) -> None:
    """One level: frontier users -> their (non-hub) nodes -> users not reached yet.

    A level of a few rows (:data:`~xpg.queries.investigate.base.SMALL_ROWS`) is worked
    in Python (:func:`_expand_small`), a larger one by Polars: the same search either way."""
    level = max(search.depth[u] for u in search.frontier) + 1
    links = source.links(search.frontier, as_of, kinds).select("user_id", "kind", "value")
    if links.height <= base.SMALL_ROWS:
        _expand_small(source, search, as_of, kinds, hub_max, seen_nodes, level, links)
        return
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
    _step(search, level, kinds, links, reached)


def _step(search: Search, level: int, kinds: Sequence[str], links: pl.DataFrame,
          reached: pl.DataFrame) -> None:
    """The users of ``reached`` not known yet, each with its parent: the first link by
    kind's rank, value, previous user."""
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


_NODES = {"kind": pl.String, "value": pl.String}


def _expand_small(
    source: LinkSource,
    search: Search,
    as_of: dt.date,
    kinds: Sequence[str],
    hub_max: int | None,
    seen_nodes: set[tuple[str, str]],
    level: int,
    links: pl.DataFrame,
) -> None:
    """:func:`expand` for a level whose frontier has few links: the nodes, the hub cut,
    the links kept and each new user's parent (the first by kind's rank, value, previous
    user) in Python; the source is asked the same questions."""
    rows = list(zip(*(links.get_column(c).to_list() for c in ("user_id", "kind", "value")),
                    strict=True))
    pairs = {(k, v) for _, k, v in rows} - seen_nodes
    seen_nodes.update(pairs)
    nodes = pl.DataFrame({"kind": [k for k, _ in pairs], "value": [v for _, v in pairs]},
                         schema=_NODES)
    if hub_max is not None and pairs:
        deg = source.link_degrees(nodes, as_of)
        kept = [(k, v) for k, v, n in deg.select("kind", "value", "users").iter_rows()
                if k == LENDER or n <= hub_max]
        pairs = set(kept)
        nodes = pl.DataFrame({"kind": [k for k, _ in kept], "value": [v for _, v in kept]},
                             schema=_NODES)
    if not pairs:
        search.frontier = []
        return
    keep = [(k, v) in pairs for _, k, v in rows]
    if not all(keep):
        rows = [r for r, k in zip(rows, keep, strict=True) if k]
        links = pl.DataFrame(rows, schema=links.schema, orient="row")
    reached = source.link_users(nodes, as_of, None)
    search.edges.extend([links, reached])
    found = list(zip(*(reached.get_column(c).to_list() for c in ("kind", "value", "user_id")),
                     strict=True))
    if reached.height > base.SMALL_ROWS or any(None in r for r in (*rows, *found)):
        _step(search, level, kinds, links, reached)  # nulls sort as Polars sorts them
        return
    on_node: dict[tuple[str, str], list[str]] = defaultdict(list)
    for u, k, v in rows:
        on_node[(k, v)].append(u)
    order = {k: i for i, k in enumerate(kinds)}
    best: dict[str, tuple[int, str, str, str]] = {}
    for k, v, u in found:
        if u in search.depth:
            continue
        for prev in on_node.get((k, v), ()):
            step = (order.get(k, len(order)), v, prev, k)
            if u not in best or step < best[u]:
                best[u] = step
    frontier = sorted(best)
    for user in frontier:
        _, value, prev, kind = best[user]
        search.depth[user] = level
        search.parent[user] = (prev, kind, value)
    search.frontier = frontier


def steps_to(search: Search, user: str) -> list[tuple[str, str, str, str]]:
    """Steps (user, kind, value, next user) from the search's start to ``user``."""
    steps = []
    while user in search.parent:
        prev, kind, value = search.parent[user]
        steps.append((prev, kind, value, user))
        user = prev
    return steps[::-1]


def connected_group(
    source: LinkSource,
    user_id: str,
    as_of: dt.date,
    kinds: Sequence[str],
    hub_max: int,
) -> pl.DataFrame:
    """The members of ``user_id``'s connected group (``user_id``, sorted), the user included.

    Breadth-first over the source's hooks, one batched level at a time: the frontier's
    links of ``kinds``, the nodes not seen yet, their degrees (a node of more than
    ``hub_max`` users is a hub and is not crossed), the users of the other nodes.

    Notes
    -----
    Three source calls per level (the group's diameter, a few tens of levels on a
    sparse graph); each level costs the frontier's links and nodes, so the whole search
    is O(links of the group).
    """
    members = pl.DataFrame({"user_id": [user_id]}, schema=_USERS)
    frontier = [user_id]
    seen = pl.DataFrame(schema={"kind": pl.String, "value": pl.String})
    while frontier:
        nodes = source.links(frontier, as_of, kinds).select("kind", "value").unique()
        nodes = nodes.join(seen, on=["kind", "value"], how="anti")
        if nodes.height == 0:
            break
        seen = pl.concat([seen, nodes])
        kept = source.link_degrees(nodes, as_of).filter(
            pl.col("users").is_between(2, hub_max)).select("kind", "value")
        if kept.height == 0:
            break
        reached = source.link_users(kept, as_of, None).select("user_id").unique()
        new = reached.join(members, on="user_id", how="anti")
        members = pl.concat([members, new])
        frontier = new.get_column("user_id").to_list()
    return members.sort("user_id")
