"""``xpg serve``: a read-only HTTP JSON service over an opened session.

Review tools written in other languages ask the same questions as the Python
API (:mod:`xpg.api`): findings, a user, a ring, a path, a lender. The service
is built with FastAPI (typed routes, an OpenAPI description at
``/openapi.json``); :func:`create_app` builds it around a
:class:`~xpg.api.Session`, ``xpg serve`` runs it with uvicorn.

Access and limits
-----------------
* Every ``/v1`` route needs an API key in the ``X-API-Key`` header (or
  ``Authorization: Bearer KEY``). Keys come from the ``XPG_API_KEY``
  environment variable only (several keys: comma-separated, to rotate them),
  never from a file or the command line; they are compared in constant time.
  No key: 401. A wrong key: 403.
* Each key may make ``rate_limit`` requests per ``rate_window`` seconds
  (sliding window); past that: 429 with ``Retry-After``.
* ``hops`` is at most ``max_hops``, a path search at most ``max_path_hops``;
  a batch at most ``max_ids`` ids; a request body at most ``max_body`` bytes
  (413); a page of findings at most ``max_page`` findings.
* Errors are JSON: ``{"error": {"status": 404, "code": "not_found",
  "message": "..."}}``; unknown id 404, malformed parameters 422, backend
  failure 503, anything else 500 (with no internals in the message).

``/health`` and ``/openapi.json`` need no key: they hold no data.

Access log
----------
Each request is logged to the ``xpg.serve.access`` logger (``xpg serve`` prints it
on stderr): ``method path status duration client``, where every path segment
after the collection (a user, ring, finding or lender id) is replaced by a keyed
hash (HMAC-SHA256 with a key drawn when the service starts: the same id gives
the same hash within one run, and nobody can reverse it), and the query string
(which holds ids and dates) is left out. No header, so no API key, is logged.
"""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations at run
# time, and they name aliases local to create_app.
import hashlib
import hmac
import logging
import os
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

from fastapi import Body, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, StringConstraints
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from xpg.errors import (
    BackendError,
    ConfigError,
    InputError,
    NoFindingsError,
    NotFoundError,
    XpgError,
)
from xpg.queries.findings import FINDING_TYPES, SEVERITIES, Finding
from xpg.queries.investigate import LenderView, PathView, RingView, UserView

if TYPE_CHECKING:
    from xpg.api import Session

__all__ = ["ACCESS_LOGGER", "API_KEY_ENV", "ErrorBody", "Limits", "api_keys_from_env",
           "create_app", "logged_path"]

ACCESS_LOGGER = "xpg.serve.access"

API_KEY_ENV = "XPG_API_KEY"


@dataclass(frozen=True)
class Limits:
    """Request limits of the service (see the module documentation)."""

    max_hops: int = 2
    max_path_hops: int = 8
    max_ids: int = 100
    max_body: int = 64 * 1024
    max_page: int = 1000
    rate_limit: int = 120
    rate_window: float = 60.0


class ErrorDetail(BaseModel):
    status: int
    code: str
    message: str


class ErrorBody(BaseModel):
    """Every refused or failed request answers with this body."""

    error: ErrorDetail


class Page(BaseModel):
    offset: int
    limit: int
    total: int


class FindingsPage(BaseModel):
    """The contract's findings document, filtered and paged (``page``)."""

    as_of: str
    findings: list[Finding]
    summary: dict[str, Any]
    page: Page


class UsersBody(BaseModel):
    users: list[UserView]


_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody, "description": text} for code, text in (
        (401, "No API key"), (403, "Wrong API key"), (404, "Unknown id"),
        (409, "No detection has stored findings for the date: run xpg detect"),
        (422, "Malformed parameters"), (429, "Rate limit exceeded"),
        (503, "Backend unavailable"))
}


def _ok(model: Any) -> dict[int | str, dict[str, Any]]:
    return {200: {"model": model}, **_ERRORS}


