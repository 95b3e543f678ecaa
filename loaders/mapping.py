"""Mapping an export's own layout onto the contract's, from ``load.mapping`` (and ``load.columns``).

Per table (``[load.mapping.<table>]``) and for every table at once
(``[load.mapping.shared]``), six kinds of mapping, each a TOML table keyed by
column:

- ``rename``: their column name = contract column name (``load.columns.<table>``
  is the same, kept); a shared rename applies to every table whose contract has
  the target column and whose file has the source column;
- ``values``: an enum column's own words onto the contract's values
  (``status = {Active = "open"}``); a value not in the map stays as written, so
  it is ``invalid_enum`` unless it is a contract value already;
- ``constant``: a column the file does not have, the same value on every row
  (per table only);
- ``default``: a column's value where the file does not have the column, or
  where its value is null (per table only);
- ``fill_null``: a value for the nulls of a column the file has;
- ``day_offset``: the column holds whole numbers of days after the reference
  date given (``opened_at = 2026-01-01``).

The configuration is checked once (:func:`mapping_plan`, a
:class:`~xpg.errors.ConfigError` naming the key); the data is mapped by Polars
expressions over whole columns (:func:`apply_mapping`) after the file is read
and before it is validated, so every message still names the file's own line,
column and value as written.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl
from xpg.loaders.failures import Rule
from xpg.loaders.parse import is_text
from xpg.loaders.read import ROW, column_mapping
from xpg.loaders.schema import DTYPES, MAX_AMOUNT, TABLES, Column

from xpg.errors import ConfigError, first_line
from xpg.settings import LoadConfig

__all__ = ["KINDS", "SHARED", "SHARED_KINDS", "Mapped", "TableMapping", "apply_mapping",
           "mapping_plan"]

KINDS = ("rename", "values", "constant", "default", "fill_null", "day_offset", "expr",
         "date_format")
SHARED = "shared"
SHARED_KINDS = ("rename", "values", "fill_null", "day_offset", "date_format")
_TEXT_KINDS = ("id", "string", "enum")
_FITS = {"values": ("enum",), "day_offset": ("date", "datetime"),
         "date_format": ("date", "datetime")}  # the kinds each maps
_MAX_DAYS = 1_000_000  # about 2,700 years either way: further is not a date


def _fail(key: str, text: str) -> ConfigError:
    return ConfigError(f"{key}: {text}", key=key)


@dataclass(frozen=True)
class TableMapping:
    """What the configuration maps for one table (values typed, keys for messages).

    ``keys`` maps ``(kind, column)`` (``column`` the file's name for ``rename``,
    the contract's otherwise) to the dotted setting that gave it.
    """

    table: str
    rename: Mapping[str, str] = field(default_factory=dict)
    values: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    constant: Mapping[str, Any] = field(default_factory=dict)
    default: Mapping[str, Any] = field(default_factory=dict)
    fill_null: Mapping[str, Any] = field(default_factory=dict)
    day_offset: Mapping[str, dt.date] = field(default_factory=dict)
    expr: Mapping[str, str] = field(default_factory=dict)
    date_format: Mapping[str, str] = field(default_factory=dict)
    keys: Mapping[tuple[str, str], str] = field(default_factory=dict)
    # v3: the shared renames a table's own rename of the same column overrode
    overridden: Mapping[str, str] = field(default_factory=dict)

    def expressions(self) -> dict[str, pl.Expr]:
        """The columns computed from the file's columns (``expr``, and the second and later
        targets of a ``rename`` to a list), as Polars expressions."""
        return {target: pl.sql_expr(text) for target, text in self.expr.items()}

    @property
    def added(self) -> tuple[str, ...]:
        """The columns a constant or a default can supply when the file has none."""
        return (*self.constant, *(c for c in self.default if c not in self.constant))


# -- checking the configuration ---------------------------------------------------------------


def _typed(column: Column, value: Any, key: str) -> Any:
    """``value`` from TOML as the Python value of ``column``'s kind, or a ConfigError."""
    kind = column.kind
    if kind in _TEXT_KINDS:
        if not isinstance(value, str) or not value.strip():
            raise _fail(key, f"expected text (a quoted TOML string), got {value!r}")
        if column.values and value not in column.values:
            raise _fail(key, f"{value!r} is not one of {', '.join(column.values)}")
        return value
    if kind in ("decimal", "integer"):
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if not number or not math.isfinite(value) or (kind == "integer" and value != int(value)):
            raise _fail(key, f"expected {'an integer' if kind == 'integer' else 'a number'}, "
                             f"got {value!r}")
        if column.non_negative and value < 0:
            raise _fail(key, f"{column.name} must be >= 0, got {value!r}")
        if column.non_negative and value > MAX_AMOUNT:
            raise _fail(key, f"{column.name} must be at most {MAX_AMOUNT:,}, got {value!r}")
        return int(value) if kind == "integer" else float(value)
    return _moment(value, kind, key)


