"""CLI polish: ``xpg --version``, ``-h`` on every command, help that wraps cleanly at 80
columns, and option help that says what an option does (refusals are the errors' job)."""

from __future__ import annotations

import itertools
import re

import click
import pytest
import typer

import xpg
from xpg.cli import app, main

ROOT = typer.main.get_command(app)


def _commands(group: click.Group = ROOT, path: tuple[str, ...] = ()):
    yield path, group
    for name, command in sorted(getattr(group, "commands", {}).items()):
        yield from _commands(command, (*path, name))


COMMANDS = [path for path, _ in _commands()]
NEGATIVE = re.compile(r"refus|not allowed|cannot|can't|must not|never|only on", re.IGNORECASE)


def test_version_prints_the_package_version(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"xpg {xpg.__version__}\n"
    assert xpg.__version__ == "0.1.0"


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "xpg")
def test_h_is_help_on_every_command(path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    assert main([*path, "--help"]) == 0
    long = capsys.readouterr().out
    assert main([*path, "-h"]) == 0
    assert capsys.readouterr().out == long
    assert "Usage: xpg" in long and "-h" in long


def _greedy(lines: list[str], start: int, width: int) -> None:
    """Wrapped text breaks a line only where the next word would not fit on it."""
    for line, after in itertools.pairwise(lines):
        text, following = line[start:].rstrip(), after[start:].split()
        if text and following and not after[:start].strip():
            assert len(text) + 1 + len(following[0]) > width, (line, after)


def _panel(out: str, title: str) -> list[str]:
    """The rows of one panel, borders cut off."""
    rows, inside = [], False
    for line in out.splitlines():
        if line.startswith("╭") and f" {title} " in line:
            inside = True
        elif line.startswith("╰"):
            inside = False
        elif inside:
            rows.append(line[1:-1])
    return rows


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "xpg")
def test_help_wraps_cleanly_at_80_columns(path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    assert main([*path, "--help"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "<bool>" not in out and "list[Path]" not in out  # a flag shows no type
    command = dict(_commands())[path]
    for param in command.params:
        for word in (getattr(param, "help", None) or "").split():
            core = word.strip(".,;:()'\"[]")
            if len(core) > 2:
                assert core in out, (param.name, core)  # never cut in two
    # the description: each paragraph wrapped as one text (not at the docstring's breaks)
    free = [line for line in lines if not line.startswith(("│", "╭", "╰"))]
    _greedy(free, 1, 78)
    text = " ".join(line.strip() for line in free)
    for paragraph in (command.help or "").split("\n\n"):
        assert " ".join(paragraph.replace("\\[", "[").split()) in text
    rows = _panel(out, "Commands")
    if rows:
        start = len(rows[0]) - len(rows[0].lstrip()) + len(rows[0].split()[0])
        start += len(rows[0][start:]) - len(rows[0][start:].lstrip())
        _greedy(rows, start, len(rows[0]) - start - 1)


def test_option_help_says_what_an_option_does():
    for path, command in _commands():
        for param in command.params:
            text = getattr(param, "help", None) or ""
            assert not NEGATIVE.search(text), (path, param.name, text)
        assert not NEGATIVE.search(command.help or ""), (path, command.help)
