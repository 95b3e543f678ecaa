"""The small graph a view talks about (:class:`Subgraph`), exportable to GraphML or
node-link JSON, and the builder the queries fill it with."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from xpg.queries.investigate.base import DEVICE, LENDER, View, link_label, node_id

from xpg.errors import InputError

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["GraphBuilder", "GraphEdge", "GraphNode", "NodeKind", "Subgraph"]


NodeKind = Literal["user", "device", "identifier", "lender"]


@dataclass(frozen=True)
class GraphNode(View):
    id: str
    kind: NodeKind
    label: str
    attrs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GraphEdge(View):
    source: str
    target: str
    kind: Literal["seen_on", "linked_to", "borrows_at"]
    reason: str


@dataclass(frozen=True)
class Subgraph(View):
    """The small graph a view talks about: users, devices, identifiers, lenders."""

    nodes: tuple[GraphNode, ...] = ()
    edges: tuple[GraphEdge, ...] = ()

    def to_networkx(self) -> nx.Graph:
        """An undirected networkx graph; attributes are strings, numbers or booleans."""
        import networkx as nx  # only here: a query that exports nothing never imports it

        g = nx.Graph()
        for n in self.nodes:
            attrs = {k: _scalar(v) for k, v in n.attrs.items() if v is not None}
            g.add_node(n.id, kind=n.kind, label=n.label, **attrs)
        for e in self.edges:
            g.add_edge(e.source, e.target, kind=e.kind, reason=e.reason)
        return g

    def node_link(self) -> dict[str, Any]:
        """Node-link JSON (as networkx writes it), readable by d3 and Gephi plug-ins."""
        import networkx as nx

        return nx.node_link_data(self.to_networkx(), edges="links")

    def write(self, path: str | Path) -> Path:
        """Write as GraphML (``.graphml``) or node-link JSON (``.json``), atomically."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in (".graphml", ".json"):
            raise InputError(f"export: {path.name} must end in .graphml or .json",
                             argument="export")
        tmp = path.with_name(f".{path.name}.tmp")
        try:
            if suffix == ".graphml":
                import networkx as nx

                nx.write_graphml(self.to_networkx(), tmp)
            else:
                tmp.write_text(json.dumps(self.node_link(), indent=2, ensure_ascii=False))
            tmp.replace(path)
        except OSError as e:
            tmp.unlink(missing_ok=True)
            from xpg.atomic import storage_error

            raise (storage_error(e, path) or InputError(f"cannot write {path}: {e}")) from e
        return path


def _scalar(v: Any) -> str | int | float | bool:
    if isinstance(v, bool | int | float | str):
        return v
    if isinstance(v, dt.date | dt.datetime):
        return v.isoformat()
    if isinstance(v, list | tuple):
        return ",".join(str(x) for x in v)
    return str(v)


class GraphBuilder:
    def __init__(self) -> None:
        self.nodes: dict[str, GraphNode] = {}
        self.edges: dict[tuple[str, str], GraphEdge] = {}

    def user(self, user_id: str, **attrs: Any) -> str:
        nid = node_id("user", user_id)
        old = self.nodes.get(nid)
        merged = {**(old.attrs if old else {}), **attrs}
        self.nodes[nid] = GraphNode(nid, "user", user_id, merged)
        return nid

    def link(self, kind: str, value: str, **attrs: Any) -> str:
        nid = node_id(kind, value)
        if kind == LENDER:
            gk: NodeKind = "lender"
        elif kind == DEVICE:
            gk = "device"
        else:
            gk = "identifier"
            attrs = {"identifier_kind": kind, **attrs}
        old = self.nodes.get(nid)
        merged = {**(old.attrs if old else {}), **attrs}
        self.nodes[nid] = GraphNode(nid, gk, link_label(kind, value), merged)
        return nid

    def edge(self, user_id: str, kind: str, value: str, reason: str) -> None:
        u, n = node_id("user", user_id), node_id(kind, value)
        ek = "seen_on" if kind == DEVICE else "borrows_at" if kind == LENDER else "linked_to"
        self.edges.setdefault((u, n), GraphEdge(u, n, ek, reason))

    def build(self) -> Subgraph:
        return Subgraph(
            tuple(sorted(self.nodes.values(), key=lambda n: n.id)),
            tuple(sorted(self.edges.values(), key=lambda e: (e.source, e.target))),
        )
