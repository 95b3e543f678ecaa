"""The loader's checks in Spark, for tables Spark reads from a URI: failures as data.

:func:`validate_tables` reads ``<table>.parquet`` under a URI (a file or a folder of part
files) with each row's file and its row in that file (Parquet's ``_metadata``: the row
number is the row index + 2, as the loader numbers a file's rows, header = 1), and runs on
the executors the row rules of :mod:`xpg.loaders.validate` and
:mod:`xpg.loaders.references` with their reason codes (:class:`~xpg.loaders.failures.Rule`):
``not_null``, ``invalid_type``, ``invalid_enum``, ``negative_amount``, ``too_long``,
``missing_limit``, ``date_order``, ``duplicate_key``, ``unknown_reference``,
``unusable_identifier`` and ``empty_normalized`` (the identifiers are normalized as the
loader does, :mod:`xpg.graph.spark.normalize`), and the ``duplicate_row`` warning (an exact
repeat of an earlier row; dropped except in ``external_loans``, as the loader does);
``missing_table`` and ``missing_column`` are found on the driver.

The failures stay in Spark: one aggregation counts them per table and rule, one sorted
``limit`` brings back the first ``load.max_errors`` in the loader's order (table, file,
row, column, rule), and only those are worded on the driver, by the loader's own message
functions (:mod:`xpg.loaders.messages`). :class:`SparkValidation` holds the counts, that
sample (the loader's failure columns plus ``file``) and the clean tables.

Not checked here (the loader's settings for reading text files: column renames and
mappings, date formats, decimal commas; and the ``unknown_column`` and
``unknown_freeze_reason`` warnings): Parquet under a URI has the contract's names and
types, and extra columns are dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import polars as pl
from xpg.loaders import messages as say
from xpg.loaders.failures import FAILURE_SCHEMA, Rule
from xpg.loaders.read import TABLE_ORDER
from xpg.loaders.schema import MAX_AMOUNT, TABLES
from xpg.loaders.validate import DATE_ORDER, SET_TABLES

from xpg.errors import InputError, ValidationError

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

__all__ = ["SAMPLE_SCHEMA", "SparkValidation", "validate_tables"]

SAMPLE_SCHEMA: dict[str, pl.DataType] = {**FAILURE_SCHEMA, "file": pl.String()}
"""The loader's failure columns, and the file (its name) the row is in."""

_EXTRA = ("kind", "why", "length", "earlier", "first")
"""What a message reads besides ``value`` (:mod:`xpg.loaders.messages`)."""
_TYPES = {"id": "string", "string": "string", "enum": "string", "date": "date",
          "datetime": "timestamp_ntz", "decimal": "double", "integer": "bigint"}


@dataclass
class SparkValidation:
    """What :func:`validate_tables` found.

    ``counts``: ``table``, ``rule``, ``count`` over every failure (errors) and
    ``warning_counts`` over every warning; ``failures``/``warnings``: the first
    ``cap`` of each in the loader's order (:data:`SAMPLE_SCHEMA`); ``tables``: the
    contract tables, typed, exact repeats dropped, identifiers normalized (with
    ``value_raw``), each row with its ``_file`` and ``_row`` (rows that break a rule
    are still in them).
    """

    source: str
    counts: pl.DataFrame
    failures: pl.DataFrame
    warning_counts: pl.DataFrame
    warnings: pl.DataFrame
    tables: dict[str, DataFrame] = field(default_factory=dict)

    @property
    def failure_total(self) -> int:
        return int(self.counts.get_column("count").sum())

    @property
    def warning_total(self) -> int:
        return int(self.warning_counts.get_column("count").sum())

    @property
    def valid(self) -> bool:
        return self.failure_total == 0

    def error(self) -> ValidationError:
        """The :class:`~xpg.errors.ValidationError` the loader would raise (its
        ``failures`` with a ``file`` column, its ``counts`` attached)."""
        n = self.failure_total
        error = ValidationError(say.refusal(self.source, self.counts, n),
                                failures=self.failures, total=n)
        error.counts = self.counts  # type: ignore[attr-defined]
        return error


