"""What ``xpg serve`` answers from: a session's run, read-only and shared by every request.

:class:`ServeData` is made once per process, before the first request: the findings of
the run date are encoded to JSON once (one ``bytes`` per finding, with the indexes a
findings page filters on), so a page of findings joins the encoded findings it shows
and never serializes the report; the view of every ring is encoded too (:func:`encode_rings`);
the session's lookup tables are built before the first request, so that the requests
read them without a lock (nothing a request touches is written after that).

The run dates served are the ones the data holds (:attr:`ServeData.dates`: the
session's run date); any other ``as_of`` is refused (422) before anything is
computed, so no request can start a detection or grow the memory, whatever the
number of distinct dates asked.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from xpg.errors import InputError, NoFindingsError
from xpg.queries.findings import SEVERITIES
from xpg.queries.rules import FINDING_TYPES, group_types

if TYPE_CHECKING:
    from xpg.api import Session
    from xpg.queries.findings import FindingsReport

__all__ = ["MAX_ENCODED_RINGS", "EncodedFindings", "ServeData", "dumps", "encode_rings"]


def dumps(value: Any) -> bytes:
    """Compact JSON bytes (what every answer is)."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"),
                      allow_nan=False).encode()


@dataclass(frozen=True)
class EncodedFindings:
    """The findings of one run date, each encoded once, with the indexes of the filters."""

    as_of: dt.date
    docs: tuple[bytes, ...]
    summary: bytes
    by_id: dict[str, int]
    by_user: dict[str, tuple[int, ...]]
    #: (type or None, lowest severity or None) -> positions, in report order
    by_filter: dict[tuple[str | None, str | None], tuple[int, ...]]

    @classmethod
    def of(cls, report: FindingsReport) -> EncodedFindings:
        fs = report.findings
        dicts = fs.dicts() if hasattr(fs, "dicts") else [f.to_dict() for f in fs]
        docs = tuple(dumps(d) for d in dicts)
        by_id: dict[str, int] = {}
        by_user: dict[str, list[int]] = {}
        for i, f in enumerate(fs):
            lineage = f.evidence.get("lineage") if isinstance(f.evidence, dict) else None
            carried = lineage.get("detected_id") if isinstance(lineage, dict) else None
            if isinstance(carried, str):
                by_id.setdefault(carried, i)
        for i, f in enumerate(fs):
            by_id[f.id] = i  # an id of this run wins over a carried one
            for u in set(f.users):
                by_user.setdefault(u, []).append(i)
        types: list[str | None] = [None, *FINDING_TYPES, *sorted(
            {f.type for f in fs} - set(FINDING_TYPES))]
        rank = {s: k for k, s in enumerate(SEVERITIES)}
        by_filter = {
            (t, s): tuple(i for i, f in enumerate(fs)
                          if (t is None or f.type == t)
                          and (s is None or rank.get(f.severity, -1) >= rank[s]))
            for t in types for s in (None, *SEVERITIES)}
        summary = dumps(type(report)(as_of=report.as_of, findings=(),
                                     summary=report.summary).to_dict()["summary"])
        return cls(as_of=report.as_of, docs=docs, summary=summary, by_id=by_id,
                   by_user={u: tuple(v) for u, v in by_user.items()}, by_filter=by_filter)

    def page(self, *, finding_type: str | None, severity: str | None, user: str | None,
             offset: int, limit: int) -> bytes:
        """The findings document of the filtered page, assembled from the encoded findings."""
        picked: Sequence[int] = self.by_filter.get((finding_type, severity), ())
        if user is not None:
            wanted = set(picked)
            picked = [i for i in self.by_user.get(user, ()) if i in wanted]
        shown = picked[offset:offset + limit]
        page = dumps({"offset": offset, "limit": limit, "total": len(picked)})
        return b"".join((b'{"as_of":"', self.as_of.isoformat().encode(), b'","findings":[',
                         b",".join(self.docs[i] for i in shown), b'],"summary":',
                         self.summary, b',"page":', page, b"}"))

    def one(self, finding_id: str) -> bytes | None:
        i = self.by_id.get(finding_id)
        return None if i is None else self.docs[i]


