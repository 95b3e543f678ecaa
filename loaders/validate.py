"""Validating one table against the data contract: its file's structure, then the row
rules (:mod:`xpg.loaders.row_checks`), then the checks over the whole table (exact
duplicate rows, duplicate keys, freeze reasons neither list names). The references
between tables are :mod:`xpg.loaders.references`.

Every check is a Polars expression or join over whole columns; only the
failing rows (at most the cap of each check) are turned into failure rows.
The rules and their reason codes are listed in ``docs/data-contract.md``.

Notes
-----
Per table, the cost is one parsing pass over its columns, one hash pass for
exact duplicate rows (and one for the key of a keyed table), and one hash
lookup per reference: O(rows) time, and memory for the raw and the typed
frame of the one table being checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import polars as pl
from xpg.loaders import messages as say
from xpg.loaders.failures import Collector, Rule
from xpg.loaders.files import MUST_HOLD_ROWS, empty_table, wrong_separator, zero_bytes
from xpg.loaders.mapping import TableMapping, apply_mapping, constant_clashes
from xpg.loaders.messages import quoted
from xpg.loaders.normalize import normalize_values, unusable_reasons
from xpg.loaders.read import (
    ROW,
    Span,
    TableFile,
    UnreadableFile,
    read_header,
    read_parts,
    read_table,
)
from xpg.loaders.row_checks import (
    DATE_ORDER,
    _cell_rules,
    _Emitter,
    _Hints,
    _parse,
    _parsers,
    _row_rules,
)
from xpg.loaders.schema import TABLES, Table
from xpg.loaders.sources import scan_bounds

from xpg.errors import first_line


class FreezeConfig(Protocol):
    """What the checks read of the ``[detection.freeze]`` settings (the freeze rules' config
    class, :class:`xpg.queries.rules.scope.FreezeConfig`, which the loaders do not import)."""

    user_scope_reasons: tuple[str, ...]
    product_scope_reasons: tuple[str, ...]
    unknown_reason_scope: str

__all__ = [
    "DATE_ORDER",
    "SET_TABLES",
    "Bounds",
    "CheckedTable",
    "check_table",
    "quoted",
]

# Tables where a row is a fact that holds or not: an exact duplicate row is
# dropped (with a warning). Elsewhere (external_loans) two equal rows can be two
# real loans, so both are kept (with a warning).
SET_TABLES = frozenset(TABLES) - {"external_loans"}
# Statuses and events whose reason is a freeze reason with a scope.
FREEZE_STATUSES = ("frozen", "closed")
FREEZE_EVENTS = ("freeze", "close")


@dataclass(frozen=True)
class Bounds:
    """The settings of ``[load]`` that shape and bound how every table is read (v3)."""

    ignore_header_case: bool = False
    allow_empty: frozenset[str] = frozenset()
    max_id_length: int = 256


@dataclass
class CheckedTable:
    """One table after its own checks: the typed frame and what is needed to finish it."""

    table: Table
    file: TableFile
    header: list[str]  # the file's column names, as written
    typed: pl.DataFrame  # ROW, the contract columns (typed), then the extra columns
    raw: pl.DataFrame  # ROW and the columns as read (renamed to contract names)
    display: dict[str, str]  # contract column -> its name in the file
    complete: bool  # every required column was there with a usable type
    drop: pl.Series = field(default_factory=lambda: pl.Series(ROW, [], dtype=pl.Int64))
    spans: list[Span] = field(default_factory=list)  # v3: the files of a table read from several

    @property
    def name(self) -> str:
        return self.table.name


def _unreadable(errors: Collector, tf: TableFile, error: UnreadableFile) -> None:
    what = f"{tf.label} cannot be read as {tf.format.upper()}"
    if tf.query is not None:
        what = f"{tf.table} cannot be made by {tf.label}"
    errors.one(
        tf.table,
        Rule.UNREADABLE_FILE,
        f"{what}: {error}",
        row=error.line,
        value=tf.path.name if error.value is None else error.value,
    )


def _contract_names(stripped: list[str], table: Table, mapping: TableMapping,
                    ignore_case: bool) -> list[str]:
    """The contract name of each of the file's columns: its rename, else (with
    ``load.ignore_header_case``) the rename or contract column it matches but for case."""
    if not ignore_case:
        return [mapping.rename.get(h, h) for h in stripped]
    renames = {k.casefold(): v for k, v in mapping.rename.items()}
    columns = {c.casefold(): c for c in table.column_names}
    return [mapping.rename.get(h) or renames.get(h.casefold()) or columns.get(h.casefold(), h)
            for h in stripped]


def _structure(
    tf: TableFile, mapping: TableMapping, errors: Collector, ignore_case: bool = False,
    header: list[str] | None = None,
) -> tuple[list[str], list[str]] | None:
    """The file's header and its contract names; None after reporting a structural problem."""
    name = tf.table
    if header is None:
        try:
            header = read_header(tf)
        except UnreadableFile as e:
            _unreadable(errors, tf, e)
            return None
    if wrong_separator(tf, header, errors):
        return None
    stripped = [h.strip() for h in header]
    renamed = _contract_names(stripped, TABLES[name], mapping, ignore_case)
    bad = False
    seen: dict[str, str] = {}
    for original, new in zip(stripped, renamed, strict=True):
        if new in seen:
            bad = True
            if seen[new] == original:
                msg = f"column {original} appears more than once in the header"
            else:
                msg = (
                    f"columns {seen[new]} and {original} both give the contract column {new} "
                    "(see load.columns in the configuration); keep one"
                )
            errors.one(name, Rule.DUPLICATE_COLUMN, msg, column=original, value=original)
        else:
            seen[new] = original
    for column, key in constant_clashes(mapping, renamed):
        bad = True
        msg = f"column {seen[column]} is in the file and {key} gives {column} too; keep one"
        errors.one(name, Rule.DUPLICATE_COLUMN, msg, column=seen[column], value=seen[column])
    return None if bad else (header, renamed)  # type: ignore[return-value]


