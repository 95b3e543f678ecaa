"""`xpg detect` end to end: files in, the contract's JSON (or a table) out, exit codes."""

from __future__ import annotations

import dataclasses
import json
import os

import pytest
from detect_fixtures import AS_OF, Builder, day, every_finding_type
from xpg.queries import detect
from xpg.queries.findings import FindingsReport
from xpg.queries.rules import FINDING_TYPES

from xpg.cli import main

CSV_DATETIME = "%Y-%m-%dT%H:%M:%S"


def sample():
    return every_finding_type()


def write(dataset, folder, fmt="parquet"):
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in dataset.tables().items():
        if name not in dataset.present:  # an empty optional table is not given at all
            continue
        if fmt == "parquet":
            frame.write_parquet(folder / f"{name}.parquet")
        else:
            frame.write_csv(folder / f"{name}.csv", datetime_format=CSV_DATETIME)
    return folder


@pytest.fixture
def data(tmp_path):
    return write(sample(), tmp_path / "data")


def test_json_on_stdout_is_the_contract_document(data, capsys):
    assert main(["detect", "--data", str(data)]) == 0
    out = capsys.readouterr().out
    doc = json.loads(out)
    assert set(doc) == {"as_of", "findings", "summary"}
    assert doc["as_of"] == AS_OF.isoformat()
    expected = detect(sample(), as_of=AS_OF).to_dict()
    assert doc == expected
    assert {f["type"] for f in doc["findings"]} == set(FINDING_TYPES)
    for f in doc["findings"]:
        assert {"id", "type", "users", "exposure", "explanation"} <= set(f)
        assert f["users"] == sorted(f["users"]) and "total" in f["exposure"]
    assert doc["summary"]["findings_by_type"] == {
        "multi_lending": 4,
        "ring": 1,
        "freeze_inconsistency": 1,
        "restored_after_freeze": 1,
        "limit_divergence": 1,
        "linked_risk": 1,
        "lender_velocity": 1,
    }


def test_csv_gives_the_same_findings_as_parquet(tmp_path, capsys):
    parquet = write(sample(), tmp_path / "p")
    csv = write(sample(), tmp_path / "c", fmt="csv")
    assert main(["detect", "--data", str(parquet)]) == 0
    from_parquet = capsys.readouterr().out
    assert main(["detect", "--data", str(csv)]) == 0
    assert capsys.readouterr().out == from_parquet


