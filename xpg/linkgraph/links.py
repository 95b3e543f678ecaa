"""The user <-> device/identifier bipartite graph, integer-encoded.

:class:`Links` is built once from a :class:`~xpg.loaders.dataset.Dataset`:
every user gets an integer (``user_idx``, the row of ``users``), every
*link node* (a device, or an identifier ``kind:value``) gets an integer
(``node_idx``), and every distinct (user, node) pair is one edge with the
earliest date it was seen. Everything else is numpy arrays over those
integers, so the ring detection and the investigations never hold the
whole graph as Python objects.

Link semantics (shared with the Neo4j backend, see ``docs/detections.md``):

* a device row gives a link ``(user_id, "device", device_id)``; an identifier
  row gives ``(user_id, kind, value)``; rows of users not in ``users`` are
  ignored (the loader refuses them anyway);
* a link *exists as of* a date when one of its rows has no ``first_seen`` or a
  ``first_seen`` on or before that date.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import polars as pl

from xpg.linkgraph.components import bipartite_components
from xpg.loaders.dataset import Dataset

__all__ = ["ALWAYS", "DEVICE_KIND", "KeptLinks", "Links", "hub_degrees"]

DEVICE_KIND = "device"
"""The ``kind`` of a device node (identifier nodes carry their identifier kind)."""

_EPOCH = dt.date(1970, 1, 1)
ALWAYS = int(np.iinfo(np.int32).min)
"""``first`` of a link seen only on rows without ``first_seen``: it exists at any date."""


def _days(day: dt.date) -> int:
    return (day - _EPOCH).days


def hub_degrees(node: np.ndarray, first: np.ndarray, node_ok: np.ndarray, n_nodes: int,
                as_of: dt.date) -> np.ndarray:
    """Per node: its distinct users as of ``as_of`` over the distinct links ``node``,
    ``first`` (those of nodes whose kind counts, ``node_ok``, seen by then): the count
    :meth:`Links.kept` cuts hubs by (a node of more than ``hub_max_users`` is a hub).

    >>> hub_degrees(np.array([0, 0, 1]), np.array([ALWAYS, 20000, ALWAYS]),
    ...             np.array([True, True]), 2, dt.date(2026, 11, 20)).tolist()
    [2, 1]
    """
    mask = first <= _days(as_of)
    if node.size:
        mask &= node_ok[node]
    return np.bincount(node[mask], minlength=n_nodes)


@dataclass(frozen=True)
class KeptLinks:
    """The links left for ring detection at one date and configuration.

    ``user``/``node`` are parallel edge arrays (distinct pairs); ``hubs`` the
    node indexes dropped for having too many users; ``labels[user_idx]`` the
    component label of each user (``-1`` for users with no kept link).
    """

    user: np.ndarray
    node: np.ndarray
    hubs: np.ndarray
    labels: np.ndarray


class Links:
    """Integer-encoded user <-> device/identifier links of one dataset.

    Parameters
    ----------
    dataset
        The loaded tables; only ``users``, ``devices`` and ``identifiers`` are read.

    Attributes
    ----------
    user_ids : polars.Series
        ``user_ids[i]`` is the user id of ``user_idx`` ``i``.
    nodes : polars.DataFrame
        ``node_idx`` (each node once; the rows in no particular order: join or sort on
        it), ``kind`` (``"device"`` or the identifier kind), ``value``.
    edges : polars.DataFrame
        The distinct links (see :attr:`edges`).

    Notes
    -----
    Building hashes the user ids and the (kind, value) keys to 64-bit integers,
    joins/ranks them into dense indexes and checks every row against its index
    (falling back to an exact string group-by on a collision; only rows of a node
    seen on several rows need the check), then one sort of node, user and day
    packed into a 64-bit integer drops duplicate links: O(rows log rows) in C,
    about 2 s for the 5.6 million link rows of 1,000,000 generated users. Queries
    are numpy masks over the edge arrays.
    """

    def __init__(self, dataset: Dataset):
        self._build(
            dataset.users.get_column("user_id"),
            _link_rows(dataset.devices, dataset.identifiers),
        )

    @classmethod
    def from_arrays(cls, user_ids: pl.Series, nodes: pl.DataFrame, user: np.ndarray,
                    node: np.ndarray, first: np.ndarray) -> Links:
        """Links rebuilt from their parts (as :meth:`arrays` gives them, e.g. kept between
        nightly runs): ``user_ids`` by position, ``nodes`` (``kind``, ``value``) by
        position, and the distinct links as positions into both with their earliest day.

        >>> links = Links.from_arrays(pl.Series(["u1", "u2"]),
        ...                           pl.DataFrame({"kind": ["device"], "value": ["d1"]}),
        ...                           np.array([0, 1]), np.array([0, 0]),
        ...                           np.array([ALWAYS, ALWAYS]))
        >>> links.n_users, links.n_nodes, links.n_edges
        (2, 1, 2)
        """
        links = cls.__new__(cls)
        links.user_ids = user_ids
        links.nodes = nodes.select(pl.int_range(pl.len(), dtype=pl.Int64).alias("node_idx"),
                                   "kind", "value")
        links._user = np.asarray(user, dtype=np.int32)
        links._node = np.asarray(node, dtype=np.int32)
        links._first = np.asarray(first, dtype=np.int32)
        links._kept = {}
        return links

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The distinct links as three parallel arrays: ``user_idx``, ``node_idx`` and the
        earliest day seen (``Int32`` days since 1970-01-01, :data:`ALWAYS` when unknown).
        Read-only views: the links are not to be changed in place."""
        out = []
        for a in (self._user, self._node, self._first):
            view = a.view()
            view.flags.writeable = False
            out.append(view)
        return out[0], out[1], out[2]

    def node_ok(self, kinds: Iterable[str]) -> np.ndarray:
        """Per node (by ``node_idx``): whether its links count for rings (devices, and the
        identifier kinds ``kinds``)."""
        ok = np.zeros(self.n_nodes, dtype=bool)
        ok[self.nodes.get_column("node_idx").to_numpy()] = (
            self.nodes.get_column("kind").is_in([DEVICE_KIND, *sorted(set(kinds))]).to_numpy()
        )
        return ok

    @classmethod
    def taking(cls, tables: dict[str, pl.DataFrame]) -> Links:
        """The links of ``tables`` (``users``, ``devices``, ``identifiers`` as loaded),
        taking ``devices`` and ``identifiers`` out of it: when nothing else holds them,
        their rows are freed as soon as their link columns are read, before the build."""
        links = cls.__new__(cls)
        identifiers = tables.pop("identifiers", None)
        links._build(
            tables["users"].get_column("user_id"), _link_rows(tables.pop("devices"), identifiers)
        )
        return links

    def _build(self, user_ids: pl.Series, rows: pl.DataFrame) -> None:
        if user_ids.hash(_SEED).n_unique() != user_ids.len():  # repeated ids (or a collision)
            user_ids = user_ids.unique(maintain_order=True)
        self.user_ids: pl.Series = user_ids
        encoded = _encode_hashed(rows, self.user_ids) or _encode_exact(rows, self.user_ids)
        del rows
        self.nodes: pl.DataFrame = encoded[0]
        user, node, first = encoded[1:]
        del encoded
        # Distinct (node, user) pairs, sorted by node then user, each with its earliest day.
        self._node, self._user, self._first = _distinct_links(
            user, node, first, n_nodes=self.n_nodes, n_users=self.n_users, overwrite=True
        )
        self._kept: dict[tuple[dt.date, tuple[str, ...], int], KeptLinks] = {}

    @cached_property
    def edges(self) -> pl.DataFrame:
        """``user_idx``, ``node_idx`` (distinct pairs, sorted by node) and ``first_day``
        (``Int32`` days since 1970-01-01 of the earliest ``first_seen``; null when a row
        had none)."""
        first = pl.col("first_day")
        return pl.DataFrame(
            {"user_idx": self._user, "node_idx": self._node, "first_day": self._first}
        ).with_columns(
            pl.col("user_idx", "node_idx").cast(pl.Int64),
            pl.when(first == ALWAYS).then(None).otherwise(first).alias("first_day"),
        )

    @property
    def n_users(self) -> int:
        return self.user_ids.len()

    @property
    def n_nodes(self) -> int:
        return self.nodes.height

    @property
    def n_edges(self) -> int:
        return int(self._user.size)

    @cached_property
    def _user_index(self) -> dict[str, int]:
        return {u: i for i, u in enumerate(self.user_ids.to_list())}

    def user_index(self, user_ids: Iterable[str]) -> np.ndarray:
        """``user_idx`` of each given user id, in order (unknown ids are left out).

        The first call builds a hash map of every user (O(users)); later calls are
        O(len(user_ids)).
        """
        index = self._user_index
        return np.array([index[u] for u in user_ids if u in index], dtype=np.int64)

    def kept(self, kinds: Iterable[str], hub_max_users: int, as_of: dt.date) -> KeptLinks:
        """Links that count for rings: enabled kinds, existing as of ``as_of``, no hubs.

        A node (device or identifier) linked to more than ``hub_max_users``
        distinct users as of ``as_of`` is a hub and all its links are dropped.
        Devices are always enabled; ``kinds`` names the identifier kinds.
        Results are cached per (as_of, kinds, hub_max_users).
        """
        kinds_key = tuple(sorted(set(kinds)))
        key = (as_of, kinds_key, hub_max_users)
        if key in self._kept:
            return self._kept[key]
        node_ok = self.node_ok(kinds_key)
        mask = self._first <= _days(as_of)
        if self._node.size:
            mask &= node_ok[self._node]
        user, node = self._user[mask], self._node[mask]
        degree = hub_degrees(self._node, self._first, node_ok, self.n_nodes, as_of)
        hub = degree > hub_max_users
        keep = ~hub[node]
        user, node = user[keep], node[keep]
        # A node of one user joins nobody: leave those out of the component search
        # (most devices and identifiers are personal, so this shrinks the graph a lot).
        joining = degree[node] >= 2
        labels = bipartite_components(self.n_users, self.n_nodes, user[joining], node[joining])
        has_link = np.zeros(self.n_users, dtype=bool)
        has_link[user] = True
        labels = np.where(has_link, labels, -1)
        result = KeptLinks(user=user, node=node, hubs=np.flatnonzero(hub), labels=labels)
        self._kept[key] = result
        return result

    # -- neighbourhoods for investigations (CSR, built on first use) --------------

    @cached_property
    def _by_user(self) -> tuple[np.ndarray, np.ndarray]:
        order = np.argsort(self._user, kind="stable")
        indptr = np.zeros(self.n_users + 1, dtype=np.int64)
        np.cumsum(np.bincount(self._user, minlength=self.n_users), out=indptr[1:])
        return indptr, self._node[order]

    @cached_property
    def _by_node(self) -> tuple[np.ndarray, np.ndarray]:
        # edges are sorted by node_idx already
        indptr = np.zeros(self.n_nodes + 1, dtype=np.int64)
        np.cumsum(np.bincount(self._node, minlength=self.n_nodes), out=indptr[1:])
        return indptr, self._user

    def nodes_of(self, user_idx: np.ndarray) -> np.ndarray:
        """Distinct link nodes of the given users (every kind, every date). O(their degree)."""
        indptr, nodes = self._by_user
        return _gather(indptr, nodes, user_idx)

    def users_of(self, node_idx: np.ndarray) -> np.ndarray:
        """Distinct users of the given link nodes. O(their degree)."""
        indptr, users = self._by_node
        return _gather(indptr, users, node_idx)

    def degree_of(self, node_idx: np.ndarray) -> np.ndarray:
        """Number of distinct users of each given node (every date)."""
        indptr, _ = self._by_node
        node_idx = np.asarray(node_idx, dtype=np.int64)
        return indptr[node_idx + 1] - indptr[node_idx]


