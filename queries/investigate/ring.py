"""One ring finding: members, what links them, lenders, exposure and freeze state
(:func:`investigate_ring`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

import polars as pl
from xpg.queries.asof import exposure_frame
from xpg.queries.assembly import AMOUNTS
from xpg.queries.findings import Exposure
from xpg.queries.investigate.accounts import (
    ZERO_EXPOSURE,
    account_infos,
    exposure_by_user,
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
from xpg.queries.predicates import DRAWABLE
from xpg.queries.rules import of_type

from xpg.errors import InputError, NotFoundError
from xpg.settings import DetectionConfig

__all__ = ["RING_PAGE", "investigate_ring"]


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


RING_PAGE = 25
"""Members, shared links and each lender's borrowers a ring view lists by default."""


def _member_frames(acc: pl.DataFrame, loans: pl.DataFrame, members: list[str]) -> pl.DataFrame:
    """Per member: the exposure columns (to the cent), ``frozen`` and ``drawable`` (any
    account so), ordered by exposure (largest first), then user id."""
    exposure = exposure_frame(acc, loans).with_columns(pl.col(AMOUNTS).round(2))
    states = acc.with_columns(DRAWABLE.polars().round(2).alias("drawable")).group_by("user_id").agg(
        (pl.col("status") == "frozen").any().alias("frozen"),
        (pl.col("drawable") > 0).any().alias("has_drawable"))
    return (
        pl.DataFrame({"user_id": members}, schema={"user_id": pl.String})
        .join(exposure, on="user_id", how="left")
        .join(states, on="user_id", how="left")
        .with_columns(pl.col(AMOUNTS).fill_null(0.0),
                      pl.col("frozen", "has_drawable").fill_null(False))
    )


def _total(frame: pl.DataFrame, column: str) -> float:
    # each member's amount to the cent (the frame's), summed in user order
    return money(sum(frame.get_column(column).to_list()))


def investigate_ring(
    source: InvestigationSource,
    findings: FindingsIndex,
    config: DetectionConfig,
    ring_id: str,
    *,
    as_of: dt.date | None = None,
    limit: int | None = RING_PAGE,
) -> RingView:
    """One ring finding: members, what links them, lenders, exposure and freeze state.

    ``shared_devices``/``shared_identifiers`` are the non-hub devices and
    ring-enabled identifiers used by two or more members (what made the
    ring); ``lenders`` the lenders at which members borrow (open or
    overdue loans), most members first (``lenders_total`` counts them all);
    each member's freeze state says whether their products are ``frozen``,
    ``partly_frozen`` (a frozen product while another is still drawable),
    ``drawable`` or ``none``.

    ``limit`` bounds the answer on any ring (a group judged whole may be of any size
    when the settings allow it): ``members`` are the ``limit`` of largest exposure
    (then by user id), each kind of shared link, the lenders and each lender's members
    the first ``limit``; the counts (``member_count``, ``more_members``, ``*_total``,
    ``borrowers``), the exposure and the freeze counts are over every member.
    ``None`` lists everything.

    Raises
    ------
    NotFoundError
        No ring finding has this id.
    InputError
        ``limit`` below 1.

    Notes
    -----
    One batched lookup of the members' accounts, loans and links, then Polars over
    them: O(the members' rows); Python objects only for the listed items.
    """
    if limit is not None and limit < 1:
        raise InputError(f"limit must be at least 1, got {limit}", argument="limit")
    finding = findings.get(ring_id)
    if finding is None:
        raise NotFoundError(f"unknown ring {ring_id!r} among the findings of "
                            f"{findings.as_of}; a ring id carried forward by a nightly report "
                            "is known to that report's findings: give its folder as the "
                            "findings")
    rule = of_type(finding.type)
    if rule is None or not rule.groups:
        raise NotFoundError(f"{ring_id!r} is a {finding.type} finding, not a ring; its users: "
                            f"{', '.join(finding.users[:5])} (look them up as users)")
    as_of = as_of or findings.as_of
    members = sorted(finding.users)
    hub_max = config.ring.hub_max_users

    acc = source.accounts(members, as_of)
    loans = source.loans(members, as_of)
    per_member = _member_frames(acc, loans, members)
    page = per_member.sort(["total", "user_id"], descending=[True, False])
    if limit is not None:
        page = page.head(limit)
    listed = page.get_column("user_id").to_list()
    shown = set(listed)
    exposures = exposure_by_user(acc.filter(pl.col("user_id").is_in(listed)),
                                 loans.filter(pl.col("user_id").is_in(listed)))
    infos = account_infos(acc.filter(pl.col("user_id").is_in(listed)), config.freeze)

    g = GraphBuilder()
    rows = []
    for u in listed:
        types = findings.types_of(u)
        marked = rule.member_rule in types
        state, frozen, drawable = _freeze_state(infos.get(u, ()))
        rows.append(RingMember(
            user_id=u, multi_lending=marked, findings=types,
            exposure=exposures.get(u, ZERO_EXPOSURE), freeze_state=state,  # type: ignore[arg-type]
            frozen_products=frozen, drawable_products=drawable, accounts=infos.get(u, ()),
        ))
        g.user(u, multi_lending=marked, freeze_state=state,
               exposure=exposures.get(u, ZERO_EXPOSURE).total)

    devices, identifiers, n_devices, n_identifiers = _shared(
        source, g, members, as_of, ring_kinds(config), hub_max, limit, shown, finding.evidence)

    lenders = _lenders(source, g, loans, limit, shown)

    by_user = per_member.sort("user_id")
    return RingView(
        id=finding.id, as_of=as_of, finding=FindingRef.of(finding), members=tuple(rows),
        shared_devices=tuple(devices), shared_identifiers=tuple(identifiers),
        lenders=tuple(lenders if limit is None else lenders[:limit]),
        exposure=Exposure(total=_total(by_user, "total"),
                          internal_limit=_total(by_user, "internal_limit"),
                          internal_outstanding=_total(by_user, "internal_outstanding"),
                          drawable=_total(by_user, "drawable"),
                          external_outstanding=_total(by_user, "external_outstanding")),
        frozen_members=int(per_member.get_column("frozen").sum()),
        drawable_members=int(per_member.get_column("has_drawable").sum()),
        drawable_total=_total(by_user, "drawable"), graph=g.build(),
        member_count=len(members), more_members=len(members) - len(rows),
        shared_devices_total=n_devices, shared_identifiers_total=n_identifiers,
        lenders_total=len(lenders),
    )


