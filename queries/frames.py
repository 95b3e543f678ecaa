"""Detection frames: the backend-independent facts every detection is built from.

A detection is split in two:

1. a **hook**, specific to a backend, that computes a *detection frame*: a
   Polars frame of raw qualifying facts (user ids, account ids, lender ids,
   amounts, timestamps) with exactly the schema below. The in-memory backend
   computes them with Polars (:class:`xpg.queries.polars_hooks.PolarsHooks`),
   the Neo4j backend with Cypher;
2. one shared **assembly** (:mod:`xpg.queries.assembly`) that turns the
   frames into :class:`~xpg.queries.findings.Finding` objects: ids, severity,
   score, evidence and explanation. Same frames in, same findings out, on every
   backend.

:class:`DetectionHooks` is the protocol a backend implements; the exact
semantics of every frame (which rows, which columns) are in
``docs/detections.md``. Row order never matters: the assembly sorts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import polars as pl

from xpg.errors import BackendError
from xpg.settings import FreezeConfig, LimitDivergenceConfig, MultiLendingConfig, RingConfig

__all__ = [
    "FRAME_SCHEMAS",
    "DetectionHooks",
    "RingEvidence",
    "conform",
    "empty_frame",
]

_S = pl.String()
_F = pl.Float64()
_I = pl.Int64()
_T = pl.Datetime("us")
_L = pl.List(pl.String())

FRAME_SCHEMAS: Mapping[str, Mapping[str, pl.DataType]] = {
    # One row per user asked for.
    "exposure": {
        "user_id": _S,
        "internal_limit": _F,
        "internal_outstanding": _F,
        "drawable": _F,
        "external_outstanding": _F,
        "total": _F,
    },
    # One row per multi_lending user; lists are distinct lender ids, sorted.
    "multi_lending": {
        "user_id": _S,
        "open_lenders": _L,
        "short_window_lenders": _L,
        "long_window_lenders": _L,
    },
    # One row per member of a connected group with >= min_users users.
    "ring_groups": {"group": _S, "user_id": _S},
    # Kept devices linked to >= 2 members of a group.
    "ring_devices": {"group": _S, "device_id": _S, "members": _I},
    # Kept identifiers linked to >= 2 members of a group.
    "ring_identifiers": {"group": _S, "kind": _S, "value": _S, "members": _I},
    # Lenders at which members hold open/overdue loans.
    "ring_lenders": {"group": _S, "lender_id": _S, "members": _I},
    # One row per (frozen account, drawable account of the other kind) pair.
    "freeze_inconsistency": {
        "user_id": _S,
        "frozen_account_id": _S,
        "frozen_product_id": _S,
        "frozen_kind": _S,
        "frozen_status": _S,
        "frozen_reason": _S,
        "frozen_since": _T,
        "drawable_account_id": _S,
        "drawable_product_id": _S,
        "drawable_kind": _S,
        "drawable": _F,
    },
    # One row per (user-scope freeze event, later unfreeze/reopen event) pair.
    "restored_after_freeze": {
        "user_id": _S,
        "frozen_account_id": _S,
        "frozen_product_id": _S,
        "freeze_at": _T,
        "freeze_reason": _S,
        "restored_account_id": _S,
        "restored_product_id": _S,
        "restored_event": _S,
        "restored_at": _T,
        "restored_drawable": _F,
    },
    # One row per (qualifying cut event, raise event of the other kind) pair.
    "limit_divergence": {
        "user_id": _S,
        "cut_account_id": _S,
        "cut_product_id": _S,
        "cut_kind": _S,
        "cut_at": _T,
        "cut_old_limit": _F,
        "cut_new_limit": _F,
        "raise_account_id": _S,
        "raise_product_id": _S,
        "raise_kind": _S,
        "raise_at": _T,
        "raise_old_limit": _F,
        "raise_new_limit": _F,
    },
}


def empty_frame(name: str) -> pl.DataFrame:
    """An empty frame with the schema of ``FRAME_SCHEMAS[name]``."""
    return pl.DataFrame(schema=dict(FRAME_SCHEMAS[name]))


def conform(name: str, frame: pl.DataFrame) -> pl.DataFrame:
    """Check ``frame`` against ``FRAME_SCHEMAS[name]``; select and cast its columns.

    Missing columns raise :class:`~xpg.errors.BackendError` (a hook broke its
    contract); extra columns are dropped; castable dtypes (e.g. ``Int64`` amounts,
    a ``Null`` column of an empty result) are cast.

    Examples
    --------
    >>> conform("ring_groups", pl.DataFrame({"group": [1], "user_id": ["u1"]})).dtypes
    [String, String]
    """
    schema = FRAME_SCHEMAS[name]
    missing = [c for c in schema if c not in frame.columns]
    if missing:
        raise BackendError(f"detection frame {name!r} lacks columns {missing}")
    try:
        return frame.select(pl.col(c).cast(t) for c, t in schema.items())
    except pl.exceptions.PolarsError as e:
        raise BackendError(f"detection frame {name!r} has wrong column types: {e}") from e


@dataclass(frozen=True)
class RingEvidence:
    """The evidence frames of the ring groups asked for."""

    devices: pl.DataFrame
    identifiers: pl.DataFrame
    lenders: pl.DataFrame


@runtime_checkable
class DetectionHooks(Protocol):
    """What a backend computes; :func:`xpg.queries.detections.run_detections` does the rest.

    Every method returns a frame of ``FRAME_SCHEMAS`` (extra columns are
    ignored); ``docs/detections.md`` defines each one's rows exactly.
    """

    def user_count(self) -> int:
        """Number of users in the data."""
        ...

    def exposure(self, as_of: dt.date, user_ids: Sequence[str]) -> pl.DataFrame:
        """Frame ``exposure`` for the given users (unknown users may be left out)."""
        ...

    def multi_lending(self, config: MultiLendingConfig, as_of: dt.date) -> pl.DataFrame:
        """Frame ``multi_lending``."""
        ...

    def ring_groups(self, config: RingConfig, as_of: dt.date) -> pl.DataFrame:
        """Frame ``ring_groups``."""
        ...

    def ring_evidence(
        self, config: RingConfig, as_of: dt.date, members: pl.DataFrame
    ) -> RingEvidence:
        """Frames ``ring_devices``, ``ring_identifiers``, ``ring_lenders`` for ``members``.

        ``members`` is a ``ring_groups`` frame restricted to the groups that are findings.
        """
        ...

    def freeze_inconsistency(self, config: FreezeConfig, as_of: dt.date) -> pl.DataFrame:
        """Frame ``freeze_inconsistency``."""
        ...

    def restored_after_freeze(self, config: FreezeConfig, as_of: dt.date) -> pl.DataFrame:
        """Frame ``restored_after_freeze``."""
        ...

    def limit_divergence(self, config: LimitDivergenceConfig, as_of: dt.date) -> pl.DataFrame:
        """Frame ``limit_divergence``."""
        ...
