"""A killed `xpg detect`/`xpg report` leaves the hidden `.<name>.<hex>.tmp` folder of the stored
state it was writing under `state.dir` (17 MB at 30,000 users, hundreds at 1,000,000); the next
state write removes the ones no live run holds, and never one a live run is writing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from loaders_fixtures import write_csv
from xpg.queries.investigate.state import prune_states

from xpg.atomic import staging
from xpg.cli import main

_WRITER = """
import sys, time
from pathlib import Path
from xpg.atomic import staging
with staging(Path(sys.argv[1])) as tmp:
    (tmp / "part.parquet").write_bytes(b"x" * 1000)
    print(tmp, flush=True)
    time.sleep(120)
"""


def _age(path, seconds):
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_a_killed_writers_staging_folder_goes_and_a_live_ones_stays(tmp_path):
    root = tmp_path / "states"
    root.mkdir()
    writer = subprocess.Popen([sys.executable, "-c", _WRITER, str(root / "data-abc")],
                              stdout=subprocess.PIPE, text=True)
    try:
        tmp = writer.stdout.readline().strip()
        assert tmp and os.path.isdir(tmp)
        _age(tmp, 3600)  # old, but its writer is alive: kept
        prune_states(root, keep=8)
        assert os.path.isdir(tmp)
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        fresh = root / ".other-def.0123abcd.tmp"  # just made (a writer about to lock it)
        fresh.mkdir()
        prune_states(root, keep=8)
        assert not os.path.exists(tmp) and fresh.is_dir()
    finally:
        writer.kill()
        writer.wait()


def test_staging_still_renames_into_place(tmp_path):
    with staging(tmp_path / "out") as tmp:
        (tmp / "a").write_text("done")
    assert (tmp_path / "out" / "a").read_text() == "done"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_the_next_detect_removes_a_killed_runs_state_debris(tmp_path, monkeypatch, capsys):
    states = tmp_path / "states"
    monkeypatch.setenv("XPG_STATE_DIR", str(states))
    data = write_csv(tmp_path / "data")
    debris = states / ".data-0123456789abcdef0123.4b814ded.tmp"  # as a SIGKILL leaves it
    debris.mkdir(parents=True)
    (debris / "accounts.parquet").write_bytes(b"PAR1" * 1000)
    _age(debris, 600)
    assert main(["detect", "--data", str(data), "--out", str(tmp_path / "f.json")]) == 0
    assert not debris.exists()
    assert [p.name for p in states.iterdir() if p.name.startswith(".")] == []
