"""v2: mapping an export in configuration (load.mapping): each kind, each error, the worked
example of docs/configuration.md (tests/examples/bureau), and CSV and Parquet alike."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import polars as pl
import pytest
from loaders_fixtures import VALID, failure_keys, write_csv
from xpg.loaders import load_dataset

from xpg.cli import main
from xpg.errors import ConfigError, ValidationError
from xpg.settings import load_settings

BUREAU = Path(__file__).parent / "examples" / "bureau"
CONFIG = BUREAU / "bureau.toml"


def mapped(mapping: dict) -> object:
    return load_settings(environ={}, overrides={"load.mapping": mapping})


def test_the_bureau_example_loads_as_documented():
    ds = load_dataset(BUREAU, load_settings(CONFIG, environ={})).dataset
    loans = ds.external_loans
    assert loans["user_id"].to_list()[:2] == ["C001", "C001"]
    assert loans["lender_id"][0] == "ORG-BANK-01"
    # day offsets after 2025-01-01; -30 is before it
    assert loans["opened_at"].to_list()[:2] == [dt.date(2025, 9, 8), dt.date(2025, 10, 29)]
    assert loans["opened_at"][-1] == dt.date(2024, 12, 2)
    assert loans["status"].to_list() == [
        "open", "overdue", "open", "open", "closed", "open", "written_off", "closed"]
    assert loans["outstanding"][2] == 0.0  # the blank balance
    assert ds.accounts["product_id"].to_list() == ["huabei"] * 3  # the constant
    assert ds.accounts["status"].to_list() == ["active"] * 3  # the default for a blank
    assert ds.accounts["outstanding"].to_list() == [7400.5, 0.0, 0.0]
    assert ds.users["registered_at"][0] == dt.datetime(2025, 3, 14)
    assert ds.devices["user_id"].to_list() == ["C001", "C002", "C003"]  # the shared rename


def test_the_bureau_example_detects_its_multi_lender(capsys):
    args = ["detect", "--data", str(BUREAU), "--config", str(CONFIG), "--as-of", "2026-01-01"]
    assert main(args) == 0
    doc = json.loads(capsys.readouterr().out)
    (finding,) = doc["findings"]
    assert finding["type"] == "multi_lending" and finding["users"] == ["C001"]
    assert finding["evidence"]["open_loan_lenders"] == [
        "ORG-BANK-01", "ORG-CFC-12", "ORG-MFI-07", "ORG-P2P-33"]
    assert finding["exposure"]["external_outstanding"] == 19650.0


def test_without_the_mapping_the_export_is_refused(capsys):
    assert main(["validate", "--data", str(BUREAU)]) == 2
    assert "users column user_id: [missing_column] required column user_id is missing" in (
        capsys.readouterr().err)


def test_parquet_maps_as_csv_does(tmp_path):
    """The same export as Parquet, with native types (integers, floats with nulls)."""
    settings = load_settings(CONFIG, environ={})
    for path in BUREAU.glob("*.csv"):
        frame = pl.read_csv(path, infer_schema_length=100)
        frame.write_parquet(tmp_path / f"{path.stem}.parquet")
    assert pl.read_parquet(tmp_path / "external_loans.parquet")["open_day_offset"].dtype == pl.Int64
    from_csv = load_dataset(BUREAU, settings).dataset
    from_parquet = load_dataset(tmp_path, settings).dataset
    for table in ("users", "accounts", "devices", "external_loans"):
        a, b = getattr(from_csv, table), getattr(from_parquet, table)
        assert a.select(b.columns).equals(b.select(b.columns)), table


# -- each kind, on the small valid dataset ----------------------------------------------------


def test_shared_rename_applies_to_every_table_with_the_column(tmp_path):
    tables = {k: v.replace("user_id", "uid") for k, v in VALID.items()}
    data = write_csv(tmp_path / "data", tables)
    ds = load_dataset(data, mapped({"shared": {"rename": {"uid": "user_id"}}})).dataset
    for table in ("users", "accounts", "devices", "external_loans", "identifiers"):
        assert "user_id" in getattr(ds, table).columns and "uid" not in getattr(ds, table).columns
    # a table's own rename wins over the shared one
    tables["users"] = VALID["users"].replace("user_id", "member")
    data = write_csv(tmp_path / "own", tables)
    settings = mapped({"shared": {"rename": {"uid": "user_id"}},
                       "users": {"rename": {"member": "user_id"}}})
    assert load_dataset(data, settings).dataset.users["user_id"].to_list() == ["u1", "u2", "u3"]


def test_a_value_map_maps_words_and_unmapped_ones_fail_naming_it(tmp_path):
    loans = VALID["external_loans"].replace(",open,", ",Active,").replace(",closed,", ",Settled,")
    words = {"external_loans": {"values": {"status": {"Active": "open", "Settled": "closed"}}}}
    ds = load_dataset(write_csv(tmp_path / "ok", external_loans=loans), mapped(words)).dataset
    assert ds.external_loans["status"].to_list() == ["open", "closed"]
    bad = loans.replace(",Settled,", ", Paid off ,")
    with pytest.raises(ValidationError) as info:
        load_dataset(write_csv(tmp_path / "bad", external_loans=bad), mapped(words))
    assert failure_keys(info.value.failures) == [
        ("external_loans", 3, "status", " Paid off ", "invalid_enum")]
    assert info.value.failures["message"][0] == (
        "status must be one of open, overdue, closed, written_off; the value is not in "
        "load.mapping.external_loans.values.status (Active, Settled are mapped)")


def test_constant_and_default_give_an_absent_column(tmp_path):
    accounts = "account_id,user_id,credit_limit,outstanding\na1,u1,100,0\na2,u2,50,10\n"
    settings = mapped({"accounts": {"constant": {"product_id": "huabei"},
                                    "default": {"status": "limited"}}})
    ds = load_dataset(write_csv(tmp_path / "d", accounts=accounts), settings).dataset
    assert ds.accounts["product_id"].to_list() == ["huabei", "huabei"]
    assert ds.accounts["status"].to_list() == ["limited", "limited"]


def test_a_constant_for_a_column_the_file_has_is_a_duplicate_column(tmp_path):
    settings = mapped({"accounts": {"constant": {"product_id": "huabei"}}})
    with pytest.raises(ValidationError) as info:
        load_dataset(write_csv(tmp_path / "d"), settings)
    assert failure_keys(info.value.failures) == [
        ("accounts", None, "product_id", "product_id", "duplicate_column")]
    assert info.value.failures["message"][0] == (
        "column product_id is in the file and load.mapping.accounts.constant.product_id "
        "gives product_id too; keep one")


def test_default_and_fill_null_fill_only_the_nulls(tmp_path):
    users = "user_id,credit_score\nu1,700\nu2,\nu3,  \n"
    for kind in ("default", "fill_null"):
        settings = mapped({"users": {kind: {"credit_score": 500}}})
        ds = load_dataset(write_csv(tmp_path / kind, users=users), settings).dataset
        assert ds.users["credit_score"].to_list() == [700, 500, 500]
    # fill_null gives no absent column: the required one is still missing
    accounts = VALID["accounts"].replace(",outstanding,", ",balance,", 1)
    with pytest.raises(ValidationError) as info:
        load_dataset(write_csv(tmp_path / "absent", accounts=accounts),
                     mapped({"accounts": {"fill_null": {"outstanding": 0}}}))
    assert ("accounts", None, "outstanding", None, "missing_column") in failure_keys(
        info.value.failures)


def test_day_offsets_give_dates_and_datetimes(tmp_path):
    loans = VALID["external_loans"].replace("2025-06-01", "151").replace(
        "2025-01-01,2000", "0,2000")
    devices = "user_id,device_id,first_seen\nu1,d1,3\nu2,d1,\nu3,d2,-1\n"
    settings = mapped({"external_loans": {"day_offset": {"opened_at": dt.date(2025, 1, 1)}},
                       "devices": {"day_offset": {"first_seen": "2026-01-01"}}})
    ds = load_dataset(write_csv(tmp_path / "d", external_loans=loans, devices=devices),
                      settings).dataset
    assert ds.external_loans["opened_at"].to_list() == [dt.date(2025, 6, 1), dt.date(2025, 1, 1)]
    assert ds.devices["first_seen"].to_list() == [
        dt.datetime(2026, 1, 4), None, dt.datetime(2025, 12, 31)]


def test_a_day_offset_that_is_not_a_whole_number_fails_with_its_line(tmp_path):
    loans = VALID["external_loans"].replace("2025-06-01", "2025-06-01").replace(
        "2025-01-01,2000", "1.5,2000")
    loans += "u1,L2,,5,5,open,\n"
    settings = mapped({"external_loans": {"day_offset": {"opened_at": "2025-01-01"}}})
    with pytest.raises(ValidationError) as info:
        load_dataset(write_csv(tmp_path / "d", external_loans=loans), settings)
    assert failure_keys(info.value.failures) == [
        ("external_loans", 2, "opened_at", "2025-06-01", "invalid_type"),
        ("external_loans", 3, "opened_at", "1.5", "invalid_type"),
        ("external_loans", 4, "opened_at", None, "not_null"),
    ]
    assert info.value.failures["message"][0] == (
        "opened_at must be a whole number of days after 2025-01-01 "
        "(load.mapping.external_loans.day_offset.opened_at)")


# -- configuration errors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"accountz": {"rename": {"a": "account_id"}}},
         "load.mapping.accountz: unknown table; the tables are ['account_events', "),
        ({"accounts": {"renames": {"a": "account_id"}}},
         "load.mapping.accounts.renames: unknown kind of mapping; the kinds are rename, values"),
        ({"accounts": {"rename": {"acct": "acount_id"}}},
         "load.mapping.accounts.rename.acct: 'acount_id' is not a column of accounts"),
        ({"accounts": {"fill_null": {"balance": 0}}},
         "load.mapping.accounts.fill_null.balance: 'balance' is not a column of accounts"),
        ({"accounts": {"values": {"outstanding": {"x": "y"}}}},
         "load.mapping.accounts.values.outstanding: outstanding of accounts is not an enum "
         "column (it holds decimal values); a value map is for an enum column: ['status']"),
        ({"accounts": {"values": {"status": {"Active": "open"}}}},
         "load.mapping.accounts.values.status.Active: 'open' is not a status of accounts; "
         "the values are active, limited, frozen, closed"),
        ({"external_loans": {"day_offset": {"opened_at": "soon"}}},
         "load.mapping.external_loans.day_offset.opened_at: expected a date (2026-01-01), "
         "got 'soon'"),
        ({"external_loans": {"day_offset": {"opened_at": 30}}},
         "load.mapping.external_loans.day_offset.opened_at: the reference date must be a date"),
        ({"external_loans": {"day_offset": {"amount": "2026-01-01"}}},
         "load.mapping.external_loans.day_offset.amount: amount of external_loans is not a "
         "date column"),
        ({"accounts": {"fill_null": {"outstanding": "none"}}},
         "load.mapping.accounts.fill_null.outstanding: expected a number, got 'none'"),
        ({"accounts": {"fill_null": {"outstanding": -1}}},
         "load.mapping.accounts.fill_null.outstanding: outstanding must be >= 0, got -1"),
        ({"users": {"default": {"credit_score": 1.5}}},
         "load.mapping.users.default.credit_score: expected an integer, got 1.5"),
        ({"accounts": {"constant": {"status": "open"}}},
         "load.mapping.accounts.constant.status: 'open' is not one of active, limited"),
        ({"accounts": {"constant": {"status": "active"}, "default": {"status": "closed"}}},
         "load.mapping.accounts.default.status: status has a constant too "
         "(load.mapping.accounts.constant.status); keep one"),
        ({"accounts": {"rename": {"a": "user_id", "b": "user_id"}}},
         "load.mapping.accounts.rename.b: both 'a' and 'b' are renamed onto 'user_id'"),
        ({"shared": {"constant": {"product_id": "huabei"}}},
         "load.mapping.shared.constant: unknown kind of mapping; the kinds are rename, values, "
         "fill_null, day_offset, date_format (constant and default are set per table)"),
        ({"shared": {"rename": {"uid": "usr_id"}}},
         "load.mapping.shared.rename.uid: 'usr_id' is not a column of any table"),
        ({"shared": {"values": {"amount": {"a": "b"}}}},
         "load.mapping.shared.values.amount: 'amount' is not an enum column of any table"),
        ({"accounts": {"rename": "acct_no"}},
         "load.mapping.accounts.rename: expected a table, got 'acct_no'"),
    ],
)
def test_mapping_errors_name_the_key(tmp_path, mapping, message):
    with pytest.raises(ConfigError) as info:
        load_dataset(write_csv(tmp_path / "data"), mapped(mapping))
    assert str(info.value).startswith(message), str(info.value)


def test_the_cli_names_the_config_file_of_a_mapping_error(tmp_path, capsys):
    good = tmp_path / "good.toml"
    shutil.copy(CONFIG, good)
    bad = tmp_path / "bad.toml"
    bad.write_text('[load.mapping.external_loans.values.status]\nActive = "opened"\n')
    args = ["validate", "--data", str(BUREAU), "--config", str(good), "--config", str(bad)]
    assert main(args) == 2
    assert (f"xpg: error: {bad}: load.mapping.external_loans.values.status.Active: 'opened' "
            "is not a status of external_loans") in capsys.readouterr().err


def test_load_columns_and_a_rename_of_the_same_column_must_agree(tmp_path):
    settings = load_settings(environ={}, overrides={
        "load.columns": {"accounts": {"acct": "account_id"}},
        "load.mapping": {"accounts": {"rename": {"acct": "user_id"}}}})
    with pytest.raises(ConfigError) as info:
        load_dataset(write_csv(tmp_path / "data"), settings)
    assert str(info.value) == ("load.mapping.accounts.rename.acct: load.columns.accounts maps "
                               "acct onto 'account_id', this onto 'user_id'")


def test_quarantine_keeps_the_rows_as_written(tmp_path):
    data = tmp_path / "data"
    shutil.copytree(BUREAU, data)
    loans = (data / "external_loans.csv").read_text().replace(",Delinquent", ",Late")
    (data / "external_loans.csv").write_text(loans)
    result = load_dataset(data, load_settings(CONFIG, environ={}),
                          quarantine=tmp_path / "q")
    assert result.rejected == 1 and result.dataset.external_loans.height == 7
    rejected = pl.read_csv(tmp_path / "q" / "external_loans.csv", infer_schema=False)
    assert rejected.row(0, named=True) | {"_messages": None} == {
        "cust_no": "C001", "org_code": "ORG-MFI-07", "open_day_offset": "301",
        "loan_amt": "3000", "balance": "2950", "acct_state": "Late", "_row": "3",
        "_rules": "invalid_enum", "_messages": None}
