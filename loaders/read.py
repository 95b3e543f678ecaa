"""Finding and reading the input tables: one ``<table>.csv`` or ``<table>.parquet`` each.

CSV is read with every column as text (UTF-8, header row, comma separated,
unless ``load.encoding`` or ``load.separator`` say otherwise: a file in
another encoding is decoded to UTF-8 in memory before Polars reads it),
so a bad value can be reported exactly as written and typed afterwards with
vectorized expressions (:mod:`xpg.loaders.parse`); Parquet is read with its
own types. Every frame gets a row number column :data:`ROW`: the line in the
CSV file (header = line 1, first data row = 2; a record with a quoted line
break counts as one), and for Parquet the 1-based row index + 1, so the two
formats number rows alike.
"""

from __future__ import annotations

import codecs
import csv
import io
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
    "decode_problem",
    "find_tables",
    "read_header",
    "read_options",
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
    """A table file that cannot be read at all (reported as ``unreadable_file``).

    ``line`` is the line of the file the problem is on, when known; ``value``
    what is shown as the failure's value (the file name when None).
    """

    def __init__(self, message: str, *, line: int | None = None, value: str | None = None):
        super().__init__(message)
        self.line, self.value = line, value


@dataclass(frozen=True)
class TableFile:
    """One table's file, and how to read a CSV one (``load.encoding``, ``load.separator``).

    v3: ``parts`` are the files read as one table, in order, when there are several (a
    file-name pattern of ``load.files``, or a folder of part files as Spark writes it:
    ``path`` is then the folder or the pattern); ``query`` is the ``load.query`` that
    defines the table (``path`` names the setting). ``date_format`` and
    ``decimal_comma`` say how the table's text is typed; ``max_rows`` and
    ``max_field_bytes`` bound what is read.
    """

    table: str
    path: Path
    format: Format
    encoding: str = "utf-8"
    separator: str = ","
    parts: tuple[Path, ...] = ()
    query: str | None = None
    date_format: str = ""
    decimal_comma: bool = False
    max_rows: int | None = None
    max_field_bytes: int | None = None

    @property
    def utf8(self) -> bool:
        return codecs.lookup(self.encoding).name == "utf-8"

    @property
    def files(self) -> tuple[Path, ...]:
        """The files read (none for a query)."""
        if self.query is not None:
            return ()
        return self.parts or (self.path,)

    @property
    def label(self) -> str:
        """How messages name where the table comes from."""
        if self.query is not None:
            return f"the query load.query.{self.table}"
        if self.parts and (len(self.parts) > 1 or self.parts[0] != self.path):
            return f"{self.path.name} ({len(self.parts)} file{'s' * (len(self.parts) != 1)})"
        return self.path.name


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


_OPTIONS = ("encoding", "separator", "date_format", "decimal_comma", "max_rows")


def _check_options(where: str, encoding: str, separator: str) -> None:
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ConfigError(
            f"{where}encoding: unknown encoding {encoding!r} (for example utf-8, gbk, gb18030)"
        ) from None
    if len(separator) != 1 or separator in ('"', "\n", "\r"):
        raise ConfigError(
            f"{where}separator: {separator!r} must be one character (for example ',', ';' or a tab)"
        )


def read_options(
    encoding: str, separator: str, per_table: Mapping[str, Mapping[str, str]]
) -> dict[str, tuple[str, str]]:
    """``(encoding, separator)`` for every table, from ``load.encoding``,
    ``load.separator`` and ``load.per_table.<table>``.

    Raises :class:`~xpg.errors.ConfigError` for an unknown encoding, a separator
    that is not one character, an unknown table or an unknown option.

    Examples
    --------
    >>> read_options("utf-8", ",", {"users": {"encoding": "gbk"}})["users"]
    ('gbk', ',')
    """
    _check_options("load.", encoding, separator)
    out = {table: (encoding, separator) for table in TABLES}
    for table, options in per_table.items():
        where = f"load.per_table.{table}"
        if table not in TABLES:
            raise ConfigError(f"{where}: unknown table; the tables are {sorted(TABLES)}")
        unknown = sorted(set(options) - set(_OPTIONS))
        if unknown:
            raise ConfigError(f"{where}.{unknown[0]}: unknown option; the options are {_OPTIONS}")
        enc, sep = options.get("encoding", encoding), options.get("separator", separator)
        if not isinstance(enc, str) or not isinstance(sep, str):
            raise ConfigError(f"{where}: encoding and separator are text, got {enc!r}, {sep!r}")
        _check_options(f"{where}.", enc, sep)
        _check_typed_options(where, options)
        out[table] = (enc, sep)
    return out


