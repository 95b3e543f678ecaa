"""A nightly run through the one path a user takes: :func:`xpg.open` with
``incremental=`` and :meth:`Session.detect <xpg.api.Session.detect>` (the backend's
:meth:`~xpg.graph.backend.Backend.detect` given the previous night)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xpg.queries.findings import FindingsReport

import xpg
from xpg.settings import Settings


@dataclass
class Night:
    """A nightly run's findings and what it did (:class:`~xpg.graph.backend.NightlyRun`)."""

    findings: FindingsReport
    incremental: bool
    reason: str | None
    changed_users: int
    ring_users: int
    timings: dict[str, float]

    @property
    def as_of(self) -> dt.date:
        return self.findings.as_of

    @property
    def summary(self) -> dict[str, Any]:
        return dict(self.findings.summary)

    def text(self) -> str:
        return self.findings.document()

    def report(self) -> FindingsReport:
        return self.findings


def run_nightly(data: Path, settings: Settings | None = None, state: Path | None = None, *,
                as_of: dt.date | None = None, changes: Path | None = None,
                write_state: bool = True) -> Night:
    """Detect on ``data`` from the state folder ``state`` (None: a plain full run)."""
    settings = settings or Settings()
    if state is None:
        with xpg.open(data=data, settings=settings) as s:
            report = s.detect(as_of)
            users = report.summary["users"]
            return Night(report, False, "no state was given", users, users, {})
    with xpg.open(data=data, settings=settings, incremental=state, changes=changes) as s:
        assert s.night is not None
        s.night.write_state = write_state
        report = s.detect(as_of)
        n = s.night
        assert s._dataset is None, "the nightly run loaded the whole snapshot first"
        return Night(report, n.incremental, n.reason, n.changed_users, n.ring_users,
                     dict(n.timings))
