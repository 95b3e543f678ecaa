"""Run one test body on every backend.

    @on_backends()            # memory, neo4j and spark
    def test_x(backend): ...  # `backend` is a fresh, empty Backend

Each parameter carries the backend's marker (``memory``/``neo4j``/``spark``, declared in
pyproject.toml), so ``pytest -m memory`` runs the in-memory half alone. ``slow`` names
the backends whose case is also marked ``slow``: Spark's by default (slow Spark cases
run in CI only, see tests/spark_session.py); ``slow=()`` makes a Spark case run always.
The ``backend`` fixture itself lives in ``conftest.py``.
"""

from __future__ import annotations

import pytest

ALL_BACKENDS = ("memory", "neo4j", "spark")
INVESTIGATED = ("memory", "neo4j")
"""Backends with an investigation source of their own (Spark's is the in-memory one
over the same tables, so its investigation cases would repeat the memory ones)."""


SLOW_BY_DEFAULT = ("spark",)
"""Backends whose cases are marked ``slow`` unless a test says otherwise: a Spark
detection is tens of Spark jobs, seconds even on tiny data (they run in CI)."""


def on_backends(*names: str, slow: tuple[str, ...] = SLOW_BY_DEFAULT):
    chosen = names or ALL_BACKENDS
    params = [
        pytest.param(
            n,
            id=n,
            marks=[getattr(pytest.mark, n), *([pytest.mark.slow] if n in slow else [])],
        )
        for n in chosen
    ]
    return pytest.mark.parametrize("backend", params, indirect=True)
