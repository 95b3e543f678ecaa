"""A nightly run that costs what changed: detection from the previous night's state.

:func:`run_nightly` detects on a data folder and leaves a state folder
(:mod:`xpg.nightly_state`) for the next night. Given a usable state it recomputes only
what the changes reach, and gives exactly the findings document a full run gives
(the tests compare them byte for byte):

1. **What changed.** Every row of the new snapshot is hashed (Polars, vectorized) and
   summed per owning user (``account_events`` rows belong to their account's user);
   users whose sums differ from the stored ones, new and removed users are *changed*,
   with the users of accounts of a changed product and of loans or applications at a
   changed lender. When the run date differs from the state's, the users with a dated
   row in a stretch where an as-of test or a window edge (every ``*_days`` setting)
   flips are changed too.
2. **Per-user rules** (multi_lending, freeze_inconsistency, restored_after_freeze,
   limit_divergence) depend only on the user's own rows, the run date and the shared
   tables: they run on the changed users' rows alone (loaded and validated by the
   loader, as a full run would), and the other users' findings are kept as they were.
3. **Rings** depend on the connected groups and on which nodes are hubs, counted over
   all users. The stored links of the unchanged users and the new links of the changed
   ones make the whole graph again (:class:`~xpg.graph.stored_links.StoredLinks`)
   without reading, validating or normalizing the unchanged rows; the ring rule then
   runs on it unchanged (components, hubs, cores), so merges, splits, hubs appearing or
   disappearing and the giant group of the mixed shape are all exactly as in a full
   run. The loans of the ring members that did not change are loaded for the
   evidence (``ring_lenders``).
4. The findings document is spliced from the kept findings' stored JSON lines and the
   new ones, sorted and summarized by the same functions as a full run.

Whenever the state does not fit (no state, another layout, Polars version, settings
or rules, CSV input, a column mapping, rows the full run would refuse) the run is a
full one and :attr:`NightlyResult.reason` says why.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import polars as pl

from xpg.errors import ValidationError
from xpg.graph.links import Links
from xpg.graph.stored_links import StoredLinks, hashed_edges, hashed_nodes, user_hash
from xpg.loaders import load_dataset
from xpg.loaders.dataset import Dataset
from xpg.loaders.schema import TABLES
from xpg.nightly_state import NightlyState, write_nightly
from xpg.queries.assembly import ExposureIndex, sort_findings, summarize
from xpg.queries.detections import default_as_of, run_detections
from xpg.queries.findings import Finding, FindingsReport, gc_paused
from xpg.queries.polars_hooks import PolarsHooks, user_exposure_frame
from xpg.queries.rules import rules
from xpg.settings import Settings

__all__ = ["PER_USER_RULES", "NightlyResult", "document", "run_nightly"]

PER_USER_RULES = ("multi_lending", "freeze_inconsistency", "restored_after_freeze",
                  "limit_divergence")
"""The rules whose finding for a user depends only on that user's rows (and the run date
and the shared tables)."""

_USER_TABLES = ("users", "accounts", "devices", "external_loans", "applications", "identifiers")
_SHARED = {"products": "product_id", "lenders": "lender_id"}
_EVENTS = "account_events"
_LOW = 0xFFFFFFFF
_encode = json.JSONEncoder(ensure_ascii=False, check_circular=False).encode


class _Fallback(Exception):
    """The state cannot seed this run: run in full (the message says why)."""


@dataclass
class NightlyResult:
    """What :func:`run_nightly` found.

    Attributes
    ----------
    as_of
        The run date.
    lines
        Each finding's JSON (one line), in the findings document's order.
    summary
        The document's ``summary``.
    incremental
        Whether the run was incremental (else full).
    reason
        Why it was full (None when incremental).
    changed_users
        Users recomputed by the per-user rules (every user when full).
    timings
        Seconds per stage.
    """

    as_of: dt.date
    lines: list[str]
    summary: dict[str, Any]
    incremental: bool
    reason: str | None = None
    changed_users: int = 0
    timings: dict[str, float] = field(default_factory=dict)

    def text(self) -> str:
        """The findings document, byte for byte as ``xpg detect --out`` writes it."""
        return document(self.as_of, self.lines, self.summary)

    def report(self) -> FindingsReport:
        """The findings as a :class:`~xpg.queries.findings.FindingsReport`."""
        return FindingsReport(as_of=self.as_of,
                              findings=tuple(Finding.from_dict(json.loads(x)) for x in self.lines),
                              summary=self.summary)


def document(as_of: dt.date, lines: list[str], summary: dict[str, Any]) -> str:
    """The contract's findings document from finding lines (the layout of ``xpg detect``:
    one finding per line).

    Examples
    --------
    >>> print(document(dt.date(2026, 11, 20), [], {"users": 0}), end="")
    {
      "as_of": "2026-11-20",
      "findings": [],
      "summary": {"users": 0}
    }
    """
    body = ",\n".join("    " + line for line in lines)
    body = f"\n{body}\n  " if lines else ""
    summary_ = FindingsReport(as_of, (), summary).to_dict()["summary"]
    return ("{\n"
            f'  "as_of": {_encode(as_of.isoformat())},\n'
            f'  "findings": [{body}],\n'
            f'  "summary": {_encode(summary_)}\n'
            "}\n")


@contextmanager
def _clock(timings: dict[str, float], name: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    timings[name] = timings.get(name, 0.0) + time.perf_counter() - start


# -- the snapshot, hashed -----------------------------------------------------------


def _read_raw(data: Path) -> dict[str, pl.DataFrame]:
    raw: dict[str, pl.DataFrame] = {}
    for name in TABLES:
        if (data / f"{name}.csv").exists():
            raise _Fallback(f"{name} is CSV: the state is kept for Parquet inputs only")
        path = data / f"{name}.parquet"
        if path.is_file():
            raw[name] = pl.read_parquet(path)
    return raw


def _owners(raw: dict[str, pl.DataFrame]) -> pl.Series:
    """The owning user id of each ``account_events`` row (through its account)."""
    events = raw[_EVENTS]
    accounts = raw["accounts"].select("account_id", "user_id")
    owner = events.select("account_id").join(accounts, on="account_id", how="left",
                                             maintain_order="left").get_column("user_id")
    if owner.null_count():
        raise _Fallback("account_events name accounts that do not exist")
    return owner


def _fingerprints(raw: dict[str, pl.DataFrame]) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Per user id: ``fa``, ``fb``, ``n`` over the rows it owns; and the shared tables'
    row hashes by key (``table``, ``key``, ``h``)."""
    for name, key in (("users", "user_id"), ("accounts", "account_id"), *_SHARED.items()):
        frame = raw.get(name)
        if frame is not None and frame.get_column(key).n_unique() != frame.height:
            raise _Fallback(f"{name} repeats a {key}")
    users = raw["users"].get_column("user_id")
    if not bool((users == users.str.strip_chars()).all()):
        raise _Fallback("user ids with surrounding blanks")
    parts = []
    for i, name in enumerate((*_USER_TABLES, _EVENTS)):
        frame = raw.get(name)
        if frame is None or frame.height == 0:
            continue
        owner = _owners(raw) if name == _EVENTS else frame.get_column("user_id")
        parts.append(pl.DataFrame({"user_id": owner, "h": frame.hash_rows(seed=101 + i)}))
    fp = (
        pl.concat(parts).lazy().group_by("user_id")
        .agg((pl.col("h") & _LOW).sum().alias("fa"), (pl.col("h") // (_LOW + 1)).sum().alias("fb"),
             pl.len().cast(pl.Int64).alias("n"))
        .collect()
    )
    if fp.height != users.len() or fp.join(raw["users"], on="user_id", how="anti").height:
        raise _Fallback("rows name users missing from users")
    keyed = [
        raw[name].select(pl.lit(name).alias("table"), pl.col(key).cast(pl.String).alias("key"),
                         raw[name].hash_rows(seed=7).alias("h"))
        for name, key in _SHARED.items() if name in raw
    ]
    shared = (pl.concat(keyed) if keyed else
              pl.DataFrame(schema={"table": pl.String, "key": pl.String, "h": pl.UInt64}))
    return fp, shared


def latest_raw_date(raw: dict[str, pl.DataFrame]) -> dt.date | None:
    """The latest date in any date or datetime column of the contract (as
    :meth:`Dataset.latest_date`), from typed Parquet tables."""
    best: dt.date | None = None
    for name, frame in raw.items():
        for col in TABLES[name].columns:
            if col.kind not in ("date", "datetime") or col.name not in frame.columns:
                continue
            if not frame.schema[col.name].is_temporal():
                raise _Fallback(f"{name}.{col.name} is not stored as a date")
            value = frame.get_column(col.name).max()
            if value is not None:
                day = value.date() if isinstance(value, dt.datetime) else value
                best = day if best is None or day > best else best
    return best


def _window_days(config: Any) -> set[int]:
    out: set[int] = set()
    items = config.items() if isinstance(config, dict) else vars(config).items()
    for key, value in items:
        if isinstance(value, int) and not isinstance(value, bool) and key.endswith("_days"):
            out.add(value)
        elif hasattr(value, "__dict__") or isinstance(value, dict):
            out |= _window_days(value)
    return out


def _date_moved(raw: dict[str, pl.DataFrame], old: dt.date, new: dt.date,
                windows: set[int]) -> pl.Series:
    """Users with a dated row where an as-of test (``day <= run date``) or a window's
    first day (``day > run date - N``, and ``N - 1`` to be safe) flips between the two
    run dates."""
    lo, hi = min(old, new), max(old, new)
    shifts = {0} | windows | {n - 1 for n in windows} | {n + 1 for n in windows}
    found = []
    for name in (*_USER_TABLES, _EVENTS):
        frame = raw.get(name)
        if frame is None:
            continue
        owner = _owners(raw) if name == _EVENTS else frame.get_column("user_id")
        for col in TABLES[name].columns:
            if col.kind not in ("date", "datetime") or col.name not in frame.columns:
                continue
            day = pl.col(col.name).cast(pl.Date) if col.kind == "datetime" else pl.col(col.name)
            hit = pl.any_horizontal(
                (day > lo - dt.timedelta(days=k)) & (day <= hi - dt.timedelta(days=k))
                for k in sorted(shifts)
            ).fill_null(False)
            mask = frame.select(hit).to_series()
            found.append(owner.filter(mask))
    return pl.concat(found).unique() if found else pl.Series("user_id", [], dtype=pl.String)


# -- loading a subset through the loader ---------------------------------------------


def _subset(raw: dict[str, pl.DataFrame], users: pl.Series, settings: Settings,
            tables: tuple[str, ...] | None = None) -> Dataset:
    """The rows of ``users`` (every shared table whole) loaded and validated by the loader.

    The loader refuses an empty users or accounts table, so the rows of one unchanged
    user with an account (an *anchor*, valid in the last run) are loaded along and
    dropped after.
    """
    others = raw["accounts"].filter(~pl.col("user_id").is_in(users.implode())).head(1)
    if others.height == 0:
        raise _Fallback("every user changed")
    anchor = others.get_column("user_id")[0]
    wanted = pl.concat([users, pl.Series([anchor])]).implode()
    with tempfile.TemporaryDirectory(prefix="xpg-nightly-") as tmp:
        for name, frame in raw.items():
            if name in _SHARED:
                part = frame
            elif tables is not None and name not in (*tables, "users", "accounts"):
                part = frame.clear()
            elif name == _EVENTS:
                accounts = raw["accounts"].filter(pl.col("user_id").is_in(wanted))
                part = frame.join(accounts.select("account_id"), on="account_id", how="semi")
            else:
                part = frame.filter(pl.col("user_id").is_in(wanted))
            part.write_parquet(Path(tmp) / f"{name}.parquet")
        try:
            loaded = load_dataset(tmp, settings).dataset
        except ValidationError as e:
            raise _Fallback(f"the changed rows do not validate ({e})") from e
    mine = pl.col("user_id") != anchor
    kept = {name: loaded.table(name).filter(mine) for name in _USER_TABLES}
    accounts = kept["accounts"].get_column("account_id").implode()
    kept[_EVENTS] = loaded.account_events.filter(pl.col("account_id").is_in(accounts))
    return replace(loaded, **kept)


class _RingHooks(PolarsHooks):
    """Hooks over the stored links; the members' loans are loaded when asked for."""

    def __init__(self, links: Links, loans: Any):
        super().__init__(SimpleNamespace(), links)  # type: ignore[arg-type]
        self._loans = loans

    def user_count(self) -> int:  # pragma: no cover - the ring rule does not ask
        return self.links.n_users

    def compute(self, form: Any, config: Any, as_of: dt.date, **extra: Any) -> pl.DataFrame:
        if form.name == "ring_lenders":
            self.dataset = SimpleNamespace(external_loans=self._loans(extra["members"]))
        return super().compute(form, config, as_of, **extra)


def _meta(findings: list[Finding]) -> pl.DataFrame:
    """The stored columns of findings (see :mod:`xpg.nightly_state`)."""
    return pl.DataFrame(
        {
            "id": [f.id for f in findings],
            "type": [f.type for f in findings],
            "severity": [f.severity for f in findings],
            "score": [float(f.score) for f in findings],
            "users": [list(f.users) for f in findings],
            "at_risk": [f.exposure.at_risk for f in findings],
            "line": [_encode(f.to_dict()) for f in findings],
        },
        schema={"id": pl.String, "type": pl.String, "severity": pl.String,
                "score": pl.Float64, "users": pl.List(pl.String), "at_risk": pl.Float64,
                "line": pl.String},
    )


def _ordered(meta: pl.DataFrame, users: int, exposure: ExposureIndex
             ) -> tuple[list[str], dict[str, Any]]:
    """The lines in the document's order and the summary (the full run's own functions,
    over light stand-ins of the findings)."""
    stand_ins = [
        SimpleNamespace(id=i, type=t, severity=s, score=sc, users=tuple(u), line=line,
                        exposure=SimpleNamespace(at_risk=r))
        for i, t, s, sc, u, r, line in meta.select(
            "id", "type", "severity", "score", "users", "at_risk", "line").iter_rows()
    ]
    ordered = sort_findings(stand_ins)  # type: ignore[arg-type]
    return [f.line for f in ordered], summarize(ordered, users, exposure)  # type: ignore[arg-type]


# -- the two runs -----------------------------------------------------------------------


def _full(data: Path, settings: Settings, as_of: dt.date | None, timings: dict[str, float]
          ) -> tuple[NightlyResult, dict[str, pl.DataFrame] | str]:
    config = settings.detection
    with _clock(timings, "load"):
        dataset = load_dataset(data, settings).dataset
    day = as_of or default_as_of(dataset)
    hooks = PolarsHooks(dataset)
    with _clock(timings, "detect"), gc_paused():
        report = run_detections(hooks, config, day)
        meta = _meta(list(report.findings))
    result = NightlyResult(day, meta.get_column("line").to_list(), dict(report.summary),
                           incremental=False, changed_users=dataset.users.height)
    with _clock(timings, "state"):
        try:
            raw = _read_raw(data)
            fp, shared = _fingerprints(raw)
        except _Fallback as e:
            return result, str(e)
        nodes = hashed_nodes(hooks.links)
        if nodes.get_column("nh").n_unique() != nodes.height:
            return result, "two nodes share a hash"  # the next night runs in full
        tables = {"users": fp, "keyed": shared, "edges": hashed_edges(hooks.links, nodes),
                  "nodes": nodes, "exposure": user_exposure_frame(dataset, day),
                  "findings": meta}
    return result, tables


def _incremental(data: Path, settings: Settings, state: NightlyState, as_of: dt.date | None,
                 timings: dict[str, float]) -> tuple[NightlyResult, dict[str, pl.DataFrame]]:
    config = settings.detection
    with _clock(timings, "read_hash"):
        raw = _read_raw(data)
        if not {"users", "accounts", _EVENTS} <= set(raw):
            raise _Fallback("a table file is missing")
        fp, shared = _fingerprints(raw)
        day = as_of or latest_raw_date(raw)
        if day is None:
            raise _Fallback("the data has no dates")
    with _clock(timings, "diff"):
        old_fp = state.read("users")
        changed = (
            fp.join(old_fp, on="user_id", how="full", coalesce=True, suffix="_old")
            .filter(pl.any_horizontal(pl.col(c).ne_missing(pl.col(f"{c}_old"))
                                      for c in ("fa", "fb", "n")))
            .get_column("user_id")
        )
        old_shared = state.read("keyed")
        moved = (shared.join(old_shared, on=["table", "key", "h"], how="anti")
                 .vstack(old_shared.join(shared, on=["table", "key", "h"], how="anti")))
        extra = [changed]
        for name, key, tables in (("products", "product_id", ("accounts",)),
                                  ("lenders", "lender_id", ("external_loans", "applications"))):
            keys = moved.filter(pl.col("table") == name).get_column("key").implode()
            for t in tables:
                if t in raw:
                    extra.append(raw[t].filter(pl.col(key).cast(pl.String).is_in(keys))
                                 .get_column("user_id"))
        if day != state.as_of:
            extra.append(_date_moved(raw, state.as_of, day, _window_days(config)))
        changed = pl.concat(extra).unique().sort()
        present = changed.filter(changed.is_in(raw["users"].get_column("user_id").implode()))
    with _clock(timings, "per_user"):
        sub = _subset(raw, present, settings)
        hooks = PolarsHooks(sub)
        results: dict[str, Any] = {}
        registered = rules()
        for rule in registered:
            if rule.name in PER_USER_RULES:
                results[rule.name] = rule.detect(hooks, rule.settings(config), day, results)
    with _clock(timings, "ring"):
        user_ids = raw["users"].get_column("user_id")
        uh = user_hash(user_ids)
        if uh.n_unique() != uh.len():
            raise _Fallback("two user ids share a hash")
        gone = user_hash(changed).implode()
        new_nodes = hashed_nodes(hooks.links)
        old_nodes = state.read("nodes")
        clash = new_nodes.join(old_nodes, on="nh", suffix="_old").filter(
            (pl.col("kind") != pl.col("kind_old")) | (pl.col("value") != pl.col("value_old")))
        if clash.height or new_nodes.get_column("nh").n_unique() != new_nodes.height:
            raise _Fallback("two nodes share a hash")
        edges = pl.concat([state.read("edges").filter(~pl.col("uh").is_in(gone)),
                           hashed_edges(hooks.links, new_nodes)])
        nodes = (pl.concat([old_nodes, new_nodes]).unique("nh", keep="first")
                 .join(edges.select("nh").unique(), on="nh", how="semi"))
        ml_kept = (state.scan("findings").filter(pl.col("type") == "multi_lending")
                   .select(pl.col("users").list.first().alias("user_id")).collect())
        ml = pl.concat([ml_kept.filter(~pl.col("user_id").is_in(changed.implode())),
                        results["multi_lending"].select("user_id")])

        def loans(members: pl.DataFrame) -> pl.DataFrame:
            asked = members.get_column("user_id").unique()
            mine = sub.external_loans.filter(pl.col("user_id").is_in(asked.implode()))
            others = asked.filter(~asked.is_in(present.implode()))
            if others.len() == 0:
                return mine
            theirs = _subset(raw, others, settings, ("users", "external_loans")).external_loans
            return pl.concat([mine, theirs])

        ring_rule = next(r for r in registered if r.name == "ring")
        ring_hooks = _RingHooks(StoredLinks(user_ids, nodes, edges), loans)
        results["ring"] = ring_rule.detect(ring_hooks, ring_rule.settings(config), day,
                                           {"multi_lending": ml})
    with _clock(timings, "assemble"), gc_paused():
        kept = (state.read("findings")
                .filter(pl.col("type").is_in(PER_USER_RULES)
                        & ~pl.col("users").list.first().is_in(changed.implode())))
        fresh = user_exposure_frame(sub, day)
        needed = pl.concat([kept.select(pl.col("users").list.first().alias("user_id")),
                            results["ring"].members.select("user_id")]).unique()
        stored = (state.scan("exposure").join(needed.lazy(), on="user_id", how="semi")
                  .filter(~pl.col("user_id").is_in(changed.implode())).collect())
        exposure = ExposureIndex(pl.concat([stored, fresh]))
        new = [f for rule in registered
               for f in rule.assemble(results[rule.name], exposure, rule.settings(config))]
        meta = pl.concat([kept, _meta(new)])
        lines, summary = _ordered(meta, user_ids.len(), exposure)
    result = NightlyResult(day, lines, summary, incremental=True, changed_users=changed.len())
    with _clock(timings, "state_tables"):
        old_exposure = state.read("exposure").filter(~pl.col("user_id").is_in(changed.implode()))
        tables = {"users": fp, "keyed": shared, "edges": edges, "nodes": nodes,
                  "exposure": pl.concat([old_exposure, fresh]), "findings": meta}
    return result, tables


def run_nightly(data: str | os.PathLike[str], settings: Settings | None = None,
                state: str | os.PathLike[str] | None = None, *, as_of: dt.date | None = None,
                write_state: bool = True) -> NightlyResult:
    """Detect on ``data``, incrementally from the state folder ``state`` when it fits,
    and (with ``write_state``) leave the new state there for the next night.

    Parameters
    ----------
    data
        The data folder (Parquet tables for an incremental run; any for a full one).
    settings
        The settings (defaults when None).
    state
        The state folder (None: a full run that keeps no state).
    as_of
        The run date (default: the latest date in the data).

    Raises
    ------
    ValidationError, InputError
        As a full run: the data does not load.
    """
    settings = settings or Settings()
    folder = Path(data)
    timings: dict[str, float] = {}
    previous = NightlyState.open(state) if state is not None else None
    reason = "no state was given" if state is None else (
        f"no state in {state}" if previous is None else previous.unusable(settings))
    if reason is None and (settings.load.columns or settings.load.mapping):
        reason = "the load settings map the export's columns or values"
    tables: dict[str, pl.DataFrame] | str = "no state was given"
    if reason is None:
        assert previous is not None
        try:
            result, tables = _incremental(folder, settings, previous, as_of, timings)
        except _Fallback as e:
            reason = str(e)
    if reason is not None:
        result, tables = _full(folder, settings, as_of, timings)
        kept = "" if not isinstance(tables, str) else f"; no state kept: {tables}"
        result.reason = reason + kept
    result.timings = timings
    if write_state and state is not None and not isinstance(tables, str):
        with _clock(timings, "write_state"):
            write_nightly(state, as_of=result.as_of, settings=settings, tables=tables)
    return result
