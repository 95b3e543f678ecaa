"""Run the docstring examples of every package module, imported by its installed name.

pytest's own ``--doctest-modules`` would import ``graph/memory.py`` as a second,
top-level ``graph.memory`` (the folders are mapped under ``xpg`` by pyproject's
``package-dir``, not importable by their folder name), so this plugin collects the
package sources itself and imports each as ``xpg.graph.memory``: the examples run
against the very modules the code and the other tests use. Registered by
``tests/conftest.py``; the folders come from ``[tool.setuptools] package-dir``,
and pyproject's ``testpaths`` names them, so ``make test`` runs every example.
"""

from __future__ import annotations

import importlib
import tomllib
from functools import cache
from pathlib import Path

from _pytest.doctest import DoctestModule

ROOT = Path(__file__).resolve().parents[1]


@cache
def _packages() -> dict[Path, str]:
    """Source folder -> the package it installs as (``graph`` -> ``xpg.graph``)."""
    with open(ROOT / "pyproject.toml", "rb") as fh:
        mapping = tomllib.load(fh)["tool"]["setuptools"]["package-dir"]
    return {(ROOT / folder).resolve(): package for package, folder in mapping.items()}


def module_name(path: Path) -> str | None:
    """The installed name of the module at ``path``; None outside the package folders."""
    path = path.resolve()
    for folder, package in _packages().items():
        if path.is_relative_to(folder):
            parts = [*path.relative_to(folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            return ".".join([package, *parts])
    return None


class PackageDoctests(DoctestModule):
    """The doctests of one package module, imported under its installed name."""

    def _getobj(self):
        module = importlib.import_module(module_name(self.path))
        if Path(module.__file__).resolve() != self.path.resolve():  # pragma: no cover
            raise ImportError(f"{module.__name__} is {module.__file__}, not {self.path}: "
                              "reinstall (make install)")
        return module


def pytest_collect_file(file_path: Path, parent):
    if file_path.suffix == ".py" and module_name(file_path) is not None:
        if parent.config.option.doctestmodules:  # pytest's own collector takes them
            return None
        return PackageDoctests.from_parent(parent, path=file_path)
    return None
