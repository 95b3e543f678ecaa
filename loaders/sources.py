"""Where each table comes from (v3): files, file-name patterns, folders of part files, queries.

A table is read from, in this order of precedence:

- ``load.query.<table>``: a Polars SQL query over the folder's files, each registered
  by its file stem (``applicants.csv`` is ``applicants``; a folder of part files
  ``bureau.parquet/`` is ``bureau``); CSV files are read as text, so a number is
  ``CAST(x AS DOUBLE)`` (or ``TRY_CAST``) in the query;
- ``load.files.<table>``: file-name patterns (``users_*.csv``); every file that matches
  is read, in name order, as one table (all with the same header);
- ``<table>.csv`` or ``<table>.parquet``, a file or a folder of part files (``part-*``,
  as Spark writes it; ``_SUCCESS`` and ``.crc`` files are skipped).

Bounds (issue 18): :func:`scan_bounds` streams a CSV file in chunks and refuses a field
longer than ``load.max_field_bytes`` (or more rows than ``max_rows``) before Polars holds
any of it; :func:`check_memory` refuses a load whose estimated peak memory exceeds the
memory available (or ``load.max_memory_mb``).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import io
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from xpg.loaders.read import TableFile, UnreadableFile, decode_problem
from xpg.loaders.schema import TABLES

from xpg.errors import ConfigError, InputError, first_line

__all__ = [
    "PEAK_MEMORY_FACTOR",
    "Discovery",
    "available_memory",
    "check_memory",
    "discover",
    "part_files",
    "read_query",
    "scan_bounds",
]

_FORMATS = ("csv", "parquet")


def _format(path: Path) -> str | None:
    suffix = path.suffix.lower().lstrip(".")
    return suffix if suffix in _FORMATS else None


def part_files(folder: Path) -> tuple[Path, ...]:
    """The data files of a folder of part files (Spark's ``part-00000-....parquet``),
    in name order; bookkeeping files (``_SUCCESS``, ``.crc``, hidden) are left out."""
    try:
        entries = sorted(folder.iterdir())
    except OSError:
        return ()
    return tuple(p for p in entries if p.is_file() and not p.name.startswith((".", "_"))
                 and _format(p) is not None)


def _entry(path: Path) -> tuple[str, TableFile] | None:
    """``(stem, file)`` for a table file or a folder of part files; None for anything else."""
    if path.is_dir():
        parts = part_files(path)
        if not parts:
            return None
        fmt = _format(path) or _format(parts[0])
        stem = path.stem if _format(path) else path.name
        if any(_format(p) != fmt for p in parts):
            fmt = _format(parts[0])
        return stem, TableFile(stem, path, fmt, parts=parts)  # type: ignore[arg-type]
    fmt = _format(path)
    if fmt is None or not path.is_file():
        return None
    return path.stem, TableFile(path.stem, path, fmt)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Discovery:
    """What a folder holds: ``found`` (a table's one source), ``ambiguous`` (a table given
    twice: its paths), ``unknown`` (files that name no table and no query reads) and
    ``sources`` (every file or part folder by stem, what a query reads)."""

    found: dict[str, TableFile]
    ambiguous: dict[str, list[Path]]
    unknown: list[Path]
    sources: dict[str, TableFile]


def _patterns(value: str | Sequence[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def check_sources(files: Mapping[str, str | Sequence[str]], queries: Mapping[str, str],
                  allow_empty: Sequence[str]) -> None:
    """Refuse ``load.files``, ``load.query`` and ``load.allow_empty`` entries that name no
    table (a :class:`~xpg.errors.ConfigError` naming the key)."""
    for kind, tables in (("files", files), ("query", queries)):
        for table in tables:
            if table not in TABLES:
                raise ConfigError(f"load.{kind}.{table}: unknown table; the tables are "
                                  f"{sorted(TABLES)}", key=f"load.{kind}.{table}")
    for table, value in files.items():
        if not _patterns(value) or not all(isinstance(p, str) and p for p in _patterns(value)):
            raise ConfigError(f"load.files.{table}: expected a file-name pattern such as "
                              f'"{table}_*.csv", got {value!r}', key=f"load.files.{table}")
    for table, sql in queries.items():
        if not sql.strip():
            raise ConfigError(f"load.query.{table}: the query is empty",
                              key=f"load.query.{table}")
    for table in allow_empty:
        if table not in TABLES:
            raise ConfigError(f"load.allow_empty: {table!r} is not a table; the tables are "
                              f"{sorted(TABLES)}", key="load.allow_empty")


def discover(directory: Path, files: Mapping[str, str | Sequence[str]] | None = None,
             queries: Mapping[str, str] | None = None) -> Discovery:
    """The sources of every table of ``directory`` (see the module's docstring)."""
    files, queries = files or {}, queries or {}
    if not directory.exists():
        raise InputError(f"data directory not found: {directory}")
    if not directory.is_dir():
        raise InputError(f"not a directory: {directory}")
    entries = [p for p in sorted(directory.iterdir()) if not p.name.startswith((".", "_"))]
    sources: dict[str, TableFile] = {}
    for path in entries:
        entry = _entry(path)
        if entry is not None:
            sources.setdefault(entry[0], entry[1])
    found: dict[str, TableFile] = {}
    claimed: set[Path] = set()
    for table, value in files.items():
        pats = _patterns(value)
        matched = [p for p in entries if any(fnmatch.fnmatch(p.name, pat) for pat in pats)]
        parts: list[Path] = []
        for p in matched:
            entry = _entry(p)
            if entry is not None:
                parts.extend(entry[1].files)
                claimed.add(p)
        if parts:
            fmt = _format(parts[0])
            found[table] = TableFile(table, Path(" | ".join(pats)), fmt,  # type: ignore[arg-type]
                                     parts=tuple(parts))
    by_table: dict[str, list[TableFile]] = {}
    unknown: list[Path] = []
    words = " ".join(queries.values()).lower()
    for path in entries:
        if path in claimed:
            continue
        entry = _entry(path)
        if entry is None:
            continue
        stem, tf = entry
        if stem in TABLES:
            if stem not in files and stem not in queries:
                by_table.setdefault(stem, []).append(tf)
        elif stem.lower() not in words:
            unknown.append(path)
    ambiguous: dict[str, list[Path]] = {}
    for table, tfs in by_table.items():
        if len(tfs) > 1:
            ambiguous[table] = [tf.path for tf in tfs]
        else:
            found[table] = tfs[0]
    for table, sql in queries.items():
        found[table] = TableFile(table, Path(f"load.query.{table}"), "csv", query=sql)
    return Discovery(found, ambiguous, unknown, sources)


def _scan(tf: TableFile) -> pl.LazyFrame:
    """One source as a lazy frame: CSV as text, Parquet with its own types."""
    frames = []
    for path in tf.files:
        if _format(path) == "parquet":
            frames.append(pl.scan_parquet(path))
        elif tf.utf8:
            frames.append(pl.scan_csv(path, infer_schema=False, separator=tf.separator))
        else:
            data = path.read_bytes()
            problem = decode_problem(data, tf.encoding, tf)
            if problem is not None:
                raise UnreadableFile(f"{path.name}: {problem}", line=problem.line,
                                     value=problem.value)
            text = io.BytesIO(data.decode(tf.encoding).encode("utf-8"))
            frames.append(pl.read_csv(text, infer_schema=False, separator=tf.separator).lazy())
    return frames[0] if len(frames) == 1 else pl.concat(frames, how="vertical")


def read_query(tf: TableFile, sources: Mapping[str, TableFile]) -> pl.DataFrame:
    """The table ``load.query.<table>`` defines: its query over ``sources`` (each by its
    stem), collected. Raises :class:`UnreadableFile` naming the setting and the cause
    (an unknown file or column, a syntax error)."""
    assert tf.query is not None
    context = pl.SQLContext()
    for stem, source in sources.items():
        context.register(stem, _scan(dataclasses.replace(
            source, encoding=tf.encoding, separator=tf.separator)))
    known = ", ".join(sorted(sources)) or "none"
    try:
        return context.execute(tf.query, eager=True)
    except (pl.exceptions.PolarsError, ValueError, OSError) as e:
        text = first_line(e)
        raise UnreadableFile(f"load.query.{tf.table} failed: {text} (the files it can read: "
                             f"{known})", value=tf.query[:200]) from e


# -- bounds -----------------------------------------------------------------------------------

_CHUNK = 1 << 24  # 16 MiB read at a time


def scan_bounds(tf: TableFile) -> UnreadableFile | None:
    """Stream each CSV file of ``tf`` and find a field longer than ``tf.max_field_bytes``
    or more rows than ``tf.max_rows``, holding one chunk at a time (never a whole line).

    A field's length is the run of bytes between two separators or line ends: a quoted
    field that holds separators is measured in pieces, so such a field can pass and is
    then bounded by the row checks (``max_id_length``). Rows are counted as line ends (a
    quoted line break counts too: the count is an upper bound). Parquet files are
    counted from their metadata.
    """
    limit, max_rows = tf.max_field_bytes, tf.max_rows
    rows = 0
    for path in tf.files:
        if _format(path) == "parquet":
            rows += pl.scan_parquet(path).select(pl.len()).collect().item()
            continue
        lines, problem = _scan_csv(path, tf.separator.encode()[0], limit,
                                   path.name + " " if len(tf.files) > 1 else "")
        if problem is not None:
            return problem
        rows += max(lines - 1, 0)
    if max_rows is not None and rows > max_rows:
        return UnreadableFile(
            f"it holds {rows:,} rows, more than load.max_rows ({max_rows:,}); raise it "
            f"(for this table only: [load.per_table.{tf.table}] max_rows = {rows}) or split the "
            "export", value=f"{rows} rows")
    return None


def _scan_csv(path: Path, separator: int, limit: int | None, name: str = ""
              ) -> tuple[int, UnreadableFile | None]:
    """``(line ends, problem)`` of one CSV file, streamed."""
    import numpy as np  # here: checking the settings' sources (every command) never needs it

    run = 0  # bytes since the last separator or line end, carried across chunks
    line_run = 0  # bytes since the last line end
    lines = 0
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            arr = np.frombuffer(chunk, dtype=np.uint8)
            ends = np.flatnonzero(arr == 10)
            if limit is not None:
                # a field is no longer than its line: look inside only the long lines
                bounds = np.concatenate(([-1 - line_run], ends, [len(arr)]))
                long = np.flatnonzero(np.diff(bounds) - 1 > limit)
                if len(long):
                    cuts = np.flatnonzero((arr == 10) | (arr == separator))
                    edges = np.concatenate(([-1 - run], cuts, [len(arr)]))
                    gaps = np.diff(edges) - 1
                    over = np.flatnonzero(gaps > limit)
                    if len(over):
                        start = int(edges[over[0]]) + 1  # may be before this chunk
                        line = lines + int(np.count_nonzero(ends < max(start, 0))) + 1
                        return lines, UnreadableFile(
                            f"{name}line {line} has a field of more than "
                            f"{limit:,} bytes (load.max_field_bytes); the file is refused "
                            "before the field is read: check the export (a missing quote or "
                            "line end), or raise load.max_field_bytes", line=line,
                            value=bytes(arr[max(start, 0):max(start, 0) + 60]).decode(
                                "utf-8", "replace") + "...")
                    last_cut = int(cuts[-1]) if len(cuts) else -1
                    run = len(arr) - 1 - last_cut if len(cuts) else run + len(arr)
                else:
                    # no long line: the run since the last separator is at most the line's
                    cuts_tail = arr[ends[-1] + 1:] if len(ends) else arr
                    pos = np.flatnonzero(cuts_tail == separator)
                    if len(pos):
                        run = len(cuts_tail) - 1 - int(pos[-1])
                    elif len(ends):
                        run = len(cuts_tail)
                    else:
                        run += len(arr)
            line_run = len(arr) - 1 - int(ends[-1]) if len(ends) else line_run + len(arr)
            lines += len(ends)
    if line_run:
        lines += 1  # a last line without a line end
    return lines, None


PEAK_MEMORY_FACTOR = {"csv": 4.0, "parquet": 12.0}
"""Peak memory of a load per byte of input (measured: ``bench/bench_load_memory.py``;
docs/configuration.md, "Bounded input"). Parquet is compressed, hence the larger factor."""


def available_memory() -> int | None:
    """Bytes of memory available to this process: the smaller of the system's available
    memory and the cgroup's limit (a container); None when neither is known."""
    found: list[int] = []
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    found.append(int(line.split()[1]) * 1024)
    except OSError:
        pass
    for name in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(name).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 1 << 60:
            found.append(int(text))
    return min(found) if found else None


def estimate_peak(found: Mapping[str, TableFile], sources: Mapping[str, TableFile]) -> int:
    """The estimated peak memory (bytes) of loading ``found``: each file's size times
    :data:`PEAK_MEMORY_FACTOR` of its format (a query counts every source once)."""
    paths: dict[Path, str] = {}
    for tf in found.values():
        for path in (p for s in sources.values() for p in s.files) if tf.query else tf.files:
            paths[path] = _format(path) or "csv"
    total = 0.0
    for path, fmt in paths.items():
        try:
            total += os.stat(path).st_size * PEAK_MEMORY_FACTOR[fmt]
        except OSError:
            continue
    return int(total)


def check_memory(found: Mapping[str, TableFile], sources: Mapping[str, TableFile],
                 cap_mb: int, available: int | None = None) -> None:
    """Refuse (:class:`~xpg.errors.InputError`) a load whose estimated peak memory exceeds
    ``cap_mb`` (when > 0) or the memory available."""
    need = estimate_peak(found, sources)
    have = available_memory() if available is None else available
    limit, what = None, ""
    if cap_mb > 0:
        limit, what = cap_mb << 20, f"load.max_memory_mb ({cap_mb:,} MB)"
    if have is not None and (limit is None or have < limit):
        limit, what = have, f"the memory available ({have >> 20:,} MB)"
    if limit is not None and need > limit:
        raise InputError(
            f"loading this data needs about {need >> 20:,} MB (the files' sizes times "
            f"{PEAK_MEMORY_FACTOR['csv']:g} for CSV, {PEAK_MEMORY_FACTOR['parquet']:g} for "
            f"Parquet), more than {what}: nothing was read; load it on a larger machine, "
            "on the Spark backend, or raise load.max_memory_mb if the estimate is too high")
