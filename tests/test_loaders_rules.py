"""One small fixture per validation rule: the exact failure, and that nothing is produced."""

from __future__ import annotations

import polars as pl
import pytest
from loaders_fixtures import VALID, failure_keys, write_csv
from xpg.loaders import ERROR_RULES, load_dataset, validate_dataset

from xpg.errors import ConfigError, InputError, ValidationError
from xpg.settings import load_settings

ACCOUNTS_HEADER = VALID["accounts"].splitlines()[0]
DEVICES_HEADER = "user_id,device_id,first_seen,last_seen"
LOANS_HEADER = VALID["external_loans"].splitlines()[0]
EVENTS_HEADER = VALID["account_events"].splitlines()[0]


def _accounts(*rows: str) -> str:
    """The accounts table with ``rows`` in place of its first row (a1)."""
    return "\n".join([ACCOUNTS_HEADER, *rows, *VALID["accounts"].splitlines()[2:]]) + "\n"


def _with_row(table: str, row: str) -> str:
    return VALID[table] + row + "\n"


# (case id, table changes, the one expected failure: table, row, column, value, rule, message part)
CASES = [
    (
        "too_long",  # v3: an id longer than load.max_id_length (256)
        {"devices": _with_row("devices", "u1," + "d" * 300 + ",,")},
        ("devices", 5, "device_id", "d" * 100, "too_long"),
        "device_id is 300 characters long, more than load.max_id_length (256)",
    ),
    (
        "missing_table",
        {"devices": None},
        ("devices", None, None, None, "missing_table"),
        "required table devices is missing",
    ),
    (
        "missing_column",
        {"accounts": "account_id,user_id,product_id,credit_limit,status\na1,u1,huabei,5,active\n"},
        ("accounts", None, "outstanding", None, "missing_column"),
        "required column outstanding is missing",
    ),
    (
        "duplicate_column",
        {"users": "user_id,credit_score,user_id\nu1,700,u1\nu2,1,u2\nu3,2,u3\n"},
        ("users", None, "user_id", "user_id", "duplicate_column"),
        "appears more than once",
    ),
    (
        "not_null_empty",
        {"accounts": _accounts("a1,,huabei,5000,1200.5,active,,,2025-01-01")},
        ("accounts", 2, "user_id", None, "not_null"),
        "user_id is required",
    ),
    (
        "not_null_blank_text",
        {"devices": _with_row("devices", 'u1,"   ",,')},
        ("devices", 5, "device_id", "   ", "not_null"),
        "device_id is required",
    ),
    (
        "not_null_required_date",
        {"external_loans": _with_row("external_loans", "u1,L1,,5,5,open,")},
        ("external_loans", 4, "opened_at", None, "not_null"),
        "opened_at is required",
    ),
    (
        "invalid_type_decimal",
        {"accounts": _accounts('a1,u1,huabei,"5,000",1200.5,active,,,2025-01-01')},
        ("accounts", 2, "credit_limit", "5,000", "invalid_type"),
        "credit_limit must be a decimal number",
    ),
    (
        "invalid_type_not_finite",
        {"external_loans": _with_row("external_loans", "u1,L1,2025-06-01,inf,0,open,")},
        ("external_loans", 4, "amount", "inf", "invalid_type"),
        "amount must be a decimal number",
    ),
    (
        "invalid_type_integer",
        {"users": "user_id,credit_score\nu1,700.5\nu2,650.0\nu3,\n"},
        ("users", 2, "credit_score", "700.5", "invalid_type"),
        "credit_score must be an integer",
    ),
    (
        "invalid_type_date",
        {"accounts": _accounts("a1,u1,huabei,5000,1200.5,active,,,2025-02-30")},
        ("accounts", 2, "opened_at", "2025-02-30", "invalid_type"),
        "opened_at must be an ISO 8601 date",
    ),
    (
        "invalid_type_datetime",
        {"devices": _with_row("devices", "u1,d3,yesterday,")},
        ("devices", 5, "first_seen", "yesterday", "invalid_type"),
        "first_seen must be an ISO 8601 datetime",
    ),
    (
        "invalid_type_offset",
        {"devices": _with_row("devices", "u1,d3,2026-01-01T00:00:00+25:00,")},
        ("devices", 5, "first_seen", "2026-01-01T00:00:00+25:00", "invalid_type"),
        "first_seen must be an ISO 8601 datetime",
    ),
    (
        "invalid_enum",
        {"products": "product_id,kind\nhuabei,consumption\njiebei,Loan\n"},
        ("products", 3, "kind", "Loan", "invalid_enum"),
        "kind must be one of consumption, loan; map an export's own word: "
        '[load.mapping.products.values.kind] "WORD" = "consumption"',
    ),
    (
        "invalid_enum_optional",
        {"applications": _with_row("applications", "u1,L2,2026-01-04T00:00:00,maybe")},
        ("applications", 4, "outcome", "maybe", "invalid_enum"),
        "outcome must be one of approved, rejected, pending",
    ),
    (
        "negative_amount",
        {"external_loans": _with_row("external_loans", "u1,L1,2025-06-01,-0.01,0,open,")},
        ("external_loans", 4, "amount", "-0.01", "negative_amount"),
        "amount must be >= 0",
    ),
    (
        "amount_too_large",
        {"external_loans": _with_row("external_loans", "u1,L1,2025-06-01,10000000000.01,0,open,")},
        ("external_loans", 4, "amount", "10000000000.01", "amount_too_large"),
        "amount must be at most 10,000,000,000; an amount that large is a broken export (an "
        "amount in cents, a shifted column)",
    ),
    (
        "negative_amount_event_limit",
        {"account_events": _with_row("account_events", "a1,2026-01-06,limit_change,5000,-1,")},
        ("account_events", 4, "new_limit", "-1", "negative_amount"),
        "new_limit must be >= 0",
    ),
    (
        "duplicate_key",
        {"users": _with_row("users", "u1,2026-02-01,710")},
        ("users", 5, "user_id", "u1", "duplicate_key"),
        "user_id 'u1' is not unique: first on row 2",
    ),
    (
        "unknown_reference_account_user",
        {"accounts": _with_row("accounts", "a4,u9,huabei,1,0,active,,,")},
        ("accounts", 5, "user_id", "u9", "unknown_reference"),
        "user_id 'u9' does not exist in users",
    ),
    (
        "unknown_reference_account_product",
        {"accounts": _with_row("accounts", "a4,u1,alipay,1,0,active,,,")},
        ("accounts", 5, "product_id", "alipay", "unknown_reference"),
        "product_id 'alipay' does not exist in products",
    ),
    (
        "unknown_reference_event_account",
        {"account_events": _with_row("account_events", "a9,2026-01-06,freeze,,,fraud")},
        ("account_events", 4, "account_id", "a9", "unknown_reference"),
        "account_id 'a9' does not exist in accounts",
    ),
    (
        "unknown_reference_device_user",
        {"devices": _with_row("devices", "u4,d1,,")},
        ("devices", 5, "user_id", "u4", "unknown_reference"),
        "user_id 'u4' does not exist in users",
    ),
    (
        "unknown_reference_identifier_user",
        {"identifiers": _with_row("identifiers", "U1,phone,13800000001,,")},
        ("identifiers", 4, "user_id", "U1", "unknown_reference"),
        "user_id 'U1' does not exist in users",
    ),
    (
        "unknown_reference_application_user",
        {"applications": _with_row("applications", "u0,L1,2026-01-04T00:00:00,")},
        ("applications", 4, "user_id", "u0", "unknown_reference"),
        "user_id 'u0' does not exist in users",
    ),
    (
        "unknown_reference_loan_user",
        {"external_loans": _with_row("external_loans", "u7,L1,2025-06-01,1,1,open,")},
        ("external_loans", 4, "user_id", "u7", "unknown_reference"),
        "user_id 'u7' does not exist in users",
    ),
    (
        "unknown_reference_loan_lender",
        {"external_loans": _with_row("external_loans", "u1,L3,2025-06-01,1,1,open,")},
        ("external_loans", 4, "lender_id", "L3", "unknown_reference"),
        "lender_id 'L3' does not exist in lenders",
    ),
    (
        "missing_limit",
        {"account_events": _with_row("account_events", "a1,2026-01-06,limit_change,5000,,")},
        ("account_events", 4, "new_limit", None, "missing_limit"),
        "new_limit is required for a limit_change event",
    ),
    (
        "date_order_device",
        {"devices": _with_row("devices", "u3,d3,2026-01-02T00:00:01,2026-01-02T00:00:00")},
        ("devices", 5, "last_seen", "2026-01-02T00:00:00", "date_order"),
        "last_seen is before first_seen (2026-01-02T00:00:01)",
    ),
    (
        "date_order_loan",
        {"external_loans": _with_row("external_loans", "u1,L1,2025-06-02,1,0,closed,2025-06-01")},
        ("external_loans", 4, "closed_at", "2025-06-01", "date_order"),
        "closed_at is before opened_at (2025-06-02)",
    ),
    (
        "date_order_identifier",
        {"identifiers": _with_row("identifiers", "u3,email,a@b.c,2026-01-05,2026-01-04T23:59:59")},
        ("identifiers", 4, "last_seen", "2026-01-04T23:59:59", "date_order"),
        "last_seen is before first_seen",
    ),
    (
        "empty_table_users",
        {"users": "user_id,registered_at,credit_score\n"},
        ("users", None, None, "users.csv", "empty_table"),
        "users.csv has a header and no rows: users must hold at least one row; an empty users "
        "table is what a broken upstream export looks like: check the export",
    ),
    (
        "empty_normalized_bank_card",
        {"identifiers": _with_row("identifiers", "u3,bank_card,n/a,,")},
        ("identifiers", 4, "value", "n/a", "empty_normalized"),
        "value 'n/a' of kind 'bank_card' normalizes to nothing",
    ),
    (
        "unusable_identifier_masked_card",
        {"identifiers": _with_row("identifiers", "u3,bank_card,6222********1234,,")},
        ("identifiers", 4, "value", "6222********1234", "unusable_identifier"),
        "value '6222********1234' of kind 'bank_card' is masked: it cannot link users; export "
        "the full values",
    ),
    (
        "unusable_identifier_scientific_phone",
        {"identifiers": _with_row("identifiers", "u3,phone,1.38001E+10,,")},
        ("identifiers", 4, "value", "1.38001E+10", "unusable_identifier"),
        "value '1.38001E+10' of kind 'phone' is in scientific notation (a spreadsheet dropped "
        "its digits): it cannot link users",
    ),
    (
        "wrong_separator",
        {"devices": "user_id;device_id\nu1;d1\n"},
        ("devices", 1, None, "user_id;device_id", "wrong_separator"),
        "the header of devices.csv is one column that holds ';': the file looks ';'-separated, "
        "not ','-separated; set load.separator = \";\" (or, for this table only, "
        "[load.per_table.devices] separator = \";\")",
    ),
]