_Encoded = tuple[pl.DataFrame, np.ndarray, np.ndarray, np.ndarray]
_SEED = 0x9E3779B9
_CHUNK = 1 << 20  # rows compared at a time: what an exact check holds is bounded
Rows = Callable[[int, int], pl.DataFrame]


def _link_rows(devices: pl.DataFrame, identifiers: pl.DataFrame | None) -> pl.DataFrame:
    """``user_id``, ``kind``, ``value``, ``day`` of every device and identifier row."""
    day = pl.col("first_seen").cast(pl.Datetime("us")).dt.date().cast(pl.Int32).alias("day")
    parts = [
        devices.select(
            "user_id",
            pl.lit(DEVICE_KIND, dtype=pl.String).alias("kind"),
            pl.col("device_id").alias("value"),
            day,
        )
    ]
    if identifiers is not None:
        parts.append(identifiers.select("user_id", "kind", "value", day))
    return pl.concat(parts)


def _days_of(rows: pl.DataFrame) -> np.ndarray:
    return rows.get_column("day").fill_null(ALWAYS).to_numpy()


def _equal(n: int, left: Rows, right: Rows) -> bool:
    """Whether ``left(start, stop)`` equals ``right(start, stop)`` (frames of those rows of
    ``n``) on every row and column, nulls equal; compared :data:`_CHUNK` rows at a time."""
    for start in range(0, n, _CHUNK):
        stop = min(start + _CHUNK, n)
        mine, theirs = left(start, stop), right(start, stop)
        for name in mine.columns:
            if not bool(mine.get_column(name).eq_missing(theirs.get_column(name)).all()):
                return False
    return True


