"""Library errors carry no exit codes and no CLI wording; the CLI's one table adds both."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

import xpg.errors as E
from xpg.cli import main
from xpg.cli.errors import ERRORS, FLAGS, exit_code, message

ROOT = Path(__file__).resolve().parents[1]
LIBRARY = [*ROOT.glob("graph/**/*.py"), *ROOT.glob("loaders/**/*.py"),
           *ROOT.glob("queries/**/*.py"), *ROOT.glob("config/**/*.py"),
           *(p for p in ROOT.glob("xpg/**/*.py") if "cli" not in p.relative_to(ROOT).parts)]
CLI_WORDING = re.compile(r"(?<![\w-])--[a-z][a-z-]+|`xpg [a-z]+")


def test_the_exit_codes_of_docs_cli_md():
    import polars as pl

    assert exit_code(E.ConfigError("x")) == 2 and exit_code(E.InputError("x")) == 2
    assert exit_code(E.ValidationError("x", pl.DataFrame())) == 2
    assert exit_code(E.RunDateUnknownError("x")) == 2
    assert exit_code(E.TargetExistsError("x", replace_with="overwrite")) == 2
    assert exit_code(E.BackendError("x")) == 3 and exit_code(E.GraphMissingError("x")) == 3
    assert exit_code(E.NotFoundError("x")) == 4
    assert exit_code(E.XpgError("x")) == 1 and exit_code(RuntimeError("a bug")) == 1


def test_every_error_class_is_in_the_table_and_carries_no_exit_code():
    classes = [c for _, c in inspect.getmembers(E, inspect.isclass)
               if issubclass(c, E.XpgError) and c.__module__ == E.__name__]
    assert set(E.__all__) == {c.__name__ for c in classes}
    for cls in classes:
        assert not hasattr(cls, "exit_code"), cls
        assert any(issubclass(cls, known) for known in ERRORS), cls
    # most specific first: no entry is shadowed by a broader one above it
    order = list(ERRORS)
    for i, cls in enumerate(order):
        assert not any(issubclass(cls, earlier) for earlier in order[:i]), cls


def _raised_strings(path: Path):
    tree = ast.parse(path.read_text("utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Raise) and node.exc is not None:
            for sub in ast.walk(node.exc):
                if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                    yield sub.lineno, sub.value


def test_library_error_messages_name_no_cli_flag():
    assert len(LIBRARY) > 20
    found = [f"{p.relative_to(ROOT)}:{line}: {text!r}"
             for p in LIBRARY for line, text in _raised_strings(p) if CLI_WORDING.search(text)]
    assert not found, "\n".join(found)


def test_the_cli_names_its_flags_and_adds_the_hints():
    assert message(E.InputError("out x: exists", argument="out")) == "--out x: exists"
    fmt = E.InputError("fmt 'xml': expected", argument="fmt")
    assert message(fmt) == "--format 'xml': expected"
    assert message(E.InputError("outer x", argument="out")) == "outer x"  # a word, not the name
    assert message(E.InputError("x: y", argument="not-a-flag")) == "x: y"
    assert message(E.GraphIncompleteError("the last load did not complete")).endswith(
        "did not complete; run `xpg load --backend neo4j` again")
    assert message(E.GraphMissingError("no graph")).endswith("first")
    gone = E.TargetExistsError("r/2026-11-20 already exists", replace_with="overwrite")
    assert message(gone) == "r/2026-11-20 already exists; pass --overwrite to replace it"
    assert set(FLAGS.values()) <= {f"--{name}" for name in
                                   ("as-of", "data", "export", "format", "force", "mixing",
                                    "out", "overwrite", "quarantine", "shape", "state", "users",
                                    # xpg case
                                    "reports", "outcome", "note", "until", "by", "assignee",
                                    "expected-version",
                                    # xpg screen
                                    "device", "phone", "bank-card", "id-number", "email",
                                    "ip", "address", "user-id")}


def test_cli_end_to_end(tmp_path, capsys):
    out = tmp_path / "data"
    assert main(["generate", "--users", "5", "--out", str(out)]) == 2
    assert "xpg: error: --users 5: at least" in capsys.readouterr().err
    out.mkdir()
    (out / "x").write_text("someone's")
    assert main(["generate", "--users", "300", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"xpg: error: --out {out}: folder exists and is not empty; pass --force" in err


@pytest.mark.parametrize("argument", sorted(FLAGS))
def test_every_flag_of_the_table_exists(argument):
    from typer.main import get_command

    from xpg.cli import app

    def options(command):
        for sub in getattr(command, "commands", {}).values():
            yield from options(sub)
        for param in command.params:
            yield from param.opts

    assert FLAGS[argument] in set(options(get_command(app)))


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc")
def test_any_refusal_of_the_file_system_is_one_line_of_exit_8(tmp_path, monkeypatch, capsys):
    """A write the file system refuses for a reason other than space, quota or permission
    (here: /proc, where no file can be made; a folder gone mid-run, EIO) is the storage's
    error in one line, never a traceback."""
    from xpg.synthetic import write

    monkeypatch.setenv("XPG_STATE_DIR", str(tmp_path / "states"))
    write(tmp_path / "data", 300, 1)
    code = main(["detect", "--data", str(tmp_path / "data"), "--out", "/proc/xpg.json"])
    err = capsys.readouterr().err
    assert code == 8
    assert "Traceback" not in err and re.search(r"xpg: error: /proc/\S+: no such file", err)


def test_serve_on_a_port_in_use_is_refused_before_loading(tmp_path, monkeypatch, capsys):
    import socket

    monkeypatch.setenv("XPG_API_KEY", "k" * 20)
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        code = main(["serve", "--data", str(tmp_path / "nowhere"), "--port", str(port)])
    err = capsys.readouterr().err
    assert code == 2
    assert f"--port {port}: cannot listen on 127.0.0.1:{port}" in err and "another --port" in err
