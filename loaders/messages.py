"""The message of each row rule (:class:`~xpg.loaders.failures.Rule`), written once.

The loader's checks (:mod:`xpg.loaders.validate`, :mod:`xpg.loaders.references`) and the
Spark backend's (:mod:`xpg.graph.spark.validate`, which finds the failing rows on the
executors and words the sample it brings back to the driver with these same functions)
both word a failure here. A message is a plain string, or a Polars expression over a
frame of the failing rows: ``value`` (the value as written) and the extra columns each
function names (``kind``, ``why``, ``length``, ``earlier``, ``first``).
"""

from __future__ import annotations

import polars as pl
from xpg.loaders.parse import EXPECTED
from xpg.loaders.schema import MAX_AMOUNT

__all__ = [
    "amount_too_large",
    "date_order",
    "duplicate_key",
    "duplicate_row",
    "empty_normalized",
    "invalid_enum",
    "invalid_type",
    "missing_limit",
    "negative_amount",
    "not_null",
    "quoted",
    "refusal",
    "rejected_reference",
    "too_long",
    "unknown_reference",
    "unusable_identifier",
]


def refusal(source: object, counts: pl.DataFrame, total: int) -> str:
    """The sentence that refuses a load: how many problems, per table (in ``order``) and
    rule (``counts``: ``table``, ``rule``, ``count``)."""
    from xpg.loaders.read import TABLE_ORDER

    parts = []
    for table in TABLE_ORDER:
        sub = counts.filter(pl.col("table") == table)
        if sub.height:
            rules = ", ".join(f"{r} {n}" for r, n in sub.select("rule", "count").iter_rows())
            parts.append(f"{table} ({rules})")
    return (f"{source}: {total} problem{'s' if total != 1 else ''} with the data contract "
            f"in {'; '.join(parts)}; nothing was loaded")


def quoted(expr: pl.Expr) -> pl.Expr:
    """A value quoted for a message (``'x'``)."""
    return pl.format("'{}'", expr)


def not_null(column: str) -> str:
    return f"{column} is required and must not be empty"


def negative_amount(column: str) -> str:
    return f"{column} must be >= 0"


def amount_too_large(column: str) -> str:
    return (f"{column} must be at most {MAX_AMOUNT:,}; an amount that large is a broken "
            "export (an amount in cents, a shifted column)")


def missing_limit(column: str) -> str:
    return f"{column} is required for a limit_change event"


def invalid_enum(table: str, column: str, values: tuple[str, ...]) -> str:
    return (f"{column} must be one of {', '.join(values)}; map an export's own word: "
            f'[load.mapping.{table}.values.{column}] "WORD" = "{values[0]}"')


def too_long(column: str, max_id_length: int) -> pl.Expr:
    """Reads ``length`` (the id's length in characters)."""
    return pl.format(
        f"{column} is {{}} characters long, more than load.max_id_length "
        f"({max_id_length}); an id that long is a broken export (the value "
        "is shown cut)", pl.col("length"))


def date_order(later: str, earlier: str) -> pl.Expr:
    """Reads ``earlier`` (the earlier column's value as written)."""
    return pl.format(f"{later} is before {earlier} ({{}})", pl.col("earlier"))


def unusable_identifier() -> pl.Expr:
    """Reads ``value``, ``kind`` and ``why`` (:func:`xpg.loaders.normalize.unusable_reason`)."""
    return pl.format(
        "value {} of kind {} {}: it cannot link users; export the full values (or leave the "
        "kind out; --quarantine loads the other rows)", quoted(pl.col("value").str.slice(0, 100)),
        quoted(pl.col("kind")), pl.col("why"))


def empty_normalized() -> pl.Expr:
    """Reads ``value`` and ``kind``."""
    return pl.format(
        "value {} of kind {} normalizes to nothing (see the data contract's normalization)",
        quoted(pl.col("value").str.slice(0, 100)),
        quoted(pl.col("kind")),
    )


def duplicate_key(key: str) -> pl.Expr:
    """Reads ``value`` and ``first`` (the row the key is first on)."""
    return pl.format(f"{key} {{}} is not unique: first on row {{}}", quoted(pl.col("value")),
                     "first")


