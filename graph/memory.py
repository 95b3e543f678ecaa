"""The embedded backend: the exposure graph in memory, no server needed.

Tables stay columnar (Polars frames of the :class:`~xpg.loaders.dataset.Dataset`);
the user <-> device/identifier graph is integer-encoded numpy arrays
(:class:`~xpg.linkgraph.links.Links`), with whole-graph connected components in
scipy. networkx is used only for small neighbourhoods (:meth:`MemoryBackend.subgraph`):
a Python object per node is fine for a few hundred nodes and far too slow and
large for a million users.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
from xpg.graph.backend import Backend, LoadStats, NightlyRun
from xpg.loaders.dataset import Dataset
from xpg.queries.asof import OPEN_LOAN_STATUSES
from xpg.queries.polars_hooks import PolarsHooks

from xpg.errors import BackendError, NotFoundError
from xpg.linkgraph.links import DEVICE_KIND, Links
from xpg.progress import NO_PROGRESS, Progress

if TYPE_CHECKING:
    import networkx as nx
    from xpg.loaders.load import TakeLinks
    from xpg.queries.findings import FindingsReport
    from xpg.queries.investigate import InvestigationSource

__all__ = ["MemoryBackend", "linked_source", "node_key"]



def node_key(kind: str, ident: str) -> str:
    """The networkx node id of a node: ``user:u1``, ``device:d9``, ``phone:138...``,
    ``account:a1``, ``lender:L1``.

    Examples
    --------
    >>> node_key("user", "u1")
    'user:u1'
    """
    return f"{kind}:{ident}"


def linked_source(dataset: Dataset, links: Links) -> InvestigationSource:
    """The in-memory investigation source over ``dataset`` whose connected groups are the
    components of ``links`` (:meth:`Links.kept <xpg.linkgraph.links.Links.kept>`, cached per
    date and settings, and shared with the ring detection over the same links)."""
    from xpg.queries.investigate import MemorySource

    class LinkedSource(MemorySource):
        def group(self, user_id: str, as_of: dt.date, kinds: Sequence[str], hub_max: int
                  ) -> pl.DataFrame:
            idx = links.user_index([user_id])
            identifier_kinds = [k for k in kinds if k != DEVICE_KIND]
            labels = links.kept(identifier_kinds, hub_max, as_of).labels
            if idx.size == 0 or labels[idx[0]] < 0:
                return pl.DataFrame({"user_id": [user_id]}, schema={"user_id": pl.String})
            members = np.flatnonzero(labels == labels[idx[0]])
            return pl.DataFrame({"user_id": links.user_ids.gather(members)}).sort("user_id")

    return LinkedSource(dataset, links)


class MemoryBackend(Backend):
    """The exposure graph of one dataset, in memory.

    Holding data writes nothing anywhere, so a read-only memory backend loads too.

    Examples
    --------
    >>> b = MemoryBackend()
    >>> b.name
    'memory'
    """

    name = "memory"
    label = "memory backend"
    wraps_errors = False  # its failures are bugs: they pass through as they are
    keeps_data = False
    detects_since = True

    def __init__(self, *, read_only: bool = False) -> None:
        super().__init__(read_only=read_only)
        self._dataset: Dataset | None = None
        self._hooks: PolarsHooks | None = None
        self._taken: Links | None = None

    def take_links(self) -> TakeLinks:
        """Build the link graph while the tables load (:func:`xpg.loaders.load_dataset`'s
        ``take_links``): the next :meth:`load` uses it, and the device and identifier rows
        are let go before the other tables are read (a session that only detects)."""

        def take(tables: dict[str, pl.DataFrame]) -> bool:
            self._taken = Links.taking(tables)
            return True

        return take

    # -- Backend hooks ------------------------------------------------------------

    def _load(self, dataset: Dataset, progress: Progress | None = None) -> LoadStats:
        """Hold ``dataset`` and build the integer-encoded link graph.

        Returns node and relationship counts of the exposure graph: users,
        products, accounts, devices, identifiers and lenders as nodes; accounts
        (user-account and account-product), device and identifier links,
        external loans, applications and account events as relationships.
        """
        progress = progress or NO_PROGRESS
        start = time.perf_counter()
        taken, self._taken = self._taken, None
        if dataset.released and (taken is None or taken.n_users != dataset.users.height):
            raise BackendError(
                f"the memory backend needs the {', '.join(sorted(dataset.released))} rows "
                "to build its graph: load the dataset without take_links"
            )
        with progress.step("Building the exposure graph", dataset.row_count) as advance:
            links = taken if dataset.released else Links(dataset)
            del taken
            advance(dataset.row_count)
        self._dataset = dataset
        self._hooks = PolarsHooks(dataset, links=links)
        lenders = pl.concat(
            [
                dataset.lenders.select("lender_id"),
                dataset.external_loans.select("lender_id"),
                dataset.applications.select("lender_id"),
            ]
        ).n_unique()
        nodes = (
            dataset.users.height
            + dataset.products.height
            + dataset.accounts.height
            + links.n_nodes
            + lenders
        )
        relationships = (
            2 * dataset.accounts.height
            + links.n_edges
            + dataset.external_loans.height
            + dataset.applications.height
            + dataset.account_events.height
        )
        return LoadStats(nodes, relationships, time.perf_counter() - start)

    @contextmanager
    def _detection_hooks(self) -> Iterator[PolarsHooks]:
        yield self.hooks

    def _detect_since(self, night: NightlyRun, as_of: dt.date | None) -> FindingsReport:
        """The incremental detection (:func:`xpg.graph.nightly.run.detect_since`): it reads
        ``night.data`` itself (only what the changes reach when the state fits), whether
        or not this backend holds the tables."""
        from xpg.graph.nightly.run import detect_since

        return detect_since(night, as_of)

    def _investigation_source(self, dataset: Dataset | None) -> InvestigationSource:
        self._check_whole("investigate")
        return linked_source(self.dataset, self.links)

    def _check_whole(self, doing: str) -> None:
        released = self.dataset.released
        if released:
            raise BackendError(
                f"the memory backend cannot {doing}: the {', '.join(sorted(released))} rows "
                "were let go once the graph was built (a session opened to detect only)"
            )

    def latest_date(self) -> dt.date | None:
        return self.dataset.latest_date()

    def snapshot(self) -> Dataset:
        return self.dataset

    def close(self) -> None:
        self._dataset = None
        self._hooks = None

    # -- what investigations use --------------------------------------------------

    @property
    def dataset(self) -> Dataset:
        """The dataset held (raises :class:`BackendError` before :meth:`load`)."""
        return self._require()[0]

    @property
    def links(self) -> Links:
        """The integer-encoded user <-> device/identifier graph."""
        return self._require()[1].links

    @property
    def hooks(self) -> PolarsHooks:
        """The Polars detection hooks over the dataset held (caches included)."""
        return self._require()[1]

    def user_exposure(self, dataset: Dataset, as_of: dt.date) -> pl.DataFrame:
        """Exposure of every user of ``dataset`` (the one held: its cached frame)."""
        if dataset is self._dataset and self._hooks is not None:
            return self._hooks.exposure(as_of)
        return super().user_exposure(dataset, as_of)

    def subgraph(
        self, user_ids: Iterable[str], hops: int = 1, *, hub_max_users: int = 20
    ) -> nx.Graph:
        """The neighbourhood of some users as a small :class:`networkx.Graph`.

        Starting from ``user_ids``, each hop adds the users that share a device or
        an identifier (any kind) with a user already reached. A device/identifier
        with more than ``hub_max_users`` users is shown (``hub=True``) but not
        crossed. The graph also holds the reached users' accounts and the lenders
        they hold external loans at.

        Nodes are :func:`node_key` strings with attributes ``kind`` (``user``,
        ``device``, ``identifier``, ``account``, ``lender``) and ``id``; users carry
        ``hop``; identifiers ``id_kind`` and ``value``; accounts their product,
        kind, limit, outstanding, status and reason. Edges carry ``relation``
        (``USED``, ``HAS_IDENTIFIER``, ``HAS_ACCOUNT``, ``BORROWS_FROM``).

        Raises
        ------
        NotFoundError
            When one of ``user_ids`` is not a user of the data.

        Notes
        -----
        O(edges of the reached nodes): lookups in CSR arrays built on first use,
        never a pass over the whole graph in Python.
        """
        self._check_whole("draw a subgraph")
        dataset = self.dataset
        links = self.links
        seeds = list(dict.fromkeys(user_ids))
        seed_idx = links.user_index(seeds)
        if seed_idx.size != len(seeds):
            known = set(links.user_ids.gather(seed_idx).to_list())
            missing = [u for u in seeds if u not in known]
            raise NotFoundError(f"unknown user id(s): {', '.join(missing)}")
        hop_of = {int(u): 0 for u in seed_idx}
        frontier = np.unique(seed_idx)
        for hop in range(1, hops + 1):
            nodes = links.nodes_of(frontier)
            crossable = nodes[links.degree_of(nodes) <= hub_max_users]
            reached = links.users_of(crossable)
            new = [int(u) for u in reached if int(u) not in hop_of]
            for u in new:
                hop_of[u] = hop
            frontier = np.array(new, dtype=np.int64)
            if not frontier.size:
                break
        users = np.array(sorted(hop_of), dtype=np.int64)
        user_ids_ = links.user_ids.gather(users).to_list()
        import networkx as nx  # only here: a second of imports that detect never needs

        graph = nx.Graph()
        for idx, uid in zip(users.tolist(), user_ids_, strict=True):
            graph.add_node(node_key("user", uid), kind="user", id=uid, hop=hop_of[idx])

        # device / identifier links of the reached users
        edges = links.edges.filter(pl.col("user_idx").is_in(users.tolist()))
        node_idx = edges.get_column("node_idx").unique().sort().to_numpy()
        degree = links.degree_of(node_idx)
        info = links.nodes.filter(pl.col("node_idx").is_in(node_idx.tolist())).sort("node_idx")
        key_of: dict[int, str] = {}
        for (n, kind, value), deg in zip(info.iter_rows(), degree.tolist(), strict=True):
            if kind == DEVICE_KIND:
                key = node_key("device", value)
                graph.add_node(key, kind="device", id=value, users=deg, hub=deg > hub_max_users)
            else:
                key = node_key(kind, value)
                graph.add_node(
                    key,
                    kind="identifier",
                    id=f"{kind}:{value}",
                    id_kind=kind,
                    value=value,
                    users=deg,
                    hub=deg > hub_max_users,
                )
            key_of[n] = key
        uid_of = dict(zip(users.tolist(), user_ids_, strict=True))
        for u, n, _first in edges.iter_rows():
            relation = "USED" if graph.nodes[key_of[n]]["kind"] == "device" else "HAS_IDENTIFIER"
            graph.add_edge(node_key("user", uid_of[u]), key_of[n], relation=relation)

        # accounts and lenders
        products = dataset.products.select("product_id", "kind")
        accounts = dataset.accounts.filter(pl.col("user_id").is_in(user_ids_)).join(
            products, on="product_id", how="left"
        )
        for r in accounts.iter_rows(named=True):
            key = node_key("account", r["account_id"])
            graph.add_node(
                key,
                kind="account",
                id=r["account_id"],
                product_id=r["product_id"],
                product_kind=r["kind"],
                credit_limit=r["credit_limit"],
                outstanding=r["outstanding"],
                status=r["status"],
                status_reason=r["status_reason"],
            )
            graph.add_edge(node_key("user", r["user_id"]), key, relation="HAS_ACCOUNT")
        loans = (
            dataset.external_loans.filter(pl.col("user_id").is_in(user_ids_))
            .group_by("user_id", "lender_id")
            .agg(
                pl.len().alias("loans"),
                pl.col("outstanding")
                .filter(pl.col("status").is_in(OPEN_LOAN_STATUSES))
                .sum()
                .alias("open_outstanding"),
                pl.col("status").unique().sort().alias("statuses"),
            )
            .sort("user_id", "lender_id")
        )
        for r in loans.iter_rows(named=True):
            key = node_key("lender", r["lender_id"])
            graph.add_node(key, kind="lender", id=r["lender_id"])
            graph.add_edge(
                node_key("user", r["user_id"]),
                key,
                relation="BORROWS_FROM",
                loans=r["loans"],
                open_outstanding=r["open_outstanding"],
                statuses=",".join(r["statuses"]),
            )
        return graph

    def _require(self) -> tuple[Dataset, PolarsHooks]:
        if self._dataset is None or self._hooks is None:
            raise BackendError("the memory backend holds no data: call load(dataset) first")
        return self._dataset, self._hooks
