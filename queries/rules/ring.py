"""Rule ``ring``: a connected group of users sharing devices or identifiers, mostly
multi-lending.

Settings ``[detection.ring]`` (:class:`RingConfig`). Users are linked
through *kept* devices and identifiers (of ``identifier_kinds``, seen as of the run
date, with 2 to ``hub_max_users`` users: larger ones are hubs, left out). A connected
group of at most ``max_group_users`` users is a ring when :func:`qualifies`: at least
``min_users`` members, at least ``min_multi_lending_share`` of them multi_lending users
(the ``multi_lending`` rule's result, so this rule runs after it). A larger group is
not judged whole (data contract v2): it is searched for its **multi-lending cores**, the
connected groups of its multi_lending members over the kept nodes two of them share
(:func:`xpg.linkgraph.cores.link_cores`); each core of ``min_users`` or more is a ring, named
``"core:" +`` its smallest user_id, its evidence saying ``"core": true`` and the size of
the group it was found in (``group_users``).

Forms: ``ring_groups`` (the members of the groups of at least :func:`least_size`
users; in memory the scipy components of :class:`~xpg.linkgraph.links.Links`, in Neo4j
statement ``ring_groups`` after the backend's ``ring_components`` step), then, when a
group is larger than ``max_group_users``, ``ring_core_links`` (the kept links of its
multi_lending members: the only hook a backend needs for the cores, which are computed
from those links in numpy), then, for the qualifying groups and cores only, the
evidence frames ``ring_devices``, ``ring_identifiers`` and
``ring_lenders``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl
import pydantic
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
from xpg.queries.rules.base import ReportSection, Rule, Total

from xpg.settings import AtLeastTwo, Count, IdentifierKind, Share, settings_section

# numpy and xpg.linkgraph (scipy) are imported in the functions that detect: the settings
# import every rule's module for its config class, and a cold `xpg query` answered from a
# stored state should not pay for detection's libraries.


@settings_section("detection.ring")
class RingConfig:
    """The ``[detection.ring]`` settings: the hub cut, ring size and share, linking kinds."""

    hub_max_users: Count
    min_users: AtLeastTwo
    min_multi_lending_share: Share
    identifier_kinds: tuple[IdentifierKind, ...]
    max_group_users: AtLeastTwo

    @pydantic.model_validator(mode="after")
    def _groups_hold_a_ring(self) -> RingConfig:
        if self.max_group_users < self.min_users:
            raise ValueError(f"max_group_users ({self.max_group_users}) must be at least "
                             f"min_users ({self.min_users})")
        return self


__all__ = ["RULE", "Ring", "RingConfig", "RingResult", "least_size", "qualifies"]

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
    import numpy as np
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
    import numpy as np
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
    from xpg.linkgraph.links import DEVICE_KIND
    shared = _shared(hooks, config, as_of, members)
    return shared.filter(pl.col("kind") == DEVICE_KIND).rename({"value": "device_id"})


def _identifiers(hooks: Any, config: RingConfig, as_of: dt.date, *, members: pl.DataFrame
                 ) -> pl.DataFrame:
    from xpg.linkgraph.links import DEVICE_KIND
    return _shared(hooks, config, as_of, members).filter(pl.col("kind") != DEVICE_KIND)


def _core_links(hooks: Any, config: RingConfig, as_of: dt.date, *, members: pl.DataFrame
                ) -> pl.DataFrame:
    import numpy as np
    links = hooks.links
    kept = links.kept(config.identifier_kinds, config.hub_max_users, as_of)
    asked = links.user_ids.is_in(members.get_column("user_id").implode()).to_numpy()
    mask = asked[kept.user]
    return pl.DataFrame({"user_id": links.user_ids.gather(kept.user[mask]),
                         "node_idx": kept.node[mask].astype(np.int64)}
                        ).join(links.nodes, on="node_idx")


def _core_links_params(config: RingConfig, as_of: dt.date, *, members: pl.DataFrame
                       ) -> dict[str, Any]:
    return {
        "user_ids": members.get_column("user_id").to_list(),
        "until": until(as_of),
        "kinds": list(config.identifier_kinds),
        "hub_max_users": config.hub_max_users,
    }


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


# -- the Spark forms, over the kept links and their components (SparkHooks.kept_links) --


def _spark_groups(hooks: Any, config: RingConfig, as_of: dt.date) -> Any:
    """Members of the groups of at least :func:`least_size`."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    _, labels = hooks.kept_links(config, as_of)
    size = F.count("*").over(Window.partitionBy("label"))
    return (
        labels.withColumn("size", size)
        .where(F.col("size") >= least_size(config))
        .select(F.col("label").alias("group"), "user_id")
    )


