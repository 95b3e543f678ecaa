"""Run one test body on every backend.

    @on_backends()            # memory and neo4j
    def test_x(backend): ...  # `backend` is a fresh, empty Backend

Each parameter carries the backend's marker (``memory``/``neo4j``, declared in
pyproject.toml), so ``pytest -m memory`` runs the in-memory half alone.
The ``backend`` fixture itself lives in ``conftest.py``.
"""

from __future__ import annotations

import pytest

ALL_BACKENDS = ("memory", "neo4j")


def on_backends(*names: str):
    chosen = names or ALL_BACKENDS
    params = [pytest.param(n, id=n, marks=getattr(pytest.mark, n)) for n in chosen]
    return pytest.mark.parametrize("backend", params, indirect=True)
