"""Runs that leave nothing behind: a report killed at each stage, then a clean next run
that removes its debris and records it died; two runs into one folder serialized by the
folder's lock; a full disk (a small tmpfs where this machine allows it, else an injected
ENOSPC) and a permission refusal on detect, report, state build and generate: a message
naming the path, exit code 8 (7 is the cases' conflict), never a traceback, nothing half-written."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from investigation_data import write_dataset
from processes import stop_group

from xpg.atomic import LOCK_FILE, folder_lock, remove_debris
from xpg.cli import main
from xpg.report.writer import PAUSE_ENV

XPG = str(Path(sys.executable).with_name("xpg"))
DAY = "2026-11-20"


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("data")
    write_dataset(folder)
    return folder


def _report_args(data: Path, out: Path, *extra: str) -> list[str]:
    return ["report", "--data", str(data), "--out", str(out), "--as-of", DAY, "--quiet", *extra]


def paused(args: list[str], stage: str, timeout: float = 120.0) -> subprocess.Popen:
    """``xpg ARGS`` in a child process stopped at ``stage`` (it says so on stderr)."""
    env = {**os.environ, PAUSE_ENV: stage}
    proc = subprocess.Popen([XPG, *args], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            text=True, env=env, start_new_session=True)
    deadline = time.monotonic() + timeout
    assert proc.stderr is not None
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if f"paused at {stage}" in line:
            return proc
        if not line and proc.poll() is not None:
            break
    stop_group(proc, grace=0)
    raise AssertionError(f"the run never reached {stage} (exit {proc.returncode})")


def kill(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    if proc.stderr is not None:
        proc.stderr.close()


def hidden(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if p.name.startswith("."))


def run_lines(out: Path) -> list[str]:
    return (out / "runs.log").read_text().splitlines() if (out / "runs.log").exists() else []


# -------------------------------------------------------------------- killed runs

@pytest.mark.parametrize("stage", ["locked", "gathered", "writing", "renaming", "renamed"])
def test_a_report_killed_at_each_stage_then_a_clean_run(data, tmp_path, stage, capsys):
    out = tmp_path / "reports"
    kill(paused(_report_args(data, out), stage))
    left = hidden(out)
    assert LOCK_FILE in left  # the dead holder's lock file (the kernel freed its flock)
    debris = [n for n in left if n.endswith(".tmp")]
    if stage in ("writing", "renaming"):
        assert debris and all(n.startswith(f".{DAY}.") for n in debris)
    lines = run_lines(out)
    if stage == "renaming":  # its line is in before the rename, without the mark
        assert len(lines) == 1 and "status=ok" in lines[0] and "run=" in lines[0]
    if stage == "renamed":  # the report is whole, the line there, the mark missing
        assert (out / DAY / "manifest.json").is_file()
        assert len(lines) == 1 and " written" not in lines[0]
    if stage in ("locked", "gathered", "writing"):
        assert lines == [] and not (out / DAY).exists()

    assert main(_report_args(data, out, "--overwrite")) == 0  # the next night, clean
    err = capsys.readouterr().err
    assert hidden(out) == []  # no temporary folder, no lock file
    lines = run_lines(out)
    died = [x for x in lines if "status=died" in x]
    assert len(died) == 1 and "ended without finishing (killed?)" in died[0]
    assert lines[-1].endswith(" written") and lines[-1].split()[1] == lines[-2].split()[-1]
    assert "Traceback" not in err
    if debris:
        assert (out / DAY / "index.html").is_file()


def test_debris_of_a_live_run_is_left_alone(tmp_path):
    """Only what is older than the earliest live run goes."""
    old = tmp_path / f".{DAY}.0123abcd.tmp"
    old.mkdir()
    past = time.time() - 60
    os.utime(old, (past, past))
    young = tmp_path / f".{DAY}.89abcdef.tmp"
    young.mkdir()
    aside = tmp_path / f".{DAY}.k2x_9q1z.old"
    aside.mkdir()
    os.utime(aside, (past, past))
    keep = tmp_path / ".hidden-by-someone"
    keep.mkdir()
    os.utime(keep, (past, past))
    removed = remove_debris(tmp_path, older_than=time.time() - 30)
    assert sorted(p.name for p in removed) == sorted([old.name, aside.name])
    assert sorted(hidden(tmp_path)) == sorted([young.name, keep.name])


# -------------------------------------------------------------- concurrent runs

def test_a_second_run_into_the_folder_fails_at_once_naming_the_first(data, tmp_path, capsys,
                                                                      monkeypatch):
    out = tmp_path / "reports"
    first = paused(_report_args(data, out), "locked")
    try:
        import xpg.loaders

        def never(*args, **kwargs):
            raise AssertionError("the data was read although the folder is locked")

        monkeypatch.setattr(xpg.loaders, "load_dataset", never)
        started = time.monotonic()
        assert main(_report_args(data, out)) == 3
        assert time.monotonic() - started < 10
        err = capsys.readouterr().err
        assert f"is being written by report of {os.uname().nodename}:{first.pid}" in err
        assert "--wait SECONDS" in err and "Traceback" not in err
        assert "status=failed(RunLockedError)" in run_lines(out)[-1]
    finally:
        kill(first)


def test_a_second_run_that_waits_runs_when_the_first_ends(data, tmp_path, capsys):
    out = tmp_path / "reports"
    first = paused(_report_args(data, out), "gathered")
    threading.Timer(1.5, kill, (first,)).start()  # the first dies while the second waits
    assert main(_report_args(data, out, "--wait", "60")) == 0
    assert (out / DAY / "index.html").is_file() and hidden(out) == []
    assert any("status=died" in x for x in run_lines(out))


def test_the_lock_nests_in_one_process_and_excludes_another_holder(tmp_path):
    with folder_lock(tmp_path, "report") as me, folder_lock(tmp_path, "report") as again:
        assert again == me
        code = ("import sys; from xpg.atomic import folder_lock\n"
                "try:\n    with folder_lock(sys.argv[1], 'report'): print('took it')\n"
                "except Exception as e: print(type(e).__name__, e.owner)")
        other = subprocess.run([sys.executable, "-c", code, str(tmp_path)],
                               capture_output=True, text=True, timeout=60)
        assert other.stdout.split() == ["RunLockedError", me.owner]
    assert hidden(tmp_path) == []
    with folder_lock(tmp_path, "report"):
        code = ("import sys; from xpg.atomic import folder_lock\n"
                "with folder_lock(sys.argv[1], 'report', wait_s=0.3): pass")
        other = subprocess.run([sys.executable, "-c", code, str(tmp_path)],
                               capture_output=True, text=True, timeout=60)
        assert other.returncode != 0 and "(waited 0.3 s)" in other.stderr
        assert "RunLockedError" in other.stderr


# ---------------------------------------------------------- full disk, no permission

def _commands(data: Path, target: Path) -> dict[str, list[str]]:
    return {
        "detect": ["detect", "--data", str(data), "--format", "json", "--out",
                   str(target / "findings.json"), "--as-of", DAY],
        "report": _report_args(data, target / "reports"),
        "state": ["state", "build", "--data", str(data), "--out", str(target / "state"),
                  "--as-of", DAY],
        "generate": ["generate", "--users", "400", "--seed", "3", "--out",
                     str(target / "generated")],
    }


def _check_refused(code: int, err: str, target: Path, words: str) -> None:
    assert code == 8, err
    assert "Traceback" not in err and f"xpg: error: {target}" in err.replace(
        "cannot write the report ", "") and words in err
    # nothing half-written: no temporary file or folder anywhere below
    left = [p for p in target.rglob("*") if p.name.endswith(".tmp") or p.name == LOCK_FILE]
    assert left == []


@pytest.fixture
def tiny_disk(tmp_path):
    """A full 48 KiB tmpfs (skipped where mounting one is not allowed)."""
    where = tmp_path / "tiny"
    where.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48k", "tmpfs", str(where)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        filler = where / "filler"  # every block taken
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
        try:
            while os.write(fd, b"x" * 4096):
                pass
        except OSError as e:
            assert e.errno == errno.ENOSPC
        finally:
            os.close(fd)
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=False)


@pytest.mark.parametrize("command", ["detect", "report", "state", "generate"])
def test_a_full_tmpfs_is_a_clear_message_and_exit_8(data, tiny_disk, command, capsys):
    args = _commands(data, tiny_disk)[command]
    _check_refused(main(args), capsys.readouterr().err, tiny_disk, "no space left on the device")


@pytest.mark.parametrize("command", ["detect", "report", "state"])
@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EACCES])
def test_an_injected_refusal_is_a_clear_message_and_exit_8(data, tmp_path, monkeypatch,
                                                          capsys, command, code):
    """ENOSPC or EACCES raised by the first Parquet/JSON/file write, whatever writes it."""
    import polars as pl

    def refuse(*args, **kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(pl.DataFrame, "write_parquet", refuse)
    monkeypatch.setattr(pl.DataFrame, "write_csv", refuse)
    monkeypatch.setattr(Path, "write_text", refuse)
    monkeypatch.setattr(os, "fdopen", refuse)
    words = "no space left on the device" if code == errno.ENOSPC else "permission denied"
    _check_refused(main(_commands(data, tmp_path)[command]), capsys.readouterr().err,
                   tmp_path, words)