def check_table(
    tf: TableFile,
    mapping: TableMapping,
    errors: Collector,
    warnings: Collector,
    freeze: FreezeConfig,
    region: str = "CN",
    *,
    bounds: Bounds | None = None,
    frame: pl.DataFrame | None = None,
) -> CheckedTable | None:
    """Read one table and run every check that needs only that table.

    Returns None when the table cannot be read at all (the reason is in
    ``errors``), and when a table of :data:`MUST_HOLD_ROWS` has no row (v2:
    ``empty_table``; its references are then not checked, so an empty
    ``users`` is one error, not one per row referring to it). ``region`` reads
    phones without a country code (:mod:`xpg.loaders.normalize`). ``mapping`` (the
    configuration's, :mod:`xpg.loaders.mapping`) is applied once the file is read, before
    any check, so messages still show the file's values as written. ``bounds`` are the
    settings that bound and shape the input (v3); ``frame`` is the table a
    ``load.query`` made (``tf.query``), read instead of a file.
    """
    bounds = bounds or Bounds()
    table = TABLES[tf.table]
    spans: list[Span] = []
    zero = frame is None and zero_bytes(tf)
    if zero:  # no header either: the contract's columns, no rows
        header = renamed = list(table.column_names)
        raw = pl.DataFrame(schema={ROW: pl.Int64, **dict.fromkeys(header, pl.String)})
    else:
        structure = _structure(tf, mapping, errors, bounds.ignore_header_case,
                               None if frame is None else list(frame.columns))
        if structure is None:
            return None
        header, renamed = structure
    display = {new: old.strip() for old, new in zip(header, renamed, strict=True)}
    expressions = mapping.expressions()
    display.update((t, t) for t in expressions if t not in display)
    complete = _required_columns(table, [*renamed, *mapping.added, *expressions], mapping,
                                 errors, header, bounds.ignore_header_case)
    if not zero:
        try:
            if frame is not None:
                raw = frame.rename(dict(zip(frame.columns, renamed, strict=True)))
                raw = raw.with_row_index(ROW, offset=2).with_columns(pl.col(ROW).cast(pl.Int64))
            else:
                problem = scan_bounds(tf)
                if problem is not None:
                    raise problem
                if len(tf.files) > 1 or (tf.parts and tf.parts[0] != tf.path):
                    raw, spans = read_parts(tf, renamed)
                else:
                    raw = read_table(tf, renamed)
        except UnreadableFile as e:
            _unreadable(errors, tf, e)
            return None
        if frame is None and tf.max_rows is not None and raw.height > tf.max_rows:
            _unreadable(errors, tf, UnreadableFile(
                f"it holds {raw.height:,} rows, more than load.max_rows ({tf.max_rows:,}); "
                "raise it "
                f"(for this table only: [load.per_table.{tf.table}] max_rows = {raw.height})",
                value=f"{raw.height} rows"))
            return None
    if raw.height == 0:
        empty_table(tf, zero, errors, warnings, allowed=tf.table in bounds.allow_empty)
        if table.name in MUST_HOLD_ROWS and tf.table not in bounds.allow_empty:
            return None
    work = raw
    if expressions:
        work = _computed(tf, raw, header, renamed, expressions, mapping, errors)
        if work is None:
            return None
    mapped = apply_mapping(work, mapping)
    formats = {c.name: mapping.date_format.get(c.name) or tf.date_format
               for c in table.columns if c.kind in ("date", "datetime")}
    parsers = _parsers(table, mapped.frame, display, errors, formats, tf.decimal_comma)
    complete = complete and all(c.name in parsers for c in table.columns if c.required)
    typed_cols, blank = _parse(mapped.frame, parsers)
    blank.update((c, b) for c, b in mapped.blank.items() if c in blank)
    shown = mapped.shown  # the values as written (and those the mapping added)
    emit = _Emitter(errors, table.name, raw.get_column(ROW), display)
    hints = _Hints(tf, mapping, bounds.max_id_length)
    _cell_rules(emit, table, shown, typed_cols, blank, mapped.messages, hints)
    _row_rules(emit, table, shown, typed_cols, blank)
    used = {name for expr in expressions.values() for name in expr.meta.root_names()}
    typed = _typed_frame(table, shown, typed_cols, warnings, used)
    if table.name == "identifiers" and complete:
        typed = _normalized(emit, typed, shown, region)
    if frame is not None and raw.height:  # v3: a message names the query's result row
        spans = [(2, raw.height + 1, f"load.query.{tf.table}")]
    state = CheckedTable(table, tf, header, typed, raw, display, complete, spans=spans)
    _duplicates(state, errors, warnings)
    _freeze_reasons(state, warnings, freeze)
    return state


