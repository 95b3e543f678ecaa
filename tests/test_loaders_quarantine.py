"""Quarantine: load the valid rows, reject the rest (cascading), write them whole or not at all."""

from __future__ import annotations

import json

import polars as pl
import pytest
from loaders_fixtures import VALID, failure_keys, write_csv
from xpg.loaders import load_dataset

from xpg.errors import InputError, ValidationError

USERS_BAD = VALID["users"].replace("u1,2026-01-01,700", "u1,2026-01-01,high")


def test_quarantine_cascades_from_a_rejected_user(tmp_path):
    data = write_csv(tmp_path / "data", users=USERS_BAD)
    q = tmp_path / "q"
    result = load_dataset(data, quarantine=q)
    ds = result.dataset
    # u1 is rejected; so are its accounts a1, a2, their events, its device, loan,
    # application and identifier
    assert ds.users["user_id"].to_list() == ["u2", "u3"]
    assert ds.accounts["account_id"].to_list() == ["a3"]
    assert ds.account_events.is_empty()
    assert ds.devices["user_id"].to_list() == ["u2", "u3"]
    assert ds.external_loans["user_id"].to_list() == ["u2"]
    assert ds.applications["user_id"].to_list() == ["u2"]
    assert ds.identifiers["user_id"].to_list() == ["u2"]
    assert result.rejected == 9
    assert result.failure_total == 9
    assert failure_keys(result.failures)[:3] == [
        ("users", 2, "credit_score", "high", "invalid_type"),
        ("accounts", 2, "user_id", "u1", "rejected_reference"),
        ("accounts", 3, "user_id", "u1", "rejected_reference"),
    ]
    assert ("account_events", 2, "account_id", "a1", "rejected_reference") in failure_keys(
        result.failures
    )
    assert sorted(p.name for p in q.iterdir()) == [
        "account_events.csv",
        "accounts.csv",
        "applications.csv",
        "devices.csv",
        "external_loans.csv",
        "identifiers.csv",
        "summary.json",
        "users.csv",
    ]
    users = pl.read_csv(q / "users.csv", infer_schema=False)
    assert users.rows(named=True) == [
        {
            "user_id": "u1",
            "registered_at": "2026-01-01",
            "credit_score": "high",
            "_row": "2",
            "_rules": "invalid_type",
            "_messages": "credit_score must be an integer",
        }
    ]
    events = pl.read_csv(q / "account_events.csv", infer_schema=False)
    assert events["_row"].to_list() == ["2", "3"]
    assert set(events["_rules"]) == {"rejected_reference"}
    summary = json.loads((q / "summary.json").read_text())
    assert summary["rejected"] == 9
    assert summary["tables"]["users"] == {
        "file": "users.csv",
        "rows": 3,
        "loaded": 2,
        "rejected": 1,
        "duplicates_dropped": 0,
        "failures_by_rule": {"invalid_type": 1},
    }
    assert summary["tables"]["accounts"]["failures_by_rule"] == {"rejected_reference": 2}
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_quarantine_keeps_original_names_and_text(tmp_path):
    accounts = (
        VALID["accounts"]
        .replace("account_id,", "acct_no,", 1)
        .replace("a3,u2,huabei,0,0,", "a3,u2,huabei, -0.5 ,0,")
    )
    data = write_csv(tmp_path / "data", accounts=accounts)
    from xpg.settings import load_settings

    settings = load_settings(
        environ={}, overrides={"load.columns": {"accounts": {"acct_no": "account_id"}}}
    )
    q = tmp_path / "q"
    result = load_dataset(data, settings, quarantine=q)
    assert result.rejected == 1
    rows = pl.read_csv(q / "accounts.csv", infer_schema=False)
    assert rows.columns[:2] == ["acct_no", "user_id"]
    assert rows["credit_limit"].to_list() == [" -0.5 "]
    assert rows["_rules"].to_list() == ["negative_amount"]


def test_duplicate_key_rejects_the_later_rows_only(tmp_path):
    users = VALID["users"] + "u2,2026-05-01,1\n"
    result = load_dataset(write_csv(tmp_path / "data", users=users), quarantine=tmp_path / "q")
    assert result.rejected == 1
    assert result.dataset.users["credit_score"].to_list() == [700, 650, None]
    assert result.dataset.accounts.height == 3  # the first u2 stays, so nothing cascades


def test_no_rejection_still_writes_a_summary(tmp_path):
    q = tmp_path / "q"
    result = load_dataset(write_csv(tmp_path / "data"), quarantine=q)
    assert result.rejected == 0 and result.failures.is_empty()
    assert [p.name for p in q.iterdir()] == ["summary.json"]
    assert json.loads((q / "summary.json").read_text())["rejected"] == 0


def test_structural_errors_refuse_the_load_and_write_nothing(tmp_path):
    data = write_csv(tmp_path / "data", devices=None, users=USERS_BAD)
    q = tmp_path / "q"
    with pytest.raises(ValidationError) as info:
        load_dataset(data, quarantine=q)
    assert ("devices", None, None, None, "missing_table") in failure_keys(info.value.failures)
    assert not q.exists()
    assert list(tmp_path.iterdir()) == [tmp_path / "data"]


def test_default_failure_writes_no_quarantine(tmp_path):
    data = write_csv(tmp_path / "data", users=USERS_BAD)
    with pytest.raises(ValidationError):
        load_dataset(data)
    assert list(tmp_path.iterdir()) == [tmp_path / "data"]


def test_an_earlier_quarantine_is_replaced_and_a_foreign_folder_refused(tmp_path):
    data = write_csv(tmp_path / "data", users=USERS_BAD)
    q = tmp_path / "q"
    load_dataset(data, quarantine=q)
    assert (q / "users.csv").exists()
    load_dataset(write_csv(tmp_path / "good"), quarantine=q)
    assert [p.name for p in q.iterdir()] == ["summary.json"]
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("precious")
    with pytest.raises(InputError, match="not a quarantine folder"):
        load_dataset(data, quarantine=foreign)
    assert [p.name for p in foreign.iterdir()] == ["keep.txt"]