def _lenders(source: InvestigationSource, g: GraphBuilder, loans: pl.DataFrame,
             limit: int | None, shown: set[str]) -> list[LenderShare]:
    """Every lender at which members borrow (open or overdue), with the first ``limit``
    of its borrowing members, most borrowers first."""
    open_loans = loans.filter(pl.col("status").is_in(OPEN_LOAN_STATUSES))
    per_lender = open_loans.group_by("lender_id").agg(
        pl.col("user_id").n_unique().alias("borrowers"), pl.len().alias("loans"),
        pl.col("outstanding").sum().alias("outstanding"),
    )
    pairs = open_loans.select("lender_id", "user_id").unique().sort("lender_id", "user_id")
    if limit is not None:
        pairs = pairs.group_by("lender_id", maintain_order=True).head(limit)
    per_lender = per_lender.join(
        pairs.group_by("lender_id").agg(pl.col("user_id").sort().alias("members")),
        on="lender_id")
    names = lender_names(source, per_lender.get_column("lender_id").to_list())
    lenders = []
    for lid, who, n, n_loans, out in per_lender.select(
            "lender_id", "members", "borrowers", "loans", "outstanding").iter_rows():
        meta = names.get(lid, {})
        lenders.append(LenderShare(lid, meta.get("name"), meta.get("type"), tuple(who),
                                   int(n_loans), money(out), int(n)))
        if n >= 2:
            g.link(LENDER, lid, name=meta.get("name"), members=int(n))
            for u in who if limit is None else [u for u in who if u in shown]:
                g.edge(u, LENDER, lid, f"{u} borrows at {lid}, as do {n - 1} other members")
    lenders.sort(key=lambda x: (-x.borrowers, -x.outstanding, x.lender_id))
    return lenders


def _evidence_totals(evidence: object) -> tuple[int, int] | None:
    """(devices, identifiers) a ring finding's evidence names (the kept nodes two or more
    members share, as the detection found them), or None when it does not say."""
    if not isinstance(evidence, Mapping):
        return None
    devices, identifiers = evidence.get("devices"), evidence.get("identifiers")
    if not isinstance(devices, list) or not isinstance(identifiers, list):
        return None
    return len(devices), len(identifiers)


def _kept(source: InvestigationSource, nodes: pl.DataFrame, as_of: dt.date, hub_max: int
          ) -> pl.DataFrame:
    """``nodes`` (``kind``, ``value``, ``on_ring``, ...) that are no hub, with ``users``."""
    degrees = source.link_degrees(nodes.select("kind", "value"), as_of)
    return (nodes.join(degrees, on=["kind", "value"], how="left")
            .with_columns(pl.col("users").fill_null(pl.col("on_ring")))
            .filter(pl.col("users") <= hub_max))


