"""The case routes of ``xpg serve`` (one router of :data:`xpg.serve.routes.ROUTERS`).

Reading (``GET /v1/cases``, ``/v1/cases/stats``, ``/v1/cases/{ref}`` with its audit trail)
takes a read key (``XPG_API_KEY``) or a write key, both checked by the service's gate before
the body is read, and counted against the rate limit. Writing (``POST /v1/cases``,
``/v1/cases/{ref}/decision``, ``/snooze``, ``/assignment``, ``/notes``, ``/status``) takes a
write key from ``XPG_API_WRITE_KEY`` only (comma-separated, at least 16 characters each): a
read key gets 403, and without ``XPG_API_WRITE_KEY`` set every write is refused. Every write
names its analyst (``by``); a write based on an older version (``expected_version``) gets
409 ``conflict``.

The cases are those of the session's store: the SQLite file beside the reports the session
was pointed at (``xpg serve --reports DIR``; each worker opens it, SQLite in WAL mode
serializes the writers), or the graph's Neo4j database (written through a connection of
its own, since the service's graph session only reads).
"""

# No `from __future__ import annotations`: FastAPI reads the annotations at run time.
import datetime as dt
import os
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from xpg.cases.model import NAME_MAX_CHARS, NOTE_MAX_CHARS, OUTCOMES, STATUSES
from xpg.errors import ConfigError, ConflictError
from xpg.serve.errors import Refused

if TYPE_CHECKING:
    from xpg.api import Session
    from xpg.cases.service import Cases
    from xpg.serve.routes.context import Context

__all__ = ["WRITE_KEY_ENV", "router", "write_keys_from_env"]

WRITE_KEY_ENV = "XPG_API_WRITE_KEY"

Name = Annotated[str, Field(min_length=1, max_length=NAME_MAX_CHARS)]
Note = Annotated[str | None, Field(default=None, max_length=NOTE_MAX_CHARS)]


class OpenBody(BaseModel):
    by: Name
    finding_id: str | None = Field(default=None, max_length=200)
    user: str | None = Field(default=None, max_length=200)
    note: Note = None


class DecisionBody(BaseModel):
    by: Name
    outcome: Literal[OUTCOMES]  # type: ignore[valid-type]
    note: Note = None
    snooze_until: dt.date | None = None
    expected_version: int | None = Field(default=None, ge=1)


class SnoozeBody(BaseModel):
    by: Name
    until: dt.date
    note: Note = None
    expected_version: int | None = Field(default=None, ge=1)


class AssignBody(BaseModel):
    by: Name
    assignee: Name
    expected_version: int | None = Field(default=None, ge=1)


class NoteBody(BaseModel):
    by: Name
    text: Annotated[str, Field(min_length=1, max_length=NOTE_MAX_CHARS)]
    expected_version: int | None = Field(default=None, ge=1)


class StatusBody(BaseModel):
    by: Name
    status: Literal["investigating", "open"]
    note: Note = None
    expected_version: int | None = Field(default=None, ge=1)


def write_keys_from_env(environ: dict[str, str] | None = None) -> tuple[str, ...]:
    """The write keys from ``XPG_API_WRITE_KEY`` (comma-separated; none: writes refused)."""
    env = os.environ if environ is None else environ
    keys = tuple(k.strip() for k in env.get(WRITE_KEY_ENV, "").split(",") if k.strip())
    if any(len(k) < 16 for k in keys):
        raise ConfigError(f"{WRITE_KEY_ENV}: every key must be at least 16 characters long")
    return keys


def _refuse(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"status": status, "code": code, "message": message}},
                        status_code=status)


class _Store:
    """The session's cases, opened on first use, shared by the workers (the SQLite store
    keeps a connection per thread; Neo4j sessions are made per call)."""

    def __init__(self, session: "Session"):
        self.session = session
        self._cases: Cases | None = None
        self._lock = threading.Lock()

    def __call__(self) -> "Cases":
        if self._cases is None:
            with self._lock:
                if self._cases is None:
                    self._cases = self._open()
        return self._cases

    def available(self) -> bool:
        """Whether the session has a case store: a reports folder, or a database."""
        from xpg.graph.neo4j.connection import Neo4jConnection

        return (self.session._case_reports is not None
                or isinstance(self.session.backend, Neo4jConnection))

    def _open(self) -> "Cases":
        from xpg.cases.neo4j import Neo4jCaseStore
        from xpg.cases.service import Cases
        from xpg.graph.neo4j.connection import Neo4jConnection

        backend = self.session.backend
        if isinstance(backend, Neo4jConnection) and backend.read_only:
            # the graph session only reads; the cases are written through their own
            store = Neo4jCaseStore(Neo4jConnection(backend.config))
            return Cases(store, self.session.findings())
        reports = self.session._case_reports
        if reports is None and not isinstance(backend, Neo4jConnection):
            from xpg.errors import InputError

            raise InputError("no case store: the service was started without a reports "
                             "folder (the cases live beside the reports)", argument="reports")
        return self.session.cases


