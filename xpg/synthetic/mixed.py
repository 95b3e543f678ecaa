"""The mixed shape: a sparse, well-mixed identity graph with rings inside its giant group.

``xpg generate --shape mixed`` plants every case kind of the default shape
(:mod:`xpg.synthetic.kinds`): the ring-like groups stay small islands, judged
whole; every other user (lone multi-lenders, near misses, cross-product cases,
ordinary users) joins a *community* of 20-200 users. Each community user links to
2-4 of its community's devices, phones and bank cards, and a ``mixing`` share
of the links of users who are not multi-lenders go to another community's
nodes, so almost everyone ends up in one giant connected group. On top: a few
hubs of thousands of users (an emulator's default device id, a public IP, a
shop's tablet) and tens to hundreds (mid hubs), households sharing an address
and sometimes a phone, employers sharing an office IP.

Planted inside the giant group (:data:`MIXED_KINDS`): ``ring_community``, whole
communities made multi-lending, whose multi-lending members are chained on
devices of their own, a multi-lending core and so a ring under contract v2;
and the look-alikes ``decoy_community`` (fewer than half multi-lenders, no two
sharing a node), ``pair_in_group`` (two multi-lenders sharing a device: a core
of 2) and ``scattered_multilenders``.

The structure makes the truth known by construction: a multi-lender who is not
a ring member shares no non-hub node with any other multi-lender (its links go
to distinct nodes of its own community; households with two multi-lenders get
no shared phone), so the multi-lending cores of the giant group are exactly the
planted ring communities' multi-lenders, plus the pairs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from xpg.synthetic.builder import Builder
from xpg.synthetic.cases import LV, ML, RING, CaseKind, case_count, ml_profiles, record
from xpg.synthetic.catalogue import Profile
from xpg.synthetic.formats import device_id_of, expand, identifier_value_of
from xpg.synthetic.graph import DEVICE, HUB_MAX_USERS, link_graph, node_code
from xpg.synthetic.kinds import CASE_KINDS

__all__ = [
    "DEFAULT_MIXING",
    "ISLAND_KINDS",
    "MAX_GROUP_USERS",
    "MIXED_KINDS",
    "MIXED_MIN_USERS",
    "MixedGraph",
]

DEFAULT_MIXING = 0.2
"""The share of links (of users who are not multi-lenders) that run to another community."""
MIXED_MIN_USERS = 2_000
"""The fewest users of the mixed shape: a giant group of more than 50 users around a ring."""
MAX_GROUP_USERS = 50
"""Contract v2's default: larger connected groups are searched for multi-lending cores."""
ISLAND_KINDS = frozenset(k.name for k in CASE_KINDS
                         if {k.expect, k.must_not} - {ML, LV, None})
"""The default shape's kinds of linked users and of frozen accounts (rings, linked risk,
cross-product cases) and their look-alikes: small islands in the mixed shape too (inside a
community, a user frozen for fraud would make its neighbours ``linked_risk`` findings)."""


def _unplanted(b: Builder, kind: CaseKind, count: int) -> None:  # pragma: no cover
    raise AssertionError(f"{kind.name} is planted by MixedGraph")


def _kind(name, expect, must_not, per_million, description) -> CaseKind:
    return CaseKind(name, expect, must_not, per_million, _unplanted, description)


MIXED_KINDS: tuple[CaseKind, ...] = (
    _kind("ring_community", RING, None, 300,
          "a community of 20-60 users inside the giant group, 60-90% of them multi-lenders "
          "(mostly open loans at 4+ lenders) chained on devices of their own: its "
          "multi-lending members are a core, a ring"),
    _kind("decoy_community", None, RING, 100,
          "a community of 20-200 users inside the giant group with 30-49% multi-lenders, no "
          "two of whom share a non-hub device or identifier"),
    _kind("pair_in_group", None, RING, 300,
          "two multi-lenders inside the giant group sharing a device: a core of 2, too few"),
    _kind("scattered_multilenders", None, RING, 50,
          "10-30 multi-lenders scattered through the giant group, no two sharing a non-hub "
          "device or identifier"),
)  # fmt: skip
_RING, _DECOY, _PAIR, _SCATTERED = MIXED_KINDS

# community node kinds: device, phone, bank card (all link users by default)
_POOL_KINDS = ("device", "phone", "bank_card")
_POOL_P = (0.7, 0.15, 0.15)
_RING_ML_PROFILES = np.array([Profile.ML_OPEN, Profile.ML_OPEN4, Profile.ML_APPS7,
                              Profile.ML_APPS30], dtype=np.int8)  # fmt: skip