def _exact(links: pl.DataFrame, nodes: pl.DataFrame) -> pl.DataFrame:
    """``nodes`` (``kind``, ``value``, ...) with ``on_ring``, the distinct members linked to
    each, keeping those of two or more."""
    counted = (links.join(nodes.select("kind", "value"), on=["kind", "value"], how="semi")
               .group_by("kind", "value").agg(pl.col("user_id").n_unique().alias("on_ring")))
    return (nodes.drop("on_ring", strict=False).join(counted, on=["kind", "value"])
            .filter(pl.col("on_ring") >= 2))


def _first_kept(source: InvestigationSource, links: pl.DataFrame, nodes: pl.DataFrame,
                as_of: dt.date, hub_max: int, limit: int) -> pl.DataFrame:
    """The first ``limit`` of the candidate ``nodes`` (in order) that two or more members
    share and that are no hub, counting and reading the degrees of growing slices only
    until they are found."""
    found, start, size = [], 0, max(2 * limit, 16)
    while start < nodes.height and sum(f.height for f in found) < limit:
        part = _exact(links, nodes.slice(start, size))
        found.append(_kept(source, part, as_of, hub_max))
        start, size = start + size, size * 4
    if not found:
        return _kept(source, _exact(links, nodes.clear()), as_of, hub_max)
    return pl.concat(found).sort("kind", "value").head(limit)


def _shared(source: InvestigationSource, g: GraphBuilder, members: list[str], as_of: dt.date,
            kinds: tuple[str, ...], hub_max: int, limit: int | None, shown: set[str],
            evidence: object = None) -> tuple[list[SharedLink], list[SharedLink], int, int]:
    """The kept nodes two or more members share: the first ``limit`` devices and
    identifiers (kind, value order) and how many there are of each (those the finding's
    ``evidence`` names, when it names them and a page is asked for)."""
    links = source.links(members, as_of, kinds).select("user_id", "kind", "value")
    totals = _evidence_totals(evidence)
    if limit is None or totals is None:
        # nodes of two or more members; more than hub_max members makes a hub anyway
        counts = (links.group_by("kind", "value")
                  .agg(pl.col("user_id").n_unique().alias("on_ring"))
                  .filter(pl.col("on_ring").is_between(2, hub_max))
                  .with_columns((pl.col("kind") == DEVICE).alias("is_device"))
                  .sort("kind", "value"))
        shared = _kept(source, counts, as_of, hub_max)
        n_devices = int(shared.get_column("is_device").sum())
        n_identifiers = shared.height - n_devices
        if limit is not None:
            shared = pl.concat([shared.filter(pl.col("is_device")).head(limit),
                                shared.filter(~pl.col("is_device")).head(limit)])
    else:
        # the finding's evidence counts them: only the listed nodes' degrees are read
        n_devices, n_identifiers = totals
        # candidates by a hash of the node (rows per node, an upper bound of its members),
        # counted exactly slice by slice in _first_kept
        candidates = (links.group_by(pl.struct("kind", "value").hash().alias("node"))
                      .agg(pl.len().alias("rows"), pl.col("kind").first(),
                           pl.col("value").first())
                      .filter(pl.col("rows").is_between(2, hub_max))
                      .with_columns((pl.col("kind") == DEVICE).alias("is_device"))
                      .sort("kind", "value"))
        shared = pl.concat([_first_kept(source, links,
                                        candidates.filter(pl.col("is_device") == device),
                                        as_of, hub_max, limit) for device in (True, False)])
    # the members of the listed nodes only
    who = (links.join(shared.select("kind", "value"), on=["kind", "value"], how="semi")
           .group_by("kind", "value").agg(pl.col("user_id").unique().sort().alias("members")))
    shared = shared.join(who, on=["kind", "value"]).sort("kind", "value")
    devices, identifiers = [], []
    for kind, value, who, n in shared.select("kind", "value", "members", "users").iter_rows():
        item = SharedLink(kind, node_id(kind, value), link_label(kind, value), tuple(who), n)
        (devices if kind == DEVICE else identifiers).append(item)
        g.link(kind, value, users=n)
        for u in who:
            if u not in shown:
                g.user(u)
            g.edge(u, kind, value, f"{u} {'was seen on' if kind == DEVICE else 'is linked to'} "
                                   f"{item.label}, shared by {len(who)} members")
    return devices, identifiers, n_devices, n_identifiers
