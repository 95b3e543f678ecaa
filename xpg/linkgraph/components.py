"""Connected components of large sparse graphs, in C (``scipy.sparse.csgraph``).

The ring detection needs the connected groups of users in the bipartite graph
users <-> devices/identifiers. networkx builds a Python object per node and
edge and takes minutes on tens of millions of edges; scipy's
``connected_components`` runs a union-find/BFS over a CSR matrix in C and takes
well under a second on the same graph (``bench/bench_detect.py`` prints both).
The graph is never projected onto users (that projection grows with the square
of a device's users): components are taken on the bipartite graph itself.

Nodes are integers ``0..n-1``; callers encode their ids first.
"""

from __future__ import annotations

import numpy as np
import polars as pl
from scipy.sparse import coo_array
from scipy.sparse.csgraph import connected_components as _scipy_components

__all__ = ["bipartite_components", "connected_components", "named_groups"]


def connected_components(n_nodes: int, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Label every node of an undirected graph with its component.

    Parameters
    ----------
    n_nodes
        Number of nodes; nodes are ``0..n_nodes-1`` (isolated nodes are allowed).
    src, dst
        Integer arrays of equal length: edge ``i`` joins ``src[i]`` and ``dst[i]``.
        Duplicate edges and self-loops are harmless.

    Returns
    -------
    numpy.ndarray
        ``int64`` array of length ``n_nodes``; two nodes share a label exactly when
        they are connected. Labels are ``0..k-1`` in the order of each component's
        smallest node, so the labelling is deterministic.

    Notes
    -----
    O(n_nodes + n_edges) time and memory: a COO matrix converted to CSR, then
    ``scipy.sparse.csgraph.connected_components`` (``connection="weak"``, which
    treats the stored direction as undirected).

    Examples
    --------
    >>> import numpy as np
    >>> connected_components(5, np.array([0, 3]), np.array([1, 4])).tolist()
    [0, 0, 1, 2, 2]
    """
    src = np.asarray(src, dtype=np.int64)
    dst = np.asarray(dst, dtype=np.int64)
    if src.shape != dst.shape:
        raise ValueError("src and dst must have the same length")
    if n_nodes == 0:
        return np.zeros(0, dtype=np.int64)
    if src.size and (min(src.min(), dst.min()) < 0 or max(src.max(), dst.max()) >= n_nodes):
        raise ValueError("edge endpoints must lie in 0..n_nodes-1")
    data = np.ones(src.size, dtype=np.int8)
    matrix = coo_array((data, (src, dst)), shape=(n_nodes, n_nodes)).tocsr()
    _, labels = _scipy_components(matrix, directed=True, connection="weak")
    return _by_first_node(labels.astype(np.int64, copy=False))


def _by_first_node(labels: np.ndarray) -> np.ndarray:
    """``labels`` (``0..k-1``, each used) renumbered in the order of each label's first
    node: O(n), no sort.

    Labels then do not depend on scipy's internals (nothing to do when scipy
    already numbered them that way, as it usually does).
    """
    if labels.size == 0:
        return labels
    first = np.empty(int(labels.max()) + 1, dtype=np.int64)
    first[labels[::-1]] = np.arange(labels.size - 1, -1, -1, dtype=np.int64)
    if np.all(first[1:] > first[:-1]):
        return labels
    is_first = np.zeros(labels.size, dtype=bool)
    is_first[first] = True
    renumber = np.empty(first.size, dtype=np.int64)
    renumber[labels[is_first]] = np.arange(first.size, dtype=np.int64)  # first nodes in order
    return renumber[labels]


def bipartite_components(
    n_left: int, n_right: int, left: np.ndarray, right: np.ndarray
) -> np.ndarray:
    """Component labels of the left nodes of a bipartite graph.

    Left nodes (users) are ``0..n_left-1``, right nodes (devices, identifiers)
    ``0..n_right-1``; edge ``i`` joins ``left[i]`` and ``right[i]``. Two left
    nodes get the same label exactly when a path through right nodes joins them.
    Labels are ``0..k-1`` in the order of each component's smallest left node.

    Notes
    -----
    O(n_left + n_right) for two masks, then :func:`connected_components` on the
    nodes that have an edge only: O(their number + edges).

    Examples
    --------
    >>> import numpy as np
    >>> # users 0,1 share device 0; user 2 is alone on device 1; user 3 has no device
    >>> bipartite_components(4, 2, np.array([0, 1, 2]), np.array([0, 0, 1])).tolist()
    [0, 0, 1, 2]
    """
    left = np.asarray(left, dtype=np.int64)
    right = np.asarray(right, dtype=np.int64)
    if left.shape != right.shape:
        raise ValueError("left and right must have the same length")
    if left.size and (
        min(left.min(), right.min()) < 0 or left.max() >= n_left or right.max() >= n_right
    ):
        raise ValueError("edge endpoints must lie in 0..n_left-1 and 0..n_right-1")
    # Only the nodes that have an edge enter the search, renumbered densely (left
    # first, in order): ring search passes ~60,000 edges of 1,000,000 users and
    # 5 million devices/identifiers, and a graph of all of them would cost more than
    # the search. Every other left node is alone.
    seen_left = np.zeros(n_left, dtype=bool)
    seen_left[left] = True
    seen_right = np.zeros(n_right, dtype=bool)
    seen_right[right] = True
    used_left, used_right = np.flatnonzero(seen_left), np.flatnonzero(seen_right)
    compact = np.empty(n_left, dtype=np.int64)
    compact[used_left] = np.arange(used_left.size, dtype=np.int64)
    compact_right = np.empty(n_right, dtype=np.int64)
    compact_right[used_right] = np.arange(used_right.size, dtype=np.int64) + used_left.size
    sub = connected_components(
        used_left.size + used_right.size, compact[left], compact_right[right]
    )
    labels = np.empty(n_left, dtype=np.int64)
    labels[used_left] = sub[: used_left.size]
    alone = np.flatnonzero(~seen_left)
    labels[alone] = np.arange(alone.size, dtype=np.int64) + (int(sub.max()) + 1 if sub.size else 0)
    return _by_first_node(labels)


def named_groups(user_ids: pl.Series, labels: np.ndarray) -> pl.DataFrame:
    """``user_id``, ``group`` (Int64) of the users in a component of two users or more,
    sorted by ``user_id``, the groups numbered ``0..k-1`` in the order of their first user
    id. ``labels[i]`` is the component of ``user_ids[i]`` (``-1``: none; labels
    ``0..m-1``, as :func:`bipartite_components` gives them).

    Examples
    --------
    >>> named_groups(pl.Series(["c", "b", "a", "d", "e"]), np.array([0, 1, 1, 0, 2])).rows()
    [('a', 0), ('b', 0), ('c', 1), ('d', 1)]
    """
    members = np.flatnonzero(labels >= 0)
    label = np.asarray(labels[members], dtype=np.int64)
    sizes = np.bincount(label) if label.size else np.zeros(0, dtype=np.int64)
    grouped = sizes[label] >= 2
    frame = pl.DataFrame({"user_id": user_ids.gather(members[grouped]),
                          "label": label[grouped]}).sort("user_id")
    label = frame.get_column("label").to_numpy()
    # each group's number: the rank of its first row in user-id order
    first = np.full(sizes.size, label.size, dtype=np.int64)
    np.minimum.at(first, label, np.arange(label.size, dtype=np.int64))
    number = np.zeros(sizes.size, dtype=np.int64)
    used = np.flatnonzero(first < label.size)
    number[used[np.argsort(first[used])]] = np.arange(used.size, dtype=np.int64)
    return pl.DataFrame([frame.get_column("user_id"),
                         pl.Series("group", number[label], dtype=pl.Int64)])
