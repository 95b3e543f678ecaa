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

import importlib
import inspect
import os
import sys
from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup

from xpg.errors import XpgError

__all__ = ["app", "main"]


class _Tidy:
    """Help without a type beside a flag (``--force``, ``-h/--help``): a flag takes no value."""

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)  # type: ignore[misc]
        for param in params:
            if getattr(param, "is_flag", False) and param.metavar is None:
                param.metavar = ""
        return params


class _Command(_Tidy, TyperCommand):
    pass


class _Group(_Tidy, TyperGroup):
    pass


def _paragraphs(text: str | None) -> str | None:
    """``text`` with each paragraph on one line, so the help wraps it to the terminal (rich
    markup keeps a docstring's own line breaks, which then break lines mid-sentence).

    >>> _paragraphs("One\\nsentence.\\n\\nAnother.")
    'One sentence.\\n\\nAnother.'
    """
    if text is None:
        return None
    return "\n\n".join(" ".join(p.split()) for p in inspect.cleandoc(text).split("\n\n"))


def _tidy(typer_app: typer.Typer) -> None:
    """Every command of ``typer_app`` (and of its groups): one-line paragraphs, flags bare."""
    for info in typer_app.registered_commands:
        if info.cls in (None, TyperCommand):
            info.cls = _Command
        info.help = _paragraphs(info.help or inspect.getdoc(info.callback))
    for group in typer_app.registered_groups:
        if group.typer_instance is not None:
            group.typer_instance.info.cls = _Group
            _tidy(group.typer_instance)


# Subcommands: one module each under xpg/cli/, in help order; a group (a typer app of its own)
# is the module's ``app``, a command its ``command``.
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("validate", "command"),
    "detect": ("detect", "command"),
    "generate": ("generate", "command"),
    "demo": ("demo", "command"),
    "load": ("load", "command"),
    "query": ("query", "app"),
    "report": ("report", "command"),
    "serve": ("serve", "command"),
    "state": ("state", "app"),
    "case": ("case", "app"),
    "backtest": ("backtest", "command"),
    "screen": ("screen", "command"),
}


def _version(value: bool) -> None:
    if value:
        import xpg

        print(f"xpg {xpg.__version__}")
        raise typer.Exit(0)


def _main(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True,
                     help="Print the version of xpg and exit."),
    ] = False,
) -> None:
    """Cross-product exposure graph analyzer: multi-lending users and rings, inconsistent
    freezes, and the money at stake."""


def build_app(names: tuple[str, ...] = tuple(SUBCOMMANDS)) -> typer.Typer:
    """The typer app with the subcommands ``names`` (all by default); only their modules are
    imported, so ``xpg detect`` does not import the server, the report or the generator."""
    built = typer.Typer(
        name="xpg",
        help="Cross-product exposure graph analyzer: multi-lending users and rings, "
        "inconsistent freezes, and the money at stake.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        cls=_Group,
        context_settings={"help_option_names": ["-h", "--help"]},
    )
    built.callback()(_main)
    for name in names:
        module_name, attribute = SUBCOMMANDS[name]
        module = importlib.import_module(f"xpg.cli.{module_name}")
        if attribute == "app":
            built.add_typer(module.app, name=name)
        else:
            built.command(name)(getattr(module, attribute))
    _tidy(built)
    return built


def __getattr__(name: str) -> Any:
    """``app``: the whole command line (built on first use; :func:`main` builds only the
    subcommand it runs)."""
    if name == "app":
        globals()["app"] = built = build_app()
        return built
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _subcommand(argv: list[str]) -> tuple[str, ...]:
    """The one subcommand ``argv`` runs, when its first word names one; else all of them
    (the top-level help, ``--version``, a mistyped name)."""
    if argv and argv[0] in SUBCOMMANDS:
        return (argv[0],)
    return tuple(SUBCOMMANDS)


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
    args = sys.argv[1:] if argv is None else argv
    command = typer.main.get_command(build_app(_subcommand(args)))
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
        from xpg.cli.common import render_error
        from xpg.cli.errors import exit_code

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
    except Exception as e:  # the file system refused: a message, never a traceback
        from xpg.atomic import storage_error
        from xpg.cli.common import render_error
        from xpg.cli.errors import exit_code

        error = storage_error(e, any_refusal=True)
        if error is None:
            raise
        render_error(error)
        code = exit_code(error)
    if argv is None:  # the console script
        sys.exit(code)
    return code
