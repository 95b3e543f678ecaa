"""What the queries read: an :class:`InvestigationSource` (a few small Polars frames
about the asked ids) and a :class:`FindingsIndex` (a findings report by id and user).

:class:`MemorySource` answers over an in-memory
:class:`~xpg.loaders.dataset.Dataset`; the Neo4j backend's source is
:class:`xpg.graph.neo4j.investigate.Neo4jSource`.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import polars as pl
import xpg.queries.investigate.base as base
from xpg.queries.findings import Finding, FindingsReport
from xpg.queries.frames import conform_to
from xpg.queries.investigate.base import DEVICE, LENDER, OPEN_LOAN_STATUSES
from xpg.queries.investigate.search import LinkSource, connected_group
from xpg.queries.rules import group_types

if TYPE_CHECKING:
    import numpy as np
    from xpg.loaders.dataset import Dataset

    from xpg.linkgraph.links import Links

__all__ = [
    "SOURCE_SCHEMAS",
    "FindingsIndex",
    "InvestigationSource",
    "MemorySource",
    "conform",
    "lender_names",
]


_S, _F, _D, _T = pl.String(), pl.Float64(), pl.Date(), pl.Datetime("us")

#: The frames a source returns (column -> dtype); extra columns are dropped.
SOURCE_SCHEMAS: dict[str, dict[str, pl.DataType]] = {
    "users": {"user_id": _S, "registered_at": _T, "credit_score": pl.Int64()},
    "accounts": {
        "account_id": _S, "user_id": _S, "product_id": _S, "product_kind": _S,
        "product_name": _S, "credit_limit": _F, "outstanding": _F, "status": _S,
        "status_reason": _S, "status_changed_at": _T, "opened_at": _D,
    },
    "links": {"user_id": _S, "kind": _S, "value": _S, "first_seen": _T, "last_seen": _T},
    "link_users": {"kind": _S, "value": _S, "user_id": _S},
    "link_degrees": {"kind": _S, "value": _S, "users": pl.Int64()},
    "loans": {
        "user_id": _S, "lender_id": _S, "opened_at": _D, "amount": _F, "outstanding": _F,
        "status": _S, "closed_at": _D,
    },
    "applications": {"user_id": _S, "lender_id": _S, "applied_at": _T, "outcome": _S},
    "lenders": {"lender_id": _S, "name": _S, "type": _S},
    "account_events": {
        "user_id": _S, "account_id": _S, "product_id": _S, "at": _T, "event": _S,
        "old_limit": _F, "new_limit": _F, "reason": _S,
    },
}


def conform(name: str, frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with exactly the columns and dtypes of ``SOURCE_SCHEMAS[name]``
    (a missing column is a null one)."""
    return conform_to(name, SOURCE_SCHEMAS[name], frame, fill_missing=True)


