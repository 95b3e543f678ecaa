"""Multi-lending cores of large connected groups (data contract v2: large groups).

Real identity graphs are sparse and well mixed, so most users end up in one giant
connected group that is never a ring when judged whole. Contract v2 judges a group
whole only when it has at most ``max_group_users`` users; a larger group is searched
for its **multi-lending cores**: the connected groups of its ``multi_lending`` members
alone, over the kept (non-hub) devices and identifiers that two of them share. A hub
is still a node linked to more than ``hub_max_users`` users *in all* (multi-lenders or
not): the hub cut happens before, in :meth:`xpg.graph.links.Links.kept`, and this
module only reads the links it kept.

Everything is integer-encoded as in :mod:`xpg.graph.links` (``user_idx``,
``node_idx``) and computed with numpy masks and :func:`~xpg.graph.components.bipartite_components`
(scipy, in C): no Python loop over users, groups or cores.

Identity of a candidate ring (the ``group`` column of :func:`ring_candidates`):

* a group judged whole keeps the id it has today: its component label as a string
  (``"0"``, ``"7"``, ...), exactly as the ``ring_groups`` frame of the in-memory backend;
* a core is named ``"core:" + its smallest member user_id`` (:data:`CORE_PREFIX`): derived
  from its members only, so the same core gets the same id on every run and every
  backend (``queries/cypher/cores.cypher`` names it the same way). Cores are disjoint and
  lie in groups that are not returned whole, so no two candidates share an id.

The ring finding's id is derived from its members, as for every ring
(:func:`xpg.queries.findings.stable_id` of the sorted user ids), so a core's finding id
is stable across nights exactly as a whole group's is.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import polars as pl
from xpg.graph.components import bipartite_components
from xpg.graph.links import KeptLinks

__all__ = [
    "CORE_PREFIX",
    "MAX_GROUP_USERS",
    "Candidates",
    "candidate_rings",
    "combine_candidates",
    "core_labels",
    "group_sizes",
    "link_cores",
    "ring_candidates",
    "searched_members",
]

CORE_PREFIX = "core:"
"""Prefix of a core's group id: ``"core:" + its smallest member user_id``."""

MAX_GROUP_USERS = 50
"""Default ``max_group_users``: larger connected groups are searched for cores."""


@dataclass(frozen=True)
class Candidates:
    """Candidate rings in integer form (see :func:`candidate_rings`).

    Attributes
    ----------
    user : numpy.ndarray
        ``user_idx`` of every member, grouped by ring (rings in order, each ring's
        members by increasing ``user_idx``).
    ring : numpy.ndarray
        The ring number ``0..k-1`` of each member (same length as ``user``).
    core : numpy.ndarray
        Per ring (length ``k``): whether it is a multi-lending core (else a group
        judged whole).
    group : numpy.ndarray
        Per ring: the label of the connected group it is (or was found in).
    group_users : numpy.ndarray
        Per ring: the number of users of that connected group.
    """

    user: np.ndarray
    ring: np.ndarray
    core: np.ndarray
    group: np.ndarray
    group_users: np.ndarray


def group_sizes(labels: np.ndarray) -> np.ndarray:
    """Users in each user's connected group (0 for users with no kept link).

    Parameters
    ----------
    labels
        ``labels[user_idx]``: the component label of each user, ``-1`` for a user
        with no kept link (:attr:`xpg.graph.links.KeptLinks.labels`).

    Returns
    -------
    numpy.ndarray
        ``int64``, same length as ``labels``.

    Notes
    -----
    O(users): one ``bincount``.

    Examples
    --------
    >>> import numpy as np
    >>> group_sizes(np.array([0, 0, 1, -1, 0])).tolist()
    [3, 3, 1, 0, 3]
    """
    labels = np.asarray(labels, dtype=np.int64)
    has = labels >= 0
    counts = np.bincount(labels[has]) if has.any() else np.zeros(0, dtype=np.int64)
    sizes = np.zeros(labels.size, dtype=np.int64)
    sizes[has] = counts[labels[has]]
    return sizes


