"""Rule ``linked_risk`` (data contract v3): a user who can still draw credit and shares a
kept device or identifier with a known-bad user.

*Known-bad* (:func:`known_bad`): a user with an account ``frozen`` or ``closed`` for a
reason in ``bad_reasons``; a user in ``known_bad_users`` (the seam for the analysts'
outcomes: the users of cases closed ``confirmed_fraud``, passed in by the caller; empty by
default); with ``written_off = true``, a user holding a ``written_off`` external loan.

A user U is a finding when U is not known-bad, has drawable > 0 (the contract's exposure),
has no account frozen or closed for a user-scope reason (``[detection.freeze]``), and
shares a node of the ring rule's graph (a device, or an identifier of
``[detection.ring] identifier_kinds``, existing as of the run date, linked to at most
``hub_max_users`` users in all) with a known-bad user. Only direct neighbours count
(``hops = 1``). The exposure at risk is U's drawable.

Forms: ``linked_risk_accounts`` (every frozen or closed account as of the run date, with
its reason: the known-bad accounts and the user-scope freezes both come from it),
``linked_risk_written_off`` (only when ``written_off``), then ``linked_risk_links`` for the
known-bad users found (each kept node of theirs and each other user on it); the
candidates' drawable comes from the backend's exposure. The predicate (:func:`qualify`)
decides in Python for every backend alike.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import polars as pl
from xpg.queries.asof import accounts_as_of, until
from xpg.queries.assembly import (
    ExposureIndex,
    cny,
    exposure_of,
    finding,
    mask_identifier,
    plural,
)
from xpg.queries.findings import Finding
from xpg.queries.frames import DetectionHooks, Form
from xpg.queries.rules.base import Rule
from xpg.queries.rules.ring import RingConfig
from xpg.queries.rules.scope import FreezeConfig, user_scope

from xpg.settings import DetectionConfig, Text, settings_section

__all__ = ["RULE", "LinkedRisk", "LinkedRiskConfig", "LinkedRiskResult", "LinkedRiskSettings",
           "known_bad", "qualify", "with_known_bad"]

_S, _I = pl.String(), pl.Int64()


@settings_section("detection.linked_risk")
class LinkedRiskConfig:
    """The ``[detection.linked_risk]`` settings (contract v3).

    ``known_bad_users``: user ids known to be bad from outside the tables (the users of
    cases closed ``confirmed_fraud``: the caller fills it in).
    """

    bad_reasons: tuple[Text, ...]
    written_off: bool
    hops: Literal[1]
    known_bad_users: tuple[Text, ...]

CONFIRMED_FRAUD = "confirmed_fraud"
"""The known-bad reason of a user in ``known_bad_users`` (an analyst's outcome)."""


def with_known_bad(detection: DetectionConfig, users: Iterable[str]
                   ) -> tuple[DetectionConfig, int]:
    """``detection`` with ``users`` (the users of cases closed ``confirmed_fraud``) added to
    this rule's ``known_bad_users``, and how many were new (0: ``detection`` itself).

    Examples
    --------
    >>> d, added = with_known_bad(DetectionConfig(), ["u9", "u1"])
    >>> d.linked_risk.known_bad_users, added
    (('u1', 'u9'), 2)
    >>> with_known_bad(d, ["u1"])[1]
    0
    """
    own = getattr(detection, RULE.section)
    have = set(own.known_bad_users)
    new = set(users) - have
    if not new:
        return detection, 0
    merged = dataclasses.replace(own, known_bad_users=tuple(sorted(have | new)))
    return detection.replace(**{RULE.section: merged}), len(new)
WRITTEN_OFF = "written_off"
"""The known-bad reason of a user holding a written-off external loan."""


@dataclass(frozen=True)
class LinkedRiskSettings:
    """What the rule reads: its own section, the ring graph's and the freeze scopes."""

    own: Any = field(default_factory=LinkedRiskConfig)
    ring: RingConfig = field(default_factory=RingConfig)
    freeze: FreezeConfig = field(default_factory=FreezeConfig)


ACCOUNTS_SCHEMA = {"user_id": _S, "account_id": _S, "product_id": _S, "status": _S,
                   "reason": _S}
"""Frame ``linked_risk_accounts``: every account ``frozen`` or ``closed`` as of the run date."""
WRITTEN_OFF_SCHEMA = {"user_id": _S, "lender_id": _S}
"""Frame ``linked_risk_written_off``: external loans ``written_off``, opened by the run date."""
LINKS_SCHEMA = {"bad_user_id": _S, "kind": _S, "value": _S, "users": _I, "user_id": _S}
"""Frame ``linked_risk_links``: for each kept node of an asked (known-bad) user, each other
user on it; ``users``: the node's users as of the run date (at most ``hub_max_users``)."""


def _accounts(hooks: Any, config: LinkedRiskSettings, as_of: dt.date) -> pl.DataFrame:
    return (accounts_as_of(hooks.dataset, as_of)
            .filter(pl.col("status").is_in(("frozen", "closed")))
            .select("user_id", "account_id", "product_id", "status",
                    pl.col("status_reason").alias("reason")))


def _accounts_params(config: LinkedRiskSettings, as_of: dt.date) -> dict[str, Any]:
    return {"as_of": as_of}


def _written_off(hooks: Any, config: LinkedRiskSettings, as_of: dt.date) -> pl.DataFrame:
    return (hooks.dataset.external_loans
            .filter(pl.col("status") == WRITTEN_OFF, pl.col("opened_at") <= as_of)
            .select("user_id", "lender_id").unique())


def _links(hooks: Any, config: LinkedRiskSettings, as_of: dt.date, *, bad: pl.DataFrame
           ) -> pl.DataFrame:
    import numpy as np  # here: the settings import this module for its config class only

    links = hooks.links
    kept = links.kept(config.ring.identifier_kinds, config.ring.hub_max_users, as_of)
    asked = links.user_ids.is_in(bad.get_column("user_id").implode()).to_numpy()
    if not asked.any() or not kept.user.size:
        return pl.DataFrame(schema=LINKS_SCHEMA)
    degree = np.bincount(kept.node, minlength=links.n_nodes)
    bad_edges = asked[kept.user]
    bad_nodes = np.zeros(links.n_nodes, dtype=bool)
    bad_nodes[kept.node[bad_edges]] = True
    bad_nodes &= degree >= 2
    on_bad = bad_nodes[kept.node]
    edges = pl.DataFrame({"user_idx": kept.user[on_bad].astype(np.int64),
                          "node_idx": kept.node[on_bad].astype(np.int64)})
    named = edges.with_columns(user_id=links.user_ids.gather(edges.get_column("user_idx")),
                               users=pl.Series(degree[edges.get_column("node_idx").to_numpy()],
                                               dtype=pl.Int64))
    bad_side = named.filter(pl.Series(asked[edges.get_column("user_idx").to_numpy()]))
    return (bad_side.select("node_idx", pl.col("user_id").alias("bad_user_id"))
            .join(named.select("node_idx", "user_id", "users"), on="node_idx")
            .filter(pl.col("user_id") != pl.col("bad_user_id"))
            .join(links.nodes, on="node_idx")
            .select(*LINKS_SCHEMA))


def _accounts_spark(hooks: Any, config: LinkedRiskSettings, as_of: dt.date) -> Any:
    """The Spark form of ``linked_risk_accounts``."""
    from pyspark.sql import functions as F

    return (hooks.accounts_as_of(as_of).where(F.col("status").isin("frozen", "closed"))
            .select("user_id", "account_id", "product_id", "status",
                    F.col("status_reason").alias("reason")))


def _written_off_spark(hooks: Any, config: LinkedRiskSettings, as_of: dt.date) -> Any:
    """The Spark form of ``linked_risk_written_off``."""
    from pyspark.sql import functions as F

    return (hooks.tables["external_loans"]
            .where((F.col("status") == WRITTEN_OFF) & (F.col("opened_at") <= F.lit(as_of)))
            .select("user_id", "lender_id").distinct())


def _links_spark(hooks: Any, config: LinkedRiskSettings, as_of: dt.date, *, bad: pl.DataFrame
                 ) -> Any:
    """The Spark form of ``linked_risk_links``, over the ring's kept links."""
    from pyspark.sql import functions as F

    kept, _ = hooks.kept_links(config.ring, as_of)
    asked = F.broadcast(hooks.small(bad.select(pl.col("user_id").alias("bad_user_id"))))
    bad_side = (kept.join(asked, kept["user_id"] == asked["bad_user_id"])
                .select("bad_user_id", "kind", "value"))
    return (bad_side.join(kept.where(F.col("users") >= 2), ["kind", "value"])
            .where(F.col("user_id") != F.col("bad_user_id"))
            .select("bad_user_id", "kind", "value", "users", "user_id"))


def _links_params(config: LinkedRiskSettings, as_of: dt.date, *, bad: pl.DataFrame
                  ) -> dict[str, Any]:
    return {"bad": bad.get_column("user_id").to_list(), "until": until(as_of),
            "kinds": list(config.ring.identifier_kinds),
            "hub_max_users": config.ring.hub_max_users}


_CYPHER = "rules/linked_risk"
ACCOUNTS = Form("linked_risk_accounts", ACCOUNTS_SCHEMA, _accounts, "linked_risk_accounts",
                _accounts_params, cypher_file=_CYPHER, spark=_accounts_spark)
WRITTEN_OFF_LOANS = Form("linked_risk_written_off", WRITTEN_OFF_SCHEMA, _written_off,
                         "linked_risk_written_off", _accounts_params, cypher_file=_CYPHER,
                         spark=_written_off_spark)
LINKS = Form("linked_risk_links", LINKS_SCHEMA, _links, "linked_risk_links", _links_params,
             cypher_file=_CYPHER, spark=_links_spark)


def known_bad(accounts: pl.DataFrame, written_off: pl.DataFrame, config: LinkedRiskSettings
              ) -> pl.DataFrame:
    """THE definition of a known-bad user: one row per (user, why), columns ``user_id``,
    ``reason`` (the account's reason, :data:`CONFIRMED_FRAUD` or :data:`WRITTEN_OFF`),
    ``account_id``, ``product_id``, ``status``, ``lender_id`` (null where not relevant).

    Examples
    --------
    >>> acc = pl.DataFrame({"user_id": ["a", "b"], "account_id": ["A", "B"],
    ...                     "product_id": ["p", "p"], "status": ["frozen", "frozen"],
    ...                     "reason": ["fraud", "overdue"]})
    >>> known_bad(acc, pl.DataFrame(schema=WRITTEN_OFF_SCHEMA), LinkedRiskSettings()
    ...           ).get_column("user_id").to_list()
    ['a']
    """
    own = config.own
    rows = [accounts.filter(pl.col("reason").is_in(list(own.bad_reasons)))
            .select("user_id", "reason", "account_id", "product_id", "status",
                    pl.lit(None, dtype=pl.String).alias("lender_id"))]
    if own.known_bad_users:
        rows.append(pl.DataFrame({"user_id": sorted(set(own.known_bad_users))})
                    .select("user_id", pl.lit(CONFIRMED_FRAUD).alias("reason"),
                            *(pl.lit(None, dtype=pl.String).alias(c)
                              for c in ("account_id", "product_id", "status", "lender_id"))))
    if own.written_off:
        rows.append(written_off.select(
            "user_id", pl.lit(WRITTEN_OFF).alias("reason"),
            *(pl.lit(None, dtype=pl.String).alias(c) for c in ("account_id", "product_id",
                                                                "status")),
            "lender_id"))
    return pl.concat(rows).unique().sort("user_id", "reason", "account_id", "lender_id",
                                         nulls_last=True)


def qualify(links: pl.DataFrame, bad: pl.DataFrame, blocked: pl.DataFrame,
            drawable: pl.DataFrame) -> pl.DataFrame:
    """THE predicate: the rows of ``links`` whose user is not known-bad (``bad``), has no
    user-scope freeze (``blocked``: ``user_id``) and has drawable > 0 (``drawable``:
    ``user_id``, ``drawable``)."""
    return (links.join(bad.select("user_id").unique(), on="user_id", how="anti")
            .join(blocked.select("user_id").unique(), on="user_id", how="anti")
            .join(drawable.filter(pl.col("drawable") > 0).select("user_id"), on="user_id",
                  how="semi"))


@dataclass(frozen=True)
class LinkedRiskResult:
    """The qualifying links (``linked_risk_links`` rows) and the known-bad users' reasons."""

    links: pl.DataFrame
    bad: pl.DataFrame


class LinkedRisk(Rule):
    """Rule ``linked_risk`` (see the module docstring)."""

    name = "linked_risk"
    section = "linked_risk"
    config_class = LinkedRiskConfig
    forms = (ACCOUNTS, WRITTEN_OFF_LOANS, LINKS)
    incremental = "neighbours"  # its neighbours' rows too: the users the graph stage reaches
    screening = "elevated"
    reads: ClassVar[tuple[str, ...]] = ("linked_risk", "ring", "freeze")

    def settings(self, detection: DetectionConfig) -> LinkedRiskSettings:
        """Its own section with the ring graph's and the freeze scopes' sections."""
        own = getattr(detection, self.section, None)
        return LinkedRiskSettings(own=self.config_class() if own is None else own,
                                  ring=detection.ring, freeze=detection.freeze)

    def detect(self, hooks: DetectionHooks, config: LinkedRiskSettings, as_of: dt.date,
               earlier: Mapping[str, Any]) -> LinkedRiskResult:
        accounts = ACCOUNTS.conform(hooks.compute(ACCOUNTS, config, as_of))
        written_off = (WRITTEN_OFF_LOANS.conform(hooks.compute(WRITTEN_OFF_LOANS, config, as_of))
                       if config.own.written_off else WRITTEN_OFF_LOANS.empty())
        bad = known_bad(accounts, written_off, config)
        if not bad.height:
            return LinkedRiskResult(LINKS.empty(), bad)
        asked = bad.select("user_id").unique().sort("user_id")
        links = LINKS.conform(hooks.compute(LINKS, config, as_of, bad=asked))
        blocked = accounts.filter(user_scope(pl.col("reason"), config.freeze))
        candidates = (links.join(asked, on="user_id", how="anti")
                      .join(blocked, on="user_id", how="anti"))
        users = sorted(set(candidates.get_column("user_id").to_list()))
        drawable = (hooks.exposure(as_of, users).select("user_id", "drawable") if users
                    else pl.DataFrame(schema={"user_id": _S, "drawable": pl.Float64()}))
        return LinkedRiskResult(qualify(links, bad, blocked, drawable), bad)

    def users(self, result: LinkedRiskResult) -> pl.DataFrame:
        return result.links.select("user_id").unique()

    def assemble(self, result: LinkedRiskResult, exposure: ExposureIndex, config: Any
                 ) -> list[Finding]:
        """One finding per linked user.

        ``at_risk`` is the user's drawable. ``strength`` is 0.75 with one known-bad
        neighbour, 1.0 with two or more.
        """
        why: dict[str, list[dict[str, Any]]] = {}
        for row in result.bad.iter_rows(named=True):
            why.setdefault(row["user_id"], []).append(
                {k: v for k, v in row.items() if k != "user_id" and v is not None})
        shared: dict[str, dict[str, list[dict[str, Any]]]] = {}
        for row in result.links.sort("user_id", "bad_user_id", "kind", "value"
                                     ).iter_rows(named=True):
            node = {"kind": row["kind"], "value": _shown(row["kind"], row["value"]),
                    "users": row["users"]}
            shared.setdefault(row["user_id"], {}).setdefault(row["bad_user_id"], []).append(node)
        findings = []
        for user, neighbours in shared.items():
            amounts = exposure[user]
            at_risk = amounts["drawable"]
            bad_ids = sorted(neighbours)
            first = bad_ids[0]
            via = neighbours[first][0]
            reason = _phrase(why[first][0])
            more = (f" (and {plural(len(bad_ids) - 1, 'more known-bad user')})"
                    if len(bad_ids) > 1 else "")
            findings.append(finding(
                self.name, user, [user], 1.0 if len(bad_ids) > 1 else 0.75,
                exposure_of(amounts, at_risk=at_risk),
                {
                    "known_bad_neighbours": [
                        {"user_id": b, "known_bad": why[b], "shared": neighbours[b]}
                        for b in bad_ids
                    ],
                    "shared_nodes": sorted({_label(n) for b in bad_ids for n in neighbours[b]}),
                    # the identifiers the explanation may name (``kind:value``): the
                    # report's masks show them masked there, as a ring's
                    "identifiers": sorted({f"{n['kind']}:{n['value']}" for b in bad_ids
                                           for n in neighbours[b] if n["kind"] != "device"}),
                    "hops": 1,
                },
                f"User {user} shares {_label(via)} with {first}, {reason}{more}; "
                f"{user} can still draw {cny(at_risk)}.",
            ))
        return findings


def _shown(kind: str, value: str) -> str:
    return value if kind == "device" else mask_identifier(kind, value).split(":", 1)[1]


def _label(node: Mapping[str, Any]) -> str:
    return f"{node['kind'].replace('_', ' ')} {node['value']}"


def _phrase(why: Mapping[str, Any]) -> str:
    """How an explanation says why a user is known-bad."""
    if why["reason"] == CONFIRMED_FRAUD:
        return "confirmed as fraud by an analyst"
    if why["reason"] == WRITTEN_OFF:
        return f"who has a loan written off at {why['lender_id']}"
    return f"whose {why['product_id']} account is {why['status']} for {why['reason']}"


RULE = LinkedRisk()
