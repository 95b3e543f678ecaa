"""Multi-lending cores of large connected groups (data contract v2: large groups).

Real identity graphs are sparse and well mixed, so most users end up in one giant
connected group that is never a ring when judged whole. Contract v2 judges a group
whole only when it has at most ``max_group_users`` users; a larger group is searched
for its **multi-lending cores**: the connected groups of its ``multi_lending`` members
alone, over the kept (non-hub) devices and identifiers that two of them share. A hub
is still a node linked to more than ``hub_max_users`` users *in all* (multi-lenders or
not): the hub cut happens before (in memory :meth:`xpg.linkgraph.links.Links.kept`, in
Neo4j statement ``ring_core_links`` of ``graph/neo4j/cypher/cores.cypher``), and this
module only reads the links it kept.

The ring rule (:meth:`xpg.queries.rules.ring.Ring.candidates`) runs the same three
steps on every backend: :func:`searched_members` of its connected groups (form
``ring_groups``), the kept links of those users (form ``ring_core_links``: one read),
then :func:`link_cores` (numpy masks and
:func:`~xpg.linkgraph.components.bipartite_components`, scipy in C: no Python loop over
users, groups or cores) and :func:`combine_candidates`.

Identity of a candidate ring (the ``group`` column of :func:`combine_candidates`):

* a group judged whole keeps the id its backend gave it in ``ring_groups`` (in memory its
  component label as a string: ``"0"``, ``"7"``, ...);
* a core is named ``"core:" + its smallest member user_id`` (:data:`CORE_PREFIX`): derived
  from its members only, so the same core gets the same id on every run and every
  backend. Cores are disjoint and lie in groups that are not returned whole, so no two
  candidates share an id.

The ring finding's id is derived from its members, as for every ring
(:func:`xpg.queries.findings.stable_id` of the sorted user ids), so a core's finding id
is stable across nights exactly as a whole group's is.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import polars as pl

from xpg.linkgraph.components import bipartite_components

__all__ = [
    "CORE_PREFIX",
    "MAX_GROUP_USERS",
    "combine_candidates",
    "link_cores",
    "searched_members",
]

CORE_PREFIX = "core:"
"""Prefix of a core's group id: ``"core:" + its smallest member user_id``."""

MAX_GROUP_USERS = 50
"""Default ``max_group_users``: larger connected groups are searched for cores."""


