"""The project installs under one import name, and nothing top-level besides."""

import ast
import importlib
import importlib.metadata
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
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
    # a backend's optional extra (``spark``) declares what only that backend imports
    extras = [d for name, deps in project.get("optional-dependencies", {}).items()
              if name != "dev" for d in deps]
    return {_canonical(re.split(r"[<>=!~;\[ ]", d, maxsplit=1)[0])
            for d in [*project["dependencies"], *extras]}


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


def test_the_built_wheel_holds_the_package_data_under_xpg_only(tmp_path):
    """Build the wheel from a copy of the sources (nothing written into the checkout)."""
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    for folder in ("xpg", "graph", "loaders", "queries", "config"):
        shutil.copytree(ROOT / folder, src / folder,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path / "wheel"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
         "--disable-pip-version-check", "--no-cache-dir", "-q", "-w", str(out), str(src)],
        capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr
    (wheel,) = out.glob("xpg_exposure-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        assert "xpg = xpg.cli:main" in z.read(entry_points).decode("utf-8")

    def files_in(package: str, suffix: str = "") -> set[str]:
        """Names of the files directly in ``package/`` (a folder of the wheel)."""
        return {n.removeprefix(package + "/") for n in names
                if n.startswith(package + "/") and n.count("/") == package.count("/") + 1
                and n.endswith(suffix)}

    assert "xpg/config/defaults.toml" in names and "xpg/py.typed" in names
    assert files_in("xpg/graph/neo4j/cypher") == {
        p.name for p in (ROOT / "graph/neo4j/cypher").iterdir()}
    assert files_in("xpg/templates") == {p.name for p in (ROOT / "xpg/templates").iterdir()}
    for package, folder in [("xpg", "xpg"), ("xpg/cli", "xpg/cli"), ("xpg/report", "xpg/report"),
                            ("xpg/graph", "graph"), ("xpg/graph/neo4j", "graph/neo4j"),
                            ("xpg/linkgraph", "xpg/linkgraph"), ("xpg/loaders", "loaders"),
                            ("xpg/queries", "queries"), ("xpg/config", "config")]:
        assert files_in(package, ".py") == {p.name for p in (ROOT / folder).glob("*.py")}, package
    top = {n.split("/")[0] for n in names} - {"xpg"}
    assert len(top) == 1 and top.pop().endswith(".dist-info"), "only xpg/ and its .dist-info"


def test_the_version_is_the_distributions():
    import xpg

    with open(ROOT / "pyproject.toml", "rb") as fh:
        declared = tomllib.load(fh)["project"]["version"]
    assert xpg.__version__ == importlib.metadata.version(xpg.DISTRIBUTION) == declared
    with open(ROOT / "pyproject.toml", "rb") as fh:
        assert tomllib.load(fh)["project"]["name"] == xpg.DISTRIBUTION


def test_the_version_without_an_installed_distribution(monkeypatch):
    from xpg.version import installed_version

    def not_installed(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", not_installed)
    assert installed_version() == "0+unknown"
