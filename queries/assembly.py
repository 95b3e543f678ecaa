"""What every rule's assembly shares: scoring, exposure rows, evidence helpers (the report's
order and summary over every rule: :mod:`xpg.queries.summary`).

Each rule assembles its own findings (:meth:`xpg.queries.rules.base.Rule.assemble`)
with these helpers; they only read frames (whoever computed them) and settings,
so the same frames give the same findings, byte for byte, on every backend.

Scoring (documented in ``docs/detections.md``)::

    money    = min(1, log10(1 + amount) / 6)         # 1,000,000 CNY or more -> 1
    score    = round(0.4 * strength + 0.6 * money, 4)
    severity = critical >= 0.8 > high >= 0.6 > medium >= 0.4 > low

``amount`` is the finding's total exposure (its ``at_risk`` for
``freeze_inconsistency``); ``strength`` in [0, 1] says how far past its
thresholds the finding is (see each rule's ``assemble``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import polars as pl
from xpg.queries.findings import Exposure, Finding, stable_id

__all__ = [
    "AMOUNTS",
    "SENSITIVE_KINDS",
    "SEVERITY_FLOORS",
    "ExposureIndex",
    "by_user",
    "cny",
    "distinct",
    "exposure_of",
    "finding",
    "mask_identifier",
    "money_factor",
    "names",
    "plural",
    "rows",
    "score_of",
    "severity_of",
]

AMOUNTS = ("internal_limit", "internal_outstanding", "drawable", "external_outstanding", "total")
SENSITIVE_KINDS = frozenset({"bank_card", "id_number"})
"""Identifier kinds shown masked in evidence (``****`` + last four characters)."""

SEVERITY_FLOORS = (("critical", 0.8), ("high", 0.6), ("medium", 0.4))
"""The lowest score of each severity above ``low``, highest first."""


# -- scoring ---------------------------------------------------------------------


def money_factor(amount: float) -> float:
    """``min(1, log10(1 + amount) / 6)``: 0 for nothing, 1 from 1,000,000 CNY up.

    Examples
    --------
    >>> money_factor(0.0), money_factor(999_999.0)
    (0.0, 1.0)
    """
    return min(1.0, math.log10(1.0 + max(amount, 0.0)) / 6.0)


def score_of(strength: float, amount: float) -> float:
    """``round(0.4 * strength + 0.6 * money_factor(amount), 4)``.

    Examples
    --------
    >>> score_of(1.0, 999_999.0)
    1.0
    >>> score_of(0.5, 0.0)
    0.2
    """
    strength = min(1.0, max(0.0, strength))
    return round(0.4 * strength + 0.6 * money_factor(amount), 4)


def severity_of(score: float) -> str:
    """``critical`` >= 0.8 > ``high`` >= 0.6 > ``medium`` >= 0.4 > ``low``.

    Examples
    --------
    >>> [severity_of(s) for s in (0.8, 0.7999, 0.6, 0.4, 0.39)]
    ['critical', 'high', 'high', 'medium', 'low']
    """
    for name, floor in SEVERITY_FLOORS:
        if score >= floor:
            return name
    return "low"


# -- helpers ---------------------------------------------------------------------


def cny(amount: float) -> str:
    """``1,234 CNY``: an amount as explanations write it."""
    return f"{amount:,.0f} CNY"


def names(items: Sequence[str], limit: int = 3) -> str:
    """``a``, ``a and b``, ``a, b and c``, ``a, b, c and 4 more``."""
    items = list(items)
    if len(items) <= limit:
        return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
    return ", ".join(items[:limit]) + f" and {len(items) - limit} more"


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 lender``, ``2 lenders`` (``many``: the plural when not ``word + 's'``)."""
    return f"{n} {word if n == 1 else (many or word + 's')}"


def mask_identifier(kind: str, value: str) -> str:
    """``kind:value`` for evidence; sensitive kinds keep only their last four characters.

    Examples
    --------
    >>> mask_identifier("bank_card", "6222020200112233")
    'bank_card:****2233'
    >>> mask_identifier("phone", "13800001111")
    'phone:13800001111'
    """
    if kind in SENSITIVE_KINDS:
        value = "****" + (value[-4:] if len(value) > 4 else "")
    return f"{kind}:{value}"


