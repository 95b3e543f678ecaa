"""Property-based tests of the loader (hypothesis): generated valid and broken tables.

A valid dataset (ids with commas, quotes, line breaks and any script; amounts;
enum values), written as CSV or Parquet, loads with every value as generated.
The same dataset with one row broken in one way gives exactly that one failure
(table, row, column, value, rule), and nothing is written.
"""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from loaders_fixtures import failure_keys
from xpg.loaders import load_dataset, validate_dataset
from xpg.loaders.schema import ACCOUNT_STATUSES, LOAN_STATUSES

from xpg.errors import ValidationError

_EDGE = st.characters(categories=("L", "N"))
_MIDDLE = st.one_of(
    st.characters(categories=("L", "N", "P", "S")), st.sampled_from([" ", ",", '"', "\n", ";"])
)
IDS = st.builds(lambda a, m, b: a + m + b, _EDGE, st.text(_MIDDLE, max_size=12), _EDGE)
AMOUNTS = st.integers(0, 10**9).map(lambda c: f"{c / 100:.2f}")

HEADERS = {
    "users": ["user_id", "credit_score"],
    "products": ["product_id", "kind"],
    "accounts": ["account_id", "user_id", "product_id", "credit_limit", "outstanding", "status"],
    "devices": ["user_id", "device_id"],
    "external_loans": ["user_id", "lender_id", "opened_at", "amount", "outstanding", "status"],
    "identifiers": ["user_id", "kind", "value"],
}


@st.composite
def datasets(draw) -> dict[str, list[list[str]]]:
    """The rows (as text) of a valid dataset: users, products, accounts, devices, loans."""
    users = draw(st.lists(IDS, min_size=1, max_size=8, unique=True))
    scores = draw(st.lists(st.integers(300, 900).map(str), min_size=len(users),
                           max_size=len(users)))
    account_ids = draw(st.lists(IDS, min_size=1, max_size=10, unique=True))
    accounts = [
        [
            a,
            draw(st.sampled_from(users)),
            draw(st.sampled_from(["huabei", "jiebei"])),
            draw(AMOUNTS),
            draw(AMOUNTS),
            draw(st.sampled_from(ACCOUNT_STATUSES)),
        ]
        for a in account_ids
    ]
    # distinct rows: an exact duplicate device row is dropped (a warning), as it should be
    devices = [list(r) for r in dict.fromkeys(
        (draw(st.sampled_from(users)), draw(IDS)) for _ in range(draw(st.integers(0, 5)))
    )]
    loans = [
        [draw(st.sampled_from(users)), draw(IDS), "2026-01-01", draw(AMOUNTS), draw(AMOUNTS),
         draw(st.sampled_from(LOAN_STATUSES))]
        for _ in range(draw(st.integers(0, 4)))
    ]
    phones = [[draw(st.sampled_from(users)), "phone",
               draw(st.sampled_from(["+86 138-0013-8000", "13800138000", "0086 13912345678"]))]
              for _ in range(draw(st.integers(0, 3)))]
    return {
        "users": [[u, s] for u, s in zip(users, scores, strict=True)],
        "products": [["huabei", "consumption"], ["jiebei", "loan"]],
        "accounts": accounts,
        "devices": devices,
        "external_loans": loans,
        "identifiers": phones,
    }


def _write(directory: Path, tables: dict[str, list[list[str]]], fmt: str) -> Path:
    directory.mkdir()
    for name, rows in tables.items():
        header = HEADERS[name]
        if fmt == "csv":
            out = io.StringIO()
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(rows)
            (directory / f"{name}.csv").write_text(out.getvalue(), encoding="utf-8")
        else:
            columns = list(zip(*rows, strict=True)) if rows else [()] * len(header)
            pl.DataFrame(
                {h: pl.Series(h, list(c), dtype=pl.String) for h, c in zip(header, columns,
                                                                           strict=True)}
            ).write_parquet(directory / f"{name}.parquet")
    return directory


def _listing(path: Path) -> list[str]:
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