def _computed(tf: TableFile, raw: pl.DataFrame, header: list[str], renamed: list[str],
              expressions: Mapping[str, pl.Expr], mapping: TableMapping,
              errors: Collector) -> pl.DataFrame | None:
    """``raw`` with the columns ``load.mapping.<table>.expr`` computes from the file's own
    columns (by the names the file gives them); a computed column replaces a file column of
    the same contract name. None after reporting an expression that cannot be evaluated."""
    names = {r: h.strip() for h, r in zip(header, renamed, strict=True)}
    view = raw.rename({r: f for r, f in names.items() if r != f})
    out = []
    for target, expr in expressions.items():
        key = mapping.keys.get(("expr", target), f"load.mapping.{tf.table}.expr.{target}")
        try:
            out.append(view.select(expr.alias(target)).to_series())
        except (pl.exceptions.PolarsError, ValueError) as e:
            text = first_line(e)
            errors.one(tf.table, Rule.UNREADABLE_FILE,
                       f"{key} cannot be computed from {tf.label}: {text} (its columns: "
                       f"{', '.join(names.values())})", column=target,
                       value=mapping.expr.get(target, "")[:200])
            return None
    return raw.with_columns(out)


def _required_columns(
    table: Table, names: list[str], mapping: TableMapping, errors: Collector,
    header: list[str] | None = None, ignore_case: bool = False,
) -> bool:
    """Report the required columns missing from ``names``; True when none is.

    v3: the message names the cause where it can: a table's ``rename`` that overrode the
    shared ``rename`` of a column the file has (a rename conflict), or a column the file
    has but for case (the setting that reads it)."""
    inverse = {ours: theirs for theirs, ours in mapping.rename.items()}
    stripped = [h.strip() for h in header or ()]
    complete = True
    for col in table.columns:
        if col.required and col.name not in names:
            complete = False
            hint = ""
            conflict = [theirs for theirs, ours in mapping.overridden.items()
                        if ours == col.name and theirs in stripped]
            cased = [h for h in stripped if h.casefold() == col.name.casefold()]
            if conflict:
                theirs = conflict[0]
                hint = (f": rename conflict: {mapping.keys[('rename', theirs)]} renames "
                        f"{theirs} onto {mapping.rename[theirs]!r}, overriding "
                        f"load.mapping.shared.rename.{theirs} (onto {col.name!r}); for one "
                        f"column that feeds both, write rename = {{ {theirs} = "
                        f'["{col.name}", "{mapping.rename[theirs]}"] }}')
            elif cased and not ignore_case:
                hint = (f": the file has {cased[0]}; to read headers whatever their case, set "
                        f"load.ignore_header_case = true (or rename = {{ {cased[0]} = "
                        f'"{col.name}" }} in [load.mapping.{table.name}])')
            elif col.name in inverse:
                key = mapping.keys[("rename", inverse[col.name])]
                hint = f" (nor {inverse[col.name]}, mapped onto it in {key})"
            elif near := _near(col.name, [h for h in stripped
                                          if h not in table.column_names]):
                hint = (f": the file has {near}; if that is it, set rename = {{ {near} = "
                        f'"{col.name}" }} in [load.mapping.{table.name}]')
            errors.one(
                table.name,
                Rule.MISSING_COLUMN,
                f"required column {col.name} is missing{hint}",
                column=col.name,
            )
    return complete


