"""Child processes of the tests, ended with everything they started.

Start a process with ``start_new_session=True`` (its own session and process
group), then :func:`stop_group` ends the whole group: a browser's renderer and
GPU helpers, or a server's workers, do not outlive the test, even when the
main process hangs or exits first.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile

__all__ = ["run_in_group", "stop_group"]


def _signal_group(proc: subprocess.Popen, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # nobody left in the group
        os.killpg(proc.pid, sig)  # the group's id is its leader's pid


def stop_group(proc: subprocess.Popen, grace: float = 5.0) -> None:
    """SIGTERM the process group of ``proc``, SIGKILL whatever is left after ``grace`` s.

    ``proc`` must have been started with ``start_new_session=True``. The leader is
    reaped; calling this again is harmless.
    """
    _signal_group(proc, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=grace)
    _signal_group(proc, signal.SIGKILL)  # a hung leader, or children it left behind
    proc.wait()


def run_in_group(cmd: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    """Like ``subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)``, but
    the command runs in its own process group, which is killed whole when the command
    ends (helpers it left behind) or times out (before ``TimeoutExpired`` is raised).

    The output goes through temporary files, not pipes: a helper that inherited the
    pipes would keep them open, and reading them to the end would wait for it.
    """
    with (tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as out,
          tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as err):
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, start_new_session=True)
        try:
            proc.wait(timeout=timeout)
        finally:
            stop_group(proc, grace=0)
        out.seek(0)
        err.seek(0)
        return subprocess.CompletedProcess(cmd, proc.returncode, out.read(), err.read())
