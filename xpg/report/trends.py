"""Per-rule trends over the last nights: ``trends.json`` in each report folder, and the
page's Trends section.

Each night's report writes one row per rule: its findings, the exposure of the users
they name (each user once within the rule), the drawable amount they put at risk (each
account once; None for a rule that names none) and the precision of the analysts'
decisions on its cases closed by that night (confirmed fraud / decided; None before any
decision, or without cases). ``trends.json`` holds tonight's row and those of the
reports before it in the same folder, up to ``report.trend_nights`` nights, oldest
first. :func:`history` reads the earlier nights back, each from its own folder: the row
its ``trends.json`` gives for its own night, or, for a report written before trends
existed, the findings counts its ``manifest.json`` holds (the amounts unknown: None).
A night rerun with ``--overwrite`` replaces its row; a missing night is simply absent.

>>> rows = [night_row(dt.date(2026, 11, 20), {"ring": 2}, {"ring": (5000.0, None)},
...                   {"ring": {"precision": 0.5, "decided": 2}})]
>>> document(rows, 14)["series"][0]["rules"]["ring"]
{'findings': 2, 'exposure': 5000.0, 'at_risk': None, 'precision': 0.5, 'decided': 2}
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["FILE", "TREND_VERSION", "document", "history", "night_row"]

FILE = "trends.json"
"""The trends' file name in a report folder."""

TREND_VERSION = 1
"""The version of ``trends.json``'s layout."""

_DAY = "%Y-%m-%d"


def night_row(as_of: dt.date, counts: Mapping[str, int],
              money: Mapping[str, tuple[float, float | None]],
              precision: Mapping[str, Mapping[str, Any]] | None, *, source: str = "report"
              ) -> dict[str, Any]:
    """One night's row: per rule (every key of ``counts`` or ``money``), the findings,
    exposure, amount at risk, precision and decided cases."""
    rules = dict.fromkeys([*counts, *money])
    out: dict[str, Any] = {}
    for rule in rules:
        exposure, at_risk = money.get(rule, (None, None))
        p = (precision or {}).get(rule) or {}
        out[rule] = {"findings": int(counts.get(rule, 0)),
                     "exposure": None if exposure is None else round(float(exposure), 2),
                     "at_risk": None if at_risk is None else round(float(at_risk), 2),
                     "precision": p.get("precision"), "decided": int(p.get("decided", 0))}
    return {"as_of": as_of.isoformat(), "source": source, "rules": out}


def document(rows: Sequence[Mapping[str, Any]], nights: int) -> dict[str, Any]:
    """``trends.json``'s document: the last ``nights`` of ``rows`` (one per date, the last
    given for a date winning), oldest first, and the rules they name in order."""
    by_day = {str(r["as_of"]): dict(r) for r in rows}
    series = [by_day[d] for d in sorted(by_day)][-nights:]
    rules = list(dict.fromkeys(rule for r in series for rule in r["rules"]))
    return {"version": TREND_VERSION, "nights": nights, "rules": rules, "series": series}


def history(out: str | Path, as_of: dt.date, nights: int) -> tuple[dict[str, Any], ...]:
    """The rows of the ``nights - 1`` latest reports in ``out`` dated before ``as_of``
    (oldest first): each folder's own row of its ``trends.json``, else its manifest's
    counts (``source`` says which); folders with neither are skipped."""
    root = Path(out)
    if not root.is_dir() or nights < 2:
        return ()
    days = []
    for p in root.iterdir():
        try:
            day = dt.datetime.strptime(p.name, _DAY).date()
        except ValueError:
            continue
        if day < as_of and p.is_dir():
            days.append((day, p))
    rows: list[dict[str, Any]] = []
    for day, folder in sorted(days, reverse=True):
        row = _own_row(folder, day)
        if row is not None:
            rows.append(row)
            if len(rows) == nights - 1:
                break
    return tuple(reversed(rows))


def _read(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _own_row(folder: Path, day: dt.date) -> dict[str, Any] | None:
    doc = _read(folder / FILE)
    if isinstance(doc, dict):
        for row in doc.get("series") or ():
            if isinstance(row, dict) and row.get("as_of") == day.isoformat() \
                    and isinstance(row.get("rules"), dict):
                return row
    manifest = _read(folder / "manifest.json")
    if not isinstance(manifest, dict):
        return None
    summary = manifest.get("summary") or {}
    counts = summary.get("findings_by_type")
    if not isinstance(counts, dict):
        return None
    return night_row(day, {str(k): int(v) for k, v in counts.items()}, {},
                     summary.get("precision") if isinstance(summary.get("precision"), dict)
                     else None, source="manifest")
