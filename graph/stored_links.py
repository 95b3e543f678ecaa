"""The user <-> device/identifier links kept between nights, keyed by hashes.

A nightly incremental run (:mod:`xpg.nightly`) keeps the distinct links of the last
run as three integer columns (:func:`hashed_edges`): the 64-bit hash of the user id
(``uh``), the 64-bit hash of the node's ``(kind, value)`` (``nh``) and the earliest
day the link was seen (``first``, days since 1970-01-01, :data:`ALWAYS` when
unknown), and the nodes as ``nh``, ``kind``, ``value`` (:func:`hashed_nodes`).
Hashes instead of row numbers, so that users and nodes keep their key when others
come and go. :class:`StoredLinks` turns such edges back into a
:class:`~xpg.graph.links.Links` over the new night's users, so the ring rule runs on
it unchanged: hubs are cut over all users, the components span every user.

Examples
--------
>>> import polars as pl
>>> users = pl.Series("user_id", ["u1", "u2", "u3"])
>>> nodes = pl.DataFrame({"kind": ["device"], "value": ["d1"]})
>>> nodes = nodes.with_columns(node_hash(pl.col("kind"), pl.col("value")).alias("nh"))
>>> edges = pl.DataFrame({"uh": user_hash(users).gather([0, 1]),
...                       "nh": [nodes["nh"][0]] * 2, "first": [ALWAYS, ALWAYS]})
>>> links = StoredLinks(users, nodes, edges)
>>> links.n_users, links.n_nodes, links.n_edges
(3, 1, 2)
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
from xpg.graph.links import Links

__all__ = ["ALWAYS", "SEED", "StoredLinks", "hashed_edges", "hashed_nodes", "node_hash",
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
    return links.nodes.select(node_hash(pl.col("kind"), pl.col("value")).alias("nh"),
                              "kind", "value")


def hashed_edges(links: Links, nodes: pl.DataFrame | None = None) -> pl.DataFrame:
    """The distinct links of ``links`` as ``uh``, ``nh``, ``first`` (see the module
    docstring); ``nodes`` is :func:`hashed_nodes` of ``links`` when already computed."""
    nh = (nodes if nodes is not None else hashed_nodes(links)).get_column("nh")
    uh = user_hash(links.user_ids)
    return pl.DataFrame({
        "uh": uh.gather(links._user),
        "nh": nh.gather(links._node),
        "first": pl.Series(links._first, dtype=pl.Int32),
    })


class StoredLinks(Links):
    """A :class:`~xpg.graph.links.Links` rebuilt from hashed edges.

    Parameters
    ----------
    user_ids
        The users, in ``user_idx`` order (distinct; their hashes too).
    nodes
        ``nh``, ``kind``, ``value``: every node an edge names (distinct hashes).
    edges
        ``uh``, ``nh``, ``first``: distinct links; those of users not in ``user_ids`` are
        left out.
    """

    def __init__(self, user_ids: pl.Series, nodes: pl.DataFrame, edges: pl.DataFrame):
        self.user_ids = user_ids
        users = pl.DataFrame({"uh": user_hash(user_ids),
                              "user_idx": pl.int_range(user_ids.len(), eager=True,
                                                       dtype=pl.Int64)})
        nodes = nodes.sort("nh")
        index = nodes.select(pl.col("nh"), pl.int_range(pl.len(), dtype=pl.Int64).alias("node_idx"))
        coded = (
            edges.lazy()
            .join(users.lazy(), on="uh", how="inner")
            .join(index.lazy(), on="nh", how="inner")
            .select("node_idx", "user_idx", "first")
            .sort("node_idx", "user_idx")
            .collect()
        )
        self.nodes = nodes.select(pl.int_range(pl.len(), dtype=pl.Int64).alias("node_idx"),
                                  "kind", "value")
        self._node = coded.get_column("node_idx").to_numpy().astype(np.int32)
        self._user = coded.get_column("user_idx").to_numpy().astype(np.int32)
        self._first = coded.get_column("first").to_numpy().astype(np.int32)
        self._kept: dict[tuple[dt.date, tuple[str, ...], int], object] = {}  # type: ignore[assignment]