def _near(name: str, others: list[str]) -> str | None:
    """The column of ``others`` that looks like ``name``: the same letters and digits
    (``creditlimit``, ``Credit-Limit``), else the closest spelling (``credit_limt``).

    >>> _near("credit_limit", ["note", "creditlimit"]), _near("user_id", ["note"])
    ('creditlimit', None)
    """
    import difflib

    def key(text: str) -> str:
        return "".join(c for c in text.casefold() if c.isalnum())

    same = [o for o in others if key(o) == key(name)]
    if same:
        return same[0]
    close = difflib.get_close_matches(name, others, n=1, cutoff=0.85)
    return close[0] if close else None


def _normalized(
    emit: _Emitter, typed: pl.DataFrame, raw: pl.DataFrame, region: str
) -> pl.DataFrame:
    """v2: identifiers with ``value`` normalized and ``value_raw`` as written (trimmed).

    A value that normalizes to nothing is ``empty_normalized`` (and null).
    """
    written = typed.get_column("value")
    value = normalize_values(typed.get_column("kind"), written, region)
    why = unusable_reasons(written, value)
    emit(why.is_not_null(), Rule.UNUSABLE_IDENTIFIER, say.unusable_identifier(),
         column="value", values=raw.get_column("value"),
        extra={"kind": typed.get_column("kind"), "why": why})
    emit(
        written.is_not_null() & value.is_null() & why.is_null(),
        Rule.EMPTY_NORMALIZED,
        say.empty_normalized(),
        column="value",
        values=raw.get_column("value"),
        extra={"kind": typed.get_column("kind")},
    )
    out = typed.with_columns(value)
    if "value_raw" in out.columns:  # the file's own value_raw gives way to the value as written
        out = out.drop("value_raw")
    # first after the contract's columns (ROW first), before the file's extra columns
    return out.insert_column(len(TABLES["identifiers"].columns) + 1, written.alias("value_raw"))


def _typed_frame(
    table: Table, raw: pl.DataFrame, typed_cols: dict[str, pl.Series], warnings: Collector,
    used: set[str] | frozenset[str] = frozenset(),
) -> pl.DataFrame:
    """ROW, the contract's columns typed (missing ones null), then the extra columns (those
    an expression of the mapping reads, ``used``, are not warned about)."""
    columns = [raw.get_column(ROW)]
    for col in table.columns:
        if col.name in typed_cols:
            columns.append(typed_cols[col.name])
        else:
            columns.append(pl.repeat(None, raw.height, dtype=col.dtype, eager=True).alias(col.name))
    extras = [c for c in raw.columns if c != ROW and c not in table.column_names]
    kept = extras
    extras = [c for c in extras if c not in used]
    if len(extras) == 1:
        warnings.one(
            table.name,
            Rule.UNKNOWN_COLUMN,
            f"column {extras[0]} is not in the contract of {table.name}; it is kept as a "
            "property",
            column=extras[0],
        )
    elif extras:  # one line for all (an export of 281 columns is one warning, not 281)
        shown = ", ".join(extras[:10]) + (f" and {len(extras) - 10} more" if len(extras) > 10
                                          else "")
        warnings.one(
            table.name,
            Rule.UNKNOWN_COLUMN,
            f"{len(extras)} columns are not in the contract of {table.name} ({shown}); they "
            "are kept as properties",
        )
    return pl.DataFrame(columns + [raw.get_column(c) for c in kept]).with_columns(
        pl.when(pl.col(c).str.len_bytes() > 0).then(pl.col(c)).alias(c)
        for c in kept
        if raw.schema[c] == pl.String
    )


def _first_rows(typed: pl.DataFrame, dups: pl.DataFrame, on: list[str]) -> pl.Series:
    """For each row of ``dups``, the first row of ``typed`` with the same ``on`` values."""
    firsts = (
        typed.select(ROW, *on)
        .join(dups.select(on).unique(), on=on, how="semi", nulls_equal=True)
        .group_by(on)
        .agg(pl.col(ROW).min().alias("first"))
    )
    return dups.join(firsts, on=on, how="left", nulls_equal=True, maintain_order="left")["first"]