class _Checks:
    """The failure rows of one table, as Spark DataFrames of one layout."""

    def __init__(self, table: str, frame: DataFrame):
        from pyspark.sql import functions as F

        self.table, self.frame, self.F = table, frame, F
        self.parts: list[DataFrame] = []

    def add(self, mask: Column, rule: Rule, column: str | None, value: Column | None = None,
            **extra: Column) -> None:
        F = self.F
        cols = [F.lit(self.table).alias("table"), F.col("_file").alias("file"),
                F.col("_row").alias("row"), F.lit(column).cast("string").alias("column"),
                (value.cast("string") if value is not None else F.lit(None).cast("string"))
                .alias("value"), F.lit(str(rule)).alias("rule")]
        cols += [(extra[e].cast("string") if e in extra else F.lit(None).cast("string"))
                 .alias(e) for e in _EXTRA]
        self.parts.append(self.frame.where(mask).select(*cols))


def _read(spark: SparkSession, path: str) -> DataFrame:
    from pyspark.sql import functions as F

    raw = spark.read.parquet(path)
    return raw.select(*(F.col(f"`{c}`") for c in raw.columns),
                      F.col("_metadata.file_name").alias("_file"),
                      (F.col("_metadata.row_index") + 2).alias("_row"))


def _typed(raw: DataFrame, table: str) -> tuple[DataFrame, dict[str, tuple[Column, Column]]]:
    """``raw`` with the contract's columns typed (text trimmed, blank null; a value that
    does not cast null) and, per column, (blank, written as text)."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType

    types = dict(raw.dtypes)
    typed, info = [], {}
    for col in TABLES[table].columns:
        if col.name not in types:
            typed.append(F.lit(None).cast(_TYPES[col.kind]).alias(col.name))
            continue
        src = F.col(col.name)
        if isinstance(raw.schema[col.name].dataType, StringType):
            text = F.trim(src)
            blank = src.isNull() | (F.length(text) == 0)
            value = F.when(~blank, text)
        else:
            blank, value = src.isNull(), src
        if _TYPES[col.kind] != "string" or types[col.name] != "string":
            value = value.try_cast(_TYPES[col.kind])  # a value that does not cast: null
        typed.append(value.alias(col.name))
        info[col.name] = (blank, src.cast("string"))
    return raw.select(*typed, "_file", "_row"), info


def validate_tables(
    spark: SparkSession,
    root: str,
    *,
    region: str = "CN",
    cap: int = 1000,
    max_id_length: int = 256,
) -> SparkValidation:
    """Read and check every contract table under ``root`` (see the module)."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F
    from xpg.graph.spark.normalize import normalized
    from xpg.graph.spark.tables import path_exists

    base = root.rstrip("/")
    structural: list[tuple[Any, ...]] = []
    errors: list[DataFrame] = []
    warnings: list[DataFrame] = []
    typed_tables: dict[str, DataFrame] = {}
    for table in TABLE_ORDER:
        spec = TABLES[table]
        path = f"{base}/{table}.parquet"
        if not path_exists(spark, path):
            if spec.required:
                structural.append((table, None, None, None, str(Rule.MISSING_TABLE),
                                   f"required table {table} is missing: no {table}.parquet "
                                   f"under {root}", None))
            continue
        raw = _read(spark, path)
        missing = [c.name for c in spec.columns if c.required and c.name not in raw.columns]
        for c in missing:
            structural.append((table, None, c, None, str(Rule.MISSING_COLUMN),
                               f"required column {c} is missing", None))
        if missing:
            continue
        typed, info = _typed(raw, table)
        if table == "identifiers":
            typed = normalized(typed, region)
        typed = typed.localCheckpoint(eager=True)
        checks = _Checks(table, typed.join(
            raw.select("_file", "_row", *(info[c][1].alias(f"_w_{c}") for c in info)),
            ["_file", "_row"]))
        written = {c: F.col(f"_w_{c}") for c in info}
        blank = {c: F.col(c).isNull() & (F.col(f"_w_{c}").isNull()
                                          | (F.length(F.trim(F.col(f"_w_{c}"))) == 0))
                 for c in info}
        for col in spec.columns:
            c = col.name
            if c not in info:
                continue
            if col.required:
                checks.add(blank[c], Rule.NOT_NULL, c, written[c])
            if col.kind not in ("id", "string", "enum"):
                checks.add(~blank[c] & F.col(c).isNull(), Rule.INVALID_TYPE, c, written[c])
            if col.values:
                checks.add(F.col(c).isNotNull() & ~F.col(c).isin(list(col.values)),
                           Rule.INVALID_ENUM, c, written[c])
            if col.non_negative:
                checks.add(F.col(c) < 0, Rule.NEGATIVE_AMOUNT, c, written[c])
                checks.add(F.col(c) > MAX_AMOUNT, Rule.AMOUNT_TOO_LARGE, c, written[c])
            if col.kind == "id":
                checks.add(F.length(c) > max_id_length, Rule.TOO_LONG, c,
                           F.substring(written[c], 1, 100), length=F.length(c))
        if table == "account_events":
            for c in ("old_limit", "new_limit"):
                missing_value = blank[c] if c in blank else F.lit(True)
                checks.add((F.col("event") == "limit_change") & missing_value,
                           Rule.MISSING_LIMIT, c)
        for earlier, later in DATE_ORDER.get(table, ()):
            if earlier in info and later in info:
                checks.add(F.col(later) < F.col(earlier), Rule.DATE_ORDER, later,
                           written[later], earlier=written[earlier])
        if table == "identifiers":
            checks.add(F.col("why").isNotNull(), Rule.UNUSABLE_IDENTIFIER, "value",
                       written["value"], kind=F.col("kind"), why=F.col("why"))
            checks.add(F.col("value_raw").isNotNull() & F.col("value").isNull()
                       & F.col("why").isNull(), Rule.EMPTY_NORMALIZED, "value",
                       written["value"], kind=F.col("kind"))
        errors += checks.parts
        # exact repeats of an earlier row (a warning), then repeated keys (an error)
        # identifiers: the value as written too (two spellings of one phone are two rows)
        contract = [c.name for c in spec.columns] + (
            ["value_raw"] if table == "identifiers" else [])
        order = Window.partitionBy(*contract).orderBy("_file", "_row")
        seen = typed.withColumn("_n", F.row_number().over(order)) \
            .withColumn("_first", F.min("_row").over(order.rowsBetween(
                Window.unboundedPreceding, Window.unboundedFollowing)))
        dups = _Checks(table, seen)
        dups.add(F.col("_n") > 1, Rule.DUPLICATE_ROW, None, first=F.col("_first"))
        warnings += dups.parts
        kept = seen.where(F.col("_n") == 1) if table in SET_TABLES else seen
        if spec.key:
            (key,) = spec.key
            by_key = Window.partitionBy(key).orderBy("_file", "_row")
            distinct = seen.where(F.col("_n") == 1).where(F.col(key).isNotNull())
            keyed = distinct.withColumn("_k", F.row_number().over(by_key)).withColumn(
                "_kfirst", F.min("_row").over(by_key.rowsBetween(
                    Window.unboundedPreceding, Window.unboundedFollowing))).join(
                raw.select("_file", "_row", F.col(key).cast("string").alias("_wkey")),
                ["_file", "_row"])
            keys = _Checks(table, keyed)
            keys.add(F.col("_k") > 1, Rule.DUPLICATE_KEY, key, F.col("_wkey"),
                     first=F.col("_kfirst"))
            errors += keys.parts
        typed_tables[table] = kept.drop("_n", "_first")
    for table in TABLE_ORDER:  # references, once every table is read
        if table not in typed_tables:
            continue
        for ref in TABLES[table].references:
            if ref.table not in typed_tables:
                continue
            target = typed_tables[ref.table].select(F.col(ref.target).alias("_key")).distinct()
            frame = typed_tables[table].where(F.col(ref.column).isNotNull())
            absent = frame.join(target, F.col(ref.column) == F.col("_key"), "left_anti")
            refs = _Checks(table, absent)
            refs.add(F.lit(True), Rule.UNKNOWN_REFERENCE, ref.column, F.col(ref.column))
            errors += refs.parts
    counts, sample = _gather(errors, structural, cap, max_id_length)
    warning_counts, warning_sample = _gather(warnings, [], cap, max_id_length)
    tables = {t: f.drop(*(("why",) if t == "identifiers" else ()))
              for t, f in typed_tables.items()}
    return SparkValidation(root, counts, sample, warning_counts, warning_sample, tables)


