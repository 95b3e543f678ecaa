"""`xpg generate`: write a synthetic dataset in the data contract, with its truth file."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer

from xpg.cli.common import parse_as_of, progress
from xpg.errors import InputError

__all__ = ["command"]


def command(
    out: Annotated[Path, typer.Option("--out", help="Folder to create with the tables.")],
    users: Annotated[int, typer.Option("--users", help="Number of users (at least 300).")] = 10_000,
    seed: Annotated[int, typer.Option("--seed", help="Random seed: same seed, same bytes.")] = 1,
    fmt: Annotated[str, typer.Option("--format", help="parquet (default) or csv.")] = "parquet",
    as_of: Annotated[
        str | None,
        typer.Option("--as-of",
                     help="Run date YYYY-MM-DD (default 2026-11-20): the last day of the data."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace --out if it exists and is not empty.")
    ] = False,
    shape: Annotated[
        str,
        typer.Option(
            "--shape",
            help="islands (default): small separate rings; mixed: a platform-shaped graph, "
            "rings inside one giant connected group (at least 2000 users).",
        ),
    ] = "islands",
    mixing: Annotated[
        float | None,
        typer.Option("--mixing", help="mixed shape: share of links across communities (0.2)."),
    ] = None,
) -> None:
    """Generate a realistic dataset with planted rings, multi-lenders, cross-product cases,
    their look-alikes and near misses, plus truth.json naming every planted case.

    --shape mixed makes a sparse, well-mixed identity graph (communities, hubs, households)
    with rings inside its giant group, as contract v2 defines them (docs/synthetic-data.md)."""
    from xpg.synthetic import DEFAULT_AS_OF, write

    if fmt not in ("parquet", "csv"):
        raise InputError(f"--format {fmt!r}: expected parquet or csv")
    run_date = parse_as_of(as_of) or DEFAULT_AS_OF
    start = time.perf_counter()
    written = write(out, users, seed, fmt, run_date, force=force, shape=shape,  # type: ignore[arg-type]
                      mixing=mixing, progress=progress("steps"))  # fmt: skip
    elapsed = time.perf_counter() - start
    truth = written.truth
    planted = sum(1 for c in truth["cases"] if c["kind"] != "ordinary")
    typer.echo(
        f"wrote {truth['users']:,} users, {written.row_count:,} rows in "
        f"{len(written.rows)} {fmt} tables to {out} in {elapsed:.1f} s "
        f"(as of {truth['as_of']}, seed {truth['seed']})"
    )
    if "graph" in truth:
        g = truth["graph"]
        typer.echo(
            f"mixed shape: {g['communities']:,} communities, mixing {g['mixing']}, largest "
            f"connected group {g['largest_group_users']:,} users "
            f"({g['largest_group_share']:.0%}), {len(g['hubs'])} hubs"
        )
    typer.echo(
        f"truth: {planted:,} planted cases of {len(truth['kinds'])} kinds over "
        f"{truth['planted_users']:,} users in {out / 'truth.json'}"
    )
