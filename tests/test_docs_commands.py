"""The first hour: every command the README prints, and every command the demo's report
page prints, runs as written (placeholders filled in) in a temporary folder, after
`xpg demo` as `make demo` runs it; the README's Neo4j block against the test server.

The README's placeholders: DIR (the demo's data), ID (a user, ring or lender of the
demo, by the subcommand), A B (two ring members), REPORT_DIR (the demo's report
folder), REPORTS (a new reports folder), N (3); optional ``[...]`` parts are run with
their content. `xpg generate --users 100000` runs with 2,000 users (the command is the
same; the size only costs time). The Python block runs too."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from xpg.cli import main

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
DAY = "2026-11-20"
USER = "2088089822169819"  # the README's user: in the core ring below
RING = "ring-9789d9e0cf5d"

_BLOCK = re.compile(r"```(sh|text|python)\n(.*?)```", re.S)
_INLINE = re.compile(r"`(xpg (?:query|report|detect|validate) [^`]*--?[^`]*|xpg query \w+ \d+)`")


def readme_commands(text: str = README) -> list[str]:
    """Each `xpg ...` line of the README's sh blocks, `$ xpg ...` of its text blocks, and
    the inline `xpg query|report|detect|validate ...` spans with arguments."""
    found = []
    for lang, body in _BLOCK.findall(text):
        for line in body.splitlines():
            line = line.split("  #")[0].strip()
            if lang == "sh" and line.startswith("xpg "):
                found.append(line)
            elif lang == "text" and line.startswith("$ xpg "):
                found.append(line[2:])
    found += [m.strip() for m in _INLINE.findall(text)]
    return found


def readme_python(text: str = README) -> list[str]:
    return [body for lang, body in _BLOCK.findall(text) if lang == "python"]


def fill(command: str, values: dict[str, str]) -> list[str]:
    """``command`` with its optional parts kept and its placeholders filled."""
    words = shlex.split(command.replace("[", " ").replace("]", " "))[1:]
    sub = words[1] if words[0] == "query" and len(words) > 1 else words[0]
    out = []
    for i, w in enumerate(words):
        if w == "ID":
            w = values[f"{sub}_id"]
        elif w in ("A", "B") and sub == "path":
            w = values["path_a" if w == "A" else "path_b"]
        elif w == "REPORTS" and i and words[i - 1] == "--reports":
            w = values["nightly_reports"]  # the nightly reports read back: the demo's
        elif w in values and (i == 0 or words[i - 1].startswith("--")):
            w = values[w]
        out.append(w)
    return out


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """`make demo` in a fresh folder (the working folder of every command below)."""
    where = tmp_path_factory.mktemp("first-hour")
    import os

    before = Path.cwd()
    os.chdir(where)
    try:
        assert main(["demo", "--out", "demo-output"]) == 0
    finally:
        os.chdir(before)
    findings = json.loads((where / "demo-output" / "findings.json").read_text())
    ring = next(f for f in findings["findings"] if f["id"] == RING)
    lender = ring["evidence"]["lenders"][0]
    (where / "my.toml").write_text("[detection.ring]\nmin_users = 3\n")
    return where, {
        "DIR": "demo-output/data", "REPORT_DIR": f"demo-output/reports/{DAY}",
        "REPORTS": "reports", "N": "3", "100000": "2000",
        "nightly_reports": "demo-output/reports",
        "user_id": USER, "ring_id": RING, "group_id": USER, "lender_id": lender,
        "path_a": ring["users"][0], "path_b": ring["users"][-1],
    }


def test_the_readme_lists_the_commands_a_new_user_runs():
    commands = readme_commands()
    for start in ("xpg validate", "xpg detect", "xpg generate", "xpg query user",
                  "xpg query ring", "xpg query group", "xpg query path", "xpg query lender",
                  "xpg report", "xpg load"):
        assert any(c.startswith(start) for c in commands), start
    assert not [c for c in commands if c.startswith("xpg serve")]  # not run here


def test_each_readme_command_runs_as_written(demo, monkeypatch, capsys):
    where, values = demo
    monkeypatch.chdir(where)
    ran = 0
    for command in readme_commands():
        if "--backend neo4j" in command or "--backend spark" in command:
            continue  # test_the_readme_neo4j_block, test_the_readme_spark_line
        args = fill(command, values)
        code = main(args)
        out, err = capsys.readouterr()
        assert code == 0, f"{command}\n-> {' '.join(args)}: exit {code}\n{err}"
        assert "Traceback" not in err
        if args[:2] == ["query", "user"] and args[2] == USER and "--timeline" not in args:
            assert f"in the multi-lending core of ring {RING}" in " ".join(out.split())
        ran += 1
    assert ran >= 12


def test_the_readme_python_block_runs(demo, monkeypatch, capsys):
    where, _ = demo
    monkeypatch.chdir(where)
    for code in readme_python():
        exec(compile(code, "README.md", "exec"), {})  # the README's own code
    assert capsys.readouterr().out


def test_each_command_of_the_demo_report_page_runs_as_written(demo, monkeypatch, capsys):
    where, _ = demo
    monkeypatch.chdir(where)
    page = (where / "demo-output" / "reports" / DAY / "index.html").read_text()
    import html as html_

    commands = [html_.unescape(c) for c in re.findall(r"<code>(xpg [^<]*)</code>", page)]
    assert commands, "the demo's page prints no command"
    for command in commands:
        args = shlex.split(command)[1:]
        assert "REPORT_FOLDER" not in args and "DATA" not in args, command
        code = main(args)
        _, err = capsys.readouterr()
        assert code == 0, f"{command}: exit {code}\n{err}"


@pytest.mark.neo4j
def test_the_readme_neo4j_block(neo4j_server, neo4j_driver, tmp_path, monkeypatch, capsys):
    """Its commands in order, against the test server (a small generated sample as DIR)."""
    from neo4j_server import wipe

    wipe(neo4j_driver, neo4j_server.database)
    block = README[README.index("## Neo4j"):]
    block = block[:block.index("```", block.index("```sh") + 5) + 3]
    commands = [c for c in readme_commands(block) if "--backend neo4j" in c]
    assert [c.split()[1] for c in commands] == ["load", "detect", "query"]
    monkeypatch.chdir(tmp_path)
    for key, value in (("NEO4J_URI", neo4j_server.uri), ("NEO4J_USER", neo4j_server.user),
                       ("NEO4J_PASSWORD", neo4j_server.password),
                       ("NEO4J_DATABASE", neo4j_server.database)):
        monkeypatch.setenv(key, value)
    assert main(["generate", "--users", "300", "--seed", "5", "--out", "data"]) == 0
    capsys.readouterr()
    values = {"DIR": "data"}
    for command in commands:
        if command.startswith("xpg query ring"):  # a ring of what the database holds
            assert main(["detect", "--backend", "neo4j", "--format", "json"]) == 0
            found = json.loads(capsys.readouterr().out)
            values["ring_id"] = next(f["id"] for f in found["findings"] if f["type"] == "ring")
        args = fill(command, values)
        code = main(args)
        _, err = capsys.readouterr()
        assert code == 0, f"{command}\n-> {' '.join(args)}: exit {code}\n{err}"


@pytest.mark.slow  # CI only: a Spark JVM of its own (about 90 s)
@pytest.mark.spark
def test_the_readme_spark_line_runs_quietly(demo, tmp_path):
    """In a process of its own (a JVM of its own): stderr holds xpg's lines, not Spark's
    start-up log, unless asked (``XPG_SPARK_LOG_LEVEL``)."""
    import os
    import subprocess
    import sys

    where, values = demo
    (command,) = [c for c in readme_commands() if "--backend spark" in c]
    args = fill(command, values)
    env = {k: v for k, v in os.environ.items() if not k.startswith("XPG_SPARK")}
    done = subprocess.run([str(Path(sys.executable).with_name("xpg")), *args], cwd=where,
                          capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, done.stderr
    spark_lines = [x for x in done.stderr.splitlines()
                   if " WARN " in x or " INFO " in x or "log4j" in x or "log level" in x]
    assert spark_lines == [], done.stderr
