"""One ring finding: members, what links them, lenders, exposure and freeze state
(:func:`investigate_ring`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import polars as pl
from xpg.queries.investigate.accounts import (
    ZERO_EXPOSURE,
    account_infos,
    exposure_by_user,
    sum_exposure,
)
from xpg.queries.investigate.base import (
    DEVICE,
    LENDER,
    OPEN_LOAN_STATUSES,
    link_label,
    money,
    node_id,
)
from xpg.queries.investigate.search import ring_kinds
from xpg.queries.investigate.sources import FindingsIndex, InvestigationSource, lender_names
from xpg.queries.investigate.subgraph import GraphBuilder
from xpg.queries.investigate.views import (
    AccountInfo,
    FindingRef,
    LenderShare,
    RingMember,
    RingView,
    SharedLink,
)

from xpg.errors import NotFoundError
from xpg.settings import DetectionConfig

__all__ = ["investigate_ring"]


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
    infos = account_infos(acc, config.freeze)

    g = GraphBuilder()
    rows = []
    for u in members:
        types = findings.types_of(u)
        state, frozen, drawable = _freeze_state(infos.get(u, ()))
        rows.append(RingMember(
            user_id=u, multi_lending="multi_lending" in types, findings=types,
            exposure=exposures.get(u, ZERO_EXPOSURE), freeze_state=state,  # type: ignore[arg-type]
            frozen_products=frozen, drawable_products=drawable, accounts=infos.get(u, ()),
        ))
        g.user(u, multi_lending="multi_lending" in types, freeze_state=state,
               exposure=exposures.get(u, ZERO_EXPOSURE).total)

    links = source.links(members, as_of, ring_kinds(config))
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
    names = lender_names(source, per_lender.get_column("lender_id").to_list())
    lenders = []
    for lid, who, n_loans, out in per_lender.select(
            "lender_id", "members", "loans", "outstanding").iter_rows():
        meta = names.get(lid, {})
        lenders.append(LenderShare(lid, meta.get("name"), meta.get("type"), tuple(who),
                                   int(n_loans), money(out)))
        if len(who) >= 2:
            g.link(LENDER, lid, name=meta.get("name"), members=len(who))
            for u in who:
                g.edge(u, LENDER, lid, f"{u} borrows at {lid}, as do {len(who) - 1} other members")
    lenders.sort(key=lambda x: (-len(x.members), -x.outstanding, x.lender_id))

    return RingView(
        id=finding.id, as_of=as_of, finding=FindingRef.of(finding), members=tuple(rows),
        shared_devices=tuple(devices), shared_identifiers=tuple(identifiers),
        lenders=tuple(lenders), exposure=sum_exposure(m.exposure for m in rows),
        frozen_members=sum(1 for m in rows if m.frozen_products),
        drawable_members=sum(1 for m in rows if m.drawable_products),
        drawable_total=money(sum(m.exposure.drawable for m in rows)), graph=g.build(),
    )
