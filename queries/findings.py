"""Findings: what every detection returns, on every backend.

A :class:`Finding` serializes to exactly the contract's JSON (``to_dict``);
a :class:`FindingsReport` is the whole document. Ids are stable: a hash of
the finding's type and identifying key (sorted user ids, account ids, ...),
so the same finding on the same data gets the same id on every run and every
backend.
"""

from __future__ import annotations

import datetime as dt
import gc
import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from xpg.queries.rules import BUILTIN_RULES

from xpg.errors import InputError

__all__ = [
    "FINDING_TYPES",
    "SEVERITIES",
    "Exposure",
    "Finding",
    "FindingsReport",
    "gc_paused",
    "stable_id",
]

FindingType = Literal[
    "multi_lending", "ring", "freeze_inconsistency", "restored_after_freeze", "limit_divergence"
]
FINDING_TYPES: tuple[str, ...] = BUILTIN_RULES
"""The data contract's finding types (the built-in rules'; the registry's, a rule added
with :func:`xpg.queries.rules.register` included, are :func:`xpg.queries.rules.finding_types`)."""
Severity = Literal["low", "medium", "high", "critical"]
SEVERITIES: tuple[str, ...] = ("low", "medium", "high", "critical")


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector for the block (restored after it).

    Building tens of thousands of findings (and their JSON dicts) allocates
    millions of small containers; each allocation burst triggers collections
    that walk every live container, which costs more than the building itself.
    Nothing built here forms reference cycles, so nothing is left for the
    collector to find; reference counting frees everything as usual.

    Examples
    --------
    >>> import gc
    >>> with gc_paused():
    ...     gc.isenabled()
    False
    >>> gc.isenabled()
    True
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _money(x: float | None) -> float | None:
    return None if x is None else round(float(x), 2)


def stable_id(finding_type: str, *key: str | Iterable[str]) -> str:
    """A stable finding id: ``<type>-<12 hex>`` from the type and its identifying key.

    Examples
    --------
    >>> stable_id("ring", ["u2", "u1", "u3"]) == stable_id("ring", ["u1", "u3", "u2"])
    True
    >>> stable_id("ring", ["u1", "u2", "u3"]).startswith("ring-")
    True
    """
    parts: list[str] = [finding_type]
    for k in key:
        parts.append(k if isinstance(k, str) else ",".join(sorted(k)))
    digest = hashlib.sha1("\x1f".join(parts).encode("utf-8")).hexdigest()[:12]
    return f"{finding_type.replace('_', '-')}-{digest}"


@dataclass(frozen=True)
class Exposure:
    """Money at stake (CNY). ``total`` is always set; ``at_risk`` where a rule names one."""

    total: float
    internal_limit: float = 0.0
    internal_outstanding: float = 0.0
    drawable: float = 0.0
    external_outstanding: float = 0.0
    at_risk: float | None = None

    def to_dict(self) -> dict[str, float]:
        out = {
            "total": _money(self.total),
            "internal_limit": _money(self.internal_limit),
            "internal_outstanding": _money(self.internal_outstanding),
            "drawable": _money(self.drawable),
            "external_outstanding": _money(self.external_outstanding),
        }
        if self.at_risk is not None:
            out["at_risk"] = _money(self.at_risk)
        return out  # type: ignore[return-value]

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Exposure:
        return cls(**{k: d[k] for k in d if k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Finding:
    id: str
    type: FindingType
    severity: Severity
    score: float
    users: tuple[str, ...]
    exposure: Exposure
    evidence: Mapping[str, Any]
    explanation: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "severity": self.severity,
            "score": round(float(self.score), 4),
            "users": sorted(self.users),
            "exposure": self.exposure.to_dict(),
            "evidence": _jsonable(self.evidence),
            "explanation": self.explanation,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Finding:
        return cls(
            id=d["id"],
            type=d["type"],
            severity=d.get("severity", "low"),
            score=float(d.get("score", 0.0)),
            users=tuple(d["users"]),
            exposure=Exposure.from_dict(d["exposure"]),
            evidence=dict(d.get("evidence", {})),
            explanation=d["explanation"],
        )


_PLAIN = (str, int, bool, type(None))


def _jsonable(x: Any) -> Any:
    t = type(x)
    if t in _PLAIN:  # the common cases first, by exact type: no ABC checks (a hot path)
        return x
    if t is dict:
        return {str(k): v if type(v) in _PLAIN else _jsonable(v) for k, v in x.items()}
    if t is list or t is tuple:
        return [v if type(v) in _PLAIN else _jsonable(v) for v in x]
    if t is float:
        return round(x, 2)
    if isinstance(x, Mapping):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple | set | frozenset):
        return [_jsonable(v) for v in x]
    if isinstance(x, dt.datetime | dt.date):
        return x.isoformat()
    if isinstance(x, float):
        return round(x, 2)
    return x


@dataclass(frozen=True)
class FindingsReport:
    """The findings document of one run: ``{"as_of", "findings", "summary"}``."""

    as_of: dt.date
    findings: tuple[Finding, ...]
    summary: Mapping[str, Any] = field(default_factory=dict)

    def by_id(self, finding_id: str) -> Finding | None:
        return next((f for f in self.findings if f.id == finding_id), None)

    def to_dict(self) -> dict[str, Any]:
        with gc_paused():
            return {
                "as_of": self.as_of.isoformat(),
                "findings": [f.to_dict() for f in self.findings],
                "summary": _jsonable(self.summary),
            }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FindingsReport:
        return cls(
            as_of=dt.date.fromisoformat(d["as_of"]),
            findings=tuple(Finding.from_dict(f) for f in d["findings"]),
            summary=dict(d.get("summary", {})),
        )

    @classmethod
    def from_json(cls, text: str) -> FindingsReport:
        return cls.from_dict(json.loads(text))

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> FindingsReport:
        """The findings document in a ``findings.json`` file, or in the one a report
        folder holds.

        Raises
        ------
        InputError
            Missing or unreadable file, or not a findings document.

        Examples
        --------
        >>> import tempfile, pathlib
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> _ = (folder / "findings.json").write_text(
        ...     FindingsReport(dt.date(2026, 11, 20), ()).to_json())
        >>> FindingsReport.read(folder).as_of
        datetime.date(2026, 11, 20)
        """
        p = Path(path)
        if p.is_dir():
            p = p / "findings.json"
        try:
            return cls.from_json(p.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError(f"no findings document at {p}") from None
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise InputError(f"{p} is not a findings document: {e}") from e
