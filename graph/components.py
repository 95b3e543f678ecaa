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
from scipy.sparse import coo_array
from scipy.sparse.csgraph import connected_components as _scipy_components

__all__ = ["bipartite_components", "connected_components"]


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
    # Relabel by first occurrence so labels do not depend on scipy's internals: O(n),
    # and nothing to do when scipy already numbered them that way (it usually does).
    labels = labels.astype(np.int64, copy=False)
    first = np.empty(int(labels.max()) + 1, dtype=np.int64)
    first[labels[::-1]] = np.arange(n_nodes - 1, -1, -1, dtype=np.int64)
    if np.all(first[1:] > first[:-1]):
        return labels
    order = np.empty(first.size, dtype=np.int64)
    order[np.argsort(first)] = np.arange(first.size, dtype=np.int64)
    return order[labels]


def bipartite_components(
    n_left: int, n_right: int, left: np.ndarray, right: np.ndarray
) -> np.ndarray:
    """Component labels of the left nodes of a bipartite graph.

    Left nodes (users) are ``0..n_left-1``, right nodes (devices, identifiers)
    ``0..n_right-1``; edge ``i`` joins ``left[i]`` and ``right[i]``. Two left
    nodes get the same label exactly when a path through right nodes joins them.

    Examples
    --------
    >>> import numpy as np
    >>> # users 0,1 share device 0; user 2 is alone on device 1; user 3 has no device
    >>> bipartite_components(4, 2, np.array([0, 1, 2]), np.array([0, 0, 1])).tolist()
    [0, 0, 1, 2]
    """
    left = np.asarray(left, dtype=np.int64)
    right = np.asarray(right, dtype=np.int64)
    labels = connected_components(n_left + n_right, left, right + n_left)
    return labels[:n_left]
