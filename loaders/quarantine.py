"""Writing rejected rows to a quarantine folder, whole or not at all.

The folder holds one ``<table>.csv`` per table with rejected rows (the
original columns with their original names and values as text, then
``_row``, ``_rules`` and ``_messages``) and a ``summary.json``. It is written
into a temporary folder next to the target and renamed into place, so the
target appears complete or not at all. An existing quarantine folder (one
that holds a ``summary.json``) is replaced; any other non-empty folder is
refused.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import polars as pl
from xpg.loaders.read import ROW

from xpg.atomic import staging
from xpg.errors import InputError

__all__ = ["SUMMARY", "check_target", "rejected_rows", "write_quarantine"]

SUMMARY = "summary.json"


def check_target(directory: Path) -> None:
    """Refuse a target that exists and is not an (empty or earlier) quarantine folder."""
    if not directory.exists():
        return
    if not directory.is_dir():
        raise InputError(f"quarantine {directory}: exists and is not a directory",
                         argument="quarantine")
    if any(directory.iterdir()) and not (directory / SUMMARY).is_file():
        raise InputError(
            f"quarantine {directory}: the folder is not empty and holds no {SUMMARY} "
            "(not a quarantine folder written by xpg); choose another folder",
            argument="quarantine",
        )


def rejected_rows(raw: pl.DataFrame, header: list[str], failures: pl.DataFrame) -> pl.DataFrame:
    """The rejected rows of one table as text, with their row, rules and messages.

    ``raw`` is the table as read (with :data:`~xpg.loaders.read.ROW`), ``header``
    its original column names in order, ``failures`` the table's failure rows.
    """
    reasons = (
        failures.filter(pl.col("row").is_not_null())
        .group_by("row")
        .agg(
            pl.col("rule").unique(maintain_order=True).str.join("; ").alias("_rules"),
            pl.col("message").str.join("; ").alias("_messages"),
        )
    )
    names = [c for c in raw.columns if c != ROW]
    rows = raw.join(reasons, left_on=ROW, right_on="row", how="inner").sort(ROW)
    return rows.select(
        *(pl.col(c).cast(pl.String).alias(h) for c, h in zip(names, header, strict=True)),
        pl.col(ROW).alias("_row"),
        "_rules",
        "_messages",
    )


def write_quarantine(
    directory: Path, tables: Mapping[str, pl.DataFrame], summary: Mapping[str, Any]
) -> None:
    """Write ``tables`` (name -> rejected rows) and ``summary`` into ``directory`` atomically."""
    directory = Path(directory)
    check_target(directory)
    with staging(directory) as tmp:
        for name, frame in tables.items():
            frame.write_csv(tmp / f"{name}.csv")
        (tmp / SUMMARY).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
