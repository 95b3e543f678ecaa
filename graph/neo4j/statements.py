"""The Cypher statements of the Neo4j backend, read from ``.cypher`` files: the storage and
investigation statements in ``graph/neo4j/cypher/``, each rule's detection statements beside
its module (``queries/rules/<rule>.cypher``).

A shared predicate is written ``{{name var}}`` (``{{open_loan x}}``): the file's text holds
:data:`xpg.queries.predicates.SHARED`'s compiled Cypher there, so a predicate is defined
once for every engine.

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

from xpg.queries.predicates import SHARED

__all__ = ["statement", "statements"]

_NAME = re.compile(r"^//\s*name:\s*([A-Za-z0-9_]+)\s*$")


_MACRO = re.compile(r"\{\{\s*([a-z_]+)\s+([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def _expand(text: str, file: str) -> str:
    """``{{name var}}`` replaced by the shared predicate ``name`` over ``var``."""
    def one(match: re.Match[str]) -> str:
        name, var = match.groups()
        if name not in SHARED:
            raise ValueError(f"{file}.cypher: no shared predicate {name!r} "
                             f"(known: {sorted(SHARED)})")
        return SHARED[name].cypher(var)

    return _MACRO.sub(one, text)


@cache
def statements(file: str) -> Mapping[str, str]:
    """All named statements of ``<file>.cypher``, by name: a path under ``queries/``
    (``rules/ring``), or a bare name for ``graph/neo4j/cypher/<file>.cypher``.

    Raises
    ------
    KeyError
        When the file does not exist.
    ValueError
        When a name repeats or text comes before the first ``// name:`` line.
    """
    parts = file.split("/") if "/" in file else ["cypher", file]
    try:
        root = (resources.files("xpg.queries") if "/" in file
                else resources.files("xpg.graph.neo4j"))
        text = _expand(root.joinpath(*parts[:-1], f"{parts[-1]}.cypher").read_text("utf-8"),
                       file)
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
    """The statement ``name`` of ``<file>.cypher`` (see :func:`statements`).

    Raises
    ------
    KeyError
        When the file or the statement does not exist.
    """
    named = statements(file)
    if name not in named:
        raise KeyError(f"no statement {name!r} in {file}.cypher")
    return named[name]
