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
import itertools
import json
import math
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

from xpg.errors import InputError

if TYPE_CHECKING:
    import polars as pl

__all__ = [
    "EXPOSURE_KEYS",
    "SEVERITIES",
    "Exposure",
    "Finding",
    "FindingSequence",
    "FindingsReport",
    "encode_finding",
    "findings_document",
    "gc_paused",
    "stable_id",
    "stable_ids",
]

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


def stable_ids(finding_type: str, keys: Iterable[str]) -> list[str]:
    """:func:`stable_id` of ``finding_type`` and each one-string key (a column of them).

    Examples
    --------
    >>> stable_ids("multi_lending", ["u1", "u2"]) == [stable_id("multi_lending", "u1"),
    ...                                               stable_id("multi_lending", "u2")]
    True
    """
    prefix = f"{finding_type}\x1f"
    head = f"{finding_type.replace('_', '-')}-"
    sha1 = hashlib.sha1
    return [head + sha1((prefix + k).encode("utf-8")).hexdigest()[:12] for k in keys]


EXPOSURE_KEYS: tuple[str, ...] = ("total", "internal_limit", "internal_outstanding", "drawable",
                                  "external_outstanding")
"""The keys of :meth:`Exposure.to_dict`, in order (then ``at_risk`` where set)."""


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
    type: str
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


def _check_finding(n: int, f: Any) -> None:
    """Raise ValueError when the ``n``-th finding of a document read from a file is not
    one xpg writes (a document edited by hand): text where a number or a list belongs, a
    severity off the scale, an amount that is no finite number."""
    if not isinstance(f, Mapping):
        raise ValueError(f"finding {n} is not an object")
    where = f"finding {n} ({str(f.get('id'))[:100]})"
    if not isinstance(f.get("id"), str) or not f["id"] or not isinstance(f.get("type"), str):
        raise ValueError(f"{where}: id and type must be non-empty text")
    if f.get("severity", "low") not in SEVERITIES:
        raise ValueError(f"{where}: severity must be one of {', '.join(SEVERITIES)}")
    users = f.get("users")
    if not isinstance(users, list | tuple) or not all(isinstance(u, str) for u in users):
        raise ValueError(f"{where}: users must be a list of user ids")
    exposure = f.get("exposure")
    if not isinstance(exposure, Mapping):
        raise ValueError(f"{where}: exposure must be an object of amounts")
    numbers = [f.get("score", 0.0), *(exposure.get(k) for k in Exposure.__dataclass_fields__
                                       if exposure.get(k) is not None)]
    if not all(isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)
               for x in numbers):
        raise ValueError(f"{where}: score and exposure amounts must be finite numbers")


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


_ENCODE = json.JSONEncoder(ensure_ascii=False, check_circular=False).encode


def encode_finding(finding: Finding) -> str:
    """A finding's JSON on one line: ``json.dumps(finding.to_dict(), ensure_ascii=False)``
    (one encoder for every call; a finding is never circular)."""
    return _ENCODE(finding.to_dict())


def findings_document(as_of: dt.date, lines: Sequence[str], summary: Mapping[str, Any]) -> str:
    """The contract's findings document from finding lines (:func:`encode_finding`), in
    the layout of ``xpg detect``: one finding per line, indented; what a JSON parser reads
    back is :meth:`FindingsReport.to_dict`.

    Examples
    --------
    >>> print(findings_document(dt.date(2026, 11, 20), [], {"users": 0}), end="")
    {
      "as_of": "2026-11-20",
      "findings": [],
      "summary": {"users": 0}
    }
    """
    body = ",\n".join(["    " + line for line in lines])
    body = f"\n{body}\n  " if lines else ""
    return ("{\n"
            f'  "as_of": {_ENCODE(as_of.isoformat())},\n'
            f'  "findings": [{body}],\n'
            f'  "summary": {_ENCODE(_jsonable(summary))}\n'
            "}\n")


@dataclass
class _Part:
    """Findings of one type in document order: objects, or a frame of their JSON lines
    (:data:`xpg.queries.lines.FINDING_FRAME`) whose objects are made on first use."""

    type: str
    objects: tuple[Finding, ...] | None = None
    frame: pl.DataFrame | None = None

    def __len__(self) -> int:
        return len(self.objects) if self.objects is not None else self.frame.height  # type: ignore[union-attr]

    def findings(self) -> tuple[Finding, ...]:
        if self.objects is None:
            loads, make = json.loads, Finding.from_dict
            with gc_paused():
                self.objects = tuple(make(loads(x)) for x in self.lines())
        return self.objects

    def lines(self) -> list[str]:
        if self.frame is not None:
            return self.frame.get_column("line").to_list()
        return [encode_finding(f) for f in self.objects or ()]

    def dicts(self) -> list[dict[str, Any]]:
        if self.frame is not None:
            return [json.loads(x) for x in self.lines()]
        return [f.to_dict() for f in self.objects or ()]


