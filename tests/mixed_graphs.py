"""Small random mixed identity graphs for the cores tests and bench (numpy only).

Communities of 20-200 users; each user has 2-4 links, a share of them personal (a
node of one user), a share (``mixing``) to a node of another community, the rest to
a node of the user's own community; a few hub nodes of many users; some communities
made mostly multi-lending (planted rings) and multi-lenders scattered everywhere.
At the default mixing almost every user ends up in one giant connected group, as on a
real platform. This is a test/bench generator of its own (not ``xpg generate``).

``python`` use::

    g = mixed_graph(seed=1, n_users=2_000, hubs=3, rings=4)
    g.user, g.node, g.multi_lending          # the links and the ml mask
    g.dataset(...)                           # users/devices/identifiers tables
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl
from xpg.loaders.dataset import Dataset
from xpg.loaders.schema import TABLES

__all__ = ["KINDS", "MixedGraph", "mixed_graph"]

KINDS = ("device", "phone", "bank_card", "ip")
"""Node ``node_idx % 4`` is of kind ``KINDS[node_idx % 4]`` in :meth:`MixedGraph.dataset`."""


@dataclass(frozen=True)
class MixedGraph:
    n_users: int
    n_nodes: int
    user: np.ndarray  # user_idx of each link (distinct pairs)
    node: np.ndarray  # node_idx of each link
    multi_lending: np.ndarray  # bool per user
    community: np.ndarray  # community of each user
    planted: np.ndarray  # bool per user: a multi-lender of a planted ring community

    @property
    def user_ids(self) -> list[str]:
        return [f"u{i:07d}" for i in range(self.n_users)]

    def dataset(self, *, late: np.ndarray | None = None, as_of: dt.date | None = None) -> Dataset:
        """The graph as contract tables (users, devices, identifiers).

        Node ``n`` is ``KINDS[n % 4]``: a device ``d<n>`` or an identifier of that kind
        with value ``v<n>``. ``late`` (bool per link): those links are first seen the
        day after ``as_of`` (the others have no ``first_seen``).
        """
        ids = pl.Series("user_id", self.user_ids)
        first = pl.Series([None] * self.user.size, dtype=pl.Datetime("us"))
        if late is not None:
            day = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(9))
            first = pl.select(
                pl.when(pl.Series(late)).then(pl.lit(day, dtype=pl.Datetime("us")))
            ).to_series()
        links = pl.DataFrame(
            {
                "user_id": ids.gather(self.user),
                "kind": pl.Series(np.array(KINDS)[self.node % len(KINDS)]),
                "node": self.node,
                "first_seen": first,
            }
        )
        devices = links.filter(pl.col("kind") == "device").select(
            "user_id",
            ("d" + pl.col("node").cast(pl.String)).alias("device_id"),
            "first_seen",
            pl.lit(None, dtype=pl.Datetime("us")).alias("last_seen"),
        )
        identifiers = links.filter(pl.col("kind") != "device").select(
            "user_id",
            "kind",
            ("v" + pl.col("node").cast(pl.String)).alias("value"),
            "first_seen",
            pl.lit(None, dtype=pl.Datetime("us")).alias("last_seen"),
        )
        users = pl.DataFrame({"user_id": ids}).with_columns(
            pl.lit(None, dtype=pl.Datetime("us")).alias("registered_at"),
            pl.lit(None, dtype=pl.Int64).alias("credit_score"),
        )
        frames = {name: TABLES[name].empty() for name in TABLES}
        frames["users"] = _conform(users, "users")
        frames["devices"] = _conform(devices, "devices")
        frames["identifiers"] = _conform(identifiers, "identifiers")
        return Dataset(**frames, present=frozenset(["users", "devices", "identifiers"]))


def _conform(frame: pl.DataFrame, table: str) -> pl.DataFrame:
    schema = TABLES[table].schema
    return frame.select(pl.col(c).cast(t) for c, t in schema.items())


def mixed_graph(
    seed: int,
    n_users: int,
    *,
    community: tuple[int, int] = (20, 200),
    links: tuple[int, int] = (2, 4),
    mixing: float = 0.2,
    personal: float = 0.3,
    hubs: int = 0,
    hub_users: tuple[int, int] = (21, 2000),
    rings: int = 0,
    ring_ml: float = 0.8,
    scattered_ml: float = 0.02,
) -> MixedGraph:
    """A random mixed graph (see the module docstring); the same seed gives the same graph."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(community[0], community[1] + 1, size=n_users // community[0] + 1)
    bounds = np.cumsum(sizes)
    comm = np.searchsorted(bounds, np.arange(n_users), side="right")
    n_comm = int(comm.max()) + 1
    pool = np.maximum(2, np.bincount(comm, minlength=n_comm) // 2)
    pool_start = np.concatenate([[0], np.cumsum(pool)[:-1]])
    k = rng.integers(links[0], links[1] + 1, size=n_users)
    user = np.repeat(np.arange(n_users), k)
    r = rng.random(user.size)
    target = np.where(r < personal + mixing, rng.integers(0, n_comm, user.size), comm[user])
    node = pool_start[target] + (rng.random(user.size) * pool[target]).astype(np.int64)
    is_personal = r < personal
    n_pool = int(pool.sum())
    node[is_personal] = n_pool + np.arange(int(is_personal.sum()))
    n_nodes = n_pool + int(is_personal.sum())
    parts_u, parts_n = [user], [node]
    for h in range(hubs):  # a few heavy-tailed hubs (a loop over hubs, not users)
        size = int(hub_users[0] * (hub_users[1] / hub_users[0]) ** rng.random())
        parts_u.append(rng.integers(0, n_users, size))  # repeats dropped below
        parts_n.append(np.full(parts_u[-1].size, n_nodes + h))
    n_nodes += hubs
    pairs = np.sort(np.concatenate(parts_n) * n_users + np.concatenate(parts_u))
    pairs = pairs[np.r_[True, pairs[1:] != pairs[:-1]]]  # distinct (np.unique hashes: slower)
    node, user = pairs // n_users, pairs % n_users
    planted_comm = np.zeros(n_comm, dtype=bool)
    if rings:
        planted_comm[rng.choice(n_comm, min(rings, n_comm), replace=False)] = True
    planted = planted_comm[comm] & (rng.random(n_users) < ring_ml)
    ml = planted | (rng.random(n_users) < scattered_ml)
    return MixedGraph(n_users, n_nodes, user, node, ml, comm, planted)


