"""The ``xpg`` command line: a thin typer app, one module per subcommand.

Only this layer turns errors into messages and exit codes (the table of error
classes, exit codes and hints is :mod:`xpg.cli.errors`):

====  ==========================================================
code  meaning
====  ==========================================================
0     done
1     unexpected internal error (a bug: please report it)
2     bad input data, bad configuration or bad usage
3     backend unavailable or failed (e.g. Neo4j unreachable)
4     an id asked for does not exist
5     ``xpg report --alert-on``: written, with new or worsened findings
130   interrupted
141   stdout was closed early (``xpg detect | head``): 128 + SIGPIPE,
      as a shell reports any command a closed pipe ends; nothing
      more is written and no traceback is shown
====  ==========================================================
"""

from __future__ import annotations

import os
import sys

import typer

from xpg.cli import demo, detect, generate, load, query, report, serve, state, validate
from xpg.cli.common import render_error
from xpg.cli.errors import exit_code
from xpg.errors import XpgError

__all__ = ["app", "main"]

app = typer.Typer(
    name="xpg",
    help="Cross-product exposure graph analyzer: multi-lending users and rings, "
    "inconsistent freezes, and the money at stake.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Subcommands: one module each under xpg/cli/.
app.command("validate")(validate.command)
app.command("detect")(detect.command)
app.command("generate")(generate.command)
app.command("demo")(demo.command)
app.command("load")(load.command)
app.add_typer(query.app, name="query")
app.command("report")(report.command)
app.command("serve")(serve.command)
app.add_typer(state.app, name="state")


SIGPIPE_EXIT = 141  # 128 + SIGPIPE


def _stdout_closed() -> int:
    """Whoever read stdout went away (``xpg detect | head``): write nothing more.

    Python's recipe: point stdout at /dev/null so the flush at interpreter exit
    does not fail a second time and print a traceback.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (AttributeError, OSError, ValueError):  # no real stdout (embedded, captured)
        pass
    return SIGPIPE_EXIT


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script; returns (and exits with) the exit code."""
    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="xpg", standalone_mode=False)
        code = result if isinstance(result, int) else 0
        sys.stdout.flush()  # a reader that went away shows here, not at interpreter exit
    except BrokenPipeError:
        code = _stdout_closed()
    except SystemExit as e:
        # typer catches a broken pipe itself and exits 1 from its handler: still a closed pipe
        if not isinstance(e.__context__, BrokenPipeError):
            raise
        code = _stdout_closed()
    except XpgError as e:
        render_error(e)
        code = exit_code(e)
    except typer.Exit as e:
        code = e.exit_code
    # typer >= 0.26 vendors click: usage errors are TyperException subclasses with show()
    except typer.exceptions.TyperException as e:
        show = getattr(e, "show", None)
        if callable(show):
            show()
        else:
            print(f"xpg: {e.format_message()}", file=sys.stderr)
        code = e.exit_code
    except (typer.Abort, KeyboardInterrupt):
        print("xpg: interrupted", file=sys.stderr)
        code = 130
    if argv is None:  # the console script
        sys.exit(code)
    return code
