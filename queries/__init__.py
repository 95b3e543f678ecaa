"""Detections and investigative queries over the exposure graph.

``xpg.queries.detect(dataset, config, *, as_of=None)`` runs every detection of
the data contract in memory (:mod:`xpg.queries.detections`). Each rule is one
module of :mod:`xpg.queries.rules` (its forms, predicate and assembly);
:mod:`xpg.queries.frames`, :mod:`xpg.queries.asof` and :mod:`xpg.queries.assembly`
are what the rules and every backend share.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from xpg.queries.detections import detect, run_detections

__all__ = ["detect", "run_detections"]


def __getattr__(name: str) -> Any:
    # Lazy: importing xpg.queries.findings must not pull in Polars/scipy.
    if name in __all__:
        from xpg.queries import detections

        return getattr(detections, name)
    raise AttributeError(f"module 'xpg.queries' has no attribute {name!r}")
