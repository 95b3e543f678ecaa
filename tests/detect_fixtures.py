"""Small hand-made datasets for the detection tests, built in code.

    b = Builder()
    b.account("a1", "u1", "huabei", limit=10_000, outstanding=2_000)
    b.loan("u1", "L1", outstanding=5_000)
    ds = b.build()

Products ``huabei`` (consumption), ``jiebei`` (loan), ``credit_plus``
(consumption) and ``cash_plus`` (loan) exist by default. Users are created for
every user id mentioned. Everything happens before ``AS_OF`` unless a test
says otherwise.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
from xpg.loaders.dataset import Dataset
from xpg.loaders.schema import TABLES

AS_OF = dt.date(2026, 11, 20)


def day(offset: int) -> dt.date:
    """``AS_OF + offset`` days (offset <= 0 for the past)."""
    return AS_OF + dt.timedelta(days=offset)


def at(offset: int, hour: int = 12) -> dt.datetime:
    """Noon (or ``hour``) of ``day(offset)``."""
    return dt.datetime.combine(day(offset), dt.time(hour))


class Builder:
    def __init__(self) -> None:
        self.rows: dict[str, list[dict[str, Any]]] = {name: [] for name in TABLES}
        self._users: dict[str, None] = {}
        for pid, kind in (
            ("huabei", "consumption"),
            ("jiebei", "loan"),
            ("credit_plus", "consumption"),
            ("cash_plus", "loan"),
        ):
            self.rows["products"].append({"product_id": pid, "kind": kind, "name": pid})

    def user(self, *user_ids: str) -> Builder:
        for u in user_ids:
            self._users.setdefault(u)
        return self

    def account(
        self,
        account_id: str,
        user_id: str,
        product_id: str,
        *,
        limit: float = 10_000.0,
        outstanding: float = 0.0,
        status: str = "active",
        reason: str | None = None,
        changed_at: dt.datetime | None = None,
        opened_at: dt.date | None = None,
    ) -> Builder:
        self.user(user_id)
        self.rows["accounts"].append(
            {
                "account_id": account_id,
                "user_id": user_id,
                "product_id": product_id,
                "credit_limit": float(limit),
                "outstanding": float(outstanding),
                "status": status,
                "status_reason": reason,
                "status_changed_at": changed_at,
                "opened_at": opened_at if opened_at is not None else day(-400),
            }
        )
        return self

    def device(self, user_id: str, device_id: str, first_seen: dt.datetime | None = None):
        self.user(user_id)
        self.rows["devices"].append(
            {
                "user_id": user_id,
                "device_id": device_id,
                "first_seen": first_seen,
                "last_seen": None,
            }
        )
        return self

    def identifier(
        self, user_id: str, kind: str, value: str, first_seen: dt.datetime | None = None
    ) -> Builder:
        self.user(user_id)
        self.rows["identifiers"].append(
            {
                "user_id": user_id,
                "kind": kind,
                "value": value,
                "first_seen": first_seen,
                "last_seen": None,
            }
        )
        return self

    def loan(
        self,
        user_id: str,
        lender_id: str,
        *,
        outstanding: float = 10_000.0,
        amount: float | None = None,
        status: str = "open",
        opened_at: dt.date | None = None,
        closed_at: dt.date | None = None,
    ) -> Builder:
        self.user(user_id)
        self.rows["external_loans"].append(
            {
                "user_id": user_id,
                "lender_id": lender_id,
                "opened_at": opened_at if opened_at is not None else day(-100),
                "amount": float(amount if amount is not None else outstanding * 2),
                "outstanding": float(outstanding),
                "status": status,
                "closed_at": closed_at,
            }
        )
        return self

    def loans(self, user_id: str, lenders: list[str], **kw: Any) -> Builder:
        for lender in lenders:
            self.loan(user_id, lender, **kw)
        return self

    def application(
        self, user_id: str, lender_id: str, applied_at: dt.datetime, outcome: str | None = None
    ) -> Builder:
        self.user(user_id)
        self.rows["applications"].append(
            {
                "user_id": user_id,
                "lender_id": lender_id,
                "applied_at": applied_at,
                "outcome": outcome,
            }
        )
        return self

    def event(
        self,
        account_id: str,
        when: dt.datetime,
        event: str,
        *,
        reason: str | None = None,
        old: float | None = None,
        new: float | None = None,
    ) -> Builder:
        self.rows["account_events"].append(
            {
                "account_id": account_id,
                "at": when,
                "event": event,
                "old_limit": old,
                "new_limit": new,
                "reason": reason,
            }
        )
        return self

    def build(self) -> Dataset:
        self.rows["users"] = [
            {"user_id": u, "registered_at": None, "credit_score": None} for u in self._users
        ]
        frames = {
            name: pl.DataFrame(rows, schema=TABLES[name].schema, orient="row")
            if rows
            else TABLES[name].empty()
            for name, rows in self.rows.items()
        }
        return Dataset(
            **frames,
            present=frozenset(n for n, r in self.rows.items() if r or TABLES[n].required),
        )


def multi_lender(b: Builder, user_id: str, prefix: str = "M", outstanding: float = 10_000.0):
    """Make ``user_id`` multi_lending: open loans at 4 lenders ``<prefix>1..4``."""
    return b.loans(user_id, [f"{prefix}{i}" for i in range(1, 5)], outstanding=outstanding)


def every_finding_type(outstanding: float = 1_000, limit_outstanding: float = 1_000):
    """A small dataset with a finding of every type: three multi-lenders on one device (a
    ring), a fraud freeze beside a drawable account, a limit cut and a restore, and an
    application burst; u2, still drawable, shares u1's device (linked_risk); u5 opened loans
    at three new lenders this month (lender_velocity) (the CLI's and the export variants'
    sample)."""
    b = Builder()
    for u in ("u1", "u2", "u3"):
        b.device(u, "d9")
        multi_lender(b, u, outstanding=outstanding)
    b.account("a1", "u1", "jiebei", status="frozen", reason="fraud", changed_at=at(-9))
    b.account("a2", "u1", "huabei", limit=5_000, outstanding=limit_outstanding)
    b.event("a1", at(-9), "freeze", reason="fraud").event("a2", at(-4), "unfreeze")
    b.account("a3", "u2", "jiebei", limit=0).account("a4", "u2", "huabei", limit=9_000)
    b.event("a3", at(-3), "limit_change", old=10_000, new=0)
    b.event("a4", at(-2), "limit_change", old=6_000, new=9_000)
    b.application("u4", "L1", at(-1)).application("u4", "L2", at(0)).application("u4", "L3", at(0))
    b.loans("u5", ["V1", "V2", "V3"], outstanding=outstanding, opened_at=day(-5))
    return b.build()
