"""Collecting validation failures and warnings as Polars frames.

A failure (or warning) is one row of :data:`FAILURE_SCHEMA`: ``table``,
``row`` (the line in the file, header = 1; null for a table-level problem),
``column``, ``value`` (as written, as text), ``rule`` (a reason code of
:class:`Rule`) and ``message`` (one sentence naming the rule). Checks hand
over whole frames built with Polars expressions; the :class:`Collector`
counts every problem and keeps at most ``cap`` of them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum

import polars as pl

__all__ = [
    "ERROR_RULES",
    "FAILURE_SCHEMA",
    "ROW_RULES",
    "STRUCTURAL_RULES",
    "WARNING_RULES",
    "Collector",
    "Rule",
    "empty_failures",
]

FAILURE_SCHEMA: dict[str, pl.DataType] = {
    "table": pl.String(),
    "row": pl.Int64(),
    "column": pl.String(),
    "value": pl.String(),
    "rule": pl.String(),
    "message": pl.String(),
}

class Rule(StrEnum):
    """The reason code of a failure or warning (the ``rule`` column holds its value).

    A member is a ``str``: ``Rule.NOT_NULL == "not_null"``; ``str(rule)`` is the code.
    """

    # structural: a whole table or column; no row can be judged, so they refuse
    # the load even with a quarantine
    MISSING_TABLE = "missing_table"
    AMBIGUOUS_TABLE = "ambiguous_table"
    UNREADABLE_FILE = "unreadable_file"
    MISSING_COLUMN = "missing_column"
    DUPLICATE_COLUMN = "duplicate_column"
    INVALID_COLUMN_TYPE = "invalid_column_type"
    WRONG_SEPARATOR = "wrong_separator"  # a one-column header that holds another separator
    EMPTY_TABLE = "empty_table"  # v2: an error for users, products, accounts; else a warning
    # one row
    NOT_NULL = "not_null"
    INVALID_TYPE = "invalid_type"
    INVALID_ENUM = "invalid_enum"
    NEGATIVE_AMOUNT = "negative_amount"
    AMOUNT_TOO_LARGE = "amount_too_large"  # more than schema.MAX_AMOUNT
    DUPLICATE_KEY = "duplicate_key"
    UNKNOWN_REFERENCE = "unknown_reference"
    REJECTED_REFERENCE = "rejected_reference"
    MISSING_LIMIT = "missing_limit"
    DATE_ORDER = "date_order"
    EMPTY_NORMALIZED = "empty_normalized"  # v2: an identifier that normalizes to nothing
    UNUSABLE_IDENTIFIER = "unusable_identifier"  # a masked or spreadsheet-shortened value
    TOO_LONG = "too_long"  # v3: an id longer than load.max_id_length
    # warnings
    UNKNOWN_TABLE = "unknown_table"
    UNKNOWN_COLUMN = "unknown_column"
    UNKNOWN_FREEZE_REASON = "unknown_freeze_reason"
    DUPLICATE_ROW = "duplicate_row"

    def __str__(self) -> str:
        return self.value


# The codes as plain strings (set operations with the ``rule`` column's values:
# an Enum member hashes by its name, not its value).
STRUCTURAL_RULES: tuple[str, ...] = tuple(
    r.value
    for r in (
        Rule.MISSING_TABLE,
        Rule.AMBIGUOUS_TABLE,
        Rule.UNREADABLE_FILE,
        Rule.MISSING_COLUMN,
        Rule.DUPLICATE_COLUMN,
        Rule.INVALID_COLUMN_TYPE,
        Rule.WRONG_SEPARATOR,
        Rule.EMPTY_TABLE,
    )
)
WARNING_RULES: tuple[str, ...] = tuple(
    r.value
    for r in (
        Rule.UNKNOWN_TABLE,
        Rule.UNKNOWN_COLUMN,
        Rule.UNKNOWN_FREEZE_REASON,
        Rule.DUPLICATE_ROW,
        Rule.EMPTY_TABLE,
    )
)
ROW_RULES: tuple[str, ...] = tuple(
    r.value for r in Rule if r.value not in STRUCTURAL_RULES and r.value not in WARNING_RULES
)
ERROR_RULES: tuple[str, ...] = STRUCTURAL_RULES + ROW_RULES


def empty_failures() -> pl.DataFrame:
    return pl.DataFrame(schema=FAILURE_SCHEMA)


@dataclass
class Collector:
    """Counts every problem handed over and keeps the first ``cap`` of each check.

    ``cap=None`` keeps everything (a quarantine needs every rejected row).
    """

    cap: int | None
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    structural_first: bool = False  # v3: errors list what refuses the load first
    _frames: list[pl.DataFrame] = field(default_factory=list)

    def add(self, frame: pl.DataFrame, total: int | None = None) -> None:
        """Add the problems of one check (``frame`` may already be capped; ``total`` counts all)."""
        if frame.is_empty():
            return
        frame = frame.select(
            (
                pl.col(name).cast(dtype) if name in frame.columns else pl.lit(None, dtype=dtype)
            ).alias(name)
            for name, dtype in FAILURE_SCHEMA.items()
        )
        if total is None or total == frame.height:
            for table, rule, n in frame.group_by("table", "rule").len().iter_rows():
                self.counts[(table, rule)] += n
        else:
            (table,) = frame["table"].unique().to_list()
            (rule,) = frame["rule"].unique().to_list()
            self.counts[(table, rule)] += total
        self._frames.append(frame if self.cap is None else frame.head(self.cap))

    def one(
        self,
        table: str,
        rule: Rule,
        message: str,
        *,
        row: int | None = None,
        column: str | None = None,
        value: str | None = None,
    ) -> None:
        """Add a single problem (a table- or column-level one)."""
        self.add(
            pl.DataFrame(
                [[table], [row], [column], [value], [str(rule)], [message]],
                schema=FAILURE_SCHEMA,
                orient="col",
            )
        )

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def rules(self) -> set[str]:
        return {rule for _table, rule in self.counts}

    def of(self, table: str) -> pl.DataFrame:
        """The kept problems of one table."""
        frames = [f for f in self._frames if f["table"][0] == table]
        if not frames:
            return empty_failures()
        return pl.concat(frames, how="vertical").filter(pl.col("table") == table)

    def all(self) -> pl.DataFrame:
        """Every kept problem, in file order: table order, then row, then column."""
        if not self._frames:
            return empty_failures()
        return pl.concat(self._frames, how="vertical")

    def frame(
        self, table_order: dict[str, int], column_order: dict[tuple[str, str], int]
    ) -> pl.DataFrame:
        """The kept problems, sorted by table, row and column position, and capped."""
        frame = self.all()
        if frame.is_empty():
            return frame
        positions = pl.DataFrame(
            [(t, c, i) for (t, c), i in column_order.items()],
            schema={"table": pl.String, "column": pl.String, "_c": pl.Int64},
            orient="row",
        )
        order = frame.with_columns(
            pl.col("table").replace_strict(table_order, default=len(table_order)).alias("_t")
        ).join(positions, on=["table", "column"], how="left", nulls_equal=True)
        # v3: the problems that refuse the load (structural) first, never cut by row errors
        order = order.with_columns(
            (~pl.col("rule").is_in(STRUCTURAL_RULES) | (not self.structural_first)).alias("_s"))
        order = order.sort("_s", "_t", "row", "_c", "rule", nulls_last=False,
                           maintain_order=True)
        structural = int((~order.get_column("_s")).sum())
        order = order.drop("_t", "_c", "_s")
        return order if self.cap is None else order.head(max(self.cap, structural))

    def summary(self) -> pl.DataFrame:
        """Counts per table and rule: columns table, rule, count."""
        return pl.DataFrame(
            [(t, r, n) for (t, r), n in sorted(self.counts.items())],
            schema={"table": pl.String, "rule": pl.String, "count": pl.Int64},
            orient="row",
        )
