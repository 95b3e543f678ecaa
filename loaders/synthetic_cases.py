"""The populations the synthetic generator plants, each recorded as a truth case.

Every case kind is planted for all its cases at once (NumPy arrays over cases
and members), and recorded in ``truth.json`` with the findings it must
produce under the default configuration: exactly those, no more. A look-alike
(``expect`` null) names in ``must_not`` the finding type it resembles but
must not produce. See ``docs/synthetic-data.md`` for the catalogue.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from xpg.loaders.schema import ACCOUNT_STATUSES, EVENT_KINDS
from xpg.loaders.synthetic_base import (
    BY,
    DAY,
    HB,
    JB,
    PRODUCTS,
    REASONS,
    Builder,
    Profile,
    account_ids,
    code,
    device_id_of,
    expand,
    identifier_value_of,
    user_id,
)

__all__ = ["CASE_KINDS", "CaseKind", "case_count", "plant_all"]

ML, RING = "multi_lending", "ring"
FI, RA, LD = "freeze_inconsistency", "restored_after_freeze", "limit_divergence"


@dataclass(frozen=True)
class CaseKind:
    """One planted population: how many per million users, and how to plant ``count`` of them."""

    name: str
    expect: str | None  # the finding type a case of this kind is, or None for a look-alike
    must_not: str | None  # for a look-alike: the finding type it must not produce
    per_million: int
    plant: Callable[[Builder, CaseKind, int], None]
    description: str


def case_count(kind: CaseKind, users: int) -> int:
    """Cases of ``kind`` planted among ``users`` users: in proportion, at least one."""
    return max(1, round(kind.per_million * users / 1_000_000))


def _record(
    b: Builder,
    kind: CaseKind,
    users: Sequence[int],
    findings: list[tuple[str, Sequence[int]]],
    **details: Any,
) -> None:
    b.case_counts[kind.name] += 1
    index = b.case_counts[kind.name] - 1
    case: dict[str, Any] = {
        "id": f"{kind.name}-{index + 1:05d}",
        "kind": kind.name,
        "expect": kind.expect,
    }
    if kind.must_not:
        case["must_not"] = kind.must_not
    case["users"] = sorted(user_id(int(u)) for u in users)
    listed = [{"type": t, "users": sorted(user_id(int(u)) for u in us)} for t, us in findings]
    case["findings"] = sorted(
        listed, key=lambda f: (f["type"] != kind.expect, f["type"], f["users"])
    )
    case.update(details)
    b.cases.append(case)


# ---------------------------------------------------------------------------- multi-lending


def _ml_profiles(b: Builder, n: int) -> np.ndarray:
    """The multi-lending profiles of ring members: mostly open loans, some application bursts."""
    return b.rng.choice(
        np.array([Profile.ML_OPEN, Profile.ML_APPS7, Profile.ML_APPS30], dtype=np.int8),
        n,
        p=[0.7, 0.15, 0.15],
    )


def _lone(profile: int, rule: str) -> Callable[[Builder, CaseKind, int], None]:
    def plant(b: Builder, kind: CaseKind, count: int) -> None:
        users = b.take_users(count)
        b.profile[users] = profile
        is_ml = profile in Profile.MULTI_LENDING
        for u in users.tolist():
            _record(b, kind, [u], [(ML, [u])] if is_ml else [], rule=rule)

    return plant


# ---------------------------------------------------------------------------- groups (rings)


def _groups(
    b: Builder,
    kind: CaseKind,
    sizes: np.ndarray,
    n_ml: np.ndarray,
    shape: str,
    ml_profile: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Plant groups of users linked by ``shape``; record each. Returns (members, offsets)."""
    sizes = np.asarray(sizes, dtype=np.int64)
    c = sizes.size
    members = b.take_users(int(sizes.sum()))
    case_of, rank = expand(sizes)
    offsets = np.cumsum(sizes) - sizes
    ml = rank < np.asarray(n_ml)[case_of]
    b.profile[members[ml]] = _ml_profiles(b, int(ml.sum())) if ml_profile is None else ml_profile
    shared_devices: list[list[int]] = [[] for _ in range(c)]
    shared_idents: list[list[dict[str, str]]] = [[] for _ in range(c)]
    # linked through default-enabled links (a device of more than 20 users is a hub)
    connected = shape in ("star", "chain", "mixed", "hub_device")

    if shape in ("star", "hub_device"):
        dev = b.new("device", c)
        b.shared_device(members, dev[case_of])
        for i, d in enumerate(dev.tolist()):
            shared_devices[i].append(d)
    elif shape == "chain":  # u0 - d0 - u1 - d1 - u2 ...
        link_case, link_rank = expand(sizes - 1)
        dev = b.new("device", link_case.size)
        left = members[offsets[link_case] + link_rank]
        right = members[offsets[link_case] + link_rank + 1]
        b.shared_device(np.concatenate([left, right]), np.concatenate([dev, dev]))
        for i, d in zip(link_case.tolist(), dev.tolist(), strict=True):
            shared_devices[i].append(d)
    elif shape == "mixed":
        # ranks < k share a device; rank k uses rank k-1's bank card; ranks > k use rank k's phone
        k = b.rng.integers(2, sizes - 1)  # 2 .. size-2
        dev = b.new("device", c)
        on_dev = rank < k[case_of]
        b.shared_device(members[on_dev], dev[case_of[on_dev]])
        card_user = members[offsets + k - 1]
        b.identifier(members[offsets + k], "bank_card", 2 * card_user)
        phone_group = rank > k[case_of]
        phone_user = members[offsets + k]
        b.identifier(members[phone_group], "phone", phone_user[case_of[phone_group]])
        cards = identifier_value_of("bank_card", 2 * card_user)
        phones = identifier_value_of("phone", phone_user)
        for i, d in enumerate(dev.tolist()):
            shared_devices[i].append(d)
            shared_idents[i] += [{"kind": "bank_card", "value": cards[i]},
                                 {"kind": "phone", "value": phones[i]}]  # fmt: skip
    elif shape.startswith("ident:") or shape.startswith("hub_ident:"):
        ident = shape.split(":")[1]
        if shape.startswith("ident:"):  # a dedicated value of a kind ordinary users also share
            keys = b.new_keys(ident, c)
            b.identifier(members, ident, keys[case_of])
        else:  # the first member's own phone / bank card, given to every member
            first = members[offsets]
            keys = first if ident == "phone" else 2 * first
            others = rank > 0
            b.identifier(members[others], ident, keys[case_of[others]])
        values = identifier_value_of(ident, keys)
        for i in range(c):
            shared_idents[i].append({"kind": ident, "value": values[i]})
    else:  # pragma: no cover - a programming error
        raise ValueError(shape)

    device_names = device_id_of(np.array([d for ds in shared_devices for d in ds], np.int64),
                                b.seed)  # fmt: skip
    pos = 0
    member_lists = np.split(members, offsets[1:])
    ml_lists = np.split(ml, offsets[1:])
    for i in range(c):
        us = member_lists[i].tolist()
        mls = member_lists[i][ml_lists[i]].tolist()
        devs = device_names[pos : pos + len(shared_devices[i])]
        pos += len(shared_devices[i])
        size = len(us)
        is_ring = connected and 3 <= size <= 20 and 2 * len(mls) >= size
        if is_ring != (kind.expect == RING):  # pragma: no cover - a programming error
            raise AssertionError(f"{kind.name}: planted group does not match its kind")
        findings = ([(RING, us)] if is_ring else []) + [(ML, [u]) for u in mls]
        details: dict[str, Any] = {"size": size, "multi_lending_members": len(mls)}
        if devs:
            details["devices"] = sorted(devs)
        if shared_idents[i]:
            details["identifiers"] = shared_idents[i]
        _record(b, kind, us, findings, **details)
    return members, offsets


