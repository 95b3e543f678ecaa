"""What changed between two findings reports: the "since last night" of the nightly report.

:func:`diff_reports` compares a previous and a current
:class:`~xpg.queries.findings.FindingsReport` and returns a :class:`ReportDiff`:
one :class:`Change` per finding of either report, each of one kind:

============  ==================================================================
kind          meaning
============  ==================================================================
new           in the current report only
resolved      in the previous report only
unchanged     in both, same severity and exposure
changed       in both, severity and/or exposure total moved (``severity_change``
              and ``exposure_change`` say which way)
grew          a ring matched one previous ring and has more members now
shrank        a ring matched one previous ring and has fewer members now
reshaped      a ring matched one previous ring, same size, some members swapped
merged        a ring matched two or more previous rings
split         a ring matched one previous ring that now matches several rings
============  ==================================================================

Matching
--------
Findings other than rings are matched by their stable id: the id is a hash of
the finding's identifying key (the user, the accounts, ...), so the same
situation has the same id on every night.

A ring's id is a hash of its member list, so it changes with any change of
membership. Rings are therefore matched by **member overlap**: the overlap
coefficient ``|A ∩ B| / min(|A|, |B|)`` of the previous ring ``A`` and the
current ring ``B``. A pair matches when the coefficient is at least
``ring_overlap`` (default :data:`DEFAULT_RING_OVERLAP` = 0.5: at least half of
the smaller ring is in the other). The overlap coefficient rather than the
Jaccard index, because a ring that doubles in size (3 members -> 6, all 3 still
there) is the same ring (coefficient 1.0, Jaccard only 0.5), and so is each
half of a ring that split.

Identity is carried forward: each current ring takes the id of one matched
previous ring, assigned one to one in decreasing order of shared members
(ties: higher coefficient, then the previous ring's larger exposure, then the
smaller id), so an id never lands on two rings. A merged ring keeps the id of
the previous ring it shares most members with; after a split, the part
sharing most members keeps the old id and the other parts get their own
(content) id with ``previous_ids`` naming the ring they split from. A
current ring that matched nothing keeps its own content id (should that id be
in use by a carried ring, a variant is derived from it, see
:func:`_unused_id`). Since previous reports carry ids the same way, a ring
keeps its first id for as long as it keeps being matched.

:meth:`ReportDiff.apply` rewrites the current report with the carried ids and
records the lineage in each ring's evidence (``evidence["lineage"]``:
``detected_id``, ``change``, ``previous_ids``).

Notes
-----
Cost: non-ring matching is one dictionary lookup per finding. Ring matching
indexes the previous rings by member (rings of one report are disjoint, so
each user is in at most one ring) and visits each current member once:
O(total ring members) plus a sort of the candidate pairs.

Examples
--------
>>> import datetime as dt
>>> from xpg.queries.findings import Exposure, Finding, FindingsReport
>>> def ring(fid, users, total):
...     return Finding(fid, "ring", "high", 0.9, tuple(users), Exposure(total), {}, "a ring")
>>> before = FindingsReport(dt.date(2026, 11, 19), (ring("ring-a", ["u1", "u2", "u3"], 100.0),))
>>> grown = ring("ring-b", ["u1", "u2", "u3", "u4"], 150.0)
>>> after = FindingsReport(dt.date(2026, 11, 20), (grown,))
>>> d = diff_reports(before, after)
>>> [(c.kind, c.id, c.users_added) for c in d.changes]
[('grew', 'ring-a', ('u4',))]
>>> d.apply(after).findings[0].id
'ring-a'
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl
from xpg.queries.changes import CHANGE_KINDS, Change, ChangeKind, severity_rank
from xpg.queries.findings import Finding, FindingsReport, stable_id
from xpg.queries.reasons import Nights, explain, loan_users_of
from xpg.queries.rules import group_types, member_types

from xpg.errors import InputError

__all__ = [
    "CHANGE_KINDS",
    "DEFAULT_RING_OVERLAP",
    "Change",
    "ReportDiff",
    "diff_reports",
    "overlap_coefficient",
    "ring_users",
]

DEFAULT_RING_OVERLAP = 0.5
"""Two rings are the same ring when at least this share of the smaller one is in the other."""


def overlap_coefficient(a: Iterable[str], b: Iterable[str]) -> float:
    """``|A ∩ B| / min(|A|, |B|)``; 0.0 when either is empty.

    Examples
    --------
    >>> overlap_coefficient(["u1", "u2", "u3"], ["u2", "u3", "u4", "u5"])
    0.6666666666666666
    >>> overlap_coefficient([], ["u1"])
    0.0
    """
    sa, sb = set(a), set(b)
    if not sa or not sb:
        return 0.0
    return len(sa & sb) / min(len(sa), len(sb))


@dataclass(frozen=True)
class ReportDiff:
    """The changes from ``previous_as_of`` to ``as_of``, ordered by kind then exposure."""

    as_of: Any
    previous_as_of: Any
    changes: tuple[Change, ...]
    ring_overlap: float = DEFAULT_RING_OVERLAP
    # current detected id -> id carried forward (only where they differ)
    carried_ids: Mapping[str, str] = field(default_factory=dict)

    def of_kind(self, *kinds: str) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.kind in kinds)

    def counts(self) -> dict[str, int]:
        """Number of changes of each kind (every kind present, zeros included)."""
        out = dict.fromkeys(CHANGE_KINDS, 0)
        for c in self.changes:
            out[c.kind] += 1
        return out

    def worse(self) -> int:
        """How many changes are :attr:`Change.worse`."""
        return sum(c.worse for c in self.changes)

    def by_id(self, finding_id: str) -> Change | None:
        return next((c for c in self.changes if c.id == finding_id), None)

    def apply(self, current: FindingsReport) -> FindingsReport:
        """``current`` with ring ids carried forward and each ring's lineage in its evidence.

        Findings other than rings are returned unchanged. Raises
        :class:`~xpg.errors.InputError` if ``current`` is not the report this
        diff was computed on.
        """
        by_detected = {c.detected_id: c for c in self.changes if c.detected_id is not None}
        groups = group_types()
        out: list[Finding] = []
        for f in current.findings:
            change = by_detected.get(f.id)
            if change is None:
                raise InputError(f"finding {f.id} is not part of this diff")
            if f.type not in groups:
                out.append(f)
                continue
            evidence = dict(f.evidence)
            evidence["lineage"] = {
                "detected_id": f.id,
                "change": change.kind,
                "previous_ids": list(change.previous_ids),
            }
            out.append(dataclasses.replace(f, id=change.id, evidence=evidence))
        return dataclasses.replace(current, findings=tuple(out))

    def to_dict(self) -> dict[str, Any]:
        return {
            "as_of": str(self.as_of),
            "previous_as_of": str(self.previous_as_of),
            "ring_overlap": self.ring_overlap,
            "counts": self.counts(),
            "changes": [c.to_dict() for c in self.changes],
        }


def _pair(kind: ChangeKind, fid: str, old: Finding | None, new: Finding | None,
          previous_ids: tuple[str, ...] = ()) -> Change:
    ref = new if new is not None else old
    assert ref is not None
    return Change(
        kind=kind,
        id=fid,
        type=ref.type,
        detected_id=None if new is None else new.id,
        previous_ids=previous_ids,
        severity_before=None if old is None else old.severity,
        severity_after=None if new is None else new.severity,
        exposure_before=None if old is None else float(old.exposure.total),
        exposure_after=None if new is None else float(new.exposure.total),
        users_before=() if old is None else tuple(sorted(old.users)),
        users_after=() if new is None else tuple(sorted(new.users)),
        explanation=ref.explanation,
        identifiers=tuple(str(i) for i in ref.evidence.get("identifiers", ())),
    )


def _same_or_changed(old: Finding, new: Finding, fid: str) -> Change:
    c = _pair("unchanged", fid, old, new, (old.id,))
    if c.severity_change or c.exposure_change:
        c = dataclasses.replace(c, kind="changed")
    return c


def _unused_id(base: str, members: Iterable[str], taken: set[str], finding_type: str) -> str:
    """``base``, or when a carried ring already uses it, a stable variant of it."""
    fid, n = base, 1
    while fid in taken:
        n += 1
        fid = stable_id(finding_type, sorted(members), f"variant-{n}")
    return fid


def _check_unique_ids(previous: FindingsReport, current: FindingsReport) -> None:
    for name, report in (("previous", previous), ("current", current)):
        seen: set[str] = set()
        for f in report.findings:
            if f.id in seen:
                raise InputError(f"{name} report has two findings with id {f.id}")
            seen.add(f.id)


def _diff_rings(
    old_rings: list[Finding], new_rings: list[Finding], threshold: float, taken: set[str]
) -> tuple[list[Change], dict[str, str]]:
    """Match rings by member overlap; returns their changes and detected id -> carried id."""
    owner: dict[str, int] = {}  # user -> index of the previous ring holding them
    for i, r in enumerate(old_rings):
        for u in r.users:
            owner[u] = i
    # candidate pairs (old, new) with shared member counts
    shared: dict[tuple[int, int], int] = defaultdict(int)
    for j, r in enumerate(new_rings):
        for u in set(r.users):
            i = owner.get(u)
            if i is not None:
                shared[(i, j)] += 1
    edges: list[tuple[int, int, int, float]] = []
    for (i, j), n in shared.items():
        coef = n / min(len(set(old_rings[i].users)), len(set(new_rings[j].users)))
        if coef >= threshold:
            edges.append((i, j, n, coef))
    preds: dict[int, list[int]] = defaultdict(list)  # new -> matched old
    succs: dict[int, list[int]] = defaultdict(list)  # old -> matched new
    for i, j, _n, _c in edges:
        preds[j].append(i)
        succs[i].append(j)

    # one-to-one carrying of ids, strongest overlaps first, deterministic ties
    edges.sort(key=lambda e: (-e[2], -e[3], -old_rings[e[0]].exposure.total, old_rings[e[0]].id,
                              new_rings[e[1]].id))
    carried: dict[int, int] = {}  # new -> old whose id it takes
    used_old: set[int] = set()
    for i, j, _n, _c in edges:
        if j not in carried and i not in used_old:
            carried[j] = i
            used_old.add(i)
    # a ring that matched nothing must not take any id the previous report used
    taken.update(r.id for r in old_rings)

    changes: list[Change] = []
    ids: dict[str, str] = {}
    for j, new in enumerate(new_rings):
        olds = sorted(preds.get(j, []), key=lambda i: old_rings[i].id)
        if j in carried:
            fid = old_rings[carried[j]].id
        else:
            fid = _unused_id(new.id, new.users, taken, new.type)
            taken.add(fid)
        ids[new.id] = fid
        prev_ids = tuple(old_rings[i].id for i in olds)
        if not olds:
            changes.append(_pair("new", fid, None, new))
            continue
        if len(olds) >= 2:
            kind: ChangeKind = "merged"
            old_users = tuple(u for i in olds for u in old_rings[i].users)
            before_total = sum(float(old_rings[i].exposure.total) for i in olds)
            worst = max((old_rings[i].severity for i in olds), key=severity_rank)
            c = _pair(kind, fid, old_rings[carried.get(j, olds[0])], new, prev_ids)
            changes.append(dataclasses.replace(
                c, users_before=tuple(sorted(set(old_users))), exposure_before=before_total,
                severity_before=worst))
            continue
        (i,) = olds
        old = old_rings[i]
        if len(succs[i]) >= 2:
            changes.append(_pair("split", fid, old, new, prev_ids))
            continue
        before, after = set(old.users), set(new.users)
        if before == after:
            changes.append(_same_or_changed(old, new, fid))
            continue
        kind = "grew" if len(after) > len(before) else "shrank" if len(after) < len(before) \
            else "reshaped"
        changes.append(_pair(kind, fid, old, new, prev_ids))
    for i, old in enumerate(old_rings):
        if i not in succs:
            changes.append(_pair("resolved", old.id, old, None))
    return changes, ids


def _multi_lenders(report: FindingsReport) -> frozenset[str]:
    members = member_types()
    return frozenset(u for f in report.findings if f.type in members for u in f.users)


def ring_users(*reports: FindingsReport) -> frozenset[str]:
    """Every member of a ring of the given reports (whose links ``links`` needs)."""
    groups = group_types()
    return frozenset(u for r in reports for f in r.findings if f.type in groups for u in f.users)


def diff_reports(
    previous: FindingsReport,
    current: FindingsReport,
    *,
    ring_overlap: float = DEFAULT_RING_OVERLAP,
    loans: pl.DataFrame | None = None,
    links: Mapping[str, frozenset[str]] | None = None,
) -> ReportDiff:
    """Compare two findings reports; see the module documentation for the rules.

    Parameters
    ----------
    previous, current
        The earlier and the later report (normally consecutive nights).
    ring_overlap
        Minimum overlap coefficient, in (0, 1], for two rings to be the same ring.
    loans
        The current night's external loans (``user_id`` at least), to tell a
        loan closed from a user with no loan in the data (``reason``); None:
        from the evidence only.
    links
        Tonight's kept device/identifier links of the rings' members (user -> nodes,
        :func:`xpg.queries.reasons.kept_links_of` of :func:`ring_users`), to tell a
        member cut off by a link that disappeared (``link_removed``) or linked in by a
        new one (``link_added``); None: no link reasons.

    Returns
    -------
    ReportDiff
        One change per finding of the current report, plus one ``resolved``
        change per previous finding that matched nothing. Ordered by kind (as
        in :data:`CHANGE_KINDS`), then exposure (largest first), then id.

    Raises
    ------
    InputError
        ``ring_overlap`` out of range, or a report with a duplicated id.
    """
    if not 0.0 < ring_overlap <= 1.0:
        raise InputError(f"ring_overlap must be in (0, 1], got {ring_overlap!r}")
    _check_unique_ids(previous, current)
    groups = group_types()
    old_by_id = {f.id: f for f in previous.findings if f.type not in groups}
    changes: list[Change] = []
    for f in current.findings:
        if f.type in groups:
            continue
        old = old_by_id.pop(f.id, None)
        changes.append(_pair("new", f.id, None, f) if old is None
                       else _same_or_changed(old, f, f.id))
    changes.extend(_pair("resolved", f.id, f, None) for f in old_by_id.values())

    taken = {f.id for f in current.findings if f.type not in groups}
    ring_ids: dict[str, str] = {}
    for group in groups:  # rings are matched with rings of their own rule
        ring_changes, ids = _diff_rings(
            [f for f in previous.findings if f.type == group],
            [f for f in current.findings if f.type == group],
            ring_overlap,
            taken,
        )
        changes.extend(ring_changes)
        ring_ids.update(ids)
    old_of = {f.id: f for f in previous.findings}
    new_of = {f.id: f for f in current.findings}
    nights = Nights(loan_users=loan_users_of(loans), multi_now=_multi_lenders(current),
                    multi_before=_multi_lenders(previous), links=links)
    changes = [explain(c, old_of.get(c.previous_ids[0] if c.previous_ids else c.id),
                       new_of.get(c.detected_id or ""), current.as_of, nights=nights)
               for c in changes]
    order = {k: n for n, k in enumerate(CHANGE_KINDS)}
    changes.sort(key=lambda c: (
        order[c.kind],
        -(c.exposure_after if c.exposure_after is not None else c.exposure_before or 0.0),
        c.id,
    ))
    return ReportDiff(
        as_of=current.as_of,
        previous_as_of=previous.as_of,
        changes=tuple(changes),
        ring_overlap=ring_overlap,
        carried_ids={k: v for k, v in ring_ids.items() if k != v},
    )