class FindingSequence(Sequence[Finding]):
    """The findings of a report in document order, made of parts of one type each (see
    :func:`xpg.queries.detections.run_detections`): a part assembled as a frame keeps its
    findings' JSON lines, and makes its :class:`Finding` objects only when one is asked
    for (``Finding.from_dict`` of each line: the same findings as the rule's Python
    assembly). Otherwise a sequence like the tuple it stands for (``==`` compares the
    findings).

    Examples
    --------
    >>> f = Finding("ring-1", "ring", "low", 0.1, ("u1",), Exposure(total=1.0), {}, "x")
    >>> seq = FindingSequence.of([f])
    >>> len(seq), seq[0] is f, seq == (f,), list(seq.of_type("multi_lending"))
    (1, True, True, [])
    """

    def __init__(self, parts: Iterable[_Part]):
        self._parts = [p for p in parts if len(p)]
        self._all: tuple[Finding, ...] | None = None

    @classmethod
    def of(cls, findings: Iterable[Finding]) -> FindingSequence:
        """A sequence of ready findings (any order; kept as given)."""
        parts = [_Part(t, tuple(group))
                 for t, group in itertools.groupby(findings, key=lambda f: f.type)]
        return cls(parts)

    @classmethod
    def from_frame(cls, finding_type: str, frame: pl.DataFrame) -> FindingSequence:
        """The findings of one frame (:data:`xpg.queries.lines.FINDING_FRAME`), in its order."""
        return cls([_Part(finding_type, frame=frame)])

    def __add__(self, other: FindingSequence) -> FindingSequence:
        return FindingSequence([*self._parts, *other._parts])

    def _tuple(self) -> tuple[Finding, ...]:
        if self._all is None:
            self._all = tuple(itertools.chain.from_iterable(p.findings() for p in self._parts))
        return self._all

    def __len__(self) -> int:
        return sum(len(p) for p in self._parts)

    @overload
    def __getitem__(self, index: int) -> Finding: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[Finding, ...]: ...
    def __getitem__(self, index: int | slice) -> Finding | tuple[Finding, ...]:
        return self._tuple()[index]

    def __iter__(self) -> Iterator[Finding]:
        for p in self._parts:
            yield from p.findings()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FindingSequence | tuple | list):
            return self._tuple() == tuple(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment] - as mutable as the findings' evidence

    def __repr__(self) -> str:
        return f"FindingSequence({len(self)} findings)"

    def of_type(self, *types: str) -> tuple[Finding, ...]:
        """The findings of ``types``, in order (the other parts' objects are not made)."""
        return tuple(f for p in self._parts if p.type in types for f in p.findings()
                     if f.type in types)

    def lines(self) -> list[str]:
        """Each finding's JSON on one line (:func:`encode_finding`), in order."""
        return [x for p in self._parts for x in p.lines()]

    def dicts(self) -> list[dict[str, Any]]:
        """Each finding's :meth:`Finding.to_dict`, in order."""
        return [d for p in self._parts for d in p.dicts()]

    def parts(self) -> list[tuple[str, tuple[Finding, ...] | None, pl.DataFrame | None]]:
        """``(type, objects, frame)`` of each part (one of the two None), in order."""
        return [(p.type, p.objects if p.frame is None else None, p.frame) for p in self._parts]


def _detected_id(f: Finding) -> str | None:
    lineage = f.evidence.get("lineage") if isinstance(f.evidence, Mapping) else None
    ok = isinstance(lineage, Mapping) and lineage.get("detected_id")
    return str(lineage["detected_id"]) if ok else None  # type: ignore[index]