class ExposureIndex:
    """Per-user exposure rows, cent-rounded (so sums are the same on every backend).

    Built once from an ``exposure`` frame; a user missing from it has zero exposure.
    """

    def __init__(self, exposure: pl.DataFrame):
        self.frame = exposure.unique("user_id", keep="first").with_columns(
            pl.col(AMOUNTS).round(2)).select("user_id", *AMOUNTS)
        """The rows: one per user, cent-rounded (what a frame assembly joins)."""
        self._rows: dict[str, dict[str, float]] | None = None
        self._zero = dict.fromkeys(AMOUNTS, 0.0)

    def _index(self) -> dict[str, dict[str, float]]:
        if self._rows is None:  # made on first use: a frame assembly reads only the frame
            frame = self.frame
            columns = [frame.get_column(a).to_list() for a in AMOUNTS]
            self._rows = {
                user: dict(zip(AMOUNTS, values, strict=True))
                for user, values in zip(
                    frame.get_column("user_id").to_list(), zip(*columns, strict=True),
                    strict=True)
            }
        return self._rows

    def __getitem__(self, user: str) -> dict[str, float]:
        return self._index().get(user, self._zero)

    def joined(self, frame: pl.DataFrame, on: str = "user_id") -> pl.DataFrame:
        """``frame`` with each row's user's amounts (:data:`AMOUNTS`; zero for a user
        missing from the exposure, as :meth:`__getitem__` gives)."""
        return (frame.join(self.frame.rename({"user_id": on}), on=on, how="left",
                           maintain_order="left")
                .with_columns(pl.col(AMOUNTS).fill_null(0.0)))


def exposure_of(row: Mapping[str, float], at_risk: float | None = None) -> Exposure:
    """A finding's :class:`Exposure` from one :class:`ExposureIndex` row."""
    return Exposure(
        total=row["total"],
        internal_limit=row["internal_limit"],
        internal_outstanding=row["internal_outstanding"],
        drawable=row["drawable"],
        external_outstanding=row["external_outstanding"],
        at_risk=None if at_risk is None else round(at_risk, 2),
    )


def rows(frame: pl.DataFrame) -> Iterable[dict[str, Any]]:
    """The rows of ``frame`` as dicts (one conversion per column, not per value)."""
    names = frame.columns
    return (dict(zip(names, row, strict=True)) for row in frame.rows())


def by_user(frame: pl.DataFrame, sort: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """The rows of ``frame`` grouped by ``user_id``, users and rows sorted."""
    out: dict[str, list[dict[str, Any]]] = {}
    for row in rows(frame.sort(["user_id", *sort])):
        out.setdefault(row["user_id"], []).append(row)
    return out


def distinct(rows: Iterable[dict[str, Any]], keys: Sequence[str]) -> list[dict[str, Any]]:
    """The distinct ``keys`` projections of ``rows``, in first-seen order."""
    seen: set[tuple[Any, ...]] = set()
    out = []
    for row in rows:
        k = tuple(row[c] for c in keys)
        if k not in seen:
            seen.add(k)
            out.append({c: row[c] for c in keys})
    return out


def finding(
    ftype: str,
    key: Sequence[str] | str,
    users: Sequence[str],
    strength: float,
    exposure: Exposure,
    evidence: Mapping[str, Any],
    explanation: str,
) -> Finding:
    """A :class:`Finding` with its stable id, score and severity (see the module docstring)."""
    amount = exposure.at_risk if exposure.at_risk is not None else exposure.total
    score = score_of(strength, amount)
    return Finding(
        id=stable_id(ftype, key),
        type=ftype,  # type: ignore[arg-type]
        severity=severity_of(score),  # type: ignore[arg-type]
        score=score,
        users=tuple(sorted(users)),
        exposure=exposure,
        evidence=dict(evidence),
        explanation=explanation,
    )
