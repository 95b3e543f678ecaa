"""`xpg serve`: the read-only HTTP JSON service (see :mod:`xpg.serve`).

The API key comes from the ``XPG_API_KEY`` environment variable only.
Loads the data and computes the findings once, or with ``--backend neo4j`` serves the
graph the database holds with the findings its last detection stored (``--data`` is
refused there; without stored findings the findings requests answer 409 until ``xpg
detect`` has run), then serves until interrupted. ``--state DIR`` answers from a stored
state (``xpg state build``) when it fits the data and settings, without loading the data.
``--workers N`` serves from N processes over one shared, memory-mapped copy of the tables
(:mod:`xpg.serve.workers`).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from xpg.cli.common import AsOfOpt, BackendOpt, ConfigOpt, SourceDataOpt, parse_as_of, progress
from xpg.cli.common import settings_from as _settings_from
from xpg.errors import NoFindingsError

__all__ = ["command"]


def command(
    data: SourceDataOpt = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="TCP port.")] = 8000,
    config: ConfigOpt = None,
    backend: BackendOpt = None,
    as_of: AsOfOpt = None,
    findings: Annotated[Path | None, typer.Option(
        "--findings", help="Serve these findings (a report folder or findings.json) instead "
                           "of detecting.")] = None,
    rate_limit: Annotated[int, typer.Option(
        "--rate-limit", min=1, help="Requests per minute per API key.")] = 120,
    max_hops: Annotated[int, typer.Option(
        "--max-hops", min=0, max=4, help="Largest neighbourhood a request may ask for.")] = 2,
    reports: Annotated[Path | None, typer.Option(
        "--reports", help="The reports folder whose cases.sqlite holds the cases (the "
                          "/v1/cases routes; writes need a key from XPG_API_WRITE_KEY).")
    ] = None,
    state: Annotated[Path | None, typer.Option(
        "--state", help="Answer from this stored state (xpg state build) when it was built "
                        "from the same data and settings.")] = None,
    workers: Annotated[int, typer.Option(
        "--workers", min=1, max=64,
        help="Worker processes (sharing one memory-mapped copy of the tables); the rate "
             "limits are split between them.")] = 1,
) -> None:
    """Serve findings and investigations as read-only JSON (API key from XPG_API_KEY)."""
    import xpg.api as api
    from xpg.serve import Limits, api_keys_from_env
    from xpg.serve.workers import run

    keys = api_keys_from_env()  # before the long load: fail fast without a key
    _check_port(host, port)  # and on a port another server holds
    day = parse_as_of(as_of)
    settings = _settings_from(config, backend=backend)
    wanted = state if state is not None else ("auto" if findings is None else None)
    s = _open_checked(api, data, settings, findings, day, wanted)
    with s:
        if s.state_note:
            print(f"xpg serve: {s.state_note}", file=sys.stderr)
        try:
            report = s.findings()
            have = f"{len(report.findings)} findings as of {report.as_of}"
        except NoFindingsError as e:
            have = f"{e}; requests for findings answer 409 until `xpg detect` runs"
        print(f"xpg serve: {have}; listening on http://{host}:{port} "
              f"with {workers} worker(s) (OpenAPI at /openapi.json)", file=sys.stderr)
        if reports is not None:
            s.use_reports(reports)
        run(s, host=host, port=port, workers=workers, api_keys=keys,
            limits=Limits(rate_limit=rate_limit, max_hops=max_hops),
            config=[config] if isinstance(config, Path) else list(config or ()),
            overrides={"backend": backend})


def _open_checked(api: Any, data: Path | None, settings: Any, findings: Path | None,
                  day: Any, state: Any) -> Any:
    """The service's session. One answering from a stored state has every file of the
    state checked first (its checksums, over mapped pages: about 0.2 s at 1,000,000
    users): a service reads its tables for hours, and a damaged file found by a request
    would answer 500 until restarted. A damaged state with ``--data``: the data is loaded
    instead, saying why; without it, the error (exit 9)."""
    from xpg.errors import StateDamagedError
    from xpg.graph.state import StateBackend

    def session(state: Any) -> Any:
        # a read-only service: on every backend, the session never writes; over a
        # database: the findings its last detection stored, never detected here
        return api.open(data=data, settings=settings, findings=findings, as_of=day,
                        progress=progress(), read_only=True, load=False, detect=False,
                        state=state)

    s = session(state)
    if not isinstance(s.backend, StateBackend):
        return s
    try:
        s.backend.state.verify()
        return s
    except StateDamagedError as e:
        s.close()
        if data is None:
            raise
        print(f"xpg serve: stored state not used: {e}; loading the data instead",
              file=sys.stderr)
    return session(None)


def _check_port(host: str, port: int) -> None:
    """Refuse, before loading anything, a port this host cannot listen on (another server
    holds it, or a privileged port): uvicorn would say so in its own words only after the
    whole load, having printed "listening"."""
    import socket

    from xpg.errors import InputError

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as e:
        raise InputError(f"--host {host}: not an address of this machine ({e})",
                         argument="host") from e
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind(address)
        except OSError as e:
            raise InputError(f"--port {port}: cannot listen on {host}:{port} "
                             f"({(e.strerror or str(e)).lower()}); choose another --port",
                             argument="port") from e

