"""`xpg serve`: the read-only HTTP JSON service (see :mod:`xpg.serve`).

The API key comes from the ``XPG_API_KEY`` environment variable only.
Loads the data and computes the findings once, or with ``--backend neo4j`` serves the
graph the database holds with the findings its last detection stored (``--data`` is
refused there; without stored findings the findings requests answer 409 until ``xpg
detect`` has run), then serves until interrupted.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

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
) -> None:
    """Serve findings and investigations as read-only JSON (API key from XPG_API_KEY)."""
    import uvicorn

    import xpg.api as api
    from xpg.serve import Limits, api_keys_from_env, create_app

    keys = api_keys_from_env()  # before the long load: fail fast without a key
    day = parse_as_of(as_of)
    settings = _settings_from(config, backend=backend)
    # a read-only service: on every backend, the session never writes
    # over a database: the findings its last detection stored, never detected here
    with api.open(data=data, settings=settings, findings=findings, as_of=day,
                  progress=progress(), read_only=True, load=False,
                  detect=False, state="auto" if findings is None else None) as s:
        if s.state_note:
            print(f"xpg serve: {s.state_note}", file=sys.stderr)
        try:
            report = s.findings()
            have = f"{len(report.findings)} findings as of {report.as_of}"
        except NoFindingsError as e:
            have = f"{e}; requests for findings answer 409 until `xpg detect` runs"
        print(f"xpg serve: {have}; listening on http://{host}:{port} "
              "(OpenAPI at /openapi.json)", file=sys.stderr)
        app = create_app(s, api_keys=keys, limits=Limits(rate_limit=rate_limit,
                                                         max_hops=max_hops))
        _access_log_to_stderr()
        # uvicorn's own access log would write the raw paths (ids): off
        uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False)


def _access_log_to_stderr() -> None:
    import logging

    from xpg.serve import ACCESS_LOGGER

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s access %(message)s"))
    logger = logging.getLogger(ACCESS_LOGGER)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
