"""Reading: CSV and Parquet alike, type parsing and normalization, column mapping, warnings."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from loaders_fixtures import VALID, csv_frame, failure_keys, write_csv
from xpg.loaders import load_dataset
from xpg.loaders.schema import TABLES

from xpg.errors import ValidationError
from xpg.settings import load_settings


def _assert_same(a, b):
    for name in a.table_names():
        x, y = a.table(name), b.table(name)
        assert x.schema == y.schema, name
        assert x.equals(y), name
    assert a.present == b.present


def test_csv_and_parquet_give_identical_datasets(tmp_path):
    from_csv = load_dataset(write_csv(tmp_path / "csv")).dataset
    native = tmp_path / "native"
    native.mkdir()
    for name, frame in from_csv.tables().items():
        frame.write_parquet(native / f"{name}.parquet")
    _assert_same(from_csv, load_dataset(native).dataset)
    # Parquet of text columns goes through the same parsing as CSV
    text = tmp_path / "text"
    text.mkdir()
    for name, content in VALID.items():
        csv_frame(content).write_parquet(text / f"{name}.parquet")
    _assert_same(from_csv, load_dataset(text).dataset)


def test_mixed_formats_in_one_directory(tmp_path):
    data = write_csv(tmp_path / "data", devices=None)
    csv_frame(VALID["devices"]).write_parquet(data / "devices.parquet")
    ds = load_dataset(data).dataset
    assert ds.devices.height == 3 and ds.devices.schema["first_seen"] == pl.Datetime("us")


def test_schema_is_normalized(tmp_path):
    ds = load_dataset(write_csv(tmp_path / "data")).dataset
    for name, frame in ds.tables().items():
        # v2: identifiers also keep the value as written, after the contract's columns
        extra = {"value_raw": pl.String()} if name == "identifiers" else {}
        assert dict(frame.schema) == {**TABLES[name].schema, **extra}, name


DATETIMES = [
    ("2026-01-01T08:00:00", dt.datetime(2026, 1, 1, 8)),
    ("2026-01-01 08:00:00", dt.datetime(2026, 1, 1, 8)),
    ("2026-01-01T08:00", dt.datetime(2026, 1, 1, 8)),
    ("2026-01-01", dt.datetime(2026, 1, 1)),
    ("2026-01-01T08:00:00.250", dt.datetime(2026, 1, 1, 8, 0, 0, 250000)),
    ("2026-01-01T08:00:00.123456789", dt.datetime(2026, 1, 1, 8, 0, 0, 123456)),
    ("2026-01-01T08:00:00Z", dt.datetime(2026, 1, 1, 8)),
    ("2026-01-01T08:00:00+08:00", dt.datetime(2026, 1, 1, 0)),
    ("2026-01-01T08:00:00+0800", dt.datetime(2026, 1, 1, 0)),
    ("2026-01-01T08:00:00+08", dt.datetime(2026, 1, 1, 0)),
    ("2026-01-01T01:00:00+08:00", dt.datetime(2025, 12, 31, 17)),  # crosses the day
    ("2026-01-01T22:30:00-05:30", dt.datetime(2026, 1, 2, 4)),
    (" 2026-01-01T08:00:00Z ", dt.datetime(2026, 1, 1, 8)),
]


@pytest.mark.parametrize("first", [0, 7], ids=["plain_first", "offset_first"])
def test_datetimes_with_offsets_become_naive_utc(tmp_path, first):
    # the first value decides the fast format; every other form takes the general path
    order = [*DATETIMES[first:], *DATETIMES[:first]]
    rows = "\n".join(f'u1,d{i},"{text}",' for i, (text, _) in enumerate(order))
    data = write_csv(tmp_path / "data", devices="user_id,device_id,first_seen,last_seen\n" + rows)
    ds = load_dataset(data).dataset
    assert ds.devices["first_seen"].to_list() == [want for _, want in order]
    assert ds.devices.schema["first_seen"] == pl.Datetime("us", None)


def test_date_column_takes_the_date_part_as_written(tmp_path):
    loans = (
        VALID["external_loans"].splitlines()[0]
        + "\n"
        + "\n".join(
            [
                "u1,L1,2025-06-01,1,1,open,",
                "u1,L1,2025-06-02T23:30:00,1,1,open,",
                "u1,L1,2025-06-03T01:00:00+08:00,1,1,open,",  # not moved to June 2 by the offset
                "u1,L1,2025-06-04 12:00,1,1,open,",
            ]
        )
    )
    ds = load_dataset(write_csv(tmp_path / "data", external_loans=loans)).dataset
    assert ds.external_loans["opened_at"].to_list() == [
        dt.date(2025, 6, 1),
        dt.date(2025, 6, 2),
        dt.date(2025, 6, 3),
        dt.date(2025, 6, 4),
    ]


def test_parquet_timezone_aware_and_date_types(tmp_path):
    data = write_csv(tmp_path / "data", devices=None, external_loans=None)
    pl.DataFrame(
        {
            "user_id": ["u1", "u2"],
            "device_id": ["d1", "d2"],
            "first_seen": pl.Series(
                [dt.datetime(2026, 1, 1, 8), dt.datetime(2026, 1, 2, 8)]
            ).dt.replace_time_zone("Asia/Shanghai"),
            "last_seen": pl.Series([dt.date(2026, 1, 3), None]),
        }
    ).write_parquet(data / "devices.parquet")
    pl.DataFrame(
        {
            "user_id": ["u1"],
            "lender_id": ["L1"],
            "opened_at": pl.Series([dt.datetime(2025, 6, 3, 1)]).dt.replace_time_zone(
                "Asia/Shanghai"
            ),
            "amount": pl.Series([1000], dtype=pl.Int32),
            "outstanding": pl.Series([float("nan")]),
            "status": ["open"],
        }
    ).write_parquet(data / "external_loans.parquet")
    with pytest.raises(ValidationError) as info:
        load_dataset(data)
    # NaN is a missing number: the required outstanding is empty
    assert failure_keys(info.value.failures) == [
        ("external_loans", 2, "outstanding", "NaN", "not_null")
    ]
    fixed = pl.read_parquet(data / "external_loans.parquet").with_columns(outstanding=pl.lit(5))
    fixed.write_parquet(data / "external_loans.parquet")
    ds = load_dataset(data).dataset
    assert ds.devices["first_seen"].to_list() == [dt.datetime(2026, 1, 1), dt.datetime(2026, 1, 2)]
    assert ds.devices["last_seen"].to_list() == [dt.datetime(2026, 1, 3), None]
    assert ds.external_loans["opened_at"].to_list() == [dt.date(2025, 6, 3)]
    assert ds.external_loans["amount"].to_list() == [1000.0]
    assert ds.external_loans["closed_at"].to_list() == [None]


def test_text_is_trimmed_and_blank_is_null(tmp_path):
    users = 'user_id,registered_at,credit_score\n" u1 ",,\nu2,"  ", 700 \nu3,"",\n'
    ds = load_dataset(write_csv(tmp_path / "data", users=users)).dataset
    assert ds.users.rows() == [("u1", None, None), ("u2", None, 700), ("u3", None, None)]


def test_integer_accepts_an_integral_decimal(tmp_path):
    users = "user_id,credit_score\nu1,700.0\nu2,1e3\nu3,-5\n"
    ds = load_dataset(write_csv(tmp_path / "data", users=users)).dataset
    assert ds.users["credit_score"].to_list() == [700, 1000, -5]


def test_column_mapping(tmp_path):
    accounts = VALID["accounts"].replace("account_id,user_id,", "acct_no,cust,", 1)
    data = write_csv(tmp_path / "data", accounts=accounts)
    columns = {"accounts": {"acct_no": "account_id", "cust": "user_id"}}
    settings = load_settings(environ={}, overrides={"load.columns": columns})
    ds = load_dataset(data, settings).dataset
    assert ds.accounts.columns == list(TABLES["accounts"].column_names)
    assert ds.accounts["account_id"].to_list() == ["a1", "a2", "a3"]
    # failures name the column as the file has it
    bad = write_csv(tmp_path / "bad", accounts=accounts.replace("a1,u1,", "a1,u9,"))
    with pytest.raises(ValidationError) as info:
        load_dataset(bad, settings)
    assert failure_keys(info.value.failures) == [("accounts", 2, "cust", "u9", "unknown_reference")]
    # unmapped, the file lacks the contract's columns
    with pytest.raises(ValidationError) as info:
        load_dataset(data)
    assert [k[2] for k in failure_keys(info.value.failures)] == ["account_id", "user_id"]


def test_column_mapping_problems(tmp_path):
    columns = {"accounts": {"acct_no": "account_id"}}
    settings = load_settings(environ={}, overrides={"load.columns": columns})
    both = VALID["accounts"].replace("account_id,", "account_id,acct_no,", 1)
    both = "\n".join(
        line if i == 0 else line.replace(",", ",x,", 1) for i, line in enumerate(both.splitlines())
    )
    with pytest.raises(ValidationError) as info:
        load_dataset(write_csv(tmp_path / "both", accounts=both + "\n"), settings)
    assert failure_keys(info.value.failures) == [
        ("accounts", None, "acct_no", "acct_no", "duplicate_column")
    ]
    assert "both give the contract column account_id" in info.value.failures["message"][0]
    neither = VALID["accounts"].replace("account_id,", "id,", 1)
    with pytest.raises(ValidationError) as info:
        load_dataset(write_csv(tmp_path / "neither", accounts=neither), settings)
    assert failure_keys(info.value.failures) == [
        ("accounts", None, "account_id", None, "missing_column")
    ]
    assert "(nor acct_no, mapped onto it in load.columns)" in info.value.failures["message"][0]


def test_warnings_do_not_stop_the_load(tmp_path):
    accounts = VALID["accounts"].splitlines()
    accounts[0] += ",segment,branch"
    accounts[1:] = [line + ",vip,b1" for line in accounts[1:]]
    accounts.append("a4,u3,jiebei,100,0,frozen,aml_review,,,vip,")
    accounts.append("a5,u3,huabei,100,0,closed,aml_review,,,,")
    accounts.append("a6,u3,huabei,100,0,active,aml_review,,,,")  # active: not a freeze reason
    devices = VALID["devices"] + "u1,d1,2026-01-01T00:00:00,2026-01-03T00:00:00\n"
    loans = VALID["external_loans"] + "u1,L1,2025-06-01,10000,8000,open,\n"
    events = VALID["account_events"] + "a1,2026-01-07,freeze,,,Fraud\n"
    data = write_csv(
        tmp_path / "data",
        accounts="\n".join(accounts) + "\n",
        devices=devices,
        external_loans=loans,
        account_events=events,
    )
    (data / "notes.csv").write_text("x\n1\n")
    (data / "truth.json").write_text("{}")
    result = load_dataset(data)
    assert failure_keys(result.warnings) == [
        ("accounts", None, None, None, "unknown_column"),  # one line for both
        ("accounts", 5, "status_reason", "aml_review", "unknown_freeze_reason"),
        ("devices", 5, None, None, "duplicate_row"),
        ("external_loans", 4, None, None, "duplicate_row"),
        ("account_events", 4, "reason", "Fraud", "unknown_freeze_reason"),
        ("notes", None, None, "notes.csv", "unknown_table"),  # files of no contract table last
    ]
    messages = result.warnings["message"].to_list()
    assert messages[0] == ("2 columns are not in the contract of accounts (segment, branch); "
                           "they are kept as properties")
    assert "(2 rows, first on row 5)" in messages[1]
    assert messages[2] == "exact duplicate of row 2; dropped"
    assert messages[3] == "exact duplicate of row 2; kept"
    assert result.warning_total == 6
    ds = result.dataset
    assert ds.devices.height == 3  # the duplicate device sighting is dropped
    assert ds.external_loans.height == 3  # two equal loans may be two loans: kept
    assert ds.accounts.columns[-2:] == ["segment", "branch"]
    assert ds.accounts["branch"].to_list() == ["b1", "b1", "b1", None, None, None]


def test_warnings_are_capped_and_counted(tmp_path):
    devices = VALID["devices"] + "u1,d1,2026-01-01T00:00:00,2026-01-03T00:00:00\n" * 4
    settings = load_settings(environ={}, overrides={"load.max_errors": 2})
    result = load_dataset(write_csv(tmp_path / "data", devices=devices), settings)
    assert result.warning_total == 4
    assert result.warnings["row"].to_list() == [5, 6]
    assert result.dataset.devices.height == 3


def test_exact_duplicate_in_a_keyed_table_is_dropped_not_an_error(tmp_path):
    users = VALID["users"] + "u1,2026-01-01,700\n"
    result = load_dataset(write_csv(tmp_path / "data", users=users))
    assert failure_keys(result.warnings) == [("users", 5, None, None, "duplicate_row")]
    assert result.dataset.users["user_id"].to_list() == ["u1", "u2", "u3"]


def test_header_only_tables_are_empty_not_broken(tmp_path):
    # v2: users, products and accounts must hold rows; the others may be empty (a warning)
    keep = ("users", "products", "accounts")
    empty = {name: text.splitlines()[0] + "\n" for name, text in VALID.items() if name not in keep}
    result = load_dataset(write_csv(tmp_path / "data", **empty))
    ds = result.dataset
    assert ds.row_count == sum(ds.table(t).height for t in keep) == 8
    for name, frame in ds.tables().items():
        extra = {"value_raw": pl.String()} if name == "identifiers" else {}
        assert dict(frame.schema) == {**TABLES[name].schema, **extra}, name
    assert sorted(result.warnings["table"]) == sorted(empty)
    assert set(result.warnings["rule"]) == {"empty_table"}


def test_progress_is_advanced_by_the_rows_read(tmp_path):
    from contextlib import contextmanager

    steps: list[tuple[str, list[int]]] = []

    class Recorder:
        @contextmanager
        def step(self, description, total=None):
            done: list[int] = []
            steps.append((description, done))
            yield done.append

    load_dataset(write_csv(tmp_path / "data"), progress=Recorder())
    assert [(d, sum(n)) for d, n in steps] == [("Loading and validating", 21)]
