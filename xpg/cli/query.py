"""`xpg query user|ring|group|path|lender`: investigative queries as tables, JSON or graph
files.

Each command loads ``--data`` (with ``--backend neo4j``, it asks the graph the
database holds instead, and refuses ``--data``: ``xpg load`` writes that graph), uses
the findings of the data or the given ``--findings`` of a nightly report (so that ring
ids the report carried forward resolve), answers one question and prints it: a readable
table by
default, ``--format json`` for tools. ``--export FILE`` also writes the subgraph
of the answer as GraphML (``.graphml``) or node-link JSON (``.json``) for Gephi
and other graph tools.
An unknown id exits with code 4.

``--state DIR`` (or a ``state/`` folder inside the ``--findings`` report folder, or
else the state ``xpg detect``/``xpg report`` kept for ``--data DIR``) answers from a
stored state without loading the data, when it was built from the same data files
and settings; stderr says whether it was used, and why not when it was not (the data
is then loaded as usual). A damaged state (a file missing, truncated or changed since
its manifest) is never answered from: with ``--data`` the data is loaded instead,
saying why; without it the command exits with code 9.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from xpg.cli.common import (
    AsOfOpt,
    BackendOpt,
    ConfigOpt,
    SourceDataOpt,
    parse_as_of,
    progress,
    table_console,
    write_stdout,
)
from xpg.cli.common import settings_from as _settings_from
from xpg.graph.state import StateBackend
from xpg.queries.investigate import GROUP_PAGE, MAX_HOPS, MAX_PATH_HOPS, RING_PAGE

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from xpg.api import Session
    from xpg.queries.investigate import GroupView, LenderView, PathView, RingView, UserView

__all__ = ["app", "render_group", "render_lender", "render_path", "render_ring", "render_user"]

app = typer.Typer(help="Investigative queries: user, ring, group, path, lender.",
                  no_args_is_help=True)


class Format(StrEnum):
    table = "table"
    json = "json"


FormatOpt = Annotated[Format, typer.Option("--format", help="table (default) or json.")]
ExportOpt = Annotated[
    Path | None,
    typer.Option("--export", help="Also write the subgraph: .graphml, or .json (node-link)."),
]
FindingsOpt = Annotated[
    Path | None,
    typer.Option("--findings", help="Use these findings (a report folder or findings.json) "
                                    "instead of detecting: carried ring ids resolve."),
]


StateOpt = Annotated[
    Path | None,
    typer.Option("--state", help="Answer from this stored state (xpg state build) when it "
                                 "was built from the same data and settings; default: the "
                                 "state/ folder of the --findings report, if any."),
]


def _money(x: float | None) -> str:
    return "" if x is None else f"{x:,.2f}"


def _session(data: Path | None, config: list[Path] | None, backend: str | None,
             findings: Path | None, state: Path | bool | None = None,
             as_of: Any = None) -> Session:
    import xpg.api as api

    settings = _settings_from(config, backend=backend)
    if state is None and findings is not None and (findings / "state" / "manifest.json").is_file():
        state = findings / "state"
    if state is None and findings is None and backend is None:
        state = "auto"  # type: ignore[assignment]
    if state is False:  # asked again of the data
        state = None
    # investigations only read: on every backend, the session never writes
    session = api.open(data=data, settings=settings, findings=findings, progress=progress(),
                       read_only=True, load=False, state=state,
                       as_of=as_of if state else None)
    try:
        warning = session.dates_differ()
    except BaseException:
        session.close()
        raise
    if session.state_note and not isinstance(session.backend, StateBackend):
        print(session.state_note, file=sys.stderr)  # why not (said once answered when used)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    return session


def _answer(ask: Any, data: Path | None, config: list[Path] | None, backend: str | None,
            findings: Path | None, state: Path | None, as_of: Any, fmt: Format,
            export: Path | None, render: Any) -> None:
    """Open the session, ask, print. A stored state found damaged while answering (a
    file's content no longer matches its manifest) is dropped: with ``--data`` the
    question is asked again of the data, saying why; without it the error stands."""
    from xpg.errors import FindingsRefusedError, StateDamagedError

    try:
        with _session(data, config, backend, findings, state, as_of) as s:
            view = ask(s)
            if s.state_note and isinstance(s.backend, StateBackend):
                print(s.state_note, file=sys.stderr)
            _emit(view, fmt, export, render)
            return
    except StateDamagedError as e:
        if data is None or isinstance(e, FindingsRefusedError):  # the data would not help
            raise
        print(f"stored state not used: {e}; loading the data instead", file=sys.stderr)
    with _session(data, config, backend, findings, False, as_of) as s:
        _emit(ask(s), fmt, export, render)


def _emit(view: Any, fmt: Format, export: Path | None, render: Any) -> None:
    if export is not None:
        view.graph.write(export)
    if fmt is Format.json:
        write_stdout(view.to_json() + "\n")
    else:
        render(view, table_console())
    if export is not None:
        print(f"subgraph written to {export}", file=sys.stderr)


# columns of free text or lists, which may wrap; every other column (ids, amounts) never does
_WRAPS = {"why", "explanation", "members", "others on it", "drawable in", "findings",
          "members borrowing", "borrowing here", "lender", "via", "frozen"}


def _table(title: str, *columns: str, right: tuple[int, ...] = ()) -> Table:
    from rich.table import Table

    t = Table(title=title, title_justify="left", show_lines=False)
    for i, c in enumerate(columns):
        wraps = c in _WRAPS
        t.add_column(c, justify="right" if i in right else "left", no_wrap=not wraps,
                     overflow="fold", min_width=min(len(c), 12) if wraps else None)
    return t


def _row(table: Table, *cells: str) -> None:
    """Add a row; data never counts as rich markup."""
    from rich.text import Text

    table.add_row(*(Text(str(c)) for c in cells))


def _say(console: Console, template: str, **data: Any) -> None:
    """Print ``template`` (rich markup) with every ``{name}`` filled by escaped data."""
    from rich.markup import escape

    console.print(template.format(**{k: escape(str(v)) for k, v in data.items()}))


def _users(users: tuple[str, ...], more: int = 0, limit: int = 6) -> str:
    shown = ", ".join(users[:limit])
    extra = len(users) - limit if len(users) > limit else 0
    extra += more
    return shown + (f" +{extra}" if extra else "")


def render_user(v: UserView, console: Console) -> None:
    """The user view as tables."""
    e = v.exposure
    _say(console, "[bold]User {user}[/] as of {day}  ·  exposure {total} CNY = internal "
         "outstanding {io} + drawable {dr} + external outstanding {eo}  ·  internal limit {il}",
         user=v.user_id, day=v.as_of, total=_money(e.total), io=_money(e.internal_outstanding),
         dr=_money(e.drawable), eo=_money(e.external_outstanding), il=_money(e.internal_limit))
    if v.in_core:
        core = f"in the multi-lending core of ring {v.core_ring}"
    elif v.ring is not None:  # a group judged whole is the ring: there is no core to be in
        core = f"a member of ring {v.ring} (the group judged whole)"
    else:
        core = "in no ring"
    _say(console, "connected group: {n} user{s}  ·  {core}  (xpg query group {user})",
         n=f"{v.group_users:,}", s="" if v.group_users == 1 else "s", core=core, user=v.user_id)
    t = _table("Accounts", "account", "product", "kind", "limit", "outstanding", "drawable",
               "status", "reason", "scope", right=(3, 4, 5))
    for a in v.accounts:
        _row(t, a.account_id, a.product_id, a.product_kind or "", _money(a.credit_limit),
                  _money(a.outstanding), _money(a.drawable), a.status, a.status_reason or "",
                  a.reason_scope or "")
    console.print(t)
    t = _table("Devices and identifiers", "link", "users", "counts for rings", "others on it",
               "why", right=(1,))
    for x in (*v.devices, *v.identifiers):
        _row(t, x.label, str(x.users), "yes" if x.counts_for_rings else "no",
                  _users(x.other_users, x.more_users), x.reason)
    console.print(t)
    t = _table("External lenders", "lender", "loans", "open", "outstanding", "applications",
               "why", right=(1, 2, 3, 4))
    for x in v.lenders:
        name = f"{x.lender_id} ({x.name})" if x.name else x.lender_id
        _row(t, name, str(x.loans), str(x.open_loans), _money(x.outstanding),
                  str(x.applications), x.reason)
    console.print(t)
    t = _table("Findings touching the user", "id", "type", "severity", "exposure",
               "explanation", right=(3,))
    for f in v.findings:
        _row(t, f.id, f.type, f.severity, _money(f.exposure_total), f.explanation)
    console.print(t)
    t = _table(f"Users within {v.hops} hop(s)" + (" (truncated)" if v.truncated else ""),
               "user", "hops", "through", "via", "findings", right=(1,))
    for n in v.neighbours:
        _row(t, n.user_id, str(n.hops), n.through, n.via, ", ".join(n.findings))
    console.print(t)


def render_ring(v: RingView, console: Console, limit: int = RING_PAGE) -> None:
    """The ring view as tables: the ``limit`` members of largest exposure and the first
    ``limit`` shared links, each table followed by "and N more" when it is cut."""
    f = v.finding
    _say(console, "[bold]Ring {ring}[/] ({sev}) as of {day}  ·  {n} members  ·  exposure "
         "{total} CNY  ·  frozen somewhere: {frozen}, still drawable: {drawable} ({amount} CNY)",
         ring=v.id, sev=f.severity, day=v.as_of, n=f"{v.member_count:,}",
         total=_money(v.exposure.total), frozen=v.frozen_members, drawable=v.drawable_members,
         amount=_money(v.drawable_total))
    _say(console, "{text}", text=f.explanation)
    t = _table("Members (ml: multi-lending; external: outstanding at external lenders)",
               "user", "ml", "freeze state", "frozen", "drawable in", "drawable", "external",
               "exposure", right=(5, 6, 7))
    for m in v.members[:limit]:
        _row(t, m.user_id, "yes" if m.multi_lending else "", m.freeze_state.replace("_", " "),
                  ", ".join(m.frozen_products), ", ".join(m.drawable_products),
                  _money(m.exposure.drawable), _money(m.exposure.external_outstanding),
                  _money(m.exposure.total))
    console.print(t)
    _more(console, v.member_count - min(limit, len(v.members)), "member")
    t = _table("Shared devices and identifiers", "link", "members", "users on it", right=(2,))
    shared = (*v.shared_devices, *v.shared_identifiers)
    for s in shared[:limit]:
        _row(t, s.label, _users(s.members, limit=limit), str(s.users))
    console.print(t)
    _more(console, v.shared_devices_total + v.shared_identifiers_total - min(limit, len(shared)),
          "shared link")
    t = _table("Lenders", "lender", "members borrowing", "loans", "outstanding",
               right=(2, 3))
    for x in v.lenders[:limit]:
        name = f"{x.lender_id} ({x.name})" if x.name else x.lender_id
        _row(t, name, _users(x.members, x.borrowers - len(x.members), limit=limit),
             str(x.loans), _money(x.outstanding))
    console.print(t)
    _more(console, v.lenders_total - min(limit, len(v.lenders)), "lender")


def render_group(v: GroupView, console: Console) -> None:
    """The group summary: counts, the largest hubs cut, the rings found."""
    e = v.exposure
    judged = ("judged whole" if v.judged == "whole" else
              f"over {v.max_group_users:,} users: searched for multi-lending cores")
    _say(console, "[bold]Connected group of {user}[/] as of {day}  ·  {n} user{s} ({judged})  "
         "·  {ml} multi-lending  ·  exposure {total} CNY (drawable {dr} CNY)",
         user=v.user_id, day=v.as_of, n=f"{v.users:,}", s="" if v.users == 1 else "s",
         judged=judged,
         ml=f"{v.multi_lenders:,}", total=_money(e.total), dr=_money(e.drawable))
    _say(console, "{h} hub{s} cut (nodes of more than {hm} users, not crossed)  ·  {r} ring{rs} "
         "found ({c} multi-lending core{cs}), {ru} users, exposure {rx} CNY",
         h=f"{v.hubs_cut:,}", s="" if v.hubs_cut == 1 else "s", hm=v.hub_max_users,
         r=f"{v.rings_found:,}", rs="" if v.rings_found == 1 else "s", c=f"{v.cores_found:,}",
         cs="" if v.cores_found == 1 else "s", ru=f"{v.rings_users:,}",
         rx=_money(v.rings_exposure))
    if v.hubs:  # the counts line above says "0 hubs cut"; no empty table under it
        t = _table("Largest hubs cut", "link", "users on it", "of this group", right=(1, 2))
        for h in v.hubs:
            _row(t, h.label, f"{h.users:,}", f"{h.members:,}")
        console.print(t)
    _more(console, v.hubs_cut - len(v.hubs), "hub")
    if v.rings:
        t = _table("Rings found (largest exposure first)", "ring", "severity", "kind", "users",
                   "exposure", right=(3, 4))
        for r in v.rings:
            kind = "core" if r.core else "whole group"
            _row(t, r.ring_id + (" *" if r.has_user else ""), r.severity, kind, str(r.users),
                 _money(r.exposure_total))
        console.print(t)
    _more(console, v.rings_found - len(v.rings), "ring")
    if any(r.has_user for r in v.rings):
        _say(console, "* {user} is a member", user=v.user_id)


def _more(console: Console, left: int, what: str) -> None:
    if left > 0:
        _say(console, "and {n} more {what}{s} (--limit to list more)",
             n=f"{left:,}", what=what, s="" if left == 1 else "s")


def render_path(v: PathView, console: Console) -> None:
    """The path as a chain and a table of steps."""
    if not v.found:
        how = " (lenders included)" if v.via_lenders else ""
        _say(console, "No chain of at most {n} hops links {a} to {b}{how} as of {day}.",
             n=v.max_hops, a=v.source, b=v.target, how=how, day=v.as_of)
        return
    chain = v.source + "".join(f" —[{s.label}]— {s.next_user}" for s in v.steps)
    _say(console, "[bold]{n} hop(s)[/] as of {day}: {chain}", n=v.hops, day=v.as_of,
         chain=chain)
    t = _table("Steps", "from", "via", "to", "why")
    for s in v.steps:
        _row(t, s.user, s.label, s.next_user, s.reason)
    console.print(t)


def render_lender(v: LenderView, console: Console) -> None:
    """The lender view as tables."""
    name = f" ({v.name})" if v.name else ""
    _say(console, "[bold]Lender {lender}[/]{name} as of {day}  ·  {n} borrowers with open "
         "loans, {out} CNY outstanding  ·  flagged: {fu} users, {fo} CNY  ·  rings: {nr}, "
         "{ro} CNY", lender=v.lender_id, name=name, day=v.as_of, n=v.borrowers,
         out=_money(v.outstanding), fu=v.flagged_users, fo=_money(v.flagged_outstanding),
         nr=len(v.rings), ro=_money(v.rings_outstanding))
    t = _table("Flagged borrowers", "user", "findings", "open loans", "outstanding",
               right=(2, 3))
    for x in v.flagged:
        _row(t, x.user_id, ", ".join(x.findings), str(x.loans), _money(x.outstanding))
    console.print(t)
    t = _table("Rings borrowing here", "ring", "severity", "members", "borrowing here",
               "outstanding", right=(2, 4))
    for r in v.rings:
        _row(t, r.ring_id, r.severity, str(r.members), _users(r.members_borrowing),
                  _money(r.outstanding))
    console.print(t)


@app.command("user")
def user(
    user_id: Annotated[str, typer.Argument(help="The user id.")],
    data: SourceDataOpt = None,
    hops: Annotated[int, typer.Option("--hops", min=0, max=MAX_HOPS,
                                      help="Neighbourhood depth.")] = 1,
    fmt: FormatOpt = Format.table,
    export: ExportOpt = None,
    as_of: AsOfOpt = None,
    config: ConfigOpt = None,
    backend: BackendOpt = None,
    findings: FindingsOpt = None,
    state: StateOpt = None,
    timeline: Annotated[bool, typer.Option(
        "--timeline", help="The user's cross-product timeline instead: limits, freezes, "
                           "restores, limit cuts, loans, applications and findings, dated.")
    ] = False,
    reports: Annotated[Path | None, typer.Option(
        "--reports", help="With --timeline: a folder of nightly reports (<date>/findings.json)"
                          ": the findings naming the user on each night.")] = None,
) -> None:
    """A user's accounts, devices, identifiers, lenders, findings, exposure and neighbours."""
    day = parse_as_of(as_of)
    if timeline:
        from xpg.cli.timeline import emit_timeline

        with _session(data, config, backend, findings, state, day) as s:
            emit_timeline(s.timeline(user_id, as_of=day, reports=reports), fmt is Format.json)
        return
    _answer(lambda s: s.user(user_id, hops=hops, as_of=day), data, config, backend, findings,
            state, day, fmt, export, render_user)


@app.command("ring")
def ring(
    ring_id: Annotated[str, typer.Argument(help="A ring finding's id.")],
    data: SourceDataOpt = None,
    fmt: FormatOpt = Format.table,
    export: ExportOpt = None,
    as_of: AsOfOpt = None,
    config: ConfigOpt = None,
    backend: BackendOpt = None,
    findings: FindingsOpt = None,
    limit: Annotated[int, typer.Option(
        "--limit", min=1, help="Members (largest exposure first) and shared links listed.")
    ] = RING_PAGE,
    state: StateOpt = None,
) -> None:
    """A ring: members, shared devices, lenders in common, exposure and freeze state."""
    day = parse_as_of(as_of)
    _answer(lambda s: s.ring(ring_id, as_of=day, limit=limit), data, config, backend,
            findings, state, day, fmt, export, lambda v, console: render_ring(v, console, limit))


@app.command("group")
def group(
    user_id: Annotated[str, typer.Argument(help="A user id: its connected group is shown.")],
    data: SourceDataOpt = None,
    fmt: FormatOpt = Format.table,
    export: ExportOpt = None,
    as_of: AsOfOpt = None,
    config: ConfigOpt = None,
    backend: BackendOpt = None,
    findings: FindingsOpt = None,
    limit: Annotated[int, typer.Option(
        "--limit", min=1, help="Hubs (most users first) and rings (largest exposure) listed.")
    ] = GROUP_PAGE,
    state: StateOpt = None,
) -> None:
    """A user's connected group as a summary: size, multi-lenders, hubs cut, rings found."""
    day = parse_as_of(as_of)
    _answer(lambda s: s.group(user_id, as_of=day, limit=limit), data, config, backend,
            findings, state, day, fmt, export, render_group)


@app.command("path")
def path(
    a: Annotated[str, typer.Argument(help="One user id.")],
    b: Annotated[str, typer.Argument(help="The other user id.")],
    data: SourceDataOpt = None,
    via_lenders: Annotated[bool, typer.Option(
        "--via-lenders", help="Two users borrowing at one lender are also one hop apart.")
    ] = False,
    include_hubs: Annotated[bool, typer.Option(
        "--include-hubs", help="Also cross hub devices/identifiers (left out by default).")
    ] = False,
    max_hops: Annotated[int, typer.Option("--max-hops", min=1, max=MAX_PATH_HOPS,
                                          help="Longest chain searched.")] = 6,
    fmt: FormatOpt = Format.table,
    export: ExportOpt = None,
    as_of: AsOfOpt = None,
    config: ConfigOpt = None,
    backend: BackendOpt = None,
    state: StateOpt = None,
) -> None:
    """The shortest chain of shared devices/identifiers (optionally lenders) from A to B."""
    day = parse_as_of(as_of)
    _answer(lambda s: s.path(a, b, via_lenders=via_lenders, include_hubs=include_hubs,
                             max_hops=max_hops, as_of=day),
            data, config, backend, None, state, day, fmt, export, render_path)


@app.command("lender")
def lender(
    lender_id: Annotated[str, typer.Argument(help="The lender id.")],
    data: SourceDataOpt = None,
    fmt: FormatOpt = Format.table,
    export: ExportOpt = None,
    as_of: AsOfOpt = None,
    config: ConfigOpt = None,
    backend: BackendOpt = None,
    findings: FindingsOpt = None,
    state: StateOpt = None,
) -> None:
    """How many flagged users and rings borrow at a lender, and how much."""
    day = parse_as_of(as_of)
    _answer(lambda s: s.lender(lender_id, as_of=day), data, config, backend, findings,
            state, day, fmt, export, render_lender)