def _shared_components(n_users: int, u: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Components of users ``0..n_users-1`` over the nodes two of the links' users share."""
    if u.size:
        # distinct (node, user) pairs, then the nodes that two of these users share
        pairs = np.sort(n * n_users + u)
        pairs = pairs[np.r_[True, pairs[1:] != pairs[:-1]]]
        n, u = pairs // n_users, pairs % n_users
        shared = np.bincount(n)[n] >= 2
        u, n = u[shared], n[shared]
    return bipartite_components(n_users, int(n.max()) + 1 if n.size else 1, u, n)


def link_cores(links: pl.DataFrame, searched: pl.DataFrame, *, min_users: int = 3
               ) -> pl.DataFrame:
    """The cores of the searched users from their kept links.

    This is the core step every backend shares: the backend reads the kept links of
    the searched users (form ``ring_core_links`` of the ring rule: one read, no
    search in the database), and the components are computed here, in numpy/scipy.

    Parameters
    ----------
    links
        ``user_id``, ``kind``, ``value``: kept links (hubs already cut, counting every
        user of a node) of the searched users. Links of other users, repeated rows and
        nodes linked to one searched user only are harmless.
    searched
        ``user_id``, ``group_users``: the searched users (:func:`searched_members`).
    min_users
        The fewest users of a core that is returned.

    Returns
    -------
    polars.DataFrame
        ``group`` (``"core:" +`` the core's smallest user_id), ``user_id``,
        ``group_users``: one row per member of every core of ``min_users`` or more
        users, sorted by group and user_id (what :func:`combine_candidates` takes).

    Notes
    -----
    Two joins, a sort and :func:`~xpg.linkgraph.components.bipartite_components`: O(links).

    Examples
    --------
    >>> import polars as pl
    >>> links = pl.DataFrame({"user_id": ["b", "a", "c", "c", "d", "x"],
    ...                       "kind": ["device"] * 6,
    ...                       "value": ["d1", "d1", "d1", "d2", "d2", "d2"]})
    >>> searched = pl.DataFrame({"user_id": ["a", "b", "c", "d"], "group_users": [60] * 4})
    >>> link_cores(links, searched).rows()[0], link_cores(links, searched).height
    (('core:a', 'a', 60), 4)
    """
    users = (searched.select(pl.col("user_id").cast(pl.String), pl.col("group_users")
                             .cast(pl.Int64)).unique("user_id").sort("user_id")
             .with_row_index("u"))
    coded = links.select(pl.col("user_id").cast(pl.String), "kind", "value").join(
        users.select("u", "user_id"), on="user_id")
    nodes = coded.select("kind", "value").unique().with_row_index("n")
    coded = coded.join(nodes, on=["kind", "value"])
    u = coded.get_column("u").to_numpy().astype(np.int64)
    n = coded.get_column("n").to_numpy().astype(np.int64)
    labels = _shared_components(users.height, u, n)
    # labels follow the smallest u, the users are sorted: the first member is the smallest
    return (
        users.with_columns(pl.Series("core", labels, dtype=pl.Int64))
        .filter(pl.len().over("core") >= min_users)
        .select(
            (pl.lit(CORE_PREFIX) + pl.col("user_id").first().over("core")).alias("group"),
            "user_id",
            "group_users",
        )
        .sort("group", "user_id")
    )


def _id_series(user_ids: Iterable[str] | pl.Series) -> pl.Series:
    if isinstance(user_ids, pl.Series):
        return user_ids.cast(pl.String)
    return pl.Series(list(user_ids), dtype=pl.String)


def searched_members(
    groups: pl.DataFrame,
    multi_lending: Iterable[str] | pl.Series,
    *,
    max_group_users: int = MAX_GROUP_USERS,
) -> pl.DataFrame:
    """The users whose cores are searched: multi-lenders of groups of more than
    ``max_group_users`` users, from a frame of connected groups.

    Their ``user_id`` column is what form ``ring_core_links`` is asked for (in Neo4j
    ``$user_ids`` of statement ``ring_core_links``, ``graph/neo4j/cypher/cores.cypher``), and
    the frame is what :func:`link_cores` takes as ``searched``.

    Parameters
    ----------
    groups
        ``group`` (any id of a connected group), ``user_id``: one row per member of
        every group that may be large (e.g. the ``ring_groups`` frame: every group of
        ``min_users`` or more).
    multi_lending
        The user ids of the ``multi_lending`` users.
    max_group_users
        Groups of more users than this are searched.

    Returns
    -------
    polars.DataFrame
        ``user_id`` (String), ``group_users`` (Int64: the size of the user's group),
        sorted by ``user_id``.

    Notes
    -----
    One ``group_by`` count and a semi join: O(rows).

    Examples
    --------
    >>> import polars as pl
    >>> groups = pl.DataFrame({"group": ["g", "g", "g", "h", "h"],
    ...                        "user_id": ["a", "b", "c", "d", "e"]})
    >>> searched_members(groups, ["c", "a", "d"], max_group_users=2).rows()
    [('a', 3), ('c', 3)]
    """
    ml = pl.DataFrame({"user_id": _id_series(multi_lending)})
    return (
        groups.select(
            pl.col("user_id").cast(pl.String),
            pl.len().over("group").cast(pl.Int64).alias("group_users"),
        )
        .filter(pl.col("group_users") > max_group_users)
        .join(ml, on="user_id", how="semi")
        .unique("user_id")
        .sort("user_id")
    )


def combine_candidates(
    groups: pl.DataFrame,
    cores: pl.DataFrame,
    *,
    max_group_users: int = MAX_GROUP_USERS,
) -> pl.DataFrame:
    """The candidate rings from a backend's connected groups and the cores found in them:
    the groups of at most ``max_group_users`` users whole, then the cores.

    Parameters
    ----------
    groups
        ``group``, ``user_id``: every connected group of ``min_users`` or more users.
    cores
        ``group``, ``user_id``, ``group_users``: the members of the cores of
        ``min_users`` or more users (the rows of :func:`link_cores`).
    max_group_users
        Groups of more users than this are left out (their cores stand for them).

    Returns
    -------
    polars.DataFrame
        ``group`` (String), ``user_id`` (String), ``core`` (Boolean), ``group_users``
        (Int64: the size of the connected group the candidate is, or was found in): the
        whole groups in the order given, then the cores sorted by group and user.

    Notes
    -----
    One windowed count and a concatenation: O(rows).

    Examples
    --------
    >>> import polars as pl
    >>> groups = pl.DataFrame({"group": ["a"] * 3 + ["b"] * 5,
    ...                        "user_id": ["u1", "u2", "u3", "v1", "v2", "v3", "v4", "v5"]})
    >>> cores = pl.DataFrame({"group": ["core:v2"] * 3, "user_id": ["v4", "v2", "v3"],
    ...                       "group_users": [5] * 3})
    >>> combine_candidates(groups, cores, max_group_users=4).rows()[2:4]
    [('a', 'u3', False, 3), ('core:v2', 'v2', True, 5)]
    """
    size = pl.len().over("group").cast(pl.Int64)
    whole = groups.select(
        pl.col("group").cast(pl.String),
        pl.col("user_id").cast(pl.String),
        pl.lit(False).alias("core"),
        size.alias("group_users"),
    ).filter(pl.col("group_users") <= max_group_users)
    found = cores.select(
        pl.col("group").cast(pl.String),
        pl.col("user_id").cast(pl.String),
        pl.lit(True).alias("core"),
        pl.col("group_users").cast(pl.Int64),
    ).sort("group", "user_id")
    return pl.concat([whole, found])
