"""Synthetic data in the data contract, with a truth file of what was planted.

:func:`generate` builds every contract table for ``users`` users from one
seed: ordinary users whose behaviour stays under every detection threshold,
and planted populations (rings of several shapes, decoys, hubs, lone
multi-lenders, near misses, every cross-product case and its look-alikes; see
:data:`~xpg.synthetic.kinds.CASE_KINDS`) recorded in ``truth`` with the
exact findings each must produce under the default configuration.
:func:`write` puts the tables (Parquet or CSV) and ``truth.json`` in a folder,
atomically. The same seed gives the same tables, byte for byte.

The format of ``truth.json`` is described in ``docs/synthetic-data.md``.

Examples
--------
>>> s = generate(300, seed=7)
>>> sorted(s.tables) == sorted(TABLES)
True
>>> s.truth["users"], s.truth["as_of"]
(300, '2026-11-20')
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl

from xpg.atomic import staging
from xpg.errors import InputError, TargetExistsError
from xpg.loaders.dataset import Dataset
from xpg.loaders.schema import TABLES
from xpg.progress import NO_PROGRESS, Progress
from xpg.synthetic.builder import Builder
from xpg.synthetic.credit import apply_profiles
from xpg.synthetic.kinds import CASE_KINDS, plant_all
from xpg.synthetic.mixed import DEFAULT_MIXING, MIXED_KINDS, MIXED_MIN_USERS, MixedGraph
from xpg.synthetic.tables import CHUNK_ROWS, TableRows, finalize, plan

__all__ = ["DEFAULT_AS_OF", "MIN_USERS", "SHAPES", "TRUTH_FILE", "Synthetic", "Written",
           "generate", "write"]

DEFAULT_AS_OF = dt.date(2026, 11, 20)
"""The run date of generated data unless one is given: fixed, so outputs are reproducible."""
MIN_USERS = 300
"""The fewest users that hold at least one case of every kind and some ordinary users."""
TRUTH_FILE = "truth.json"
TRUTH_VERSION = 1
TRUTH_VERSION_MIXED = 2
"""The truth of the mixed shape: rings by contract v2 (multi-lending cores of large groups)."""
SHAPES = ("islands", "mixed")
"""The shapes of generated data; the first is the default."""

Format = Literal["parquet", "csv"]
Shape = Literal["islands", "mixed"]


@dataclass(frozen=True)
class Synthetic:
    """Generated tables (contract columns and types, :data:`~xpg.loaders.schema.TABLES` order)
    and the truth of what was planted in them."""

    tables: dict[str, pl.DataFrame]
    truth: dict[str, Any]

    def dataset(self) -> Dataset:
        """The tables as a :class:`~xpg.loaders.dataset.Dataset`, every table present."""
        return Dataset(**self.tables, present=frozenset(self.tables), source="synthetic")

    @property
    def row_count(self) -> int:
        return sum(df.height for df in self.tables.values())

    @staticmethod
    def write_table(df: pl.DataFrame, path: Path, fmt: Format) -> None:
        """Write one table as ``xpg generate`` does (Parquet with zstd and statistics, or CSV)."""
        if fmt == "parquet":
            df.write_parquet(path, compression="zstd", statistics=True)
        else:
            df.write_csv(path, **_CSV_FORMATS)


def _check(users: int, seed: int, shape: str = "islands", mixing: float | None = None) -> None:
    if shape not in SHAPES:
        raise InputError(f"shape {shape!r}: expected one of {', '.join(SHAPES)}", argument="shape")
    if isinstance(users, bool) or not isinstance(users, int | np.integer):
        raise InputError(f"users must be an integer, got {users!r}")
    least = MIXED_MIN_USERS if shape == "mixed" else MIN_USERS
    if users < least:
        raise InputError(
            f"users {users}: at least {least} users are needed to plant every case kind"
            + (" of the mixed shape" if shape == "mixed" else ""),
            argument="users",
        )
    if mixing is not None:
        if shape != "mixed":
            raise InputError(f"mixing applies to the mixed shape only (the shape is {shape})",
                             argument="mixing")
        if isinstance(mixing, bool) or not isinstance(mixing, int | float) or not (
            0 <= mixing <= 1
        ):
            raise InputError(f"mixing {mixing!r}: expected a share from 0 to 1", argument="mixing")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise InputError(f"seed must be a non-negative integer, got {seed!r}")


def generate(
    users: int,
    seed: int,
    as_of: dt.date = DEFAULT_AS_OF,
    *,
    shape: Shape = "islands",
    mixing: float | None = None,
    progress: Progress = NO_PROGRESS,
) -> Synthetic:
    """Generate the contract's tables for ``users`` users and the truth of the planted cases.

    Parameters
    ----------
    users
        Number of users (at least :data:`MIN_USERS`).
    seed
        Random seed: the same seed (and ``as_of``) gives the same tables.
    as_of
        The run date: every date and time in the data is on or before it, and the
        latest is on it, so ``Dataset.latest_date()`` is the run date.
    shape
        ``"islands"`` (the default): every ring and look-alike is a small island, the rest of
        the users unlinked. ``"mixed"``: a sparse, well-mixed identity graph whose giant
        group holds the rings of contract v2 (see :mod:`xpg.synthetic.mixed`); at least
        :data:`~xpg.synthetic.mixed.MIXED_MIN_USERS` users.
    mixing
        The mixed shape's share of links across communities (default
        :data:`~xpg.synthetic.mixed.DEFAULT_MIXING`); only with ``shape="mixed"``.

    Returns
    -------
    Synthetic
        ``tables`` (one frame per contract table) and ``truth`` (see ``docs/synthetic-data.md``).

    Notes
    -----
    Vectorized over users and over the cases of each kind: O(rows) NumPy and Polars work,
    about 10 rows per user. Ordinary behaviour stays under every threshold of the default
    configuration, so the findings on the data are exactly those listed in ``truth``.
    """
    _check(users, seed, shape, mixing)
    with progress.step("Generating", 4) as advance:
        b, graph = _build(int(users), int(seed), as_of, shape, mixing, advance)
        tables = finalize(b)
        advance(1)
        truth = _truth(b, {name: df.height for name, df in tables.items()}, graph)
        advance(1)
    return Synthetic(tables=tables, truth=truth)


def _build(
    users: int, seed: int, as_of: dt.date, shape: str, mixing: float | None,
    advance: Callable[[int], None],
) -> tuple[Builder, dict[str, Any] | None]:
    """Every integer row of a generation (planted cases, then ordinary behaviour)."""
    b = Builder(users, seed, as_of)
    mixed = None
    if shape == "mixed":
        mixed = MixedGraph(b, DEFAULT_MIXING if mixing is None else mixing)
    try:
        if mixed:
            mixed.plant()
        else:
            plant_all(b)
    except OverflowError:  # pragma: no cover - MIN_USERS guards this
        raise InputError(f"users {users}: too few users for the planted cases",
                         argument="users") from None
    advance(1)
    everyone = np.arange(b.n)
    b.own_devices(everyone)
    b.own_identifiers(everyone)
    graph = None
    if mixed:
        mixed.connect()
        graph = mixed.record()
    b.ordinary_accounts(np.flatnonzero(~b.custom_accounts))
    apply_profiles(b)
    advance(1)
    return b, graph


def _truth(
    b: Builder, rows: dict[str, int], graph: dict[str, Any] | None = None
) -> dict[str, Any]:
    planted = b.users_taken
    ordinary = {
        "id": "ordinary",
        "kind": "ordinary",
        "expect": None,
        "users": [],
        "findings": [],
        "count": b.n - planted,
        "note": "every user named in no other case: under every threshold, never a finding",
    }
    kinds = {
        k.name: {"expect": k.expect, "must_not": k.must_not, "cases": b.case_counts[k.name],
                 "description": k.description}
        for k in (CASE_KINDS if graph is None else CASE_KINDS + MIXED_KINDS)
    }  # fmt: skip
    head: dict[str, Any] = {"version": TRUTH_VERSION if graph is None else TRUTH_VERSION_MIXED}
    head |= {"shape": "mixed"} if graph is not None else {}
    return head | {
        "as_of": b.as_of.isoformat(),
        "seed": b.seed,
        "users": b.n,
        "planted_users": planted,
        "rows": rows,
        "kinds": kinds,
        **({} if graph is None else {"graph": graph}),
        "cases": [ordinary, *b.cases],
        **({"screening": b.screening} if b.screening else {}),
    }


def _write_table(rows: TableRows, path: Path, fmt: Format) -> None:
    """Write one table :data:`~xpg.synthetic.tables.CHUNK_ROWS` rows at a time.

    A table of at most one chunk is written from one frame, as :meth:`Synthetic.write_table`
    would. Longer tables stream: CSV chunk after chunk (the same bytes as one frame); Parquet
    through a Polars streaming sink in row groups of 2**17 rows (the same rows and types, but
    not the same row groups, hence not the same bytes, as one frame written whole).
    """
    if rows.height <= CHUNK_ROWS:
        Synthetic.write_table(rows.frame(0, rows.height), path, fmt)
    elif fmt == "csv":
        with path.open("wb") as fh:
            for i, chunk in enumerate(rows.chunks(CHUNK_ROWS)):
                chunk.write_csv(fh, include_header=i == 0, **_CSV_FORMATS)
    else:
        from polars.io.plugins import register_io_source

        def source(with_columns, predicate, n_rows, batch_size):
            left = rows.height if n_rows is None else n_rows
            for chunk in rows.chunks(CHUNK_ROWS):
                if left <= 0:
                    return
                chunk = chunk.head(left)
                left -= chunk.height
                if predicate is not None:
                    chunk = chunk.filter(predicate)
                yield chunk if with_columns is None else chunk.select(with_columns)

        schema = rows.frame(0, 0).schema
        register_io_source(source, schema=schema).sink_parquet(
            path, compression="zstd", statistics=True, row_group_size=_ROW_GROUP
        )


_CSV_FORMATS = {"datetime_format": "%Y-%m-%dT%H:%M:%S", "date_format": "%Y-%m-%d"}
_ROW_GROUP = 1 << 17


@dataclass(frozen=True)
class Written:
    """What :func:`write` wrote: the folder, its format, each table's rows and the truth."""

    folder: Path
    fmt: Format
    rows: dict[str, int]
    truth: dict[str, Any]

    @property
    def row_count(self) -> int:
        return sum(self.rows.values())

    def dataset(self) -> Dataset:
        """The written tables read back as a :class:`~xpg.loaders.dataset.Dataset`."""
        tables = {}
        for name in self.rows:
            path = self.folder / f"{name}.{self.fmt}"
            if self.fmt == "parquet":
                tables[name] = pl.read_parquet(path)
            else:
                tables[name] = pl.read_csv(path, schema=TABLES[name].schema)
        return Dataset(**tables, present=frozenset(tables), source="synthetic")


