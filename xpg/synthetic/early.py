"""Early-warning cases of the synthetic generator (data contract v3): users linked to a
known-bad user (``linked_risk``) and their look-alikes, and the screening probes.

A case is a known-bad user B (its one account frozen for ``fraud`` or ``security``) and
users U sharing one node with B, each holding one active account with drawable credit.
Look-alikes change one thing: the shared node is a hub (21 users), B's freeze is of product
scope, U has nothing drawable, or U is itself frozen for a user-scope reason. Every user of
these cases has one account only (so no cross-product finding) and ordinary credit (no
multi-lending, no new lenders).

Each case also adds a screening probe to ``truth["screening"]``: the shared node's value,
given as an applicant's identifier, and the verdict :func:`xpg.queries.screen.screen` must
give (``high`` for a node of a known-bad user, ``clear`` for a hub or a product-scope
freeze).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from xpg.loaders.schema import ACCOUNT_STATUSES, EVENT_KINDS
from xpg.synthetic.builder import Builder
from xpg.synthetic.cases import LR, CaseKind, record
from xpg.synthetic.catalogue import BY, DAY, HB, JB, REASONS, code
from xpg.synthetic.formats import device_id_of, identifier_value_of

__all__ = ["LinkedCase", "kinds", "linked", "probes"]


@dataclass(frozen=True)
class LinkedCase:
    """One shape of linked-risk case: how many users share the node (B and the Us), through
    which kind, B's freeze reasons, whether the Us can draw, whether they are frozen."""

    users: int = 2
    via: str = "device"
    bad_reasons: tuple[str, ...] = ("fraud", "security")
    drawable: bool = True
    linked_frozen: str | None = None

    @property
    def finds(self) -> bool:
        return (self.users <= 20 and self.drawable and self.linked_frozen is None
                and self.bad_reasons[0] in ("fraud", "security"))


def _account(b: Builder, users: np.ndarray, product: int, status: str, reason: str | None,
             *, drawable: bool = True) -> None:
    c = users.size
    acct = b.new("account", c)
    limit = b.limits(product, c)
    outstanding = b.partial(limit) if drawable else limit.copy()
    reason_code = np.full(c, -1 if reason is None else code(REASONS, reason), dtype=np.int16)
    opened = b.t0 - b.rng.integers(300, 1500, c) * DAY
    changed = np.full(c, np.iinfo(np.int64).min)
    if status != "active":
        changed = b.at(b.rng.integers(5, 200, c), None, size=c)
        event = "freeze" if status == "frozen" else "close"
        b.add("account_events", acct=acct, at=changed, event=code(EVENT_KINDS, event),
              reason=reason_code)
    b.add("accounts", acct=acct, user=users, product=product, limit=limit,
          outstanding=outstanding, status=code(ACCOUNT_STATUSES, status), reason=reason_code,
          changed=changed, opened=opened // DAY)
    b.custom_accounts[users] = True


def linked(shape: LinkedCase):
    """The planter of one :class:`LinkedCase` shape."""

    def plant(b: Builder, kind: CaseKind, count: int) -> None:
        size = shape.users
        members = b.take_users(count * size).reshape(count, size)
        bad, others = members[:, 0], members[:, 1:].ravel()
        reasons = np.array(shape.bad_reasons)[b.rng.integers(0, len(shape.bad_reasons), count)]
        for reason in sorted(set(reasons.tolist())):
            _account(b, bad[reasons == reason], HB, "frozen", reason)
        if shape.linked_frozen:  # and an active account of the same kind: no other finding
            _account(b, others, JB, "frozen", shape.linked_frozen)
            _account(b, others, BY, "active", None)
        else:
            _account(b, others, JB, "active", None, drawable=shape.drawable)
        flat = members.ravel()
        if shape.via == "device":
            node = b.new("device", count)
            b.shared_device(flat, np.repeat(node, size))
            values = device_id_of(node, b.seed)
        else:
            node = b.new_keys(shape.via, count)
            b.identifier(flat, shape.via, np.repeat(node, size))
            values = identifier_value_of(shape.via, node)
        verdict = "high" if shape.finds or (
            shape.users <= 20 and shape.bad_reasons[0] in ("fraud", "security")) else "clear"
        for i in range(count):
            us = members[i].tolist()
            findings = [(LR, [u]) for u in us[1:]] if shape.finds else []
            record(b, kind, us, findings, shared={shape.via: values[i]},
                   known_bad=_uid(us[0]), bad_reason=str(reasons[i]))
            given = {"device_id" if shape.via == "device" else shape.via: values[i]}
            b.screening.append({"id": f"{kind.name}-{i + 1:05d}", "given": given,
                                "expect": verdict, "users_on_node": size})

    return plant


def probes(b: Builder) -> None:
    """More screening probes, from the cases planted: a ring's shared device (``high``); a
    multi-lender's and a lender_velocity user's user id (``elevated``); a device and a
    phone nobody has (``clear``, nothing matched)."""
    firsts: dict[str, dict[str, Any]] = {}
    for case in b.cases:
        firsts.setdefault(case["kind"], case)
    ring = firsts.get("ring_star")
    if ring and ring.get("devices"):
        b.screening.append({"id": ring["id"], "given": {"device_id": ring["devices"][0]},
                            "expect": "high", "users_on_node": len(ring["users"])})
    for name in ("ml_open_lenders", "lv_three_new_lenders"):
        if name in firsts:
            b.screening.append({"id": firsts[name]["id"],
                                "given": {"user_id": firsts[name]["users"][0]},
                                "expect": "elevated", "users_on_node": 0})
    b.screening.append({"id": "unknown-00001",
                        "given": {"device_id": device_id_of(np.array([10**12]), b.seed)[0],
                                  "phone": "+86 199 0000 0000"},
                        "expect": "clear", "users_on_node": 0})


def _uid(index: int) -> str:
    from xpg.synthetic.formats import user_id

    return user_id(int(index))


def kinds(make: Any) -> tuple[CaseKind, ...]:
    """The early-warning case kinds, made with ``make(name, expect, must_not, per_million,
    plant, description)``."""
    return (
        make("lr_linked_device", LR, None, 800, linked(LinkedCase()),
             "a user with drawable credit on one device with a user frozen for fraud/security"),
        make("lr_linked_phone", LR, None, 400, linked(LinkedCase(via="phone")),
             "a user with drawable credit sharing a phone with a user frozen for fraud"),
        make("lr_hub_boundary_20", LR, None, 10, linked(LinkedCase(users=20)),
             "a known-bad user and 19 others with drawable credit on a device of 20 users: "
             "not a hub, 19 findings"),
        make("lr_lookalike_hub_21", None, LR, 10, linked(LinkedCase(users=21)),
             "a known-bad user and 20 others on a device of 21 users: a hub, no finding"),
        make("lr_lookalike_product_scope", None, LR, 300,
             linked(LinkedCase(bad_reasons=("overdue", "credit_risk"))),
             "on one device with a user frozen for a product-scope reason: not known-bad"),
        make("lr_lookalike_no_drawable", None, LR, 300, linked(LinkedCase(drawable=False)),
             "on one device with a user frozen for fraud, but nothing drawable"),
        make("lr_lookalike_linked_user_frozen", None, LR, 300,
             linked(LinkedCase(linked_frozen="regulatory")),
             "on one device with a user frozen for fraud, itself frozen for a user-scope "
             "reason (regulatory: user scope, not a bad reason)"),
    )
