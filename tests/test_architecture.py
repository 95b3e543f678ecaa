"""The import rules of docs/architecture.md, checked on the source (parsed, not imported).

Every import counts: at module level, inside functions, and under ``TYPE_CHECKING``.
``RULES`` holds what each layer may import; no import cycle may join the package's
modules (a lazy import inside a function that only dodges a cycle is still one).

The import graph is read with :mod:`ast` (grimp builds its graph from the installed
package's folder, and pyproject's ``package-dir`` puts ``xpg.graph``, ``xpg.queries``,
``xpg.loaders`` and ``xpg.config`` outside ``xpg/``, so it would not see them).
``python tests/test_architecture.py`` prints the cycles, each import on them with its
line and where it stands (module level, function, ``TYPE_CHECKING``), and how many
function-level imports there are and how many of them sit on a cycle.
"""

from __future__ import annotations

import ast
import importlib
import tomllib
from functools import cache
from pathlib import Path

import networkx as nx
from package_doctests import ROOT, module_name

# module (or package) name -> its layer; the longest matching name wins, "xpg" is the root only
LAYERS = {
    "xpg.errors": "foundation", "xpg.settings": "foundation", "xpg.progress": "foundation",
    "xpg.settings_files": "foundation", "xpg.settings_model": "foundation",
    "xpg.settings_types": "foundation",
    "xpg.atomic": "foundation", "xpg.privacy": "foundation", "xpg.version": "foundation",
    "xpg.config": "config", "xpg.templates": "config",
    "xpg.loaders": "loaders",
    "xpg.synthetic": "synthetic",
    "xpg.linkgraph": "linkgraph",
    "xpg.queries": "queries",
    "xpg.graph": "graph",
    "xpg.report": "report",
    "xpg.api": "api", "xpg.gather": "api", "xpg.inputs": "api", "xpg": "api",
    "xpg.session_cases": "api", "xpg.session_writes": "api",
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


Site = tuple[str, int, str]
"""An import of an xpg module: (the module imported, line, ``module``, ``function`` or
``type-checking``: where the import statement stands)."""


def import_sites(path: Path, module: str) -> list[Site]:
    """Every import of an xpg module in ``path``, absolute or relative; ``from package
    import name`` counts as an import of the submodule ``package.name`` where there is one."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    known = sources()
    out: list[Site] = []

    def visit(node: ast.AST, where: str) -> None:
        for child in ast.iter_child_nodes(node):
            inner = where
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                inner = "function"
            elif (isinstance(child, ast.If) and where == "module"
                  and "TYPE_CHECKING" in ast.unparse(child.test)):
                inner = "type-checking"
            if isinstance(child, ast.Import):
                out.extend((a.name, child.lineno, where) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                if child.level:
                    parts = package.split(".")
                    base = ".".join(parts[: len(parts) - child.level + 1])
                    base = f"{base}.{child.module}" if child.module else base
                else:
                    base = child.module
                for alias in child.names:
                    sub = f"{base}.{alias.name}"
                    out.append((sub if sub in known else base, child.lineno, where))
            visit(child, inner)

    visit(ast.parse(path.read_text("utf-8"), filename=str(path)), "module")
    return [s for s in out if (s[0] == "xpg" or s[0].startswith("xpg.")) and s[0] != module]


def imports(path: Path, module: str) -> set[str]:
    """Every xpg module ``path`` imports (:func:`import_sites`, wherever they stand)."""
    return {target for target, _, _ in import_sites(path, module)}


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


def import_graph(extra: tuple[tuple[str, str], ...] = ()) -> nx.DiGraph:
    """The package's modules and their imports (every import counted); each edge holds its
    :func:`import_sites` as ``sites`` (line, where); ``extra``: more edges, for the test."""
    graph = nx.DiGraph()
    for module, path in sources().items():
        graph.add_node(module)
        for target, line, where in import_sites(path, module):
            if target in sources():
                if not graph.has_edge(module, target):
                    graph.add_edge(module, target, sites=[])
                graph.edges[module, target]["sites"].append((line, where))
    for a, b in extra:
        graph.add_edge(a, b, sites=[(0, "function")])  # as if imported inside a function
    return graph


def cycles(extra: tuple[tuple[str, str], ...] = ()) -> set[frozenset[str]]:
    """The import cycles among the package's modules (every import counted), as sets of
    the modules of each strongly connected group; ``extra``: more edges, for the test."""
    graph = import_graph(extra)
    return {frozenset(c) for c in nx.strongly_connected_components(graph) if len(c) > 1}


def lazy_imports(extra: tuple[tuple[str, str], ...] = ()) -> tuple[list[str], list[str]]:
    """The imports of xpg modules not run with their module (inside a function, or under
    ``TYPE_CHECKING``) as ``module:line -> target (where)``, and those of them on an import
    cycle: the lazy imports that only dodge a cycle."""
    graph = import_graph(extra)
    group = {m: n for n, c in enumerate(nx.strongly_connected_components(graph)) for m in c
             if len(c) > 1}
    every, dodging = [], []
    for a, b, data in graph.edges(data=True):
        for line, where in sorted(set(data["sites"])):
            if where != "module":
                site = f"{a}:{line} -> {b} ({where})"
                every.append(site)
                if a in group and group.get(b) == group[a]:
                    dodging.append(site)
    return sorted(every), sorted(dodging)


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


def test_no_import_cycle():
    found = [sorted(c) for c in cycles()]
    assert not found, f"import cycles (every import counts, lazy ones too): {found}"
    assert not lazy_imports()[1]


def test_the_cycle_check_can_fail():
    """A lazy import of a backend from the link graph would close a cycle the check sees,
    and count as a lazy import that dodges it."""
    extra = (("xpg.linkgraph.links", "xpg.graph.memory"),)
    assert any("xpg.linkgraph.links" in c for c in cycles(extra))
    every, dodging = lazy_imports(extra)
    assert "xpg.linkgraph.links:0 -> xpg.graph.memory (function)" in dodging
    assert set(dodging) <= set(every)


def test_the_doc_names_every_layer_module():
    """docs/architecture.md's layer table names every module of ``LAYERS`` in its layer's
    row, and its folder table every package of pyproject's ``packages``."""
    doc = (ROOT / "docs" / "architecture.md").read_text("utf-8")
    table = doc[doc.index("## What each layer may import"):doc.index("**No import cycle**")]
    rows = {line.split("|")[1].strip(): line for line in table.splitlines()
            if line.startswith("| ") and not line.startswith("| layer")}
    missing = [m for m, layer in LAYERS.items() if f"`{m}`" not in rows.get(layer, "")]
    assert not missing, f"docs/architecture.md's layer table does not name {missing}"
    with open(ROOT / "pyproject.toml", "rb") as fh:
        packages = tomllib.load(fh)["tool"]["setuptools"]["packages"]
    folders = doc[doc.index("## What each folder holds"):doc.index("## What each layer")]
    named = [p for p in packages if f"`{p}`" not in folders
             and f"`{p.removeprefix(p.rpartition('.')[0] + '.')}/`" not in folders]
    assert not named, f"docs/architecture.md's folder table does not name {named}"


# -- rule names -----------------------------------------------------------------------

# Where a rule's name may be written: its own module, the registry's one list of the built-in
# rules (queries/rules/__init__.py: BUILTIN_RULES), the synthetic generator (and the tests,
# not scanned). Elsewhere a module asks the registry what it needs of a rule (group_types,
# member_types, screening_levels, of_type(...).change_reasons, Rule.totals). What is left,
# per file (the list only shrinks: the test fails on a new one and on a count that fell), is
# words of an output, none of them a test of a finding's type:
LITERALS_LEFT = {
    # the `xpg query ring` subcommand's name and the "ring" column titles of its tables
    "xpg/cli/query.py": 4,
    # the field `multi_lending` of a ring member (RingMember.multi_lending): a column of the
    # members table of `xpg query ring --format json`, the API and the page
    "queries/investigate/views.py": 2,
    # the same field on a drawn member node (GraphBuilder.user's multi_lending=)
    "xpg/report/svg.py": 1,
}


def rule_name_literals(names: frozenset[str] | None = None) -> dict[str, list[int]]:
    """The lines of each package module outside the allowed places that write a built-in
    rule's name as a string literal (docstrings aside)."""
    from xpg.queries.rules import BUILTIN_RULES

    names = frozenset(BUILTIN_RULES) if names is None else names
    found: dict[str, list[int]] = {}
    for module, path in sources().items():
        where = path.relative_to(ROOT).as_posix()
        if (module.startswith("xpg.synthetic") or module == "xpg.queries.rules"
                or module.removeprefix("xpg.queries.rules.") in names):
            continue
        tree = ast.parse(path.read_text("utf-8"), filename=str(path))
        docs = {id(n.body[0].value) for n in ast.walk(tree)
                if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef,
                                  ast.AsyncFunctionDef))
                and n.body and isinstance(n.body[0], ast.Expr)
                and isinstance(n.body[0].value, ast.Constant)}
        lines = sorted(n.lineno for n in ast.walk(tree)
                       if isinstance(n, ast.Constant) and isinstance(n.value, str)
                       and n.value in names and id(n) not in docs)
        if lines:
            found[where] = lines
    return found


