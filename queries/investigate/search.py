"""Breadth-first search over users and link nodes, as the ring rule links users:
non-hub devices and ring-enabled identifiers (and lenders when asked)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

import polars as pl
from xpg.queries.investigate.base import DEVICE, LENDER
from xpg.queries.investigate.sources import InvestigationSource

from xpg.settings import DetectionConfig

__all__ = ["Search", "expand", "new_search", "ring_kinds", "steps_to"]


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
    source: InvestigationSource,
    search: Search,
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


def steps_to(search: Search, user: str) -> list[tuple[str, str, str, str]]:
    """Steps (user, kind, value, next user) from the search's start to ``user``."""
    steps = []
    while user in search.parent:
        prev, kind, value = search.parent[user]
        steps.append((prev, kind, value, user))
        user = prev
    return steps[::-1]
