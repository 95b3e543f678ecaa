"""A lender: its borrowers, and how many flagged users and rings borrow there
(:func:`investigate_lender`)."""

from __future__ import annotations

import datetime as dt

import polars as pl
from xpg.queries.investigate.base import LENDER, OPEN_LOAN_STATUSES, money
from xpg.queries.investigate.sources import FindingsIndex, InvestigationSource
from xpg.queries.investigate.subgraph import GraphBuilder
from xpg.queries.investigate.views import FlaggedBorrower, LenderView, RingAtLender

from xpg.errors import NotFoundError

__all__ = ["investigate_lender"]


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
        FlaggedBorrower(u, findings.types_of(u), int(n), money(out))
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
        RingAtLender(ring, severity, int(members), tuple(borrowing), money(out))
        for ring, severity, members, borrowing, out in ring_rows.iter_rows()
    ]
    rings.sort(key=lambda x: (-x.outstanding, x.ring_id))

    g = GraphBuilder()
    g.link(LENDER, lender_id, name=name, focus=True)
    for x in flagged:
        g.user(x.user_id, findings=",".join(x.findings), outstanding=x.outstanding)
        g.edge(x.user_id, LENDER, lender_id,
               f"{x.user_id} owes {x.outstanding:,.2f} CNY on {x.loans} open loan(s)")
    return LenderView(
        lender_id=lender_id, name=name, type=ltype, as_of=as_of,
        borrowers=per_user.height, loans=loans.height,
        outstanding=money(loans.get_column("outstanding").sum()),
        applications=source.lender_applications(lender_id, as_of),
        flagged_users=len(flagged), flagged_outstanding=money(sum(x.outstanding for x in flagged)),
        flagged=tuple(flagged), rings=tuple(rings),
        rings_outstanding=money(sum(x.outstanding for x in rings)), graph=g.build(),
    )
