"""The Cypher statements of the Neo4j backend, read from ``graph/neo4j/cypher/*.cypher``.

Each ``.cypher`` file holds several named statements. A statement starts with a
line ``// name: <name>``; the comment lines right after it document it, and
the statement runs up to the next ``// name:`` line (or the end of the file).
Statements are always parameterized (``$rows``, ``$as_of``, ...): values are
never pasted into the text.

Examples
--------
>>> text = statement("schema", "constraint_user")
>>> text.startswith("CREATE CONSTRAINT")
True
>>> "constraint_account" in statements("schema")
True
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import cache
from importlib import resources
from types import MappingProxyType

__all__ = ["statement", "statements"]

_NAME = re.compile(r"^//\s*name:\s*([A-Za-z0-9_]+)\s*$")


@cache
def statements(file: str) -> Mapping[str, str]:
    """All named statements of ``graph/neo4j/cypher/<file>.cypher``, by name.

    Raises
    ------
    KeyError
        When the file does not exist.
    ValueError
        When a name repeats or text comes before the first ``// name:`` line.
    """
    try:
        text = (
            resources.files("xpg.graph.neo4j").joinpath("cypher", f"{file}.cypher")
            .read_text("utf-8")
        )
    except FileNotFoundError:
        raise KeyError(f"no Cypher file {file}.cypher") from None
    out: dict[str, str] = {}
    name: str | None = None
    body: list[str] = []

    def flush() -> None:
        if name is None:
            if any(line.strip() and not line.lstrip().startswith("//") for line in body):
                raise ValueError(f"{file}.cypher: statement text before the first '// name:'")
            return
        if name in out:
            raise ValueError(f"{file}.cypher: statement {name!r} is defined twice")
        code = [line for line in body if not line.lstrip().startswith("//")]
        out[name] = "\n".join(code).strip().rstrip(";").strip()

    for line in text.splitlines():
        match = _NAME.match(line.strip())
        if match:
            flush()
            name, body = match.group(1), []
        else:
            body.append(line)
    flush()
    return MappingProxyType(out)


def statement(file: str, name: str) -> str:
    """The statement ``name`` of ``graph/neo4j/cypher/<file>.cypher``.

    Raises
    ------
    KeyError
        When the file or the statement does not exist.
    """
    named = statements(file)
    if name not in named:
        raise KeyError(f"no statement {name!r} in {file}.cypher")
    return named[name]
