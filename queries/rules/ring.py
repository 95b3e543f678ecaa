"""Rule ``ring``: a connected group of users sharing devices or identifiers, mostly
multi-lending.

Settings ``[detection.ring]`` (:class:`~xpg.settings.RingConfig`). Users are linked
through *kept* devices and identifiers (of ``identifier_kinds``, seen as of the run
date, with 2 to ``hub_max_users`` users: larger ones are hubs, left out). A connected
group is a ring when :func:`qualifies`: at least ``min_users`` members, at least
``min_multi_lending_share`` of them multi_lending users (the ``multi_lending`` rule's
result, so this rule runs after it).

Forms: ``ring_groups`` (the members of the groups of at least :func:`least_size`
users; in memory the scipy components of :class:`~xpg.graph.links.Links`, in Neo4j
statement ``ring_groups`` after the backend's ``ring_components`` step), then, for the
qualifying groups only, the evidence frames ``ring_devices``, ``ring_identifiers`` and
``ring_lenders``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from xpg.graph.links import DEVICE_KIND
from xpg.queries.asof import OPEN_LOAN_STATUSES, open_loans_as_of, until
from xpg.queries.assembly import (
    AMOUNTS,
    ExposureIndex,
    cny,
    finding,
    mask_identifier,
    names,
    plural,
)
from xpg.queries.findings import Exposure, Finding
from xpg.queries.frames import DetectionHooks, Form
from xpg.queries.rules.base import Rule

from xpg.settings import RingConfig

__all__ = ["RULE", "Ring", "RingResult", "least_size", "qualifies"]

_S, _I = pl.String(), pl.Int64()


def least_size(config: RingConfig) -> int:
    """The smallest group :func:`qualifies` accepts: the forms' pre-filter."""
    return config.min_users


def qualifies(size: pl.Expr, multi_lending: pl.Expr, config: RingConfig) -> pl.Expr:
    """THE predicate: a group of ``size`` members, ``multi_lending`` of them multi_lending
    users, is a ring.

    Examples
    --------
    >>> pl.select(qualifies(pl.lit(3), pl.lit(2), RingConfig())).item()
    True
    """
    return (size >= config.min_users) & ((multi_lending / size) >= config.min_multi_lending_share)


def _groups(hooks: Any, config: RingConfig, as_of: dt.date) -> pl.DataFrame:
    links = hooks.links
    kept = links.kept(config.identifier_kinds, config.hub_max_users, as_of)
    members = np.flatnonzero(kept.labels >= 0)
    labels = kept.labels[members]
    sizes = np.bincount(labels) if labels.size else np.zeros(0, dtype=np.int64)
    chosen = sizes[labels] >= least_size(config)
    members, labels = members[chosen], labels[chosen]
    return pl.DataFrame(
        {
            "group": pl.Series(labels, dtype=pl.Int64).cast(pl.String),
            "user_id": links.user_ids.gather(members),
        }
    )


def _shared(hooks: Any, config: RingConfig, as_of: dt.date, members: pl.DataFrame
            ) -> pl.DataFrame:
    """Kept devices and identifiers linked to at least two members of a group."""
    links = hooks.links
    kept = links.kept(config.identifier_kinds, config.hub_max_users, as_of)
    groups = members.select("group").unique(maintain_order=True).with_row_index("code")
    coded = members.join(groups, on="group").join(
        pl.DataFrame({"user_id": links.user_ids}).with_row_index("user_idx"),
        on="user_id",
    )
    code_of_user = np.full(links.n_users, -1, dtype=np.int64)
    code_of_user[coded.get_column("user_idx").to_numpy()] = coded.get_column("code").to_numpy()
    edge_code = code_of_user[kept.user]
    mask = edge_code >= 0
    return (
        pl.DataFrame({"code": edge_code[mask], "node_idx": kept.node[mask].astype(np.int64)})
        .group_by("code", "node_idx")
        .agg(pl.len().cast(pl.Int64).alias("members"))
        .filter(pl.col("members") >= 2)
        .join(links.nodes, on="node_idx")
        .join(groups.with_columns(pl.col("code").cast(pl.Int64)), on="code")
    )


def _devices(hooks: Any, config: RingConfig, as_of: dt.date, *, members: pl.DataFrame
             ) -> pl.DataFrame:
    shared = _shared(hooks, config, as_of, members)
    return shared.filter(pl.col("kind") == DEVICE_KIND).rename({"value": "device_id"})


def _identifiers(hooks: Any, config: RingConfig, as_of: dt.date, *, members: pl.DataFrame
                 ) -> pl.DataFrame:
    return _shared(hooks, config, as_of, members).filter(pl.col("kind") != DEVICE_KIND)


def _lenders(hooks: Any, config: RingConfig, as_of: dt.date, *, members: pl.DataFrame
             ) -> pl.DataFrame:
    return (
        open_loans_as_of(hooks.dataset, as_of)
        .join(members, on="user_id")
        .group_by("group", "lender_id")
        .agg(pl.col("user_id").n_unique().cast(pl.Int64).alias("members"))
    )


def _groups_params(config: RingConfig, as_of: dt.date) -> dict[str, Any]:
    return {"min_users": least_size(config)}


def _evidence_params(config: RingConfig, as_of: dt.date, *, members: pl.DataFrame
                     ) -> dict[str, Any]:
    return {
        "members": members.select("group", "user_id").to_dicts(),
        "until": until(as_of),
        "as_of": as_of,
        "open": list(OPEN_LOAN_STATUSES),
    }


GROUPS = Form("ring_groups", {"group": _S, "user_id": _S}, _groups, "ring_groups",
              _groups_params, prepare="ring_components")
