"""Rings in a nightly incremental run (:mod:`xpg.nightly`): the candidates over the whole
graph, the evidence and findings only for the rings a change reaches.

The candidate rings (groups judged whole and cores) come from the ring rule's own steps
over the whole graph (:meth:`~xpg.queries.rules.ring.Ring.candidates` and
:meth:`~xpg.queries.rules.ring.Ring.qualify` on a
:class:`~xpg.graph.stored_links.StoredLinks`), so merges, splits and the giant group are
exactly as in a full run. A ring's finding depends only on its members' rows (exposure,
loans, multi-lending), the nodes two members share and whether those are hubs, and for a
core the size of the group it lies in. So a candidate is **kept** as last night's finding
when it has the same id (the same members), the same core flag and group size, no
changed member and no member on a node whose hub status flipped; the evidence frames
and the assembly run for the others only.

Examples
--------
>>> import numpy as np
>>> from xpg.graph.stored_links import ALWAYS
>>> hub_mask(np.array([0, 0, 1]), np.array([ALWAYS, ALWAYS, ALWAYS]),
...          np.array([True, True]), 2, dt.date(2026, 11, 20), max_users=1).tolist()
[True, False]
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from xpg.graph.links import Links
from xpg.queries.assembly import ExposureIndex
from xpg.queries.findings import Finding, stable_id
from xpg.queries.frames import DetectionHooks
from xpg.queries.rules.ring import EVIDENCE, GROUPS, Ring, RingResult
from xpg.settings import RingConfig

__all__ = ["flipped_users", "hub_mask", "ring_assemble", "ring_candidates"]

_EPOCH = dt.date(1970, 1, 1)


def hub_mask(node: np.ndarray, first: np.ndarray, kind_ok: np.ndarray, n_nodes: int,
             as_of: dt.date, *, max_users: int) -> np.ndarray:
    """Per node: whether it is a hub as of ``as_of`` (more than ``max_users`` distinct
    users; links distinct, of enabled kinds, seen by then), as
    :meth:`xpg.graph.links.Links.kept` cuts them."""
    mask = first <= (as_of - _EPOCH).days
    if node.size:
        mask &= kind_ok[node]
    return np.bincount(node[mask], minlength=n_nodes) > max_users


def _kind_ok(kinds: pl.Series, config: RingConfig) -> np.ndarray:
    return kinds.is_in(["device", *sorted(set(config.identifier_kinds))]).to_numpy()


def flipped_users(old_nodes: pl.DataFrame, old_edges: pl.DataFrame, old_day: dt.date,
                  links: Links, new_nh: pl.Series, day: dt.date, config: RingConfig
                  ) -> pl.Series:
    """The users of the new graph linked to a node whose hub status differs between last
    night's graph (``old_nodes``: ``nh``, ``kind``; ``old_edges``: ``ni``, ``first``) and
    this night's (``links``, its nodes' hashes ``new_nh``)."""
    old_hub = hub_mask(old_edges.get_column("ni").to_numpy(),
                       old_edges.get_column("first").to_numpy(),
                       _kind_ok(old_nodes.get_column("kind"), config), old_nodes.height,
                       old_day, max_users=config.hub_max_users)
    new_hub = hub_mask(links._node, links._first, _kind_ok(links.nodes.get_column("kind"), config),
                       links.n_nodes, day, max_users=config.hub_max_users)
    was = old_nodes.get_column("nh").filter(pl.Series(old_hub))
    now = new_nh.filter(pl.Series(new_hub))
    flipped = pl.concat([was.filter(~was.is_in(now.implode())),
                         now.filter(~now.is_in(was.implode()))])
    if flipped.len() == 0:
        return pl.Series("user_id", [], dtype=pl.String)
    on = new_nh.is_in(flipped.implode()).to_numpy()
    users = np.unique(links._user[on[links._node]])
    return links.user_ids.gather(users)


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
    ids = [stable_id("ring", users) for users in rings.get_column("users").to_list()]
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