def _check_typed_options(where: str, options: Mapping[str, object]) -> None:
    """v3: ``date_format`` text, ``decimal_comma`` true or false, ``max_rows`` >= 1."""
    fmt = options.get("date_format", "")
    if not isinstance(fmt, str):
        raise ConfigError(f'{where}.date_format: expected a format such as "%d/%m/%Y", '
                          f"got {fmt!r}")
    comma = options.get("decimal_comma", False)
    if not isinstance(comma, bool):
        raise ConfigError(f"{where}.decimal_comma: expected true or false, got {comma!r}")
    rows = options.get("max_rows", 1)
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
        raise ConfigError(f"{where}.max_rows: expected a whole number >= 1, got {rows!r}")


# Encodings a file that is not UTF-8 is tried in, most specific first, with how
# it is named in a message. GBK is a subset of GB18030: a file both decode is GBK.
_GUESSES = (
    ("gbk", "GBK, as Excel saves it on a Chinese Windows"),
    ("gb18030", "GB18030, as Excel saves it on a Chinese Windows"),
    ("big5", "Big5 (traditional Chinese)"),
    ("utf-16", "UTF-16, as Excel saves 'Unicode Text'"),
)


def decode_problem(data: bytes, encoding: str, tf: TableFile) -> UnreadableFile | None:
    """Why ``data`` does not decode as ``encoding`` (line, bytes, likely encoding, the fix).

    None when it decodes.

    Examples
    --------
    >>> tf = TableFile("users", Path("users.csv"), "csv")
    >>> e = decode_problem("user_id,name\\nu1,张三\\n".encode("gbk"), "utf-8", tf)
    >>> e.line, e.value
    (2, 'u1,张三')
    >>> str(e).split(":")[0]
    'line 2 is not utf-8 (the bytes 0xd5 0xc5 cannot be decoded)'
    """
    try:
        data.decode(encoding)
    except UnicodeDecodeError as e:
        start, end = e.start, e.end
    else:
        return None
    line = data.count(b"\n", 0, start) + 1
    begin = data.rfind(b"\n", 0, start) + 1
    stop = data.find(b"\n", start)
    raw_line = data[begin : len(data) if stop < 0 else stop].rstrip(b"\r")
    bad = " ".join(f"0x{b:02x}" for b in data[start : max(end, start + 2)][:4])
    likely = None
    for codec, label in _GUESSES:
        if codecs.lookup(codec).name == codecs.lookup(encoding).name:
            continue
        if codec == "utf-16" and data[:2] not in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
            continue  # any even number of bytes decodes as UTF-16: only trust a BOM
        try:
            data.decode(codec)
        except UnicodeDecodeError:
            continue
        likely = (codec, label)
        break
    shown = raw_line.decode(likely[0] if likely else encoding, errors="replace")[:80]
    where = f"line {line} is not {encoding} (the bytes {bad} cannot be decoded)"
    if likely is None:
        fix = "re-save the file as UTF-8, or set load.encoding to the encoding it was saved in"
    else:
        codec, label = likely
        fix = (
            f"it reads as {label}: re-save it as UTF-8, "
            f'or set load.encoding = "{codec}" (or, for this table only, '
            f'[load.per_table.{tf.table}] encoding = "{codec}")'
        )
    return UnreadableFile(f"{where}: {fix}", line=line, value=shown)


def _decoded(tf: TableFile) -> bytes:
    """The file's bytes as UTF-8 (decoded from ``tf.encoding`` in memory)."""
    data = tf.path.read_bytes()
    problem = decode_problem(data, tf.encoding, tf)
    if problem is not None:
        raise problem
    return data.decode(tf.encoding).encode("utf-8")