def _check(labels: np.ndarray, user: np.ndarray, node: np.ndarray, ml: np.ndarray) -> None:
    if user.shape != node.shape:
        raise ValueError("user and node must have the same length")
    if ml.shape != labels.shape:
        raise ValueError("multi_lending must be a boolean mask with one entry per user")
    if user.size and (user.min() < 0 or user.max() >= labels.size or node.min() < 0):
        raise ValueError("edge users must lie in 0..len(labels)-1, nodes must be >= 0")


def core_labels(
    labels: np.ndarray,
    user: np.ndarray,
    node: np.ndarray,
    multi_lending: np.ndarray,
    *,
    max_group_users: int = MAX_GROUP_USERS,
) -> np.ndarray:
    """The multi-lending core of every multi-lending user of a large connected group.

    Parameters
    ----------
    labels
        ``labels[user_idx]``: each user's connected-group label over the kept links,
        ``-1`` for a user with none (:attr:`xpg.graph.links.KeptLinks.labels`).
    user, node
        The kept links (hubs already cut), parallel ``user_idx``/``node_idx`` arrays
        (:attr:`~xpg.graph.links.KeptLinks.user`, :attr:`~xpg.graph.links.KeptLinks.node`).
        Repeated pairs are harmless.
    multi_lending
        Boolean mask over users: ``True`` for the ``multi_lending`` users.
    max_group_users
        Groups of more users than this are searched for cores.

    Returns
    -------
    numpy.ndarray
        ``int64``, one entry per user: the core label of each multi-lending user of a
        group of more than ``max_group_users`` users, ``-1`` for every other user. Two
        such users share a label exactly when a chain of kept nodes, each shared by two
        multi-lending users of the chain, joins them; a user sharing no kept node with
        another multi-lender is a core of one. Labels are ``0..k-1`` in the order of each
        core's smallest ``user_idx``.

    Notes
    -----
    O(kept links) numpy masks, then connected components (scipy, in C) of the
    bipartite graph restricted to those users and to the kept nodes that two of them
    share: O(its links). A node linked to one of them (or to non-multi-lenders only)
    joins nobody, so ``multi_lending`` users linked only through a non-multi-lender's
    node are not in one core. On a 1,000,000-user mixed graph (``python
    bench/bench_cores.py``: 3.0 million links, 38,672 searched multi-lenders) the
    candidate step took 0.21-0.33 s (arrays) and 0.36-0.65 s (frame) against 2.3-3.2 s
    for the whole-group components (``Links.kept``), three runs each.

    Examples
    --------
    >>> import numpy as np
    >>> # users 0..3 form one group of 4 over nodes 0 (users 0,1), 1 (users 1,2) and
    >>> # 2 (users 2,3); users 0, 1 and 3 are multi-lending, user 2 is not
    >>> labels = np.zeros(4, dtype=np.int64)
    >>> user, node = np.array([0, 1, 1, 2, 2, 3]), np.array([0, 0, 1, 1, 2, 2])
    >>> ml = np.array([True, True, False, True])
    >>> core_labels(labels, user, node, ml, max_group_users=3).tolist()
    [0, 0, -1, 1]
    >>> core_labels(labels, user, node, ml, max_group_users=4).tolist()  # judged whole
    [-1, -1, -1, -1]
    """
    labels = np.asarray(labels, dtype=np.int64)
    return _core_labels(labels, group_sizes(labels), user, node, multi_lending, max_group_users)