def _node_hash() -> pl.Expr:
    """A 64-bit hash of each row's node key (``kind``, ``value``): the two columns' own
    hashes combined (a fifth of the cost of hashing them as one struct; a collision is
    caught by :func:`_encode_hashed`'s exact check like any other)."""
    return pl.col("value").hash(_SEED) ^ pl.col("kind").hash(_SEED + 1)


def _encode_hashed(rows: pl.DataFrame, user_ids: pl.Series, bits: int = 64) -> _Encoded | None:
    """Integer-encode users and nodes through 64-bit hashes, then check every row.

    Hashing and ranking integers is several times cheaper than grouping or joining
    on strings. Every row's user id and (kind, value) are compared with those of
    the integer they got, so a hash collision is detected, never silent: this
    returns None and the exact (slower) encoding is used instead. ``bits`` < 64
    keeps only that many bits of each hash (tests use it to force collisions).
    ``user_ids`` must be distinct. Rows of users not in ``user_ids`` are left out.

    No string is copied but the node keys (one row per node): the hashes, the user
    of each row (a hash join) and the day are one pass over ``rows``, and the exact
    checks compare :data:`_CHUNK` rows at a time.
    """
    mask = (1 << bits) - 1
    n_users = user_ids.len()
    user_hash = user_ids.hash(_SEED) & mask
    if user_hash.n_unique() != n_users:
        return None
    index = pl.DataFrame(
        {"h": user_hash, "user_idx": pl.int_range(n_users, dtype=pl.Int32, eager=True)}
    )
    del user_hash
    hashed = (
        rows.lazy()
        .select(
            (pl.col("user_id").hash(_SEED) & mask).alias("h"),
            (_node_hash() & mask).alias("node"),
            pl.col("day").fill_null(ALWAYS),
        )
        .join(index.lazy(), on="h", how="left", maintain_order="left")
        .select("user_idx", "node", "day")
        .collect()
    )
    del index
    if hashed.get_column("user_idx").null_count():
        keep = hashed.get_column("user_idx").is_not_null()
        rows, hashed = rows.filter(keep), hashed.filter(keep)
    user = hashed.get_column("user_idx").to_numpy()
    # (columns, not rows.select: a select over the many chunks of rows copies them)
    ids = rows.get_column("user_id")
    if not _equal(
        ids.len(),
        lambda a, b: ids.slice(a, b - a).to_frame("user_id"),
        lambda a, b: user_ids.gather(user[a:b]).to_frame("user_id"),
    ):
        return None
    days = hashed.get_column("day").to_numpy()
    node = hashed.get_column("node").rank("dense").to_numpy().astype(np.int64)
    del hashed
    node -= 1
    n_nodes = int(node.max()) + 1 if node.size else 0
    # Only rows of a node that several rows got can differ from that node's key: the
    # hash is a function of the key, so the keys of those rows are as many as their
    # nodes exactly when no two keys share a node (an exact distinct count).
    counts = np.bincount(node, minlength=n_nodes)
    shared = pl.Series(counts[node] >= 2)
    n_shared = int(np.count_nonzero(counts >= 2))
    del counts
    if n_shared:
        distinct = rows.filter(shared).select(pl.struct("kind", "value").n_unique()).item()
        if distinct != n_shared:
            return None
    del shared
    # One row of each node, filtered in row order: its strings are those of the
    # tables (a gather would copy them), the node_idx beside them.
    one = np.zeros(node.size, dtype=bool)
    some_row = np.empty(n_nodes, dtype=np.int64)
    some_row[node] = np.arange(node.size, dtype=np.int64)
    one[some_row] = True
    del some_row
    picked = rows.filter(pl.Series(one))
    nodes = pl.DataFrame(
        [
            pl.Series("node_idx", node[one], dtype=pl.Int64),
            picked.get_column("kind"),
            picked.get_column("value"),
        ]
    )
    del picked
    return nodes, user, node, days


