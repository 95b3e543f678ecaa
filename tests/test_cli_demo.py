"""`xpg demo --out DIR`: replaces an earlier demo's sample, never someone else's data."""

from __future__ import annotations

import pytest

from xpg.cli import main

DEMO = ["--users", "300", "--seed", "2"]


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
    assert main(["demo", "--out", str(tmp_path), "--users", "300", "--seed", "5"]) == 0
    assert truth.read_text() != first  # the new sample
    assert not (tmp_path / "data" / "leftover.txt").exists()
