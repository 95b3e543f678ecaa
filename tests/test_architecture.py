"""The import rules of docs/architecture.md, checked on the source (parsed, not imported).

Every import counts: at module level, inside functions, and under ``TYPE_CHECKING``.
``RULES`` holds what each layer may import; ``KNOWN_CYCLES`` the import cycles among the
package's modules that are still to be removed (no other cycle may appear, and each one
listed must still be there, so that the list shrinks as they go).
"""

from __future__ import annotations

import ast
import importlib
from functools import cache
from pathlib import Path

import networkx as nx
from package_doctests import ROOT, module_name

# module (or package) name -> its layer; the longest matching name wins, "xpg" is the root only
LAYERS = {
    "xpg.errors": "foundation", "xpg.settings": "foundation", "xpg.progress": "foundation",
    "xpg.settings_files": "foundation",
    "xpg.atomic": "foundation", "xpg.privacy": "foundation", "xpg.version": "foundation",
    "xpg.config": "config", "xpg.templates": "config",
    "xpg.loaders": "loaders",
    "xpg.synthetic": "synthetic",
    "xpg.linkgraph": "linkgraph",
    "xpg.queries": "queries",
    "xpg.graph": "graph",
    "xpg.report": "report",
    "xpg.api": "api", "xpg.gather": "api", "xpg.inputs": "api", "xpg": "api",
    "xpg.nightly": "api", "xpg.nightly_state": "api", "xpg.nightly_snapshot": "api",
    "xpg.nightly_rings": "api", "xpg.session_cases": "api",
    "xpg.backtest": "api",
    "xpg.serve": "serve",
    "xpg.cli": "cli",
    "xpg.cases": "cases",
}
EVERYTHING = frozenset(LAYERS.values())

# layer -> the layers it may import (itself always)
RULES = {
    "foundation": {"foundation"},
    "config": set(),
    "loaders": {"foundation"},
    "synthetic": {"foundation", "loaders"},
    "linkgraph": {"foundation", "loaders"},  # the user-link graph, its components and cores
    "queries": {"foundation", "loaders", "linkgraph"},  # no backend: queries never imports graph
    "graph": {"foundation", "loaders", "linkgraph", "queries"},  # a backend fills a rule's hooks
    "report": {"foundation", "queries"},  # plain data in: neither the API nor a backend
    "api": {"foundation", "loaders", "linkgraph", "queries", "graph", "report", "cases"},
    "cases": {"foundation", "loaders", "linkgraph", "queries", "graph"},  # a store per database
    "serve": EVERYTHING - {"cli"},
    "cli": EVERYTHING,
}

# the import cycles (strongly connected modules, every import counted) still to be removed
KNOWN_CYCLES = {
    frozenset({"xpg.queries.assembly", "xpg.queries.findings", "xpg.queries.frames",
               "xpg.queries.rules", "xpg.queries.rules.base", "xpg.queries.tables"}),
}


def layer_of(module: str) -> str | None:
    if module == "xpg":
        return LAYERS["xpg"]
    parts = module.split(".")
    for n in range(len(parts), 1, -1):
        found = LAYERS.get(".".join(parts[:n]))
        if found is not None:
            return found
    return None


@cache
def sources() -> dict[str, Path]:
    found = {}
    for folder in ("xpg", "graph", "loaders", "queries", "config"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            found[module_name(path)] = path
    return found


def imports(path: Path, module: str) -> set[str]:
    """Every xpg module ``path`` imports, absolute or relative; ``from package import name``
    counts as an import of the submodule ``package.name`` where there is one."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    known = sources()
    out = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                out.add(sub if sub in known else base)
    return {m for m in out if (m == "xpg" or m.startswith("xpg.")) and m != module}


def violations(rules: dict[str, set[str]]) -> list[str]:
    found = []
    for module, path in sources().items():
        mine = layer_of(module)
        if mine not in rules:
            continue
        for target in sorted(imports(path, module)):
            theirs = layer_of(target)
            if theirs != mine and theirs not in rules[mine]:
                found.append(f"{path.relative_to(ROOT)}: {module} ({mine}) imports "
                             f"{target} ({theirs})")
    return found


def cycles(extra: tuple[tuple[str, str], ...] = ()) -> set[frozenset[str]]:
    """The import cycles among the package's modules (every import counted), as sets of
    the modules of each strongly connected group; ``extra``: more edges, for the test."""
    graph = nx.DiGraph()
    for module, path in sources().items():
        graph.add_node(module)
        graph.add_edges_from((module, t) for t in imports(path, module) if t in sources())
    graph.add_edges_from(extra)
    return {frozenset(c) for c in nx.strongly_connected_components(graph) if len(c) > 1}


def test_every_package_module_has_a_layer_and_imports():
    found = sources()
    assert len(found) > 40
    for module in found:
        assert layer_of(module) is not None, f"{module}: add it to LAYERS and the doc"
        importlib.import_module(module)


def test_the_import_rules_hold():
    found = violations(RULES)
    assert not found, "\n".join(found)


def test_queries_does_not_import_graph():
    assert not [v for v in violations(RULES) if "(queries) imports" in v]
    assert "graph" not in RULES["queries"]


def test_the_rules_can_fail():
    """The checker sees a violation: every loader module reports through xpg.errors, so
    a rule set that gave loaders no foundation would flag them."""
    strict = {**RULES, "loaders": set()}
    assert any("(loaders) imports xpg.errors (foundation)" in v for v in violations(strict))


def test_no_import_cycle_but_the_known_ones():
    found = cycles()
    new = [sorted(c) for c in found - KNOWN_CYCLES]
    assert not new, f"new import cycles (every import counts, lazy ones too): {new}"
    gone = [sorted(c) for c in KNOWN_CYCLES - found]
    assert not gone, f"these cycles are gone: remove them from KNOWN_CYCLES: {gone}"


def test_the_cycle_check_can_fail():
    """An import of the API from the link graph would close a cycle the check sees."""
    extra = (("xpg.linkgraph.links", "xpg.graph.memory"),)
    assert any("xpg.linkgraph.links" in c for c in cycles(extra) - KNOWN_CYCLES)
