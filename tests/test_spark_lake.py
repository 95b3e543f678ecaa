"""Tables under a URI on the Spark backend: checked by the loader's rules in Spark (failures
as data: counts per rule, the first rows with their file and row, the loader's messages),
identifiers normalized as the loader does, and a report and stored state written from the
Spark run that ``xpg query`` answers from without Spark.

The parity is with the loader on the same Parquet files (every column text, as a CSV
export reads): the same counts per table and rule, the same rows named with the same
messages; then the same findings, and the same answers from the stored state.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import polars as pl
import pytest
from loaders_fixtures import VALID, csv_frame
from xpg.graph.memory import MemoryBackend
from xpg.loaders import load_dataset, validate_dataset

from xpg.cli import main
from xpg.settings import DetectionConfig, Settings

pytestmark = pytest.mark.spark

BROKEN = {
    "users": VALID["users"] + "u3,,\n" + "u" * 300 + ",2026-01-01,1\n",
    "accounts": VALID["accounts"]
    + "a4,u9,huabei,-5,0,active,,,2025-01-01\n"
    + "a1,u2,huabei,100,0,weird,,,2025-01-01\n"
    + 'a5,u1,huabei,"1,234.50",0,active,,,2025-01-01\n'
    + "a6,,huabei,100,0,active,,,2025-01-01\n",
    "devices": VALID["devices"] + "u1,d3,2026-01-05T00:00:00,2026-01-01T00:00:00\n",
    "account_events": VALID["account_events"] + "a1,2026-01-07T00:00:00,limit_change,5000,,\n",
    "identifiers": VALID["identifiers"]
    + "u1,phone,138****8000,,\n"
    + "u2,bank_card,n/a,,\n"
    + "u3,phone, 13800000000 ,,\n"
    + "u1,phone,13800000000,,\n",
}


def _parquet(folder: Path, tables: dict[str, str]) -> Path:
    """Each CSV text as a Parquet file of text columns (what an export as text gives)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in tables.items():
        csv_frame(text).write_parquet(folder / f"{name}.parquet")
    return folder


def _rows(frame: pl.DataFrame) -> list[tuple]:
    return sorted(frame.select("table", "row", "column", "value", "rule", "message")
                  .iter_rows(), key=repr)


def test_failures_as_data_same_as_the_loader(spark, tmp_path):
    """Every row rule the loader finds in these files, Spark finds: the same counts per
    table and rule, the same rows (table, row, column, value) and the same messages; each
    row names its file."""
    from xpg.graph.spark.validate import validate_tables

    folder = _parquet(tmp_path / "data", {**VALID, **BROKEN})
    memory = validate_dataset(folder, Settings())
    got = validate_tables(spark, folder.resolve().as_uri())
    assert not got.valid and not memory.valid
    assert (got.counts.sort("table", "rule").rows()
            == memory.counts.sort("table", "rule").rows())
    rules = set(got.counts.get_column("rule"))
    assert rules >= {"not_null", "invalid_type", "invalid_enum", "negative_amount", "too_long",
                     "missing_limit", "date_order", "duplicate_key", "unknown_reference",
                     "unusable_identifier", "empty_normalized"}, rules
    assert _rows(got.failures) == _rows(memory.failures)
    assert got.failures.filter(pl.col("rule") == "invalid_type")["message"].to_list() == [
        "credit_limit must be a decimal number: thousands separators are not allowed "
        "(write 1234.50)"]  # the loader's hint, worded by its own function
    assert set(got.failures.get_column("file")) <= {f"{t}.parquet" for t in BROKEN}
    # warnings: the exact repeats (users' u3, identifiers' u1 phone), named alike
    assert (got.warning_counts.sort("table", "rule").rows()
            == [("identifiers", "duplicate_row", 1), ("users", "duplicate_row", 1)])
    mem_dups = memory.warnings.filter(pl.col("rule") == "duplicate_row")
    assert (sorted(got.warnings.select("table", "row", "rule", "message").rows())
            == sorted(mem_dups.select("table", "row", "rule", "message").rows()))


@pytest.mark.slow  # the parity above with a cap: CI only
def test_a_cap_keeps_the_first_rows_counts_every_one(spark, tmp_path):
    from xpg.graph.spark.validate import validate_tables

    folder = _parquet(tmp_path / "data", {**VALID, **BROKEN})
    settings = Settings()
    memory = validate_dataset(folder, settings.replace(
        load=dataclasses.replace(settings.load, max_errors=3)))
    got = validate_tables(spark, folder.resolve().as_uri(), cap=3)
    assert got.failure_total == memory.failure_total > 3
    assert got.failures.height == 3
    assert (got.failures.select("table", "row", "column", "rule").rows()
            == memory.failures.select("table", "row", "column", "rule").rows())


