"""A nightly run that costs what changed: detection from the previous night's state.

:func:`detect_since` (the in-memory backend's incremental detection,
:meth:`Backend.detect <xpg.graph.backend.Backend.detect>` given a
:class:`~xpg.graph.backend.NightlyRun`) detects on a data folder and leaves a state folder
(:mod:`xpg.graph.nightly.state`) for the next night. Given a usable state it recomputes only
what the changes reach, and gives exactly the findings document a full run gives
(the tests compare them byte for byte):

1. **What changed** (:mod:`xpg.graph.nightly.snapshot`). Given a change set
   (:mod:`xpg.loaders.changes`), the users it names. Otherwise every row of the new
   snapshot is hashed and summed per owning user (``account_events`` rows belong to
   their account's user); users whose sums differ from the stored ones, new and
   removed users are *changed*, with the users of accounts of a changed product and of
   loans or applications at a changed lender; when the run date differs from the
   state's, the users with a dated row in a stretch where an as-of test or a window
   edge (every ``*_days`` setting) flips are changed too.
2. **Per-user rules** (the registered rules whose ``incremental`` is ``"user"``,
   :class:`~xpg.queries.rules.base.Rule`) depend only on the user's own rows, the run
   date and the shared tables: each rule's own forms run on the changed users' rows
   alone (loaded and validated by the loader, as a full run would), and the other
   users' findings are kept as they were.
3. **Rings** (the rule whose ``incremental`` is ``"graph"``; it reads the results of
   the per-user rule it runs after) depend on the connected groups and on which nodes
   are hubs, counted over all users. The stored links of the unchanged users and the
   new links of the changed ones make the whole graph again without reading the
   unchanged rows; the hub cut is the link graph's own, over every link. The groups no
   change reaches (:func:`~xpg.graph.nightly.rings.touched_graph`) keep last night's rings;
   the ring rule runs unchanged (components, hubs, cores) on the reached users' links
   alone (a :class:`~xpg.linkgraph.links.Links`), so merges, splits, hubs appearing or
   disappearing and the giant group of the mixed shape are all exactly as in a full
   run. The loans of the members of the rings assembled again are loaded for the
   evidence (``ring_lenders``).
4. **Neighbour rules** (``incremental`` ``"neighbours"``) run again on the users the
   graph stage reached.
5. The findings are spliced per type from the kept findings' stored JSON lines and the
   new ones, sorted and summarized by the same functions as a full run
   (:class:`~xpg.queries.findings.FindingSequence`, :func:`~xpg.queries.summary.summarize`).

Whenever the state does not fit (no state, another layout, Polars version, settings
or rules, CSV input, a column mapping, rows the full run would refuse, a registered rule
that declares no incremental scope) the run is a full one and
the night's ``reason`` (:class:`~xpg.graph.backend.NightlyRun`) says why. A change set
that cannot seed the run (a shared table changed, the run date moved) makes it hash the
whole snapshot instead.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from xpg.graph.backend import NightlyRun
from xpg.graph.nightly.rings import (
    Touched,
    next_labels,
    ring_assemble,
    ring_candidates,
    touched_graph,
)
from xpg.graph.nightly.snapshot import Changes, Fallback, Snapshot, Tonight
from xpg.graph.nightly.state import MAX_SEGMENTS, NightlyState, write_nightly
from xpg.graph.stored_links import hashed_nodes, position_edges, user_hash
from xpg.loaders import load_dataset
from xpg.queries.assembly import ExposureIndex
from xpg.queries.detections import default_as_of, run_detections, sort_frame
from xpg.queries.findings import (
    Finding,
    FindingSequence,
    FindingsReport,
    encode_finding,
    gc_paused,
)
from xpg.queries.frames import EXPOSURE_SCHEMA
from xpg.queries.lines import FINDING_FRAME
from xpg.queries.polars_hooks import PolarsHooks, user_exposure_frame
from xpg.queries.rules import finding_types, rules
from xpg.queries.rules.base import Rule
from xpg.queries.rules.ring import RingConfig
from xpg.queries.summary import summarize

from xpg.errors import StateDamagedError
from xpg.linkgraph.links import DEVICE_KIND, Links, hub_degrees
from xpg.settings import Settings

__all__ = ["detect_since"]

META = {"type": pl.String(), **FINDING_FRAME, "core": pl.Boolean(), "group_users": pl.Int64()}
"""The stored columns of a finding (``core`` and ``group_users`` the graph rule's)."""
EXPOSURE = [c for c in EXPOSURE_SCHEMA if c != "user_id"]


def _scoped() -> tuple[list[Rule], Rule, list[Rule]]:
    """The registered per-user rules, the graph rule and the neighbour rules.

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


@dataclass
class NightlyResult:
    """What :func:`detect_since` found.

    Attributes
    ----------
    findings
        The findings document (a :class:`~xpg.queries.findings.FindingsReport`).
    incremental
        Whether the run was incremental (else full).
    reason
        Why it was full (None when incremental); or, incremental from a snapshot when a
        change set was given, why the change set was not used.
    changed_users
        Users recomputed by the per-user rules (every user when full).
    ring_users
        Users the ring stage ran over: those in a connected group that a change or a hub
        flip reached (every user when full, or when the run date moved).
    timings
        Seconds per stage.
    """

    findings: FindingsReport
    incremental: bool
    reason: str | None = None
    changed_users: int = 0
    ring_users: int = 0
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def as_of(self) -> dt.date:
        """The run date."""
        return self.findings.as_of


@contextmanager
def _clock(timings: dict[str, float], name: str) -> Iterator[None]:
    start = time.perf_counter()
    yield
    timings[name] = timings.get(name, 0.0) + time.perf_counter() - start


def _meta(findings: list[Finding]) -> pl.DataFrame:
    """The stored columns (:data:`META`) of findings made as objects."""
    return pl.DataFrame(
        {
            "type": [f.type for f in findings],
            "id": [f.id for f in findings],
            "severity": [f.severity for f in findings],
            "score": [float(f.score) for f in findings],
            "users": [list(f.users) for f in findings],
            "at_risk": [f.exposure.at_risk for f in findings],
            "line": [encode_finding(f) for f in findings],
            "core": [bool(f.evidence.get("core", False)) if "group_users" in f.evidence
                     else None for f in findings],
            "group_users": [f.evidence.get("group_users") for f in findings],
        },
        schema=META,
    )


def _report_meta(report: FindingsReport) -> pl.DataFrame:
    """The stored columns of a report's findings (a frame part's columns as they are)."""
    seq = report.findings
    parts = seq.parts() if isinstance(seq, FindingSequence) else [("", tuple(seq), None)]
    frames = []
    for ftype, objects, frame in parts:
        if frame is None:
            frames.append(_meta(list(objects or ())))
        else:
            frames.append(frame.select(pl.lit(ftype).alias("type"), *FINDING_FRAME,
                                       pl.lit(None, dtype=pl.Boolean).alias("core"),
                                       pl.lit(None, dtype=pl.Int64).alias("group_users")))
    return pl.concat(frames) if frames else pl.DataFrame(schema=META)


def _report(day: dt.date, meta: pl.DataFrame, users: int, exposure: ExposureIndex
            ) -> FindingsReport:
    """The findings document of stored findings: each type's frame in the document's
    order (:func:`~xpg.queries.detections.sort_frame`) and the full run's summary."""
    parts = meta.partition_by("type", as_dict=True, maintain_order=True)
    seq = FindingSequence([])
    for ftype in finding_types():
        frame = parts.get((ftype,))
        if frame is not None:
            seq = seq + FindingSequence.from_frame(ftype, sort_frame(frame.select(*FINDING_FRAME)))
    return FindingsReport(as_of=day, findings=seq, summary=summarize(seq, users, exposure))