def _ragged(text: str, separator: str) -> UnreadableFile | None:
    """The first record with more fields than the header (Python's csv: the error path only)."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator)
    width = len(next(reader, []))
    for record in reader:
        if len(record) > width:
            line = reader.line_num
            return UnreadableFile(
                f"line {line} has {len(record)} fields where the header has {width}: "
                f"quote a value that holds the separator {separator!r}, or fix the row",
                line=line,
                value=separator.join(record)[:200],
            )
    return None


def _explain(tf: TableFile, error: BaseException) -> UnreadableFile:
    """An unreadable CSV: the decode problem or the ragged row when that is what it is."""
    try:
        data = tf.path.read_bytes()
        problem = decode_problem(data, tf.encoding, tf)
        if problem is None and "more fields" in str(error):
            problem = _ragged(data.decode(tf.encoding), tf.separator)
    except (OSError, csv.Error):
        problem = None
    return problem if problem is not None else UnreadableFile(_first_line(error))


def read_header(tf: TableFile) -> list[str]:
    """The column names exactly as the file has them (duplicates included); for several
    files, those of the first, and each of the others must have the same."""
    if len(tf.files) > 1 or (tf.parts and tf.parts[0] != tf.path):
        first: list[str] | None = None
        for part in tf.files:
            one = TableFile(tf.table, part, _part_format(part), tf.encoding, tf.separator)
            try:
                header = read_header(one)
            except UnreadableFile as e:
                raise UnreadableFile(f"{part.name}: {e}", line=e.line, value=e.value) from e
            if first is None:
                first = header
            elif [h.strip() for h in header] != [h.strip() for h in first]:
                raise UnreadableFile(
                    f"{part.name} has the columns {header} where {tf.files[0].name} has "
                    f"{first}: the files of one table must have the same header",
                    value=part.name)
        assert first is not None
        return first
    try:
        if tf.format == "parquet":
            return list(pl.read_parquet_schema(tf.path))
        if tf.utf8:
            with open(tf.path, newline="", encoding="utf-8-sig") as fh:
                header = next(csv.reader(fh, delimiter=tf.separator), None)
        else:
            text = io.StringIO(_decoded(tf).decode("utf-8"), newline="")
            header = next(csv.reader(text, delimiter=tf.separator), None)
    except UnicodeDecodeError as e:
        raise _explain(tf, e) from e
    except (OSError, csv.Error, pl.exceptions.PolarsError) as e:
        raise UnreadableFile(_first_line(e)) from e
    if header is None:
        raise UnreadableFile("the file is empty: a header row is required")
    return header


def _part_format(path: Path) -> Format:
    return "parquet" if path.suffix.lower() == ".parquet" else "csv"


Span = tuple[int, int, str]
"""``(first row, last row, file name)``: where the rows of one file of a table lie."""


def read_parts(tf: TableFile, names: list[str]) -> tuple[pl.DataFrame, list[Span]]:
    """The table read from each of its files, concatenated in order, with the
    :data:`Span` of each: rows are numbered through the files as if they were one file
    (the header counted once), and a message names the file and its own line."""
    frames, spans, offset = [], [], 0
    for part in tf.files:
        one = TableFile(tf.table, part, _part_format(part), tf.encoding, tf.separator)
        try:
            df = _read_file(one, names)
        except UnreadableFile as e:
            raise UnreadableFile(f"{part.name}: {e}", line=e.line, value=e.value) from e
        if offset:
            df = df.with_columns(pl.col(ROW) + offset)
        if df.height:
            spans.append((offset + 2, offset + df.height + 1, part.name))
        offset += df.height
        frames.append(_without_blank(df, one, names))
    return pl.concat(frames, how="vertical_relaxed"), spans


def read_table(tf: TableFile, names: list[str]) -> pl.DataFrame:
    """The whole table, columns renamed to ``names`` (same order), plus :data:`ROW` first."""
    if len(tf.files) > 1 or (tf.parts and tf.parts[0] != tf.path):
        return read_parts(tf, names)[0]
    return _without_blank(_read_file(tf, names), tf, names)


def _read_file(tf: TableFile, names: list[str]) -> pl.DataFrame:
    """One file of a table, every record (blank ones too) numbered by its line."""
    try:
        if tf.format == "csv":
            df = pl.read_csv(
                tf.path if tf.utf8 else io.BytesIO(_decoded(tf)),
                infer_schema=False,
                has_header=True,
                new_columns=names,
                encoding="utf8",
                separator=tf.separator,
            )
        else:
            df = pl.read_parquet(tf.path)
            df.columns = names
    except pl.exceptions.ComputeError as e:
        raise (_explain(tf, e) if tf.format == "csv" else UnreadableFile(_first_line(e))) from e
    except (OSError, pl.exceptions.PolarsError) as e:
        raise UnreadableFile(_first_line(e)) from e
    return df.with_row_index(ROW, offset=2).with_columns(pl.col(ROW).cast(pl.Int64))


def _without_blank(df: pl.DataFrame, tf: TableFile, names: list[str]) -> pl.DataFrame:
    """``df`` less its blank CSV records: a blank line (the empty last line an editor
    leaves) or a record of empty fields (``,,,``, as a spreadsheet exports formatted empty
    rows) holds nothing, so it is no row; the rows after it keep their own line numbers."""
    if tf.format != "csv" or not names or not df.height:
        return df
    return df.filter(~pl.all_horizontal(pl.col(names).is_null()))


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0]