def _moment(value: Any, kind: str, key: str) -> dt.date:
    """A TOML date (or datetime, for a datetime column) or its ISO text."""
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            value = (dt.date if kind == "date" else dt.datetime).fromisoformat(value.strip())
    if isinstance(value, dt.datetime):
        if kind == "date":
            raise _fail(key, f"expected a date (2026-01-01), got the datetime {value.isoformat()}")
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return value
    if isinstance(value, dt.date):
        return value if kind == "date" else dt.datetime.combine(value, dt.time())
    want = "a date (2026-01-01)" if kind == "date" else "a date or datetime (2026-01-01T08:00:00)"
    raise _fail(key, f"expected {want}, got {value!r}")


def _column(table: str, name: str, key: str) -> Column:
    try:
        return TABLES[table].column(name)
    except KeyError:
        raise _fail(key, f"{name!r} is not a column of {table}; its columns are "
                         f"{list(TABLES[table].column_names)}") from None


def _entries(tree: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    if not isinstance(tree, Mapping):
        raise _fail(key, f"expected a table (column = value), got {tree!r}")
    return tree


def _value_map(column: Column, table: str, words: Any, key: str) -> dict[str, str]:
    if column.kind != "enum":
        enums = [c.name for c in TABLES[table].columns if c.kind == "enum"]
        raise _fail(key, f"{column.name} of {table} is not an enum column (it holds "
                         f"{column.kind} values); a value map is for an enum column: {enums}")
    words = _entries(words, key)
    for word, value in words.items():
        if not isinstance(value, str) or value not in column.values:
            raise _fail(f"{key}.{word}", f"{value!r} is not a {column.name} of {table}; "
                                         f"the values are {', '.join(column.values)}")
    return dict(words)


def _day_offset(column: Column, table: str, reference: Any, key: str) -> dt.date:
    if column.kind not in ("date", "datetime"):
        raise _fail(key, f"{column.name} of {table} is not a date column (it holds "
                         f"{column.kind} values); a day offset gives a date or datetime column")
    if isinstance(reference, dt.datetime) or not isinstance(reference, dt.date | str):
        raise _fail(key, f"the reference date must be a date (2026-01-01), got {reference!r}")
    return _moment(reference, "date", key)


def _rename_targets(value: Any, where: str) -> list[str]:
    targets = [value] if isinstance(value, str) else value
    if (not isinstance(targets, list | tuple) or not targets
            or not all(isinstance(t, str) for t in targets)):
        raise _fail(where, f"expected a contract column name (or a list of them, for one "
                           f"column that feeds several), got {value!r}")
    return list(targets)


def _quoted_name(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _expression(text: Any, where: str) -> str:
    """A Polars SQL expression (``CASE WHEN ... END``, ``GREATEST(a, 0)``), parsed now."""
    if not isinstance(text, str) or not text.strip():
        raise _fail(where, f"expected a SQL expression over the file's columns (for example "
                           f"\"CASE WHEN kind = 'Cash' THEN amount ELSE '0' END\"), got {text!r}")
    try:
        pl.sql_expr(text)
    except (pl.exceptions.PolarsError, ValueError) as e:
        first = first_line(e)
        raise _fail(where, f"not a SQL expression Polars can read: {first}") from e
    return text


_FORMAT_CODES = frozenset("aAbBcdfHIjmMpSuUwWxXyYzZ%:")


def check_date_format(value: Any, where: str) -> str:
    """A strftime format with at least a year, month and day (``%d/%m/%Y``)."""
    if not isinstance(value, str) or not value.strip():
        raise _fail(where, f"expected a date format such as \"%d/%m/%Y\", got {value!r}")
    codes = set(value[i + 1] for i in range(len(value) - 1) if value[i] == "%")
    if not ({"Y", "y"} & codes and {"m", "b", "B"} & codes and "d" in codes) and "j" not in codes:
        raise _fail(where, f"{value!r} needs a year (%Y), a month (%m) and a day (%d), "
                           'for example "%d/%m/%Y" or "%Y/%m/%d"')
    unknown = sorted(codes - _FORMAT_CODES)
    if unknown:
        raise _fail(where, f"{value!r} has the unknown code %{unknown[0]}")
    return value


def _one_table(table: str, spec: Mapping[str, Any], base: str, kinds: tuple[str, ...],
               renames: Mapping[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """The mappings of ``spec`` (one ``[load.mapping.<name>]``) that apply to ``table``.

    ``base`` is the setting's key; for ``shared``, a column not in ``table`` is left out.
    ``renames`` (their name -> contract name) lets the other kinds be keyed by the
    export's name of a renamed column.
    """
    renames = renames or {}
    shared = base.endswith(f".{SHARED}")
    out: dict[str, dict[str, Any]] = {kind: {} for kind in KINDS}
    keys: dict[tuple[str, str], str] = {}
    for kind, entries in spec.items():
        key = f"{base}.{kind}"
        if kind not in kinds:
            known = ", ".join(kinds)
            extra = " (constant and default are set per table)" if shared else ""
            raise _fail(key, f"unknown kind of mapping; the kinds are {known}{extra}")
        for name, value in _entries(entries, key).items():
            where = f"{key}.{name}"
            if kind == "rename":
                value = _rename_targets(value, where)
                for extra in value[1:]:  # one column feeding several: the others are copies
                    if shared and extra not in TABLES[table].column_names:
                        continue
                    _column(table, extra, where)
                    out["expr"][extra] = _quoted_name(name)
                    keys[("expr", extra)] = where
                value = value[0]
            target = value if kind == "rename" else renames.get(name, name)
            if kind != "rename" and name not in TABLES[table].column_names and name in renames:
                name = renames[name]  # v3: keyed by the export's name: the column it becomes
            if shared and target not in TABLES[table].column_names:
                continue
            column = _column(table, target, where)
            if kind == "rename":
                out[kind][name] = value
            elif kind == "expr":
                out[kind][name] = _expression(value, where)
            elif kind == "date_format":
                if column.kind not in ("date", "datetime"):
                    if shared:
                        continue
                    raise _fail(where, f"{column.name} of {table} is not a date column (it "
                                       f"holds {column.kind} values)")
                out[kind][name] = check_date_format(value, where)
            elif kind == "values":
                if shared and column.kind != "enum":
                    continue
                out[kind][name] = _value_map(column, table, value, where)
            elif kind == "day_offset":
                if shared and column.kind not in ("date", "datetime"):
                    continue
                out[kind][name] = _day_offset(column, table, value, where)
            else:
                out[kind][name] = _typed(column, value, where)
            keys[(kind, name)] = where
    out["keys"] = keys  # type: ignore[assignment]
    return out


def _check_shared(spec: Mapping[str, Any]) -> None:
    """A shared mapping must fit at least one table (a typo is not silently ignored)."""
    for kind, entries in spec.items():
        if kind not in SHARED_KINDS:
            continue  # reported by _one_table
        for name, value in _entries(entries, f"load.mapping.shared.{kind}").items():
            if kind == "rename":
                targets = _rename_targets(value, f"load.mapping.shared.{kind}.{name}")
            else:
                targets = [name]
            fits = _FITS.get(kind, ("id", "string", "enum", "date", "datetime", "decimal",
                                    "integer"))
            if kind != "rename" and not any(c.name == name for t in TABLES.values()
                                            for c in t.columns):
                targets = [t for theirs, t in _shared_renames(spec).items() if theirs == name]
            if not any(c.name in targets and c.kind in fits
                       for t in TABLES.values() for c in t.columns):
                target = targets[0] if targets else name
                what = {"values": "an enum column", "day_offset": "a date column"}.get(
                    kind, "a column")
                raise _fail(f"load.mapping.shared.{kind}.{name}",
                            f"{target!r} is not {what} of any table")


def mapping_plan(load: LoadConfig) -> dict[str, TableMapping]:
    """Check ``load.mapping`` and ``load.columns``; one :class:`TableMapping` per table.

    Raises :class:`~xpg.errors.ConfigError` (its ``key`` the setting at fault) for an
    unknown table, kind or column, a value map for a column that is not an enum, a
    value that does not fit its column, a reference date that is not a date, a
    constant with a default on one column, and two names renamed onto one column.

    Examples
    --------
    >>> from xpg.settings import load_settings
    >>> s = load_settings(environ={}, overrides={"load.mapping": {
    ...     "shared": {"rename": {"uid": "user_id"}},
    ...     "external_loans": {"values": {"status": {"Active": "open"}}}}})
    >>> plan = mapping_plan(s.load)
    >>> dict(plan["accounts"].rename), dict(plan["external_loans"].values)
    ({'uid': 'user_id'}, {'status': {'Active': 'open'}})
    >>> dict(plan["products"].rename)
    {}
    """
    legacy = column_mapping(load.columns)
    tree = _entries(load.mapping, "load.mapping")
    for name in tree:
        if name != SHARED and name not in TABLES:
            raise _fail(f"load.mapping.{name}", f"unknown table; the tables are "
                                                f"{sorted(TABLES)} (or {SHARED}, for every table)")
    shared_spec = _entries(tree.get(SHARED, {}), f"load.mapping.{SHARED}")
    _check_shared(shared_spec)
    plan = {}
    for table in TABLES:
        own_spec = _entries(tree.get(table, {}), f"load.mapping.{table}")
        shared_names = _plain_renames(shared_spec, table)
        own_names = _plain_renames(own_spec, table)
        renames = {**shared_names, **legacy.get(table, {}), **own_names}
        shared = _one_table(table, shared_spec, f"load.mapping.{SHARED}", SHARED_KINDS, renames)
        own = _one_table(table, own_spec, f"load.mapping.{table}", KINDS, renames)
        merged = {kind: {**shared[kind], **own[kind]} for kind in KINDS}
        overridden = {theirs: ours for theirs, ours in shared_names.items()
                      if own_names.get(theirs, ours) != ours}
        keys = {**shared["keys"], **own["keys"]}
        for theirs, ours in legacy.get(table, {}).items():
            before = merged["rename"].get(theirs)
            if theirs in own["rename"] and before != ours:
                raise _fail(keys[("rename", theirs)], f"load.columns.{table} maps {theirs} "
                                                      f"onto {ours!r}, this onto {before!r}")
            merged["rename"][theirs] = ours
            keys[("rename", theirs)] = "load.columns"
        _check_table(table, own["rename"], merged, keys)
        plan[table] = TableMapping(table, **merged, keys=keys, overridden=overridden)
    return plan


def _shared_renames(spec: Mapping[str, Any]) -> dict[str, str]:
    entries = spec.get("rename", {})
    if not isinstance(entries, Mapping):
        return {}
    return {theirs: (v if isinstance(v, str) else v[0]) for theirs, v in entries.items()
            if isinstance(v, str) or (isinstance(v, list | tuple) and v)}


def _plain_renames(spec: Mapping[str, Any], table: str) -> dict[str, str]:
    """Their name -> the contract column it is renamed onto in ``table`` (the first of a
    list), before any check (the checks come with :func:`_one_table`)."""
    out = {}
    entries = spec.get("rename", {})
    if not isinstance(entries, Mapping):
        return out
    for theirs, value in entries.items():
        targets = [value] if isinstance(value, str) else value
        if isinstance(targets, list | tuple):
            fits = [t for t in targets if t in TABLES[table].column_names]
            if fits:
                out[theirs] = fits[0]
    return out


def _check_table(table: str, own: dict[str, str], merged: dict[str, dict[str, Any]],
                 keys: dict) -> None:
    """A constant with a default on one column; two of the table's own names renamed onto
    one column (a shared name and the table's own may both give it: a file has one)."""
    both = sorted(set(merged["constant"]) & set(merged["default"]))
    if both:
        raise _fail(keys[("default", both[0])], f"{both[0]} has a constant too "
                                                f"({keys[('constant', both[0])]}); keep one")
    seen: dict[str, str] = {}
    for theirs, ours in own.items():
        if ours in seen:
            raise _fail(keys[("rename", theirs)],
                        f"both {seen[ours]!r} and {theirs!r} are renamed onto {ours!r} in {table}")
        seen[ours] = theirs


# -- mapping the data -------------------------------------------------------------------------


@dataclass(frozen=True)
class Mapped:
    """One table after its mapping.

    ``frame`` is what is parsed; ``shown`` is the table as read plus the columns a
    constant or default added (as text), for the values messages show; ``blank``
    says, for the day-offset columns, where the file's value is missing (a value
    that is no whole number is invalid, not missing); ``messages`` replaces the
    message of a rule on a column (the day-offset and value-mapped columns).
    """

    frame: pl.DataFrame
    shown: pl.DataFrame
    blank: dict[str, pl.Series]
    messages: dict[tuple[str, str], str]


def _is_blank(name: str, dtype: pl.DataType) -> pl.Expr:
    c = pl.col(name)
    if is_text(dtype):
        return c.is_null() | (c.cast(pl.String).str.strip_chars().str.len_bytes() == 0)
    return (c.is_null() | c.is_nan()) if dtype.is_float() else c.is_null()


def _filled(name: str, dtype: pl.DataType, kind: str, value: Any) -> pl.Expr:
    """Column ``name`` (of ``dtype``) with ``value`` where it is blank, keeping a native
    column native where the value fits it (the parser then types it as usual)."""
    c = pl.col(name)
    blank = _is_blank(name, dtype)
    if is_text(dtype) or kind in _TEXT_KINDS:
        return pl.when(blank).then(pl.lit(_fill_text(value))).otherwise(c.cast(pl.String))
    if kind in ("decimal", "integer") and dtype.is_numeric():
        target = pl.Int64 if kind == "integer" and dtype.is_integer() else pl.Float64
        return pl.when(blank).then(pl.lit(value).cast(target)).otherwise(c.cast(target))
    if dtype.is_temporal():
        return pl.when(blank).then(pl.lit(value).cast(dtype)).otherwise(c)
    return c  # a type that cannot hold the kind: the parser reports the column


def _added(value: Any, kind: str, height: int, name: str) -> pl.Series:
    return pl.repeat(value, height, dtype=DTYPES[kind], eager=True).alias(name)


def _days(name: str, dtype: pl.DataType) -> pl.Expr:
    """Whole numbers of days (null where the value is not one)."""
    c = pl.col(name)
    if dtype.is_integer():
        n = c.cast(pl.Int64, strict=False)
    elif dtype.is_float():
        n = pl.when(c.is_finite() & (c == c.round(0))).then(c.cast(pl.Int64, strict=False))
    else:
        n = c.cast(pl.String).str.strip_chars().cast(pl.Int64, strict=False)
    return pl.when(n.abs() <= _MAX_DAYS).then(n)


def _fill_text(value: Any) -> str:
    return value.isoformat() if isinstance(value, dt.date) else str(value)


def apply_mapping(raw: pl.DataFrame, plan: TableMapping) -> Mapped:
    """Map the columns of ``raw`` (the table as read, renamed to contract names).

    Per column: the value map or the day offset, then the null fill (or the default);
    Polars expressions over whole columns, evaluated together. Constants, and defaults
    for a column the file does not have, are added columns (a constant for a column the
    file has is the caller's ``duplicate_column``: :func:`constant_clashes`).
    """
    table = TABLES[plan.table]
    schema = raw.schema
    exprs: list[pl.Expr] = []
    blank_exprs: list[pl.Expr] = []
    messages: dict[tuple[str, str], str] = {}
    fills = {**plan.fill_null, **plan.default}
    for name in schema:
        if name == ROW or name not in table.column_names:
            continue
        kind, blank, fill = table.column(name).kind, _is_blank(name, schema[name]), fills.get(name)
        if name in plan.values:
            words = plan.values[name]
            text = pl.col(name).cast(pl.String).str.strip_chars()
            expr = text.replace(list(words), list(words.values()))
            if fill is not None:
                expr = pl.when(blank).then(pl.lit(_fill_text(fill))).otherwise(expr)
            messages[(str(Rule.INVALID_ENUM), name)] = (
                f"{name} must be one of {', '.join(table.column(name).values)}; the value "
                f"is not in {plan.keys[('values', name)]} ({', '.join(words)} are mapped)")
        elif name in plan.day_offset:
            reference = plan.day_offset[name]
            day = pl.lit(reference) + pl.duration(days=_days(name, schema[name]))
            expr = day if kind == "date" else day.cast(pl.Datetime("us"))
            if fill is not None:
                expr = pl.when(blank).then(pl.lit(fill, dtype=DTYPES[kind])).otherwise(expr)
                blank = pl.repeat(False, pl.len())
            blank_exprs.append(blank.alias(name))
            messages[(str(Rule.INVALID_TYPE), name)] = (
                f"{name} must be a whole number of days after {reference.isoformat()} "
                f"({plan.keys[('day_offset', name)]})")
        elif fill is not None:
            expr = _filled(name, schema[name], kind, fill)
        else:
            continue
        exprs.append(expr.alias(name))
    frame = raw.with_columns(exprs) if exprs else raw
    blank_frame = raw.select(blank_exprs) if blank_exprs else pl.DataFrame()
    added = [c for c in plan.added if c not in schema]
    columns = [_added(plan.constant.get(c, plan.default.get(c)), table.column(c).kind,
                      raw.height, c) for c in added]
    frame = frame.with_columns(columns)
    shown = raw.with_columns(s.cast(pl.String) for s in columns)
    blanks = {c: blank_frame.get_column(c) for c in blank_frame.columns}
    return Mapped(frame, shown, blanks, messages)


def constant_clashes(plan: TableMapping, names: list[str]) -> list[tuple[str, str]]:
    """The columns the file has (``names``, contract names) that a constant also gives,
    with the constant's key."""
    return [(c, plan.keys[("constant", c)]) for c in plan.constant if c in names]
