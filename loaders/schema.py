"""The data contract's input tables, in code.

One :class:`Table` per contract table: its columns with their kind, whether
they are required, enum values and the amount rule, its unique key and its
references to other tables. The loader validates against this, the generator
writes to it, and the Neo4j writer maps it onto nodes and relationships.
See ``docs/data-contract.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import polars as pl

__all__ = [
    "ACCOUNT_STATUSES",
    "EVENT_KINDS",
    "LOAN_STATUSES",
    "PRODUCT_KINDS",
    "TABLES",
    "Column",
    "Reference",
    "Table",
]

Kind = Literal["id", "string", "date", "datetime", "decimal", "integer", "enum"]

PRODUCT_KINDS = ("consumption", "loan")
ACCOUNT_STATUSES = ("active", "limited", "frozen", "closed")
EVENT_KINDS = ("limit_change", "freeze", "unfreeze", "limit", "close", "reopen")
LOAN_STATUSES = ("open", "overdue", "closed", "written_off")
APPLICATION_OUTCOMES = ("approved", "rejected", "pending")

# The Polars type each kind is normalized to.
DTYPES: dict[str, pl.DataType] = {
    "id": pl.String(),
    "string": pl.String(),
    "enum": pl.String(),
    "date": pl.Date(),
    "datetime": pl.Datetime("us"),  # naive, UTC (offsets are converted)
    "decimal": pl.Float64(),
    "integer": pl.Int64(),
}


MAX_AMOUNT = 10_000_000_000
"""The largest amount a row may hold (CNY): the exposure sums amounts exactly, in millionths
of a yuan in 64-bit integers (``queries.asof.MICRO``), which hold about 9.2e12 yuan; ten
billion leaves room for the sum of 900 such amounts, and no consumer credit line or loan
comes near it (a value that large is a broken export: a unit of cents, a shifted column)."""


@dataclass(frozen=True)
class Column:
    name: str
    kind: Kind
    required: bool = False  # the column must be present and every value non-null
    values: tuple[str, ...] = ()  # allowed values of an enum
    non_negative: bool = False

    @property
    def dtype(self) -> pl.DataType:
        return DTYPES[self.kind]


@dataclass(frozen=True)
class Reference:
    column: str
    table: str
    target: str
    # only checked when the target table was given (lenders is optional)
    when_present: bool = False


@dataclass(frozen=True)
class Table:
    name: str
    required: bool
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    references: tuple[Reference, ...] = ()

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def schema(self) -> dict[str, pl.DataType]:
        """Polars schema of the normalized table (contract columns only)."""
        return {c.name: c.dtype for c in self.columns}

    def empty(self) -> pl.DataFrame:
        return pl.DataFrame(schema=self.schema)


_TABLES = (
    Table(
        "users",
        required=True,
        columns=(
            Column("user_id", "id", required=True),
            Column("registered_at", "datetime"),
            Column("credit_score", "integer"),
        ),
        key=("user_id",),
    ),
    Table(
        "products",
        required=True,
        columns=(
            Column("product_id", "id", required=True),
            Column("kind", "enum", required=True, values=PRODUCT_KINDS),
            Column("name", "string"),
        ),
        key=("product_id",),
    ),
    Table(
        "accounts",
        required=True,
        columns=(
            Column("account_id", "id", required=True),
            Column("user_id", "id", required=True),
            Column("product_id", "id", required=True),
            Column("credit_limit", "decimal", required=True, non_negative=True),
            Column("outstanding", "decimal", required=True, non_negative=True),
            Column("status", "enum", required=True, values=ACCOUNT_STATUSES),
            Column("status_reason", "string"),
            Column("status_changed_at", "datetime"),
            Column("opened_at", "date"),
        ),
        key=("account_id",),
        references=(
            Reference("user_id", "users", "user_id"),
            Reference("product_id", "products", "product_id"),
        ),
    ),
    Table(
        "devices",
        required=True,
        columns=(
            Column("user_id", "id", required=True),
            Column("device_id", "id", required=True),
            Column("first_seen", "datetime"),
            Column("last_seen", "datetime"),
        ),
        references=(Reference("user_id", "users", "user_id"),),
    ),
    Table(
        "external_loans",
        required=True,
        columns=(
            Column("user_id", "id", required=True),
            Column("lender_id", "id", required=True),
            Column("opened_at", "date", required=True),
            Column("amount", "decimal", required=True, non_negative=True),
            Column("outstanding", "decimal", required=True, non_negative=True),
            Column("status", "enum", required=True, values=LOAN_STATUSES),
            Column("closed_at", "date"),
        ),
        references=(
            Reference("user_id", "users", "user_id"),
            Reference("lender_id", "lenders", "lender_id", when_present=True),
        ),
    ),
    Table(
        "applications",
        required=False,
        columns=(
            Column("user_id", "id", required=True),
            Column("lender_id", "id", required=True),
            Column("applied_at", "datetime", required=True),
            Column("outcome", "enum", values=APPLICATION_OUTCOMES),
        ),
        references=(Reference("user_id", "users", "user_id"),),
    ),
    Table(
        "lenders",
        required=False,
        columns=(
            Column("lender_id", "id", required=True),
            Column("name", "string"),
            Column("type", "string"),
        ),
        key=("lender_id",),
    ),
    Table(
        "account_events",
        required=False,
        columns=(
            Column("account_id", "id", required=True),
            Column("at", "datetime", required=True),
            Column("event", "enum", required=True, values=EVENT_KINDS),
            Column("old_limit", "decimal", non_negative=True),
            Column("new_limit", "decimal", non_negative=True),
            Column("reason", "string"),
        ),
        references=(Reference("account_id", "accounts", "account_id"),),
    ),
    Table(
        "identifiers",
        required=False,
        columns=(
            Column("user_id", "id", required=True),
            Column("kind", "string", required=True),
            Column("value", "string", required=True),
            Column("first_seen", "datetime"),
            Column("last_seen", "datetime"),
        ),
        references=(Reference("user_id", "users", "user_id"),),
    ),
)

TABLES: dict[str, Table] = {t.name: t for t in _TABLES}
