"""Exports as people save them (issue 17): each variant loads with its setting and gives the
same findings as the clean file, and without the setting its message names the setting."""

from __future__ import annotations

import json
import shutil

import polars as pl
import pytest
from detect_fixtures import AS_OF, every_finding_type

from xpg.cli import main

DATETIME = "%Y-%m-%dT%H:%M:%S"


def _sample():
    """Every finding type, a date or datetime in most tables, decimals with fractions."""
    return every_finding_type(outstanding=1_000.5, limit_outstanding=1_000.25)


def _write(folder, **options):
    """The sample as CSV files; ``options`` go to ``write_csv`` (separator, date formats,
    decimal_comma)."""
    folder.mkdir(parents=True, exist_ok=True)
    ds = _sample()
    for name, frame in ds.tables().items():
        if name in ds.present:
            frame.write_csv(folder / f"{name}.csv", **{"datetime_format": DATETIME, **options})
    return folder


def _findings(data, tmp_path, capsys, config: str | None = None) -> tuple[int, dict | None, str]:
    args = ["detect", "--data", str(data), "--as-of", AS_OF.isoformat(), "--format", "json"]
    if config is not None:
        path = tmp_path / f"variant{len(list(tmp_path.glob('variant*.toml')))}.toml"
        path.write_text(config)
        args += ["--config", str(path)]
    code = main(args)
    out = capsys.readouterr()
    return code, json.loads(out.out) if code == 0 else None, out.err


@pytest.fixture
def clean(tmp_path, capsys):
    code, doc, _ = _findings(_write(tmp_path / "clean"), tmp_path, capsys)
    assert code == 0 and doc["findings"]
    assert {f["type"] for f in doc["findings"]} >= {"multi_lending", "ring",
                                                    "freeze_inconsistency"}
    return doc


def _dates(folder, date_format, datetime_format):
    return _write(folder, date_format=date_format, datetime_format=datetime_format)


def _decimal_semicolon(folder):
    return _write(folder, separator=";", decimal_comma=True)


def _decimal_quoted(folder):
    folder = _write(folder, decimal_comma=True)
    assert '"1000,5"' in (folder / "external_loans.csv").read_text()  # quoted, as Excel does
    return folder


def _upper_headers(folder):
    folder = _write(folder)
    for path in folder.glob("*.csv"):
        lines = path.read_text().split("\n", 1)
        path.write_text(lines[0].upper() + "\n" + lines[1])
    return folder


def _dated_names(folder):
    folder = _write(folder)
    for path in list(folder.glob("*.csv")):
        path.rename(folder / f"{path.stem}_20261120.csv")
    return folder


def _split(folder):
    folder = _write(folder)
    loans = pl.read_csv(folder / "external_loans.csv", infer_schema=False)
    (folder / "external_loans.csv").unlink()
    half = loans.height // 2
    loans.head(half).write_csv(folder / "external_loans_1.csv")
    loans.tail(loans.height - half).write_csv(folder / "external_loans_2.csv")
    return folder


def _part_folder(folder):
    folder = _write(folder)
    loans = pl.read_csv(folder / "external_loans.csv", try_parse_dates=True)
    (folder / "external_loans.csv").unlink()
    parts = folder / "external_loans.parquet"
    parts.mkdir()
    half = loans.height // 2
    loans.head(half).write_parquet(parts / "part-00000-1b2c.snappy.parquet")
    loans.tail(loans.height - half).write_parquet(parts / "part-00001-1b2c.snappy.parquet")
    (parts / "_SUCCESS").write_text("")
    (parts / ".part-00000-1b2c.snappy.parquet.crc").write_bytes(b"\0")
    return folder


VARIANTS = [
    # (id, make the folder, the setting, what the message says without it)
    ("date_slashes", lambda f: _dates(f, "%Y/%m/%d", "%Y/%m/%d %H:%M:%S"),
     'load.date_format = "%Y/%m/%d"\n', 'date_format = "%Y/%m/%d'),
    ("date_day_first", lambda f: _dates(f, "%d/%m/%Y", "%d/%m/%Y %H:%M:%S"),
     'load.date_format = "%d/%m/%Y"\n', 'date_format = "%d/%m/%Y'),
    ("decimal_comma_semicolon", _decimal_semicolon,
     '[load]\nseparator = ";"\ndecimal_comma = true\n', 'load.separator = ";"'),
    ("decimal_comma_quoted", _decimal_quoted,
     "load.decimal_comma = true\n", "decimal_comma = true"),
    ("upper_case_headers", _upper_headers,
     "load.ignore_header_case = true\n", "set load.ignore_header_case = true"),
    ("dated_file_names", _dated_names,
     "[load.files]\n" + "".join(f'{t} = "{t}_*.csv"\n' for t in (
         "users", "products", "accounts", "devices", "external_loans", "applications",
         "account_events")),
     '[load.files] users = "users*.csv"'),
    ("split_table", _split,
     '[load.files]\nexternal_loans = "external_loans_*.csv"\n',
     '[load.files] external_loans = "external_loans*.csv"'),
    ("part_folder", _part_folder, None, None),  # read as one table, no setting needed
]


