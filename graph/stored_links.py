"""The user <-> device/identifier links kept between nights.

A nightly incremental run (:mod:`xpg.nightly`) keeps the distinct links of the last
run as three integer columns: the user's position in the state's users table (``ui``),
the node's position in its nodes table (``ni``: ``nh``, the 64-bit hash of the node's
``(kind, value)``, ``kind``, ``value``) and the earliest day the link was seen
(``first``, days since 1970-01-01, :data:`ALWAYS` when unknown). Positions, so that the
graph is rebuilt without a join; hashes, so that a node of a changed user is found
again. :class:`StoredLinks` turns such edges back into a
:class:`~xpg.linkgraph.links.Links`, so the ring rule runs on it unchanged: hubs are cut
over all users, the components span every user.

Examples
--------
>>> import numpy as np
>>> users = pl.Series("user_id", ["u1", "u2", "u3"])
>>> nodes = pl.DataFrame({"kind": ["device"], "value": ["d1"]})
>>> links = StoredLinks(users, nodes, np.array([0, 1]), np.array([0, 0]),
...                     np.array([ALWAYS, ALWAYS]))
>>> links.n_users, links.n_nodes, links.n_edges
(3, 1, 2)
"""

from __future__ import annotations

import numpy as np
import polars as pl

from xpg.linkgraph.links import Links

__all__ = ["ALWAYS", "SEED", "StoredLinks", "hashed_nodes", "node_hash", "position_edges",
           "user_hash"]

SEED = 0x5DEECE66D
"""The seed of every hash kept between nights."""

ALWAYS = int(np.iinfo(np.int32).min)
"""``first`` of a link seen on a row without ``first_seen``: it exists at any date."""


def user_hash(user_ids: pl.Series) -> pl.Series:
    """The 64-bit hash of each user id (``uh``)."""
    return user_ids.hash(SEED).alias("uh")


def node_hash(kind: pl.Expr, value: pl.Expr) -> pl.Expr:
    """The 64-bit hash of a node's ``(kind, value)`` (``nh``)."""
    return pl.struct(kind.alias("kind"), value.alias("value")).hash(SEED)


def hashed_nodes(links: Links) -> pl.DataFrame:
    """``nh``, ``kind``, ``value`` of every node of ``links``, in ``node_idx`` order."""
    return links.nodes.sort("node_idx").select(
        node_hash(pl.col("kind"), pl.col("value")).alias("nh"), "kind", "value")


def position_edges(links: Links) -> pl.DataFrame:
    """The distinct links of ``links`` as ``ui``, ``ni`` (its ``user_idx`` and
    ``node_idx``), ``first``."""
    return pl.DataFrame({
        "ui": pl.Series(links._user, dtype=pl.Int32),
        "ni": pl.Series(links._node, dtype=pl.Int32),
        "first": pl.Series(links._first, dtype=pl.Int32),
    })


class StoredLinks(Links):
    """A :class:`~xpg.linkgraph.links.Links` rebuilt from stored positions.

    Parameters
    ----------
    user_ids
        The users, by position (distinct).
    nodes
        ``kind``, ``value`` of every node, by position.
    user, node, first
        The distinct links: positions into ``user_ids`` and ``nodes``, earliest day.
    """

    def __init__(self, user_ids: pl.Series, nodes: pl.DataFrame, user: np.ndarray,
                 node: np.ndarray, first: np.ndarray):
        self.user_ids = user_ids
        self.nodes = nodes.select(pl.int_range(pl.len(), dtype=pl.Int64).alias("node_idx"),
                                  "kind", "value")
        self._user = np.asarray(user, dtype=np.int32)
        self._node = np.asarray(node, dtype=np.int32)
        self._first = np.asarray(first, dtype=np.int32)
        self._kept = {}
