"""`xpg load`: validate a directory of tables and write it into the Neo4j graph.

Loading again updates the graph in place: new rows are added, changed ones
updated, and what the new snapshot no longer holds is retired
(``docs/neo4j.md``); by default as a delta, writing only what differs from what the
database holds (``neo4j.load_mode``). An interrupted load is completed by running it
again. The only command that writes the graph.

``--via import``: a first load into an empty database through the offline importer
(:mod:`xpg.graph.neo4j.importer`), only on xpg's own server (``scripts/neo4j-local``,
state folder ``XPG_NEO4J_STATE`` or ``.neo4j/``), whose database it stops and starts
again (the server itself keeps running).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from xpg.cli.common import BackendOpt, ConfigOpt, DataOpt, progress, settings_from
from xpg.errors import InputError

__all__ = ["command"]


def command(
    data: DataOpt,
    backend: BackendOpt = None,
    config: ConfigOpt = None,
    quarantine: Annotated[
        Path | None,
        typer.Option(
            "--quarantine",
            help="Load the valid rows; write rejected rows with their reasons to this folder.",
        ),
    ] = None,
    via: Annotated[
        str,
        typer.Option(
            "--via",
            help="cypher: batched Cypher writes (any server; updates an earlier load). "
            "import: a first load into an empty database of xpg's own server "
            "(scripts/neo4j-local, whose database it stops and restarts) through the offline "
            "importer.",
        ),
    ] = "cypher",
    batch_size: Annotated[
        int | None,
        typer.Option(
            "--batch-size", help="Rows per write transaction (default: neo4j.batch_size)."
        ),
    ] = None,
) -> None:
    """Write a directory of tables into Neo4j (--backend neo4j), updating an earlier load.

    The connection comes from NEO4J_URI, NEO4J_USER and NEO4J_DATABASE (or the \\[neo4j]
    section of --config), and the password from NEO4J_PASSWORD.
    """
    from xpg.graph import open_backend
    from xpg.loaders import load_dataset

    if via not in ("cypher", "import"):
        raise InputError(f"--via takes cypher or import, not {via!r}")
    settings = settings_from(config, backend=backend, **{"neo4j.batch_size": batch_size})
    graph = open_backend(settings)
    if not graph.keeps_data:  # nothing to load into: it would hold the graph for no one
        graph.close()
        raise InputError(
            'xpg load writes the graph into Neo4j: give --backend neo4j (or backend = "neo4j" '
            "in the config file, or XPG_BACKEND=neo4j); the memory backend holds the graph only "
            "while `xpg detect` runs"
        )
    bar = progress("rows")
    try:
        result = load_dataset(data, settings, quarantine=quarantine, progress=bar)
    except BaseException:
        graph.close()
        raise
    if result.warning_total:
        print(f"xpg: {result.warning_total:,} warning(s) in the input", file=sys.stderr)
    if result.rejected:
        print(f"xpg: {result.rejected:,} row(s) rejected into the quarantine", file=sys.stderr)
    with graph:
        if via == "import":
            from xpg.graph.neo4j.importer import offline_import

            stats = offline_import(result.dataset, settings.neo4j, progress=bar)
        else:
            stats = graph.load(result.dataset, progress=bar)
    where = f"Neo4j at {settings.neo4j.redacted_uri} (database {settings.neo4j.database!r})"
    if stats.mode == "delta":
        print(
            f"xpg: loaded the snapshot ({stats.nodes:,} nodes, {stats.relationships:,} "
            f"relationships) into {where} as a delta: {stats.written:,} new or changed rows "
            f"written, {stats.retired:,} retired, in {stats.seconds:.1f} s",
            file=sys.stderr,
        )
        return
    rate = stats.relationships / stats.seconds if stats.seconds > 0 else 0.0
    print(
        f"xpg: loaded {stats.nodes:,} nodes and {stats.relationships:,} relationships into "
        f"{where} in {stats.seconds:.1f} s ({rate:,.0f} relationships/s)",
        file=sys.stderr,
    )