@pytest.mark.parametrize("make, setting, says", [v[1:] for v in VARIANTS],
                         ids=[v[0] for v in VARIANTS])
def test_an_export_variant_loads_with_its_setting(tmp_path, capsys, clean, make, setting, says):
    data = make(tmp_path / "variant")
    if setting is None:
        code, doc, err = _findings(data, tmp_path, capsys)
    else:
        code, doc, err = _findings(data, tmp_path, capsys)
        assert code == 2, err
        assert says in err, err
        code, doc, err = _findings(data, tmp_path, capsys, setting)
    assert code == 0, err
    assert doc == clean


def test_decimal_comma_with_the_separator_set_names_decimal_comma(tmp_path, capsys):
    data = _decimal_semicolon(tmp_path / "variant")
    code, _, err = _findings(data, tmp_path, capsys, 'load.separator = ";"\n')
    assert code == 2
    assert ("the value has a decimal comma; set [load.per_table.accounts] decimal_comma = true "
            "(or load.decimal_comma for every table)") in err


def test_a_per_table_and_per_column_date_format(tmp_path, capsys, clean):
    data = _write(tmp_path / "variant")
    loans = pl.read_csv(data / "external_loans.csv", try_parse_dates=True)
    loans.write_csv(data / "external_loans.csv", date_format="%d.%m.%Y")
    code, _, err = _findings(data, tmp_path, capsys)
    assert code == 2 and '[load.per_table.external_loans] date_format = "%d.%m.%Y"' in err
    for setting in ('[load.per_table.external_loans]\ndate_format = "%d.%m.%Y"\n',
                    '[load.mapping.external_loans.date_format]\nopened_at = "%d.%m.%Y"\n'
                    'closed_at = "%d.%m.%Y"\n'):
        code, doc, err = _findings(data, tmp_path, capsys, setting)
        assert code == 0, err
        assert doc == clean


def test_several_files_name_the_file_and_its_line(tmp_path, capsys):
    data = _split(tmp_path / "variant")
    second = data / "external_loans_2.csv"
    lines = second.read_text().splitlines()
    lines[1] = lines[1].replace(",open", ",Opened", 1)
    second.write_text("\n".join(lines) + "\n")
    code, _, err = _findings(data, tmp_path, capsys,
                             '[load.files]\nexternal_loans = "external_loans_*.csv"\n')
    assert code == 2
    assert "[invalid_enum]" in err and "(external_loans_2.csv line 2)" in err


def test_files_of_one_table_must_share_a_header(tmp_path, capsys):
    data = _split(tmp_path / "variant")
    second = data / "external_loans_2.csv"
    second.write_text(second.read_text().replace("lender_id", "lender", 1))
    code, _, err = _findings(data, tmp_path, capsys,
                             '[load.files]\nexternal_loans = "external_loans_*.csv"\n')
    assert code == 2 and "the files of one table must have the same header" in err


def test_unknown_table_in_settings_is_a_config_error(tmp_path, capsys):
    code, _, err = _findings(_write(tmp_path / "d"), tmp_path, capsys,
                             '[load.files]\nuser = "users_*.csv"\n')
    assert code == 2 and "variant0.toml: load.files.user: unknown table" in err
    code, _, err = _findings(_write(tmp_path / "d"), tmp_path, capsys,
                             'load.allow_empty = ["device"]\n')
    assert code == 2 and "load.allow_empty: 'device' is not a table" in err


def test_the_same_findings_from_a_copy_with_every_variant_at_once(tmp_path, capsys, clean):
    """Upper-case headers, day-first dates and decimal commas in one ';' export."""
    data = _write(tmp_path / "variant", separator=";", decimal_comma=True,
                  date_format="%d/%m/%Y", datetime_format="%d/%m/%Y %H:%M:%S")
    for path in data.glob("*.csv"):
        head, rest = path.read_text().split("\n", 1)
        path.write_text(head.upper() + "\n" + rest)
    shutil.copy(data / "users.csv", data / "notes.csv")  # a file of no table: a warning
    code, doc, err = _findings(data, tmp_path, capsys, (
        '[load]\nseparator = ";"\ndecimal_comma = true\ndate_format = "%d/%m/%Y"\n'
        "ignore_header_case = true\n"))
    assert code == 0, err
    assert doc == clean