class FindingsIndex:
    """A findings report indexed by id and by user (built once per report).

    Ring ids may be asked by the id a nightly report carried forward or by the
    id the detection gave (``evidence["lineage"]["detected_id"]``).
    """

    def __init__(self, report: FindingsReport):
        self.report = report
        self.by_id: dict[str, Finding] = {f.id: f for f in report.findings}
        self._alias: dict[str, str] = {}
        users: dict[str, list[Finding]] = defaultdict(list)
        for f in report.findings:
            for u in f.users:
                users[u].append(f)
            lineage = f.evidence.get("lineage") if isinstance(f.evidence, Mapping) else None
            if isinstance(lineage, Mapping) and lineage.get("detected_id"):
                self._alias[str(lineage["detected_id"])] = f.id
        self._by_user = dict(users)

    @property
    def as_of(self) -> dt.date:
        return self.report.as_of

    def get(self, finding_id: str) -> Finding | None:
        f = self.by_id.get(finding_id)
        if f is None and finding_id in self._alias:
            f = self.by_id.get(self._alias[finding_id])
        return f

    def of_user(self, user_id: str) -> tuple[Finding, ...]:
        return tuple(self._by_user.get(user_id, ()))

    def types_of(self, user_id: str) -> tuple[str, ...]:
        return tuple(sorted({f.type for f in self.of_user(user_id)}))

    def flagged_users(self) -> set[str]:
        return set(self._by_user)

    @cached_property
    def flagged_frame(self) -> pl.DataFrame:
        """The flagged users as a one-column frame (``user_id``), for joins."""
        return pl.DataFrame({"user_id": sorted(self._by_user)}, schema={"user_id": pl.String})

    @cached_property
    def typed_members(self) -> pl.DataFrame:
        """One row per (finding, user): ``finding_id``, ``type``, ``user_id``, for joins."""
        found = self.report.findings
        return pl.DataFrame(
            {
                "finding_id": [f.id for f in found for _ in f.users],
                "type": [f.type for f in found for _ in f.users],
                "user_id": [u for f in found for u in f.users],
            },
            schema={"finding_id": pl.String, "type": pl.String, "user_id": pl.String},
        )

    @cached_property
    def ring_members(self) -> pl.DataFrame:
        """One row per (ring finding, member): ``ring_id``, ``severity``, ``members`` (the
        ring's size) and ``user_id``, for joins."""
        groups = group_types()
        rings = [f for f in self.report.findings if f.type in groups]
        return pl.DataFrame(
            {
                "ring_id": [f.id for f in rings for _ in f.users],
                "severity": [f.severity for f in rings for _ in f.users],
                "members": [len(f.users) for f in rings for _ in f.users],
                "user_id": [u for f in rings for u in f.users],
            },
            schema={"ring_id": pl.String, "severity": pl.String, "members": pl.Int64,
                    "user_id": pl.String},
        )


@runtime_checkable
class InvestigationSource(LinkSource, Protocol):
    """What a backend answers so that the views can be assembled.

    Every method returns a frame of :data:`SOURCE_SCHEMAS` (run it through
    :func:`conform`), filtered *as of* the run date as the module says.
    ``kinds`` names link kinds: ``"device"``, identifier kinds and ``"lender"``
    (open/overdue loans, ``value`` = lender id, ``first_seen`` = opened at). The link
    hooks (``links``, ``link_degrees``, ``link_users``) are those of
    :class:`~xpg.queries.investigate.search.LinkSource`.
    """

    def users(self, user_ids: Sequence[str]) -> pl.DataFrame: ...

    def accounts(self, user_ids: Sequence[str], as_of: dt.date) -> pl.DataFrame: ...

    def loans(self, user_ids: Sequence[str], as_of: dt.date) -> pl.DataFrame: ...

    def applications(self, user_ids: Sequence[str], as_of: dt.date) -> pl.DataFrame: ...

    def lenders(self, lender_ids: Sequence[str]) -> pl.DataFrame: ...

    def lender_loans(self, lender_id: str, as_of: dt.date) -> pl.DataFrame:
        """Every external loan at the lender (any status) opened on or before the date."""
        ...

    def lender_applications(self, lender_id: str, as_of: dt.date) -> int: ...

    def lender_known(self, lender_id: str) -> bool:
        """Whether the lender is in ``lenders`` or named by any loan or application."""
        ...

    def account_events(self, user_ids: Sequence[str], as_of: dt.date) -> pl.DataFrame:
        """The events of the users' accounts on or before the date (the user's timeline)."""
        ...

    def group(
        self, user_id: str, as_of: dt.date, kinds: Sequence[str], hub_max: int
    ) -> pl.DataFrame:
        """``user_id`` (sorted): the user's connected group over the links of ``kinds``
        as of the date, crossing no node of more than ``hub_max`` users (the ring rule's
        groups), the user included (:func:`~xpg.queries.investigate.search.connected_group`
        answers over the other hooks)."""
        ...


