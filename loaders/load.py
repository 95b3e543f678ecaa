"""Loading a directory of tables into a validated :class:`~xpg.loaders.dataset.Dataset`.

:func:`load_dataset` is the entry point: it reads every table, checks the
whole data contract, and either returns the dataset or raises
:class:`~xpg.errors.ValidationError` listing every problem (capped at
``settings.load.max_errors`` rows, all counted). With a quarantine folder it
loads the valid rows instead and writes the rejected ones there.
:func:`validate_dataset` runs the same checks and returns the outcome
without raising for bad data (``xpg validate`` uses it).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl
from xpg.loaders.dataset import Dataset, latest_of
from xpg.loaders.failures import STRUCTURAL_RULES, Collector, Rule, empty_failures
from xpg.loaders.mapping import check_date_format, mapping_plan
from xpg.loaders.normalize import check_region
from xpg.loaders.quarantine import check_target, rejected_rows, write_quarantine
from xpg.loaders.read import (
    ROW,
    TABLE_ORDER,
    Span,
    TableFile,
    UnreadableFile,
    read_options,
)
from xpg.loaders.references import KeySet, check_references, target_ids
from xpg.loaders.schema import TABLES
from xpg.loaders.sources import check_memory, check_sources, discover, read_query
from xpg.loaders.validate import Bounds, check_table

from xpg.errors import ValidationError
from xpg.progress import NO_PROGRESS, Progress
from xpg.settings import LoadConfig, Settings

__all__ = ["LINK_TABLES", "LoadResult", "TakeLinks", "Validation", "load_dataset",
           "validate_dataset"]

_TABLE_POS = {name: i for i, name in enumerate(TABLE_ORDER)}

LINK_TABLES = ("users", "devices", "identifiers")
"""The tables the user <-> device/identifier graph is built from."""
_LINKS_FIRST = (*LINK_TABLES, *(t for t in TABLE_ORDER if t not in LINK_TABLES))
TakeLinks = Callable[[dict[str, pl.DataFrame]], bool]
"""``take_links`` of :func:`load_dataset`: given the loaded :data:`LINK_TABLES` (a dict
that nothing else holds), True when it has taken ``devices`` and ``identifiers`` (built
what it needs from them; it may pop them out of the dict, so that they are freed as soon
as it is done with them); False, leaving the dict as it was, to load them as usual."""
_TAKEN = ("devices", "identifiers")


@dataclass(frozen=True)
class LoadResult:
    """What :func:`load_dataset` returns.

    ``warnings`` and ``failures`` have the columns of
    :attr:`xpg.errors.ValidationError.failures` and hold at most
    ``settings.load.max_errors`` rows; ``warning_total`` and ``failure_total``
    count them all. ``failures`` is empty unless a quarantine rejected rows
    (they are the reasons); ``rejected`` counts the rejected rows.
    """

    dataset: Dataset
    warnings: pl.DataFrame
    rejected: int = 0
    failures: pl.DataFrame = field(default_factory=empty_failures)
    failure_total: int = 0
    warning_total: int = 0
    quarantine: Path | None = None


@dataclass(frozen=True)
class Validation:
    """The outcome of checking a directory (:func:`validate_dataset`).

    ``dataset`` is None when there were errors and no quarantine. ``counts``
    has one row per table and rule (``table``, ``rule``, ``count``) over every
    failure; ``rows`` maps each table read to its number of data rows.
    """

    source: Path
    failures: pl.DataFrame
    failure_total: int
    counts: pl.DataFrame
    warnings: pl.DataFrame
    warning_total: int
    rows: dict[str, int]
    dataset: Dataset | None
    rejected: int = 0
    quarantine: Path | None = None

    @property
    def valid(self) -> bool:
        """True when no row and no table breaks the contract (warnings aside)."""
        return self.failure_total == 0

    def error(self) -> ValidationError:
        """The :class:`~xpg.errors.ValidationError` describing the failures."""
        from xpg.loaders.messages import refusal

        n = self.failure_total
        return ValidationError(refusal(self.source, self.counts, n), failures=self.failures,
                               total=n)

    def result(self) -> LoadResult:
        if self.dataset is None:
            raise self.error()
        return LoadResult(
            dataset=self.dataset,
            warnings=self.warnings,
            rejected=self.rejected,
            failures=self.failures if self.quarantine is not None else empty_failures(),
            failure_total=self.failure_total if self.quarantine is not None else 0,
            warning_total=self.warning_total,
            quarantine=self.quarantine,
        )


def _column_positions() -> dict[tuple[str, str], int]:
    return {(t.name, c.name): i for t in TABLES.values() for i, c in enumerate(t.columns)}


def validate_dataset(
    path: str | os.PathLike[str],
    settings: Settings | None = None,
    *,
    quarantine: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
    take_links: TakeLinks | None = None,
) -> Validation:
    """Read and check every table of ``path``; never raises for bad rows.

    Parameters are those of :func:`load_dataset`. Problems with a whole table
    or column (a missing table or column, an unreadable file, ...) leave
    ``dataset`` None even with a quarantine; the quarantine folder is written
    only when a dataset is built.

    Raises
    ------
    InputError
        ``path`` is not a directory, or the quarantine folder is unusable.
    ConfigError
        ``settings.load.columns`` or ``load.mapping`` is not usable (an unknown
        table or column, a value that does not fit its column, ...);
        ``load.encoding``, ``load.separator``, ``load.per_table`` or
        ``load.default_region`` is not usable.
    """
    settings = settings or Settings()
    progress = progress or NO_PROGRESS
    source = Path(path)
    target = None if quarantine is None else Path(quarantine)
    load = settings.load
    mapping = mapping_plan(load)
    options = read_options(load.encoding, load.separator, load.per_table)
    region = check_region(load.default_region)
    check_sources(load.files, load.query, load.allow_empty)
    if load.date_format:
        check_date_format(load.date_format, "load.date_format")
    found_all = discover(source, load.files, load.query)
    found, ambiguous, unknown = found_all.found, found_all.ambiguous, found_all.unknown
    found = {t: _with_options(tf, load, options[t]) for t, tf in found.items()}
    sources = {stem: dataclasses.replace(tf, encoding=load.encoding, separator=load.separator)
               for stem, tf in found_all.sources.items()}
    check_memory(found, sources, load.max_memory_mb)
    if target is not None:
        check_target(target)
    cap = settings.load.max_errors
    errors = Collector(cap=None if target is not None else cap, structural_first=True)
    warnings = Collector(cap=cap)
    bounds = Bounds(load.ignore_header_case, frozenset(load.allow_empty), load.max_id_length)
    spans: dict[str, list[Span]] = {}

    for path_ in unknown:
        warnings.one(
            path_.stem,
            Rule.UNKNOWN_TABLE,
            f"{path_.name} names no table of the contract; it is ignored",
            value=path_.name,
        )
    for table, paths in sorted(ambiguous.items(), key=lambda kv: _TABLE_POS[kv[0]]):
        names = ", ".join(p.name for p in paths)
        errors.one(
            table,
            Rule.AMBIGUOUS_TABLE,
            f"{table} is given twice ({names}); keep one file per table",
            value=names,
        )
    absent: dict[str, tuple[KeySet, KeySet | None]] = {}
    for table in TABLE_ORDER:
        if TABLES[table].required and table not in found and table not in ambiguous:
            if table in load.allow_empty:
                warnings.one(table, Rule.EMPTY_TABLE, f"{table} is not given: it is loaded "
                             "empty (load.allow_empty)")
                if TABLES[table].key:  # a reference to it finds nothing
                    (key,) = TABLES[table].key
                    none = KeySet(TABLES[table].empty().get_column(key))
                    absent[table] = (none, None if target is None else none)
                continue
            pattern = load.files.get(table)
            errors.one(
                table,
                Rule.MISSING_TABLE,
                f"required table {table} is missing: no {table}.csv or {table}.parquet"
                + (f" (nor a file that matches load.files.{table})" if pattern else "")
                + _missing_hint(table, source),
            )

    dropped: dict[str, int] = {}  # exact duplicate rows left out, per table
    targets: dict[str, tuple[KeySet, KeySet | None]] = dict(absent)
    kept: dict[str, pl.DataFrame] = {}
    quarantined: dict[str, pl.DataFrame] = {}
    rows: dict[str, int] = {}
    loaded: dict[str, int] = {}
    released: dt.date | None = None
    taken = offered = False
    with progress.step("Loading and validating", total=None) as advance:
        for table in TABLE_ORDER if take_links is None else _LINKS_FIRST:
            if take_links is not None and not offered and table not in LINK_TABLES:
                offered = True
                taken, released = _take(take_links, kept, errors, target is not None)
            if table not in found:
                continue
            tf = found[table]
            frame = None
            if tf.query is not None:
                try:
                    frame = read_query(tf, sources)
                except UnreadableFile as e:
                    errors.one(table, Rule.UNREADABLE_FILE, f"{table} cannot be made: {e}",
                               value=e.value)
                    continue
            state = check_table(
                tf,
                mapping[table],
                errors,
                warnings,
                settings.detection.freeze,
                region,
                bounds=bounds,
                frame=frame,
            )
            del frame
            if state is None:
                continue
            if state.spans:
                spans[table] = state.spans
            advance(state.raw.height)
            rows[table] = state.raw.height
            check_references(state, targets, errors)
            rejected = _rejected(errors, table) if target is not None else None
            # a table loaded empty is checked against as an absent one: not at all (every
            # reference to it would otherwise be unknown_reference)
            if state.complete and state.table.key and state.raw.height:
                (key,) = state.table.key
                targets[table] = target_ids(state, key, rejected)
            drop = state.drop if rejected is None else pl.concat([state.drop, rejected])
            frame = state.typed
            if drop.len():
                frame = frame.filter(~pl.col(ROW).is_in(drop.implode()))
            kept[table] = frame.drop(ROW)
            loaded[table] = kept[table].height
            if rejected is not None and rejected.len():
                quarantined[table] = rejected_rows(state.raw, state.header, errors.of(table))
            dropped[table] = state.drop.len()
            del state, frame  # the table as read is no longer needed

    rows = {t: rows[t] for t in TABLE_ORDER if t in rows}
    positions = _column_positions()
    failures = _located(errors.frame(_TABLE_POS, positions), spans)
    structural = errors.rules() & set(STRUCTURAL_RULES)
    dataset = None
    if not errors.total or (target is not None and not structural):
        present = frozenset(kept)
        for table in load.allow_empty:  # v3: absent or header-only, loaded empty
            if TABLES[table].required and table not in kept:
                kept[table] = TABLES[table].empty()
        dataset = Dataset(
            **kept,
            present=present,
            source=str(source),
            released=frozenset(_TAKEN) & frozenset(kept) if taken else frozenset(),
            released_latest=released,
        )
    rejected_total = sum(f.height for f in quarantined.values())
    if target is not None and dataset is not None:
        write_quarantine(
            target,
            quarantined,
            _summary(source, found, rows, loaded, quarantined, dropped, errors, warnings),
        )
    return Validation(
        source=source,
        failures=failures if target is None else failures.head(cap),
        failure_total=errors.total,
        counts=errors.summary(),
        warnings=_located(warnings.frame(_TABLE_POS, positions), spans),
        warning_total=warnings.total,
        rows=rows,
        dataset=dataset,
        rejected=rejected_total if dataset is not None else 0,
        quarantine=target if dataset is not None else None,
    )


def _with_options(tf: TableFile, load: LoadConfig, enc_sep: tuple[str, str]) -> TableFile:
    """``tf`` with how its table is read: ``load.*`` and ``load.per_table.<table>``."""
    own = load.per_table.get(tf.table, {})
    fmt = own.get("date_format", load.date_format)
    if fmt:
        check_date_format(fmt, f"load.per_table.{tf.table}.date_format")
    return dataclasses.replace(
        tf, encoding=enc_sep[0], separator=enc_sep[1], date_format=fmt,
        decimal_comma=bool(own.get("decimal_comma", load.decimal_comma)),
        max_rows=int(own.get("max_rows", load.max_rows)),
        max_field_bytes=load.max_field_bytes)


def _missing_hint(table: str, source: Path) -> str:
    """For a missing table, the files of ``source`` that look like it (a dated name, a
    name in upper case) and the setting that reads them."""
    try:
        names = sorted(p.name for p in source.iterdir() if not p.name.startswith("."))
    except OSError:
        return ""
    alike = [n for n in names if n.lower().startswith(table) and n.split(".")[0] != table]
    if not alike:
        return ""
    suffix = alike[0].rsplit(".", 1)[-1] if "." in alike[0] else "csv"
    return (f"; the folder has {', '.join(alike[:3])}: to read them as {table}, set "
            f'[load.files] {table} = "{table}*.{suffix}"')


def _located(failures: pl.DataFrame, spans: dict[str, list[Span]]) -> pl.DataFrame:
    """Failures of a table read from several files, each message naming the file and its
    own line (v3): ``... (users_20261121.csv line 3)``."""
    if failures.is_empty() or not spans:
        return failures
    where = pl.DataFrame(
        [(t, first, last, name) for t, parts in spans.items() for first, last, name in parts],
        schema={"table": pl.String, "_first": pl.Int64, "_last": pl.Int64, "_file": pl.String},
        orient="row")
    indexed = failures.with_row_index("_i")
    hits = (indexed.join(where, on="table")
            .filter(pl.col("row").is_between("_first", "_last"))
            .select("_i", pl.when(pl.col("_file").str.starts_with("load.query."))
                    .then(pl.format(" (row {} of the result of {})",
                                    pl.col("row") - pl.col("_first") + 1, "_file"))
                    .otherwise(pl.format(" ({} line {})", "_file",
                                         pl.col("row") - pl.col("_first") + 2)).alias("_at")))
    return (indexed.join(hits, on="_i", how="left").sort("_i")
            .with_columns(pl.when(pl.col("_at").is_not_null())
                          .then(pl.col("message") + pl.col("_at"))
                          .otherwise(pl.col("message")).alias("message"))
            .drop("_i", "_at"))


def _take(
    take_links: TakeLinks, kept: dict[str, pl.DataFrame], errors: Collector, quarantine: bool
) -> tuple[bool, dt.date | None]:
    """Hand the loaded link tables to ``take_links`` (unless there are errors that keep
    the dataset from being built); when it takes them, ``kept`` holds them empty.
    Returns whether it took them, and their latest date."""
    structural = errors.rules() & set(STRUCTURAL_RULES)
    if (errors.total and not quarantine) or structural or "users" not in kept:
        return False, None
    given = [t for t in _TAKEN if t in kept]
    days = [latest_of(t, kept[t]) for t in given]
    tables = {"users": kept["users"], **{t: kept.pop(t) for t in given}}
    tables.setdefault("devices", TABLES["devices"].empty())  # v3: absent, load.allow_empty
    if not take_links(tables):
        kept.update(tables)
        return False, None
    del tables
    kept.update((t, TABLES[t].empty()) for t in given)
    return True, max((d for d in days if d is not None), default=None)


def _rejected(errors: Collector, table: str) -> pl.Series:
    """The rows of ``table`` with at least one error (quarantine mode keeps all failures)."""
    rows = errors.of(table).get_column("row").drop_nulls()
    return rows.unique().sort()


def _summary(
    source: Path,
    found: dict[str, TableFile],
    rows: dict[str, int],
    loaded: dict[str, int],
    quarantined: dict[str, pl.DataFrame],
    dropped: dict[str, int],
    errors: Collector,
    warnings: Collector,
) -> dict:
    tables = {}
    for table in TABLE_ORDER:
        if table not in rows:
            continue
        tables[table] = {
            "file": found[table].path.name,
            "rows": rows[table],
            "loaded": loaded[table],
            "rejected": quarantined[table].height if table in quarantined else 0,
            "duplicates_dropped": dropped[table],
            "failures_by_rule": {
                rule: n for (t, rule), n in sorted(errors.counts.items()) if t == table
            },
        }
    return {
        "source": str(source),
        "rejected": sum(f.height for f in quarantined.values()),
        "tables": tables,
        "warnings_by_rule": {
            rule: sum(n for (_t, r), n in warnings.counts.items() if r == rule)
            for rule in sorted(warnings.rules())
        },
    }


def load_dataset(
    path: str | os.PathLike[str],
    settings: Settings | None = None,
    *,
    quarantine: str | os.PathLike[str] | None = None,
    progress: Progress | None = None,
    take_links: TakeLinks | None = None,
) -> LoadResult:
    """Load and validate the tables of a directory.

    Parameters
    ----------
    path
        A directory with one ``<table>.csv`` or ``<table>.parquet`` per table.
    settings
        ``settings.load`` (column mapping, error cap) and
        ``settings.detection.freeze`` (known freeze reasons) are used; defaults
        when None.
    quarantine
        A folder for the rejected rows. When given, rows that break a rule are
        left out (and rows that refer to them, cascading), written to this
        folder with their reasons, and the rest is loaded.
    progress
        Where to report progress (one step; advanced by the rows of each table).
    take_links
        For a session that only detects (``xpg detect``): called once
        :data:`LINK_TABLES` are loaded (they are then read first, before every other
        table, and only when no error keeps the dataset from being built) with their
        frames. When it returns True it has built what it needs from them (the
        in-memory backend's link graph): ``devices`` and ``identifiers`` are then let
        go, so they are never held beside the other tables, and the dataset holds
        them empty (:attr:`Dataset.released`). Failures, warnings and the quarantine
        are the same either way.

    Returns
    -------
    LoadResult
        The dataset, the warnings and the number of rejected rows.

    Raises
    ------
    ValidationError
        Any problem (without a quarantine), or a problem with a whole table or
        column (also with one). Its ``failures`` name table, row, column, value
        and rule; nothing is returned or written.
    InputError, ConfigError
        See :func:`validate_dataset`.

    Notes
    -----
    Every check is vectorized (Polars expressions, joins and hash lookups):
    O(rows) time; memory holds the typed tables plus one table as read.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (d / "users.csv").write_text("user_id\\nu1\\n")
    >>> _ = (d / "products.csv").write_text("product_id,kind\\nhuabei,consumption\\n")
    >>> _ = (d / "accounts.csv").write_text(
    ...     "account_id,user_id,product_id,credit_limit,outstanding,status\\n"
    ...     "a1,u1,huabei,5000,1200.5,active\\n")
    >>> _ = (d / "devices.csv").write_text("user_id,device_id\\nu1,d1\\n")
    >>> _ = (d / "external_loans.csv").write_text(
    ...     "user_id,lender_id,opened_at,amount,outstanding,status\\n"
    ...     "u1,L1,2026-11-02,3000,2500,open\\n")
    >>> result = load_dataset(d)
    >>> result.dataset.accounts["outstanding"].to_list(), result.rejected
    ([1200.5], 0)
    """
    return validate_dataset(
        path, settings, quarantine=quarantine, progress=progress, take_links=take_links
    ).result()
