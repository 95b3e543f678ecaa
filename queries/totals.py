"""Money figures of a set of findings, each amount counted once.

A user can be named by several findings (a ``freeze_inconsistency`` and a
``restored_after_freeze``, a ``multi_lending`` and a ``ring``), so summing the
findings' amounts counts that user's money again for each. The figures here
count it once:

* **exposure**: the ``total`` exposure of the distinct users named (from an
  exposure-per-user mapping, as in the summary's ``exposure_total``);
* **drawable at risk**: the drawable amount of the distinct accounts that a
  cross-product inconsistency names as drawable (each rule that names some says where
  in its evidence: :attr:`~xpg.queries.rules.base.Rule.at_risk_evidence`, a list of
  ``{account_id, drawable}``), each (user, account) once.

These are the definitions the report prints beside its figures (:func:`definitions`;
``DEFINITIONS`` and ``AT_RISK_TYPES`` are the same, read from the registry when used).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from xpg.queries.findings import Finding
from xpg.queries.rules import rules

__all__ = ["at_risk_accounts", "at_risk_types", "definitions",
           "drawable_at_risk", "exposure_of_users"]


def _evidence_keys() -> dict[str, str]:
    """Finding type -> the evidence key listing its drawable accounts at risk."""
    return {r.name: r.at_risk_evidence for r in rules() if r.at_risk_evidence}


def at_risk_types() -> tuple[str, ...]:
    """The finding types whose evidence names drawable accounts at risk (registry order).

    >>> at_risk_types()
    ('freeze_inconsistency', 'restored_after_freeze')
    """
    return tuple(_evidence_keys())


def definitions() -> dict[str, str]:
    """One definition per money figure of the report."""
    return {
        "exposure": "internal outstanding + drawable + external outstanding of the distinct "
                    "users named, each user counted once however many findings name them",
        "drawable_at_risk": f"drawable amount of the distinct accounts a "
                            f"{' or '.join(at_risk_types())} finding names as still drawable, "
                            "each account counted once however many findings name it",
    }


def __getattr__(name: str) -> Any:
    if name == "AT_RISK_TYPES":
        return at_risk_types()
    if name == "DEFINITIONS":
        return definitions()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def at_risk_accounts(findings: Iterable[Finding]) -> dict[tuple[str, str], float]:
    """``(user_id, account_id) -> drawable`` of every account named at risk, once.

    Examples
    --------
    >>> import datetime as dt
    >>> from xpg.queries.findings import Exposure, Finding
    >>> ev = {"drawable_accounts": [{"account_id": "A1", "drawable": 100.0}]}
    >>> f1 = Finding("freeze-1", "freeze_inconsistency", "high", 0.5, ("u1",),
    ...              Exposure(total=100.0, at_risk=100.0), ev, "x")
    >>> f2 = Finding("restored-1", "restored_after_freeze", "high", 0.5, ("u1",),
    ...              Exposure(total=100.0, at_risk=100.0),
    ...              {"restorations": [{"account_id": "A1", "drawable": 100.0}]}, "x")
    >>> at_risk_accounts([f1, f2])
    {('u1', 'A1'): 100.0}
    """
    out: dict[tuple[str, str], float] = {}
    keys = _evidence_keys()
    for f in findings:
        key = keys.get(f.type)
        if key is None:
            continue
        rows: Any = f.evidence.get(key, ()) if isinstance(f.evidence, Mapping) else ()
        user = f.users[0]
        for r in rows:
            out[(user, str(r["account_id"]))] = float(r.get("drawable") or 0.0)
    return out


def drawable_at_risk(findings: Iterable[Finding]) -> float:
    """The drawable at risk of ``findings`` (see :data:`DEFINITIONS`), rounded to cents."""
    return round(sum(round(v, 2) for v in at_risk_accounts(findings).values()), 2)


def exposure_of_users(findings: Iterable[Finding], total_of: Mapping[str, float]) -> float:
    """The exposure of the distinct users ``findings`` name, each once, rounded to cents.

    ``total_of`` maps a user id to the user's total exposure (0 when absent).
    """
    users = {u for f in findings for u in f.users}
    return round(sum(total_of.get(u, 0.0) for u in sorted(users)), 2)