def _star_sizes(b: Builder, count: int, lo: int, hi: int) -> np.ndarray:
    return b.rng.integers(lo, hi + 1, count)


def _ring(shape: str, lo: int, hi: int):
    def plant(b: Builder, kind: CaseKind, count: int) -> None:
        sizes = _star_sizes(b, count, lo, hi)
        n_ml = b.rng.integers((sizes + 1) // 2, sizes + 1)  # at least half
        _groups(b, kind, sizes, n_ml, shape)

    return plant


def _plant_ring_half(b: Builder, kind: CaseKind, count: int) -> None:
    sizes = b.rng.choice(np.array([4, 6]), count)
    _groups(b, kind, sizes, sizes // 2, "star")


def _plant_decoy(b: Builder, kind: CaseKind, count: int) -> None:
    sizes = _star_sizes(b, count, 3, 8)
    n_ml = b.rng.integers(0, (sizes + 1) // 2)  # fewer than half
    chain = b.rng.random(count) < 0.4
    for shape, sel in (("star", ~chain), ("chain", chain)):
        if sel.any():
            _groups(b, kind, sizes[sel], n_ml[sel], shape)


def _plant_decoy_under_half(b: Builder, kind: CaseKind, count: int) -> None:
    sizes = b.rng.choice(np.array([5, 7]), count)
    _groups(b, kind, sizes, (sizes - 1) // 2, "star")


def _plant_pair(b: Builder, kind: CaseKind, count: int) -> None:
    _groups(b, kind, np.full(count, 2), np.full(count, 2), "star")


def _plant_nondefault(b: Builder, kind: CaseKind, count: int) -> None:
    sizes = _star_sizes(b, count, 3, 6)
    which = b.rng.integers(0, 3, count)
    for j, ident in enumerate(("ip", "address", "email")):
        sel = which == j
        if sel.any():
            _groups(b, kind, sizes[sel], sizes[sel], f"ident:{ident}")


def _plant_family(with_ml: bool):
    def plant(b: Builder, kind: CaseKind, count: int) -> None:
        sizes = _star_sizes(b, count, 3 if with_ml else 2, 4)
        members, _offsets = _groups(b, kind, sizes, np.full(count, int(with_ml)), "star")
        # a household also shares its address (not a default link kind)
        case_of, _ = expand(sizes)
        b.identifier(members, "address", b.new_keys("address", count)[case_of])

    return plant


def _hub_sizes(b: Builder, count: int, cap: int) -> np.ndarray:
    hi = int(np.clip(b.n // 200, 25, cap))
    return b.rng.integers(max(22, hi // 3), hi + 1, count)


def _plant_hub_device(b: Builder, kind: CaseKind, count: int) -> None:
    sizes = _hub_sizes(b, count, 600)
    members, offsets = _groups(b, kind, sizes, np.round(sizes * 0.6).astype(np.int64),
                               "hub_device")  # fmt: skip
    # behind every hub, three of its multi-lenders also share a device of their own: a ring of
    # exactly those three (the hub must not pull the others in)
    behind = next(k for k in CASE_KINDS if k.name == "ring_behind_hub")
    trio = members[offsets[:, None] + np.arange(3)]
    dev = b.new("device", count)
    b.shared_device(trio.ravel(), np.repeat(dev, 3))
    names = device_id_of(dev, b.seed)
    hubs = [c["id"] for c in b.cases[-count:]]
    for i in range(count):
        us = trio[i].tolist()
        _record(
            b,
            behind,
            us,
            [(RING, us)],
            size=3,
            multi_lending_members=3,
            devices=[names[i]],
            hub_case=hubs[i],
        )


def _plant_hub_identifier(b: Builder, kind: CaseKind, count: int) -> None:
    sizes = _hub_sizes(b, count, 40)
    which = b.rng.integers(0, 2, count)
    for j, ident in enumerate(("phone", "bank_card")):
        sel = which == j
        if sel.any():
            _groups(b, kind, sizes[sel], np.round(sizes[sel] * 0.6).astype(np.int64),
                    f"hub_ident:{ident}")  # fmt: skip


def _hub_boundary(size: int):
    def plant(b: Builder, kind: CaseKind, count: int) -> None:
        members, offsets = _groups(b, kind, np.full(count, size), np.full(count, 12), "star")
        if size == 20:
            # the first member was seen twice on the device: still 20 distinct users
            dev_rows = b.parts["devices"][-1]
            first = np.isin(dev_rows["user"], members[offsets])
            b.shared_device(dev_rows["user"][first], dev_rows["device"][first], days=30)

    return plant


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


def _cross(name: str):
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
            _record(b, kind, [u], [(f, [u]) for f in t.findings], **details)

    return plant


# ---------------------------------------------------------------------------- the catalogue


def _k(name, expect, must_not, per_million, plant, description) -> CaseKind:
    return CaseKind(name, expect, must_not, per_million, plant, description)


CASE_KINDS: tuple[CaseKind, ...] = (
    # rings and their look-alikes
    _k("ring_star", RING, None, 1000, _ring("star", 3, 8),
       "3-8 users on one shared device, at least half of them multi-lenders"),
    _k("ring_chain", RING, None, 600, _ring("chain", 3, 7),
       "users chained u1-d1-u2-d2-u3..., at least half multi-lenders"),
    _k("ring_mixed", RING, None, 600, _ring("mixed", 4, 9),
       "a device group joined to a phone group through a shared bank card"),
    _k("ring_half", RING, None, 200, _plant_ring_half,
       "4 or 6 users on a device, exactly half multi-lenders (the share's boundary)"),
    _k("ring_behind_hub", RING, None, 0, lambda b, k, c: None,
       "three multi-lenders of a hub who also share a device: a ring of exactly those three"),
    _k("hub_boundary_20", RING, None, 10, _hub_boundary(20),
       "20 distinct users (21 rows) on one device, 12 multi-lenders: not a hub, a ring"),
    _k("decoy_cluster", None, RING, 1000, _plant_decoy,
       "3-8 users sharing devices (star or chain), fewer than half multi-lenders"),
    _k("decoy_just_under_half", None, RING, 200, _plant_decoy_under_half,
       "5 or 7 users on a device with 2 or 3 multi-lenders (just under half)"),
    _k("pair_not_ring", None, RING, 300, _plant_pair,
       "two multi-lenders on one device: too few for a ring"),
    _k("ring_via_nondefault_identifier", None, RING, 400, _plant_nondefault,
       "3-6 multi-lenders linked only by an ip, address or email (not enabled by default)"),
    _k("family_device", None, RING, 10000, _plant_family(False),
       "a household of 2-4 users sharing a device and an address, nobody multi-lending"),
    _k("family_with_multilender", None, RING, 1000, _plant_family(True),
       "a household of 3-4 users sharing a device, one of them a multi-lender"),
    _k("hub_device", None, RING, 50, _plant_hub_device,
       "a device shared by tens to hundreds of users, 60% multi-lenders: a hub, left out"),
    _k("hub_identifier", None, RING, 20, _plant_hub_identifier,
       "a phone or bank card shared by 22-40 users, 60% multi-lenders: a hub, left out"),
    _k("hub_boundary_21", None, RING, 10, _hub_boundary(21),
       "21 users on one device, 12 multi-lenders: a hub (more than 20), so no ring"),
    # lone multi-lenders and near misses
    _k("ml_open_lenders", ML, None, 8000, _lone(Profile.ML_OPEN, "open loans at 4-7 lenders"),
       "open loans at 4-7 distinct lenders"),
    _k("ml_open_lenders_exactly_4", ML, None, 1000, _lone(Profile.ML_OPEN4, "open loans at 4"),
       "open loans at exactly 4 distinct lenders (the boundary)"),
    _k("ml_open_and_overdue", ML, None, 1000,
       _lone(Profile.ML_OPEN_OVERDUE, "3 open + 1 overdue lenders"),
       "open loans at 3 lenders and an overdue one at a 4th: overdue counts as open"),
    _k("ml_applications_7d", ML, None, 2000,
       _lone(Profile.ML_APPS7, "3 lenders within 7 days"),
       "applications to 3 lenders on the 7-day window's first day (00:00:00), inside it and "
       "its last day (23:59:59)"),
    _k("ml_applications_30d", ML, None, 2000,
       _lone(Profile.ML_APPS30, "6 lenders within 30 days"),
       "applications to 6 lenders within 30 days, the first on the window's first day"),
    _k("near_miss_open_lenders", None, ML, 1000, _lone(Profile.NM_OPEN3, "5 open loans, 3 lenders"),
       "5 open loans at only 3 distinct lenders"),
    _k("near_miss_applications_7d", None, ML, 1000,
       _lone(Profile.NM_APPS7, "4 applications, 2 lenders, 7 days"),
       "4 applications to only 2 distinct lenders within 7 days"),
    _k("near_miss_applications_30d", None, ML, 1000,
       _lone(Profile.NM_APPS30, "5 lenders within 30 days"),
       "applications to 5 distinct lenders within 30 days (2 of them in the last 7)"),
    _k("near_miss_outside_7d", None, ML, 1000,
       _lone(Profile.NM_OUT7, "3 lenders, one on day 8"),
       "3 lenders, one of them at 23:59:59 the day before the 7-day window"),
    _k("near_miss_outside_30d", None, ML, 1000,
       _lone(Profile.NM_OUT30, "6 lenders, one on day 31"),
       "6 lenders, one of them at 23:59:59 the day before the 30-day window"),
    _k("near_miss_closed_loans", None, ML, 1000,
       _lone(Profile.NM_CLOSED, "3 open lenders + closed/written-off"),
       "open loans at 3 lenders; closed and written-off loans at 3 others do not count"),
    # cross-product
    *(
        _k(name, (t.findings[0] if t.findings else None),
           None if t.findings else {"fi": FI, "ra": RA, "ld": LD}[name[:2]],
           800 if t.findings else 400, _cross(name), NOTES[name])
        for name, t in TEMPLATES.items()
    ),
)  # fmt: skip


def plant_all(b: Builder) -> None:
    """Plant every case kind, in proportion to the number of users (at least one of each)."""
    for kind in CASE_KINDS:
        if kind.per_million:
            kind.plant(b, kind, case_count(kind, b.n))
