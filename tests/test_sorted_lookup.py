"""The sorted tables' lookups (:class:`xpg.queries.investigate.sources._Sorted`): the
binary search over the fence and its windows, and the rows read per key, against plain
Python on keys around the fence's boundaries."""

from __future__ import annotations

import bisect
import datetime as dt
import random

import polars as pl
import pytest
from xpg.queries.investigate.sources import _KeyColumn, _Sorted

STRIDE = _KeyColumn.STRIDE


def _keys(rng: random.Random, n: int, nulls: int) -> list[str | None]:
    # runs of 1 to 3 x STRIDE rows (spanning fence keys), many of one row
    out: list[str] = []
    while len(out) < n:
        run = rng.choice([1, 1, 1, 2, 5, STRIDE - 1, STRIDE, STRIDE + 1, 3 * STRIDE])
        out += [f"k{len(out):06d}"] * run
    return [None] * nulls + out[:n]


@pytest.mark.parametrize("n", [0, 1, 2, STRIDE - 1, STRIDE, STRIDE + 1, 2 * STRIDE,
                               2 * STRIDE + 1, 1000])
@pytest.mark.parametrize("nulls", [0, 3])
def test_runs_are_those_of_a_plain_search(n, nulls):
    rng = random.Random(n * 7 + nulls)
    keys = _keys(rng, n, nulls)
    column = _KeyColumn(pl.Series("k", keys, dtype=pl.String).set_sorted())
    plain = [k for k in keys if k is not None]
    asked = [*sorted(set(plain)), "", "k", "k000000a", "z",
             *(f"k{i:06d}x" for i in range(0, n + 1, 13))]
    for value in asked:
        a = nulls + bisect.bisect_left(plain, value)
        b = nulls + bisect.bisect_right(plain, value)
        assert column.run(value) == (a, b), value


def test_rows_are_the_slices_columns():
    """``_Sorted.rows``: each key's rows as the slice's columns give them (dates, nulls,
    floats), or the slice itself past ``most`` rows, in key order."""
    users = ["u3", "u1", "u2", "u2", "u9", "u2", "u1"]
    frame = pl.DataFrame({
        "user_id": users,
        "n": [1.5, None, 2.0, 3.0, 4.0, 5.0, 6.0],
        "day": [dt.date(2024, 1, i + 1) if i != 2 else None for i in range(7)],
        "at": [dt.datetime(2024, 1, 1, i) for i in range(7)],
    })
    table = _Sorted(frame, "user_id", "n")
    asked = ["u2", "u1", "nobody", "u3", None, "u2"]
    columns = ("at", "user_id", "day", "n")
    expected = [list(zip(*(f.get_column(c).to_list() for c in columns), strict=True))
                for f in table.slices(asked)]
    assert table.rows(asked, columns) == expected
    assert [len(r) for r in expected] == [2, 3, 1]
    parts = table.rows(asked, ["user_id"], most=2)
    assert isinstance(parts[1], pl.DataFrame) and parts[1].equals(table.slices(asked)[1])
    assert parts[0] == [("u1",), ("u1",)] and parts[2] == [("u3",)]
    assert table.rows([], columns) == []
