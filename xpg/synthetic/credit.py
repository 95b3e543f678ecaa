"""External loans and applications of every user, by credit profile (synthetic generator).

Ordinary users hold live loans at no more than 3 distinct lenders and apply
to at most 2 lenders within 30 days; the multi-lending profiles and the near
misses get exactly the loans and applications their :class:`Profile` names.
"""

from __future__ import annotations

import numpy as np

from xpg.synthetic.builder import Builder
from xpg.synthetic.catalogue import APP_TEMPLATES, DAY, N_LENDERS, NULL_TIME, STRIDES, Profile
from xpg.synthetic.formats import expand, mix64

__all__ = ["applications", "apply_profiles", "loans"]


def apply_profiles(b: Builder) -> None:
    """External loans and applications of every user, by credit profile."""
    users = np.arange(b.n)
    profile = b.profile
    loans(b, users, profile)
    applications(b, users, profile)

# ---------------------------------------------------------------------------- loans, applications


def _lender_of(b: Builder, owner_key: np.ndarray, slot: np.ndarray, salt: int) -> np.ndarray:
    """The ``slot``-th of a user's distinct lenders: distinct slots give distinct lenders."""
    h = mix64(owner_key, b.seed * 1_000_003 + salt)
    start = (h % np.uint64(N_LENDERS)).astype(np.int64)
    stride = STRIDES[((h >> np.uint64(32)) % np.uint64(STRIDES.size)).astype(np.int64)]
    return ((start + slot * stride) % N_LENDERS).astype(np.int16)


_VELOCITY_ONLY = (Profile.LV3, Profile.LV_OUT31, Profile.LV2_OLD)


def _history_apart(b: Builder, profile: np.ndarray, u: np.ndarray, lender: np.ndarray, *,
                   first_slot: int) -> np.ndarray:
    """``lender``, except for the rows of users whose profile plants recent applications:
    theirs are moved to lenders of slots from ``first_slot`` on, which their planted
    applications (slots 0-5) never use, so the planted lenders are new to them as planned
    (the draws are kept: the rest of the data is unchanged)."""
    planted = np.isin(profile[u], list(APP_TEMPLATES))
    if not planted.any():
        return lender
    rows = np.flatnonzero(planted)
    # the k-th such row of a user takes slot first_slot + k
    who = u[rows]
    order = np.argsort(who, kind="stable")
    ranks = np.empty(rows.size, dtype=np.int64)
    sorted_who = who[order]
    starts = np.r_[0, np.flatnonzero(np.diff(sorted_who)) + 1]
    ranks[order] = np.arange(rows.size) - np.repeat(starts, np.diff(np.r_[starts, rows.size]))
    out = lender.copy()
    out[rows] = _lender_of(b, who, first_slot + ranks, 2)
    return out