def test_detect_on_a_uri_refuses_bad_tables_naming_rows(spark, tmp_path, capsys, monkeypatch):
    folder = _parquet(tmp_path / "data", {**VALID, **BROKEN})
    monkeypatch.setenv("XPG_BACKEND", "spark")
    assert main(["detect", "--data", folder.resolve().as_uri()]) == 2
    err = capsys.readouterr().err
    assert "problems with the data contract" in err and "accounts (" in err
    assert "negative_amount" in err


THREE_WAYS = VALID["identifiers"] + (
    'u1,phone,"+86 138-0013-8000",,\n'
    'u2,phone,"0086 138 0013 8000",,\n'
    "u3,phone, 13800138000 ,,\n"
    "u3,email, Li.Na@QQ.com ,,\n"
    "u2,email,li.na@qq.com,,\n"
    "u1,phone,+44 20 7946 0958,,\n"
    "u3,phone,+44 (0)20 7946-0958,,\n"
)


def test_three_spellings_under_a_uri_are_one_node(spark, tmp_path):
    """One phone written three ways is one node when Spark reads the URI, as in memory:
    the normalized identifiers table is the loader's, row for row."""
    from xpg.graph.spark.backend import SparkBackend

    folder = _parquet(tmp_path / "data", {**VALID, "identifiers": THREE_WAYS})
    dataset = load_dataset(folder).dataset
    backend = SparkBackend(session=spark)
    try:
        backend.read_tables(folder.resolve().as_uri())
        got = backend.snapshot().identifiers
    finally:
        backend.close()
    assert got.equals(dataset.identifiers), (got, dataset.identifiers)
    one = got.filter(pl.col("kind") == "phone").group_by("value").agg(pl.col("user_id"))
    users = {v: sorted(set(u)) for v, u in one.iter_rows()}
    assert users["13800138000"] == ["u1", "u2", "u3"]  # three spellings, one node
    assert users["+442079460958"] == ["u1", "u3"]


@pytest.mark.slow  # CI only: a whole Spark detection; the tables it reads are checked above
def test_three_spellings_under_a_uri_same_findings(spark, tmp_path, capsys, monkeypatch):
    """``xpg detect --backend spark`` on that URI: the memory backend's findings, ids
    included."""
    folder = _parquet(tmp_path / "data", {**VALID, "identifiers": THREE_WAYS})
    monkeypatch.setenv("XPG_BACKEND", "spark")
    assert main(["detect", "--data", folder.resolve().as_uri()]) == 0
    memory = MemoryBackend()
    memory.load(load_dataset(folder).dataset)
    assert json.loads(capsys.readouterr().out) == memory.detect(DetectionConfig()).to_dict()


def _query(args: list[str], capsys) -> dict:
    assert main(["query", *args, "--format", "json"]) == 0, capsys.readouterr().err
    captured = capsys.readouterr()
    return {"out": json.loads(captured.out), "err": captured.err}


def test_report_and_state_from_a_spark_run(spark, tmp_path, capsys, monkeypatch):
    """``xpg report --backend spark --data URI --out URI``: the report folder and its stored
    state; the next morning ``xpg query user|ring --findings`` answers from that state
    (no Spark, no data) exactly as the memory backend answers from the data."""
    from test_cli_detect import write

    from xpg.synthetic import generate

    # generated data passes the loader (the kitchen sink's identifiers, made for the rules
    # and never loaded, do not: Spark refuses them as the loader does)
    folder = write(generate(300, 1).dataset(), tmp_path / "data")
    out = tmp_path / "reports"
    monkeypatch.setenv("XPG_STATE_DIR", str(tmp_path / "cache"))
    assert main(["report", "--backend", "spark", "--data", folder.resolve().as_uri(),
                 "--out", out.resolve().as_uri()]) == 0, capsys.readouterr().err
    day = capsys.readouterr().out.splitlines()[0].strip()
    report = Path(day)
    assert (report / "state" / "manifest.json").is_file()
    findings = json.loads((report / "findings.json").read_text())
    memory = MemoryBackend()
    memory.load(load_dataset(folder).dataset)
    expected = memory.detect(DetectionConfig()).to_dict()
    assert findings["findings"] == expected["findings"]
    ring = next(f for f in expected["findings"] if f["type"] == "ring")
    user = ring["users"][0]
    monkeypatch.setenv("XPG_BACKEND", "memory")
    for ask in (["user", user], ["ring", ring["id"]]):
        cold = _query([*ask, "--findings", str(report)], capsys)
        assert "answering from the stored state" in cold["err"], cold["err"]
        warm = _query([*ask, "--data", str(folder)], capsys)  # memory, from the data
        assert cold["out"] == warm["out"]
