"""The import rules of docs/architecture.md, checked on the source (parsed, not imported).

Every import counts: at module level, inside functions, and under ``TYPE_CHECKING``.
``RULES`` holds the rules that hold today and are enforced; ``TARGETS`` the tighter
ones of the architecture issue, listed in the doc, to move into ``RULES`` once the
work that makes them hold has landed.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

from package_doctests import ROOT, module_name

# module (or package) name -> its layer; the longest matching name wins, "xpg" is the root only
LAYERS = {
    "xpg.errors": "foundation", "xpg.settings": "foundation", "xpg.progress": "foundation",
    "xpg.settings_files": "foundation",
    "xpg.atomic": "foundation", "xpg.privacy": "foundation",
    "xpg.config": "config", "xpg.templates": "config",
    "xpg.loaders": "loaders",
    "xpg.synthetic": "synthetic",
    "xpg.queries": "queries",
    "xpg.graph": "graph",
    "xpg.report": "report",
    "xpg.api": "api", "xpg.gather": "api", "xpg.inputs": "api", "xpg": "api",
    "xpg.nightly": "api", "xpg.nightly_state": "api", "xpg.nightly_snapshot": "api",
    "xpg.nightly_rings": "api",
    "xpg.serve": "serve", "xpg.serve_screen": "serve",
    "xpg.cli": "cli",
}
EVERYTHING = frozenset(LAYERS.values())

# layer -> the layers it may import (itself always)
RULES = {
    "foundation": {"foundation"},
    "config": set(),
    "loaders": {"foundation"},
    "synthetic": {"foundation", "loaders"},
    "queries": {"foundation", "loaders", "graph"},
    "graph": {"foundation", "loaders", "queries"},
    "report": {"foundation", "queries"},  # plain data in: neither the API nor a backend
    "api": {"foundation", "loaders", "queries", "graph", "report"},
    "serve": EVERYTHING - {"cli"},
    "cli": EVERYTHING,
}
# the architecture issue's targets (docs/architecture.md): not enforced yet
TARGETS = {
    "queries": {"foundation", "loaders"},  # the pipeline calls the backends, not the reverse
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


def sources() -> dict[str, Path]:
    found = {}
    for folder in ("xpg", "graph", "loaders", "queries", "config"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            found[module_name(path)] = path
    return found


def imports(path: Path, module: str) -> set[str]:
    """Every xpg module ``path`` imports, absolute or relative."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                out.add(f"{base}.{node.module}" if node.module else base)
            else:
                out.add(node.module)
    return {m for m in out if m == "xpg" or m.startswith("xpg.")}


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


def test_every_package_module_has_a_layer_and_imports():
    found = sources()
    assert len(found) > 40
    for module in found:
        assert layer_of(module) is not None, f"{module}: add it to LAYERS and the doc"
        importlib.import_module(module)


def test_the_import_rules_hold():
    found = violations(RULES)
    assert not found, "\n".join(found)


def test_the_rules_can_fail():
    """The checker sees a violation: every loader module reports through xpg.errors, so
    a rule set that gave loaders no foundation would flag them."""
    strict = {**RULES, "loaders": set()}
    assert any("(loaders) imports xpg.errors (foundation)" in v for v in violations(strict))