def _repeats(frame: pl.DataFrame, on: list[str]) -> pl.Series:
    """True for each row whose ``on`` values equal those of an earlier row.

    Hashes the rows and sorts the hashes (cheap on 64-bit integers); only rows
    whose hash occurs twice are then compared exactly, so a hash collision
    never makes two different rows equal.
    """
    combined = pl.lit(0, dtype=pl.UInt64)
    for seed, column in enumerate(on):
        combined = combined ^ pl.col(column).hash(seed=seed)
    hashes = frame.select(combined.alias("h")).to_series()
    ordered = hashes.sort().to_frame("h")
    twice = ordered.filter(pl.col("h") == pl.col("h").shift(1)).to_series()
    out = pl.repeat(False, frame.height, dtype=pl.Boolean, eager=True)
    if twice.is_empty():
        return out
    candidates = hashes.is_in(twice.unique().implode())
    idx = candidates.arg_true()
    later = ~frame.filter(candidates).select(pl.struct(on).is_first_distinct()).to_series()
    return out.scatter(idx.filter(later), True)


def _duplicates(state: CheckedTable, errors: Collector, warnings: Collector) -> None:
    """Exact duplicate rows (a warning) and duplicate keys (an error).

    A keyed table is hashed on its key only: exact duplicates share the key,
    so whole rows are compared only among the rows of a repeated key.
    """
    typed, table = state.typed, state.table
    values = [c for c in typed.columns if c != ROW]
    key = list(table.key)
    keyed = bool(key) and all(k in typed.columns for k in key)
    if keyed:
        again = _repeats(typed, key)
        if not again.any():
            return
        repeated = typed.filter(again).select(key).unique()
        scope = typed.join(repeated, on=key, how="semi", nulls_equal=True)
    else:
        scope = typed
    repeat = _repeats(scope, values)
    if repeat.any():
        dups = scope.filter(repeat)
        dups_shown = dups if warnings.cap is None else dups.head(warnings.cap)
        first = _first_rows(scope, dups_shown, values)
        frame = pl.DataFrame({"row": dups_shown[ROW], "first": first}).select(
            pl.lit(table.name).alias("table"),
            "row",
            say.duplicate_row(table.name in SET_TABLES).alias("message"),
            pl.lit(str(Rule.DUPLICATE_ROW)).alias("rule"),
        )
        warnings.add(frame, total=dups.height)
        if table.name in SET_TABLES:
            state.drop = dups[ROW]
    if not keyed:
        return
    rest = scope.filter(~repeat)
    again = _repeats(rest, key)
    again = again & rest.select(pl.all_horizontal(pl.col(k).is_not_null() for k in key)).to_series()
    if not again.any():
        return
    dup_rows = rest.filter(again)
    first = _first_rows(rest, dup_rows, key)
    emit = _Emitter(errors, table.name, dup_rows[ROW], state.display)
    k = key[0]
    emit(
        pl.repeat(True, dup_rows.height, eager=True),
        Rule.DUPLICATE_KEY,
        say.duplicate_key(k),
        column=k,
        values=dup_rows[k],
        extra={"first": first},
    )


def _freeze_reasons(state: CheckedTable, warnings: Collector, freeze: FreezeConfig) -> None:
    """Warn once per freeze reason that neither list of the configuration names."""
    if state.name == "accounts":
        kind_col, kinds, reason = "status", FREEZE_STATUSES, "status_reason"
    elif state.name == "account_events":
        kind_col, kinds, reason = "event", FREEZE_EVENTS, "reason"
    else:
        return
    typed = state.typed
    if typed.get_column(reason).null_count() == typed.height:
        return
    known = pl.Series([*freeze.user_scope_reasons, *freeze.product_scope_reasons], dtype=pl.String)
    unknown = (
        typed.lazy()
        .filter(
            pl.col(kind_col).is_in(kinds)
            & pl.col(reason).is_not_null()
            & ~pl.col(reason).is_in(known.implode())
        )
        .group_by(reason)
        .agg(pl.col(ROW).min().alias("row"), pl.len().alias("n"))
        .sort("row")
        .collect()
    )
    if unknown.is_empty():
        return
    where = "a frozen or closed account" if state.name == "accounts" else "a freeze or close event"
    frame = unknown.select(
        pl.lit(state.name).alias("table"),
        "row",
        pl.lit(state.display.get(reason, reason)).alias("column"),
        pl.col(reason).alias("value"),
        pl.lit(str(Rule.UNKNOWN_FREEZE_REASON)).alias("rule"),
        pl.format(
            f"{reason} {{}} on {where} is in neither freeze-reason list "
            f"(detection.freeze); it counts as {freeze.unknown_reason_scope} scope "
            "({} {}, first on row {})",
            quoted(pl.col(reason)),
            "n",
            pl.when(pl.col("n") == 1).then(pl.lit("row")).otherwise(pl.lit("rows")),
            "row",
        ).alias("message"),
    )
    warnings.add(frame)