PROFILE = settings(max_examples=60, deadline=None,
                   suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@PROFILE
@given(tables=datasets(), fmt=st.sampled_from(["csv", "parquet"]))
def test_a_valid_dataset_loads_as_generated(tables, fmt):
    with tempfile.TemporaryDirectory() as tmp:
        ds = load_dataset(_write(Path(tmp) / "data", tables, fmt)).dataset
    assert ds.users["user_id"].to_list() == [r[0] for r in tables["users"]]
    assert ds.accounts.select("account_id", "user_id").rows() == [
        (r[0], r[1]) for r in tables["accounts"]
    ]
    assert ds.accounts["credit_limit"].to_list() == [float(r[3]) for r in tables["accounts"]]
    assert ds.devices["device_id"].to_list() == [r[1] for r in tables["devices"]]
    assert set(ds.identifiers["value"]) <= {"13800138000", "13912345678"}


# A way to break one account row: (rule, column, the value written, given the tables and row)
def _negative(t, i):
    return "negative_amount", "credit_limit", "-" + t["accounts"][i][3].lstrip("-") + "1"


def _enum(t, i):
    return "invalid_enum", "status", "suspended"


def _type(t, i):
    return "invalid_type", "outstanding", "12 yuan"


def _thousands(t, i):
    return "invalid_type", "credit_limit", "1,234.50"


def _unknown_user(t, i):
    users = {r[0] for r in t["users"]}
    value = "ghost"
    while value in users:
        value += "!"
    return "unknown_reference", "user_id", value


def _blank(t, i):
    return "not_null", "account_id", ""


MUTATIONS = [_negative, _enum, _type, _thousands, _unknown_user, _blank]
COLUMN = {c: k for k, c in enumerate(HEADERS["accounts"])}


@PROFILE
@given(
    tables=datasets(),
    fmt=st.sampled_from(["csv", "parquet"]),
    mutation=st.sampled_from(MUTATIONS),
    where=st.integers(0, 100),
)
def test_one_broken_row_gives_exactly_its_rule(tables, fmt, mutation, where):
    i = where % len(tables["accounts"])
    rule, column, value = mutation(tables, i)
    tables["accounts"][i][COLUMN[column]] = value
    with tempfile.TemporaryDirectory() as tmp:
        data = _write(Path(tmp) / "data", tables, fmt)
        before = _listing(Path(tmp))
        with pytest.raises(ValidationError) as info:
            load_dataset(data)
        assert _listing(Path(tmp)) == before  # nothing written
        # an empty CSV field is read as missing; Parquet holds the empty string as written
        shown = None if value == "" and fmt == "csv" else value
        assert failure_keys(info.value.failures) == [("accounts", i + 2, column, shown, rule)]
        assert info.value.total == 1
        # with a quarantine, exactly that row (and its events: none here) is rejected
        result = load_dataset(data, quarantine=Path(tmp) / "q")
        assert result.rejected == 1
        assert result.dataset.accounts.height == len(tables["accounts"]) - 1


@PROFILE
@given(tables=datasets(), fmt=st.sampled_from(["csv", "parquet"]), where=st.integers(0, 100))
def test_a_duplicate_account_id_is_a_duplicate_key(tables, fmt, where):
    accounts = tables["accounts"]
    if len(accounts) < 2:
        accounts.append([accounts[0][0] + "x", *accounts[0][1:]])
    i = 1 + where % (len(accounts) - 1)
    accounts[i][0] = accounts[0][0]
    accounts[i][3] = f"{max(float(r[3]) for r in accounts) + 1:.2f}"  # not an exact duplicate
    with tempfile.TemporaryDirectory() as tmp:
        v = validate_dataset(_write(Path(tmp) / "data", tables, fmt))
    assert failure_keys(v.failures) == [
        ("accounts", i + 2, "account_id", accounts[0][0], "duplicate_key")
    ]
    message = f"account_id '{accounts[0][0]}' is not unique: first on row 2"
    assert v.failures["message"][0] == message