def router(ctx: "Context") -> APIRouter:
    """The case routes over the service's session; writes need one of ``ctx.write_keys``."""
    store = _Store(ctx.data.session)
    routes = APIRouter(prefix="/v1/cases", tags=["cases"])
    if not store.available():  # no --reports and no database: no case routes at all
        return routes

    def reader(request: Request) -> str:
        return request.scope.get("state", {}).get("xpg_key", "")  # the gate checked it

    def writer(request: Request) -> str:
        if not ctx.write_keys:
            raise Refused(403, "forbidden", f"writes are not enabled: set {WRITE_KEY_ENV}")
        try:
            ctx.require_key(request, ctx.write_keys)
        except Refused:
            raise Refused(403, "forbidden", "this API key may only read; writing a case "
                                            f"needs a key from {WRITE_KEY_ENV}") from None
        return request.scope["state"]["xpg_key"]

    Reader = Annotated[str, Depends(reader)]
    Writer = Annotated[str, Depends(writer)]
    # a case id or a finding id: bounded like every id in a path (422, never echoed)
    Ref = Annotated[str, Path(min_length=1, max_length=ctx.limits.max_id_length)]

    def write(fn: Callable[["Cases"], Any]) -> JSONResponse:
        try:
            return JSONResponse(fn(store()).to_dict())
        except ConflictError as e:
            return _refuse(409, "conflict", str(e))

    @routes.get("", summary="Cases, oldest first (filtered by status, rule, assignee)")
    def list_cases(
        _key: Reader,
        status: Annotated[Literal[STATUSES] | None, Query()] = None,  # type: ignore[valid-type]
        rule: Annotated[str | None, Query(max_length=100)] = None,
        assignee: Annotated[str | None, Query(max_length=NAME_MAX_CHARS)] = None,
    ) -> JSONResponse:
        found = store().list(status=status, rule=rule, assignee=assignee)
        return JSONResponse({"cases": [c.to_dict() for c in found]})

    @routes.get("/stats", summary="Per-rule precision (confirmed / decided) over a period")
    def stats(_key: Reader, since: dt.date | None = None,
              until: dt.date | None = None) -> JSONResponse:
        return JSONResponse(store().stats(since, until))

    @routes.get("/trends", summary="Per rule over the last nights: findings, exposure, "
                                    "at risk, precision (the latest report's trends.json)")
    def trends(_key: Reader, nights: Annotated[int | None, Query(ge=1, le=3660)] = None
               ) -> JSONResponse:
        return JSONResponse({"trends": ctx.data.session.trends(nights)})

    @routes.get("/{ref}", summary="A case (by case id or finding id) and its audit trail")
    def show(ref: Ref, _key: Reader) -> JSONResponse:
        return JSONResponse(store().show(ref))

    @routes.post("", summary="Open a case on a finding or by hand on a user")
    def open_case(body: OpenBody, _key: Writer) -> JSONResponse:
        return write(lambda c: c.open(finding_id=body.finding_id, user=body.user, by=body.by,
                                      note=body.note))

    @routes.post("/{ref}/decision", summary="Close the case of a finding with an outcome")
    def decide(ref: Ref, body: DecisionBody, _key: Writer) -> JSONResponse:
        return write(lambda c: c.decide(ref, body.outcome, by=body.by, note=body.note,
                                        snooze_until=body.snooze_until,
                                        expected_version=body.expected_version))

    @routes.post("/{ref}/snooze", summary="Suppress a finding until a date unless it worsens")
    def snooze(ref: Ref, body: SnoozeBody, _key: Writer) -> JSONResponse:
        return write(lambda c: c.snooze(ref, body.until, by=body.by, note=body.note,
                                        expected_version=body.expected_version))

    @routes.post("/{ref}/assignment", summary="Assign the case")
    def assign(ref: Ref, body: AssignBody, _key: Writer) -> JSONResponse:
        return write(lambda c: c.assign(ref, body.assignee, by=body.by,
                                        expected_version=body.expected_version))

    @routes.post("/{ref}/notes", summary="Add a note to the case's trail")
    def note(ref: Ref, body: NoteBody, _key: Writer) -> JSONResponse:
        return write(lambda c: c.note(ref, body.text, by=body.by,
                                      expected_version=body.expected_version))

    @routes.post("/{ref}/status", summary="Investigating, or reopen a closed case")
    def status(ref: Ref, body: StatusBody, _key: Writer) -> JSONResponse:
        return write(lambda c: c.set_status(ref, body.status, by=body.by, note=body.note,
                                            expected_version=body.expected_version))

    return routes