def _core_labels(
    labels: np.ndarray,
    sizes: np.ndarray,
    user: np.ndarray,
    node: np.ndarray,
    multi_lending: np.ndarray,
    max_group_users: int,
) -> np.ndarray:
    user = np.asarray(user, dtype=np.int64)
    node = np.asarray(node, dtype=np.int64)
    ml = np.asarray(multi_lending, dtype=bool)
    _check(labels, user, node, ml)
    searched = ml & (sizes > max_group_users)
    out = np.full(labels.size, -1, dtype=np.int64)
    members = np.flatnonzero(searched)
    if members.size == 0:
        return out
    keep = searched[user]
    sub = _shared_components(labels.size, user[keep], node[keep])
    # bipartite_components numbers components by their smallest user_idx, and only
    # searched users have links here: their labels, made dense, keep that order
    out[members] = np.unique(sub[members], return_inverse=True)[1]
    return out


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
    """The cores of the searched users from their kept links (``ring_cores`` rows).

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
    Two joins, a sort and :func:`~xpg.graph.components.bipartite_components`: O(links).

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


def candidate_rings(
    labels: np.ndarray,
    user: np.ndarray,
    node: np.ndarray,
    multi_lending: np.ndarray,
    *,
    max_group_users: int = MAX_GROUP_USERS,
    min_users: int = 3,
) -> Candidates:
    """Candidate rings: small groups judged whole, multi-lending cores of large ones.

    Parameters
    ----------
    labels, user, node, multi_lending, max_group_users
        As for :func:`core_labels`.
    min_users
        The fewest users of a candidate (a group judged whole, or a core).

    Returns
    -------
    Candidates
        First every group of ``min_users`` to ``max_group_users`` users, whole
        (``core`` False), in label order; then every core of ``min_users`` or more
        users of a larger group (``core`` True), in :func:`core_labels` order.
        Whether a whole group is a ring (its multi-lending share) is judged later, as
        in version 1; a core is all multi-lending.

    Notes
    -----
    :func:`core_labels` plus O(users) masks, a stable sort of the members and
    ``bincount`` s.

    Examples
    --------
    >>> import numpy as np
    >>> # group 0: users 0..3 (a chain over nodes 0, 1, 2); group 1: users 4..6 on node 3
    >>> labels = np.array([0, 0, 0, 0, 1, 1, 1])
    >>> user = np.array([0, 1, 1, 2, 2, 3, 4, 5, 6])
    >>> node = np.array([0, 0, 1, 1, 2, 2, 3, 3, 3])
    >>> ml = np.array([True, True, True, False, False, False, False])
    >>> c = candidate_rings(labels, user, node, ml, max_group_users=3)
    >>> c.user.tolist(), c.ring.tolist(), c.core.tolist(), c.group_users.tolist()
    ([4, 5, 6, 0, 1, 2], [0, 0, 0, 1, 1, 1], [False, True], [3, 4])
    """
    labels = np.asarray(labels, dtype=np.int64)
    sizes = group_sizes(labels)
    cores = _core_labels(labels, sizes, user, node, multi_lending, max_group_users)
    whole = np.flatnonzero((sizes >= min_users) & (sizes <= max_group_users))
    whole = whole[np.argsort(labels[whole], kind="stable")]
    _, whole_ring = np.unique(labels[whole], return_inverse=True)
    in_core = np.flatnonzero(cores >= 0)
    core_size = np.bincount(cores[in_core]) if in_core.size else np.zeros(0, dtype=np.int64)
    in_core = in_core[core_size[cores[in_core]] >= min_users]
    in_core = in_core[np.argsort(cores[in_core], kind="stable")]
    _, core_ring = np.unique(cores[in_core], return_inverse=True)
    n_whole = int(whole_ring.max()) + 1 if whole.size else 0
    n_core = int(core_ring.max()) + 1 if in_core.size else 0
    members = np.concatenate([whole, in_core]).astype(np.int64)
    ring = np.concatenate([whole_ring, core_ring + n_whole]).astype(np.int64)
    first = np.zeros(n_whole + n_core, dtype=np.int64)  # a member of each ring
    first[ring] = members
    return Candidates(
        user=members,
        ring=ring,
        core=np.arange(n_whole + n_core) >= n_whole,
        group=labels[first],
        group_users=sizes[first],
    )


def _id_series(user_ids: Iterable[str] | pl.Series) -> pl.Series:
    if isinstance(user_ids, pl.Series):
        return user_ids.cast(pl.String)
    return pl.Series(list(user_ids), dtype=pl.String)


def ring_candidates(
    kept: KeptLinks,
    user_ids: pl.Series,
    multi_lending: Iterable[str] | pl.Series,
    *,
    max_group_users: int = MAX_GROUP_USERS,
    min_users: int = 3,
) -> pl.DataFrame:
    """The candidate rings of one date and configuration, as a frame.

    Parameters
    ----------
    kept
        The kept links and connected groups (:meth:`xpg.graph.links.Links.kept`: the
        hub cut counts every user of a node).
    user_ids
        ``user_ids[user_idx]`` (:attr:`xpg.graph.links.Links.user_ids`).
    multi_lending
        The user ids of the ``multi_lending`` users (ids not in ``user_ids`` are ignored).
    max_group_users, min_users
        As for :func:`candidate_rings`.

    Returns
    -------
    polars.DataFrame
        One row per member: ``group`` (String: a whole group's label as today, or
        ``"core:" + the core's smallest user_id``), ``user_id`` (String), ``core``
        (Boolean), ``group_users`` (Int64: the size of the connected group the
        candidate is, or was found in). Rows as in :func:`candidate_rings`.

    Notes
    -----
    :func:`candidate_rings` plus an ``is_in`` over the user ids (hashing, O(users))
    and one ``gather``/``min`` per member.

    Examples
    --------
    >>> import numpy as np, polars as pl
    >>> from xpg.graph.links import KeptLinks
    >>> kept = KeptLinks(
    ...     user=np.array([0, 1, 1, 2, 2, 3]), node=np.array([0, 0, 1, 1, 2, 2]),
    ...     hubs=np.zeros(0, dtype=np.int64), labels=np.zeros(4, dtype=np.int64))
    >>> ids = pl.Series(["d", "c", "b", "a"])
    >>> frame = ring_candidates(kept, ids, {"d", "c", "b"}, max_group_users=3)
    >>> frame.rows()
    [('core:b', 'd', True, 4), ('core:b', 'c', True, 4), ('core:b', 'b', True, 4)]
    """
    ml = user_ids.is_in(_id_series(multi_lending).implode()).to_numpy()
    c = candidate_rings(
        kept.labels,
        kept.user,
        kept.node,
        ml,
        max_group_users=max_group_users,
        min_users=min_users,
    )
    frame = pl.DataFrame(
        {
            "ring": c.ring,
            "user_id": user_ids.gather(c.user),
            "core": c.core[c.ring],
            "label": c.group[c.ring],
            "group_users": c.group_users[c.ring],
        },
        schema={
            "ring": pl.Int64,
            "user_id": pl.String,
            "core": pl.Boolean,
            "label": pl.Int64,
            "group_users": pl.Int64,
        },
    )
    group = (
        pl.when(pl.col("core"))
        .then(pl.lit(CORE_PREFIX) + pl.col("user_id").min().over("ring"))
        .otherwise(pl.col("label").cast(pl.String))
    )
    return frame.select(group.alias("group"), "user_id", "core", "group_users")


def searched_members(
    groups: pl.DataFrame,
    multi_lending: Iterable[str] | pl.Series,
    *,
    max_group_users: int = MAX_GROUP_USERS,
) -> pl.DataFrame:
    """The users whose cores are searched: multi-lenders of groups of more than
    ``max_group_users`` users, from a frame of connected groups.

    This is what the Cypher form (``queries/cypher/cores.cypher``, statement
    ``ring_cores``) takes as ``$members`` (``frame.to_dicts()``): the backend that
    computed the groups passes their membership, the ``multi_lending`` frame the ids.

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
    """The candidate frame of :func:`ring_candidates` from a backend's two frames.

    A backend that computes the connected groups and the cores itself (Neo4j:
    ``ring_groups`` in ``detect.cypher``, ``ring_cores`` in ``cores.cypher``) gets the
    same candidates as :func:`ring_candidates` from them: the groups of at most
    ``max_group_users`` users whole, then the cores.

    Parameters
    ----------
    groups
        ``group``, ``user_id``: every connected group of ``min_users`` or more users.
    cores
        ``group``, ``user_id``, ``group_users``: the members of the cores of
        ``min_users`` or more users (the rows of ``ring_cores``).
    max_group_users
        Groups of more users than this are left out (their cores stand for them).

    Returns
    -------
    polars.DataFrame
        ``group``, ``user_id``, ``core``, ``group_users``, as :func:`ring_candidates`:
        the whole groups in the order given, then the cores sorted by group and user.

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
