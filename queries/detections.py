"""Run every detection: the registered rules' forms give the frames, their predicates
and assemblies make the findings.

:func:`run_detections` is backend-independent: give it any
:class:`~xpg.queries.frames.DetectionHooks` (Polars in memory, Cypher on
Neo4j). :func:`detect` is the in-memory shortcut over a
:class:`~xpg.loaders.dataset.Dataset`. The rules and their order are the
registry's (:mod:`xpg.queries.rules`).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any

import polars as pl
from xpg.loaders.dataset import Dataset
from xpg.queries.assembly import ExposureIndex
from xpg.queries.findings import (
    SEVERITIES,
    Finding,
    FindingSequence,
    FindingsReport,
    gc_paused,
)
from xpg.queries.frames import EXPOSURE_SCHEMA, DetectionHooks, conform
from xpg.queries.polars_hooks import PolarsHooks
from xpg.queries.rules import detection_steps, finding_types, rules
from xpg.queries.rules.base import Rule
from xpg.queries.summary import sort_findings, summarize

from xpg.errors import RunDateUnknownError
from xpg.progress import NO_PROGRESS, Progress
from xpg.settings import DetectionConfig

__all__ = ["assemble", "default_as_of", "detect", "detection_steps", "run_detections",
           "sort_frame"]


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
    frames: bool = True,
) -> FindingsReport:
    """Every registered rule's findings as of ``as_of``, from ``hooks``' frames.

    Parameters
    ----------
    hooks
        The backend's frame computations.
    config
        Thresholds, hub cut-off, identifier kinds and reason scopes (each rule reads
        its section).
    as_of
        The run date (already resolved; see :func:`default_as_of`).
    progress
        Reports one step per rule, then the exposure and the assembly.
    timings
        If given, receives the seconds spent in each of :func:`detection_steps`.
    frames
        Assemble the rules that can as frames of JSON lines (:func:`assemble`); False
        makes every finding in Python (the oracle: the same document, byte for byte).

    Returns
    -------
    FindingsReport
        Findings sorted by :func:`xpg.queries.summary.sort_findings`, and the summary.
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

    registered = rules()
    results: dict[str, Any] = {}
    for rule in registered:
        with step(rule.name):
            results[rule.name] = rule.detect(hooks, rule.settings(config), as_of, results)
    with step("exposure"):
        needed = (
            pl.concat([rule.users(results[rule.name]) for rule in registered])
            .unique()
            .sort("user_id")
            .get_column("user_id")
            .to_list()
        )
        exposure = ExposureIndex(
            conform("exposure", hooks.exposure(as_of, needed), EXPOSURE_SCHEMA)
        )
    with step("assembly"):
        ordered = assemble(registered, results, exposure, config, frames=frames)
        summary = summarize(ordered, hooks.user_count(), exposure)
    return FindingsReport(as_of=as_of, findings=ordered, summary=summary)


def assemble(registered: tuple[Rule, ...], results: Mapping[str, Any], exposure: ExposureIndex,
             config: DetectionConfig, *, frames: bool = True) -> FindingSequence:
    """Every rule's findings in the document's order (:func:`sort_findings`).

    With ``frames``, a rule that assembles a frame (:meth:`Rule.assemble_frame`) gives
    one part of JSON lines, sorted in Polars by the same key; the others' findings are
    sorted in Python. The findings sort by type first, in :func:`finding_types` order,
    so the parts are put together type by type.
    """
    parts: dict[str, FindingSequence] = {}
    objects: list[Finding] = []
    for rule in registered:
        settings = rule.settings(config)
        frame = rule.assemble_frame(results[rule.name], exposure, settings) if frames else None
        if frame is None:
            objects.extend(rule.assemble(results[rule.name], exposure, settings))
        else:
            parts[rule.name] = FindingSequence.from_frame(rule.name, sort_frame(frame))
    ordered = FindingSequence.of(sort_findings(objects))
    if not parts:
        return ordered
    by_type = {p[0]: FindingSequence.of(p[1] or ()) for p in ordered.parts()}
    out = FindingSequence([])
    for t in finding_types():
        out = out + parts.get(t, FindingSequence([])) + by_type.get(t, FindingSequence([]))
    return out


def sort_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """A findings frame of one type in :func:`sort_findings` order: severity (critical
    first), score (high first), id."""
    rank = pl.col("severity").replace_strict(
        {s: i for i, s in enumerate(SEVERITIES)}, return_dtype=pl.Int8)
    return frame.sort(rank, pl.col("score"), pl.col("id"), descending=[True, True, False],
                      maintain_order=True)


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
