"""The project installs under one import name, and nothing top-level besides."""

import ast
import importlib
import importlib.metadata
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", ["xpg", "xpg.graph", "xpg.loaders", "xpg.queries", "xpg.config"])
def test_import_names(name):
    assert importlib.import_module(name)


@pytest.mark.parametrize("name", ["graph", "loaders", "queries", "config"])
def test_no_top_level_packages_installed(name, tmp_path):
    # from a folder other than the checkout, the bare folder names must not import
    code = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({name!r}) is not None)"
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path)
    assert done.returncode == 0, f"a top-level '{name}' package is importable"


def _declared_distributions() -> set[str]:
    with open(ROOT / "pyproject.toml", "rb") as fh:
        project = tomllib.load(fh)["project"]
    return {_canonical(re.split(r"[<>=!~;\[ ]", d, maxsplit=1)[0]) for d in project["dependencies"]}


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _imported_top_level_names() -> dict[str, str]:
    """Top-level module name -> one file importing it, over the installed package's sources."""
    names: dict[str, str] = {}
    for folder in ("xpg", "graph", "loaders", "queries", "config"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text("utf-8"))):
                if isinstance(node, ast.Import):
                    found = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    found = [node.module]
                else:
                    continue
                for name in found:
                    names.setdefault(name.split(".")[0], str(path.relative_to(ROOT)))
    return names


def test_every_third_party_import_is_a_declared_dependency():
    declared = _declared_distributions()
    providers = importlib.metadata.packages_distributions()
    missing = []
    for name, where in sorted(_imported_top_level_names().items()):
        if name in sys.stdlib_module_names or name in ("__future__", "xpg"):
            continue
        dists = {_canonical(d) for d in providers.get(name, [name])}
        if not dists & declared:
            missing.append(f"{name} (imported by {where})")
    assert not missing, f"imported but not in [project] dependencies: {missing}"
