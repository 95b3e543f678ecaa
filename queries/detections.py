"""Run every detection: hooks compute the frames, the shared assembly makes findings.

:func:`run_detections` is backend-independent: give it any
:class:`~xpg.queries.frames.DetectionHooks` (Polars in memory, Cypher on
Neo4j). :func:`detect` is the in-memory shortcut over a
:class:`~xpg.loaders.dataset.Dataset`.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import contextmanager
from typing import TypeVar

import polars as pl
from xpg.loaders.dataset import Dataset
from xpg.queries import assembly
from xpg.queries.findings import FindingsReport, gc_paused
from xpg.queries.frames import DetectionHooks, RingEvidence, conform, empty_frame
from xpg.queries.polars_hooks import PolarsHooks

from xpg.errors import RunDateUnknownError
from xpg.progress import NO_PROGRESS, Progress
from xpg.settings import DetectionConfig

__all__ = ["DETECTION_STEPS", "default_as_of", "detect", "run_detections"]

DETECTION_STEPS = (
    "multi_lending",
    "ring",
    "freeze_inconsistency",
    "restored_after_freeze",
    "limit_divergence",
    "exposure",
    "assembly",
)
"""The names under which :func:`run_detections` records ``timings``."""

T = TypeVar("T")


def default_as_of(dataset: Dataset) -> dt.date:
    """The run date when none is given: the latest date in the data.

    Raises
    ------
    RunDateUnknownError
        When the data holds no date at all.
    """
    latest = dataset.latest_date()
    if latest is None:
        raise RunDateUnknownError("cannot infer the run date: the data has no dates",
                                  argument="as_of")
    return latest


def run_detections(
    hooks: DetectionHooks,
    config: DetectionConfig,
    as_of: dt.date,
    *,
    progress: Progress | None = None,
    timings: MutableMapping[str, float] | None = None,
) -> FindingsReport:
    """Every detection of the data contract as of ``as_of``, from ``hooks``' frames.

    Parameters
    ----------
    hooks
        The backend's frame computations.
    config
        Thresholds, hub cut-off, identifier kinds and reason scopes.
    as_of
        The run date (already resolved; see :func:`default_as_of`).
    progress
        Reports one step per detection.
    timings
        If given, receives the seconds spent in each of :data:`DETECTION_STEPS`.

    Returns
    -------
    FindingsReport
        Findings sorted by :func:`xpg.queries.assembly.sort_findings`, and the summary.
    """
    progress = progress or NO_PROGRESS
    clock: MutableMapping[str, float] = timings if timings is not None else {}

    @contextmanager
    def step(name: str) -> Iterator[None]:
        start = time.perf_counter()
        # many small Python objects (findings, evidence): see gc_paused
        with gc_paused(), progress.step(f"Detecting {name.replace('_', ' ')}", 1) as advance:
            yield
            advance(1)
        clock[name] = clock.get(name, 0.0) + time.perf_counter() - start

    def frame(name: str, compute: Callable[[], pl.DataFrame]) -> pl.DataFrame:
        return conform(name, compute())

    with step("multi_lending"):
        ml = frame("multi_lending", lambda: hooks.multi_lending(config.multi_lending, as_of))
        ml_users = assembly.multi_lending_users(ml, config.multi_lending)
    with step("ring"):
        groups = frame("ring_groups", lambda: hooks.ring_groups(config.ring, as_of))
        members = assembly.qualifying_rings(groups, ml_users, config.ring)
        if members.height:
            evidence = hooks.ring_evidence(config.ring, as_of, members)
        else:
            evidence = RingEvidence(
                empty_frame("ring_devices"),
                empty_frame("ring_identifiers"),
                empty_frame("ring_lenders"),
            )
    with step("freeze_inconsistency"):
        fi = frame("freeze_inconsistency", lambda: hooks.freeze_inconsistency(config.freeze, as_of))
    with step("restored_after_freeze"):
        rf = frame(
            "restored_after_freeze", lambda: hooks.restored_after_freeze(config.freeze, as_of)
        )
    with step("limit_divergence"):
        ld = frame(
            "limit_divergence", lambda: hooks.limit_divergence(config.limit_divergence, as_of)
        )
    with step("exposure"):
        needed = (
            pl.concat([f.select("user_id") for f in (ml, members, fi, rf, ld)])
            .unique()
            .sort("user_id")
            .get_column("user_id")
            .to_list()
        )
        exposure = assembly.ExposureIndex(frame("exposure", lambda: hooks.exposure(as_of, needed)))
    with step("assembly"):
        findings = [
            *assembly.assemble_multi_lending(ml, exposure, config.multi_lending),
            *assembly.assemble_rings(
                members,
                ml_users,
                conform("ring_devices", evidence.devices),
                conform("ring_identifiers", evidence.identifiers),
                conform("ring_lenders", evidence.lenders),
                exposure,
                config.ring,
            ),
            *assembly.assemble_freeze_inconsistency(fi, exposure, config.freeze),
            *assembly.assemble_restored_after_freeze(rf, exposure, config.freeze),
            *assembly.assemble_limit_divergence(ld, exposure, config.limit_divergence),
        ]
        ordered = tuple(assembly.sort_findings(findings))
        summary = assembly.summarize(ordered, hooks.user_count(), exposure)
    return FindingsReport(as_of=as_of, findings=ordered, summary=summary)


def detect(
    dataset: Dataset,
    config: DetectionConfig | None = None,
    *,
    as_of: dt.date | None = None,
    hooks: PolarsHooks | None = None,
    progress: Progress | None = None,
    timings: MutableMapping[str, float] | None = None,
) -> FindingsReport:
    """Every contract detection on ``dataset``, in memory with Polars.

    Parameters
    ----------
    dataset
        The loaded tables.
    config
        Detection settings (default: the contract's defaults).
    as_of
        The run date (default: :meth:`Dataset.latest_date`).
    hooks
        Reuse prebuilt :class:`PolarsHooks` of ``dataset`` (the memory backend does).

    Examples
    --------
    >>> import datetime as dt
    >>> import polars as pl
    >>> from xpg.loaders.dataset import Dataset
    >>> users = pl.DataFrame({"user_id": ["u1"]})
    >>> loans = pl.DataFrame({
    ...     "user_id": ["u1"] * 4, "lender_id": ["L1", "L2", "L3", "L4"],
    ...     "opened_at": [dt.date(2026, 11, 1)] * 4, "amount": [1e4] * 4,
    ...     "outstanding": [5e3] * 4, "status": ["open"] * 4, "closed_at": [None] * 4,
    ... })
    >>> from xpg.loaders.schema import TABLES
    >>> ds = Dataset(users=users, products=TABLES["products"].empty(),
    ...              accounts=TABLES["accounts"].empty(), devices=TABLES["devices"].empty(),
    ...              external_loans=loans.cast(TABLES["external_loans"].schema))
    >>> report = detect(ds)
    >>> [(f.type, f.users, f.exposure.total) for f in report.findings]
    [('multi_lending', ('u1',), 20000.0)]
    """
    config = config or DetectionConfig()
    as_of = as_of or default_as_of(dataset)
    hooks = hooks or PolarsHooks(dataset)
    return run_detections(hooks, config, as_of, progress=progress, timings=timings)
