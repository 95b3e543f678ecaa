"""One user and the users within a few hops of them (:func:`investigate_user`)."""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict

import polars as pl
from xpg.queries.investigate.accounts import ZERO_EXPOSURE, account_infos, exposure_by_user
from xpg.queries.investigate.base import (
    DEVICE,
    LENDER,
    OPEN_LOAN_STATUSES,
    link_label,
    link_reason,
    money,
    node_id,
)
from xpg.queries.investigate.group import group_facts, ring_of
from xpg.queries.investigate.search import expand, new_search, ring_kinds
from xpg.queries.investigate.sources import FindingsIndex, InvestigationSource, lender_names
from xpg.queries.investigate.subgraph import GraphBuilder
from xpg.queries.investigate.views import FindingRef, LenderLink, LinkInfo, Neighbour, UserView

from xpg.errors import InputError, NotFoundError
from xpg.settings import DetectionConfig

__all__ = ["LIST_LIMIT", "MAX_HOPS", "MAX_NEIGHBOURS", "investigate_user"]

MAX_HOPS = 4
"""Most hops a user neighbourhood may ask for."""
LIST_LIMIT = 50
"""Other users listed per device/identifier (the count is always exact)."""
MAX_NEIGHBOURS = 500
"""A neighbourhood stops growing (``truncated``) past this many users."""


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
    ring rule's graph), each with the link that reaches them; the size of the
    user's connected group and the multi-lending core ring the user is in, if any
    (:func:`~xpg.queries.investigate.group.group_facts`).

    Raises
    ------
    NotFoundError
        The user does not exist.
    InputError
        ``hops`` outside 0..:data:`MAX_HOPS`.

    Notes
    -----
    Cost: one lookup per table for the user, then one batched lookup per hop
    for the frontier; bounded by ``max_neighbours``; and the source's
    :meth:`~xpg.queries.investigate.InvestigationSource.group` (in memory, a mask over
    the detection's components; elsewhere a search of the whole group).
    """
    if not 0 <= hops <= MAX_HOPS:
        raise InputError(f"hops must be between 0 and {MAX_HOPS}, got {hops}")
    as_of = as_of or findings.as_of
    users = source.users([user_id])
    if users.height == 0:
        raise NotFoundError(f"unknown user {user_id!r}")
    profile = users.row(0, named=True)
    rule_kinds = ring_kinds(config)
    hub_max = config.ring.hub_max_users

    acc = source.accounts([user_id], as_of)
    loans = source.loans([user_id], as_of)
    exposure = exposure_by_user(acc, loans).get(user_id, ZERO_EXPOSURE)
    accounts = account_infos(acc, config.freeze).get(user_id, ())

    g = GraphBuilder()
    g.user(user_id, focus=True, findings=",".join(findings.types_of(user_id)))

    # devices and identifiers, with who else is on them
    links = source.links([user_id], as_of, None)
    pairs = set(zip(links.get_column("kind").to_list(), links.get_column("value").to_list(),
                    strict=True))  # the distinct nodes, as a unique() would give them
    nodes = pl.DataFrame({"kind": [k for k, _ in pairs], "value": [v for _, v in pairs]},
                         schema={"kind": links.schema["kind"], "value": links.schema["value"]})
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
        counts = r["kind"] in rule_kinds and not hub
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
    app_counts = Counter(apps.get_column("lender_id").to_list())
    lender_ids = set(loans.get_column("lender_id").to_list()) | set(app_counts)
    names = lender_names(source, lender_ids)
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
                   f"({money(r.get('outstanding')):,.2f} CNY outstanding)")
        elif r:
            why = f"{user_id} had loans at {lid}, none open now"
        else:
            why = f"{user_id} applied to {lid} ({n_apps} application{'s' if n_apps > 1 else ''})"
        meta = names.get(lid, {})
        lenders.append(LenderLink(
            lender_id=lid, name=meta.get("name"), type=meta.get("type"),
            loans=int(r.get("loans") or 0), open_loans=n_open, amount=money(r.get("amount")),
            outstanding=money(r.get("outstanding")), statuses=tuple(r.get("statuses") or ()),
            applications=n_apps, reason=why,
        ))
        if n_open:
            g.link(LENDER, lid, name=meta.get("name"))
            g.edge(user_id, LENDER, lid, why)

    # neighbourhood through the ring rule's links
    search = new_search(user_id)
    seen_nodes: set[tuple[str, str]] = set()
    truncated = False
    for _ in range(hops):
        if not search.frontier:
            break
        expand(source, search, as_of, rule_kinds, hub_max, seen_nodes)
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
            findings=findings.types_of(u), reason=link_reason(kind, value, prev, u),
        ))
        g.user(u, hops=d, findings=",".join(findings.types_of(u)))
    for frame in search.edges:
        for u, kind, value in frame.select("user_id", "kind", "value").iter_rows():
            if u in keep:
                g.link(kind, value)
                g.edge(u, kind, value, f"{u} {'was seen on' if kind == DEVICE else 'is linked to'}"
                                       f" {link_label(kind, value)}")

    group_users, core_ring = group_facts(source, findings, config, user_id, as_of)
    return UserView(
        user_id=user_id, as_of=as_of, hops=hops,
        registered_at=profile.get("registered_at"), credit_score=profile.get("credit_score"),
        exposure=exposure, accounts=accounts, devices=tuple(devices),
        identifiers=tuple(identifiers), lenders=tuple(lenders),
        findings=tuple(FindingRef.of(f) for f in sorted(
            findings.of_user(user_id), key=lambda f: (f.type, f.id))),
        neighbours=tuple(neighbours), truncated=truncated, graph=g.build(),
        group_users=group_users, in_core=core_ring is not None, core_ring=core_ring,
        ring=ring_of(findings, user_id),
    )
