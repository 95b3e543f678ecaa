"""The nightly report flags a table whose row count fell sharply since the previous night:
the empty-loans night ("0 new, 89 resolved", status ok, exit 0) is flagged now."""

from __future__ import annotations

import datetime as dt
import json
import re

import polars as pl
from investigation_data import AS_OF, tables

from xpg.cli import main
from xpg.report import EXIT_ROW_DROP

NIGHT_1 = AS_OF - dt.timedelta(days=1)


def write(folder, change=None):
    folder.mkdir(parents=True)
    for name, frame in tables().items():
        if change and name in change:
            frame = change[name](frame)
        frame.write_parquet(folder / f"{name}.parquet")
    return str(folder)


def report(data, out, day, *extra):
    return main(["report", "--data", data, "--out", str(out), "--as-of", day.isoformat(),
                 "--previous", "auto", "--quiet", *extra])


def test_empty_loans_after_a_full_night_is_flagged(tmp_path, capsys):
    out = tmp_path / "reports"
    assert report(write(tmp_path / "d1"), out, NIGHT_1) == 0
    first = json.loads((out / NIGHT_1.isoformat() / "manifest.json").read_text())
    loans = first["row_counts"]["external_loans"]
    assert loans > 0 and first["row_drops"] == []
    empty = write(tmp_path / "d2", {"external_loans": lambda f: f.clear()})
    capsys.readouterr()
    assert report(empty, out, AS_OF) == EXIT_ROW_DROP == 6
    err = capsys.readouterr().err
    assert f"WARNING: row counts fell sharply since the previous report: external_loans " \
           f"{loans:,} -> 0" in err
    folder = out / AS_OF.isoformat()
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["row_drops"] == [{"table": "external_loans", "previous": loans,
                                      "current": 0, "drop": 1.0}]
    assert manifest["row_counts"]["external_loans"] == 0 and manifest["row_drop_warn"] == 0.5
    assert "Warning: table external_loans: 0 rows" in (folder / "index.html").read_text()
    last = [x for x in (out / "runs.log").read_text().splitlines() if " status=" in x][-1]
    assert "status=warn(row_drop:external_loans)" in last
    assert "Warning: table external_loans" not in (out / NIGHT_1.isoformat() /
                                                   "index.html").read_text()


def test_threshold_from_the_config(tmp_path):
    out = tmp_path / "reports"
    assert report(write(tmp_path / "d1"), out, NIGHT_1) == 0
    half = write(tmp_path / "d2", {"devices": lambda f: f.head(f.height // 2)})
    config = tmp_path / "strict.toml"
    config.write_text("[report]\nrow_drop_warn = 0.9\n")
    assert report(half, out, AS_OF, "--config", str(config)) == 0
    assert report(half, out, AS_OF, "--overwrite") == EXIT_ROW_DROP
    config.write_text("[report]\nrow_drop_warn = 1.5\n")
    assert report(half, out, AS_OF, "--overwrite", "--config", str(config)) == 2


def test_an_empty_table_warns_without_a_previous_report(tmp_path):
    out = tmp_path / "reports"
    data = write(tmp_path / "d", {"external_loans": lambda f: f.clear()})
    assert main(["report", "--data", data, "--out", str(out), "--as-of", AS_OF.isoformat(),
                 "--quiet"]) == 0
    folder = out / AS_OF.isoformat()
    assert "Warning: table external_loans is empty." in (folder / "index.html").read_text()
    assert re.search(r"WARN +table external_loans is empty", (folder / "run.log").read_text())
    assert pl.read_csv(folder / "findings.csv").height >= 0