def _spark_core_links(hooks: Any, config: RingConfig, as_of: dt.date, *,
                      members: pl.DataFrame) -> Any:
    from pyspark.sql import functions as F

    kept, _ = hooks.kept_links(config, as_of)
    asked = F.broadcast(hooks.small(members.select("user_id")))
    return kept.join(asked, "user_id", "left_semi").select("user_id", "kind", "value")


def _spark_shared(hooks: Any, config: RingConfig, as_of: dt.date, members: pl.DataFrame
                  ) -> Any:
    """Kept devices and identifiers linked to at least two members of a group."""
    from pyspark.sql import functions as F

    kept, _ = hooks.kept_links(config, as_of)
    return (
        kept.join(F.broadcast(hooks.small(members.select("group", "user_id"))), "user_id")
        .groupBy("group", "kind", "value")
        .agg(F.count("*").alias("members"))
        .where(F.col("members") >= 2)
    )


def _spark_devices(hooks: Any, config: RingConfig, as_of: dt.date, *,
                   members: pl.DataFrame) -> Any:
    from pyspark.sql import functions as F

    from xpg.linkgraph.links import DEVICE_KIND

    shared = _spark_shared(hooks, config, as_of, members)
    return shared.where(F.col("kind") == DEVICE_KIND).withColumnRenamed("value", "device_id")


def _spark_identifiers(hooks: Any, config: RingConfig, as_of: dt.date, *,
                       members: pl.DataFrame) -> Any:
    from pyspark.sql import functions as F

    from xpg.linkgraph.links import DEVICE_KIND

    return _spark_shared(hooks, config, as_of, members).where(F.col("kind") != DEVICE_KIND)


def _spark_lenders(hooks: Any, config: RingConfig, as_of: dt.date, *,
                   members: pl.DataFrame) -> Any:
    from pyspark.sql import functions as F

    return (
        hooks.open_loans_as_of(as_of)
        .join(F.broadcast(hooks.small(members.select("group", "user_id"))), "user_id")
        .groupBy("group", "lender_id")
        .agg(F.countDistinct("user_id").alias("members"))
    )


NAME = "ring"
"""The rule's name: its finding type and settings section."""

_CYPHER = "rules/ring"

GROUPS = Form("ring_groups", {"group": _S, "user_id": _S}, _groups, "ring_groups",
              _groups_params, cypher_file=_CYPHER, prepare="ring_components",
              spark=_spark_groups)
"""One row per member of a connected group (the forms may leave out the groups smaller than
:func:`least_size`; :func:`qualifies` decides)."""
CORE_LINKS = Form("ring_core_links", {"user_id": _S, "kind": _S, "value": _S}, _core_links,
                  "ring_core_links", _core_links_params, cypher_file="cores",
                  prepare="ring_components", spark=_spark_core_links)
"""The kept links (hubs cut over all users) of the ``members`` asked for: the multi_lending
users of the groups over ``max_group_users``. A form may leave out the nodes linked to only
one of them, and may repeat rows."""
EVIDENCE = (
    # kept devices linked to >= 2 members of a group
    Form("ring_devices", {"group": _S, "device_id": _S, "members": _I}, _devices,
         "ring_devices", _evidence_params, cypher_file=_CYPHER, prepare="ring_components",
         spark=_spark_devices),
    # kept identifiers linked to >= 2 members of a group
    Form("ring_identifiers", {"group": _S, "kind": _S, "value": _S, "members": _I},
         _identifiers, "ring_identifiers", _evidence_params, cypher_file=_CYPHER,
         prepare="ring_components", spark=_spark_identifiers),
    # lenders at which members hold open/overdue loans
    Form("ring_lenders", {"group": _S, "lender_id": _S, "members": _I}, _lenders,
         "ring_lenders", _evidence_params, cypher_file=_CYPHER, spark=_spark_lenders),
)


