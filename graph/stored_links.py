"""The user <-> device/identifier links kept between nights, hashed.

A nightly incremental run (:mod:`xpg.graph.nightly.run`) keeps the distinct links of the last
run as three integer columns: the user's position in the state's users table (``ui``),
the node's position in its nodes table (``ni``: ``nh``, the 64-bit hash of the node's
``(kind, value)``) and the earliest day the link was seen (``first``, days since
1970-01-01, :data:`~xpg.linkgraph.links.ALWAYS` when unknown). Positions, so that the
graph is rebuilt without a join (:meth:`Links.from_arrays
<xpg.linkgraph.links.Links.from_arrays>`); hashes, so that a node of a changed user is
found again.

Examples
--------
>>> user_hash(pl.Series(["u1"])).dtype
UInt64
"""

from __future__ import annotations

import polars as pl

from xpg.linkgraph.links import Links

__all__ = ["SEED", "hashed_nodes", "node_hash", "position_edges", "user_hash"]

SEED = 0x5DEECE66D
"""The seed of every hash kept between nights."""


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
    user, node, first = links.arrays()
    return pl.DataFrame({
        "ui": pl.Series(user, dtype=pl.Int32),
        "ni": pl.Series(node, dtype=pl.Int32),
        "first": pl.Series(first, dtype=pl.Int32),
    })
