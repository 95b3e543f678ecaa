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
2. **Per-user rules** (the registered rules whose ``incremental`` is ``"user"``,
   :class:`~xpg.queries.rules.base.Rule`) depend only on the user's own rows, the run
   date and the shared tables: they run on the changed users' rows alone (loaded and
   validated by the loader, as a full run would), and the other users' findings are
   kept as they were.
3. **Rings** (the rule whose ``incremental`` is ``"graph"``; it reads the results of
   the per-user rule it runs after) depend on the connected groups and on which nodes
   are hubs, counted over
   all users. The stored links of the unchanged users and the new links of the changed
   ones make the whole graph again without reading, validating or normalizing the
   unchanged rows, and the stored hub degrees are updated by the changed users' links.
   The groups no change reaches (:func:`~xpg.nightly_rings.touched_graph`) keep last
   night's rings; the ring rule runs unchanged (components, hubs, cores) on the reached
   users' links alone (a :class:`~xpg.graph.stored_links.StoredLinks`), so merges,
   splits, hubs appearing or disappearing and the giant group of the mixed shape are all
   exactly as in a full run. The loans of the ring members that did not change are
   loaded for the evidence (``ring_lenders``).
4. The findings document is spliced from the kept findings' stored JSON lines and the
   new ones, sorted and summarized by the same functions as a full run.

Whenever the state does not fit (no state, another layout, Polars version, settings
or rules, CSV input, a column mapping, rows the full run would refuse, a registered rule
that declares no incremental scope) the run is a full one and
:attr:`NightlyResult.reason` says why.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import polars as pl

from xpg.errors import StateDamagedError
from xpg.graph.stored_links import hashed_nodes, position_edges, user_hash
from xpg.linkgraph.links import Links
from xpg.loaders import load_dataset
from xpg.nightly_rings import (
    Touched,
    degrees,
    kind_ok,
    next_labels,
    ring_assemble,
    ring_candidates,
    touched_graph,
)
from xpg.nightly_snapshot import SHARED, Fallback, Snapshot, window_days
from xpg.nightly_state import NightlyState, write_nightly
from xpg.queries.assembly import ExposureIndex
from xpg.queries.detections import default_as_of, run_detections
from xpg.queries.findings import (
    Finding,
    FindingsReport,
    encode_finding,
    findings_document,
    gc_paused,
)
from xpg.queries.polars_hooks import PolarsHooks, user_exposure_frame
from xpg.queries.rules import rules
from xpg.queries.rules.base import Rule
from xpg.queries.rules.ring import RingConfig
from xpg.queries.summary import sort_findings, summarize
from xpg.settings import Settings

__all__ = ["NightlyResult", "run_nightly"]


def _scoped() -> tuple[list[Rule], Rule, list[Rule]]:
    """The registered per-user rules and the graph rule (see the module docstring).

    Raises
    ------
    Fallback
        When a rule declares no incremental scope, or the rules are not one graph rule
        reading one per-user rule: the nightly run cannot tell what reaches them.
    """
    registered = rules()
    unscoped = [r.name for r in registered if r.incremental is None]
    if unscoped:
        raise Fallback(f"rule {unscoped[0]!r} declares no incremental scope")
    per_user = [r for r in registered if r.incremental == "user"]
    graph = [r for r in registered if r.incremental == "graph"]
    names = {r.name for r in per_user}
    if len(graph) != 1 or len(graph[0].after) != 1 or graph[0].after[0] not in names:
        raise Fallback("the incremental run needs one graph rule reading one per-user rule")
    near = [r for r in registered if r.incremental == "neighbours"]
    return per_user, graph[0], near
