"""Rings in a nightly incremental run (:mod:`xpg.graph.nightly.run`): the candidates over the groups
a change reaches, the evidence and findings only for the rings it changed.

**Reached** users (:func:`touched_graph`): the changed ones, those on a node a changed
user is or was linked to, those on a node whose hub status flipped, and every user of a
last-night group (the state's ``label``) holding one of them. A group with no reached
user has last night's links, hubs and members' rows, so its rings are last night's.
The reached set is closed under tonight's kept links (a kept link of a reached user
leads to a node whose other users are reached too), so the ring rule's own steps
(:meth:`~xpg.queries.rules.ring.Ring.candidates` and
:meth:`~xpg.queries.rules.ring.Ring.qualify`) on the reached users' links (hubs, counted
over all users, cut before) give exactly a full run's groups there: merges, splits and
the giant group (which a change inside it reaches whole). A ring's finding depends only
on its members' rows (exposure, loans, multi-lending), the nodes two members share and
whether those are hubs, and for a core the size of the group it lies in. So a reached
candidate is also **kept** as last night's finding when it has the same id (the same
members), the same core flag and group size, no changed member and no member on a node
whose hub status flipped; the evidence frames and the assembly run for the others only.

The hub cut is the link graph's own (:func:`~xpg.linkgraph.links.hub_degrees`, what
:meth:`~xpg.linkgraph.links.Links.kept` cuts by), counted over every user's links.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl
from xpg.queries.assembly import ExposureIndex
from xpg.queries.findings import Finding, stable_id
from xpg.queries.frames import DetectionHooks
from xpg.queries.rules.ring import EVIDENCE, GROUPS, Ring, RingConfig, RingResult

from xpg.linkgraph.links import Links

__all__ = ["Touched", "next_labels", "ring_assemble", "ring_candidates", "touched_graph"]

Names = Callable[[np.ndarray], pl.DataFrame]
"""``kind``, ``value`` of the nodes at some positions."""


@dataclass(frozen=True)
class Touched:
    """The part of tonight's graph that a change reaches.

    Attributes
    ----------
    links
        The links of the reached users only (hubs, counted over all users, cut
        before), as a :class:`~xpg.linkgraph.links.Links` the ring rule runs on.
    users
        Tonight's positions of the reached users (increasing): ``links.user_ids[i]`` is
        user ``users[i]``.
    dirty
        Tonight's positions of the users whose rings must be assembled again: the
        changed ones and those on a node whose hub status flipped.
    """

    links: Links
    users: np.ndarray
    dirty: np.ndarray


def touched_graph(user_ids: pl.Series, names: Names, n_nodes: int,
                  edges: tuple[np.ndarray, np.ndarray, np.ndarray], labels: np.ndarray,
                  changed: tuple[np.ndarray, np.ndarray], hubs: tuple[np.ndarray, np.ndarray],
                  joins: np.ndarray, *, whole: bool) -> Touched:
    """The users a change reaches and their links (see the module docstring).

    Parameters
    ----------
    user_ids, names, n_nodes, edges
        Tonight's users, the names of its nodes (read for the nodes the result holds
        only), how many there are, and the links as positions (user, node, first day).
    labels
        Last night's component label of each of tonight's users (``-1``: none, or new).
    changed
        Tonight's positions of the changed users, and the positions of every node a
        changed user is or was linked to.
    hubs
        Last night's and tonight's hub status of the nodes (positions; tonight's nodes
        start with last night's).
    joins
        Per node: whether two users or more hold it tonight (counted as for the hub cut).
        The links of the other nodes join nobody and are left out of the result: what the
        ring rule finds is the same (its groups and cores are made of shared nodes), and
        only the names of the nodes kept are read.
    whole
        Reach every user (the run date moved, so any link may have appeared).
    """
    ui, ni, first = edges
    n_users = user_ids.len()
    old_hub, new_hub = hubs
    flipped = new_hub.copy()
    flipped[: old_hub.size] ^= old_hub
    dirty = np.zeros(n_users, dtype=bool)
    dirty[ui[flipped[ni]]] = True
    dirty[changed[0]] = True
    if whole:
        reach = np.ones(n_users, dtype=bool)
    else:
        mark = flipped.copy()
        mark[changed[1]] = True
        touched = dirty.copy()
        touched[ui[mark[ni]]] = True
        # every user of a last night's group that holds a touched user
        hit = labels[touched]
        hit = hit[hit >= 0]
        group = np.zeros(int(labels.max()) + 1 if labels.size else 0, dtype=bool)
        group[hit] = True
        reach = touched | ((labels >= 0) & group[np.maximum(labels, 0)])
    keep = reach[ui] & ~new_hub[ni] & joins[ni]
    users = np.flatnonzero(reach)
    user_pos = np.full(n_users, -1, dtype=np.int64)
    user_pos[users] = np.arange(users.size)
    node = ni[keep]
    used = np.unique(node)
    node_pos = np.full(n_nodes, -1, dtype=np.int64)
    node_pos[used] = np.arange(used.size)
    links = Links.from_arrays(user_ids.gather(users), names(used),
                              user_pos[ui[keep]], node_pos[node], first[keep])
    return Touched(links, users, np.flatnonzero(dirty))


def next_labels(labels: np.ndarray, touched: Touched, config: RingConfig, day: dt.date
                ) -> np.ndarray:
    """Tonight's component label of every user: last night's outside the reached users
    (their groups are unchanged), fresh ones above every old label inside."""
    kept = touched.links.kept(config.identifier_kinds, config.hub_max_users, day)
    out = labels.copy()
    base = int(out.max()) + 1 if out.size else 0
    out[touched.users] = np.where(kept.labels >= 0, kept.labels + base, -1)
    return out


def ring_candidates(rule: Ring, hooks: DetectionHooks, config: RingConfig, as_of: dt.date,
                    multi_lending: pl.DataFrame, old: pl.DataFrame, dirty: pl.Series
                    ) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """This night's candidate rings, split.

    Parameters
    ----------
    multi_lending
        This night's multi_lending users (``user_id``).
    old
        Last night's ring findings' stored rows (``id``, ``core``, ``group_users``, ...).
    dirty
        Users whose rings must be assembled again (changed, or on a flipped node).

    Returns
    -------
    tuple
        Every member of this night's rings (the ring rule's ``members``: ``group``,
        ``user_id``, ``core``, ``group_users``), the rows of ``old`` kept, and the members
        of the rings to assemble again.
    """
    groups = GROUPS.conform(hooks.compute(GROUPS, config, as_of))
    ml = frozenset(multi_lending.get_column("user_id").to_list())
    members = rule.qualify(rule.candidates(hooks, groups, config, as_of, ml), config,
                           multi_lending=ml)
    rings = (
        members.group_by("group")
        .agg(pl.col("user_id").sort().alias("users"), pl.col("core").first(),
             pl.col("group_users").first(),
             pl.col("user_id").is_in(dirty.implode()).any().alias("dirty"))
    )
    ids = [stable_id(rule.name, users) for users in rings.get_column("users").to_list()]
    rings = rings.with_columns(pl.Series("id", ids, dtype=pl.String))
    before = old.select("id", pl.col("core").alias("core_old"),
                        pl.col("group_users").alias("group_users_old"))
    checked = rings.join(before, on="id", how="left").with_columns(
        (~pl.col("dirty") & pl.col("core_old").is_not_null()
         & (pl.col("core") == pl.col("core_old"))
         & (~pl.col("core") | (pl.col("group_users") == pl.col("group_users_old"))))
        .fill_null(False).alias("same"))
    kept = old.join(checked.filter(pl.col("same")).select("id"), on="id", how="semi")
    redo = checked.filter(~pl.col("same")).select("group")
    return members, kept, members.join(redo, on="group", how="semi")


def ring_assemble(rule: Ring, hooks: DetectionHooks, config: RingConfig, as_of: dt.date,
                  asked: pl.DataFrame, multi_lending: pl.DataFrame, exposure: ExposureIndex
                  ) -> list[Finding]:
    """The findings of the rings of ``asked`` (members, as :func:`ring_candidates`
    gives them): the ring rule's evidence frames and assembly."""
    ml = frozenset(multi_lending.get_column("user_id").to_list())
    if asked.height:
        pairs = asked.select("group", "user_id")
        devices, identifiers, lenders = (
            form.conform(hooks.compute(form, config, as_of, members=pairs)) for form in EVIDENCE)
    else:
        devices, identifiers, lenders = (form.empty() for form in EVIDENCE)
    return rule.assemble(RingResult(asked, ml, devices, identifiers, lenders), exposure, config)