class _KeyColumn:
    """A sorted key column searched by :mod:`bisect` (nulls, sorted first, are skipped by
    starting the search past them), with every :data:`STRIDE`-th key in a Python list (the
    fence): a search bisects the fence in Python, then the keys between two fence keys,
    read as one list (:meth:`run`), instead of bisecting the column itself (each read of
    one Polars value costs about a microsecond, 2 x 20 of them at a million rows)."""

    STRIDE = 64

    def __init__(self, keys: pl.Series):
        self.keys = keys
        self.n = len(keys)
        self.start = keys.null_count()
        self.fence = keys.slice(self.start).gather_every(self.STRIDE).to_list()

    def __len__(self) -> int:
        return self.n

    def _window(self, i: int) -> tuple[int, int]:
        """The rows after fence key ``i - 1`` up to fence key ``i``."""
        lo = self.start + (i - 1) * self.STRIDE + 1 if i else self.start
        return lo, min(self.start + i * self.STRIDE, self.n)

    def _keys(self, lo: int, hi: int) -> list[str]:
        """The keys of rows ``lo`` to ``hi`` (a window: under :data:`STRIDE`) as a list."""
        return self.keys.slice(lo, hi - lo).to_list()

    def run(self, value: str) -> tuple[int, int]:
        """The ``(start, stop)`` rows holding ``value`` (empty when none).

        Each window searched is read as one list (one call: about 3 microseconds for 64
        keys, where the bisection's 6 single reads cost about 6); a value that is no fence
        key lies in one window, read once."""
        fence = self.fence
        i = bisect.bisect_left(fence, value)
        # past the fence keys equal to the value (none, mostly: one comparison)
        j = bisect.bisect_right(fence, value, i) if i < len(fence) and fence[i] == value else i
        lo, hi = self._window(i)
        keys = self._keys(lo, hi)
        a = lo + bisect.bisect_left(keys, value)
        if j != i:  # the value is a fence key: its last row is in a later window
            lo, hi = self._window(j)
            keys = self._keys(lo, hi)
        return a, lo + bisect.bisect_right(keys, value, max(a, lo) - lo)


class _Sorted:
    """A frame sorted by one string key, sliced by binary search (small key sets).

    The binary search is :mod:`bisect` over the key column and a fence of every 64th key
    (:class:`_KeyColumn`): Polars' own ``search_sorted`` builds and runs a query per call,
    about ten times the cost for the few keys a lookup asks.
    """

    _SEARCH_MAX = 256

    def __init__(self, frame: pl.DataFrame, key: str, *then: str, presorted: bool = False):
        self.key = key
        self.frame = frame if presorted else frame.sort([key, *then])
        self.keys = self.frame.get_column(key).set_sorted()

    @cached_property
    def _column(self) -> _KeyColumn:
        return _KeyColumn(self.keys)

    def ranges(self, values: Iterable[str]) -> list[tuple[int, int]]:
        """The ``(start, stop)`` row range of each of ``values`` present, in key order."""
        col = self._column
        out = []
        if not isinstance(values, (list, tuple)) or len(values) != 1:
            values = sorted({v for v in values if v is not None})
        elif values[0] is None:
            return out
        for v in values:
            a, b = col.run(v)
            if b > a:
                out.append((a, b))
        return out

    def take(self, values: Iterable[str]) -> pl.DataFrame:
        """The rows whose key is one of ``values``, in key order.

        Few keys: a binary search per key and zero-copy slices; many keys
        (a large frontier): one hash filter over the whole frame.
        """
        vals = sorted({v for v in values if v is not None})
        if not vals:
            return self.frame.clear()
        if len(vals) > self._SEARCH_MAX:
            return self.frame.filter(pl.col(self.key).is_in(vals))
        parts = [self.frame[a:b] for a, b in self.ranges(vals)]
        if len(parts) == 1:
            return parts[0]
        return pl.concat(parts) if parts else self.frame.clear()

    def slices(self, values: Iterable[str]) -> list[pl.DataFrame]:
        """The rows of each of ``values`` present, one zero-copy slice per value, in key
        order (no Polars query: for a caller that reads the few rows in Python)."""
        return [self.frame[a:b] for a, b in self.ranges(values)]

    @cached_property
    def _narrow(self) -> dict[tuple[str, ...], pl.DataFrame]:
        return {}

    def rows(self, values: Iterable[str], columns: Sequence[str], most: int | None = None
             ) -> list[list[tuple[Any, ...]] | pl.DataFrame]:
        """The rows of each of ``values`` present, in key order, as :meth:`slices` gives
        them: each key's rows as tuples of ``columns`` (what the slice's columns give,
        read with one call), or, past ``most`` rows, the key's slice itself (a hub, for a
        caller that counts it with Polars)."""
        cols = tuple(columns)
        narrow = self._narrow.get(cols)
        if narrow is None:  # zero-copy: the frame's columns, kept per column tuple
            narrow = self._narrow.setdefault(cols, self.frame.select(cols))
        return [self.frame[a:b] if most is not None and b - a > most
                else narrow.slice(a, b - a).rows() for a, b in self.ranges(values)]