# the largest hubs, as shares of the community users: kind, share, what
_BIG_HUBS = (
    ("device", 0.03, "an emulator's default device id"),
    ("ip", 0.02, "a public IP (a carrier's NAT)"),
    ("device", 0.012, "a shop's shared tablet"),
)


def _fill(rng: np.random.Generator, total: int, lo: int, hi: int) -> np.ndarray:
    """Community sizes in ``[lo, hi]`` (log-normal around 50) that sum to ``total``."""
    sizes = np.empty(0, dtype=np.int64)
    while sizes.sum() < total:
        more = np.exp(rng.normal(np.log(50), 0.6, total // 40 + 8))
        sizes = np.concatenate([sizes, np.clip(np.round(more), lo, hi).astype(np.int64)])
    cut = int(np.searchsorted(np.cumsum(sizes), total))
    sizes = sizes[: cut + 1].copy()
    sizes[-1] -= int(sizes.sum()) - total
    if sizes[-1] < lo and sizes.size > 1:  # too small a remainder joins a community with room
        room = np.flatnonzero(sizes[:-1] <= hi - sizes[-1])
        sizes[room[0] if room.size else -2] += sizes[-1]
        sizes = sizes[:-1]
    return sizes


@dataclass
class _Community:
    users: np.ndarray  # community users, community by community
    comm: np.ndarray  # each one's community
    sizes: np.ndarray
    starts: np.ndarray  # offsets into users
    node_start: np.ndarray  # first pool node of each community
    nodes: np.ndarray  # pool nodes of each community


class MixedGraph:
    """Plants the mixed shape into a :class:`~xpg.synthetic.builder.Builder`, in three steps.

    :meth:`plant` (instead of :func:`~xpg.synthetic.kinds.plant_all`, before the users'
    own devices and identifiers), :meth:`connect` (after them: links every community user
    left outside the giant group to it) and :meth:`record` (the truth cases and the
    ``graph`` summary of ``truth.json``).
    """

    def __init__(self, b: Builder, mixing: float = DEFAULT_MIXING):
        self.b = b
        self.mixing = float(mixing)
        self.is_ml = np.zeros(b.n, dtype=bool)
        self.in_community = np.zeros(b.n, dtype=bool)

    # ------------------------------------------------------------------ plant
    def plant(self) -> None:
        b, r = self.b, self.b.rng
        island = np.zeros(b.n, dtype=bool)
        for kind in CASE_KINDS:
            if kind.per_million:
                before = b.users_taken
                kind.plant(b, kind, case_count(kind, b.n))
                if kind.name in ISLAND_KINDS:
                    island[b.taken_since(before)] = True
        counts = {k.name: case_count(k, b.n) for k in MIXED_KINDS}
        # ring and decoy communities: members ranked multi-lenders first
        self.ring_sizes = r.integers(20, 61, counts["ring_community"])
        self.ring_ml = np.round(self.ring_sizes * r.uniform(0.6, 0.9, self.ring_sizes.size))
        self.ring_ml = self.ring_ml.astype(np.int64)
        self.decoy_sizes = r.integers(20, 201, counts["decoy_community"])
        share = r.uniform(0.3, 0.49, self.decoy_sizes.size)
        self.decoy_ml = np.minimum(np.floor(self.decoy_sizes * share), (self.decoy_sizes - 1) // 2)
        self.decoy_ml = self.decoy_ml.astype(np.int64)
        ring_users = b.take_users(int(self.ring_sizes.sum()))
        decoy_users = b.take_users(int(self.decoy_sizes.sum()))
        self.pairs = b.take_users(2 * counts["pair_in_group"]).reshape(-1, 2)
        self.scattered_sizes = r.integers(10, 31, counts["scattered_multilenders"])
        scattered = b.take_users(int(self.scattered_sizes.sum()))
        self.ring_users, self.decoy_users, self.scattered = ring_users, decoy_users, scattered

        case_of, rank = expand(self.ring_sizes)
        ring_ml = ring_users[rank < self.ring_ml[case_of]]
        b.profile[ring_ml] = r.choice(_RING_ML_PROFILES, ring_ml.size, p=[0.8, 0.1, 0.05, 0.05])
        case_of, rank = expand(self.decoy_sizes)
        decoy_ml = decoy_users[rank < self.decoy_ml[case_of]]
        others_ml = np.concatenate([decoy_ml, self.pairs.ravel(), scattered])
        b.profile[others_ml] = ml_profiles(b, others_ml.size)
        self.is_ml = np.isin(b.profile, Profile.MULTI_LENDING)
        ring_member = np.zeros(b.n, dtype=bool)
        ring_member[ring_users] = True

        # communities: the ring and decoy ones, then everyone else not on an island, shuffled
        fixed = np.concatenate([ring_users, decoy_users])
        rest = np.ones(b.n, dtype=bool)
        rest[fixed] = False
        rest &= ~island
        rest_users = r.permutation(np.flatnonzero(rest))
        rest_sizes = _fill(r, rest_users.size, 20, 200)
        sizes = np.concatenate([self.ring_sizes, self.decoy_sizes, rest_sizes]).astype(np.int64)
        users = np.concatenate([fixed, rest_users])
        comm, _ = expand(sizes)
        self.in_community[users] = True
        n_ring, n_decoy = self.ring_sizes.size, self.decoy_sizes.size
        factor = np.ones(sizes.size)
        factor[n_ring : n_ring + n_decoy] = 2.0  # room for the decoys' distinct seats
        nodes = np.maximum(np.ceil(sizes * factor), 2).astype(np.int64)
        c = _Community(users, comm, sizes, np.cumsum(sizes) - sizes, np.cumsum(nodes) - nodes,
                       nodes)  # fmt: skip
        self.c = c
        self._pool(c)
        self._links(c, ring_member)
        self._spines_and_pairs(ring_users)
        self._households(c)
        self._employers(c)
        self._hubs(c)

    def _pool(self, c: _Community) -> None:
        """Each community's shared nodes: devices, phones and bank cards of fresh keys."""
        b, r = self.b, self.b.rng
        total = int(c.nodes.sum())
        kind = r.choice(len(_POOL_KINDS), total, p=_POOL_P)
        key = np.empty(total, dtype=np.int64)
        for j, name in enumerate(_POOL_KINDS):
            sel = kind == j
            key[sel] = b.new("device", int(sel.sum())) if name == "device" else b.new_keys(
                name, int(sel.sum()))  # fmt: skip
        self.pool_kind, self.pool_key = kind, key

    def _emit(self, users: np.ndarray, kind_names: tuple[str, ...], kind: np.ndarray,
              key: np.ndarray, days: int = 720) -> None:  # fmt: skip
        """Rows linking ``users[i]`` to node ``(kind_names[kind[i]], key[i])``."""
        for j, name in enumerate(kind_names):
            sel = kind == j
            if not sel.any():
                continue
            if name == "device":
                self.b.shared_device(users[sel], key[sel], days=days)
            else:
                self.b.identifier(users[sel], name, key[sel], days=days)

    def _links(self, c: _Community, ring_member: np.ndarray) -> None:
        """2-4 links per community user to pool nodes; multi-lenders outside the rings get
        distinct nodes of their own community, never shared with another multi-lender."""
        r = self.b.rng
        n_c = c.users.size
        k = r.choice(np.array([2, 3, 4]), n_c, p=[0.3, 0.4, 0.3])
        owner, _ = expand(k)
        u = c.users[owner]
        home = c.comm[owner]
        cross = (r.random(owner.size) < self.mixing) & ~self.is_ml[u]
        target = np.where(cross, c.comm[r.integers(0, n_c, owner.size)], home)
        node = c.node_start[target] + (r.random(owner.size) * c.nodes[target]).astype(np.int64)
        # seats: the links of multi-lenders outside the ring communities, community by community
        seat = self.is_ml[u] & ~ring_member[u]
        rows = np.flatnonzero(seat)
        rows = rows[np.argsort(home[rows], kind="stable")]
        hc = home[rows]
        run_start = np.flatnonzero(np.r_[True, hc[1:] != hc[:-1]])
        rank = np.arange(rows.size) - np.repeat(run_start, np.diff(np.r_[run_start, rows.size]))
        offset = r.integers(0, c.nodes)[hc]
        node[rows] = c.node_start[hc] + (offset + rank) % c.nodes[hc]
        keep = np.ones(owner.size, dtype=bool)
        keep[rows[rank >= c.nodes[hc]]] = False  # more seats than nodes: drop (connect() mends)
        self._emit(u[keep], _POOL_KINDS, self.pool_kind[node[keep]], self.pool_key[node[keep]])

    def _spines_and_pairs(self, ring_users: np.ndarray) -> None:
        """A ring community's multi-lenders chained m0-d0-m1-d1-m2...; a pair on one device."""
        b = self.b
        offsets = np.cumsum(self.ring_sizes) - self.ring_sizes
        link_case, link_rank = expand(self.ring_ml - 1)
        dev = b.new("device", link_case.size)
        left = ring_users[offsets[link_case] + link_rank]
        right = ring_users[offsets[link_case] + link_rank + 1]
        b.shared_device(np.concatenate([left, right]), np.concatenate([dev, dev]))
        self.spine_case, self.spine_dev = link_case, dev
        self.pair_dev = b.new("device", self.pairs.shape[0])
        b.shared_device(self.pairs.ravel(), np.repeat(self.pair_dev, 2))

    def _households(self, c: _Community) -> None:
        """Households of 2-5 neighbours: an address, and a phone when at most one multi-lends."""
        b, r = self.b, self.b.rng
        sizes = r.choice(np.array([1, 2, 3, 4, 5]), c.users.size,
                         p=[0.5, 0.22, 0.14, 0.09, 0.05])  # fmt: skip
        sizes = sizes[: int(np.searchsorted(np.cumsum(sizes), c.users.size)) + 1]
        hh, _ = expand(sizes)
        hh = hh[: c.users.size]
        # a household does not straddle two communities: cut it where the community changes
        cut = np.r_[False, (hh[1:] != hh[:-1]) | (c.comm[1:] != c.comm[:-1])]
        hh = np.cumsum(cut)
        users = c.users
        n_hh = int(hh[-1]) + 1
        size = np.bincount(hh, minlength=n_hh)
        shared = size[hh] >= 2
        addr = b.new_keys("address", n_hh)
        b.identifier(users[shared], "address", addr[hh[shared]])
        ml = np.bincount(hh, weights=self.is_ml[users], minlength=n_hh)
        phone_hh = (size >= 2) & (ml <= 1) & (r.random(n_hh) < 0.5)
        keys = b.new_keys("phone", n_hh)
        sel = phone_hh[hh]
        b.identifier(users[sel], "phone", keys[hh[sel]])
        self.n_households = int((size >= 2).sum())

    def _employers(self, c: _Community) -> None:
        """Employers of 5-20 users, anywhere, sharing an office IP (not a default link kind)."""
        b, r = self.b, self.b.rng
        sizes = r.integers(5, 21, max(1, c.users.size // 150))
        sizes = sizes[np.cumsum(sizes) <= c.users.size]
        staff = r.permutation(c.users)[: int(sizes.sum())]
        emp, _ = expand(sizes)
        b.identifier(staff, "ip", b.new_keys("ip", sizes.size)[emp], days=365)
        self.n_employers = int(sizes.size)

    def _hubs(self, c: _Community) -> None:
        """A few hubs of thousands of users and more of tens to hundreds, over everyone."""
        b, r = self.b, self.b.rng
        n_c = c.users.size
        big = [max(40, round(share * n_c)) for _, share, _ in _BIG_HUBS]
        n_mid = max(2, b.n // 50_000)
        top = np.log(max(60.0, 0.01 * n_c))
        mid = np.round(np.exp(r.uniform(np.log(25), top, n_mid))).astype(np.int64)
        kinds = [k for k, _, _ in _BIG_HUBS] + ["device" if j % 2 == 0 else "ip"
                                                 for j in range(n_mid)]  # fmt: skip
        whats = [w for _, _, w in _BIG_HUBS] + [
            "a shop's shared tablet" if j % 2 == 0 else "an office's public IP"
            for j in range(n_mid)
        ]
        sizes = np.minimum(np.array(big + mid.tolist(), dtype=np.int64), n_c)
        self.hubs: list[dict[str, Any]] = []
        for size, kind, what in zip(sizes.tolist(), kinds, whats, strict=True):
            users = c.users[r.choice(n_c, size, replace=False)]
            key = b.new("device", 1) if kind == "device" else b.new_keys(kind, 1)
            self._emit(users, (kind,), np.zeros(size, dtype=np.int64), np.repeat(key, size))
            self.hubs.append({"kind": kind, "key": int(key[0]), "users": size, "what": what})

    # ------------------------------------------------------------------ connect
    def connect(self) -> None:
        """Link every community user of a group of :data:`MAX_GROUP_USERS` users or fewer to
        one of the giant group's pool devices.

        So a ring community is always inside a large group, and no small group of community
        users can be a ring judged whole. A multi-lender gets a device no multi-lender uses,
        a distinct one each, so no two multi-lenders come to share a node."""
        b, r = self.b, self.b.rng
        g = link_graph(b)
        groups = g.groups()
        sizes = np.bincount(groups)
        giant = int(np.argmax(sizes))
        stranded = np.flatnonzero(self.in_community & (sizes[groups] <= MAX_GROUP_USERS))
        self.stranded = int(stranded.size)
        if not stranded.size:
            return
        dev = self.pool_key[self.pool_kind == 0]
        idx = g.index(node_code(DEVICE, dev))
        present = idx < g.codes.size
        present[present] = g.codes[idx[present]] == node_code(DEVICE, dev[present])
        ml_on = np.bincount(g.node, weights=self.is_ml[g.user], minlength=g.codes.size)
        ok = np.zeros(dev.size, dtype=bool)
        i = idx[present]
        ok[present] = (g.node_groups()[i] == giant) & (ml_on[i] == 0) & (
            g.node_users[i] <= HUB_MAX_USERS - 5)  # fmt: skip
        candidates = dev[ok]
        ml = stranded[self.is_ml[stranded]]
        other = stranded[~self.is_ml[stranded]]
        target = np.concatenate([
            r.choice(candidates, ml.size, replace=False),
            candidates[r.integers(0, candidates.size, other.size)],
        ])  # fmt: skip
        b.shared_device(np.concatenate([ml, other]), target)

    # ------------------------------------------------------------------ record
    def record(self) -> dict[str, Any]:
        """Record the mixed kinds' cases; returns the ``graph`` summary for ``truth.json``."""
        b = self.b
        g = link_graph(b)
        groups = g.groups()
        sizes = np.bincount(groups)
        seed = b.seed
        spine_names = device_id_of(self.spine_dev, seed)
        by_case = np.split(np.array(spine_names, dtype=object),
                           np.cumsum(np.bincount(self.spine_case, minlength=self.ring_sizes.size))
                           [:-1])  # fmt: skip
        for i, us in enumerate(np.split(self.ring_users, np.cumsum(self.ring_sizes)[:-1])):
            core = us[: self.ring_ml[i]].tolist()
            group = int(sizes[groups[core[0]]])
            if group <= MAX_GROUP_USERS:  # pragma: no cover - connect() puts it in the giant
                raise AssertionError("a ring community outside the giant group")
            record(b, _RING, core, [(RING, core)] + [(ML, [u]) for u in core],
                   community_size=int(us.size),
                   multi_lending_members=len(core), group_users=group,
                   core_devices=sorted(by_case[i].tolist()))  # fmt: skip
        for i, us in enumerate(np.split(self.decoy_users, np.cumsum(self.decoy_sizes)[:-1])):
            mls = us[: self.decoy_ml[i]].tolist()
            record(b, _DECOY, us.tolist(), [(ML, [u]) for u in mls], community_size=int(us.size),
                   multi_lending_members=len(mls),
                   group_users=int(sizes[groups[us[0]]]))  # fmt: skip
        pair_names = device_id_of(self.pair_dev, seed)
        for i, pair in enumerate(self.pairs.tolist()):
            record(b, _PAIR, pair, [(ML, [u]) for u in pair], size=2, multi_lending_members=2,
                   devices=[pair_names[i]], group_users=int(sizes[groups[pair[0]]]))  # fmt: skip
        for us in np.split(self.scattered, np.cumsum(self.scattered_sizes)[:-1]):
            record(b, _SCATTERED, us.tolist(), [(ML, [u]) for u in us.tolist()], size=int(us.size),
                   multi_lending_members=int(us.size))  # fmt: skip
        hubs = []
        for h in self.hubs:
            value = (device_id_of(np.array([h["key"]]), seed) if h["kind"] == "device"
                     else identifier_value_of(h["kind"], np.array([h["key"]])))[0]  # fmt: skip
            hubs.append({"kind": h["kind"], "value": value, "users": h["users"], "what": h["what"]})
        largest = int(sizes.max())
        return {
            "shape": "mixed",
            "mixing": self.mixing,
            "communities": int(self.c.sizes.size),
            "community_users": int(self.c.users.size),
            "island_users": int(b.n - self.c.users.size),
            "largest_group_users": largest,
            "largest_group_share": round(largest / b.n, 4),
            "groups_over_max": int((sizes > MAX_GROUP_USERS).sum()),
            "max_group_users": MAX_GROUP_USERS,
            "hub_max_users": HUB_MAX_USERS,
            "shared_links_per_user": round(g.shared_links_per_user(), 3),
            "households": self.n_households,
            "employers": self.n_employers,
            "small_group_users_joined": self.stranded,
            "hubs": hubs,
        }

