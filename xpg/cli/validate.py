"""`xpg validate`: check a directory of tables against the data contract.

Exit 0 when the tables can be loaded (every row valid, or with
``--quarantine`` the valid rows loaded and the rejected ones written to the
folder); exit 2 with every failure (table, row, column, value, rule) when not.
``--format json`` prints one document on stdout in both cases::

    {"valid": false, "source": "...", "tables": {"users": 1000, ...},
     "failure_total": 3, "failures": [{"table": ..., "row": ..., "column": ...,
     "value": ..., "rule": ..., "message": ...}], "warning_total": 0,
     "warnings": [], "counts": [{"table": ..., "rule": ..., "count": ...}],
     "rejected": 0, "quarantine": null}

``valid`` is true only when no rule is broken at all (warnings aside); with a
quarantine that rejected rows it is false while the exit code is 0.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from xpg.cli.common import (
    ConfigOpt,
    DataOpt,
    QuarantineOpt,
    format_failure,
    progress,
    settings_from,
    write_stdout,
)
from xpg.cli.detect import OutputFormat, parse_format
from xpg.cli.errors import exit_code

if TYPE_CHECKING:
    from xpg.loaders import Validation

__all__ = ["command", "validation_document"]


def validation_document(v: Validation) -> dict[str, Any]:
    """The JSON document of ``xpg validate --format json``."""
    return {
        "valid": v.valid,
        "source": str(v.source),
        "tables": v.rows,
        "failure_total": v.failure_total,
        "failures": v.failures.to_dicts(),
        "warning_total": v.warning_total,
        "warnings": v.warnings.to_dicts(),
        "counts": v.counts.to_dicts(),
        "rejected": v.rejected,
        "quarantine": None if v.quarantine is None else str(v.quarantine),
    }


def _print_text(v: Validation) -> None:
    print(f"xpg validate: {v.source}")
    width = max((len(t) for t in v.rows), default=5)
    for table, n in v.rows.items():
        print(f"  {table:<{width}}  {n:>12,} rows")
    if v.warning_total:
        print(f"warnings ({v.warning_total:,}):")
        for r in v.warnings.iter_rows(named=True):
            print(f"  {format_failure(r)}")
        if v.warning_total > v.warnings.height:
            print(f"  ... and {v.warning_total - v.warnings.height:,} more")
    if v.dataset is None:
        return
    total = sum(v.rows.values())
    if v.quarantine is not None:
        print(
            f"loaded {total - v.rejected:,} of {total:,} rows; {v.rejected:,} rejected "
            f"({v.failure_total:,} failures) written to {v.quarantine}"
        )
    else:
        print(f"valid: {total:,} rows in {len(v.rows)} tables")


def command(
    data: DataOpt,
    config: ConfigOpt = None,
    quarantine: QuarantineOpt = None,
    fmt: Annotated[
        str, typer.Option("--format", help="table (readable, default) or json.")
    ] = "table",
) -> None:
    """Check the tables of a directory against the data contract and list every failure."""
    from xpg.loaders import validate_dataset

    output = parse_format(fmt)
    settings = settings_from(config)
    v = validate_dataset(data, settings, quarantine=quarantine, progress=progress("rows"))
    if output is OutputFormat.json:
        write_stdout(json.dumps(validation_document(v), indent=2, default=str) + "\n")
        if v.dataset is None:
            raise typer.Exit(code=exit_code(v.error()))
        return
    _print_text(v)
    if v.dataset is None:
        raise v.error()
