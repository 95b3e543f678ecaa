"""The link graph of generated data, on integer keys: hubs, connected groups, shared links.

The synthetic generator's mixed shape (:mod:`xpg.synthetic.mixed`) uses this to
connect stranded users to the giant group and to describe the graph in
``truth.json``. It reads the builder's integer rows, not the contract's strings,
and follows the contract's default ring links: devices and the identifier kinds
``phone``, ``bank_card`` and ``id_number``, a node linked to more than
:data:`HUB_MAX_USERS` distinct users being a hub, left out.

Examples
--------
>>> import datetime as dt
>>> from xpg.synthetic.builder import Builder
>>> b = Builder(4, seed=1, as_of=dt.date(2026, 11, 20))
>>> b.shared_device(np.array([0, 1, 2]), np.array([7, 7, 8]))
>>> g = link_graph(b)
>>> g.groups().tolist()  # users 0 and 1 share device 7; 2 and 3 are alone
[0, 0, 1, 2]
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from xpg.synthetic.catalogue import IDENTIFIER_KINDS, code

if TYPE_CHECKING:
    from xpg.synthetic.builder import Builder

__all__ = ["DEVICE", "HUB_MAX_USERS", "LINK_KINDS", "LinkGraph", "link_graph", "node_code"]

HUB_MAX_USERS = 20
"""The contract's default hub cut: a node linked to more distinct users than this is a hub."""
LINK_KINDS = ("phone", "bank_card", "id_number")
"""The identifier kinds that link users by default (devices always do)."""
DEVICE = -1
"""The kind code of devices in :func:`node_code` (identifier kinds use their catalogue code)."""
_KEY_BITS = 40


def node_code(kind: int | np.ndarray, key: np.ndarray) -> np.ndarray:
    """One integer per node: its kind (:data:`DEVICE` or an identifier kind code) and key."""
    return (np.asarray(kind, dtype=np.int64) + 1 << _KEY_BITS) + np.asarray(key, dtype=np.int64)


@dataclass(frozen=True)
class LinkGraph:
    """Distinct (user, node) links of ``n`` users over ``codes.size`` nodes."""

    n: int
    user: np.ndarray  # user index of each link
    node: np.ndarray  # dense node index of each link, into ``codes``
    codes: np.ndarray  # sorted node codes (:func:`node_code`)

    @cached_property
    def node_users(self) -> np.ndarray:
        """Distinct users linked to each node."""
        return np.bincount(self.node, minlength=self.codes.size)

    def index(self, codes: np.ndarray) -> np.ndarray:
        """Dense node indexes of node codes (each must be a node of the graph)."""
        return np.searchsorted(self.codes, codes)

    @cached_property
    def _labels(self) -> np.ndarray:
        keep = (self.node_users >= 2) & (self.node_users <= HUB_MAX_USERS)
        sel = keep[self.node]
        size = self.n + self.codes.size
        m = coo_matrix(
            (np.ones(int(sel.sum()), dtype=np.int8), (self.user[sel], self.n + self.node[sel])),
            shape=(size, size),
        )
        _, labels = connected_components(m, directed=False)
        # scipy numbers components from the lowest vertex up: users first, in order
        out = np.full(size, -1, dtype=np.int64)
        out[: self.n] = labels[: self.n]
        # a node's group is its users' group (-1 for hubs and unshared nodes)
        node_label = np.full(self.codes.size, -1, dtype=np.int64)
        node_label[self.node[sel]] = out[self.user[sel]]
        out[self.n :] = node_label
        return out

    def groups(self) -> np.ndarray:
        """The connected group of each user over the shared non-hub nodes (0, 1, ...)."""
        return self._labels[: self.n]

    def node_groups(self) -> np.ndarray:
        """The group of each node's users, -1 for hubs and nodes of one user."""
        return self._labels[self.n :]

    def group_sizes(self) -> np.ndarray:
        return np.bincount(self.groups())

    def shared_links_per_user(self) -> float:
        """Mean number of nodes per user that are linked to at least one other user."""
        return float((self.node_users[self.node] >= 2).sum() / self.n)


def link_graph(b: Builder) -> LinkGraph:
    """The default-kind link graph of the builder's device and identifier rows so far."""
    d = b.table("devices")
    i = b.table("identifiers")
    kinds = np.array([code(IDENTIFIER_KINDS, k) for k in LINK_KINDS])
    sel = np.isin(i["kind"], kinds)
    codes = np.concatenate(
        [node_code(DEVICE, d["device"]), node_code(i["kind"][sel], i["key"][sel])]
    )
    users = np.concatenate([d["user"], i["user"][sel]]).astype(np.int64)
    nodes, dense = _dense(codes)
    pair = _distinct(dense * b.n + users)
    return LinkGraph(n=b.n, user=pair % b.n, node=pair // b.n, codes=nodes)


def _distinct(x: np.ndarray) -> np.ndarray:
    """The sorted distinct values of ``x`` (by sorting: cheaper here than a hash table)."""
    x = np.sort(x)
    return x[np.r_[True, x[1:] != x[:-1]]] if x.size else x


def _dense(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The sorted distinct values of ``x`` and the index of each element among them."""
    order = np.argsort(x)
    s = x[order]
    first = np.r_[True, s[1:] != s[:-1]] if s.size else np.zeros(0, dtype=bool)
    dense = np.empty(x.size, dtype=np.int64)
    dense[order] = np.cumsum(first) - 1
    return s[first], dense
