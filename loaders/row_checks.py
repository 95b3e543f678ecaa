"""The row rules of one table: each column parsed to its contract type, then the checks
of each cell (not_null, invalid_type, invalid_enum, negative_amount, too_long) and of each
row (missing_limit, date_order), reported through :class:`_Emitter` as failure rows.

:func:`xpg.loaders.validate.check_table` runs them, then its whole-table checks
(duplicate rows and keys, freeze reasons); the rules and their reason codes are listed
in ``docs/data-contract.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl
from xpg.loaders import messages as say
from xpg.loaders.failures import Collector, Rule
from xpg.loaders.mapping import TableMapping
from xpg.loaders.parse import (
    EXPECTED,
    ColumnParser,
    blank_to_null,
    fix_temporal,
    parser_for,
    retry_trimmed,
    trim_padded,
)
from xpg.loaders.read import ROW, TableFile
from xpg.loaders.schema import MAX_AMOUNT, Table

__all__ = ["DATE_ORDER"]

# Pairs (earlier, later) of columns whose values must not go backwards in time.
DATE_ORDER: dict[str, tuple[tuple[str, str], ...]] = {
    "devices": (("first_seen", "last_seen"),),
    "identifiers": (("first_seen", "last_seen"),),
    "external_loans": (("opened_at", "closed_at"),),
}
_SAMPLE = 10_000
class _Emitter:
    """Turns a boolean mask over a table into failure rows of one rule."""

    def __init__(self, sink: Collector, table: str, rows: pl.Series, display: dict[str, str]):
        self.sink, self.table, self.rows, self.display = sink, table, rows, display

    def __call__(
        self,
        mask: pl.Series,
        rule: Rule,
        message: str | pl.Expr,
        *,
        column: str | None = None,
        values: pl.Series | None = None,
        extra: Mapping[str, pl.Series] | None = None,
    ) -> None:
        """``message`` may use the columns ``value`` and those of ``extra`` (gathered rows)."""
        mask = mask.fill_null(False)
        total = int(mask.sum())
        if total == 0:
            return
        idx = mask.arg_true()
        if self.sink.cap is not None:
            idx = idx.head(self.sink.cap)
        cols: dict[str, pl.Series] = {"row": self.rows.gather(idx)}
        if values is None:
            cols["value"] = pl.Series("value", [None] * len(idx), dtype=pl.String)
        else:
            cols["value"] = values.gather(idx).cast(pl.String)
        for name, series in (extra or {}).items():
            cols[name] = series.gather(idx).cast(pl.String)
        frame = pl.DataFrame(cols).select(
            pl.lit(self.table).alias("table"),
            "row",
            pl.lit(self.display.get(column, column) if column else None, dtype=pl.String).alias(
                "column"
            ),
            "value",
            pl.lit(str(rule)).alias("rule"),
            (message if isinstance(message, pl.Expr) else pl.lit(message)).alias("message"),
        )
        self.sink.add(frame, total=total)


def _parsers(
    table: Table, raw: pl.DataFrame, display: dict[str, str], errors: Collector,
    formats: Mapping[str, str] | None = None, decimal_comma: bool = False,
) -> dict[str, ColumnParser]:
    """A parser per contract column present with a usable type (the others are reported).

    ``formats``: a date format per date column (v3, "" for ISO 8601); ``decimal_comma``
    reads ``10500,0`` as a number."""
    parsers = {}
    formats = formats or {}
    for col in table.columns:
        if col.name not in raw.columns:
            continue
        src = raw.get_column(col.name)
        parser = parser_for(col.name, col.kind, src.dtype, src.head(_SAMPLE),
                            date_format=formats.get(col.name) or "",
                            decimal_comma=decimal_comma)
        if parser.typed is None:
            errors.one(
                table.name,
                Rule.INVALID_COLUMN_TYPE,
                f"column {display[col.name]} has the type {src.dtype} in the file, "
                f"which cannot hold {EXPECTED[col.kind]}",
                column=col.name,
                value=str(src.dtype),
            )
            continue
        parsers[col.name] = parser
    return parsers


def _parse(
    raw: pl.DataFrame, parsers: dict[str, ColumnParser]
) -> tuple[dict[str, pl.Series], dict[str, pl.Series]]:
    """The typed value of every parsed column, and where its source value is blank.

    One parallel pass over all columns (read as written, untrimmed), then the few
    values that pass missed: text with surrounding whitespace trimmed, numbers and
    dates trimmed and parsed again, then the general datetime pattern.
    """
    parsed = raw.select(
        pl.col(ROW),
        *(p.typed.alias(c) for c, p in parsers.items()),  # type: ignore[union-attr]
        *(p.blank.alias(f"blank:{c}") for c, p in parsers.items()),
        *(p.padded.alias(f"padded:{c}") for c, p in parsers.items() if p.padded is not None),
    )
    typed_cols: dict[str, pl.Series] = {}
    blank: dict[str, pl.Series] = {}
    for c, p in parsers.items():
        values = parsed.get_column(c)
        blank[c] = parsed.get_column(f"blank:{c}")
        if p.trimmed:
            values, blank[c] = retry_trimmed(p, values, blank[c], raw.get_column(c))
        elif p.padded is not None:
            values, blank[c] = trim_padded(values, blank[c], parsed.get_column(f"padded:{c}"))
            values = blank_to_null(values, blank[c])
        invalid = ~blank[c] & values.is_null()
        if p.slow and invalid.any():
            values = fix_temporal(values, invalid, raw.get_column(c), p.kind)
        typed_cols[c] = values
    return typed_cols, blank


def _cell_rules(
    emit: _Emitter,
    table: Table,
    raw: pl.DataFrame,
    typed_cols: dict[str, pl.Series],
    blank: dict[str, pl.Series],
    messages: Mapping[tuple[str, str], str],
    hints: _Hints | None = None,
) -> None:
    """not_null, invalid_type, invalid_enum, negative_amount, amount_too_large and too_long
    (``messages``: the message of a rule on a column, where the configuration's mapping says
    more; ``hints``: the settings named in a message, v3)."""
    hints = hints or _Hints(None, None, 256)
    for col in table.columns:
        c = col.name
        if c not in typed_cols:
            continue
        source, values = raw.get_column(c), typed_cols[c]
        if col.required:
            emit(
                blank[c],
                Rule.NOT_NULL,
                say.not_null(c),
                column=c,
                values=source,
            )
        if col.kind not in ("id", "string", "enum"):
            emit(
                ~blank[c] & values.is_null(),
                Rule.INVALID_TYPE,
                messages.get((Rule.INVALID_TYPE.value, c))
                or say.invalid_type(c, col.kind, hints.table),
                column=c,
                values=source,
            )
        if col.values:
            emit(
                values.is_not_null() & ~values.is_in(list(col.values)),
                Rule.INVALID_ENUM,
                messages.get((Rule.INVALID_ENUM.value, c))
                or say.invalid_enum(table.name, c, col.values),
                column=c,
                values=source,
            )
        if col.non_negative:
            emit(values < 0, Rule.NEGATIVE_AMOUNT, say.negative_amount(c), column=c, values=source)
            emit(values > MAX_AMOUNT, Rule.AMOUNT_TOO_LARGE, say.amount_too_large(c), column=c,
                 values=source)
        if col.kind == "id" and values.dtype == pl.String:
            long = values.str.len_chars() > hints.max_id_length
            if long.any():
                emit(long, Rule.TOO_LONG, say.too_long(c, hints.max_id_length), column=c,
                    values=source.cast(pl.String).str.slice(0, 100),
                    extra={"length": values.str.len_chars()})


@dataclass(frozen=True)
class _Hints:
    """What a message needs to name the setting that fixes a value (v3)."""

    tf: TableFile | None
    mapping: TableMapping | None
    max_id_length: int

    @property
    def table(self) -> str | None:
        return None if self.tf is None else self.tf.table


def _row_rules(
    emit: _Emitter,
    table: Table,
    raw: pl.DataFrame,
    typed_cols: dict[str, pl.Series],
    blank: dict[str, pl.Series],
) -> None:
    """missing_limit (limit_change events) and date_order, within one row."""
    if table.name == "account_events" and "event" in typed_cols:
        is_change = typed_cols["event"] == "limit_change"
        for c in ("old_limit", "new_limit"):
            if c in raw.columns and c not in typed_cols:
                continue  # the column's type is unusable: reported already
            missing = blank[c] if c in blank else pl.repeat(True, raw.height, eager=True)
            emit(
                is_change & missing,
                Rule.MISSING_LIMIT,
                say.missing_limit(c),
                column=c,
            )
    for earlier, later in DATE_ORDER.get(table.name, ()):
        if earlier in typed_cols and later in typed_cols:
            emit(
                typed_cols[later] < typed_cols[earlier],
                Rule.DATE_ORDER,
                say.date_order(later, earlier),
                column=later,
                values=raw.get_column(later),
                extra={"earlier": raw.get_column(earlier)},
            )


