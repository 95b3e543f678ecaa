"""`xpg case ...`, run as a user runs it: the lifecycle, the audit trail, bad input, conflicts."""

from __future__ import annotations

import io
import json
import sys

import pytest
from investigation_data import RING, write_dataset
from xpg.queries.findings import stable_id

from xpg.cli import main

RING_ID = stable_id("ring", list(RING))


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    root = tmp_path_factory.mktemp("case_cli")
    data = write_dataset(root / "data")
    out = root / "reports"
    assert main(["report", "--data", str(data), "--out", str(out), "--as-of", "2026-11-20",
                 "--quiet"]) == 0
    return out


def run(capsys, *args):
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_case_lifecycle_through_the_cli(reports, capsys):
    r = str(reports)
    code, out, _ = run(capsys, "case", "assign", RING_ID, "bob", "--by", "alice",
                       "--investigating", "--reports", r)
    assert code == 0 and "investigating" in out and "assignee bob" in out
    code, out, _ = run(capsys, "case", "decide", RING_ID, "--outcome", "false_positive",
                       "--note", "family tablet", "--by", "bob", "--reports", r, "--json")
    case = json.loads(out)
    assert code == 0 and (case["status"], case["outcome"]) == ("closed", "false_positive")
    code, out, _ = run(capsys, "case", "decide", RING_ID, "--outcome", "benign", "--by", "carol",
                       "--expected-version", "2", "--reports", r)
    assert code == 7  # another analyst changed it first
    code, out, _ = run(capsys, "case", "show", RING_ID, "--json", "--reports", r)
    shown = json.loads(out)
    assert [e["what"] for e in shown["events"]] == ["opened", "assigned", "status", "decided"]
    assert shown["events"][-1]["note"] == "family tablet" and shown["events"][-1]["by"] == "bob"
    code, out, _ = run(capsys, "case", "list", "--status", "closed", "--reports", r)
    assert code == 0 and RING_ID in out
    code, out, _ = run(capsys, "case", "stats", "--json", "--reports", r)
    assert json.loads(out)["rules"]["ring"]["false_positive"] == 1


def test_bad_input_is_refused_and_writes_nothing(reports, capsys, monkeypatch):
    r = str(reports)
    before = run(capsys, "case", "list", "--json", "--reports", r)[1]
    code, _, err = run(capsys, "case", "decide", "ring-unknown", "--outcome", "benign",
                       "--by", "alice", "--reports", r)
    assert code == 4 and "ring-unknown" in err
    code, _, err = run(capsys, "case", "decide", RING_ID, "--outcome", "fraud", "--by", "alice",
                       "--reports", r)
    assert code == 2 and "--outcome 'fraud'" in err and "confirmed_fraud" in err
    code, _, err = run(capsys, "case", "snooze", RING_ID, "--until", "2020-01-01", "--by", "a",
                       "--reports", r)
    assert code == 2 and "--until 2020-01-01" in err
    code, _, err = run(capsys, "case", "snooze", RING_ID, "--until", "soon", "--by", "a",
                       "--reports", r)
    assert code == 2 and "YYYY-MM-DD" in err
    monkeypatch.setattr(sys, "stdin", io.StringIO("x" * 1_000_000))
    code, _, err = run(capsys, "case", "note", RING_ID, "-", "--by", "alice", "--reports", r)
    assert code == 2 and "1,000,000 characters" in err
    code, _, err = run(capsys, "case", "list", "--reports", str(reports / "missing"))
    assert code == 2 and "not a folder" in err
    assert run(capsys, "case", "list", "--json", "--reports", r)[1] == before


def test_open_by_hand_on_a_user(reports, capsys):
    code, out, _ = run(capsys, "case", "open", "--user", "u5", "--by", "alice", "--note",
                       "customer appeal against a freeze", "--reports", str(reports), "--json")
    assert code == 0 and json.loads(out)["subject"] == "user:u5"
