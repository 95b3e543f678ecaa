"""The ``xpg`` entry point itself: usage errors, exit codes and a closed output pipe."""

from __future__ import annotations

import pytest

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