def _encode_exact(rows: pl.DataFrame, user_ids: pl.Series) -> _Encoded:
    """Integer-encode users and nodes with a string join and a string group-by."""
    index = pl.DataFrame({"user_id": user_ids}).with_row_index("user_idx")
    rows = rows.join(index, on="user_id", how="inner")
    grouped = rows.group_by("kind", "value", maintain_order=True).agg("user_idx", "day")
    nodes = grouped.select(
        pl.int_range(pl.len(), dtype=pl.Int64).alias("node_idx"), "kind", "value"
    )
    exploded = grouped.select(
        pl.int_range(pl.len(), dtype=pl.Int64).alias("node_idx"), "user_idx", "day"
    ).explode("user_idx", "day")
    return (
        nodes,
        exploded.get_column("user_idx").cast(pl.Int64).to_numpy(),
        exploded.get_column("node_idx").to_numpy(),
        _days_of(exploded),
    )


def _distinct_links(
    user: np.ndarray,
    node: np.ndarray,
    first: np.ndarray,
    *,
    n_nodes: int,
    n_users: int,
    overwrite: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(node, user, first)`` of the distinct (node, user) pairs, sorted by node then
    user, ``first`` the earliest day of each pair's rows (:data:`ALWAYS` when one had none).

    Node, user and day (offset so that :data:`ALWAYS` is 0, the smallest) are packed
    into one 64-bit integer when they fit, so a single integer sort (in place) orders the
    rows and the first row of each pair holds its earliest day; otherwise a slower
    argsort and a minimum per pair. ``overwrite`` lets the packing reuse ``node``'s
    memory when it is an ``int64`` array (its values are then lost): a build of the
    links then holds one 64-bit integer per row, not two.
    """
    node = np.asarray(node)
    user = np.asarray(user)
    first = np.asarray(first, dtype=np.int32)
    if node.size == 0:
        return node.astype(np.int64), user.astype(np.int64), first
    known = first != ALWAYS
    lo = int(first[known].min()) if known.any() else 0
    hi = int(first[known].max()) if known.any() else 0
    day_bits = (hi - lo + 1).bit_length()
    user_bits = max(n_users - 1, 1).bit_length()
    node_bits = max(n_nodes - 1, 1).bit_length()
    if node_bits + user_bits + day_bits <= 63:
        own = overwrite and node.dtype == np.int64 and node.flags.writeable
        packed = node if own else node.astype(np.int64)
        del node
        packed <<= user_bits + day_bits
        part = user.astype(np.int64)
        part <<= day_bits
        packed |= part
        np.subtract(first, lo - 1, out=part, dtype=np.int64)
        part[~known] = 0
        del known
        packed |= part
        del part
        packed.sort()  # in place: numpy's sort needs no second array
        pair = packed >> day_bits
        new = np.empty(pair.size, dtype=bool)
        new[0] = True
        np.not_equal(pair[1:], pair[:-1], out=new[1:])
        starts = np.flatnonzero(new)
        del new
        day = packed[starts]
        del packed
        day &= (1 << day_bits) - 1
        always = day == 0
        day += lo - 1
        day[always] = ALWAYS
        first = day.astype(np.int32)
        del day, always
        pair = pair[starts]
        del starts
        node, user = pair >> user_bits, pair & ((1 << user_bits) - 1)
    else:
        key = node.astype(np.int64) * max(n_users, 1) + user
        order = np.argsort(key)
        key = key[order]
        starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
        node, user = node[order][starts], user[order][starts]
        first = np.minimum.reduceat(first[order], starts)
    return _narrow(node, n_nodes), _narrow(user, n_users), first


def _narrow(index: np.ndarray, n: int) -> np.ndarray:
    """``index`` as int32 when ``n`` values fit (half the memory of every pass over it)."""
    return index.astype(np.int32) if n <= np.iinfo(np.int32).max else index


def _gather(indptr: np.ndarray, values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    rows = np.unique(np.asarray(rows, dtype=np.int64))
    if rows.size == 0:
        return np.zeros(0, dtype=np.int64)
    parts = [values[indptr[r] : indptr[r + 1]] for r in rows]
    return np.unique(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)