_POS = {t: i for i, t in enumerate(TABLE_ORDER)}
_COL = {(t, c.name): i for t in TABLES for i, c in enumerate(TABLES[t].columns)}


def _gather(parts: list[DataFrame], structural: list[tuple[Any, ...]], cap: int,
            max_id_length: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Counts per table and rule of ``parts`` (one aggregation) and their first ``cap`` rows
    in the loader's order, worded; ``structural`` problems first, never cut."""
    from functools import reduce

    from pyspark.sql import functions as F

    count_schema = {"table": pl.String, "rule": pl.String, "count": pl.Int64}
    counted = [(t, r, 1) for t, _, _, _, r, _, _ in structural]
    rows: list[dict[str, Any]] = []
    if parts:
        union = reduce(lambda a, b: a.unionByName(b), parts).cache()
        counted += [(r["table"], r["rule"], int(r["count"]))
                    for r in union.groupBy("table", "rule").count().collect()]
        table_pos = F.create_map(*(x for t, i in _POS.items() for x in (F.lit(t), F.lit(i))))
        col_pos = F.create_map(*(x for (t, c), i in _COL.items()
                                 for x in (F.lit(f"{t}.{c}"), F.lit(i))))
        ordered = union.orderBy(table_pos[F.col("table")], "file", "row",
                                col_pos[F.concat_ws(".", "table", "column")], "rule")
        rows = [r.asDict() for r in ordered.limit(cap).collect()]
        union.unpersist()
    counts = pl.DataFrame(counted, schema=count_schema, orient="row").group_by(
        "table", "rule").agg(pl.col("count").sum()).sort("table", "rule")
    first = pl.DataFrame(
        [dict(zip(("table", "file", "row", "column", "value", "rule", "message"),
                  (t, f, r, c, v, rule, m), strict=True))
         for t, r, c, v, rule, m, f in structural],
        schema={"table": pl.String, "file": pl.String, "row": pl.Int64, "column": pl.String,
                "value": pl.String, "rule": pl.String, "message": pl.String})
    worded = _worded(pl.DataFrame(rows, schema={
        "table": pl.String, "file": pl.String, "row": pl.Int64, "column": pl.String,
        "value": pl.String, "rule": pl.String, **dict.fromkeys(_EXTRA, pl.String)}),
        max_id_length)
    sample = pl.concat([first.select(*SAMPLE_SCHEMA), worded.select(*SAMPLE_SCHEMA)])
    return counts, sample.head(max(cap, len(structural)))


def _message(rule: str, table: str, column: str, max_id_length: int) -> str | pl.Expr:
    """The loader's message for ``rule`` on ``table.column`` (:mod:`xpg.loaders.messages`)."""
    col = next((c for c in TABLES[table].columns if c.name == column), None)
    if rule == Rule.NOT_NULL:
        return say.not_null(column)
    if rule == Rule.INVALID_TYPE and col is not None:
        return say.invalid_type(column, col.kind, table)
    if rule == Rule.INVALID_ENUM and col is not None:
        return say.invalid_enum(table, column, col.values)
    if rule == Rule.NEGATIVE_AMOUNT:
        return say.negative_amount(column)
    if rule == Rule.AMOUNT_TOO_LARGE:
        return say.amount_too_large(column)
    if rule == Rule.TOO_LONG:
        return say.too_long(column, max_id_length)
    if rule == Rule.MISSING_LIMIT:
        return say.missing_limit(column)
    if rule == Rule.DATE_ORDER:
        earlier = next(e for e, later in DATE_ORDER[table] if later == column)
        return say.date_order(column, earlier)
    if rule == Rule.UNUSABLE_IDENTIFIER:
        return say.unusable_identifier()
    if rule == Rule.EMPTY_NORMALIZED:
        return say.empty_normalized()
    if rule == Rule.DUPLICATE_KEY:
        return say.duplicate_key(column)
    if rule == Rule.DUPLICATE_ROW:
        return say.duplicate_row(table in SET_TABLES)
    if rule == Rule.UNKNOWN_REFERENCE:
        target = next(r.table for r in TABLES[table].references if r.column == column)
        return say.unknown_reference(column, target)
    raise InputError(f"no message for rule {rule}")


def _worded(sample: pl.DataFrame, max_id_length: int) -> pl.DataFrame:
    """``sample`` with ``message``: each (table, rule, column) group worded at once."""
    if sample.is_empty():
        return sample.with_columns(pl.lit(None, dtype=pl.String).alias("message"))
    out = []
    for (table, rule, column), group in sample.with_row_index("_i").group_by(
            "table", "rule", "column", maintain_order=True):
        message = _message(rule, table, column, max_id_length)
        expr = message if isinstance(message, pl.Expr) else pl.lit(message)
        out.append(group.with_columns(expr.cast(pl.String).alias("message")))
    return pl.concat(out).sort("_i").drop("_i")

