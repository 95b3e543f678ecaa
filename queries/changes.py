"""One line of the diff between two findings reports (:class:`Change`), and its kinds.

:mod:`xpg.queries.diff` makes the changes and :mod:`xpg.queries.reasons` explains them;
both read this module, which imports neither.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from xpg.queries.findings import SEVERITIES

__all__ = ["CHANGE_KINDS", "Change", "ChangeKind", "Direction", "severity_rank"]

ChangeKind = Literal[
    "new", "resolved", "unchanged", "changed", "grew", "shrank", "reshaped", "merged", "split"
]
CHANGE_KINDS: tuple[str, ...] = (
    "new",
    "resolved",
    "changed",
    "grew",
    "shrank",
    "reshaped",
    "merged",
    "split",
    "unchanged",
)
Direction = Literal["up", "down"]

_CENT = 0.005  # exposures are money rounded to cents: smaller moves are not changes


@dataclass(frozen=True)
class Change:
    """One line of the diff.

    ``id`` is the finding's id in the current report after carrying forward
    (for ``resolved``: its id in the previous report). ``detected_id`` is the
    content id the detection gave the current finding (``None`` for
    ``resolved``). ``previous_ids`` are the previous findings this one
    descends from (empty for ``new``). ``reason`` (codes of
    :data:`xpg.queries.reasons.REASONS`, joined by ``+``) and ``why`` say what
    changed in the rule's input; empty for ``new`` and ``unchanged``.
    """

    kind: ChangeKind
    id: str
    type: str
    detected_id: str | None = None
    previous_ids: tuple[str, ...] = ()
    severity_before: str | None = None
    severity_after: str | None = None
    exposure_before: float | None = None
    exposure_after: float | None = None
    users_before: tuple[str, ...] = ()
    users_after: tuple[str, ...] = ()
    explanation: str = ""
    reason: str = ""
    why: str = ""
    identifiers: tuple[str, ...] = ()
    """The identifiers (``kind:value``) the explanation may name: those of the finding it
    was taken from, so that :meth:`masked_explanation` masks them even for a finding
    that is gone tonight (a resolved ring's explanation is the previous night's)."""

    def masked_explanation(self) -> str:
        """:attr:`explanation` with its identifier values masked as the masks in effect
        show them (what the page, ``changes.csv`` and ``changes.json`` carry)."""
        from xpg.queries.investigate.base import masked_explanation

        return masked_explanation(self.explanation, {"identifiers": self.identifiers})

    @property
    def severity_change(self) -> Direction | None:
        """``"up"``/``"down"`` when both severities are known and differ."""
        if self.severity_before is None or self.severity_after is None:
            return None
        a, b = severity_rank(self.severity_before), severity_rank(self.severity_after)
        return None if a == b else ("up" if b > a else "down")

    @property
    def exposure_change(self) -> Direction | None:
        """``"up"``/``"down"`` when both totals are known and differ by a cent or more."""
        if self.exposure_before is None or self.exposure_after is None:
            return None
        delta = self.exposure_after - self.exposure_before
        return None if abs(delta) < _CENT else ("up" if delta > 0 else "down")

    @property
    def exposure_delta(self) -> float | None:
        if self.exposure_before is None or self.exposure_after is None:
            return None
        return round(self.exposure_after - self.exposure_before, 2)

    @property
    def worse(self) -> bool:
        """A finding of the previous night that got worse: a ring that grew, merged, split,
        reshaped or shrank while taking in a member, or a severity that went up."""
        return (self.kind in ("grew", "merged", "split", "reshaped")
                or self.severity_change == "up"
                or (self.kind == "shrank" and bool(self.users_added)))

    @property
    def users_added(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.users_after) - set(self.users_before)))

    @property
    def users_removed(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.users_before) - set(self.users_after)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "id": self.id,
            "type": self.type,
            "detected_id": self.detected_id,
            "previous_ids": list(self.previous_ids),
            "severity_before": self.severity_before,
            "severity_after": self.severity_after,
            "severity_change": self.severity_change,
            "exposure_before": _money(self.exposure_before),
            "exposure_after": _money(self.exposure_after),
            "exposure_delta": self.exposure_delta,
            "exposure_change": self.exposure_change,
            "users_added": list(self.users_added),
            "users_removed": list(self.users_removed),
            "explanation": self.masked_explanation(),
            "reason": self.reason,
            "why": self.why,
        }


def _money(x: float | None) -> float | None:
    return None if x is None else round(float(x), 2)


def severity_rank(s: str) -> int:
    return SEVERITIES.index(s) if s in SEVERITIES else -1
