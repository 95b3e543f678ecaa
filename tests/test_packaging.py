"""The project installs under one import name, and nothing top-level besides."""

import importlib
import subprocess
import sys

import pytest


@pytest.mark.parametrize("name", ["xpg", "xpg.graph", "xpg.loaders", "xpg.queries", "xpg.config"])
def test_import_names(name):
    assert importlib.import_module(name)


@pytest.mark.parametrize("name", ["graph", "loaders", "queries", "config"])
def test_no_top_level_packages_installed(name, tmp_path):
    # from a folder other than the checkout, the bare folder names must not import
    code = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({name!r}) is not None)"
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path)
    assert done.returncode == 0, f"a top-level '{name}' package is importable"