def _seen_by(column: str, as_of: dt.date) -> pl.Expr:
    return pl.col(column).is_null() | (pl.col(column).dt.date() <= as_of)




def _seen(first_seen: dt.date | None, as_of: dt.date) -> bool:
    """:func:`_seen_by` for one value."""
    if first_seen is None:
        return True
    day = first_seen.date() if isinstance(first_seen, dt.datetime) else first_seen
    return day <= as_of


def _small(frame: pl.DataFrame, schema: Mapping[str, pl.DataType | None]) -> bool:
    """Whether ``frame`` is small and holds the columns of ``schema`` in their dtypes
    (then the Python path gives what the Polars one would, without casting)."""
    return frame.height <= base.SMALL_ROWS and all(
        t is not None and frame.schema.get(c) == t for c, t in schema.items())


def _rows_where(frame: pl.DataFrame, schema: Mapping[str, pl.DataType], keep: list[bool]
                ) -> pl.DataFrame:
    """The rows of ``frame`` where ``keep``, in order, with the columns of ``schema``."""
    if all(keep):
        if list(frame.columns) == list(schema):
            return frame
        return pl.DataFrame([frame.get_column(c) for c in schema])
    idx = [i for i, k in enumerate(keep) if k]
    return pl.DataFrame({c: [col[i] for i in idx] for c, col in (
        (c, frame.get_column(c).to_list()) for c in schema)}, schema=dict(schema))


def _dated_by(frame: pl.DataFrame, column: str, as_of: dt.date, *, keep_null: bool
              ) -> pl.DataFrame | None:
    """The rows of a small ``frame`` whose ``column`` (a ``Date``, or a ``Datetime``
    without a time zone) falls on or before ``as_of``, null rows kept when
    ``keep_null``, filtered in Python; None when the frame is not small or the column
    is of another type (the caller filters with Polars)."""
    dtype = frame.schema.get(column)
    if frame.height > base.SMALL_ROWS or not (
            dtype == pl.Date or (isinstance(dtype, pl.Datetime) and dtype.time_zone is None)):
        return None
    keep = [i for i, d in enumerate(frame.get_column(column).to_list())
            if (keep_null if d is None else
                (d.date() if isinstance(d, dt.datetime) else d) <= as_of)]
    if len(keep) == frame.height:
        return frame
    return frame[keep] if keep else frame.clear()  # a gather, no query planned


NODE_SEPARATOR = "\x1f"
"""Between a node's kind and value in the ``node`` key of the link rows by node."""

NODE_KEY = (pl.col("kind") + pl.lit(NODE_SEPARATOR) + pl.col("value")).alias("node")
"""The ``node`` key of rows with ``kind`` and ``value``."""


def _by_node(links: pl.DataFrame) -> pl.DataFrame:
    """``node`` (``kind``, :data:`NODE_SEPARATOR`, ``value``), ``kind``, ``value``,
    ``user_id``, ``first_seen`` of the link rows ``links`` (one per user and node), sorted
    by ``node`` then ``user_id`` (``links`` is sorted by ``user_id``).

    When no kind holds a character that sorts before the separator (then the order of the
    node keys is that of (kind, value)), each kind's rows, in user order, are sorted
    stably on their value alone (Arrow's ``sort_indices``, stable: rows of one value keep
    their user order) and put one after the other in kind order. Arrow's one-key sort
    takes about half the CPU of Polars' sort on (value, user) (0.28 against 0.54 s for
    the 1.1 million link rows of 200,000 generated users), which took about two thirds of
    one sort on the node key. Otherwise (or with a null value) one stable sort on the node
    key of the rows, which are in user order."""
    node = NODE_KEY
    kinds = links.get_column("kind").unique().to_list()
    if (None in kinds or any(min(k, default="\x7f") <= NODE_SEPARATOR for k in kinds)
            or links.get_column("value").null_count()):
        # the rows are in user order: a stable sort on the node alone orders by node, user
        return links.select(node, "kind", "value", "user_id", "first_seen").sort(
            "node", maintain_order=True)
    import pyarrow.compute as pc  # not at the top: a cold query from the state needs none

    parts = []
    for k in sorted(kinds):
        part = links.filter(pl.col("kind") == k).select("kind", "value", "user_id",
                                                        "first_seen")
        order = pc.sort_indices(part.get_column("value").to_arrow())  # stable
        parts.append(part[pl.Series(order, dtype=pl.Int64)])
    rows = pl.concat(parts) if parts else links.select("kind", "value", "user_id", "first_seen")
    return rows.select(node, pl.all())