def loans(b: Builder, users: np.ndarray, profile: np.ndarray) -> None:
    r = b.rng
    n = users.size
    live = np.zeros(n, dtype=np.int64)  # open/overdue/written-off loans at distinct lenders
    live_status = np.full(n, -1, dtype=np.int64)  # -1: random (ordinary); else a fixed status
    ordinary = np.isin(profile, [Profile.ORDINARY, Profile.ML_APPS7, Profile.ML_APPS30,
                                 Profile.NM_APPS7, Profile.NM_APPS30, Profile.NM_OUT7,
                                 Profile.NM_OUT30, *_VELOCITY_ONLY])  # fmt: skip
    live[ordinary] = r.choice(4, ordinary.sum(), p=[0.35, 0.35, 0.22, 0.08])
    ml = profile == Profile.ML_OPEN
    live[ml] = r.integers(4, 8, ml.sum())
    live[profile == Profile.ML_OPEN4] = 4
    live[np.isin(profile, [Profile.ML_OPEN_OVERDUE, Profile.NM_OPEN3, Profile.NM_CLOSED])] = 3
    live_status[~ordinary] = 0  # open
    # rows at distinct lenders
    owner, slot = expand(live)
    status = np.where(
        live_status[owner] >= 0,
        live_status[owner],
        r.choice(np.array([0, 1, 3]), owner.size, p=[0.9, 0.07, 0.03]),
    )
    parts = [(owner, slot, status)]
    # the planted extras
    for prof, extra in (
        (Profile.ML_OPEN_OVERDUE, [(3, 1)]),  # slot 3 overdue
        (Profile.NM_OPEN3, [(0, 0), (1, 0)]),  # two more open loans at lenders already held
        (Profile.NM_CLOSED, [(3, 3), (4, 2), (5, 2)]),  # written off, closed, closed
    ):
        who = np.flatnonzero(profile == prof)
        for s, st in extra:
            parts.append((who, np.full(who.size, s), np.full(who.size, st)))
    owner = np.concatenate([p[0] for p in parts])
    slot = np.concatenate([p[1] for p in parts])
    status = np.concatenate([p[2] for p in parts]).astype(np.int8)
    u = users[owner]
    lender = _lender_of(b, u, slot, salt=1)
    # closed loans, anywhere (ordinary history of everyone)
    n_closed = np.minimum(r.poisson(0.45, n), 4)
    c_owner, _ = expand(n_closed)
    cu = users[c_owner]
    u = np.concatenate([u, cu])
    lender = np.concatenate([lender, r.integers(0, N_LENDERS, cu.size).astype(np.int16)])
    status = np.concatenate([status, np.full(cu.size, 2, dtype=np.int8)])
    m = u.size
    amount = b.loan_amounts(m)
    closed_like = status == 2
    # live loans opened in the last 3 years, closed ones 1-6 years ago
    opened = np.where(
        closed_like, b.today - r.integers(365, 6 * 365, m), b.today - r.integers(0, 3 * 365, m)
    )
    # a live loan opened within the last 30 days would make its lender new (lender_velocity):
    # no profile plants those, so they are moved 31 days back (no draw changes)
    opened = np.where(~closed_like & (opened > b.today - 31), opened - 31, opened)
    closed = np.where(
        closed_like, np.minimum(opened + r.integers(30, 1_080, m), b.today), NULL_TIME
    )
    frac = np.select(
        [status == 0, status == 1, status == 3],
        [r.uniform(0.05, 1.0, m), r.uniform(0.3, 1.0, m), r.uniform(0.5, 1.0, m)],
        0.0,
    )
    lender = _history_apart(b, profile, u, lender, first_slot=8)
    b.add("external_loans", user=u, lender=lender, opened=opened, amount=amount,
          outstanding=np.round(amount * frac, 2), status=status, closed=closed)  # fmt: skip


def applications(b: Builder, users: np.ndarray, profile: np.ndarray) -> None:
    r = b.rng
    n = users.size
    # history: applications more than 30 days ago, anywhere
    n_old = np.minimum(r.poisson(0.8, n), 6)
    owner, _ = expand(n_old)
    u = users[owner]
    at = b.between(b.t0 - 720 * DAY, b.t0 - 31 * DAY + np.zeros(u.size, dtype=np.int64))
    lender = _history_apart(b, profile, u, r.integers(0, N_LENDERS, u.size).astype(np.int16),
                            first_slot=20)
    b.add(
        "applications",
        user=u,
        lender=lender,
        at=at,
        outcome=r.choice(3, u.size, p=[0.55, 0.4, 0.05]).astype(np.int8),
    )
    # ordinary recent applications: at most 2 rows in the last 30 days (so <= 2 lenders)
    ordinary = np.flatnonzero(profile == Profile.ORDINARY)
    n_recent = r.choice(3, ordinary.size, p=[0.86, 0.11, 0.03])
    owner, _ = expand(n_recent)
    u = users[ordinary[owner]]
    b.add(
        "applications",
        user=u,
        lender=r.integers(0, N_LENDERS, u.size).astype(np.int16),
        at=b.between(b.t0 - 29 * DAY + np.zeros(u.size, dtype=np.int64), b.now),
        outcome=r.choice(3, u.size, p=[0.5, 0.3, 0.2]).astype(np.int8),
    )
    # planted bursts and near misses
    for prof, template in APP_TEMPLATES.items():
        who = users[profile == prof]
        for s, days_back, second in template:
            at = b.at(np.full(who.size, days_back), second, size=who.size)
            b.add(
                "applications",
                user=who,
                lender=_lender_of(b, who, np.full(who.size, s), 2),
                at=at,
                outcome=r.choice(3, who.size, p=[0.4, 0.4, 0.2]).astype(np.int8),
            )