"""The rules whose finding for a user depends only on that user's rows (and the run date
and the shared tables)."""



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
    ring_users
        Users the ring stage ran over: those in a connected group that a change or a hub
        flip reached (every user when full, or when the run date moved).
    timings
        Seconds per stage.
    """

    as_of: dt.date
    lines: list[str]
    summary: dict[str, Any]
    incremental: bool
    reason: str | None = None
    changed_users: int = 0
    ring_users: int = 0
    timings: dict[str, float] = field(default_factory=dict)

    def text(self) -> str:
        """The findings document, byte for byte as ``xpg detect --out`` writes it."""
        return findings_document(self.as_of, self.lines, self.summary)

    def report(self) -> FindingsReport:
        """The findings as a :class:`~xpg.queries.findings.FindingsReport`."""
        return FindingsReport(as_of=self.as_of,
                              findings=tuple(Finding.from_dict(json.loads(x)) for x in self.lines),
                              summary=self.summary)


@contextmanager
def _clock(timings: dict[str, float], name: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    timings[name] = timings.get(name, 0.0) + time.perf_counter() - start


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
    """The stored columns of findings (see :mod:`xpg.nightly_state`; ``core`` and
    ``group_users`` are the graph rule's, null for the others)."""
    return pl.DataFrame(
        {
            "id": [f.id for f in findings],
            "type": [f.type for f in findings],
            "severity": [f.severity for f in findings],
            "score": [float(f.score) for f in findings],
            "users": [list(f.users) for f in findings],
            "at_risk": [f.exposure.at_risk for f in findings],
            "core": [bool(f.evidence.get("core", False)) if "group_users" in f.evidence
                     else None for f in findings],
            "group_users": [f.evidence.get("group_users") for f in findings],
            "line": [encode_finding(f) for f in findings],
        },
        schema={"id": pl.String, "type": pl.String, "severity": pl.String,
                "score": pl.Float64, "users": pl.List(pl.String), "at_risk": pl.Float64,
                "core": pl.Boolean, "group_users": pl.Int64, "line": pl.String},
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
                           incremental=False, changed_users=dataset.users.height,
                           ring_users=dataset.users.height)
    with _clock(timings, "state"):
        try:
            snap = Snapshot(data)
            fp, shared = snap.fingerprints(), snap.shared()
            _, graph_rule, _ = _scoped()
        except Fallback as e:
            return result, str(e)
        links = hooks.links
        nodes = hashed_nodes(links)
        if nodes.get_column("nh").n_unique() != nodes.height:
            return result, "two nodes share a hash"  # the next night runs in full
        ring = graph_rule.settings(config)
        kept = links.kept(ring.identifier_kinds, ring.hub_max_users, day)  # the rule's, cached
        users = pl.DataFrame({"user_id": links.user_ids, "uh": user_hash(links.user_ids),
                              "label": pl.Series(kept.labels, dtype=pl.Int64)})
        ok = kind_ok(nodes.get_column("kind"), ring)
        deg = degrees(links._node, links._first, ok, links.n_nodes, day)
        nodes = nodes.with_columns(pl.Series("ok", ok), pl.Series("deg", deg, dtype=pl.Int32))
        tables = {"users": users, "fingerprints": fp, "keyed": shared,
                  "edges": position_edges(links),
                  "nodes": nodes, "exposure": user_exposure_frame(dataset, day),
                  "findings": meta}
    return result, tables


def _changed(snap: Snapshot, fp: pl.DataFrame, shared: pl.DataFrame, state: NightlyState,
             day: dt.date, settings: Settings) -> pl.Series:
    """``uh`` of the changed users (see the module docstring, step 1)."""
    rows = (
        fp.join(state.read("fingerprints"), on="uh", how="full", coalesce=True,
                suffix="_old")
        .filter(pl.any_horizontal(pl.col(c).ne_missing(pl.col(f"{c}_old"))
                                  for c in ("f", "n")))
        .get_column("uh")
    )
    old_shared = state.read("keyed")
    moved = pl.concat([shared.join(old_shared, on=["table", "key", "h"], how="anti"),
                       old_shared.join(shared, on=["table", "key", "h"], how="anti")])
    found = [rows]
    for name, tables in (("products", ("accounts",)),
                         ("lenders", ("external_loans", "applications"))):
        keys = moved.filter(pl.col("table") == name).get_column("key")
        if keys.len():
            found.append(snap.users_with(SHARED[name], keys, tables))
    if day != state.as_of:
        found.append(snap.date_moved(state.as_of, day, window_days(settings.detection)))
    return pl.concat(found).unique()


def _graph(snap: Snapshot, state: NightlyState, old: pl.DataFrame, changed: pl.Series,
           sub_links: Links, day: dt.date, config: RingConfig
           ) -> tuple[Touched, np.ndarray, dict[str, pl.DataFrame]]:
    """The part of the graph a change reaches (:func:`~xpg.nightly_rings.touched_graph`:
    the unchanged users' stored links and the changed users' new ones, at the users' new
    positions: the old order, removed users dropped, new users after), last night's
    labels at the new positions, and the state's users, edges and nodes tables for the
    next night (``label`` still last night's)."""
    now = snap.users
    at = (old.select("uh").join(now.select("uh").with_row_index("at"), on="uh", how="left",
                                maintain_order="left").get_column("at"))
    alive = at.is_not_null()
    if not bool((old.get_column("user_id").filter(alive)
                 == now.get_column("user_id").gather(at.drop_nulls())).all()):
        raise Fallback("a user id of last night and one of tonight share a hash")
    seen = np.zeros(now.height, dtype=bool)
    seen[at.drop_nulls().to_numpy()] = True
    users = pl.concat([old.filter(alive).select("user_id", "uh"),
                       now.filter(pl.Series(~seen)).select("user_id", "uh")])
    alive_ = alive.to_numpy()
    remap = np.full(old.height, -1, dtype=np.int64)
    remap[alive_] = np.arange(int(alive_.sum()))
    labels = np.full(users.height, -1, dtype=np.int64)
    labels[: int(alive_.sum())] = old.get_column("label").to_numpy()[alive_]
    dropped = old.get_column("uh").is_in(changed.implode()).to_numpy()
    edges = state.read("edges")
    ui, ni, first = (edges.get_column(c).to_numpy() for c in ("ui", "ni", "first"))
    stored = state.read("nodes")
    was = dropped[ui]
    keep = ~was
    gone_nodes, gone_first = ni[was], first[was]
    ui, ni, first = remap[ui[keep]], ni[keep], first[keep]
    # the changed users' new links, at their positions
    new_nodes = hashed_nodes(sub_links).with_row_index("sub")
    found = stored.select("nh", "kind", "value").with_row_index("pos").join(
        new_nodes, on="nh", suffix="_new")
    clash = found.filter((pl.col("kind") != pl.col("kind_new"))
                         | (pl.col("value") != pl.col("value_new")))
    if clash.height or new_nodes.get_column("nh").n_unique() != new_nodes.height:
        raise Fallback("two nodes share a hash")
    appended = new_nodes.join(found.select("nh"), on="nh", how="anti")
    node_pos = np.empty(new_nodes.height, dtype=np.int64)
    node_pos[found.get_column("sub").to_numpy()] = found.get_column("pos").to_numpy()
    node_pos[appended.get_column("sub").to_numpy()] = np.arange(
        stored.height, stored.height + appended.height)
    appended = appended.select("nh", "kind", "value").with_columns(
        pl.Series("ok", kind_ok(appended.get_column("kind"), config)),
        pl.lit(0, dtype=pl.Int32).alias("deg"))
    nodes = pl.concat([stored, appended])
    user_pos = (pl.DataFrame({"uh": user_hash(sub_links.user_ids)})
                .join(users.select("uh").with_row_index("pos"), on="uh", how="left",
                      maintain_order="left").get_column("pos").to_numpy())
    new_ui, new_ni = user_pos[sub_links._user], node_pos[sub_links._node]
    ui = np.concatenate([ui, new_ui])
    ni = np.concatenate([ni, new_ni])
    first = np.concatenate([first, sub_links._first])
    # the hub cut's degrees: last night's, less the changed users' old links, plus their
    # new ones (counted again over every link when the run date moved)
    ok = nodes.get_column("ok").to_numpy()
    old_deg = stored.get_column("deg").to_numpy()
    whole = day != state.as_of
    if whole:
        deg = degrees(ni, first, ok, nodes.height, day)
    else:
        deg = np.zeros(nodes.height, dtype=np.int64)
        deg[: old_deg.size] = old_deg
        deg -= degrees(gone_nodes, gone_first, ok, nodes.height, day)
        deg += degrees(new_ni, sub_links._first, ok, nodes.height, day)
    limit = config.hub_max_users
    touched = touched_graph(
        users.get_column("user_id"), nodes, (ui, ni, first), labels,
        (user_pos, np.concatenate([gone_nodes, new_ni])), (old_deg > limit, deg > limit),
        whole=whole)
    nodes = nodes.with_columns(pl.Series("deg", deg, dtype=pl.Int32))
    used = np.bincount(ni, minlength=nodes.height) > 0
    if used.size and used.mean() < 0.9:  # many nodes of no one: drop them
        nodes = nodes.filter(pl.Series(used))
        ni = (np.cumsum(used) - 1)[ni]
    tables = {"users": users, "nodes": nodes,
              "edges": pl.DataFrame({"ui": pl.Series(ui, dtype=pl.Int32),
                                     "ni": pl.Series(ni, dtype=pl.Int32),
                                     "first": pl.Series(first, dtype=pl.Int32)})}
    return touched, labels, tables


def _incremental(data: Path, settings: Settings, state: NightlyState, as_of: dt.date | None,
                 timings: dict[str, float]) -> tuple[NightlyResult, dict[str, pl.DataFrame]]:
    config = settings.detection
    per_user, ring_rule, near = _scoped()
    with _clock(timings, "read_hash"):
        snap = Snapshot(data)
        fp, shared = snap.fingerprints(), snap.shared()
        day = as_of or snap.latest_date()
        if day is None:
            raise Fallback("the data has no dates")
    with _clock(timings, "diff"):
        old = state.read("users")
        changed = _changed(snap, fp, shared, state, day, settings)
        wanted = changed.implode()
        present = snap.users.filter(pl.col("uh").is_in(wanted)).get_column("user_id").sort()
        ids = pl.concat([present, old.filter(pl.col("uh").is_in(wanted)).get_column("user_id")]
                        ).unique().implode()
    with _clock(timings, "per_user"):
        sub = snap.subset(present, settings)
        hooks = PolarsHooks(sub)
        results: dict[str, Any] = {}
        for rule in per_user:
            results[rule.name] = rule.detect(hooks, rule.settings(config), day, results)
    with _clock(timings, ring_rule.name):
        ring_config = ring_rule.settings(config)
        touched, labels, graph_tables = _graph(snap, state, old, changed, hooks.links, day,
                                               ring_config)
        findings = state.read("findings")
        (read,) = ring_rule.after  # the per-user rule whose users the graph rule reads
        ml_kept = findings.filter(pl.col("type") == read).select(
            pl.col("users").list.first().alias("user_id"))
        reader = next(r for r in per_user if r.name == read)
        ml = pl.concat([ml_kept.filter(~pl.col("user_id").is_in(ids)),
                        reader.users(results[read])])

        def loans(members: pl.DataFrame) -> pl.DataFrame:
            asked = members.get_column("user_id").unique()
            mine = sub.external_loans.filter(pl.col("user_id").is_in(asked.implode()))
            others = asked.filter(~asked.is_in(present.implode()))
            if others.len() == 0:
                return mine
            theirs = snap.subset(others, settings, ("users", "external_loans")).external_loans
            return pl.concat([mine, theirs])

        ring_hooks = _RingHooks(touched.links, loans)
        user_ids = graph_tables["users"].get_column("user_id")
        dirty = pl.concat([ids.explode(), user_ids.gather(touched.dirty)])
        old_rings = findings.filter(pl.col("type") == ring_rule.name)
        reached = pl.concat([touched.links.user_ids, ids.explode()]).implode()
        inside = old_rings.get_column("users").list.eval(
            pl.element().is_in(reached)).list.any()
        members, kept_rings, asked = ring_candidates(
            ring_rule, ring_hooks, ring_config, day, ml, old_rings.filter(inside), dirty)
        outside = old_rings.filter(~inside)  # groups no change reached: as they were
        kept_rings = pl.concat([outside, kept_rings])
        graph_tables["users"] = graph_tables["users"].with_columns(
            pl.Series("label", next_labels(labels, touched, ring_config, day)))
    with _clock(timings, "neighbours"):
        # rules of a user's neighbourhood: again on every user the graph stage reached
        near_results: dict[str, Any] = {}
        redone = ids
        if near:
            reach = pl.concat([touched.links.user_ids, present]).unique().sort()
            if reach.len() < snap.users.height:
                near_sub = snap.subset(reach, settings, ("products", "external_loans"))
            else:  # the change reaches everyone (the run date moved): every row
                near_sub = load_dataset(data, settings).dataset
            near_hooks = PolarsHooks(near_sub, touched.links)
            for rule in near:
                near_results[rule.name] = rule.detect(near_hooks, rule.settings(config), day,
                                                      results)
            redone = pl.concat([reach, ids.explode()]).unique().implode()
    with _clock(timings, "assemble"), gc_paused():
        kept = findings.filter(
            (pl.col("type").is_in([r.name for r in per_user])
             & ~pl.col("users").list.first().is_in(ids))
            | (pl.col("type").is_in([r.name for r in near])
               & ~pl.col("users").list.first().is_in(redone)))
        fresh = user_exposure_frame(sub, day)
        needed = pl.concat([kept.select(pl.col("users").list.first().alias("user_id")),
                            members.select("user_id"),
                            *(r.users(near_results[r.name]) for r in near),
                            outside.select(pl.col("users").explode().alias("user_id"))]
                           ).unique()
        others = state.read("exposure").filter(~pl.col("user_id").is_in(ids))
        stored = others.join(needed, on="user_id", how="semi")
        exposure = ExposureIndex(pl.concat([stored, fresh]))
        new = [f for rule in per_user
               for f in rule.assemble(results[rule.name], exposure, rule.settings(config))]
        new += ring_assemble(ring_rule, ring_hooks, ring_config, day, asked, ml, exposure)
        new += [f for rule in near
                for f in rule.assemble(near_results[rule.name], exposure, rule.settings(config))]
        meta = pl.concat([kept, kept_rings, _meta(new)])
        lines, summary = _ordered(meta, snap.users.height, exposure)
    result = NightlyResult(day, lines, summary, incremental=True, changed_users=changed.len(),
                           ring_users=int(touched.users.size))
    with _clock(timings, "state_tables"):
        tables = {**graph_tables, "fingerprints": fp, "keyed": shared, "findings": meta,
                  "exposure": pl.concat([others, fresh])}
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
        except (Fallback, StateDamagedError) as e:
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
