"""A corpus of broken and hostile input files, each with its exact outcome.

Each entry replaces one table of the valid fixture with the given bytes (CSV
or Parquet) and states what must come out: the exact failures (table, row,
column, value, rule) and the start of the first message, or a clean load with
the hostile value kept as data. Every refused entry is also run through
``xpg validate`` (exit 2) and with a quarantine, and nothing may be written
next to the data or into the quarantine folder when the load is refused.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

import polars as pl
import pytest
from loaders_fixtures import VALID, failure_keys, write_csv
from test_loaders_rules import CASES
from xpg.loaders import ERROR_RULES, load_dataset, validate_dataset

from xpg.cli import main

U = VALID["users"].encode()
USERS_HEADER = b"user_id,registered_at,credit_score\n"


def _parquet(frame: pl.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.write_parquet(buf)
    return buf.getvalue()


USERS_PARQUET = _parquet(pl.read_csv(io.BytesIO(U), infer_schema=False))

# Values that look like code: they must stay data, exactly as written.
HOSTILE = [
    "u1'}) MATCH (n) DETACH DELETE n //",
    '" OR 1=1; --',
    "=HYPERLINK(\"http://evil.example\",\"click\")",
    "+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "-2+3",
    "<script>alert('x')</script>",
    "<img src=x onerror=alert(1)>",
    "{{7*7}}",
    "${jndi:ldap://x}",
    "../../etc/passwd",
    "\u202eevil\u202c",  # right-to-left override
    "名字\u0000null",
]


@dataclass(frozen=True)
class Entry:
    id: str
    table: str
    content: bytes
    fmt: str = "csv"
    failures: list[tuple] | None = None  # None: loads cleanly
    message: str = ""  # the start of the first failure's message
    warnings: list[tuple] = field(default_factory=list)


def _users(*rows: bytes) -> bytes:
    return U + b"".join(rows)


def _hostile_users() -> bytes:
    out = io.StringIO()
    import csv

    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["user_id", "registered_at", "credit_score"])
    for row in (["u1", "", ""], ["u2", "", ""], ["u3", "", ""]):
        writer.writerow(row)
    for value in HOSTILE:
        writer.writerow([value, "", ""])
    return out.getvalue().encode()


CORPUS = [
    Entry("zero_byte_users", "users", b"",
          failures=[("users", None, None, "users.csv", "empty_table")],
          message="users.csv is empty (0 bytes: no header, no rows)"),
    Entry("header_only_accounts", "accounts", VALID["accounts"].splitlines()[0].encode() + b"\n",
          failures=[("accounts", None, None, "accounts.csv", "empty_table")],
          message="accounts.csv has a header and no rows"),
    Entry("header_only_products_parquet", "products",
          _parquet(pl.DataFrame(schema={"product_id": pl.String, "kind": pl.String})),
          fmt="parquet",
          failures=[("products", None, None, "products.parquet", "empty_table")],
          message="products.parquet has a header and no rows"),
    Entry("header_only_loans", "external_loans",
          VALID["external_loans"].splitlines()[0].encode() + b"\n",
          warnings=[("external_loans", None, None, "external_loans.csv", "empty_table")]),
    Entry("zero_byte_devices_parquet", "devices", b"", fmt="parquet",
          warnings=[("devices", None, None, "devices.parquet", "empty_table")]),
    Entry("gbk", "users", "user_id,name\nu1,张三\nu2,李四\nu3,王五\n".encode("gbk"),
          failures=[("users", 2, None, "u1,张三", "unreadable_file")],
          message="users.csv cannot be read as CSV: line 2 is not utf-8 (the bytes 0xd5 0xc5 "
                  "cannot be decoded): it reads as GBK"),
    Entry("gbk_header", "users", "用户,user_id\n1,u1\n2,u2\n3,u3\n".encode("gbk"),
          failures=[("users", 1, None, "用户,user_id", "unreadable_file")],
          message="users.csv cannot be read as CSV: line 1 is not utf-8 (the bytes 0xd3 0xc3 "
                  "cannot be decoded): it reads as GBK"),
    Entry("formula_amount", "accounts",
          VALID["accounts"].encode().replace(b"a1,u1,huabei,5000,", b'a1,u1,huabei,"=1+2",'),
          failures=[("accounts", 2, "credit_limit", "=1+2", "invalid_type")],
          message="credit_limit must be a decimal number"),
    Entry("utf16", "users", VALID["users"].encode("utf-16"),
          failures=[("users", 1, None, "user_id,registered_at,credit_score", "unreadable_file")],
          message="users.csv cannot be read as CSV: line 1 is not utf-8 (the bytes 0xff 0xfe "
                  "cannot be decoded): it reads as UTF-16"),
    Entry("latin1", "users", _users('u4,,"é"\n'.encode("latin-1")),
          failures=[("users", 5, None, 'u4,,"\ufffd"', "unreadable_file")],
          message="users.csv cannot be read as CSV: line 5 is not utf-8 (the bytes 0xe9 0x22 "
                  "cannot be decoded): re-save the file as UTF-8"),
    Entry("stray_0xff", "users", _users(b"\xff\xfe,2\n"),
          failures=[("users", 5, None, "\ufffd\ufffd,2", "unreadable_file")],
          message="users.csv cannot be read as CSV: line 5 is not utf-8"),
    Entry("utf8_bom", "users", b"\xef\xbb\xbf" + U),
    Entry("crlf", "users", U.replace(b"\n", b"\r\n")),
    Entry("ragged_too_many", "users", _users(b"u4,2026-01-01,700,extra\n"),
          failures=[("users", 5, None, "u4,2026-01-01,700,extra", "unreadable_file")],
          message="users.csv cannot be read as CSV: line 5 has 4 fields where the header has 3: "
                  "quote a value that holds the separator ','"),
    # a short row reads its missing trailing fields as empty: a required one is not_null
    Entry("ragged_too_few", "accounts",
          VALID["accounts"].encode() + b"a4,u3,huabei,100\n",
          failures=[("accounts", 5, "outstanding", None, "not_null"),
                    ("accounts", 5, "status", None, "not_null")],
          message="outstanding is required and must not be empty"),
    Entry("unbalanced_quote", "users", _users(b'"u4,2026-01-01,700\nu5,,\n'),
          failures=[("users", None, None, "users.csv", "unreadable_file")],
          message="users.csv cannot be read as CSV: could not parse"),
    # a quoted line break is part of the value; a record with one counts as one row
    Entry("embedded_newline", "products",
          b'product_id,kind,name\nhuabei,consumption,"Hua\nbei"\njiebei,loan,"Jie ""quoted"" bei"\n'
          b"x,lorn,\n",
          failures=[("products", 4, "kind", "lorn", "invalid_enum")],
          message="kind must be one of consumption, loan"),
    Entry("embedded_quotes_and_separators", "products",
          b'product_id,kind,name\nhuabei,consumption,"a, ""b"", c"\njiebei,loan,\n'),
    Entry("very_long_field", "products",  # v3: more than load.max_field_bytes (1 MiB)
          b"product_id,kind,name\nhuabei,consumption," + b"x" * 2_000_000 + b"\njiebei,loan,\n",
          failures=[("products", 2, None, "x" * 60 + "...", "unreadable_file")],
          message="products.csv cannot be read as CSV: line 2 has a field of more than "
                  "1,048,576 bytes (load.max_field_bytes)"),
    Entry("long_field_within_bounds", "products",
          b"product_id,kind,name\nhuabei,consumption," + b"x" * 1_000_000 + b"\njiebei,loan,\n"),
    Entry("very_long_phone", "identifiers",
          VALID["identifiers"].encode() + b"u3,phone," + b"1" * 100_000 + b",,\n",
          failures=[("identifiers", 4, "value", "1" * 100_000, "empty_normalized")],
          message="value '" + "1" * 100 + "' of kind 'phone' normalizes to nothing"),
    Entry("nul_byte", "users", _users(b"u\x004,,\n")),
    Entry("blank_lines_only", "users", b"user_id\n\n\n",
          failures=None,  # filled below
          message="user_id is required and must not be empty"),
    Entry("semicolons", "users", U.replace(b",", b";"),
          failures=[("users", 1, None, "user_id;registered_at;credit_score", "wrong_separator")],
          message="the header of users.csv is one column that holds ';'"),
    Entry("thousands", "external_loans",
          VALID["external_loans"].encode().replace(b"10000,8000", b'"10,000",8000'),
          failures=[("external_loans", 2, "amount", "10,000", "invalid_type")],
          message="amount must be a decimal number: thousands separators are not allowed "
                  "(write 10000)"),
    Entry("truncated_parquet", "users", USERS_PARQUET[: len(USERS_PARQUET) // 2], fmt="parquet",
          failures=[("users", None, None, "users.parquet", "unreadable_file")],
          message="users.parquet cannot be read as PARQUET: parquet: File out of specification"),
    Entry("garbage_parquet", "users", b"PAR1garbagePAR1", fmt="parquet",
          failures=[("users", None, None, "users.parquet", "unreadable_file")],
          message="users.parquet cannot be read as PARQUET"),
    Entry("csv_named_parquet", "users", U, fmt="parquet",
          failures=[("users", None, None, "users.parquet", "unreadable_file")],
          message="users.parquet cannot be read as PARQUET"),
    Entry("hostile_values", "users", _hostile_users()),
]
CORPUS[CORPUS.index(next(e for e in CORPUS if e.id == "blank_lines_only"))] = Entry(
    "blank_lines_only", "users", b"user_id\n\n\n",  # blank lines are no rows: no users at all
    failures=[("users", None, None, "users.csv", "empty_table")],
    message="users.csv has a header and no rows",
)


def _write(tmp_path, entry: Entry):
    data = write_csv(tmp_path / "data", **{entry.table: None})
    (data / f"{entry.table}.{entry.fmt}").write_bytes(entry.content)
    return data


def _listing(path):
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


@pytest.mark.parametrize("entry", CORPUS, ids=[e.id for e in CORPUS])
def test_corpus_entry(tmp_path, capsys, entry):
    data = _write(tmp_path, entry)
    before = _listing(tmp_path)
    v = validate_dataset(data)
    if entry.failures is None:
        assert v.valid, v.failures
        assert failure_keys(v.warnings) == entry.warnings
        assert main(["validate", "--data", str(data)]) == 0
        return
    keys = failure_keys(v.failures)
    assert keys == entry.failures
    assert v.failures["message"][0].startswith(entry.message), v.failures["message"][0]
    assert set(v.failures["rule"]) <= set(ERROR_RULES)
    assert v.dataset is None
    assert main(["validate", "--data", str(data)]) == 2
    err = capsys.readouterr().err
    assert f"[{entry.failures[0][4]}]" in err
    assert _listing(tmp_path) == before  # nothing written
    structural = entry.failures[0][4] in ("unreadable_file", "empty_table", "wrong_separator")
    quarantine = tmp_path / "q"
    code = main(["validate", "--data", str(data), "--quarantine", str(quarantine)])
    if structural:  # refused whole: no quarantine folder, nothing half-written
        assert code == 2 and not quarantine.exists()
    else:
        assert code == 0 and (quarantine / "summary.json").exists()


def test_hostile_values_stay_data(tmp_path):
    entry = next(e for e in CORPUS if e.id == "hostile_values")
    ds = load_dataset(_write(tmp_path, entry)).dataset
    assert ds.users["user_id"].to_list() == ["u1", "u2", "u3", *(v.strip() for v in HOSTILE)]


def test_hostile_values_in_a_failure_are_reported_exactly(tmp_path):
    accounts = VALID["accounts"] + "".join(
        f'a{i},"{v.replace(chr(34), chr(34) * 2)}",huabei,1,0,active,,,\n'
        for i, v in enumerate(HOSTILE, start=10)
    )
    with pytest.raises(Exception) as info:
        load_dataset(write_csv(tmp_path / "data", accounts=accounts))
    failures = info.value.failures
    assert failures["value"].to_list() == [v.strip() for v in HOSTILE]
    assert set(failures["rule"]) == {"unknown_reference"}
    assert failures["row"].to_list() == list(range(5, 5 + len(HOSTILE)))


def test_corpus_size():
    """The corpus, the per-rule fixtures and the hostile values, counted for the report."""
    assert len(CORPUS) >= 25 and len(CASES) >= 30 and len(HOSTILE) >= 13
