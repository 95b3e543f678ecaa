"""Cross-product cases of the synthetic generator: accounts and events from templates."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from xpg.loaders.schema import ACCOUNT_STATUSES, EVENT_KINDS
from xpg.synthetic.builder import Builder
from xpg.synthetic.cases import FI, LD, RA, CaseKind, record
from xpg.synthetic.catalogue import BY, DAY, HB, JB, PRODUCTS, REASONS, code
from xpg.synthetic.formats import account_ids

__all__ = ["NOTES", "TEMPLATES", "Template", "cross"]

# ---------------------------------------------------------------------------- cross-product

# A template: the accounts of one user and their events, replicated over the cases.
# account: (product, status, reason or tuple of reasons to draw from, limit, outstanding)
#   limit: a number or "rand" (the product's distribution); outstanding: "partial" | "full" |
#   "zero" | a number
# event: (account slot, days back as int or (lo, hi), second of the day or None, event,
#   old, new, reason) with old/new None | a number | "limit" (the account's limit) |
#   ("x", f) (f times the account's limit, to 100) | "rand" (a fresh limit of the product),
#   and reason a reason, "=status" (the account's status reason), or None


@dataclass(frozen=True)
class Template:
    accounts: tuple[tuple, ...]
    events: tuple[tuple, ...] = ()
    findings: tuple[str, ...] = ()
    at_risk: int | None = None  # the slot whose drawable is the exposure at risk


_USER_SCOPE = ("fraud", "security", "multi_lending")
_RAISE = (("x", 0.6), "limit", "usage_growth")

TEMPLATES: dict[str, Template] = {
    # ---- freeze_inconsistency
    "fi_user_scope_freeze": Template(
        ((HB, "frozen", _USER_SCOPE, "rand", "partial"), (JB, "active", None, "rand", "partial")),
        ((0, (1, 200), None, "freeze", None, None, "=status"),),
        (FI,), at_risk=1),
    "fi_user_scope_close": Template(
        ((JB, "closed", "regulatory", "rand", "zero"), (HB, "active", None, "rand", "partial")),
        ((0, (1, 200), None, "close", None, None, "=status"),),
        (FI,), at_risk=1),
    "fi_unlisted_reason": Template(
        ((HB, "frozen", "aml_review", "rand", "partial"), (JB, "active", None, "rand", "partial")),
        ((0, (1, 200), None, "freeze", None, None, "=status"),),
        (FI,), at_risk=1),
    "fi_missing_reason": Template(
        ((HB, "frozen", None, "rand", "partial"), (BY, "active", None, "rand", "partial")),
        ((0, (1, 200), None, "freeze", None, None, "=status"),),
        (FI,), at_risk=1),
    "fi_lookalike_product_scope": Template(
        ((HB, "frozen", ("overdue", "credit_risk", "system"), "rand", "partial"),
         (JB, "active", None, "rand", "partial")),
        ((0, (1, 200), None, "freeze", None, None, "=status"),)),
    "fi_lookalike_other_limited": Template(
        ((HB, "frozen", _USER_SCOPE, "rand", "partial"),
         (JB, "limited", "credit_risk", "rand", "partial")),
        ((0, (1, 100), None, "freeze", None, None, "=status"),
         (1, (101, 200), None, "limit", None, None, "=status"))),
    "fi_lookalike_other_frozen": Template(
        ((HB, "frozen", _USER_SCOPE, "rand", "partial"),
         (JB, "frozen", "fraud", "rand", "partial")),
        ((0, (1, 100), None, "freeze", None, None, "=status"),
         (1, (1, 100), None, "freeze", None, None, "=status"))),
    "fi_lookalike_no_drawable": Template(
        ((HB, "frozen", _USER_SCOPE, "rand", "partial"), (JB, "active", None, "rand", "full")),
        ((0, (1, 200), None, "freeze", None, None, "=status"),)),
    "fi_lookalike_same_kind": Template(
        ((JB, "frozen", _USER_SCOPE, "rand", "partial"), (BY, "active", None, "rand", "partial")),
        ((0, (1, 200), None, "freeze", None, None, "=status"),)),
    # ---- restored_after_freeze
    "ra_unfreeze": Template(
        ((JB, "frozen", _USER_SCOPE, "rand", "partial"), (BY, "active", None, "rand", "partial")),
        ((1, (40, 60), None, "freeze", None, None, "overdue"),
         (0, (15, 25), None, "freeze", None, None, "=status"),
         (1, (2, 10), None, "unfreeze", None, None, "repaid")),
        (RA,)),
    "ra_reopen_other_kind": Template(
        ((HB, "frozen", _USER_SCOPE, "rand", "partial"), (JB, "active", None, "rand", "partial")),
        ((1, (40, 60), None, "close", None, None, "customer_request"),
         (0, (15, 25), None, "freeze", None, None, "=status"),
         (1, (2, 10), None, "reopen", None, None, "customer_request")),
        (RA, FI), at_risk=1),
    "ra_same_day": Template(
        ((JB, "frozen", _USER_SCOPE, "rand", "partial"), (BY, "active", None, "rand", "partial")),
        ((1, 30, None, "freeze", None, None, "overdue"),
         (0, 3, 9 * 3600, "freeze", None, None, "=status"),
         (1, 3, 15 * 3600 + 1800, "unfreeze", None, None, "review_passed")),
        (RA,)),
    "ra_lookalike_frozen_was_unfrozen": Template(
        ((JB, "active", None, "rand", "partial"), (BY, "active", None, "rand", "partial"),
         (HB, "active", None, "rand", "partial")),
        ((1, (40, 60), None, "freeze", None, None, "overdue"),
         (0, (20, 30), None, "freeze", None, None, "fraud"),
         (0, (12, 18), None, "unfreeze", None, None, "review_passed"),
         (1, (2, 10), None, "unfreeze", None, None, "repaid"))),
    "ra_lookalike_product_scope": Template(
        ((JB, "frozen", ("credit_risk", "overdue"), "rand", "partial"),
         (BY, "active", None, "rand", "partial"), (HB, "active", None, "rand", "partial")),
        ((1, (40, 60), None, "freeze", None, None, "overdue"),
         (0, (15, 25), None, "freeze", None, None, "=status"),
         (1, (2, 10), None, "unfreeze", None, None, "repaid"))),
    "ra_lookalike_unfreeze_before_freeze": Template(
        ((JB, "frozen", _USER_SCOPE, "rand", "partial"), (BY, "active", None, "rand", "partial")),
        ((1, (40, 60), None, "freeze", None, None, "overdue"),
         (1, (15, 30), None, "unfreeze", None, None, "repaid"),
         (0, (5, 10), None, "freeze", None, None, "=status"))),
    # ---- limit_divergence
    "ld_cut_to_zero": Template(
        ((HB, "active", None, 0.0, "zero"), (JB, "active", None, "rand", "partial")),
        ((0, (5, 20), None, "limit_change", "rand", 0.0, "risk_control"),
         (1, (1, 25), None, "limit_change", *_RAISE)),
        (LD,)),
    "ld_cut_80pct_first_day": Template(
        ((JB, "active", None, 1000.0, "partial"), (HB, "active", None, "rand", "partial")),
        ((0, 29, 0, "limit_change", 5000.0, 1000.0, "risk_control"),
         (1, (1, 10), None, "limit_change", *_RAISE)),
        (LD,)),
    "ld_cut_to_50_after_raise": Template(
        ((HB, "active", None, 50.0, "partial"), (BY, "active", None, "rand", "partial")),
        ((1, (10, 20), None, "limit_change", *_RAISE),
         (0, 1, None, "limit_change", 200.0, 50.0, "risk_control")),
        (LD,)),
    "ld_lookalike_cut_70pct": Template(
        ((HB, "active", None, 3000.0, "partial"), (JB, "active", None, "rand", "partial")),
        ((0, (5, 15), None, "limit_change", 10000.0, 3000.0, "risk_control"),
         (1, (1, 20), None, "limit_change", *_RAISE))),
    "ld_lookalike_cut_to_51": Template(
        ((HB, "active", None, 51.0, "partial"), (JB, "active", None, "rand", "partial")),
        ((0, (2, 10), None, "limit_change", 200.0, 51.0, "risk_control"),
         (1, (1, 20), None, "limit_change", *_RAISE))),
    "ld_lookalike_raise_outside_window": Template(
        ((HB, "active", None, 0.0, "zero"), (JB, "active", None, "rand", "partial")),
        ((1, 30, 23 * 3600, "limit_change", *_RAISE),
         (0, (5, 15), None, "limit_change", "rand", 0.0, "risk_control"))),
    "ld_lookalike_cut_outside_window": Template(
        ((HB, "active", None, 0.0, "zero"), (JB, "active", None, "rand", "partial")),
        ((0, 30, 22 * 3600, "limit_change", "rand", 0.0, "risk_control"),
         (1, (1, 10), None, "limit_change", *_RAISE))),
    "ld_lookalike_same_kind": Template(
        ((JB, "active", None, 0.0, "zero"), (BY, "active", None, "rand", "partial"),
         (HB, "active", None, "rand", "partial")),
        ((0, (5, 15), None, "limit_change", "rand", 0.0, "risk_control"),
         (1, (1, 10), None, "limit_change", *_RAISE))),
}  # fmt: skip

NOTES: dict[str, str] = {
    "fi_user_scope_freeze": "huabei frozen for a user-scope reason, jiebei active with drawable",
    "fi_user_scope_close": "jiebei closed for 'regulatory', huabei active with drawable",
    "fi_unlisted_reason": "huabei frozen for 'aml_review' (listed nowhere: user scope), jiebei "
    "active with drawable",
    "fi_missing_reason": "huabei frozen with no reason (counts as user scope), beiyongjin (loan) "
    "active with drawable",
    "fi_lookalike_product_scope": "huabei frozen for a product-scope reason, jiebei active",
    "fi_lookalike_other_limited": "huabei frozen for a user-scope reason, jiebei limited",
    "fi_lookalike_other_frozen": "huabei frozen for a user-scope reason, jiebei frozen too",
    "fi_lookalike_no_drawable": "huabei frozen for a user-scope reason, jiebei active but fully "
    "drawn (drawable 0)",
    "fi_lookalike_same_kind": "jiebei frozen for a user-scope reason, beiyongjin (also a loan) "
    "active; no consumption account",
    "ra_unfreeze": "jiebei frozen (user scope), later beiyongjin unfrozen",
    "ra_reopen_other_kind": "huabei frozen (user scope), later jiebei reopened with drawable: "
    "also a freeze_inconsistency",
    "ra_same_day": "jiebei frozen (user scope) at 09:00, beiyongjin unfrozen at 15:30 that day",
    "ra_lookalike_frozen_was_unfrozen": "the user-scope freeze of jiebei was itself lifted "
    "before beiyongjin was unfrozen",
    "ra_lookalike_product_scope": "jiebei frozen for a product-scope reason, later beiyongjin "
    "unfrozen",
    "ra_lookalike_unfreeze_before_freeze": "beiyongjin unfrozen before jiebei's user-scope freeze",
    "ld_cut_to_zero": "huabei limit cut to 0 and jiebei raised, both within 30 days",
    "ld_cut_80pct_first_day": "jiebei cut 5000 -> 1000 (exactly 80%) at 00:00 on the window's "
    "first day, huabei raised",
    "ld_cut_to_50_after_raise": "beiyongjin raised, then huabei cut 200 -> 50 (to 50 exactly, "
    "a 75% cut)",
    "ld_lookalike_cut_70pct": "huabei cut 10000 -> 3000 (70%), jiebei raised",
    "ld_lookalike_cut_to_51": "huabei cut 200 -> 51 (74.5%, above 50), jiebei raised",
    "ld_lookalike_raise_outside_window": "huabei cut to 0 within 30 days, jiebei raised at 23:00 "
    "the day before the window",
    "ld_lookalike_cut_outside_window": "huabei cut to 0 the day before the window, jiebei raised "
    "within it",
    "ld_lookalike_same_kind": "jiebei cut to 0 and beiyongjin (also a loan) raised",
}

_STATUS_EVENTS = {code(EVENT_KINDS, e) for e in ("freeze", "unfreeze", "limit", "close", "reopen")}


def _amount(b: Builder, spec: Any, product: int, limit: np.ndarray, c: int) -> np.ndarray:
    if spec is None:
        return np.full(c, np.nan)
    if spec == "limit":
        return limit
    if spec == "rand":
        return b.limits(product, c)
    if isinstance(spec, tuple):
        return np.maximum(np.round(limit * spec[1] / 100) * 100, 100.0)
    return np.full(c, float(spec))


def _reason_codes(b: Builder, spec: Any, c: int) -> np.ndarray:
    if spec is None:
        return np.full(c, -1, dtype=np.int16)
    options = spec if isinstance(spec, tuple) else (spec,)
    return b.rng.choice(np.array([code(REASONS, r) for r in options], dtype=np.int16), c)


def cross(name: str):
    t = TEMPLATES[name]

    def plant(b: Builder, kind: CaseKind, count: int) -> None:
        c = count
        users = b.take_users(c)
        b.custom_accounts[users] = True
        n_acc = len(t.accounts)
        keys = b.new("account", c * n_acc).reshape(c, n_acc)
        limits, outstanding, reasons = [], [], []
        changed = [np.full(c, np.iinfo(np.int64).min) for _ in range(n_acc)]
        for product, _status, reason, limit, out in t.accounts:
            lim = b.limits(product, c) if limit == "rand" else np.full(c, float(limit))
            limits.append(lim)
            if out == "partial":
                outstanding.append(b.partial(lim))
            elif out == "full":
                outstanding.append(lim.copy())
            elif out == "zero":
                outstanding.append(np.zeros(c))
            else:  # pragma: no cover
                outstanding.append(np.full(c, float(out)))
            reasons.append(_reason_codes(b, reason, c))
        for slot, days, second, event, old, new, reason in t.events:
            product = t.accounts[slot][0]
            back = (
                np.full(c, days)
                if isinstance(days, int)
                else b.rng.integers(days[0], days[1] + 1, c)
            )
            at = b.at(back, second, size=c)
            ev = code(EVENT_KINDS, event)
            rc = reasons[slot] if reason == "=status" else _reason_codes(b, reason, c)
            b.add("account_events", acct=keys[:, slot], at=at, event=ev,
                  old=_amount(b, old, product, limits[slot], c),
                  new=_amount(b, new, product, limits[slot], c), reason=rc)  # fmt: skip
            if ev in _STATUS_EVENTS:
                changed[slot] = np.maximum(changed[slot], at)
        for j, (product, status, _reason, _limit, _out) in enumerate(t.accounts):
            opened = b.t0 - b.rng.integers(300, 1500, c) * DAY
            b.add("accounts", acct=keys[:, j], user=users, product=product, limit=limits[j],
                  outstanding=outstanding[j], status=code(ACCOUNT_STATUSES, status),
                  reason=reasons[j], changed=changed[j], opened=opened // DAY)  # fmt: skip
        ids = pl.select(account_ids(keys.ravel())).to_series().to_list()
        for i, u in enumerate(users.tolist()):
            details: dict[str, Any] = {
                "accounts": {
                    PRODUCTS[t.accounts[j][0]][0]: ids[i * n_acc + j] for j in range(n_acc)
                }
            }
            if t.at_risk is not None:
                details["at_risk"] = round(
                    float(limits[t.at_risk][i] - outstanding[t.at_risk][i]), 2
                )
            record(b, kind, [u], [(f, [u]) for f in t.findings], **details)

    return plant

