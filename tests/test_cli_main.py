"""The ``xpg`` entry point itself: usage errors, exit codes and a closed output pipe."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys

import pytest
from investigation_data import write_dataset

from xpg.cli import main


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["detect", "--bogus"], "No such option: --bogus"),
        (["detect", "--data"], "Option '--data' requires an argument"),
        (["no-such-command"], "No such command 'no-such-command'"),
    ],
)
def test_usage_errors_exit_2_with_the_reason(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_help_exits_0(capsys):
    assert main(["detect", "--help"]) == 0
    assert "--data" in capsys.readouterr().out


def _run_into_a_closed_pipe(argv: list[str]) -> tuple[int, str]:
    """Run the console script with stdout a pipe whose reader has already gone."""
    proc = subprocess.Popen(
        [sys.executable, "-c", "from xpg.cli import main; main()", *argv],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    proc.stdout.close()  # like `| head` that has read enough
    err = proc.stderr.read()
    proc.stderr.close()
    return proc.wait(timeout=120), err


@pytest.mark.parametrize("fmt", ["json", "table"])
def test_a_closed_stdout_exits_141_without_a_traceback(tmp_path, fmt):
    data = write_dataset(tmp_path / "data")
    code, err = _run_into_a_closed_pipe(["detect", "--data", str(data), "--format", fmt])
    assert code == 141, err
    assert "Traceback" not in err and "Exception ignored" not in err and "error" not in err


def test_broken_pipe_in_process(monkeypatch):
    read, write = os.pipe()
    os.close(read)  # nobody reads: every write fails with EPIPE
    gone = io.TextIOWrapper(io.FileIO(write, "w"), encoding="utf-8")
    monkeypatch.setattr(sys, "stdout", gone)
    try:
        assert main(["detect", "--help"]) == 141
        assert os.readlink(f"/proc/self/fd/{write}") == os.devnull  # nothing more is written
    finally:
        with contextlib.suppress(OSError):
            gone.close()


def test_a_reader_that_leaves_after_one_line_gets_141(tmp_path):
    """``xpg detect | head -1`` on output larger than a pipe holds: the JSON is written in
    pieces, so the reader's leaving shows (one large write returned short, silently)."""
    from xpg.synthetic import write

    write(tmp_path / "data", 20_000, 3)
    proc = subprocess.Popen(
        [sys.executable, "-c", "from xpg.cli import main; main()",
         "detect", "--data", str(tmp_path / "data")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert proc.stdout.readline() == "{\n"
    proc.stdout.close()
    err = proc.stderr.read()
    proc.stderr.close()
    assert proc.wait(timeout=120) == 141, err
    assert "Traceback" not in err