def _kinds(kinds: list[str], frame: pl.DataFrame) -> tuple[list[str], pl.Series]:
    """The node kinds (new ones appended) and ``k`` of each row of ``frame``."""
    out = list(kinds)
    for kind in frame.get_column("kind").unique().sort().to_list():
        if kind not in out:
            out.append(kind)
    code = frame.get_column("kind").replace_strict(
        {k: i for i, k in enumerate(out)}, return_dtype=pl.UInt8)
    return out, code.alias("k")


def _kind_ok(kinds: list[str], config: RingConfig) -> np.ndarray:
    """Per kind code: whether links of the kind count for rings."""
    counted = {DEVICE_KIND, *config.identifier_kinds}
    return np.array([k in counted for k in kinds], dtype=bool)


# -- the two runs -----------------------------------------------------------------------


def _full(data: Path, settings: Settings, as_of: dt.date | None, timings: dict[str, float]
          ) -> tuple[NightlyResult, dict[str, Any] | str]:
    config = settings.detection
    with _clock(timings, "load"):
        dataset = load_dataset(data, settings).dataset
    day = as_of or default_as_of(dataset)
    hooks = PolarsHooks(dataset)
    with _clock(timings, "detect"), gc_paused():
        report = run_detections(hooks, config, day)
        meta = _report_meta(report)
    result = NightlyResult(report, incremental=False, changed_users=dataset.users.height,
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
        users = (
            pl.DataFrame({"user_id": links.user_ids, "uh": user_hash(links.user_ids),
                          "label": pl.Series(kept.labels, dtype=pl.Int32)})
            .join(fp, on="uh", how="left", maintain_order="left")
            .join(hooks.exposure(day), on="user_id", how="left", maintain_order="left")
        )
        kinds, code = _kinds([], nodes)
        tables = {"users": users, "keyed": shared, "edges": position_edges(links),
                  "nodes": nodes.select("nh", code), "findings": meta,
                  "kinds": kinds, "names": (None, nodes.get_column("value"))}
    return result, tables


def _graph(state: NightlyState, old: pl.DataFrame, changed: pl.Series, fresh: pl.DataFrame,
           sub_links: Links, day: dt.date, config: RingConfig
           ) -> tuple[Touched, np.ndarray, dict[str, Any]]:
    """The part of the graph a change reaches (:func:`~xpg.graph.nightly.rings.touched_graph`:
    the unchanged users' stored links and the changed users' new ones, at the users' new
    positions: the old order, removed users dropped, new users after), last night's
    labels at the new positions, and the state's users, edges and nodes for the next
    night (``label`` still last night's)."""
    fresh_uh = fresh.get_column("uh").implode()
    gone = old.get_column("uh").is_in(changed.implode()) & ~old.get_column("uh").is_in(fresh_uh)
    alive_ = (~gone).to_numpy()
    again = fresh.join(old.select("uh", pl.col("user_id").alias("was")), on="uh")
    if again.filter(pl.col("user_id") != pl.col("was")).height:
        raise Fallback("a user id of last night and one of tonight share a hash")
    added = fresh.join(old.select("uh"), on="uh", how="anti")
    users = pl.concat([old.filter(pl.Series(alive_)),
                       added.select(pl.col(c).cast(old.schema[c]) if c in added.columns
                                    else pl.lit(None, dtype=old.schema[c]).alias(c)
                                    for c in old.columns)])
    n_alive = int(alive_.sum())
    remap = np.full(old.height, -1, dtype=np.int64)
    remap[alive_] = np.arange(n_alive)
    labels = np.full(users.height, -1, dtype=np.int64)
    labels[:n_alive] = old.get_column("label").to_numpy()[alive_]
    dropped = old.get_column("uh").is_in(changed.implode()).to_numpy()
    edges = state.read("edges")
    ui, ni, first = (edges.get_column(c).to_numpy() for c in ("ui", "ni", "first"))
    stored = state.read("nodes")
    was = dropped[ui]
    keep = ~was
    gone_nodes = ni[was]
    old_ni, old_first = ni, first
    ui, ni, first = remap[ui[keep]], ni[keep], first[keep]
    # the changed users' new links, at their positions
    new_nodes = hashed_nodes(sub_links).with_row_index("sub")
    kinds, code = _kinds(state.kinds, new_nodes)
    new_nodes = new_nodes.with_columns(code)
    found = stored.with_row_index("pos").join(new_nodes.select("nh", "sub", "k"), on="nh",
                                              suffix="_new")
    clash = found.filter(pl.col("k") != pl.col("k_new"))
    if clash.height or new_nodes.get_column("nh").n_unique() != new_nodes.height:
        raise Fallback("two nodes share a hash")
    appended = new_nodes.join(found.select("nh"), on="nh", how="anti")
    node_pos = np.empty(new_nodes.height, dtype=np.int64)
    node_pos[found.get_column("sub").to_numpy()] = found.get_column("pos").to_numpy()
    node_pos[appended.get_column("sub").to_numpy()] = np.arange(
        stored.height, stored.height + appended.height)
    nodes = pl.concat([stored, appended.select("nh", "k")])
    user_pos = (pl.DataFrame({"uh": user_hash(sub_links.user_ids)})
                .join(users.select("uh").with_row_index("pos"), on="uh", how="left",
                      maintain_order="left").get_column("pos").to_numpy())
    sub_user, sub_node, sub_first = sub_links.arrays()
    new_ni = node_pos[sub_node]
    ui = np.concatenate([ui, user_pos[sub_user]])
    ni = np.concatenate([ni, new_ni])
    first = np.concatenate([first, sub_first])
    # the hub cut, last night's and tonight's, each counted over every link
    ok = _kind_ok(kinds, config)[nodes.get_column("k").to_numpy()]
    old_deg = hub_degrees(old_ni, old_first, ok[: stored.height], stored.height, state.as_of)
    deg = hub_degrees(ni, first, ok, nodes.height, day)
    limit = config.hub_max_users
    names_new = appended.select("kind", "value")

    def names(positions: np.ndarray) -> pl.DataFrame:
        inside = positions < stored.height
        out = pl.concat([state.node_values(positions[inside]),
                         names_new[positions[~inside] - stored.height]])
        order = np.argsort(np.concatenate([np.flatnonzero(inside), np.flatnonzero(~inside)]))
        return out[order]

    touched = touched_graph(
        users.get_column("user_id"), names, nodes.height, (ui, ni, first), labels,
        (user_pos, np.concatenate([gone_nodes, new_ni])), (old_deg > limit, deg > limit),
        deg >= 2, whole=day != state.as_of)
    used = np.bincount(ni, minlength=nodes.height) > 0
    segments = len(state.names.segments)
    if used.size and (used.mean() < 0.9 or segments >= MAX_SEGMENTS):
        # many nodes of no one, or many segments: the nodes and their names written anew
        whole = names(np.flatnonzero(used))
        nodes = nodes.filter(pl.Series(used))
        ni = (np.cumsum(used) - 1)[ni]
        written: tuple[NightlyState | None, pl.Series] = (None, whole.get_column("value"))
    else:
        written = (state, names_new.get_column("value"))
    tables = {"users": users, "nodes": nodes, "kinds": kinds, "names": written,
              "edges": pl.DataFrame({"ui": pl.Series(ui, dtype=pl.Int32),
                                     "ni": pl.Series(ni, dtype=pl.Int32),
                                     "first": pl.Series(first, dtype=pl.Int32)})}
    return touched, labels, tables


def _incremental(tonight: Tonight, settings: Settings, state: NightlyState,
                 as_of: dt.date | None, timings: dict[str, float]
                 ) -> tuple[NightlyResult, dict[str, Any]]:
    config = settings.detection
    per_user, ring_rule, near = _scoped()
    with _clock(timings, "read_state"):
        old = state.read("users")
        old_shared = state.read("keyed")
    with _clock(timings, "diff"):
        day, changed_frame, fresh = tonight.changed(old, old_shared, as_of, state.as_of,
                                                    settings)
        changed = changed_frame.get_column("uh")
        present = fresh.get_column("user_id").sort()
        ids = pl.concat([present, old.filter(pl.col("uh").is_in(changed.implode()))
                         .get_column("user_id")]).unique().implode()
    with _clock(timings, "per_user"):
        sub = tonight.rows(present, settings)
        hooks = PolarsHooks(sub)
        results: dict[str, Any] = {}
        for rule in per_user:
            results[rule.name] = rule.detect(hooks, rule.settings(config), day, results)
    with _clock(timings, ring_rule.name):
        ring_config = ring_rule.settings(config)
        touched, labels, graph_tables = _graph(state, old, changed, fresh, hooks.links, day,
                                               ring_config)
        findings = state.read("findings")
        (read,) = ring_rule.after  # the per-user rule whose users the graph rule reads
        ml_kept = findings.filter(pl.col("type") == read).select(
            pl.col("users").list.first().alias("user_id"))
        reader = next(r for r in per_user if r.name == read)
        ml = pl.concat([ml_kept.filter(~pl.col("user_id").is_in(ids)),
                        reader.users(results[read])])
        user_ids = graph_tables["users"].get_column("user_id")
        dirty = pl.concat([ids.explode(), user_ids.gather(touched.dirty)])
        old_rings = findings.filter(pl.col("type") == ring_rule.name)
        reached = pl.concat([touched.links.user_ids, ids.explode()]).implode()
        inside = old_rings.get_column("users").list.eval(
            pl.element().is_in(reached)).list.any()
        ring_hooks = PolarsHooks(sub, touched.links)  # the groups: over the links alone
        members, kept_rings, asked = ring_candidates(
            ring_rule, ring_hooks, ring_config, day, ml, old_rings.filter(inside), dirty)
        outside = old_rings.filter(~inside)  # groups no change reached: as they were
        kept_rings = pl.concat([outside, kept_rings])
        graph_tables["users"] = graph_tables["users"].with_columns(
            pl.Series("label", next_labels(labels, touched, ring_config, day), dtype=pl.Int32))
    with _clock(timings, "neighbours"):
        # the rows of the unchanged users the change reaches, read once: the loans of the
        # members of the rings assembled again, and for the rules of a user's
        # neighbourhood, the rows of every user the graph stage reached
        near_results: dict[str, Any] = {}
        redone = ids
        reach = (pl.concat([touched.links.user_ids, present]).unique().sort() if near
                 else asked.get_column("user_id").unique().sort())
        if near and reach.len() >= user_ids.len():  # the run date moved: every row
            reached_rows = load_dataset(tonight.data, settings).dataset
        elif reach.len():
            reached_rows = tonight.rows(reach, settings, ("external_loans",))
        else:
            reached_rows = sub
        ring_hooks = PolarsHooks(reached_rows, touched.links)
        if near:
            for rule in near:
                near_results[rule.name] = rule.detect(ring_hooks, rule.settings(config), day,
                                                      results)
            redone = pl.concat([reach, ids.explode()]).unique().implode()
    with _clock(timings, "assemble"), gc_paused():
        kept = findings.filter(
            (pl.col("type").is_in([r.name for r in per_user])
             & ~pl.col("users").list.first().is_in(ids))
            | (pl.col("type").is_in([r.name for r in near])
               & ~pl.col("users").list.first().is_in(redone)))
        fresh_exposure = user_exposure_frame(sub, day)
        needed = pl.concat([kept.select(pl.col("users").explode().alias("user_id")),
                            members.select("user_id"),
                            *(r.users(near_results[r.name]) for r in near),
                            outside.select(pl.col("users").explode().alias("user_id"))]
                           ).unique()
        users = graph_tables["users"]
        stored = (users.select("user_id", *EXPOSURE)
                  .join(needed, on="user_id", how="semi")
                  .filter(~pl.col("user_id").is_in(ids)))
        exposure = ExposureIndex(pl.concat([stored, fresh_exposure.select(stored.columns)]))
        new = [f for rule in per_user
               for f in rule.assemble(results[rule.name], exposure, rule.settings(config))]
        new += ring_assemble(ring_rule, ring_hooks, ring_config, day, asked, ml, exposure)
        new += [f for rule in near
                for f in rule.assemble(near_results[rule.name], exposure, rule.settings(config))]
        meta = pl.concat([kept, kept_rings, _meta(new)])
        report = _report(day, meta, users.height, exposure)
    result = NightlyResult(report, incremental=True, changed_users=changed.len(),
                           ring_users=int(touched.users.size))
    with _clock(timings, "state_tables"):
        update = fresh.select("uh", "f", "n", "last").join(
            fresh_exposure.select("user_id", *EXPOSURE).join(
                fresh.select("user_id", "uh"), on="user_id").drop("user_id"),
            on="uh", how="left")
        graph_tables["users"] = users.update(update, on="uh", include_nulls=True)
        tables = {**graph_tables, "keyed": tonight.shared(), "findings": meta}
    return result, tables


def detect_since(night: NightlyRun, as_of: dt.date | None = None) -> FindingsReport:
    """Detect on ``night.data``, incrementally from the state folder ``night.state`` when
    it fits, and (with ``night.write_state``) leave the new state there for the next
    night; ``night``'s outcome is filled in. The in-memory backend's
    :meth:`~xpg.graph.backend.Backend._detect_since`: call it through
    :meth:`Backend.detect <xpg.graph.backend.Backend.detect>` (``night=``) or a session
    (:func:`xpg.open` with ``incremental=``).

    Parameters
    ----------
    night
        The data folder (Parquet tables for an incremental run; any for a full one), the
        state folder, the settings, and optionally a change set
        (:mod:`xpg.loaders.changes`) naming the users changed since the snapshot of the
        state's night, with their rows as in the data: the run reads it instead of
        hashing every row of the data.
    as_of
        The run date (default: the latest date in the data).

    Raises
    ------
    ValidationError, InputError
        As a full run: the data does not load; or the change set is malformed.
    """
    result = _run(night, as_of)
    night.incremental, night.reason = result.incremental, result.reason
    night.changed_users, night.ring_users = result.changed_users, result.ring_users
    night.timings.update(result.timings)
    return result.findings


def _run(night: NightlyRun, as_of: dt.date | None) -> NightlyResult:
    settings, folder, state = night.settings, Path(night.data), Path(night.state)
    changes = night.changes
    timings: dict[str, float] = {}
    previous = NightlyState.open(state)
    reason = (f"no state in {state}" if previous is None else previous.unusable(settings))
    load = settings.load
    if reason is None and (load.columns or load.mapping or load.files or load.query):
        reason = "the load settings map the export's columns, values or files"
    tables: dict[str, Any] | str = "no state was given"
    result: NightlyResult | None = None
    notes: list[str] = []
    if reason is None:
        assert previous is not None
        sources: list[tuple[str, Any]] = []
        if changes is not None:
            sources.append(("change set not used: ", lambda: Changes(folder, Path(changes))))
        sources.append(("", lambda: Snapshot(folder)))
        for note, source in sources:
            try:
                result, tables = _incremental(source(), settings, previous, as_of, timings)
                break
            except (Fallback, StateDamagedError) as e:
                notes.append(f"{note}{e}")
        if result is not None:
            result.reason = "; ".join(notes) or None
        else:
            reason = "; ".join(notes)
    if result is None:
        result, tables = _full(folder, settings, as_of, timings)
        kept = "" if not isinstance(tables, str) else f"; no state kept: {tables}"
        result.reason = f"{reason}{kept}"
    result.timings = timings
    if night.write_state and not isinstance(tables, str):
        with _clock(timings, "write_state"):
            names = tables.pop("names")
            kinds = tables.pop("kinds")
            write_nightly(state, as_of=result.as_of, settings=settings, tables=tables,
                          kinds=kinds, names=names)
    return result