@dataclass(frozen=True)
class RingResult:
    """The qualifying groups' and cores' members (``group``, ``user_id``, ``core``,
    ``group_users``), the multi_lending users and the evidence frames."""

    members: pl.DataFrame
    multi_lending: frozenset[str]
    devices: pl.DataFrame
    identifiers: pl.DataFrame
    lenders: pl.DataFrame


class Ring(Rule):
    """Rule ``ring`` (see the module docstring)."""

    name = NAME
    section = NAME
    config_class = RingConfig
    forms = (GROUPS, CORE_LINKS, *EVIDENCE)
    after = ("multi_lending",)
    incremental = "graph"  # the link graph: the nightly run's graph stage
    totals = (Total("ring_members", "users"),)  # the summary's count of ring members
    # the page's gallery: the top rings drawn, with members, shared links and lenders
    report_section = ReportSection("rings", "Top rings", "Top rings by exposure", gallery=True)
    groups = True  # a finding is a group: carried by member overlap, counted as a ring
    member_rule = "multi_lending"  # its members' flag, the share it requires
    change_reasons = "members"
    screening = "high"  # a linked ring member makes an applicant high

    def detect(self, hooks: DetectionHooks, config: RingConfig, as_of: dt.date,
               earlier: Mapping[str, Any]) -> RingResult:
        groups = GROUPS.conform(hooks.compute(GROUPS, config, as_of))
        ml = frozenset(earlier["multi_lending"].get_column("user_id").to_list())
        members = self.qualify(self.candidates(hooks, groups, config, as_of, ml), config,
                               multi_lending=ml)
        if members.height:
            asked = members.select("group", "user_id")
            devices, identifiers, lenders = (
                form.conform(hooks.compute(form, config, as_of, members=asked))
                for form in EVIDENCE
            )
        else:
            devices, identifiers, lenders = (form.empty() for form in EVIDENCE)
        return RingResult(members, ml, devices, identifiers, lenders)

    def candidates(self, hooks: DetectionHooks, groups: pl.DataFrame, config: RingConfig,
                   as_of: dt.date, multi_lending: frozenset[str]) -> pl.DataFrame:
        """The groups of at most ``max_group_users`` users whole, then the cores of the
        larger ones (:func:`~xpg.linkgraph.cores.combine_candidates` columns)."""
        from xpg.linkgraph.cores import combine_candidates, link_cores, searched_members
        limit = config.max_group_users
        searched = searched_members(groups, sorted(multi_lending), max_group_users=limit)
        if searched.height >= config.min_users:
            asked = searched.select("user_id")
            links = CORE_LINKS.conform(hooks.compute(CORE_LINKS, config, as_of, members=asked))
            cores = link_cores(links, searched, min_users=config.min_users)
        else:
            cores = pl.DataFrame(schema={"group": pl.String, "user_id": pl.String,
                                         "group_users": pl.Int64})
        return combine_candidates(groups, cores, max_group_users=limit)

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
        """One finding per qualifying group or core.

        A core's explanation starts "4 of the multi-lending members of a 71,204-user
        connected group share ..." and its evidence adds ``"core": true`` and
        ``group_users``; a group judged whole reads as in contract version 1.

        Exposure: the sum of the members' (cent-rounded) exposures. ``strength`` is the
        mean of the multi_lending share and ``min(1, size / (2 * min_users))``.
        """
        by_group: dict[str, list[str]] = {}
        for g, u in result.members.sort("group", "user_id").select("group", "user_id").iter_rows():
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

        cores = dict(result.members.filter(pl.col("core")).select("group", "group_users")
                     .unique().iter_rows())
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
            who = (f"{n} of the multi-lending members of a {cores[g]:,}-user connected group"
                   if g in cores else f"{n} users")
            if len(links) == 1:
                how = f"{who} share {links[0]}"
            elif links:
                how = f"{who} are linked through {names(links)}"
            else:  # pragma: no cover - a group always has a shared link
                how = f"{who} are linked"
            core_part = {"core": True, "group_users": cores[g]} if g in cores else {}
            ml_part = "" if g in cores else f"; {n_ml} of {n} are multi-lending"
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
                        **core_part,
                    },
                    f"{how}{ml_part}{lender_part}; "
                    f"exposure {cny(exposure_.total)}.",
                )
            )
        return findings


RULE = Ring()
