"""A small valid dataset as CSV text, for the loader tests to break one rule at a time."""

from __future__ import annotations

from pathlib import Path

import polars as pl

VALID = {
    "users": """\
user_id,registered_at,credit_score
u1,2026-01-01,700
u2,2026-01-02T09:30:00,650
u3,,
""",
    "products": """\
product_id,kind,name
huabei,consumption,Huabei
jiebei,loan,Jiebei
""",
    "accounts": """\
account_id,user_id,product_id,credit_limit,outstanding,status,status_reason,status_changed_at,opened_at
a1,u1,huabei,5000,1200.5,active,,,2025-01-01
a2,u1,jiebei,3000,0,frozen,fraud,2026-01-05T10:00:00,2025-02-01
a3,u2,huabei,0,0,closed,customer_request,2026-01-06T00:00:00,2025-03-01
""",
    "devices": """\
user_id,device_id,first_seen,last_seen
u1,d1,2026-01-01T00:00:00,2026-01-03T00:00:00
u2,d1,,
u3,d2,2026-01-02T00:00:00,2026-01-02T00:00:00
""",
    "external_loans": """\
user_id,lender_id,opened_at,amount,outstanding,status,closed_at
u1,L1,2025-06-01,10000,8000,open,
u2,L2,2025-01-01,2000,0,closed,2025-01-01
""",
    "lenders": """\
lender_id,name,type
L1,Bank One,bank
L2,Micro Two,microloan
""",
    "account_events": """\
account_id,at,event,old_limit,new_limit,reason
a1,2026-01-04T00:00:00,limit_change,6000,5000,
a2,2026-01-05T10:00:00,freeze,,,fraud
""",
    "applications": """\
user_id,lender_id,applied_at,outcome
u1,L1,2026-01-02T09:00:00,approved
u2,L3,2026-01-03T09:00:00,
""",
    "identifiers": """\
user_id,kind,value,first_seen,last_seen
u1,phone,13800000000,,
u2,phone,13800000000,2026-01-01T00:00:00,2026-01-02T00:00:00
""",
}
REQUIRED = ("users", "products", "accounts", "devices", "external_loans")


def write_csv(directory: Path, tables: dict[str, str | None] | None = None, **changes: str | None):
    """Write the valid tables (all nine) as CSV, with ``changes`` (None removes a table)."""
    directory.mkdir(parents=True, exist_ok=True)
    content = dict(VALID if tables is None else tables)
    content.update(changes)
    for name, text in content.items():
        if text is not None:
            (directory / f"{name}.csv").write_text(text, encoding="utf-8")
    return directory


def csv_frame(text: str) -> pl.DataFrame:
    """A CSV table as all-text frame (as the loader reads it)."""
    import io

    return pl.read_csv(io.StringIO(text), infer_schema=False)


def failure_keys(frame: pl.DataFrame) -> list[tuple]:
    """The (table, row, column, value, rule) of each failure or warning row."""
    return [
        (r["table"], r["row"], r["column"], r["value"], r["rule"])
        for r in frame.iter_rows(named=True)
    ]
