"""Backtests: what other settings would have found on the nights already reported.

:func:`backtest` takes the latest ``nights`` report folders of a reports folder, re-runs
each night's detection on that night's data (the folder its ``manifest.json`` names, or one
given for all) as of that night's date under the candidate settings, and compares the
candidate's findings with the findings the night reported: per rule, the findings
**gained** (only the candidate has them) and **lost** (only the night had them), matched as
the nightly report matches them (by id; rings by shared members,
:func:`xpg.queries.diff.diff_reports`). Of those a case decided (the reports folder's
``cases.sqlite``, or the database's cases), the confirmed frauds and the false positives
(``false_positive`` or ``benign``) gained and lost: what a threshold change would have done
to the analysts' verdicts, before making it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from xpg.cases import CASES_FILE
from xpg.cases.model import Case
from xpg.errors import InputError
from xpg.queries.diff import diff_reports
from xpg.queries.findings import FindingsReport
from xpg.settings import Settings

__all__ = ["Backtest", "backtest", "stored_nights"]

_ROW = ("gained", "lost", "confirmed_gained", "confirmed_lost", "false_positive_gained",
        "false_positive_lost")


@dataclass(frozen=True)
class Backtest:
    nights: tuple[str, ...]
    rules: dict[str, dict[str, int]]
    per_night: tuple[dict[str, Any], ...] = field(default=(), repr=False)
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"nights": list(self.nights), "rules": self.rules,
                "per_night": list(self.per_night), "notes": list(self.notes)}


def stored_nights(reports: Path, nights: int | None = None) -> list[tuple[dt.date, Path]]:
    """The dated report folders holding findings.json and manifest.json, oldest first (the
    latest ``nights`` of them)."""
    found = []
    if not reports.is_dir():
        raise InputError(f"reports: {reports} is not a folder", argument="reports")
    for p in reports.iterdir():
        try:
            day = dt.date.fromisoformat(p.name)
        except ValueError:
            continue
        if (p / "findings.json").is_file() and (p / "manifest.json").is_file():
            found.append((day, p))
    found.sort()
    if not found:
        raise InputError(f"reports: no report folder in {reports}", argument="reports")
    return found[-nights:] if nights else found


def backtest(reports: str | os.PathLike[str], candidate: Settings, *,
             nights: int | None = None, data: str | os.PathLike[str] | None = None,
             cases: list[Case] | None = None) -> Backtest:
    """Re-run the stored nights of ``reports`` under ``candidate``; see the module docstring.

    ``cases`` default to those of ``reports/cases.sqlite`` (none when it is missing).
    """
    import xpg.api as api

    root = Path(reports)
    picked = stored_nights(root, nights)
    if cases is None:
        cases = _stored_cases(root)
    outcome = {fid: c.outcome for c in cases if c.status == "closed" for fid in c.finding_ids}
    rules: dict[str, dict[str, int]] = {}
    per_night = []
    notes = []
    for day, folder in picked:
        night = FindingsReport.read(folder / "findings.json")
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        source = Path(data) if data is not None else _night_data(manifest, folder)
        with api.open(data=source, settings=candidate, read_only=True) as s:
            if s.load_result is not None and manifest.get("row_counts"):
                now = {n: f.height for n, f in s.dataset.tables().items()}
                if any(now.get(k) != v for k, v in manifest["row_counts"].items()):
                    notes.append(f"{day}: the data in {source} has other row counts than the "
                                 "night had (it changed since): compared as it is now")
            found = s.findings(day)
        diff = diff_reports(night, found, ring_overlap=float(manifest.get("ring_overlap", 0.5)))
        counts: dict[str, dict[str, int]] = {}
        for c in diff.changes:
            if c.kind == "new":
                side, fids = "gained", (c.detected_id or c.id,)
            elif c.kind == "resolved":
                side, fids = "lost", (c.id,)
            else:
                continue
            row = counts.setdefault(c.type, dict.fromkeys(_ROW, 0))
            row[side] += 1
            decided = next((outcome[f] for f in (*fids, *c.previous_ids) if f in outcome), None)
            if decided == "confirmed_fraud":
                row[f"confirmed_{side}"] += 1
            elif decided in ("false_positive", "benign"):
                row[f"false_positive_{side}"] += 1
        for rule, row in counts.items():
            total = rules.setdefault(rule, dict.fromkeys(_ROW, 0))
            for k, v in row.items():
                total[k] += v
        per_night.append({"as_of": day.isoformat(), "rules": counts,
                          "findings_night": len(night.findings),
                          "findings_candidate": len(found.findings)})
    return Backtest(tuple(d.isoformat() for d, _ in picked), dict(sorted(rules.items())),
                    tuple(per_night), tuple(notes))


def _night_data(manifest: dict[str, Any], folder: Path) -> Path:
    named = manifest.get("data")
    if not named or named == "-":
        raise InputError(f"{folder}: its manifest names no data folder; give the data "
                         "with data=", argument="data")
    path = Path(named)
    if not path.is_dir():
        raise InputError(f"{folder}: the night's data folder {named} is not there (a "
                         "relative path is read from the current folder); give it with "
                         "data=", argument="data")
    return path


def _stored_cases(root: Path) -> list[Case]:
    if not (root / CASES_FILE).is_file():
        return []
    from xpg.cases.sqlite import SqliteCaseStore

    with SqliteCaseStore(root / CASES_FILE) as store:
        return store.list()
