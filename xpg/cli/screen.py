"""``xpg screen``: an applicant's verdict from its identifiers (contract v3: screening)."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from xpg.cli.common import (
    AsOfOpt,
    BackendOpt,
    ConfigOpt,
    SourceDataOpt,
    parse_as_of,
    progress,
    settings_from,
    table_console,
    write_stdout,
)

if TYPE_CHECKING:
    from xpg.queries.screen import Screening

__all__ = ["command"]


class Format(StrEnum):
    table = "table"
    json = "json"


def _opt(flag: str, text: str) -> object:
    return typer.Option(flag, help=text)


def command(
    device: Annotated[list[str] | None, _opt("--device", "A device id (repeat for more).")] = None,
    phone: Annotated[list[str] | None, _opt("--phone", "A phone number, written any way.")] = None,
    id_number: Annotated[list[str] | None, _opt("--id-number", "An ID number.")] = None,
    bank_card: Annotated[list[str] | None, _opt("--bank-card", "A bank card number.")] = None,
    email: Annotated[list[str] | None, _opt("--email", "An email address.")] = None,
    ip: Annotated[list[str] | None, _opt("--ip", "An IP address.")] = None,
    address: Annotated[list[str] | None, _opt("--address", "A postal address.")] = None,
    user_id: Annotated[str | None, _opt("--user-id", "The applicant's user id, if a user.")
                       ] = None,
    data: SourceDataOpt = None,
    fmt: Annotated[Format, typer.Option("--format", help="table (default) or json.")
                   ] = Format.table,
    as_of: AsOfOpt = None,
    config: ConfigOpt = None,
    backend: BackendOpt = None,
    findings: Annotated[Path | None, typer.Option(
        "--findings", help="A findings.json or report folder to use instead of detecting.")
    ] = None,
    state: Annotated[Path | None, typer.Option(
        "--state", help="A stored state (xpg state build / xpg report): answer from it.")
    ] = None,
) -> None:
    """Screen an applicant: the verdict (high, elevated, clear) and its reasons, from the
    identifiers given, looked up in the data, the stored state or the database. Nothing
    about the applicant is stored."""
    import xpg.api as api

    given = {"device_id": device, "phone": phone, "id_number": id_number,
             "bank_card": bank_card, "email": email, "ip": ip, "address": address,
             "user_id": user_id}
    day = parse_as_of(as_of)
    settings = settings_from(config, backend=backend)
    if state is None and findings is not None and (findings / "state" / "manifest.json").is_file():
        state = findings / "state"
    with api.open(data=data, settings=settings, findings=findings, progress=progress(),
                  read_only=True, load=False, state=state,
                  as_of=day if state else None) as session:
        if session.state_note:
            print(session.state_note, file=sys.stderr)
        result = session.screen({k: v for k, v in given.items() if v}, as_of=day)
    if fmt is Format.json:
        write_stdout(json.dumps(result.to_dict(), ensure_ascii=False) + "\n")
    else:
        render(result, table_console())


def render(result: Screening, console: Console) -> None:
    """The verdict, its reasons and the matches, as tables."""
    colour = {"high": "bold red", "elevated": "yellow", "clear": "green"}[result.verdict]
    console.print(f"Verdict: [{colour}]{result.verdict}[/] as of {result.as_of}  ·  "
                  f"{result.linked_users} linked user{'s' if result.linked_users != 1 else ''}")
    if result.reasons:
        t = Table(title="Reasons", title_justify="left")
        for c in ("verdict", "user", "why", "finding", "through"):
            t.add_column(c, overflow="fold", no_wrap=c in ("verdict", "user", "finding"))
        for r in result.reasons:
            t.add_row(*(escape(str(x or "")) for x in (r.verdict, r.user_id, r.why,
                                                      r.finding_id, r.node or r.via)))
        console.print(t)
    if result.matches:
        t = Table(title="Values that match a node", title_justify="left")
        for c in ("given", "node", "users", "counts"):
            t.add_column(c, overflow="fold")
        for m in result.matches:
            t.add_row(escape(f"{m.field} {m.given}"), escape(m.node), str(m.users),
                      escape(m.note))
        console.print(t)
    for u in result.unmatched:
        console.print(f"no match: {escape(u)}")
