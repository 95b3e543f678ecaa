"""The load plan of the Neo4j backend: a dataset's tables as batches of rows to write.

:func:`write_plan` turns a :class:`~xpg.loaders.dataset.Dataset` into an ordered
list of :class:`WriteStep` (nodes first, then the relationships between them),
each a Polars frame whose columns are exactly the list parameters of one statement
of ``graph/neo4j/cypher/load.cypher`` (dates and datetimes as ISO text, see :func:`wire`).
Everything is prepared here, vectorized and de-duplicated, so the database only
writes:

* one row per node key (devices and identifiers are the distinct values seen);
* one ``USED``/``HAS_IDENTIFIER`` relationship per distinct (user, node) pair,
  ``first_seen`` the earliest sighting (absent when one sighting had no date:
  the link then exists at any date, as in :mod:`xpg.linkgraph.links`) and
  ``last_seen`` the latest;
* tables without a key of their own get one: an external loan is keyed by
  (user, lender, ``opened_at``, ``seq``), an application by (user, lender,
  ``applied_at``, ``seq``) and an account event by (account, ``at``, ``event``,
  ``seq``), where ``seq`` numbers otherwise identical-looking rows in the order
  of their remaining columns. Re-loading the same data gives the same keys.

Extra input columns become properties when Neo4j can store them as they are
(numbers, strings, booleans, temporals, lists of those); a column whose name
clashes with one the graph uses itself is stored as ``extra_<name>``. Extras of
the device and identifier tables are not kept (their rows are aggregated into
one link per pair).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import polars as pl
from xpg.loaders.dataset import Dataset
from xpg.loaders.schema import TABLES

__all__ = ["NODE_KEYS", "RESERVED_PROPERTIES", "WriteStep", "wire", "write_plan"]

RESERVED_PROPERTIES = frozenset(
    {"load", "retired_at", "key", "seq", "user_id", "account_id", "product_id", "lender_id",
     "row_key", "row_hash"}
)
"""Properties the graph writes itself; extra columns of these names get an ``extra_`` prefix."""

_SEP = "\x1f"

NODE_KEYS: Mapping[str, tuple[str, ...]] = {
    "Product": ("product_id",),
    "Lender": ("lender_id",),
    "User": ("user_id",),
    "Device": ("device_id",),
    "Identifier": ("kind", "value"),
    "Account": ("account_id",),
}
"""The key properties of each label whose nodes later steps look up by element id."""


@dataclass(frozen=True)
class WriteStep:
    """One step of a load.

    Attributes
    ----------
    name
        The statement suffix in ``load.cypher`` (``merge_<name>``, ``create_<name>``,
        ``extra_<name>``).
    title
        What the progress display calls it.
    empty_when
        The label or relationship type that, when the database holds none of it,
        lets this step CREATE instead of MERGE.
    rows
        The batch columns, in wire form (:func:`wire`): one list parameter each.
    extras
        ``None``, or the columns identifying each row plus ``extra``: a struct of the
        input's extra columns, written by ``extra_<name>`` after the step.
    nodes, relationships
        Nodes and relationships each row writes.
    returns
        For a step writing nodes of label ``empty_when``: its key columns in ``rows``
        mapped to the label's key properties. The statement then returns the element
        id of each node written, which later steps use to find it (:data:`NODE_KEYS`).
    lookups
        Parameters resolved before sending: name -> (label, {column in ``rows``: key
        property}); each row gets the element id of that node, and the statement finds
        it with ``elementId(n) = $name[k]`` (a direct seek) instead of an index look-up.
    drop
        Columns of ``rows`` not sent (keys only needed for the look-ups).
    types
        The dtype of each column of ``rows`` before :func:`wire` (the offline import
        types its files' columns from it).
    """

    name: str
    title: str
    empty_when: str
    rows: pl.DataFrame
    nodes: int
    relationships: int
    extras: pl.DataFrame | None = None
    returns: Mapping[str, str] | None = None
    lookups: Mapping[str, tuple[str, Mapping[str, str]]] = field(default_factory=dict)
    drop: tuple[str, ...] = ()
    types: Mapping[str, pl.DataType] = field(default_factory=dict)

    @property
    def node_count(self) -> int:
        return self.rows.height * self.nodes

    @property
    def relationship_count(self) -> int:
        return self.rows.height * self.relationships


def wire(frame: pl.DataFrame) -> pl.DataFrame:
    """Dates and datetimes as ISO text (``2026-11-20``, ``2026-11-20T13:05:00.000000``).

    The statements parse them back with ``date()`` and ``localdatetime()``: far
    cheaper than the driver's own temporal types. Other columns stay as they are.
    """
    out = []
    for name, dtype in frame.schema.items():
        col = pl.col(name)
        if isinstance(dtype, pl.Datetime):
            if dtype.time_zone is not None:
                col = col.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
            col = col.dt.to_string("%Y-%m-%dT%H:%M:%S%.6f")
        elif isinstance(dtype, pl.Date):
            col = col.dt.to_string("%Y-%m-%d")
        out.append(col.alias(name))
    return frame.select(out)


def _storable(dtype: pl.DataType) -> bool:
    if isinstance(dtype, pl.List | pl.Array):
        inner = dtype.inner
        return inner is not None and _storable(inner) and not isinstance(inner, pl.List | pl.Array)
    return dtype.is_numeric() or isinstance(
        dtype, pl.String | pl.Boolean | pl.Date | pl.Datetime | pl.Duration | pl.Time
    )


def _extra_columns(frame: pl.DataFrame, table: str, skip: Sequence[str] = ()) -> list[pl.Expr]:
    """The input's extra (non-contract) columns Neo4j can store, as property expressions."""
    known = set(TABLES[table].column_names) | set(skip)
    exprs: list[pl.Expr] = []
    for name, dtype in frame.schema.items():
        if name in known:
            continue
        expr = pl.col(name)
        if isinstance(dtype, pl.Categorical | pl.Enum):
            expr = expr.cast(pl.String)
        elif isinstance(dtype, pl.Decimal):
            expr = expr.cast(pl.Float64)
        elif not _storable(dtype):
            continue  # nested or binary columns: not cheap to keep as properties
        if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
            expr = expr.dt.convert_time_zone("UTC").dt.replace_time_zone(None)
        alias = f"extra_{name}" if name in RESERVED_PROPERTIES else name
        exprs.append(expr.alias(alias))
    return exprs


def _step(
    name: str,
    title: str,
    empty_when: str,
    frame: pl.DataFrame,
    columns: dict[str, pl.Expr | str],
    *,
    nodes: int,
    relationships: int,
    table: str | None = None,
    keys: Sequence[str] = (),
    skip: Sequence[str] = (),
    returns: Mapping[str, str] | None = None,
    lookups: Mapping[str, tuple[str, Mapping[str, str]]] | None = None,
    drop: Sequence[str] = (),
) -> WriteStep:
    """A step sending ``columns`` of ``frame``; with ``table``, also its extra columns
    (identified by the ``keys`` columns)."""
    exprs = [pl.col(c).alias(n) if isinstance(c, str) else c.alias(n) for n, c in columns.items()]
    typed = frame.select(exprs)
    rows = wire(typed)
    extras = None
    if table is not None:
        extra = _extra_columns(frame, table, skip)
        if extra:
            extras = pl.concat(
                [rows.select(keys), frame.select(pl.struct(extra).alias("extra"))],
                how="horizontal",
            )
    return WriteStep(
        name,
        title,
        empty_when,
        rows,
        nodes,
        relationships,
        extras,
        returns=returns,
        lookups=lookups or {},
        drop=tuple(drop),
        types=dict(typed.schema),
    )


def _seq(frame: pl.DataFrame, table: str, group: Sequence[str]) -> pl.DataFrame:
    """Add ``seq``: 0, 1, ... over rows equal in ``group``, in the order of the other columns.

    Only the rows that share their ``group`` with another are sorted (the others get 0):
    a sort of every row by every column was a third of the plan's time.
    """
    order = [c for c in TABLES[table].column_names if c in frame.columns]
    shared = pl.len().over(group) > 1
    return pl.concat(
        [
            frame.filter(~shared).with_columns(pl.lit(0, pl.Int64).alias("seq")),
            frame.filter(shared)
            .sort(order, nulls_last=True)
            .with_columns(pl.int_range(pl.len(), dtype=pl.Int64).over(group).alias("seq")),
        ]
    )


def _links(frame: pl.DataFrame, node: list[str]) -> pl.DataFrame:
    """Distinct (user, node) pairs with the earliest first_seen (null if any is) and last_seen,
    in the order of their first sighting (deterministic without a sort, which cost three
    times the grouping)."""
    first = pl.col("first_seen")
    return frame.group_by("user_id", *node, maintain_order=True).agg(
        pl.when(first.null_count() > 0).then(None).otherwise(first.min()).alias("first_seen"),
        pl.col("last_seen").max(),
    )


def write_plan(dataset: Dataset) -> list[WriteStep]:
    """The steps that write ``dataset``, in order: nodes, then relationships.

    Notes
    -----
    A few sorts, group-bys and joins over the tables: O(rows log rows), all in Polars.

    Examples
    --------
    >>> import polars as pl
    >>> from xpg.loaders.schema import TABLES
    >>> ds = Dataset(
    ...     users=pl.DataFrame({"user_id": ["u1", "u2"]}).with_columns(
    ...         registered_at=pl.lit(None, pl.Datetime("us")), credit_score=pl.lit(None, pl.Int64)),
    ...     products=TABLES["products"].empty(), accounts=TABLES["accounts"].empty(),
    ...     devices=pl.DataFrame({"user_id": ["u1", "u2", "u2"], "device_id": ["d", "d", "d"],
    ...                           "first_seen": [None] * 3, "last_seen": [None] * 3}),
    ...     external_loans=TABLES["external_loans"].empty())
    >>> [(s.name, s.rows.height) for s in write_plan(ds) if s.rows.height]
    [('users', 2), ('devices', 1), ('used', 2)]
    """
    steps: list[WriteStep] = []

    products = dataset.products.unique("product_id", keep="first", maintain_order=True)
    steps.append(
        _step(
            "products",
            "products",
            "Product",
            products,
            {"id": "product_id", "kind": "kind", "name": "name"},
            nodes=1,
            relationships=0,
            table="products",
            keys=["id"],
            returns={"id": "product_id"},
        )
    )

    # lenders: the lenders table and every lender a loan or application names
    referenced = pl.concat(
        [dataset.external_loans.select("lender_id"), dataset.applications.select("lender_id")]
    ).unique()
    lender_table = dataset.lenders.unique("lender_id", keep="first", maintain_order=True)
    lenders = referenced.join(lender_table, on="lender_id", how="full", coalesce=True).sort(
        "lender_id"
    )
    steps.append(
        _step(
            "lenders",
            "lenders",
            "Lender",
            lenders,
            {"id": "lender_id", "name": "name", "type": "type"},
            nodes=1,
            relationships=0,
            table="lenders",
            keys=["id"],
            returns={"id": "lender_id"},
        )
    )

    users = dataset.users.unique("user_id", keep="first", maintain_order=True)
    steps.append(
        _step(
            "users",
            "users",
            "User",
            users,
            {"id": "user_id", "registered_at": "registered_at", "credit_score": "credit_score"},
            nodes=1,
            relationships=0,
            table="users",
            keys=["id"],
            returns={"id": "user_id"},
        )
    )
    # distinct values in the order first seen: deterministic, and 3-4 times cheaper than a
    # sort of the strings
    devices = dataset.devices.select("device_id").unique(maintain_order=True)
    steps.append(
        _step(
            "devices",
            "devices",
            "Device",
            devices,
            {"id": "device_id"},
            nodes=1,
            relationships=0,
            returns={"id": "device_id"},
        )
    )
    identifiers = dataset.identifiers.select("kind", "value").unique(maintain_order=True)
    steps.append(
        _step(
            "identifiers",
            "identifiers",
            "Identifier",
            identifiers,
            {"kind": "kind", "value": "value"},
            nodes=1,
            relationships=0,
            returns={"kind": "kind", "value": "value"},
        )
    )

    accounts = dataset.accounts.unique("account_id", keep="first", maintain_order=True)
    account_columns: dict[str, pl.Expr | str] = {"id": "account_id"}
    account_columns |= {c: c for c in TABLES["accounts"].column_names if c != "account_id"}
    steps.append(
        _step(
            "accounts",
            "accounts",
            "Account",
            accounts,
            account_columns,
            nodes=1,
            relationships=2,
            table="accounts",
            keys=["id"],
            returns={"id": "account_id"},
            lookups={
                "u": ("User", {"user_id": "user_id"}),
                "p": ("Product", {"product_id": "product_id"}),
            },
        )
    )

    link = {"first_seen": "first_seen", "last_seen": "last_seen"}
    steps.append(
        _step(
            "used",
            "device links",
            "USED",
            _links(dataset.devices, ["device_id"]),
            {"user_id": "user_id", "device_id": "device_id", **link},
            nodes=0,
            relationships=1,
            lookups={
                "u": ("User", {"user_id": "user_id"}),
                "d": ("Device", {"device_id": "device_id"}),
            },
            drop=("user_id", "device_id"),
        )
    )
    steps.append(
        _step(
            "has_identifier",
            "identifier links",
            "HAS_IDENTIFIER",
            _links(dataset.identifiers, ["kind", "value"]),
            {"user_id": "user_id", "kind": "kind", "value": "value", **link},
            nodes=0,
            relationships=1,
            lookups={
                "u": ("User", {"user_id": "user_id"}),
                "i": ("Identifier", {"kind": "kind", "value": "value"}),
            },
            drop=("user_id", "kind", "value"),
        )
    )

    # loans and applications: relationships to the lender, keyed by date and seq
    for name, title, rel, table, when in (
        ("borrowed_from", "external loans", "BORROWED_FROM", "external_loans", "opened_at"),
        ("applied_to", "applications", "APPLIED_TO", "applications", "applied_at"),
    ):
        keys = ["user_id", "lender_id", when, "seq"]
        steps.append(
            _step(
                name,
                title,
                rel,
                _seq(dataset.table(table), table, keys[:3]),
                {c: c for c in (*TABLES[table].column_names, "seq")},
                nodes=0,
                relationships=1,
                table=table,
                keys=keys,
                skip=["seq"],
                lookups={
                    "u": ("User", {"user_id": "user_id"}),
                    "l": ("Lender", {"lender_id": "lender_id"}),
                },
                drop=("user_id", "lender_id"),
            )
        )

    events = _seq(dataset.account_events, "account_events", ["account_id", "at", "event"])
    key = pl.concat_str(
        [
            pl.col("account_id"),
            pl.col("at").dt.to_string("%Y-%m-%dT%H:%M:%S%.6f"),
            pl.col("event"),
            pl.col("seq").cast(pl.String),
        ],
        separator=_SEP,
    )
    steps.append(
        _step(
            "account_events",
            "account events",
            "AccountEvent",
            events,
            {"key": key, **{c: c for c in (*TABLES["account_events"].column_names, "seq")}},
            nodes=1,
            relationships=1,
            table="account_events",
            keys=["key"],
            skip=["seq"],
            lookups={"a": ("Account", {"account_id": "account_id"})},
        )
    )
    return steps


def resolve(step: WriteStep, node_ids: Mapping[str, pl.DataFrame]) -> WriteStep:
    """``step`` with its look-ups resolved: a column of element ids per look-up parameter.

    ``node_ids[label]`` holds the label's key properties (:data:`NODE_KEYS`) and ``node``,
    the element id of each node the load wrote. Rows whose node is unknown get null
    (the statement then writes nothing for them, and the loader reports it). The
    ``drop`` columns are removed.
    """
    rows = step.rows
    for param, (label, columns) in step.lookups.items():
        known = node_ids[label].rename({key: col for col, key in columns.items()})
        rows = rows.join(
            known.rename({"node": param}), on=list(columns), how="left", maintain_order="left"
        )
    return replace(step, rows=rows.drop(list(step.drop)))