def write(
    out_dir: str | os.PathLike[str],
    users: int,
    seed: int,
    fmt: Format = "parquet",
    as_of: dt.date = DEFAULT_AS_OF,
    *,
    force: bool = False,
    shape: Shape = "islands",
    mixing: float | None = None,
    progress: Progress = NO_PROGRESS,
) -> Written:
    """Generate and write ``<table>.<parquet|csv>`` for every table, and ``truth.json``.

    The same tables as :func:`generate`, but formatted and written in chunks of
    :data:`~xpg.synthetic.tables.CHUNK_ROWS` rows: the memory held is the builder's integer
    rows (about 0.5 KB per user) and one chunk of strings, not every table's strings
    (:func:`_write_table` says which files keep the bytes of a whole-frame write).

    The files are written to a temporary folder next to ``out_dir`` which is then renamed,
    so ``out_dir`` appears whole or not at all. An existing non-empty ``out_dir`` is refused
    (:class:`~xpg.errors.InputError`) unless ``force`` is given, in which case it is
    replaced only once the new folder is complete.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "data"
    >>> w = write(out, 300, seed=1, fmt="csv")
    >>> sorted(p.name for p in out.iterdir())[:3]
    ['account_events.csv', 'accounts.csv', 'applications.csv']
    >>> w.dataset().users.height
    300
    """
    if fmt not in ("parquet", "csv"):
        raise InputError(f"fmt {fmt!r}: expected parquet or csv", argument="fmt")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise InputError(f"out {out}: exists and is not a folder", argument="out")
    if out.is_dir() and any(out.iterdir()) and not force:
        raise TargetExistsError(f"out {out}: folder exists and is not empty",
                                argument="out", replace_with="force")
    _check(users, seed, shape, mixing)
    parent = out.absolute().parent
    if not parent.is_dir():
        raise InputError(f"out {out}: parent folder {parent} does not exist", argument="out")
    with progress.step("Generating", 2) as advance:
        b, graph = _build(int(users), int(seed), as_of, shape, mixing, advance)
    tables = plan(b)
    rows = {name: t.height for name, t in tables.items()}
    truth = _truth(b, rows, graph)
    with staging(out) as tmp, progress.step("Writing", len(TABLES) + 1) as advance:
        for name in TABLES:
            _write_table(tables.pop(name), tmp / f"{name}.{fmt}", fmt)
            advance(1)
        text = json.dumps(truth, indent=1, ensure_ascii=False)
        (tmp / TRUTH_FILE).write_text(text + "\n", encoding="utf-8")
        advance(1)
        tmp.chmod(0o755)
    return Written(folder=out, fmt=fmt, rows=rows, truth=truth)