@dataclass(frozen=True)
class FindingsReport:
    """The findings document of one run: ``{"as_of", "findings", "summary"}``."""

    as_of: dt.date
    findings: Sequence[Finding]
    """A tuple, or a :class:`FindingSequence` (what a detection run returns)."""
    summary: Mapping[str, Any] = field(default_factory=dict)

    def by_id(self, finding_id: str) -> Finding | None:
        return next((f for f in self.findings if f.id == finding_id), None)

    def of_type(self, *types: str) -> tuple[Finding, ...]:
        """The findings of ``types``, in order (without making the others' objects)."""
        if isinstance(self.findings, FindingSequence):
            return self.findings.of_type(*types)
        return tuple(f for f in self.findings if f.type in types)

    def lines(self) -> list[str]:
        """Each finding's JSON on one line (:func:`encode_finding`), in order.

        Encoded once per report: ``xpg detect`` and ``xpg report`` ask twice (the stored
        state's ``doc`` column, then the findings document); a copy of the list is returned,
        the strings are shared."""
        cached = self.__dict__.get("_lines")
        if cached is None:
            with gc_paused():
                cached = (self.findings.lines() if isinstance(self.findings, FindingSequence)
                          else [encode_finding(f) for f in self.findings])
            self.__dict__["_lines"] = cached  # not a field: eq, repr and replace ignore it
        return list(cached)

    def index_frame(self) -> pl.DataFrame:
        """One row per finding in document order: ``id``, ``type``, ``severity``, ``users``
        (a list, in the finding's order), ``detected_id`` (the id the detection gave, from
        the ring lineage a nightly report adds; null otherwise) and ``line`` (the
        finding's JSON, :meth:`lines`). A part kept as a frame is read as a frame (its
        :class:`Finding` objects are not made)."""
        import polars as pl

        schema = {"id": pl.String, "type": pl.String, "severity": pl.String,
                  "users": pl.List(pl.String), "detected_id": pl.String}
        lines = self.lines()
        parts = (self.findings.parts() if isinstance(self.findings, FindingSequence)
                 else [(None, tuple(self.findings), None)])
        frames, start = [], 0
        for kind, objects, frame in parts:
            if frame is not None:
                part = frame.select("id", pl.lit(kind, pl.String).alias("type"), "severity",
                                    "users", pl.lit(None, pl.String).alias("detected_id"))
            else:
                fs = objects or ()
                part = pl.DataFrame(
                    {"id": [f.id for f in fs], "type": [f.type for f in fs],
                     "severity": [f.severity for f in fs],
                     "users": [list(f.users) for f in fs],
                     "detected_id": [_detected_id(f) for f in fs]},
                    schema=schema)
            frames.append(part.with_columns(
                pl.Series("line", lines[start:start + part.height], pl.String)))
            start += part.height
        if not frames:
            return pl.DataFrame(schema={**schema, "line": pl.String})
        return pl.concat(frames, how="vertical")

    def head(self) -> dict[str, Any]:
        """:meth:`to_dict` without the findings (``as_of`` and the JSON-ready summary),
        without encoding a finding."""
        return {"as_of": self.as_of.isoformat(), "summary": _jsonable(self.summary)}

    def document(self) -> str:
        """The findings document as ``xpg detect`` writes it: one finding per line
        (:meth:`lines`), the rest indented (:func:`findings_document`)."""
        return findings_document(self.as_of, self.lines(), self.summary)

    def to_dict(self) -> dict[str, Any]:
        with gc_paused():
            findings = (self.findings.dicts() if isinstance(self.findings, FindingSequence)
                        else [f.to_dict() for f in self.findings])
            return {
                "as_of": self.as_of.isoformat(),
                "findings": findings,
                "summary": _jsonable(self.summary),
            }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    def to_polars(self) -> pl.DataFrame:
        """One row per finding, as the report's ``findings.parquet`` holds them
        (:data:`xpg.queries.tables.FINDINGS_SCHEMA`; ``change`` is null here)."""
        from xpg.queries.tables import findings_frame

        return findings_frame(self)

    def users_to_polars(self) -> pl.DataFrame:
        """One row per (finding, user), as ``finding_users.parquet`` holds them."""
        from xpg.queries.tables import finding_users_frame

        return finding_users_frame(self)

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
            # utf-8-sig: a document saved by an editor that starts UTF-8 with a BOM
            d = json.loads(p.read_text(encoding="utf-8-sig"))
            if isinstance(d, Mapping) and isinstance(d.get("findings"), list | tuple):
                for n, f in enumerate(d["findings"], 1):
                    _check_finding(n, f)
            return cls.from_dict(d)
        except FileNotFoundError:
            raise InputError(f"no findings document at {p}") from None
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise InputError(f"{p} is not a findings document: {e}") from e