def test_no_rule_name_literal_outside_its_rule():
    counts = {where: len(lines) for where, lines in rule_name_literals().items()}
    new = {w: n for w, n in counts.items() if n > LITERALS_LEFT.get(w, 0)}
    assert not new, f"rule names written as literals (use the rule's NAME or the registry): {new}"
    fewer = {w: counts.get(w, 0) for w, n in LITERALS_LEFT.items() if counts.get(w, 0) < n}
    assert not fewer, f"fewer rule-name literals now: lower LITERALS_LEFT to {fewer}"


def test_the_literal_check_can_fail():
    """A module comparing a finding's type with a rule name is seen (the registry's own
    list is allowed, a rule module is allowed its own name)."""
    found = rule_name_literals(frozenset({"device"}))
    assert "queries/investigate/base.py" in found
    assert "queries/rules/__init__.py" not in rule_name_literals()


def report() -> str:
    """The cycles with the imports that make them, and the lazy-import counts."""
    graph = import_graph()
    lines = []
    for c in sorted((sorted(c) for c in cycles()), key=lambda c: c[0]):
        lines.append(f"cycle of {len(c)} modules: {', '.join(c)}")
        for a, b, data in sorted(graph.subgraph(c).edges(data=True)):
            where = ", ".join(f"line {n} ({w})" for n, w in sorted(set(data["sites"])))
            lines.append(f"    {a} -> {b}: {where}")
    every, dodging = lazy_imports()
    lines.append(f"import cycles: {len(cycles())}; lazy imports of xpg modules (in a function "
                 f"or under TYPE_CHECKING): {len(every)}, of them on a cycle: {len(dodging)}")
    lines.extend(f"    on a cycle: {site}" for site in dodging)
    literals = rule_name_literals()
    lines.append(f"rule-name literals outside the allowed places: "
                 f"{sum(map(len, literals.values()))} in {len(literals)} files")
    lines.extend(f"    {where}: lines {', '.join(map(str, ls))}" for where, ls in literals.items())
    return "\n".join(lines)


if __name__ == "__main__":
    print(report())