def _merge_runs(rows: pl.DataFrame, new: np.ndarray) -> pl.DataFrame:
    """The first row of each run of ``rows`` (``new``: where a run starts) with the run's
    earliest ``first_seen`` (null when a row has none) and latest ``last_seen`` (null when
    none has one): what a group-by of the runs gives, from one filter and integer
    reductions over the runs (temporal columns)."""
    import numpy as np  # not at the top: a cold query from the state imports no numpy

    starts = np.flatnonzero(new)
    out = rows.filter(pl.Series(new))

    def reduced(name: str, reduce: np.ufunc, fill: int, null_if_any: bool) -> pl.Series:
        col = rows.get_column(name)
        nulls = np.add.reduceat(col.is_null().to_numpy().astype(np.int64), starts)
        values = reduce.reduceat(col.to_physical().cast(pl.Int64).fill_null(fill).to_numpy(),
                                 starts)
        # first_seen: null when a row has none; last_seen: null when no row has one
        missing = nulls > 0 if null_if_any else nulls == np.diff(np.append(starts, new.size))
        return pl.Series(name, values).cast(col.to_physical().dtype).cast(col.dtype).scatter(
            np.flatnonzero(missing), None)

    int_max, int_min = np.iinfo(np.int64).max, np.iinfo(np.int64).min
    return out.with_columns(reduced("first_seen", np.minimum, int_max, True),
                            reduced("last_seen", np.maximum, int_min, False))


