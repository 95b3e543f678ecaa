"""Checking the references between tables: hash joins of a column against a table's keys.

:func:`check_references` reports ``unknown_reference`` (a value no row of the
target has) and, with a quarantine, ``rejected_reference`` (a value only a
rejected row has); :func:`target_ids` gives the keys of a checked table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import polars as pl
from xpg.loaders import messages as say
from xpg.loaders.failures import Collector, Rule
from xpg.loaders.read import ROW
from xpg.loaders.validate import CheckedTable

__all__ = ["KeySet", "check_references", "target_ids"]

_KEY_SEED = 0x5851F42D


@dataclass
class KeySet:
    """The key values of a referenced table, and a hash index of them built on first use.

    The index holds each distinct 64-bit hash of the non-null keys once, with one
    key that has it; the tables referring to one table (five refer to ``users``)
    share it.
    """

    values: pl.Series
    _index: pl.DataFrame | None = field(default=None, repr=False)

    def index(self) -> pl.DataFrame:
        """``h`` (a hash, each once) and ``key`` (a key value with that hash)."""
        if self._index is None:
            keys = self.values.drop_nulls()
            frame = pl.DataFrame({"h": keys.hash(_KEY_SEED), "key": keys})
            if frame.get_column("h").n_unique() != frame.height:  # repeated keys, or a collision
                frame = frame.unique(subset="h", keep="first", maintain_order=True)
            self._index = frame
        return self._index


def _absent_plan(values: pl.LazyFrame, keys: KeySet) -> pl.LazyFrame:
    """The rows of ``values`` (``ROW``, ``value``, ``h``: its hash) that may be absent
    from ``keys``, in row order, with ``sure``: absent for certain.

    A join on 64-bit hashes (several times cheaper than on strings): a value whose
    hash no key has is absent for sure; a value whose hash a key has is present
    when it equals that key. Only the rest (a hash collision, normally none) is
    not sure: :func:`_absent` looks those up exactly.
    """
    return (
        values.join(keys.index().lazy(), on="h", how="left")
        .filter(pl.col("key").is_null() | (pl.col("key") != pl.col("value")))
        .select(ROW, "value", pl.col("key").is_null().alias("sure"))
        .sort(ROW)
    )


def _absent(found: pl.DataFrame, keys: KeySet) -> pl.DataFrame:
    """``ROW`` and ``value`` of the rows absent from ``keys``, from :func:`_absent_plan`."""
    unsure = ~found.get_column("sure")
    if unsure.any():
        present = unsure & found.get_column("value").is_in(keys.values.drop_nulls().implode())
        found = found.filter(~present)
    return found.select(ROW, "value")


def check_references(
    state: CheckedTable,
    targets: Mapping[str, tuple[KeySet, KeySet | None]],
    errors: Collector,
) -> None:
    """Check the references of one table.

    ``targets`` maps a referenced table to ``(all its key values, the key values
    of its kept rows)``; the second is None without a quarantine. A value in
    neither is ``unknown_reference``; one only in the first points to a rejected
    row (``rejected_reference``, the cascade of a quarantine). A table that is
    absent (or could not be checked) is skipped: its absence is reported already.

    Notes
    -----
    Each check is a hash join (multi-threaded) of the 64-bit hashes of the
    referring column against those of the target's keys, every match compared
    with its key, and an exact look-up of the values whose hash matched a
    different key (collisions: normally none); all references of a table run
    together. O(rows + keys).
    """
    refs = [
        r for r in state.table.references if r.table in targets and r.column in state.typed.columns
    ]
    if not refs:
        return
    plans = []
    for ref in refs:
        every, kept = targets[ref.table]
        values = (
            state.typed.lazy()
            .select(ROW, pl.col(ref.column).alias("value"))
            .filter(pl.col("value").is_not_null())
            .with_columns(pl.col("value").hash(_KEY_SEED).alias("h"))
        )
        plans.append(_absent_plan(values, every))
        if kept is not None:
            plans.append(_absent_plan(values, kept))
    results = iter(pl.collect_all(plans))
    for ref in refs:
        every, kept = targets[ref.table]
        unknown = _absent(next(results), every)
        _reference_failures(
            state,
            ref.column,
            unknown,
            Rule.UNKNOWN_REFERENCE,
            errors,
            say.unknown_reference(ref.column, ref.table),
        )
        if kept is not None:
            gone = _absent(next(results), kept).join(unknown.select(ROW), on=ROW, how="anti")
            _reference_failures(
                state,
                ref.column,
                gone,
                Rule.REJECTED_REFERENCE,
                errors,
                say.rejected_reference(ref.column, ref.table),
            )


def _reference_failures(
    state: CheckedTable, column: str, found: pl.DataFrame, rule: Rule, errors: Collector,
    message: pl.Expr,
) -> None:
    if found.is_empty():
        return
    shown = found if errors.cap is None else found.head(errors.cap)
    frame = shown.select(
        pl.lit(state.name).alias("table"),
        pl.col(ROW).alias("row"),
        pl.lit(state.display.get(column, column)).alias("column"),
        "value",
        pl.lit(str(rule)).alias("rule"),
        message.alias("message"),
    )
    errors.add(frame, total=found.height)


def target_ids(
    state: CheckedTable, column: str, rejected: pl.Series | None
) -> tuple[KeySet, KeySet | None]:
    """``(all key values, kept key values or None)`` of a referenced table.

    The ``targets`` entry of :func:`check_references`; ``rejected`` holds the
    rejected rows of the table (None without a quarantine).
    """
    every = KeySet(state.typed.get_column(column))
    if rejected is None or rejected.is_empty():
        return every, None if rejected is None else every
    kept = every.values.filter(~state.typed.get_column(ROW).is_in(rejected.implode()))
    return every, KeySet(kept)
