"""Typing raw column values: text (CSV, or string columns of Parquet) and native Parquet types.

Every contract column is parsed into the dtype of its kind
(:data:`xpg.loaders.schema.DTYPES`) by Polars expressions, so a table's
columns are parsed together, in parallel, in one pass. The rules (also in
``docs/data-contract.md``):

- text is trimmed of surrounding whitespace; a value that is empty after
  trimming is null (``""``, ``"  "`` and a missing field are all null);
- ``decimal``: a decimal number (``12``, ``-3.5``, ``1e3``); ``inf``/``nan``
  are refused;
- ``integer``: an integer (``700``); an integral decimal (``700.0``) is
  accepted, ``700.5`` is refused;
- ``date``: ``YYYY-MM-DD``; a datetime string is accepted too and gives its
  date part *as written* (the offset, if any, does not move the day);
- ``datetime``: ``YYYY-MM-DD``, ``YYYY-MM-DDTHH:MM[:SS[.fraction]]`` (``T`` or
  a space), optionally followed by ``Z`` or an offset ``+HH``, ``+HHMM``,
  ``+HH:MM``; values with an offset are converted to UTC, and every value is
  stored naive (UTC). A date alone is midnight.

Notes
-----
Datetimes are parsed in two steps. A sample of the column picks one exact
format (for example ``%Y-%m-%dT%H:%M:%S``) that Polars parses fast; the few
values that format misses (mixed formats in one column) go through the
general ISO 8601 pattern above, a regular expression run on those values
only. Both steps accept exactly the same strings, so the result does not
depend on which one parsed a value. Cost: one pass per column, O(rows).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

import polars as pl
from xpg.loaders.schema import DTYPES

__all__ = [
    "EXPECTED",
    "ColumnParser",
    "blank_to_null",
    "fix_temporal",
    "is_text",
    "parser_for",
    "retry_trimmed",
    "trim_padded",
]

# A sentence fragment per kind: "<column> must be ..."
EXPECTED = {
    "decimal": "a decimal number",
    "integer": "an integer",
    "date": "an ISO 8601 date (YYYY-MM-DD)",
    "datetime": "an ISO 8601 datetime (YYYY-MM-DD[THH:MM[:SS]], optional Z or offset)",
    "id": "text",
    "string": "text",
    "enum": "text",
}

_TEXT_KINDS = ("id", "string", "enum")

# The general ISO 8601 grammar accepted (see the module docstring).
_ISO = re.compile(
    r"^(?P<y>\d{4})-(?P<mo>\d{2})-(?P<d>\d{2})"
    r"(?:[T ](?P<h>\d{2}):(?P<mi>\d{2})(?::(?P<s>\d{2})(?:[.,](?P<f>\d{1,9}))?)?)?"
    r"\s*(?P<tz>Z|z|[+-]\d{2}(?::?\d{2})?)?$"
)

# Exact formats tried first, as (sniffing regex, Polars format); "+Z" adds a literal
# Z, "+offset" an offset. Python's regex only picks the format; Polars parses.
_BASES = (
    (r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}", "%Y-%m-%dT%H:%M:%S"),
    (r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}", "%Y-%m-%d %H:%M:%S"),
    (r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}", "%Y-%m-%dT%H:%M:%S.%6f"),
    (r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{6}", "%Y-%m-%d %H:%M:%S.%6f"),
    (r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}", "%Y-%m-%dT%H:%M:%S.%3f"),
    (r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}", "%Y-%m-%d %H:%M:%S.%3f"),
    (r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}", "%Y-%m-%dT%H:%M"),
    (r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}", "%Y-%m-%d %H:%M"),
)
_SUFFIXES = (("", "", False), ("Z", "Z", False), (r"[+-]\d{2}:\d{2}", "%:z", True))
_FAST = tuple(
    (re.compile(rx + srx), fmt + sfmt, offset)
    for rx, fmt in _BASES
    for srx, sfmt, offset in _SUFFIXES
)
_DATE_ONLY = re.compile(r"\d{4}-\d{2}-\d{2}")


def is_text(dtype: pl.DataType) -> bool:
    """Whether a source column holds text (parsed) rather than a native type (cast)."""
    return dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Categorical | pl.Enum)


def _sniff(sample: pl.Series, kind: str) -> tuple[str, bool] | None:
    """The exact format most of the first sampled values are written in, or None."""
    values = sample.cast(pl.String).str.strip_chars().drop_nulls()
    values = values.filter(values.str.len_bytes() > 0).head(50).to_list()
    votes: Counter[tuple[str, bool]] = Counter()
    for value in values:
        if _DATE_ONLY.fullmatch(value):
            votes[("%Y-%m-%d", False)] += 1
            continue
        for rx, fmt, offset in _FAST:
            if rx.fullmatch(value):
                # a date column keeps the date part as written: offsets go the general way
                if not (offset and kind == "date"):
                    votes[(fmt, offset)] += 1
                break
    return votes.most_common(1)[0][0] if votes else None


def _fast_temporal(clean: pl.Expr, kind: str, sniffed: tuple[str, bool] | None) -> pl.Expr:
    target = DTYPES[kind]
    if sniffed is None:
        return pl.lit(None, dtype=target)
    fmt, offset = sniffed
    # cache=False: most values of a date/datetime column are distinct, so Polars'
    # cache of parsed strings costs more than it saves (about 30% more time)
    if fmt == "%Y-%m-%d":
        day = clean.str.to_date(fmt, strict=False, cache=False)
        return day if kind == "date" else day.cast(target)
    at = clean.str.to_datetime(fmt, strict=False, time_unit="us", cache=False)
    if offset:  # parsed as UTC-aware: store naive UTC
        at = at.dt.replace_time_zone(None)
    return at.dt.date() if kind == "date" else at


def _native(col: str, kind: str, dtype: pl.DataType) -> pl.Expr | None:
    """Cast a native (non-text) Parquet column, or None when its type cannot hold the kind."""
    c = pl.col(col)
    numeric = dtype.is_numeric()
    if kind in _TEXT_KINDS:
        if numeric or dtype == pl.Boolean or dtype.is_temporal():
            return c.cast(pl.String)
        return None
    if kind == "decimal":
        if not numeric:
            return None
        x = c.cast(pl.Float64, strict=False)
        return pl.when(x.is_finite()).then(x)
    if kind == "integer":
        if dtype.is_integer():
            return c.cast(pl.Int64, strict=False)
        if dtype.is_float() or dtype.is_decimal():
            x = c.cast(pl.Float64, strict=False)
            ok = x.is_finite() & (x == x.round(0)) & (x.abs() < 2.0**63)
            return pl.when(ok).then(x.cast(pl.Int64, strict=False))
        return None
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is not None:
            if kind == "date":  # the date part as written, in the column's own zone
                return c.dt.date()
            c = c.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        return c.dt.date() if kind == "date" else c.cast(pl.Datetime("us"))
    if dtype == pl.Date:
        return c if kind == "date" else c.cast(pl.Datetime("us"))
    return None


@dataclass(frozen=True)
class ColumnParser:
    """How one source column becomes one typed contract column.

    Expressions evaluated for all columns of a table at once: ``typed`` gives the
    typed value and ``blank`` is true where the source value is missing (null, or
    text empty once trimmed). A value that is not blank but has no typed value is
    invalid. ``trimmed`` says that ``typed`` and ``blank`` read the text as
    written, untrimmed (numbers and dates from text): values they miss must go
    through :func:`retry_trimmed`. ``padded`` (text kinds from text) is true where
    the text has surrounding whitespace: ``typed`` is then the text as written, and
    those values (normally none) go through :func:`trim_padded`; every other value
    is the source's own string, not a copy. ``slow`` says whether values still
    invalid then must go through :func:`fix_temporal`. ``typed`` is None when the
    whole column has a type that cannot hold the kind.
    """

    column: str
    kind: str
    typed: pl.Expr | None
    blank: pl.Expr
    slow: bool
    trimmed: bool = False
    padded: pl.Expr | None = None


def parser_for(column: str, kind: str, dtype: pl.DataType, sample: pl.Series, *,
               date_format: str = "", decimal_comma: bool = False) -> ColumnParser:
    """The parser of one source column (``sample``: a few of its first values, for dates).

    v3: ``date_format`` (a strftime format, ``load.date_format``) reads a date or datetime
    written in it instead of ISO 8601; ``decimal_comma`` reads ``10500,0`` as 10500.0.
    """
    if date_format and kind in ("date", "datetime") and is_text(dtype):
        text = pl.col(column).cast(pl.String)
        blank = text.is_null() | (text.str.strip_chars().str.len_bytes() == 0)
        clean = text.str.strip_chars()
        if any(code in date_format for code in ("%H", "%M", "%S", "%I")):
            at = clean.str.to_datetime(date_format, strict=False, time_unit="us")
            typed = at.dt.date() if kind == "date" else at
        else:  # a date format reads a date alone, or followed by a time
            at = pl.coalesce(
                clean.str.to_date(date_format, strict=False).cast(pl.Datetime("us")),
                *(clean.str.to_datetime(date_format + tail, strict=False, time_unit="us")
                  for tail in (" %H:%M:%S", "T%H:%M:%S", " %H:%M", "T%H:%M")))
            typed = at.dt.date() if kind == "date" else at
        return ColumnParser(column, kind, typed, blank, slow=False)
    if decimal_comma and kind in ("decimal", "integer") and is_text(dtype):
        text = pl.col(column).cast(pl.String)
        blank = text.is_null() | (text.str.strip_chars().str.len_bytes() == 0)
        dotted = text.str.strip_chars().str.replace(",", ".", literal=True)
        x = dotted.cast(pl.Float64, strict=False)
        if kind == "decimal":
            typed = pl.when(x.is_finite() & ~dotted.str.contains(r"\..*\.")).then(x)
        else:
            ok = x.is_finite() & (x == x.round(0)) & (x.abs() < 2.0**63)
            typed = pl.when(ok).then(x.cast(pl.Int64, strict=False))
        return ColumnParser(column, kind, typed, blank, slow=False)
    if not is_text(dtype):
        typed = _native(column, kind, dtype)
        blank = pl.col(column).is_null()
        if dtype.is_float():  # NaN is how pandas writes a missing number
            blank = blank | pl.col(column).is_nan()
        return ColumnParser(column, kind, typed, blank, slow=False)
    text = pl.col(column).cast(pl.String)
    blank = text.is_null() | (text.str.len_bytes() == 0)
    if kind in _TEXT_KINDS:
        # The text as written is kept (no copy of every string); only values with
        # surrounding whitespace are trimmed afterwards (trim_padded). Trimming only
        # drops bytes, so a value is padded exactly when its trimmed length differs.
        padded = text.str.strip_chars().str.len_bytes() != text.str.len_bytes()
        return ColumnParser(column, kind, text, blank, slow=False, padded=padded)
    # Numbers and dates are parsed from the text as written, not from a trimmed copy
    # of every value: a value with surrounding whitespace is missed here and parsed
    # again trimmed (retry_trimmed), which gives what parsing it trimmed gives.
    if kind == "decimal":
        x = text.cast(pl.Float64, strict=False)
        typed = pl.when(x.is_finite()).then(x)
        return ColumnParser(column, kind, typed, blank, slow=False, trimmed=True)
    if kind == "integer":
        i = text.cast(pl.Int64, strict=False)
        x = text.cast(pl.Float64, strict=False)
        ok = x.is_finite() & (x == x.round(0)) & (x.abs() < 2.0**63)
        typed = pl.coalesce(i, pl.when(ok).then(x.cast(pl.Int64, strict=False)))
        return ColumnParser(column, kind, typed, blank, slow=False, trimmed=True)
    fast = _fast_temporal(text, kind, _sniff(sample, kind))
    return ColumnParser(column, kind, fast, blank, slow=True, trimmed=True)


def trim_padded(
    typed: pl.Series, blank: pl.Series, padded: pl.Series
) -> tuple[pl.Series, pl.Series]:
    """``(typed, blank)`` with the ``padded`` values (surrounding whitespace) trimmed:
    null and blank where nothing is left. O(values padded) besides one copy of the
    string views when there is any.
    """
    idx = padded.fill_null(False).arg_true()
    if idx.is_empty():
        return typed, blank
    text = typed.gather(idx).str.strip_chars()
    empty = text.str.len_bytes() == 0
    if empty.any():
        blank = blank.scatter(idx.filter(empty), True)
        text = pl.select(pl.when(~empty).then(text)).to_series()
    return typed.scatter(idx, text), blank


def blank_to_null(typed: pl.Series, blank: pl.Series) -> pl.Series:
    """``typed`` with nulls where ``blank`` (trimmed text that is empty). O(values)."""
    if not bool((blank & typed.is_not_null()).any()):
        return typed
    return pl.select(pl.when(~blank).then(typed)).to_series().alias(typed.name)


def retry_trimmed(
    parser: ColumnParser, typed: pl.Series, blank: pl.Series, source: pl.Series
) -> tuple[pl.Series, pl.Series]:
    """Trim the values a ``trimmed`` parser missed and parse them again.

    Returns ``(typed, blank)`` with those values filled in: a value empty once
    trimmed is blank; the others get ``parser.typed`` of their trimmed text
    (still null where that fails). O(values missed).
    """
    idx = (~blank & typed.is_null()).arg_true()
    if idx.is_empty():
        return typed, blank
    text = source.gather(idx).cast(pl.String).str.strip_chars()
    empty = text.str.len_bytes() == 0
    if empty.any():
        blank = blank.scatter(idx.filter(empty), True)
        idx, text = idx.filter(~empty), text.filter(~empty)
    if idx.is_empty():
        return typed, blank
    again = pl.DataFrame({parser.column: text}).select(parser.typed).to_series()  # type: ignore[arg-type]
    ok = again.is_not_null()
    if ok.any():
        typed = typed.scatter(idx.filter(ok), again.filter(ok).cast(typed.dtype))
    return typed, blank


def _general_temporal(text: pl.Series, kind: str) -> pl.Series:
    """Parse ``text`` with the general ISO 8601 pattern; null where it does not match."""
    g = text.cast(pl.String).str.strip_chars().str.extract_groups(_ISO.pattern).struct.unnest()
    frame = g.with_columns(
        pl.col("h").fill_null("00"),
        pl.col("mi").fill_null("00"),
        pl.col("s").fill_null("00"),
        pl.col("f").fill_null("").str.slice(0, 6).str.pad_end(6, "0"),
    )
    canon = pl.format(
        "{}-{}-{}T{}:{}:{}.{}", *(pl.col(c) for c in ("y", "mo", "d", "h", "mi", "s", "f"))
    )
    local = canon.str.to_datetime("%Y-%m-%dT%H:%M:%S.%6f", strict=False, time_unit="us")
    if kind == "date":
        return frame.select(local.dt.date()).to_series()
    tz = pl.col("tz").str.replace(":", "", literal=True)
    hours = tz.str.slice(1, 2).cast(pl.Int64, strict=False)
    minutes = tz.str.slice(3, 2).cast(pl.Int64, strict=False).fill_null(0)
    sign = pl.when(tz.str.starts_with("-")).then(-1).otherwise(1)
    offset = (
        pl.when(tz.is_null() | tz.str.to_uppercase().eq("Z"))
        .then(0)
        .when((hours <= 23) & (minutes < 60))
        .then(sign * (hours * 60 + minutes))
    )
    utc = local - pl.duration(minutes=offset)
    return frame.select(utc).to_series()


def fix_temporal(typed: pl.Series, invalid: pl.Series, source: pl.Series, kind: str) -> pl.Series:
    """Parse the values the fast format missed (``invalid``) with the general pattern.

    Returns ``typed`` with those values filled in where they parse; the caller
    recomputes which values are still invalid.
    """
    idx = invalid.arg_true()
    if idx.is_empty():
        return typed
    parsed = _general_temporal(source.gather(idx), kind)
    ok = parsed.is_not_null()
    if not ok.any():
        return typed
    return typed.scatter(idx.filter(ok), parsed.filter(ok))