class MemorySource:
    """:class:`InvestigationSource` over an in-memory :class:`Dataset`.

    Sorted copies of the tables are built on first use (one sort per table
    and key); each lookup is then a binary search and a slice. ``links``: the
    dataset's link graph (:class:`~xpg.linkgraph.links.Links`), when the caller holds
    it: the connected groups are then its components.
    """

    in_memory = True
    """Every lookup reads tables held in this process (no file or network read): a
    service may answer it on its event loop."""

    def __init__(self, dataset: Dataset, links: Links | None = None):
        self.dataset = dataset
        self._links = links
        self._last_nodes: tuple[dt.date, set[tuple[str, str]], pl.DataFrame] | None = None

    # sorted tables -----------------------------------------------------------
    @cached_property
    def _users(self) -> _Sorted:
        return _Sorted(conform("users", self.dataset.users), "user_id")

    @cached_property
    def _accounts(self) -> _Sorted:
        products = self.dataset.products.select(
            "product_id", pl.col("kind").alias("product_kind"),
            pl.col("name").alias("product_name"),
        )
        acc = self.dataset.accounts.join(products, on="product_id", how="left")
        return _Sorted(conform("accounts", acc), "user_id", "account_id")

    def _link_rows(self) -> pl.DataFrame:
        """One row per (user, node), sorted by ``user_id``, ``kind``, ``value``: the
        earliest ``first_seen`` (null if any row lacks one) and the latest ``last_seen``.

        One sort of the rows, then the runs of equal keys merged (an integer group-by,
        only when a (user, node) repeats): a hash group-by of the three strings followed
        by the same sort of its result costs about twice as much."""
        ds = self.dataset
        keys = ["user_id", "kind", "value"]
        rows = pl.concat([
            ds.devices.select(
                "user_id", pl.lit(DEVICE, dtype=pl.String).alias("kind"),
                pl.col("device_id").alias("value"), "first_seen", "last_seen"),
            ds.identifiers.select("user_id", "kind", "value", "first_seen", "last_seen"),
        ], how="vertical_relaxed").sort(keys)
        new = pl.any_horizontal([pl.col(k).ne_missing(pl.col(k).shift()) for k in keys])
        new = rows.select(new.alias("new")).get_column("new")
        if new.all():  # no (user, node) twice
            return rows
        if all(rows.schema[c].is_temporal() for c in ("first_seen", "last_seen")):
            return _merge_runs(rows, new.to_numpy())
        run = new.cum_sum().alias("run")
        return (rows.with_columns(run).group_by("run", maintain_order=True).agg(
            *(pl.col(k).first() for k in keys),
            pl.when(pl.col("first_seen").null_count() > 0).then(None)
            .otherwise(pl.col("first_seen").min()).alias("first_seen"),
            pl.col("last_seen").max(),
        ).drop("run"))

    @cached_property
    def _links_by_user(self) -> _Sorted:
        return _Sorted(self._link_rows(), "user_id", presorted=True)

    @cached_property
    def _links_by_node(self) -> _Sorted:
        return _Sorted(_by_node(self._links_by_user.frame), "node", presorted=True)

    @cached_property
    def _loans_by_user(self) -> _Sorted:
        return _Sorted(conform("loans", self.dataset.external_loans), "user_id", "lender_id",
                       "opened_at")

    @cached_property
    def _loans_by_lender(self) -> _Sorted:
        # the loans by user (user, lender, opened_at) re-sorted stably on the lender alone:
        # (lender, user, opened_at) order from a one-key sort, about a third of the CPU of
        # the three-key sort of the loans
        by_user = self._loans_by_user.frame
        return _Sorted(by_user.sort("lender_id", maintain_order=True), "lender_id",
                       presorted=True)

    @cached_property
    def _apps_by_user(self) -> _Sorted:
        return _Sorted(conform("applications", self.dataset.applications), "user_id",
                       "applied_at")

    @cached_property
    def _lenders(self) -> _Sorted:
        return _Sorted(conform("lenders", self.dataset.lenders), "lender_id")

    SORTED_TABLES: tuple[str, ...] = (
        "_users", "_accounts", "_links_by_user", "_links_by_node", "_loans_by_user",
        "_loans_by_lender", "_apps_by_user", "_lenders", "_events_by_user")
    """The sorted tables built on first use (each a cached :class:`_Sorted`)."""

    def forget(self, *tables: str) -> None:
        """Drop the sorted ``tables`` (names of :data:`SORTED_TABLES`) built so far: their
        memory is freed, and a later lookup builds them again. What the stored state's
        writer does once a table is written and no table still to write derives from it."""
        for name in tables:
            if name not in self.SORTED_TABLES:
                raise ValueError(f"{name!r} is not a sorted table of the source")
            self.__dict__.pop(name, None)
            if name == "_links_by_node":
                self._last_nodes = None

    @cached_property
    def _events_by_user(self) -> _Sorted:
        owners = self.dataset.accounts.select("account_id", "user_id", "product_id")
        events = self.dataset.account_events.join(owners, on="account_id", how="inner")
        return _Sorted(conform("account_events", events), "user_id", "at")

    def key_frames(self, table: str, keys: Iterable[str]) -> list[pl.DataFrame]:
        """The rows of the sorted table ``table`` (a name of
        :data:`~xpg.queries.investigate.state.TABLES`) whose key is one of ``keys``, as
        frames in key order (one slice per key present, no filter, no ``as_of``), for a
        caller that reads a handful of rows in Python (:mod:`xpg.queries.screen`): binary
        searches and zero-copy slices, no Polars query."""
        return getattr(self, f"_{table}").slices(keys)  # the table's sorted copy

    def key_rows(self, table: str, keys: Iterable[str], columns: Sequence[str],
                 most: int | None = None) -> list[list[tuple[Any, ...]] | pl.DataFrame]:
        """:meth:`key_frames`' rows read in Python: per frame, its rows as tuples of
        ``columns``, or the frame itself when it holds more than ``most`` rows.

        Over a sorted table in memory, without a frame per key (:meth:`_Sorted.rows`:
        about a third of the cost of slicing and reading each column)."""
        sorted_ = getattr(self, f"_{table}")
        if isinstance(sorted_, _Sorted):
            return sorted_.rows(keys, columns, most)
        return [f if most is not None and f.height > most else f.select(columns).rows()
                for f in sorted_.slices(keys)]

    # protocol ----------------------------------------------------------------
    def users(self, user_ids: Sequence[str]) -> pl.DataFrame:
        return self._users.take(user_ids)

    def account_events(self, user_ids: Sequence[str], as_of: dt.date) -> pl.DataFrame:
        return self._events_by_user.take(user_ids).filter(pl.col("at").dt.date() <= as_of)

    def accounts(self, user_ids: Sequence[str], as_of: dt.date) -> pl.DataFrame:
        acc = self._accounts.take(user_ids)
        small = _dated_by(acc, "opened_at", as_of, keep_null=True)
        if small is not None:
            return small
        return acc.filter(pl.col("opened_at").is_null() | (pl.col("opened_at") <= as_of))

    def _lender_links(self, user_ids: Sequence[str], as_of: dt.date) -> pl.DataFrame:
        loans = self.loans(user_ids, as_of).filter(pl.col("status").is_in(OPEN_LOAN_STATUSES))
        return loans.group_by("user_id", "lender_id").agg(
            pl.col("opened_at").min().cast(_T).alias("first_seen")
        ).select("user_id", pl.lit(LENDER).alias("kind"), pl.col("lender_id").alias("value"),
                 "first_seen", pl.lit(None, dtype=_T).alias("last_seen"))

    def links(
        self, user_ids: Sequence[str], as_of: dt.date, kinds: Sequence[str] | None
    ) -> pl.DataFrame:
        part = self._links_by_user.take(user_ids)
        lenders = kinds is not None and LENDER in kinds
        if not lenders and _small(part, SOURCE_SCHEMAS["links"]):
            wanted = None if kinds is None else set(kinds)
            return _rows_where(part, SOURCE_SCHEMAS["links"], [
                (wanted is None or k in wanted) and _seen(f, as_of) for k, f in zip(
                    part.get_column("kind").to_list(), part.get_column("first_seen").to_list(),
                    strict=True)])
        seen = _seen_by("first_seen", as_of)
        rows = part.filter(seen if kinds is None else seen & pl.col("kind").is_in(list(kinds)))
        rows = conform("links", rows)
        if lenders:
            lent = conform("links", self._lender_links(user_ids, as_of))
            rows = pl.concat([rows, lent]).sort("user_id", "kind", "value")
        return rows

    def _node_rows(self, nodes: pl.DataFrame, as_of: dt.date) -> pl.DataFrame:
        """(kind, value, user_id) of every user of the nodes as of the date, sorted.

        The last answer is kept: a query asks for the degrees and then the users
        of the same nodes (or of a subset of them), which then costs one filter.
        """
        pairs = set(zip(nodes.get_column("kind").to_list(), nodes.get_column("value").to_list(),
                        strict=True))
        cached = self._last_nodes
        if cached is not None and cached[0] == as_of and pairs <= cached[1]:
            rows = cached[2]
            if pairs == cached[1]:
                return rows
            if rows.height <= base.SMALL_ROWS:  # the rows of the subset, in order
                keep = [i for i, pair in enumerate(zip(
                    rows.get_column("kind").to_list(), rows.get_column("value").to_list(),
                    strict=True)) if pair in pairs]
                return rows[keep] if keep else rows.clear()
            return rows.join(nodes.select("kind", "value"), on=["kind", "value"], how="semi")
        keys = [f"{k}{NODE_SEPARATOR}{v}" for k, v in pairs if k != LENDER]
        part = self._links_by_node.take(keys)
        columns = ("kind", "value", "user_id")
        if _small(part, {c: part.schema.get(c) for c in (*columns, "first_seen")}):
            rows = _rows_where(part, {c: part.schema[c] for c in columns}, [
                _seen(f, as_of) for f in part.get_column("first_seen").to_list()])
        else:
            rows = part.filter(_seen_by("first_seen", as_of)).select(*columns)
        lenders = [v for k, v in pairs if k == LENDER]
        if lenders:
            lend = self._loans_by_lender.take(lenders).filter(
                pl.col("status").is_in(OPEN_LOAN_STATUSES), pl.col("opened_at") <= as_of
            ).select(pl.lit(LENDER).alias("kind"), pl.col("lender_id").alias("value"),
                     "user_id").unique()
            rows = pl.concat([rows, lend]).sort("kind", "value", "user_id")
        self._last_nodes = (as_of, pairs, rows)
        return rows

    def link_degrees(self, nodes: pl.DataFrame, as_of: dt.date) -> pl.DataFrame:
        rows = self._node_rows(nodes, as_of)
        if rows.height <= base.SMALL_ROWS:
            counts = Counter(zip(rows.get_column("kind").to_list(),
                                 rows.get_column("value").to_list(), strict=True))
            return pl.DataFrame({"kind": [k for k, _ in counts], "value": [v for _, v in counts],
                                 "users": list(counts.values())},
                                schema=SOURCE_SCHEMAS["link_degrees"])
        return conform("link_degrees", rows.group_by("kind", "value").agg(
            pl.len().alias("users")))

    def link_users(
        self, nodes: pl.DataFrame, as_of: dt.date, limit: int | None
    ) -> pl.DataFrame:
        rows = self._node_rows(nodes, as_of)
        if limit is not None and rows.height <= base.SMALL_ROWS:
            seen: Counter[tuple[str, str]] = Counter()
            keep = []
            for k, v in zip(rows.get_column("kind").to_list(), rows.get_column("value").to_list(),
                            strict=True):
                seen[(k, v)] += 1
                keep.append(seen[(k, v)] <= limit)
            rows = _rows_where(rows, rows.schema, keep)
        elif limit is not None:
            rows = rows.filter(pl.int_range(pl.len()).over("kind", "value") < limit)
        return conform("link_users", rows)

    def loans(self, user_ids: Sequence[str], as_of: dt.date) -> pl.DataFrame:
        loans = self._loans_by_user.take(user_ids)
        small = _dated_by(loans, "opened_at", as_of, keep_null=False)
        return small if small is not None else loans.filter(pl.col("opened_at") <= as_of)

    def applications(self, user_ids: Sequence[str], as_of: dt.date) -> pl.DataFrame:
        apps = self._apps_by_user.take(user_ids)
        small = _dated_by(apps, "applied_at", as_of, keep_null=False)
        return small if small is not None else apps.filter(
            pl.col("applied_at").dt.date() <= as_of)

    def lenders(self, lender_ids: Sequence[str]) -> pl.DataFrame:
        return self._lenders.take(lender_ids)

    def lender_loans(self, lender_id: str, as_of: dt.date) -> pl.DataFrame:
        return self._loans_by_lender.take([lender_id]).filter(pl.col("opened_at") <= as_of)

    def lender_applications(self, lender_id: str, as_of: dt.date) -> int:
        # one pass over the applications (a lender query is rare: no sorted copy kept)
        apps = self.dataset.applications
        return apps.filter(pl.col("lender_id") == lender_id,
                           pl.col("applied_at").dt.date() <= as_of).height

    def lender_known(self, lender_id: str) -> bool:
        if self._lenders.take([lender_id]).height or self._loans_by_lender.take(
                [lender_id]).height:
            return True
        return self.dataset.applications.filter(pl.col("lender_id") == lender_id).height > 0

    def group(
        self, user_id: str, as_of: dt.date, kinds: Sequence[str], hub_max: int
    ) -> pl.DataFrame:
        return connected_group(self, user_id, as_of, kinds, hub_max)

    def linked_groups(self, as_of: dt.date, kinds: Sequence[str], hub_max: int
                      ) -> pl.DataFrame | None:
        """``user_id``, ``group`` of every user in a connected group of two users or more,
        sorted by ``user_id``, from the link graph's kept links (the components the ring
        rule computed, cached per date and settings): what
        :func:`~xpg.queries.investigate.group.group_labels` gives from the link rows.
        None when the source was not given the link graph."""
        if self._links is None:
            return None
        from xpg.linkgraph.components import named_groups

        identifier_kinds = [k for k in kinds if k != DEVICE]
        return named_groups(self._links.user_ids,
                            self._links.kept(identifier_kinds, hub_max, as_of).labels)


def lender_names(source: InvestigationSource, lender_ids: Iterable[str]) -> dict[str, dict]:
    rows = source.lenders(sorted(set(lender_ids)))
    return {r["lender_id"]: r for r in rows.iter_rows(named=True)}