MAX_ENCODED_RINGS = 5_000
"""Rings whose views are encoded when the service starts (the largest first); the
others are computed per request."""


def encode_rings(session: Session) -> dict[str, bytes]:
    """The view of each ring finding of the session's run (at most
    :data:`MAX_ENCODED_RINGS`, by exposure), encoded: ring id -> JSON bytes."""
    try:
        report = session.findings(session.as_of)
    except NoFindingsError:
        return {}
    groups = group_types()
    rings = sorted((f for f in report.findings if f.type in groups),
                   key=lambda f: -f.exposure.total)[:MAX_ENCODED_RINGS]
    return {f.id: dumps(session.ring(f.id, as_of=session.as_of).to_dict()) for f in rings}


class ServeData:
    """A session's run as the service answers it (see the module documentation).

    Parameters
    ----------
    session
        An open session; its run date (:attr:`Session.as_of`) is the one date served.
    """

    def __init__(self, session: Session, *, rings: Mapping[str, bytes] | None = None):
        self.session = session
        self.dates: tuple[dt.date, ...] = (session.as_of,)
        self._encoded: EncodedFindings | None = None
        self._first = threading.Lock()  # taken only until the findings are encoded
        # a database without stored findings: 409 until a detection stores them
        with contextlib.suppress(NoFindingsError):
            self.findings()
        self._warm()
        self.rings: Mapping[str, bytes] = rings if rings is not None else encode_rings(
            session)

    def ring(self, ring_id: str, as_of: dt.date | None) -> bytes:
        """A ring's view, encoded before the first request (or computed now: an id
        carried from an earlier run, or a ring past :data:`MAX_ENCODED_RINGS`)."""
        day = self.day(as_of)
        body = self.rings.get(ring_id)
        if body is None:
            body = dumps(self.call(lambda s, d: s.ring(ring_id, as_of=d), day).to_dict())
        return body

    def encoded_ring(self, ring_id: str, as_of: dt.date | None) -> bytes | None:
        """A ring's view if it was encoded before the first request (None: to compute)."""
        self.day(as_of)
        return self.rings.get(ring_id)

    @property
    def as_of(self) -> dt.date:
        return self.dates[0]

    def day(self, as_of: dt.date | None) -> dt.date:
        """``as_of`` when the service holds it (None: the run date); InputError if not."""
        if as_of is None:
            return self.as_of
        if as_of not in self.dates:
            held = ", ".join(d.isoformat() for d in self.dates)
            raise InputError(f"as_of: {as_of.isoformat()} is not a run date this service "
                             f"holds; it answers for {held} (a service answers the run "
                             "date it was started for: start another one for another date)",
                             argument="as_of")
        return as_of

    def findings(self) -> EncodedFindings:
        """The encoded findings (read once; NoFindingsError while a database has none)."""
        encoded = self._encoded
        if encoded is None:
            with self._first:
                if self._encoded is None:
                    report = self.session.findings(self.as_of)
                    self.session.findings_index(self.as_of)
                    self._encoded = EncodedFindings.of(report)
                encoded = self._encoded
        return encoded

    def _warm(self) -> None:
        """Build the session's lazily made lookup tables now, before requests share them."""
        try:
            source = self.session.source
        except Exception:  # a failing backend answers its error per request
            return
        from xpg.queries.investigate.state import TABLES

        for attr in TABLES.values():
            with contextlib.suppress(Exception):  # a source without it (Neo4j): nothing to do
                getattr(source, attr)

    def call(self, fn: Callable[[Session, dt.date], Any], as_of: dt.date | None) -> Any:
        """``fn(session, day)`` for the run date; no lock: the session is only read."""
        day = self.day(as_of)
        self.findings()  # the investigations read the findings: 409 without them
        return fn(self.session, day)