def duplicate_row(dropped: bool) -> pl.Expr:
    """Reads ``first`` (the row it repeats)."""
    return pl.format(f"exact duplicate of row {{}}; {'dropped' if dropped else 'kept'}",
                     "first")


def unknown_reference(column: str, target: str) -> pl.Expr:
    """Reads ``value``."""
    return pl.format(f"{column} {{}} does not exist in {target}", quoted(pl.col("value")))


def rejected_reference(column: str, target: str) -> pl.Expr:
    """Reads ``value``."""
    return pl.format(f"{column} {{}} refers to a rejected row of {target}",
                     quoted(pl.col("value")))


# -- invalid_type: the plain sentence, or one that names the setting that reads the value

# 1,234.50 or 12,345: digits grouped in threes by commas
_THOUSANDS = r"^\s*[-+]?\d{1,3}(?:,\d{3})+(?:\.\d*)?\s*$"
# 10500,0 or -3,5: a decimal comma
_DECIMAL_COMMA = r"^\s*[-+]?\d*,\d+\s*$"
# dates in another format: (pattern, strftime format); the day-first and month-first
# readings of 05/06/2026 are told apart by a part above 12
_TIME = r"(?:[ T]\d{1,2}:\d{2}(?::\d{2})?)?\s*$"
_DATE_FORMATS = (
    (r"^\s*\d{4}/\d{1,2}/\d{1,2}", "%Y/%m/%d"),
    (r"^\s*\d{4}\.\d{1,2}\.\d{1,2}", "%Y.%m.%d"),
    (r"^\s*\d{1,2}/(?:1[3-9]|2\d|3[01])/\d{4}", "%m/%d/%Y"),
    (r"^\s*\d{1,2}/\d{1,2}/\d{4}", "%d/%m/%Y"),
    (r"^\s*\d{1,2}\.\d{1,2}\.\d{4}", "%d.%m.%Y"),
    (r"^\s*\d{1,2}-\d{1,2}-\d{4}", "%d-%m-%Y"),
    (r"^\s*\d{8}", "%Y%m%d"),
)


def _setting_line(table: str | None, option: str, value: str) -> str:
    if table is None:
        return f"load.{option} = {value}"
    return f"[load.per_table.{table}] {option} = {value} (or load.{option} for every table)"


def invalid_type(column: str, kind: str, table: str | None = None) -> str | pl.Expr:
    """``<column> must be <kind>``; for a number written with thousands separators or a
    decimal comma, and a date in another format, says so and names the setting (v3).
    Reads ``value``."""
    plain = f"{column} must be {EXPECTED[kind]}"
    value = pl.col("value")
    if kind in ("date", "datetime"):
        out = pl.lit(plain)
        for pattern, fmt in reversed(_DATE_FORMATS):
            # a date format reads a time after the date too: the date part is the setting
            line = _setting_line(table, "date_format", f'"{fmt}"')
            out = pl.when(value.str.contains(pattern + _TIME)).then(
                pl.lit(f"{plain}; the value looks like the format {fmt}: set {line}")
            ).otherwise(out)
        return out
    if kind not in ("decimal", "integer"):
        return plain
    comma = _setting_line(table, "decimal_comma", "true")
    return (
        pl.when(value.str.contains(_THOUSANDS) & ~value.str.contains(".", literal=True))
        .then(
            pl.format(
                f"{plain}: thousands separators are not allowed (write {{}}); if the comma "
                f"is the decimal mark, set {comma}",
                value.str.strip_chars().str.replace_all(",", "", literal=True),
            )
        )
        .when(value.str.contains(_THOUSANDS))
        .then(
            pl.format(
                f"{plain}: thousands separators are not allowed (write {{}})",
                value.str.strip_chars().str.replace_all(",", "", literal=True),
            )
        )
        .when(value.str.contains(_DECIMAL_COMMA))
        .then(pl.lit(f"{plain}: the value has a decimal comma; set {comma}"))
        .otherwise(pl.lit(plain))
    )
