"""Checks of a table file as a whole: a header in another separator, a table without rows.

Both are v2 of the data contract's messages: ``wrong_separator`` says which
separator the header holds and how to read it (``load.separator``);
``empty_table`` is an error for :data:`MUST_HOLD_ROWS` and a warning for the
other tables.
"""

from __future__ import annotations

from xpg.loaders.failures import Collector, Rule
from xpg.loaders.read import TableFile

__all__ = ["MUST_HOLD_ROWS", "empty_table", "wrong_separator", "zero_bytes"]

_SEPARATOR_NAMES = {",": "','", ";": "';'", "\t": "a tab", "|": "'|'"}


def wrong_separator(tf: TableFile, header: list[str], errors: Collector) -> bool:
    """Report a one-field header that holds another separator; True when it does."""
    if tf.format != "csv" or len(header) != 1:
        return False
    field = header[0]
    for sep, name in _SEPARATOR_NAMES.items():
        if sep != tf.separator and sep in field:
            option = "\\t" if sep == "\t" else sep
            errors.one(
                tf.table,
                Rule.WRONG_SEPARATOR,
                f"the header of {tf.path.name} is one column that holds {name}: the file looks "
                f"{name}-separated, not {_SEPARATOR_NAMES.get(tf.separator, repr(tf.separator))}"
                f'-separated; set load.separator = "{option}" (or, for this table only, '
                f'[load.per_table.{tf.table}] separator = "{option}")',
                row=1,
                value=field[:200],
            )
            return True
    return False


# v2: tables that must hold at least one row (an empty one is an error; others warn).
MUST_HOLD_ROWS = frozenset({"users", "products", "accounts"})


def empty_table(tf: TableFile, zero_bytes: bool, errors: Collector, warnings: Collector,
                *, allowed: bool = False) -> None:
    """Report a table without rows: an error for :data:`MUST_HOLD_ROWS` (unless ``allowed``:
    v3, ``load.allow_empty`` names it), else a warning."""
    what = "is empty (0 bytes: no header, no rows)" if zero_bytes else "has a header and no rows"
    if tf.table in MUST_HOLD_ROWS and not allowed:
        errors.one(
            tf.table,
            Rule.EMPTY_TABLE,
            f"{tf.label} {what}: {tf.table} must hold at least one row; an empty "
            f"{tf.table} table is what a broken upstream export looks like: check the export "
            f'(for data that has no {tf.table}, set load.allow_empty = ["{tf.table}"])',
            value=tf.path.name,
        )
    else:
        why = "load.allow_empty" if allowed else "allowed"
        warnings.one(
            tf.table,
            Rule.EMPTY_TABLE,
            f"{tf.label} {what}: {tf.table} is loaded empty ({why}; references to it "
            "are not checked, as for an absent table; check the export if rows were "
            "expected)",
            value=tf.path.name,
        )


def zero_bytes(tf: TableFile) -> bool:
    """Whether the file has no byte at all (no header either)."""
    try:
        return tf.path.stat().st_size == 0
    except OSError:
        return False  # reported when the file is read