def test_out_writes_the_file_atomically_and_nothing_on_stdout(data, tmp_path, capsys):
    out = tmp_path / "findings.json"
    assert main(["detect", "--data", str(data), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "10 findings for 5 users" in captured.err and str(out) in captured.err
    report = FindingsReport.from_json(out.read_text("utf-8"))
    assert len(report.findings) == 10
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "findings.json"]
    # the usual permissions of a new file (a scheduler's other users read it), not 0o600
    umask = os.umask(0)
    os.umask(umask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask


def test_table_format_prints_every_finding_and_a_summary_line(data, capsys):
    assert main(["detect", "--data", str(data), "--format", "table"]) == 0
    out = capsys.readouterr().out
    for ftype in FINDING_TYPES:
        assert ftype in out
    assert "10 findings for 5 users as of 2026-11-20" in out
    assert "3 users share device d9" in out


def test_table_to_a_file_with_top(data, tmp_path, capsys):
    out = tmp_path / "findings.txt"
    args = ["detect", "--data", str(data), "--format", "table", "--top", "2", "--out", str(out)]
    assert main(args) == 0
    text = out.read_text("utf-8")
    assert "the first 2 of 10 findings" in text and "\x1b[" not in text


def test_as_of_moves_the_windows(data, capsys):
    assert main(["detect", "--data", str(data), "--as-of", day(-1).isoformat()]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["as_of"] == "2026-11-19"
    ml_users = {f["users"][0] for f in doc["findings"] if f["type"] == "multi_lending"}
    assert ml_users == {"u1", "u2", "u3"}  # u4's applications of 11-20 are not yet there


@pytest.mark.parametrize("offset, says", [
    (0, None), (-1, None), (-31, None),
    (-32, "32 days before the latest date in the data (2026-11-20)"),
    (-365, "365 days before"),
    (1, None),  # a nightly run dated the day after its data: no warning
    (2, "2 days after the latest date in the data (2026-11-20)"),
], ids=lambda v: str(v))
def test_a_run_date_far_from_the_data_is_warned_about(data, capsys, offset, says):
    assert main(["detect", "--data", str(data), "--as-of", day(offset).isoformat()]) == 0
    err = capsys.readouterr().err
    if says is None:
        assert "warning: the run date" not in err
    else:
        assert f"xpg: warning: the run date {day(offset)} is {says}" in err


def test_config_file_overrides_thresholds(data, tmp_path, capsys):
    cfg = tmp_path / "strict.toml"
    cfg.write_text("[detection.ring]\nmin_users = 4\n")
    assert main(["detect", "--data", str(data), "--config", str(cfg)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["summary"]["findings_by_type"]["ring"] == 0


def test_config_files_are_layered_and_named(data, tmp_path, capsys):
    """A column-mapping file under a thresholds file: both apply, and xpg says it read both."""
    import polars as pl

    accounts = pl.read_parquet(data / "accounts.parquet").rename({"user_id": "cust_id"})
    accounts.write_parquet(data / "accounts.parquet")
    mapping = tmp_path / "columns.toml"
    mapping.write_text('[load.columns.accounts]\ncust_id = "user_id"\n'
                       "[detection.ring]\nmin_users = 2\n")
    strict = tmp_path / "strict.toml"
    strict.write_text("[detection.ring]\nmin_users = 4\n")
    args = ["detect", "--data", str(data), "--config", str(mapping), "--config", str(strict)]
    assert main(args) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["summary"]["findings_by_type"]["ring"] == 0
    assert f"xpg: settings from {mapping}, {strict}\n" in captured.err
    assert main(["detect", "--data", str(data), "--config", str(strict)]) == 2  # no mapping
    err = capsys.readouterr().err
    assert f"xpg: settings from {strict}\n" in err and "column user_id is missing" in err
    args = ["detect", "--data", str(data), "--config", str(strict), "--config", str(mapping)]
    assert main(args) == 0
    assert json.loads(capsys.readouterr().out)["summary"]["findings_by_type"]["ring"] == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--as-of", "2026-13-01"], "--as-of"),
        (["--as-of", "20261120"], "not a date of the form YYYY-MM-DD"),  # fromisoformat's
        (["--as-of", "2026-W47-5"], "not a date of the form YYYY-MM-DD"),  # other forms
        (["--format", "xml"], "xml"),
        (["--backend", "sqlite"], "sqlite"),
    ],
)
def test_bad_usage_exits_2(data, tmp_path, capsys, args, message):
    out = tmp_path / "findings.json"
    assert main(["detect", "--data", str(data), "--out", str(out), *args]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_bad_data_exits_2_and_writes_nothing(data, tmp_path, capsys):
    (data / "users.parquet").unlink()
    out = tmp_path / "findings.json"
    assert main(["detect", "--data", str(data), "--out", str(out)]) == 2
    assert "users" in capsys.readouterr().err
    assert not out.exists()


def test_quarantine_loads_the_valid_rows(tmp_path, capsys):
    ds = sample()
    bad = ds.accounts.with_columns(
        credit_limit=ds.accounts["credit_limit"].scatter(0, -1.0)  # a1: a negative limit
    )
    folder = write(dataclasses.replace(ds, accounts=bad), tmp_path / "data")
    assert main(["detect", "--data", str(folder)]) == 2
    capsys.readouterr()
    quarantine = tmp_path / "rejected"
    assert main(["detect", "--data", str(folder), "--quarantine", str(quarantine)]) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert "rejected" in captured.err
    types = {f["type"] for f in doc["findings"]}
    # a1 was the frozen account: with it rejected, u1 has no freeze findings
    assert "freeze_inconsistency" not in types and "ring" in types
    assert any(quarantine.iterdir())


def test_demo_writes_findings_of_every_type_and_says_where(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--users", "2000", "--seed", "3"]) == 0
    printed = capsys.readouterr().out
    report = FindingsReport.from_json((out / "findings.json").read_text("utf-8"))
    assert all(report.summary["findings_by_type"][t] > 0 for t in FINDING_TYPES)
    assert "xpg findings as of 2026-11-20" in (out / "findings.txt").read_text("utf-8")
    assert (out / "data" / "truth.json").is_file()
    assert str(out / "findings.json") in printed
    n = len(report.findings)
    assert f"truth check: {n:,} of {n:,} planted findings found, 0 findings that were not" in (
        printed
    )
    # a second run replaces the sample and gives the same findings
    assert main(["demo", "--out", str(out), "--users", "2000", "--seed", "3"]) == 0
    again = FindingsReport.from_json((out / "findings.json").read_text("utf-8"))
    assert again == report


def test_json_layout_one_finding_per_line_and_an_empty_report(tmp_path, capsys):
    assert main(["detect", "--data", str(write(sample(), tmp_path / "a"))]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert sum(1 for line in lines if line.lstrip().startswith('{"id": ')) == 10
    quiet = Builder()
    quiet.account("a1", "u1", "huabei").loan("u1", "L1")
    assert main(["detect", "--data", str(write(quiet.build(), tmp_path / "b"))]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["findings"] == [] and doc["summary"]["findings"] == 0
