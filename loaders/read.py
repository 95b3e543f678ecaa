"""Finding and reading the input tables: one ``<table>.csv`` or ``<table>.parquet`` each.

CSV is read with every column as text (UTF-8, header row, comma separated),
so a bad value can be reported exactly as written and typed afterwards with
vectorized expressions (:mod:`xpg.loaders.parse`); Parquet is read with its
own types. Every frame gets a row number column :data:`ROW`: the line in the
CSV file (header = line 1, first data row = 2; a record with a quoted line
break counts as one), and for Parquet the 1-based row index + 1, so the two
formats number rows alike.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import polars as pl
from xpg.loaders.schema import TABLES

from xpg.errors import ConfigError, InputError

__all__ = [
    "ROW",
    "TABLE_ORDER",
    "TableFile",
    "UnreadableFile",
    "column_mapping",
    "find_tables",
    "read_header",
    "read_table",
]

ROW = "__row"
"""Name of the row-number column while a table is being validated."""

# Every table after the tables it refers to, so references (and the cascade of
# rejected rows) can be settled table by table.
TABLE_ORDER = (
    "users",
    "products",
    "lenders",
    "accounts",
    "devices",
    "identifiers",
    "external_loans",
    "applications",
    "account_events",
)

Format = Literal["csv", "parquet"]
_FORMATS: tuple[Format, ...] = ("csv", "parquet")


class UnreadableFile(Exception):
    """A table file that cannot be read at all (reported as ``unreadable_file``)."""


@dataclass(frozen=True)
class TableFile:
    table: str
    path: Path
    format: Format


def find_tables(directory: Path) -> tuple[dict[str, TableFile], dict[str, list[Path]], list[Path]]:
    """The table files of ``directory``.

    Returns ``(found, ambiguous, unknown)``: the contract tables given exactly
    once, the tables given in both formats (their paths), and the ``.csv`` or
    ``.parquet`` files that name no contract table.
    """
    if not directory.exists():
        raise InputError(f"data directory not found: {directory}")
    if not directory.is_dir():
        raise InputError(f"not a directory: {directory}")
    by_table: dict[str, list[Path]] = {}
    unknown: list[Path] = []
    for path in sorted(directory.iterdir()):
        if path.name.startswith(".") or not path.is_file():
            continue
        suffix = path.suffix.lower().lstrip(".")
        if suffix not in _FORMATS:
            continue
        if path.stem in TABLES:
            by_table.setdefault(path.stem, []).append(path)
        else:
            unknown.append(path)
    found: dict[str, TableFile] = {}
    ambiguous: dict[str, list[Path]] = {}
    for table, paths in by_table.items():
        if len(paths) > 1:
            ambiguous[table] = paths
        else:
            (path,) = paths
            fmt: Format = "csv" if path.suffix.lower() == ".csv" else "parquet"
            found[table] = TableFile(table, path, fmt)
    return found, ambiguous, unknown


def column_mapping(columns: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, str]]:
    """Check ``settings.load.columns`` (table -> {their name: contract name}).

    Raises :class:`~xpg.errors.ConfigError` for an unknown table, a target that
    is not a column of that table, or two names mapped onto one column.
    """
    out: dict[str, dict[str, str]] = {}
    for table, names in columns.items():
        where = f"load.columns.{table}"
        if table not in TABLES:
            raise ConfigError(f"{where}: unknown table; the tables are {sorted(TABLES)}")
        known = TABLES[table].column_names
        seen: dict[str, str] = {}
        for theirs, ours in names.items():
            if ours not in known:
                raise ConfigError(
                    f"{where}.{theirs}: {ours!r} is not a column of {table}; "
                    f"its columns are {list(known)}"
                )
            if ours in seen:
                raise ConfigError(
                    f"{where}: both {seen[ours]!r} and {theirs!r} are mapped onto {ours!r}"
                )
            seen[ours] = theirs
        out[table] = {theirs: ours for theirs, ours in names.items() if theirs != ours}
    return out


def read_header(tf: TableFile) -> list[str]:
    """The column names exactly as the file has them (duplicates included)."""
    try:
        if tf.format == "parquet":
            return list(pl.read_parquet_schema(tf.path))
        with open(tf.path, newline="", encoding="utf-8-sig") as fh:
            header = next(csv.reader(fh), None)
    except (OSError, UnicodeDecodeError, csv.Error, pl.exceptions.PolarsError) as e:
        raise UnreadableFile(_first_line(e)) from e
    if header is None:
        raise UnreadableFile("the file is empty: a header row is required")
    return header


def read_table(tf: TableFile, names: list[str]) -> pl.DataFrame:
    """The whole table, columns renamed to ``names`` (same order), plus :data:`ROW` first."""
    try:
        if tf.format == "csv":
            df = pl.read_csv(
                tf.path,
                infer_schema=False,
                has_header=True,
                new_columns=names,
                encoding="utf8",
            )
        else:
            df = pl.read_parquet(tf.path)
            df.columns = names
    except (OSError, pl.exceptions.PolarsError) as e:
        raise UnreadableFile(_first_line(e)) from e
    return df.with_row_index(ROW, offset=2).with_columns(pl.col(ROW).cast(pl.Int64))


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]
