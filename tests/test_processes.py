"""The tests' process helpers end a command's whole process group, not only its leader."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from processes import run_in_group, stop_group


def _leaves_a_child(pidfile: Path, then: str) -> list[str]:
    """A Python command that starts ``sleep 60``, notes its pid, then runs ``then``."""
    code = ("import subprocess, time, pathlib; p = subprocess.Popen(['sleep', '60']); "
            f"pathlib.Path({str(pidfile)!r}).write_text(str(p.pid)); {then}")
    return [sys.executable, "-c", code]


def _gone(pid: int, wait: float = 5.0) -> bool:
    """Whether ``pid`` has ended (a zombie waiting for its reaper counts as ended)."""
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return True
        if state in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


def _child(pidfile: Path) -> int:
    deadline = time.monotonic() + 10
    while not pidfile.exists() or not pidfile.read_text():
        assert time.monotonic() < deadline, "the command did not start its child"
        time.sleep(0.05)
    return int(pidfile.read_text())


def test_a_timeout_kills_the_children_too(tmp_path):
    pidfile = tmp_path / "pid"
    with pytest.raises(subprocess.TimeoutExpired):
        run_in_group(_leaves_a_child(pidfile, "time.sleep(60)"), timeout=3)
    assert _gone(_child(pidfile))


def test_children_left_behind_by_a_finished_command_are_killed(tmp_path):
    pidfile = tmp_path / "pid"
    done = run_in_group(_leaves_a_child(pidfile, "print('done')"), timeout=30)
    assert (done.returncode, done.stdout) == (0, "done\n")
    assert _gone(_child(pidfile))


def test_stop_group_kills_a_leader_that_ignores_sigterm(tmp_path):
    pidfile = tmp_path / "pid"
    then = "import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)"
    with subprocess.Popen(_leaves_a_child(pidfile, then), start_new_session=True) as proc:
        child = _child(pidfile)
        stop_group(proc, grace=0.5)
        assert proc.returncode == -9
    assert _gone(child)
