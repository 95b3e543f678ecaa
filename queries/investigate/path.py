"""The shortest chain of users linking two users (:func:`find_path`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from xpg.queries.investigate.base import LENDER, link_label, link_reason, node_id
from xpg.queries.investigate.search import expand, new_search, ring_kinds, steps_to
from xpg.queries.investigate.sources import InvestigationSource
from xpg.queries.investigate.subgraph import GraphBuilder
from xpg.queries.investigate.views import PathStep, PathView

from xpg.errors import InputError, NotFoundError
from xpg.settings import DetectionConfig

__all__ = ["MAX_PATH_HOPS", "find_path"]

MAX_PATH_HOPS = 12
"""Most user-to-user hops a path search may ask for."""


def _require_users(source: InvestigationSource, user_ids: Sequence[str]) -> None:
    found = set(source.users(user_ids).get_column("user_id").to_list())
    missing = [u for u in user_ids if u not in found]
    if missing:
        raise NotFoundError(f"unknown user {missing[0]!r}")


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
    kinds = [*ring_kinds(config), *([LENDER] if via_lenders else [])]
    hub_max = None if include_hubs else config.ring.hub_max_users
    g = GraphBuilder()

    def view(chain: list[tuple[str, str, str, str]]) -> PathView:
        steps, users = [], [a]
        for prev, kind, value, nxt in chain:
            steps.append(PathStep(prev, kind, node_id(kind, value), link_label(kind, value), nxt,
                                  link_reason(kind, value, prev, nxt)))
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
    fwd, bwd = new_search(a), new_search(b)
    seen_f: set[tuple[str, str]] = set()
    seen_b: set[tuple[str, str]] = set()
    done = 0
    while fwd.frontier and bwd.frontier and done < max_hops:
        forward = len(fwd.frontier) <= len(bwd.frontier)
        side, seen = (fwd, seen_f) if forward else (bwd, seen_b)
        expand(source, side, as_of, kinds, hub_max, seen)
        done += 1
        other = bwd if forward else fwd
        meet = [(fwd.depth[u] + bwd.depth[u], u) for u in side.frontier if u in other.depth]
        if meet:
            _total, m = min(meet)
            back = [(nxt, kind, value, prev) for prev, kind, value, nxt in steps_to(bwd, m)][::-1]
            return view(steps_to(fwd, m) + back)
    return view([])