@pytest.mark.parametrize(
    ("changes", "expected", "message"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_each_rule_names_table_row_column_value(tmp_path, changes, expected, message):
    data = write_csv(tmp_path / "data", **changes)
    with pytest.raises(ValidationError) as info:
        load_dataset(data)
    error = info.value
    assert failure_keys(error.failures) == [expected]
    assert error.total == 1
    assert message in error.failures["message"][0]
    assert f"{expected[0]} ({expected[4]} 1)" in str(error)
    assert "nothing was loaded" in str(error)
    assert list(tmp_path.iterdir()) == [data]  # nothing written next to the data either


def test_every_error_rule_has_a_fixture():
    covered = {c[2][4] for c in CASES} | {
        "ambiguous_table",  # below: need a Parquet file or bytes
        "unreadable_file",
        "invalid_column_type",
        "rejected_reference",  # only with a quarantine: tests/test_loaders_quarantine.py
    }
    assert covered == set(ERROR_RULES)


def test_the_valid_fixture_is_valid(tmp_path):
    result = load_dataset(write_csv(tmp_path / "data"))
    assert result.rejected == 0 and result.warnings.is_empty()
    assert result.dataset.present == frozenset(VALID)
    # boundaries that must pass: amount 0, equal first/last seen, closed on the day opened
    assert result.dataset.accounts["credit_limit"].to_list() == [5000.0, 3000.0, 0.0]


def test_lender_reference_is_only_checked_when_lenders_are_given(tmp_path):
    data = write_csv(
        tmp_path / "data",
        lenders=None,
        external_loans=_with_row("external_loans", "u1,L3,2025-06-01,1,1,open,"),
    )
    result = load_dataset(data)
    assert sorted(result.dataset.external_loans["lender_id"].unique()) == ["L1", "L2", "L3"]
    assert "lenders" not in result.dataset.present
    assert result.dataset.lenders.is_empty()


def test_missing_optional_column_is_null_but_limit_change_needs_it(tmp_path):
    ok = write_csv(
        tmp_path / "ok",
        account_events="account_id,at,event\na2,2026-01-05T10:00:00,freeze\n",
        users="user_id\nu1\nu2\nu3\n",
    )
    ds = load_dataset(ok).dataset
    assert ds.users.schema["credit_score"] == pl.Int64
    assert ds.account_events["reason"].to_list() == [None]
    bad = write_csv(
        tmp_path / "bad", account_events="account_id,at,event\na1,2026-01-05,limit_change\n"
    )
    with pytest.raises(ValidationError) as info:
        load_dataset(bad)
    assert failure_keys(info.value.failures) == [
        ("account_events", 2, "old_limit", None, "missing_limit"),
        ("account_events", 2, "new_limit", None, "missing_limit"),
    ]


def test_ambiguous_table(tmp_path):
    data = write_csv(tmp_path / "data")
    pl.DataFrame({"user_id": ["u1"], "device_id": ["d1"]}).write_parquet(data / "devices.parquet")
    with pytest.raises(ValidationError) as info:
        load_dataset(data)
    assert failure_keys(info.value.failures) == [
        ("devices", None, None, "devices.csv, devices.parquet", "ambiguous_table")
    ]
    assert "keep one file per table" in info.value.failures["message"][0]


@pytest.mark.parametrize(
    ("content", "line", "value", "reason"),
    [
        (
            b"user_id,credit_score\nu1,1\n\xff\xfe,2\n",
            3,
            "\ufffd\ufffd,2",
            "cannot be read as CSV: line 3 is not utf-8 (the bytes 0xff 0xfe cannot be decoded): "
            "re-save the file as UTF-8, or set load.encoding to the encoding it was saved in",
        ),
        (
            b"user_id,credit_score\nu1,1\nu2,2,3\n",
            3,
            "u2,2,3",
            "cannot be read as CSV: line 3 has 3 fields where the header has 2: quote a value "
            "that holds the separator ','",
        ),
    ],
    ids=["not_utf8", "ragged"],
)
def test_unreadable_file(tmp_path, content, line, value, reason):
    data = write_csv(tmp_path / "data", users=None)
    (data / "users.csv").write_bytes(content)
    with pytest.raises(ValidationError) as info:
        load_dataset(data)
    keys = failure_keys(info.value.failures)
    assert keys[0] == ("users", line, None, value, "unreadable_file")
    assert reason in info.value.failures["message"][0]
    # the tables that refer to users are still checked, but not against the missing keys
    assert {k[4] for k in keys} == {"unreadable_file"}


def test_invalid_column_type_in_parquet(tmp_path):
    data = write_csv(tmp_path / "data", products=None)
    pl.DataFrame(
        {"product_id": ["huabei", "jiebei"], "kind": [["consumption"], ["loan"]]}
    ).write_parquet(data / "products.parquet")
    with pytest.raises(ValidationError) as info:
        load_dataset(data)
    assert failure_keys(info.value.failures) == [
        ("products", None, "kind", str(pl.List(pl.String)), "invalid_column_type")
    ]


def test_all_failures_are_collected_in_file_order(tmp_path):
    data = write_csv(
        tmp_path / "data",
        accounts=_accounts(
            "a1,u9,huabei,-5,x,active,,,2025-01-01",
            "a1,u1,huabei,5,0,Frozen,,,",
        ),
        devices=None,
    )
    with pytest.raises(ValidationError) as info:
        load_dataset(data)
    # v3: what refuses the load (structural) first; then in table order (users, products,
    # lenders, accounts, devices, ...), then row, then column
    assert failure_keys(info.value.failures) == [
        ("devices", None, None, None, "missing_table"),
        ("accounts", 2, "user_id", "u9", "unknown_reference"),
        ("accounts", 2, "credit_limit", "-5", "negative_amount"),
        ("accounts", 2, "outstanding", "x", "invalid_type"),
        ("accounts", 3, "account_id", "a1", "duplicate_key"),
        ("accounts", 3, "status", "Frozen", "invalid_enum"),
        # the events of a1 refer to an account that exists (twice): no cascade without quarantine
    ]
    assert info.value.total == 6


def test_cap_keeps_the_first_rows_and_counts_all(tmp_path):
    rows = [f"u{i},d{i},," for i in range(10, 22)]  # 12 unknown users
    devices = DEVICES_HEADER + "\n" + "\n".join(rows) + "\n"
    data = write_csv(tmp_path / "data", devices=devices, account_events="account_id,at,event\n")
    settings = load_settings(environ={}, overrides={"load.max_errors": 5})
    with pytest.raises(ValidationError) as info:
        load_dataset(data, settings)
    assert info.value.total == 12
    assert info.value.failures["row"].to_list() == [2, 3, 4, 5, 6]
    assert "unknown_reference 12" in str(info.value)
    v = validate_dataset(data, settings)
    assert v.failure_total == 12 and v.failures.height == 5 and v.dataset is None
    assert v.counts.rows() == [("devices", "unknown_reference", 12)]


def test_not_a_directory_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="data directory not found"):
        load_dataset(tmp_path / "nope")
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="not a directory"):
        load_dataset(tmp_path / "file")


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ({"accountz": {"a": "account_id"}}, "load.columns.accountz: unknown table"),
        ({"accounts": {"a": "acct"}}, "'acct' is not a column of accounts"),
        ({"accounts": {"a": "user_id", "b": "user_id"}}, "both 'a' and 'b' are mapped"),
    ],
)
def test_bad_column_mapping_is_a_config_error(tmp_path, columns, message):
    settings = load_settings(environ={}, overrides={"load.columns": columns})
    with pytest.raises(ConfigError, match=message):
        load_dataset(write_csv(tmp_path / "data"), settings)
