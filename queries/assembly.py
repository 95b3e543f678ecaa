"""From detection frames to findings: ids, exposure, severity, evidence, explanation.

This module is shared by every backend: it only reads the frames of
:mod:`xpg.queries.frames` (whoever computed them) and the detection settings,
so the same frames give the same findings, byte for byte, everywhere.

Scoring (documented in ``docs/detections.md``)::

    money    = min(1, log10(1 + amount) / 6)         # 1,000,000 CNY or more -> 1
    score    = round(0.4 * strength + 0.6 * money, 4)
    severity = critical >= 0.8 > high >= 0.6 > medium >= 0.4 > low

``amount`` is the finding's total exposure (its ``at_risk`` for
``freeze_inconsistency``); ``strength`` in [0, 1] says how far past its
thresholds the finding is (see each ``assemble_*`` function).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import polars as pl
from xpg.queries.findings import FINDING_TYPES, SEVERITIES, Exposure, Finding, stable_id

from xpg.settings import (
    FreezeConfig,
    LimitDivergenceConfig,
    MultiLendingConfig,
    RingConfig,
)

__all__ = [
    "AMOUNTS",
    "SENSITIVE_KINDS",
    "ExposureIndex",
    "assemble_freeze_inconsistency",
    "assemble_limit_divergence",
    "assemble_multi_lending",
    "assemble_restored_after_freeze",
    "assemble_rings",
    "mask_identifier",
    "money_factor",
    "multi_lending_users",
    "qualifying_rings",
    "score_of",
    "severity_of",
    "sort_findings",
    "summarize",
]

AMOUNTS = ("internal_limit", "internal_outstanding", "drawable", "external_outstanding", "total")
SENSITIVE_KINDS = frozenset({"bank_card", "id_number"})
"""Identifier kinds shown masked in evidence (``****`` + last four characters)."""

_SEVERITY_FLOORS = (("critical", 0.8), ("high", 0.6), ("medium", 0.4))


# -- scoring ---------------------------------------------------------------------


def money_factor(amount: float) -> float:
    """``min(1, log10(1 + amount) / 6)``: 0 for nothing, 1 from 1,000,000 CNY up.

    Examples
    --------
    >>> money_factor(0.0), money_factor(999_999.0)
    (0.0, 1.0)
    """
    return min(1.0, math.log10(1.0 + max(amount, 0.0)) / 6.0)


def score_of(strength: float, amount: float) -> float:
    """``round(0.4 * strength + 0.6 * money_factor(amount), 4)``.

    Examples
    --------
    >>> score_of(1.0, 999_999.0)
    1.0
    >>> score_of(0.5, 0.0)
    0.2
    """
    strength = min(1.0, max(0.0, strength))
    return round(0.4 * strength + 0.6 * money_factor(amount), 4)


def severity_of(score: float) -> str:
    """``critical`` >= 0.8 > ``high`` >= 0.6 > ``medium`` >= 0.4 > ``low``.

    Examples
    --------
    >>> [severity_of(s) for s in (0.8, 0.7999, 0.6, 0.4, 0.39)]
    ['critical', 'high', 'high', 'medium', 'low']
    """
    for name, floor in _SEVERITY_FLOORS:
        if score >= floor:
            return name
    return "low"


# -- helpers ---------------------------------------------------------------------


def _cny(amount: float) -> str:
    return f"{amount:,.0f} CNY"


def _names(items: Sequence[str], limit: int = 3) -> str:
    """``a``, ``a and b``, ``a, b and c``, ``a, b, c and 4 more``."""
    items = list(items)
    if len(items) <= limit:
        return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
    return ", ".join(items[:limit]) + f" and {len(items) - limit} more"


def _plural(n: int, word: str, plural: str | None = None) -> str:
    return f"{n} {word if n == 1 else (plural or word + 's')}"


def mask_identifier(kind: str, value: str) -> str:
    """``kind:value`` for evidence; sensitive kinds keep only their last four characters.

    Examples
    --------
    >>> mask_identifier("bank_card", "6222020200112233")
    'bank_card:****2233'
    >>> mask_identifier("phone", "13800001111")
    'phone:13800001111'
    """
    if kind in SENSITIVE_KINDS:
        value = "****" + (value[-4:] if len(value) > 4 else "")
    return f"{kind}:{value}"


class ExposureIndex:
    """Per-user exposure rows, cent-rounded (so sums are the same on every backend).

    Built once from an ``exposure`` frame; a user missing from it has zero exposure.
    """

    def __init__(self, exposure: pl.DataFrame):
        frame = exposure.unique("user_id", keep="first").with_columns(pl.col(AMOUNTS).round(2))
        columns = [frame.get_column(a).to_list() for a in AMOUNTS]
        self._rows: dict[str, dict[str, float]] = {
            user: dict(zip(AMOUNTS, values, strict=True))
            for user, values in zip(
                frame.get_column("user_id").to_list(), zip(*columns, strict=True), strict=True
            )
        }
        self._zero = dict.fromkeys(AMOUNTS, 0.0)

    def __getitem__(self, user: str) -> dict[str, float]:
        return self._rows.get(user, self._zero)


def _index(exposure: pl.DataFrame | ExposureIndex) -> ExposureIndex:
    return exposure if isinstance(exposure, ExposureIndex) else ExposureIndex(exposure)


def _exposure_of(row: Mapping[str, float], at_risk: float | None = None) -> Exposure:
    return Exposure(
        total=row["total"],
        internal_limit=row["internal_limit"],
        internal_outstanding=row["internal_outstanding"],
        drawable=row["drawable"],
        external_outstanding=row["external_outstanding"],
        at_risk=None if at_risk is None else round(at_risk, 2),
    )


def _rows(frame: pl.DataFrame) -> Iterable[dict[str, Any]]:
    """The rows of ``frame`` as dicts (one conversion per column, not per value)."""
    names = frame.columns
    return (dict(zip(names, row, strict=True)) for row in frame.rows())


def _by_user(frame: pl.DataFrame, sort: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    for row in _rows(frame.sort(["user_id", *sort])):
        out.setdefault(row["user_id"], []).append(row)
    return out


def _distinct(rows: Iterable[dict[str, Any]], keys: Sequence[str]) -> list[dict[str, Any]]:
    seen: set[tuple[Any, ...]] = set()
    out = []
    for row in rows:
        k = tuple(row[c] for c in keys)
        if k not in seen:
            seen.add(k)
            out.append({c: row[c] for c in keys})
    return out


def _reason_phrase(reason: str | None, config: FreezeConfig) -> str:
    if reason is None or reason == "":
        return "with no recorded reason (counted as user scope)"
    if reason in config.user_scope_reasons:
        return f"for {reason}"
    return f"for {reason!r} (an unlisted reason, counted as user scope)"


def _reason_strength(reasons: Iterable[str | None], config: FreezeConfig) -> float:
    """1.0 when a listed user-scope reason is involved, 0.75 when only unlisted/missing ones."""
    return 1.0 if any(r in config.user_scope_reasons for r in reasons) else 0.75


def _finding(
    ftype: str,
    key: Sequence[str] | str,
    users: Sequence[str],
    strength: float,
    exposure: Exposure,
    evidence: Mapping[str, Any],
    explanation: str,
) -> Finding:
    amount = exposure.at_risk if exposure.at_risk is not None else exposure.total
    score = score_of(strength, amount)
    return Finding(
        id=stable_id(ftype, key),
        type=ftype,  # type: ignore[arg-type]
        severity=severity_of(score),  # type: ignore[arg-type]
        score=score,
        users=tuple(sorted(users)),
        exposure=exposure,
        evidence=dict(evidence),
        explanation=explanation,
    )


# -- multi_lending ---------------------------------------------------------------

CRITERIA = ("open_loans", "applications_short_window", "applications_long_window")


def _met(frame: pl.DataFrame, config: MultiLendingConfig) -> pl.DataFrame:
    """``frame`` sorted by user with, per criterion, its count and whether it is met
    (``n_*``, ``met_*``), the largest count/threshold ratio among those met
    (``ratio``), the union of the lender lists (``lenders``); users meeting none dropped."""
    checks = (
        ("open", "open_lenders", config.min_open_lenders),
        ("short", "short_window_lenders", config.short_window_lenders),
        ("long", "long_window_lenders", config.long_window_lenders),
    )
    counts = [pl.col(col).list.len().cast(pl.Int64).alias(f"n_{k}") for k, col, _ in checks]
    met = [(pl.col(f"n_{k}") >= t).alias(f"met_{k}") for k, _, t in checks]
    ratios = [pl.when(pl.col(f"met_{k}")).then(pl.col(f"n_{k}") / max(t, 1)) for k, _, t in checks]
    lists = [pl.col(col) for _, col, _ in checks]
    return (
        frame.sort("user_id")
        .with_columns(counts)
        .with_columns(met)
        .filter(pl.any_horizontal(pl.col("met_open", "met_short", "met_long")))
        .with_columns(
            pl.max_horizontal(ratios).alias("ratio"),
            pl.concat_list(lists).list.unique().list.sort().alias("lenders"),
        )
    )


def multi_lending_users(frame: pl.DataFrame, config: MultiLendingConfig) -> set[str]:
    """Users of a ``multi_lending`` frame that meet at least one criterion."""
    return set(_met(frame, config).get_column("user_id").to_list())


def assemble_multi_lending(
    frame: pl.DataFrame, exposure: pl.DataFrame | ExposureIndex, config: MultiLendingConfig
) -> list[Finding]:
    """One finding per user of the ``multi_lending`` frame.

    ``strength = min(1, r / 2)`` where ``r`` is the largest count/threshold ratio of
    the criteria met (exactly at a threshold: 0.5; twice the threshold: 1).
    """
    exp = _index(exposure)
    short_days, long_days = config.short_window_days, config.long_window_days
    findings = []
    for row in _rows(_met(frame, config)):
        user = row["user_id"]
        names, parts = [], []
        if row["met_open"]:
            names.append("open_loans")
            parts.append(f"holds open loans at {row['n_open']} lenders")
        if row["met_short"]:
            names.append("applications_short_window")
            parts.append(f"applied to {row['n_short']} lenders in {short_days} days")
        if row["met_long"]:
            names.append("applications_long_window")
            parts.append(f"applied to {row['n_long']} lenders in {long_days} days")
        exposure_ = _exposure_of(exp[user])
        findings.append(
            _finding(
                "multi_lending",
                user,
                [user],
                row["ratio"] / 2,
                exposure_,
                {
                    "criteria": names,
                    "lenders": row["lenders"],
                    "open_loan_lenders": row["open_lenders"],
                    "applied_lenders_short_window": row["short_window_lenders"],
                    "applied_lenders_long_window": row["long_window_lenders"],
                    "short_window_days": short_days,
                    "long_window_days": long_days,
                },
                f"User {user} {' and '.join(parts)}; exposure {_cny(exposure_.total)}.",
            )
        )
    return findings


# -- ring ------------------------------------------------------------------------


def qualifying_rings(
    groups: pl.DataFrame, multi_lending: set[str], config: RingConfig
) -> pl.DataFrame:
    """The rows of a ``ring_groups`` frame whose group is a ring finding.

    A group qualifies with ``>= config.min_users`` members of which a share of at
    least ``config.min_multi_lending_share`` are multi_lending users.
    """
    ml = pl.DataFrame(
        {"user_id": sorted(multi_lending), "ml": True},
        schema={"user_id": pl.String, "ml": pl.Boolean},
    )
    stats = (
        groups.join(ml, on="user_id", how="left")
        .with_columns(pl.col("ml").fill_null(False))
        .group_by("group")
        .agg(pl.len().alias("n"), pl.col("ml").sum().alias("n_ml"))
        .filter(
            pl.col("n") >= config.min_users,
            (pl.col("n_ml") / pl.col("n")) >= config.min_multi_lending_share,
        )
    )
    return groups.join(stats.select("group"), on="group", how="semi")


def assemble_rings(
    members: pl.DataFrame,
    multi_lending: set[str],
    devices: pl.DataFrame,
    identifiers: pl.DataFrame,
    lenders: pl.DataFrame,
    exposure: pl.DataFrame | ExposureIndex,
    config: RingConfig,
) -> list[Finding]:
    """One finding per group of ``members`` (already filtered by :func:`qualifying_rings`).

    Exposure: the sum of the members' (cent-rounded) exposures. ``strength`` is the
    mean of the multi_lending share and ``min(1, size / (2 * min_users))``.
    """
    exp = _index(exposure)
    by_group: dict[str, list[str]] = {}
    for g, u in members.sort("group", "user_id").iter_rows():
        by_group.setdefault(g, []).append(u)
    dev: dict[str, list[str]] = {}
    for g, d in devices.sort("group", "device_id").select("group", "device_id").iter_rows():
        dev.setdefault(g, []).append(d)
    ids: dict[str, list[str]] = {}
    for g, k, v in (
        identifiers.sort("group", "kind", "value").select("group", "kind", "value").iter_rows()
    ):
        ids.setdefault(g, []).append(mask_identifier(k, v))
    lend: dict[str, dict[str, int]] = {}
    for g, lender, n in (
        lenders.sort("group", "lender_id").select("group", "lender_id", "members").iter_rows()
    ):
        lend.setdefault(g, {})[lender] = int(n)

    findings = []
    for g, users in by_group.items():
        ml_members = [u for u in users if u in multi_lending]
        totals = {a: round(sum(exp[u][a] for u in users), 2) for a in AMOUNTS}
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
            how = f"{n} users are linked through {_names(links)}"
        else:  # pragma: no cover - a group always has a shared link
            how = f"{n} users are linked"
        lender_part = f"; they borrow from {_plural(len(g_lenders), 'lender')}" if g_lenders else ""
        findings.append(
            _finding(
                "ring",
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
                f"exposure {_cny(exposure_.total)}.",
            )
        )
    return findings


# -- freeze_inconsistency --------------------------------------------------------


def assemble_freeze_inconsistency(
    frame: pl.DataFrame, exposure: pl.DataFrame | ExposureIndex, config: FreezeConfig
) -> list[Finding]:
    """One finding per user of the ``freeze_inconsistency`` frame.

    ``at_risk`` is the drawable amount of the user's distinct drawable accounts.
    ``strength`` is 1.0 when a listed user-scope reason is involved, 0.75 when the
    frozen accounts carry only unlisted or missing reasons.
    """
    exp = _index(exposure)
    findings = []
    for user, rows in _by_user(frame, ["frozen_account_id", "drawable_account_id"]).items():
        frozen = _distinct(
            rows,
            [
                "frozen_account_id",
                "frozen_product_id",
                "frozen_kind",
                "frozen_status",
                "frozen_reason",
                "frozen_since",
            ],
        )
        drawable = sorted(
            _distinct(
                rows, ["drawable_account_id", "drawable_product_id", "drawable_kind", "drawable"]
            ),
            key=lambda r: r["drawable_account_id"],
        )
        at_risk = round(sum(round(r["drawable"], 2) for r in drawable), 2)
        f0, d0 = frozen[0], drawable[0]
        status = "frozen" if f0["frozen_status"] == "frozen" else "closed"
        first = (
            f"{f0['frozen_product_id']} account {f0['frozen_account_id']} "
            f"({f0['frozen_kind']}) is {status} {_reason_phrase(f0['frozen_reason'], config)}"
        )
        if len(frozen) > 1:
            first += f" (and {_plural(len(frozen) - 1, 'more account')})"
        second = (
            f"{d0['drawable_product_id']} account {d0['drawable_account_id']} "
            f"({d0['drawable_kind']}) is active"
        )
        if len(drawable) > 1:
            second += f" (and {_plural(len(drawable) - 1, 'more account')})"
        findings.append(
            _finding(
                "freeze_inconsistency",
                user,
                [user],
                _reason_strength([r["frozen_reason"] for r in frozen], config),
                _exposure_of(exp[user], at_risk=at_risk),
                {
                    "frozen_accounts": [
                        {
                            "account_id": r["frozen_account_id"],
                            "product_id": r["frozen_product_id"],
                            "kind": r["frozen_kind"],
                            "status": r["frozen_status"],
                            "reason": r["frozen_reason"],
                            "since": r["frozen_since"],
                        }
                        for r in frozen
                    ],
                    "drawable_accounts": [
                        {
                            "account_id": r["drawable_account_id"],
                            "product_id": r["drawable_product_id"],
                            "kind": r["drawable_kind"],
                            "status": "active",
                            "drawable": round(r["drawable"], 2),
                        }
                        for r in drawable
                    ],
                },
                f"User {user}'s {first}, yet {second} with {_cny(at_risk)} drawable.",
            )
        )
    return findings


# -- restored_after_freeze -------------------------------------------------------


def assemble_restored_after_freeze(
    frame: pl.DataFrame, exposure: pl.DataFrame | ExposureIndex, config: FreezeConfig
) -> list[Finding]:
    """One finding per user of the ``restored_after_freeze`` frame.

    ``at_risk`` is the drawable amount of the distinct restored accounts that are
    active now. ``strength`` as for ``freeze_inconsistency``.
    """
    exp = _index(exposure)
    findings = []
    for user, rows in _by_user(
        frame, ["freeze_at", "frozen_account_id", "restored_at", "restored_account_id"]
    ).items():
        freezes = _distinct(
            rows, ["frozen_account_id", "frozen_product_id", "freeze_at", "freeze_reason"]
        )
        restores = sorted(
            _distinct(
                rows,
                [
                    "restored_account_id",
                    "restored_product_id",
                    "restored_event",
                    "restored_at",
                    "restored_drawable",
                ],
            ),
            key=lambda r: (r["restored_at"], r["restored_account_id"]),
        )
        by_account = {r["restored_account_id"]: r["restored_drawable"] for r in restores}
        at_risk = round(sum(round(v, 2) for v in by_account.values()), 2)
        f0, r0 = freezes[0], restores[0]
        verb = "unfrozen" if r0["restored_event"] == "unfreeze" else "reopened"
        extra = f" ({_plural(len(restores) - 1, 'more restoration')})" if len(restores) > 1 else ""
        findings.append(
            _finding(
                "restored_after_freeze",
                user,
                [user],
                _reason_strength([r["freeze_reason"] for r in freezes], config),
                _exposure_of(exp[user], at_risk=at_risk),
                {
                    "freezes": [
                        {
                            "account_id": r["frozen_account_id"],
                            "product_id": r["frozen_product_id"],
                            "event": "freeze",
                            "at": r["freeze_at"],
                            "reason": r["freeze_reason"],
                        }
                        for r in freezes
                    ],
                    "restorations": [
                        {
                            "account_id": r["restored_account_id"],
                            "product_id": r["restored_product_id"],
                            "event": r["restored_event"],
                            "at": r["restored_at"],
                            "drawable": round(r["restored_drawable"], 2),
                        }
                        for r in restores
                    ],
                },
                f"User {user}'s {f0['frozen_product_id']} account {f0['frozen_account_id']} was "
                f"frozen {_reason_phrase(f0['freeze_reason'], config)} on "
                f"{f0['freeze_at'].date().isoformat()} and is still frozen, yet "
                f"{r0['restored_product_id']} account {r0['restored_account_id']} was {verb} on "
                f"{r0['restored_at'].date().isoformat()}{extra}; "
                f"{_cny(at_risk)} drawable.",
            )
        )
    return findings


# -- limit_divergence ------------------------------------------------------------


def _cut_fraction(old: float, new: float) -> float:
    return (old - new) / old if old > 0 else 0.0


def assemble_limit_divergence(
    frame: pl.DataFrame, exposure: pl.DataFrame | ExposureIndex, config: LimitDivergenceConfig
) -> list[Finding]:
    """One finding per user of the ``limit_divergence`` frame.

    ``strength`` is the largest cut fraction ``(old - new) / old`` (a cut to 0: 1).
    """
    exp = _index(exposure)
    findings = []
    for user, rows in _by_user(
        frame, ["cut_at", "cut_account_id", "raise_at", "raise_account_id"]
    ).items():
        cuts = _distinct(
            rows,
            [
                "cut_account_id",
                "cut_product_id",
                "cut_kind",
                "cut_at",
                "cut_old_limit",
                "cut_new_limit",
            ],
        )
        raises = sorted(
            _distinct(
                rows,
                [
                    "raise_account_id",
                    "raise_product_id",
                    "raise_kind",
                    "raise_at",
                    "raise_old_limit",
                    "raise_new_limit",
                ],
            ),
            key=lambda r: (r["raise_at"], r["raise_account_id"]),
        )
        fractions = [_cut_fraction(c["cut_old_limit"], c["cut_new_limit"]) for c in cuts]
        c0, r0 = cuts[0], raises[0]
        exposure_ = _exposure_of(exp[user])
        findings.append(
            _finding(
                "limit_divergence",
                user,
                [user],
                max(fractions),
                exposure_,
                {
                    "window_days": config.window_days,
                    "cuts": [
                        {
                            "account_id": c["cut_account_id"],
                            "product_id": c["cut_product_id"],
                            "kind": c["cut_kind"],
                            "event": "limit_change",
                            "at": c["cut_at"],
                            "old_limit": c["cut_old_limit"],
                            "new_limit": c["cut_new_limit"],
                            "cut_fraction": round(f, 4),
                        }
                        for c, f in zip(cuts, fractions, strict=True)
                    ],
                    "raises": [
                        {
                            "account_id": r["raise_account_id"],
                            "product_id": r["raise_product_id"],
                            "kind": r["raise_kind"],
                            "event": "limit_change",
                            "at": r["raise_at"],
                            "old_limit": r["raise_old_limit"],
                            "new_limit": r["raise_new_limit"],
                        }
                        for r in raises
                    ],
                },
                f"Within {config.window_days} days user {user}'s {c0['cut_product_id']} "
                f"({c0['cut_kind']}) limit was cut from {_cny(c0['cut_old_limit'])} to "
                f"{_cny(c0['cut_new_limit'])} ({fractions[0]:.0%}) on "
                f"{c0['cut_at'].date().isoformat()} while the {r0['raise_product_id']} "
                f"({r0['raise_kind']}) limit was raised from {_cny(r0['raise_old_limit'])} to "
                f"{_cny(r0['raise_new_limit'])} on {r0['raise_at'].date().isoformat()}; "
                f"exposure {_cny(exposure_.total)}.",
            )
        )
    return findings


# -- the report ------------------------------------------------------------------


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Type (contract order), then severity (critical first), score (high first), id."""
    type_rank = {t: i for i, t in enumerate(FINDING_TYPES)}
    sev_rank = {s: i for i, s in enumerate(SEVERITIES)}
    return sorted(
        findings, key=lambda f: (type_rank[f.type], -sev_rank[f.severity], -f.score, f.id)
    )


def summarize(
    findings: Sequence[Finding], users: int, exposure: pl.DataFrame | ExposureIndex
) -> dict[str, Any]:
    """The report's ``summary``.

    ``exposure_total`` is the total exposure of the distinct flagged users (each
    counted once however many findings name them); ``at_risk_total`` the sum of
    ``freeze_inconsistency`` amounts at risk.
    """
    flagged = sorted({u for f in findings for u in f.users})
    exp = _index(exposure)
    by_type = dict.fromkeys(FINDING_TYPES, 0)
    by_severity = dict.fromkeys(reversed(SEVERITIES), 0)
    for f in findings:
        by_type[f.type] += 1
        by_severity[f.severity] += 1
    at_risk = sum(f.exposure.at_risk or 0.0 for f in findings if f.type == "freeze_inconsistency")
    return {
        "users": users,
        "flagged_users": len(flagged),
        "findings": len(findings),
        "findings_by_type": by_type,
        "findings_by_severity": by_severity,
        "exposure_total": round(sum(exp[u]["total"] for u in flagged), 2),
        "at_risk_total": round(at_risk, 2),
        "ring_members": sum(len(f.users) for f in findings if f.type == "ring"),
    }
