"""`xpg demo --out DIR`: replaces an earlier demo's sample, never someone else's data."""

from __future__ import annotations

import json

import pytest
from xpg.queries.findings import FindingsReport

from xpg.cli import main
from xpg.cli.demo import truth_check

DEMO = ["--users", "300", "--seed", "2", "--shape", "islands"]


@pytest.mark.parametrize("content", ["accounts.csv", "notes/keep.txt"])
def test_data_that_is_not_an_earlier_demo_is_refused_and_left_alone(tmp_path, capsys, content):
    mine = tmp_path / "out" / "data" / content
    mine.parent.mkdir(parents=True)
    mine.write_text("precious")
    assert main(["demo", "--out", str(tmp_path / "out"), *DEMO]) == 2
    err = capsys.readouterr().err
    assert "is not the sample of an earlier xpg demo" in err and "truth.json" in err
    assert mine.read_text() == "precious"
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["data"]  # nothing written


def test_a_file_named_data_is_refused(tmp_path, capsys):
    (tmp_path / "data").write_text("precious")
    assert main(["demo", "--out", str(tmp_path), *DEMO]) == 2
    assert (tmp_path / "data").read_text() == "precious"


def test_an_earlier_demo_or_an_empty_data_folder_is_replaced(tmp_path):
    (tmp_path / "data").mkdir()
    assert main(["demo", "--out", str(tmp_path), *DEMO]) == 0  # empty: nothing to lose
    truth = tmp_path / "data" / "truth.json"
    first = truth.read_text()
    (tmp_path / "data" / "leftover.txt").write_text("from the earlier run")
    assert main(["demo", "--out", str(tmp_path), *DEMO[:2], "--seed", "5", *DEMO[4:]]) == 0
    assert truth.read_text() != first  # the new sample
    assert not (tmp_path / "data" / "leftover.txt").exists()


def test_the_default_demo_is_mixed_and_finds_every_planted_finding(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--users", "2000", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    truth = json.loads((tmp_path / "data" / "truth.json").read_text())
    assert truth["graph"]["largest_group_users"] > 50  # large groups occur
    report = FindingsReport.read(tmp_path / "findings.json")
    expected, found, unexpected = truth_check(report, truth)
    assert expected > 0 and (found, unexpected) == (expected, 0)
    assert f"truth check: {found:,} of {expected:,} planted findings found, 0 findings" in out
    cores = [f for f in report.findings if f.type == "ring" and f.evidence.get("core")]
    assert cores and "multi-lending cores" in out


def test_mixed_demo_needs_enough_users(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--users", "300"]) == 2
    assert "2000" in capsys.readouterr().err
