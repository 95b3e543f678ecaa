"""`xpg validate`: exit codes and output, through xpg.cli.main."""

from __future__ import annotations

import json

from loaders_fixtures import VALID, write_csv

from xpg.cli import main

BAD_ACCOUNTS = VALID["accounts"].replace("a1,u1,huabei,5000,", "a1,u1,huabei,-5000,")


def test_valid_data_exits_0_with_row_counts(tmp_path, capsys):
    data = write_csv(tmp_path / "data")
    assert main(["validate", "--data", str(data)]) == 0
    out = capsys.readouterr().out
    assert "  accounts                   3 rows\n" in out
    assert "valid: 21 rows in 9 tables" in out


def test_invalid_data_exits_2_and_lists_the_failure(tmp_path, capsys):
    data = write_csv(tmp_path / "data", accounts=BAD_ACCOUNTS)
    assert main(["validate", "--data", str(data)]) == 2
    captured = capsys.readouterr()
    assert "1 problem with the data contract in accounts (negative_amount 1)" in captured.err
    assert (
        "  accounts row 2 column credit_limit value '-5000': [negative_amount] "
        "credit_limit must be >= 0" in captured.err
    )
    assert "valid:" not in captured.out


def test_warnings_are_printed_and_do_not_fail(tmp_path, capsys):
    data = write_csv(tmp_path / "data", users="user_id,nickname\nu1,a\nu2,b\nu3,c\n")
    assert main(["validate", "--data", str(data)]) == 0
    out = capsys.readouterr().out
    assert "warnings (1):" in out
    assert "users column nickname: [unknown_column]" in out


def test_json_format(tmp_path, capsys):
    data = write_csv(tmp_path / "data", accounts=BAD_ACCOUNTS)
    assert main(["validate", "--data", str(data), "--format", "json"]) == 2
    doc = json.loads(capsys.readouterr().out)
    assert doc["valid"] is False
    assert doc["failure_total"] == 1
    assert doc["failures"] == [
        {
            "table": "accounts",
            "row": 2,
            "column": "credit_limit",
            "value": "-5000",
            "rule": "negative_amount",
            "message": "credit_limit must be >= 0",
        }
    ]
    assert doc["warnings"] == [] and doc["rejected"] == 0 and doc["quarantine"] is None
    assert doc["tables"]["accounts"] == 3

    good = write_csv(tmp_path / "good")
    assert main(["validate", "--data", str(good), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["valid"] is True and doc["failures"] == []


def test_quarantine_exits_0_and_says_where(tmp_path, capsys):
    data = write_csv(tmp_path / "data", accounts=BAD_ACCOUNTS)
    q = tmp_path / "q"
    assert main(["validate", "--data", str(data), "--quarantine", str(q)]) == 0
    out = capsys.readouterr().out
    # a1 is rejected, and its limit_change event with it
    assert f"loaded 19 of 21 rows; 2 rejected (2 failures) written to {q}" in out
    assert (q / "accounts.csv").exists() and (q / "account_events.csv").exists()
    assert main(["validate", "--data", str(data), "--quarantine", str(q), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["valid"] is False and doc["rejected"] == 2 and doc["quarantine"] == str(q)


def test_usage_errors_exit_2(tmp_path, capsys):
    assert main(["validate", "--data", str(tmp_path / "missing")]) == 2
    assert "data directory not found" in capsys.readouterr().err
    data = write_csv(tmp_path / "data")
    assert main(["validate", "--data", str(data), "--format", "xml"]) == 2
    assert "--format 'xml'" in capsys.readouterr().err
    config = tmp_path / "bad.toml"
    config.write_text('[load.columns.nope]\na = "b"\n')
    assert main(["validate", "--data", str(data), "--config", str(config)]) == 2
    assert "load.columns.nope: unknown table" in capsys.readouterr().err
