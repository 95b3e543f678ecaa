"""A hand-made dataset with known answers for the investigation, report, API and serve tests.

The ring ``R`` = u1..u4 is chained: u1 -d1- u2 -phone- u3 -d2- u4. Around it:

* ``dhub``: u1 and h01..h20, 21 users: a hub (more than 20), never followed;
* ``d20``: u7 and h01..h19, exactly 20 users: not a hub;
* u1 and u7 share an ``ip`` (a kind not enabled for rings); u4 has a bank card;
* u4 and u8 share ``d4``, first seen after the run date: no link yet;
* u5 -d3- u6, a pair; u6 borrows at L5 like u2 (a link only via lenders);
* u5's loan at L1 and u4's account a6 open after the run date: not counted.

Every amount below is summed by hand in ``tests/test_investigate.py``.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
from xpg.loaders.dataset import Dataset
from xpg.loaders.schema import TABLES
from xpg.queries.findings import Exposure, Finding, FindingsReport, stable_id

__all__ = ["AS_OF", "RING", "dataset", "findings", "write_dataset"]

AS_OF = dt.date(2026, 11, 20)
T0 = dt.datetime(2026, 1, 5, 9, 0)
LATER = dt.datetime(2026, 12, 1, 9, 0)  # after the run date
RING = ("u1", "u2", "u3", "u4")
HUB = [f"h{i:02d}" for i in range(1, 21)]


def _frame(name: str, rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=TABLES[name].schema, orient="row")


def tables() -> dict[str, pl.DataFrame]:
    users = [(u, T0, 600) for u in ["u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8", *HUB]]
    products = [("huabei", "consumption", "Huabei"), ("jiebei", "loan", "Jiebei")]
    d = dt.date(2025, 6, 1)
    accounts = [
        ("a1", "u1", "huabei", 5000.0, 1000.0, "active", None, None, d),
        ("a2", "u1", "jiebei", 20000.0, 5000.0, "frozen", "fraud", T0, d),
        ("a3", "u2", "huabei", 3000.0, 3500.0, "active", None, None, d),
        ("a4", "u2", "jiebei", 10000.0, 0.0, "closed", "customer_request", T0, d),
        ("a5", "u3", "huabei", 2000.0, 2000.0, "frozen", "overdue", T0, d),
        ("a6", "u4", "jiebei", 8000.0, 0.0, "active", None, None, dt.date(2026, 12, 1)),
        ("a7", "u4", "huabei", 1000.0, 0.0, "active", None, None, d),
        ("a8", "u6", "huabei", 4000.0, 100.0, "active", None, None, d),
    ]
    devices = [
        ("u1", "d1", T0, T0), ("u2", "d1", T0, T0), ("u2", "d1", None, T0),
        ("u3", "d2", T0, T0), ("u4", "d2", T0, T0),
        ("u5", "d3", T0, T0), ("u6", "d3", T0, T0),
        ("u4", "d4", LATER, LATER), ("u8", "d4", LATER, LATER),
        ("u1", "dhub", T0, T0), *[(h, "dhub", T0, T0) for h in HUB],
        ("u7", "d20", T0, T0), *[(h, "d20", T0, T0) for h in HUB[:19]],
    ]
    identifiers = [
        ("u2", "phone", "13800000001", T0, T0), ("u3", "phone", "13800000001", T0, T0),
        ("u1", "ip", "10.0.0.1", T0, T0), ("u7", "ip", "10.0.0.1", T0, T0),
        ("u4", "bank_card", "6222020200112233", T0, T0),
    ]
    o = dt.date(2026, 3, 1)
    loans = [
        ("u1", "L1", o, 1000.0, 800.0, "open", None),
        ("u1", "L2", o, 2000.0, 1500.0, "open", None),
        ("u1", "L3", o, 500.0, 500.0, "overdue", None),
        ("u1", "L4", o, 300.0, 300.0, "open", None),
        ("u2", "L1", o, 1000.0, 1000.0, "open", None),
        ("u2", "L2", o, 900.0, 700.0, "open", None),
        ("u2", "L3", o, 200.0, 200.0, "open", None),
        ("u2", "L5", o, 400.0, 400.0, "open", None),
        ("u3", "L1", o, 700.0, 0.0, "closed", dt.date(2026, 5, 1)),
        ("u3", "L2", o, 100.0, 50.0, "open", None),
        ("u5", "L1", dt.date(2026, 12, 1), 999.0, 999.0, "open", None),
        ("u6", "L5", o, 600.0, 600.0, "open", None),
    ]
    apps = [("u1", "L6", dt.datetime(2026, 11, 15, 10, 0), "rejected")]
    lenders = [(f"L{i}", f"Lender {i}", "bank") for i in (1, 2, 3, 4, 5, 6, 9)]
    return {
        "users": _frame("users", users),
        "products": _frame("products", products),
        "accounts": _frame("accounts", accounts),
        "devices": _frame("devices", devices),
        "identifiers": _frame("identifiers", identifiers),
        "external_loans": _frame("external_loans", loans),
        "applications": _frame("applications", apps),
        "lenders": _frame("lenders", lenders),
        "account_events": TABLES["account_events"].empty(),
    }


def dataset() -> Dataset:
    t = tables()
    return Dataset(**t, present=frozenset(t), source="investigation fixture")


def write_dataset(folder, fmt: str = "parquet"):
    """Write the fixture as contract files (``<table>.parquet`` or ``.csv``)."""
    from pathlib import Path

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in tables().items():
        if fmt == "csv":
            frame.write_csv(folder / f"{name}.csv")
        else:
            frame.write_parquet(folder / f"{name}.parquet")
    return folder


def _finding(ftype, users, total, severity="high", **evidence):
    return Finding(
        id=stable_id(ftype, sorted(users)),
        type=ftype,
        severity=severity,
        score=0.8,
        users=tuple(sorted(users)),
        exposure=Exposure(total),
        evidence=evidence,
        explanation=f"{ftype} of {', '.join(sorted(users))}",
    )


def findings() -> FindingsReport:
    """The findings the detections give on this fixture (as the contract defines them)."""
    return FindingsReport(
        AS_OF,
        (
            _finding("multi_lending", ["u1"], 13100.0, "medium", lenders=["L1", "L2", "L3", "L4"]),
            _finding("multi_lending", ["u2"], 5800.0, "medium", lenders=["L1", "L2", "L3", "L5"]),
            _finding("ring", list(RING), 21950.0, "high", devices=["d1", "d2"],
                     lenders=["L1", "L2", "L3"]),
            _finding("freeze_inconsistency", ["u1"], 13100.0, "high", at_risk=4000.0),
        ),
        {"users": 28},
    )
