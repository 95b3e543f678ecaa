"""Planted groups of users (rings, decoys, pairs, families, hubs) of the synthetic generator."""

from __future__ import annotations

from typing import Any

import numpy as np

from xpg.synthetic.builder import Builder
from xpg.synthetic.cases import ML, RING, CaseKind, ml_profiles, record
from xpg.synthetic.formats import device_id_of, expand, identifier_value_of

__all__ = [
    "RING_BEHIND_HUB",
    "hub_boundary",
    "plant_decoy",
    "plant_decoy_under_half",
    "plant_family",
    "plant_hub_device",
    "plant_hub_identifier",
    "plant_nondefault",
    "plant_pair",
    "plant_ring_half",
    "ring_planter",
]

RING_BEHIND_HUB = CaseKind(
    "ring_behind_hub", RING, None, 0, lambda b, k, c: None,
    "three multi-lenders of a hub who also share a device: a ring of exactly those three",
)  # fmt: skip
"""Planted by :func:`plant_hub_device` behind every hub, not on its own."""

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
    b.profile[members[ml]] = ml_profiles(b, int(ml.sum())) if ml_profile is None else ml_profile
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
        record(b, kind, us, findings, **details)
    return members, offsets


def _star_sizes(b: Builder, count: int, lo: int, hi: int) -> np.ndarray:
    return b.rng.integers(lo, hi + 1, count)


def ring_planter(shape: str, lo: int, hi: int):
    def plant(b: Builder, kind: CaseKind, count: int) -> None:
        sizes = _star_sizes(b, count, lo, hi)
        n_ml = b.rng.integers((sizes + 1) // 2, sizes + 1)  # at least half
        _groups(b, kind, sizes, n_ml, shape)

    return plant


def plant_ring_half(b: Builder, kind: CaseKind, count: int) -> None:
    sizes = b.rng.choice(np.array([4, 6]), count)
    _groups(b, kind, sizes, sizes // 2, "star")


def plant_decoy(b: Builder, kind: CaseKind, count: int) -> None:
    sizes = _star_sizes(b, count, 3, 8)
    n_ml = b.rng.integers(0, (sizes + 1) // 2)  # fewer than half
    chain = b.rng.random(count) < 0.4
    for shape, sel in (("star", ~chain), ("chain", chain)):
        if sel.any():
            _groups(b, kind, sizes[sel], n_ml[sel], shape)


def plant_decoy_under_half(b: Builder, kind: CaseKind, count: int) -> None:
    sizes = b.rng.choice(np.array([5, 7]), count)
    _groups(b, kind, sizes, (sizes - 1) // 2, "star")


def plant_pair(b: Builder, kind: CaseKind, count: int) -> None:
    _groups(b, kind, np.full(count, 2), np.full(count, 2), "star")


def plant_nondefault(b: Builder, kind: CaseKind, count: int) -> None:
    sizes = _star_sizes(b, count, 3, 6)
    which = b.rng.integers(0, 3, count)
    for j, ident in enumerate(("ip", "address", "email")):
        sel = which == j
        if sel.any():
            _groups(b, kind, sizes[sel], sizes[sel], f"ident:{ident}")


def plant_family(with_ml: bool):
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


def plant_hub_device(b: Builder, kind: CaseKind, count: int) -> None:
    sizes = _hub_sizes(b, count, 600)
    members, offsets = _groups(b, kind, sizes, np.round(sizes * 0.6).astype(np.int64),
                               "hub_device")  # fmt: skip
    # behind every hub, three of its multi-lenders also share a device of their own: a ring of
    # exactly those three (the hub must not pull the others in)
    behind = RING_BEHIND_HUB
    trio = members[offsets[:, None] + np.arange(3)]
    dev = b.new("device", count)
    b.shared_device(trio.ravel(), np.repeat(dev, 3))
    names = device_id_of(dev, b.seed)
    hubs = [c["id"] for c in b.cases[-count:]]
    for i in range(count):
        us = trio[i].tolist()
        record(
            b,
            behind,
            us,
            [(RING, us)],
            size=3,
            multi_lending_members=3,
            devices=[names[i]],
            hub_case=hubs[i],
        )


def plant_hub_identifier(b: Builder, kind: CaseKind, count: int) -> None:
    sizes = _hub_sizes(b, count, 40)
    which = b.rng.integers(0, 2, count)
    for j, ident in enumerate(("phone", "bank_card")):
        sel = which == j
        if sel.any():
            _groups(b, kind, sizes[sel], np.round(sizes[sel] * 0.6).astype(np.int64),
                    f"hub_ident:{ident}")  # fmt: skip


def hub_boundary(size: int):
    def plant(b: Builder, kind: CaseKind, count: int) -> None:
        members, offsets = _groups(b, kind, np.full(count, size), np.full(count, 12), "star")
        if size == 20:
            # the first member was seen twice on the device: still 20 distinct users
            dev_rows = b.parts["devices"][-1]
            first = np.isin(dev_rows["user"], members[offsets])
            b.shared_device(dev_rows["user"][first], dev_rows["device"][first], days=30)

    return plant


