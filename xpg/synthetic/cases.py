"""Truth cases of the synthetic generator: a case kind, its count, and the truth record.

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

from xpg.synthetic.builder import Builder
from xpg.synthetic.catalogue import Profile
from xpg.synthetic.formats import user_id

__all__ = [
    "FI", "LD", "LR", "LV", "ML", "RA", "RING", "CaseKind", "case_count", "lone", "ml_profiles",
    "record",
]  # fmt: skip

ML, RING = "multi_lending", "ring"
FI, RA, LD = "freeze_inconsistency", "restored_after_freeze", "limit_divergence"
LR, LV = "linked_risk", "lender_velocity"


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


def record(
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


def ml_profiles(b: Builder, n: int) -> np.ndarray:
    """The multi-lending profiles of ring members: mostly open loans, some application bursts."""
    return b.rng.choice(
        np.array([Profile.ML_OPEN, Profile.ML_APPS7, Profile.ML_APPS30], dtype=np.int8),
        n,
        p=[0.7, 0.15, 0.15],
    )


def lone(profile: int, rule: str) -> Callable[[Builder, CaseKind, int], None]:
    def plant(b: Builder, kind: CaseKind, count: int) -> None:
        users = b.take_users(count)
        b.profile[users] = profile
        is_ml = profile in Profile.MULTI_LENDING
        found = [ML] if is_ml else [LV] if profile in Profile.LENDER_VELOCITY else []
        for u in users.tolist():
            record(b, kind, [u], [(t, [u]) for t in found], rule=rule)

    return plant