def api_keys_from_env(environ: dict[str, str] | None = None) -> tuple[str, ...]:
    """The API keys from ``XPG_API_KEY`` (comma-separated); ConfigError when none is set."""
    env = os.environ if environ is None else environ
    keys = tuple(k.strip() for k in env.get(API_KEY_ENV, "").split(",") if k.strip())
    if not keys:
        raise ConfigError(f"set the {API_KEY_ENV} environment variable to the API key(s) "
                          "clients must send; xpg serve never reads a key from a file")
    short = [k for k in keys if len(k) < 16]
    if short:
        raise ConfigError(f"{API_KEY_ENV}: every key must be at least 16 characters long")
    return keys


class _Refused(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None
           ) -> JSONResponse:
    return JSONResponse({"error": {"status": status, "code": code, "message": message}},
                        status_code=status, headers=headers)


class _BodyLimit:
    """ASGI middleware: refuse a request body larger than ``limit`` bytes with 413.

    The body is read here first (at most ``limit`` + 1 bytes are held), then
    replayed to the application, so a body without a Content-Length header is
    bounded too.
    """

    def __init__(self, app: ASGIApp, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_big = _error(413, "body_too_large", f"request body over {self.limit} bytes")
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await too_big(scope, receive, send)
            return
        chunks: list[bytes] = []
        size, more = 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                await self.app(scope, _replay([message]), send)
                return
            body = message.get("body", b"")
            size += len(body)
            if size > self.limit:
                await too_big(scope, receive, send)
                return
            chunks.append(body)
            more = message.get("more_body", False)
        whole: Message = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
        await self.app(scope, _replay([whole], receive), send)


def _replay(messages: list[Message], then: Receive | None = None) -> Receive:
    async def receive() -> Message:
        if messages:
            return messages.pop(0)
        if then is not None:
            return await then()
        return {"type": "http.disconnect"}

    return receive


class _RateLimiter:
    """A sliding window of request times per key."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic):
        self.limit, self.window, self.clock = limit, window, clock
        self._hits: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def check(self, key: str) -> None:
        now = self.clock()
        with self._lock:
            hits = self._hits[key]
            while hits and hits[0] <= now - self.window:
                hits.popleft()
            if len(hits) >= self.limit:
                retry = max(1, int(hits[0] + self.window - now + 0.999))
                raise _Refused(429, "rate_limited",
                               f"more than {self.limit} requests in {self.window:g} s",
                               {"Retry-After": str(retry)})
            hits.append(now)


def logged_path(path: str, key: bytes) -> str:
    """``path`` as the access log writes it: segments after ``/v1/<collection>`` hashed.

    >>> logged_path("/v1/users/2088000000104729", b"k" * 16).startswith("/v1/users/#")
    True
    >>> logged_path("/v1/findings", b"k" * 16), logged_path("/health", b"k" * 16)
    ('/v1/findings', '/health')
    """
    parts = path.split("/")
    if len(parts) > 3 and parts[1] == "v1":
        parts[3:] = ["#" + hmac.new(key, p.encode(), hashlib.sha256).hexdigest()[:12]
                     for p in parts[3:]]
    return "/".join(parts)


def create_app(
    session: "Session",
    *,
    api_keys: Sequence[str],
    limits: Limits | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> FastAPI:
    """The FastAPI application answering from ``session`` (which the caller keeps open).

    Parameters
    ----------
    session
        An open :class:`~xpg.api.Session`; calls into it are serialized.
    api_keys
        The accepted keys (see :func:`api_keys_from_env`).
    limits
        Request limits (defaults: :class:`Limits`).
    clock
        Monotonic clock of the rate limiter (tests pass a fake one).
    """
    if not api_keys:
        raise ConfigError("at least one API key is needed")
    limits = limits or Limits()
    keys = [k.encode() for k in api_keys]
    limiter = _RateLimiter(limits.rate_limit, limits.rate_window, clock)
    lock = threading.Lock()  # one call into the session at a time

    app = FastAPI(
        title="xpg",
        version=_version(),
        summary="Cross-product exposure graph: findings and investigations, read-only.",
        description=(__doc__ or "").split("Access and limits")[0].strip(),
        docs_url=None,  # the interactive pages load assets from a CDN: not served
        redoc_url=None,
    )
    app.add_middleware(_BodyLimit, limit=limits.max_body)

    def authorize(request: Request) -> str:
        given = request.headers.get("x-api-key")
        auth = request.headers.get("authorization", "")
        if given is None and auth.lower().startswith("bearer "):
            given = auth[7:].strip()
        if not given:
            raise _Refused(401, "unauthorized", "an API key is required (header X-API-Key)",
                           {"WWW-Authenticate": 'Bearer realm="xpg"'})
        raw = given.encode()
        ok = False
        for k in keys:  # every key compared, in constant time
            ok |= hmac.compare_digest(raw, k)
        if not ok:
            raise _Refused(403, "forbidden", "the API key is not valid")
        limiter.check(given)
        return given

    Key = Annotated[str, Depends(authorize)]
    AsOf = Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}-\d{2}$",
                                       description="Run date YYYY-MM-DD (default: the data's)")]

    def call(fn: Callable[[], Any]) -> dict[str, Any]:
        with lock:
            result = fn()
        return result.to_dict()

    @app.exception_handler(_Refused)
    async def refused(_: Request, e: _Refused) -> JSONResponse:
        return _error(e.status, e.code, e.message, e.headers)

    @app.exception_handler(NotFoundError)
    async def not_found(_: Request, e: NotFoundError) -> JSONResponse:
        return _error(404, "not_found", str(e))

    @app.exception_handler(NoFindingsError)
    async def no_findings(_: Request, e: NoFindingsError) -> JSONResponse:
        return _error(409, "no_detection", f"{e}: run `xpg detect --backend neo4j` on this "
                                           "database, then ask again")

    @app.exception_handler(InputError)
    async def bad_input(_: Request, e: InputError) -> JSONResponse:
        return _error(422, "invalid", str(e))

    @app.exception_handler(BackendError)
    async def backend_down(_: Request, e: BackendError) -> JSONResponse:
        return _error(503, "backend_unavailable", str(e))

    @app.exception_handler(XpgError)
    async def other_xpg(_: Request, e: XpgError) -> JSONResponse:
        return _error(500, "internal", type(e).__name__)

    @app.exception_handler(RequestValidationError)
    async def malformed(_: Request, e: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err.get('loc', ()))}: {err.get('msg', '')}"
            for err in e.errors())
        return _error(422, "invalid", problems or "malformed request")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, e: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(e.status_code, "http_error")
        return _error(e.status_code, code, str(e.detail))

    @app.exception_handler(Exception)
    async def crashed(_: Request, e: Exception) -> JSONResponse:
        return _error(500, "internal", "internal error")

    @app.get("/health", tags=["service"], summary="Liveness: no key needed, no data")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/v1/findings", tags=["findings"], responses=_ok(FindingsPage),
             summary="Findings as of a date, in the data contract's format (filtered, paged)")
    def findings(
        _key: Key,
        as_of: AsOf = None,
        finding_type: Annotated[Literal[FINDING_TYPES] | None,  # type: ignore[valid-type]
                                Query(alias="type", description="Only this finding type")
                                ] = None,
        severity: Annotated[Literal[SEVERITIES] | None,  # type: ignore[valid-type]
                            Query(description="Only this severity or above")] = None,
        user: Annotated[str | None, Query(max_length=200,
                                          description="Only findings naming this user")] = None,
        limit: Annotated[int, Query(ge=1, le=limits.max_page)] = min(100, limits.max_page),
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> JSONResponse:
        with lock:
            report = session.findings(as_of)
        picked = [f for f in report.findings
                  if (finding_type is None or f.type == finding_type)
                  and (severity is None
                       or SEVERITIES.index(f.severity) >= SEVERITIES.index(severity))
                  and (user is None or user in f.users)]
        doc = report.to_dict()
        doc["findings"] = [f.to_dict() for f in picked[offset:offset + limit]]
        doc["page"] = {"offset": offset, "limit": limit, "total": len(picked)}
        return JSONResponse(doc)

    @app.get("/v1/findings/{finding_id}", tags=["findings"], responses=_ok(Finding),
             summary="One finding by id")
    def finding(finding_id: str, _key: Key, as_of: AsOf = None) -> JSONResponse:
        with lock:
            f = session.findings_index(as_of).get(finding_id)
        if f is None:
            raise NotFoundError(f"unknown finding {finding_id!r}")
        return JSONResponse(f.to_dict())

    @app.get("/v1/users/{user_id}", tags=["investigations"], responses=_ok(UserView),
             summary="A user: accounts, links, lenders, findings, exposure, neighbours")
    def user_view(
        user_id: str,
        _key: Key,
        hops: Annotated[int, Query(ge=0, le=limits.max_hops)] = 1,
        as_of: AsOf = None,
    ) -> JSONResponse:
        return JSONResponse(call(lambda: session.user(user_id, hops=hops, as_of=as_of)))

    @app.post("/v1/users", tags=["investigations"], responses=_ok(UsersBody),
              summary="Several users at once (read-only; the ids travel in the body)")
    def users_view(
        _key: Key,
        ids: Annotated[list[Annotated[str, StringConstraints(min_length=1, max_length=200)]],
                       Body(embed=True, min_length=1, max_length=limits.max_ids)],
        hops: Annotated[int, Body(embed=True, ge=0, le=limits.max_hops)] = 0,
        as_of: AsOf = None,
    ) -> JSONResponse:
        return JSONResponse({"users": [
            call(lambda u=u: session.user(u, hops=hops, as_of=as_of)) for u in ids]})

    @app.get("/v1/rings/{ring_id}", tags=["investigations"], responses=_ok(RingView),
             summary="A ring: members, shared links, lenders, exposure, freeze state")
    def ring_view(ring_id: str, _key: Key, as_of: AsOf = None) -> JSONResponse:
        return JSONResponse(call(lambda: session.ring(ring_id, as_of=as_of)))

    @app.get("/v1/path", tags=["investigations"], responses=_ok(PathView),
             summary="The shortest chain of shared devices/identifiers between two users")
    def path_view(
        _key: Key,
        a: Annotated[str, Query(min_length=1, max_length=200)],
        b: Annotated[str, Query(min_length=1, max_length=200)],
        via_lenders: bool = False,
        include_hubs: bool = False,
        max_hops: Annotated[int, Query(ge=1, le=limits.max_path_hops)] = 6,
        as_of: AsOf = None,
    ) -> JSONResponse:
        return JSONResponse(call(lambda: session.path(
            a, b, via_lenders=via_lenders, include_hubs=include_hubs,
            max_hops=min(max_hops, limits.max_path_hops), as_of=as_of)))

    @app.get("/v1/lenders/{lender_id}", tags=["investigations"], responses=_ok(LenderView),
             summary="A lender: flagged users and rings borrowing there, and how much")
    def lender_view(lender_id: str, _key: Key, as_of: AsOf = None) -> JSONResponse:
        return JSONResponse(call(lambda: session.lender(lender_id, as_of=as_of)))

    from xpg.serve_screen import screen_router

    app.include_router(screen_router(session, Key, call, _ERRORS))

    access = logging.getLogger(ACCESS_LOGGER)
    path_key = os.urandom(32)  # this run's: ids hash the same within the run only

    @app.middleware("http")
    async def no_store(request: Request, call_next: Callable[[Request], Any]) -> Any:
        started = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            response.headers["Cache-Control"] = "no-store"
            return response
        finally:
            client = request.client.host if request.client else "-"
            access.info("%s %s %d %.1fms %s", request.method,
                        logged_path(request.url.path, path_key), status,
                        (time.perf_counter() - started) * 1000, client)

    return app


def _version() -> str:
    from xpg import __version__

    return __version__