"""One row per member of a connected group (the forms may leave out the groups smaller than
:func:`least_size`; :func:`qualifies` decides)."""
EVIDENCE = (
    # kept devices linked to >= 2 members of a group
    Form("ring_devices", {"group": _S, "device_id": _S, "members": _I}, _devices,
         "ring_devices", _evidence_params, prepare="ring_components"),
    # kept identifiers linked to >= 2 members of a group
    Form("ring_identifiers", {"group": _S, "kind": _S, "value": _S, "members": _I},
         _identifiers, "ring_identifiers", _evidence_params, prepare="ring_components"),
    # lenders at which members hold open/overdue loans
    Form("ring_lenders", {"group": _S, "lender_id": _S, "members": _I}, _lenders,
         "ring_lenders", _evidence_params),
)


@dataclass(frozen=True)
class RingResult:
    """The qualifying groups' members, the multi_lending users and the evidence frames."""

    members: pl.DataFrame
    multi_lending: frozenset[str]
    devices: pl.DataFrame
    identifiers: pl.DataFrame
    lenders: pl.DataFrame


class Ring(Rule):
    """Rule ``ring`` (see the module docstring)."""

    name = "ring"
    section = "ring"
    config_class = RingConfig
    forms = (GROUPS, *EVIDENCE)
    after = ("multi_lending",)

    def detect(self, hooks: DetectionHooks, config: RingConfig, as_of: dt.date,
               earlier: Mapping[str, Any]) -> RingResult:
        groups = GROUPS.conform(hooks.compute(GROUPS, config, as_of))
        ml = frozenset(earlier["multi_lending"].get_column("user_id").to_list())
        members = self.qualify(groups, config, multi_lending=ml)
        if members.height:
            devices, identifiers, lenders = (
                form.conform(hooks.compute(form, config, as_of, members=members))
                for form in EVIDENCE
            )
        else:
            devices, identifiers, lenders = (form.empty() for form in EVIDENCE)
        return RingResult(members, ml, devices, identifiers, lenders)

    def qualify(self, frame: pl.DataFrame, config: RingConfig, *,
                multi_lending: frozenset[str] = frozenset()) -> pl.DataFrame:
        """The rows of a ``ring_groups`` frame whose group :func:`qualifies`."""
        ml = pl.DataFrame(
            {"user_id": sorted(multi_lending), "ml": True},
            schema={"user_id": pl.String, "ml": pl.Boolean},
        )
        stats = (
            frame.join(ml, on="user_id", how="left")
            .with_columns(pl.col("ml").fill_null(False))
            .group_by("group")
            .agg(pl.len().alias("n"), pl.col("ml").sum().alias("n_ml"))
            .filter(qualifies(pl.col("n"), pl.col("n_ml"), config))
        )
        return frame.join(stats.select("group"), on="group", how="semi")

    def users(self, result: RingResult) -> pl.DataFrame:
        return result.members.select("user_id")

    def assemble(self, result: RingResult, exposure: ExposureIndex, config: RingConfig
                 ) -> list[Finding]:
        """One finding per qualifying group.

        Exposure: the sum of the members' (cent-rounded) exposures. ``strength`` is the
        mean of the multi_lending share and ``min(1, size / (2 * min_users))``.
        """
        by_group: dict[str, list[str]] = {}
        for g, u in result.members.sort("group", "user_id").iter_rows():
            by_group.setdefault(g, []).append(u)
        dev: dict[str, list[str]] = {}
        devices = result.devices.sort("group", "device_id")
        for g, d in devices.select("group", "device_id").iter_rows():
            dev.setdefault(g, []).append(d)
        ids: dict[str, list[str]] = {}
        identifiers = result.identifiers.sort("group", "kind", "value")
        for g, k, v in identifiers.select("group", "kind", "value").iter_rows():
            ids.setdefault(g, []).append(mask_identifier(k, v))
        lend: dict[str, dict[str, int]] = {}
        lenders = result.lenders.sort("group", "lender_id")
        for g, lender, n in lenders.select("group", "lender_id", "members").iter_rows():
            lend.setdefault(g, {})[lender] = int(n)

        findings = []
        for g, users in by_group.items():
            ml_members = [u for u in users if u in result.multi_lending]
            totals = {a: round(sum(exposure[u][a] for u in users), 2) for a in AMOUNTS}
            exposure_ = Exposure(
                total=totals["total"],
                internal_limit=totals["internal_limit"],
                internal_outstanding=totals["internal_outstanding"],
                drawable=totals["drawable"],
                external_outstanding=totals["external_outstanding"],
            )
            g_devices, g_ids, g_lenders = dev.get(g, []), ids.get(g, []), lend.get(g, {})
            n, n_ml = len(users), len(ml_members)
            share = n_ml / n
            links = [f"device {d}" for d in g_devices] + [i.replace(":", " ", 1) for i in g_ids]
            if len(links) == 1:
                how = f"{n} users share {links[0]}"
            elif links:
                how = f"{n} users are linked through {names(links)}"
            else:  # pragma: no cover - a group always has a shared link
                how = f"{n} users are linked"
            lender_part = (
                f"; they borrow from {plural(len(g_lenders), 'lender')}" if g_lenders else ""
            )
            findings.append(
                finding(
                    self.name,
                    users,
                    users,
                    (share + min(1.0, n / max(2 * config.min_users, 1))) / 2,
                    exposure_,
                    {
                        "devices": g_devices,
                        "identifiers": g_ids,
                        "lenders": sorted(g_lenders),
                        "lender_members": dict(sorted(g_lenders.items())),
                        "multi_lending_members": ml_members,
                        "size": n,
                        "multi_lending_share": round(share, 4),
                    },
                    f"{how}; {n_ml} of {n} are multi-lending{lender_part}; "
                    f"exposure {cny(exposure_.total)}.",
                )
            )
        return findings


RULE = Ring()
