"""The FastAPI application of ``xpg serve`` (:func:`create_app`): the gate every request
passes (key, rate limits, access log, metrics), the body limit, the error answers and
the routers of :mod:`xpg.serve.routes`."""

from __future__ import annotations

import contextlib
import hmac
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader, HTTPBearer
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from xpg.errors import (
    BackendError,
    ConfigError,
    InputError,
    NoFindingsError,
    NotFoundError,
    StorageError,
    XpgError,
)
from xpg.serve.access import ACCESS_LOGGER, PATH_WORDS, logged_path
from xpg.serve.data import ServeData
from xpg.serve.errors import Refused, error_response
from xpg.serve.limits import Limits, RateLimited, SlidingWindow
from xpg.serve.metrics import Metrics

if TYPE_CHECKING:
    from xpg.api import Session

__all__ = ["DESCRIPTION", "create_app"]

DESCRIPTION = """``xpg serve``: a read-only HTTP JSON service over an opened session.

Review tools written in other languages ask the same questions as the Python
API (:mod:`xpg.api`): findings, a user, a ring, a path, a lender. The service
is built with FastAPI (typed routes, an OpenAPI description at
``/openapi.json`` that declares every bound the server enforces);
:func:`create_app` builds it around a :class:`~xpg.api.Session`, ``xpg serve``
runs it with uvicorn, in one process or ``--workers N``."""
"""The service's overview: what ``/openapi.json`` gives as its description."""

_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
_NO_STORE = (b"cache-control", b"no-store")


def create_app(
    session: Session,
    *,
    api_keys: Sequence[str],
    limits: Limits | None = None,
    clock: Callable[[], float] = time.monotonic,
    rings: Mapping[str, bytes] | None = None,
    write_keys: Sequence[str] | None = None,
) -> FastAPI:
    """The FastAPI application answering from ``session`` (which the caller keeps open).

    The session's findings are encoded and its lookup tables built here, before any
    request (:class:`~xpg.serve.data.ServeData`); the requests then only read it,
    with no lock.

    Parameters
    ----------
    session
        An open :class:`~xpg.api.Session`; its run date is the date served.
    api_keys
        The accepted keys (see :func:`~xpg.serve.api_keys_from_env`).
    limits
        Request limits (defaults: :class:`~xpg.serve.limits.Limits`).
    clock
        Monotonic clock of the rate limiters (tests pass a fake one).
    rings
        Ring views already encoded (ring id -> JSON bytes); the others are encoded on
        their first request (:meth:`~xpg.serve.data.ServeData.ring`).
    write_keys
        The keys that may also write cases (default: ``XPG_API_WRITE_KEY``); they read too.
    """
    from xpg.serve.routes import ROUTERS, Context
    from xpg.serve.routes.cases import write_keys_from_env

    if not api_keys:
        raise ConfigError("at least one API key is needed")
    limits = limits or Limits()
    data = ServeData(session, rings=rings)
    key_window = SlidingWindow(limits.rate_limit, limits.rate_window, what="request units",
                               clock=clock, max_names=max(len(api_keys), 1) * 4)
    client_window = SlidingWindow(limits.wrong_key_limit, limits.rate_window,
                                  what="refused API keys from this client", clock=clock,
                                  max_names=limits.max_clients)
    metrics = Metrics()
    writers = tuple(write_keys_from_env() if write_keys is None else write_keys)
    ctx = Context(data=data, limits=limits, keys=key_window, metrics=metrics,
                  write_keys=writers)

    app = FastAPI(
        title="xpg",
        version=_version(),
        summary="Cross-product exposure graph: findings and investigations, read-only.",
        description=DESCRIPTION,
        docs_url=None,  # the interactive pages load assets from a CDN: not served
        redoc_url=None,
    )
    # documents the two ways to send the key; the gate checks it before anything else
    keyed = [Security(APIKeyHeader(name="X-API-Key", auto_error=False)),
             Security(HTTPBearer(auto_error=False))]
    for make in ROUTERS:
        r = make(ctx)
        app.include_router(r, dependencies=keyed if r.prefix.startswith("/v1") else None)
    _handlers(app)
    app.add_middleware(_BodyLimit, limit=limits.max_body)
    app.add_middleware(_Gate, keys=[k.encode() for k in (*api_keys, *writers)],
                       key_window=key_window,
                       client_window=client_window, metrics=metrics, fast=ctx.fast,
                       max_body=limits.max_body)
    app.state.xpg = ctx
    return app


def _handlers(app: FastAPI) -> None:
    @app.exception_handler(Refused)
    async def refused(_: Request, e: Refused) -> JSONResponse:
        return error_response(e.status, e.code, e.message, e.headers)

    @app.exception_handler(NotFoundError)
    async def not_found(_: Request, e: NotFoundError) -> JSONResponse:
        return error_response(404, "not_found", str(e))

    @app.exception_handler(NoFindingsError)
    async def no_findings(_: Request, e: NoFindingsError) -> JSONResponse:
        return error_response(409, "no_detection", f"{e}: run `xpg detect --backend neo4j` "
                                                   "on this database, then ask again")

    @app.exception_handler(InputError)
    async def bad_input(_: Request, e: InputError) -> JSONResponse:
        return error_response(422, "invalid", str(e))

    @app.exception_handler(BackendError)
    async def backend_down(_: Request, e: BackendError) -> JSONResponse:
        return error_response(503, "backend_unavailable", str(e))

    @app.exception_handler(StorageError)
    async def storage_refused(_: Request, e: StorageError) -> JSONResponse:
        # the file system refused (the case store on a full disk, a state file it may not
        # read): the reason, never the server's path
        return error_response(503, "storage_unavailable",
                              f"the file system refused: {e.reason}")

    @app.exception_handler(XpgError)
    async def other_xpg(_: Request, e: XpgError) -> JSONResponse:
        return error_response(500, "internal", type(e).__name__)

    @app.exception_handler(RequestValidationError)
    async def malformed(_: Request, e: RequestValidationError) -> JSONResponse:
        # the message names the parameter and the rule, never the value sent
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err.get('loc', ()))}: {err.get('msg', '')}"
            for err in e.errors())
        return error_response(422, "invalid", problems or "malformed request")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, e: StarletteHTTPException) -> JSONResponse:
        if e.status_code == 400:  # FastAPI could not parse the body: an invalid request
            return error_response(422, "invalid", "the request body is not valid JSON")
        code = {404: "not_found", 405: "method_not_allowed"}.get(e.status_code, "http_error")
        # keeps Starlette's headers: Allow on a 405 (RFC 9110)
        return error_response(e.status_code, code, str(e.detail), dict(e.headers or {}))


class _Gate:
    """ASGI middleware in front of everything: for ``/v1`` the refused-key limit of the
    client, the key (before the body is read) and the key's rate limit; for every
    request ``Cache-Control: no-store``, the access log and the metrics.

    A ``POST`` to a path of ``fast`` (:attr:`Context.fast <xpg.serve.routes.Context.fast>`:
    ``/v1/screen``) with a JSON body (``Content-Type: application/json``) of at most
    ``max_body`` bytes is answered here when its route's function gives an answer: the
    route's own answer, without FastAPI's routing, dependencies and inner middlewares
    (at 1,000,000 users, 0.71 -> 0.27 CPU ms per screening through the application in
    process); any other request, and a body the function gives no answer for (every
    error), goes on to the application with its body replayed, and is answered there."""

    def __init__(self, app: ASGIApp, *, keys: list[bytes], key_window: SlidingWindow,
                 client_window: SlidingWindow, metrics: Metrics,
                 fast: Mapping[str, Callable[[bytes], bytes | None]] | None = None,
                 max_body: int = 0):
        self.app, self.keys, self.metrics = app, keys, metrics
        self.key_window, self.client_window = key_window, client_window
        self.fast, self.max_body = fast if fast is not None else {}, max_body
        self.log = logging.getLogger(ACCESS_LOGGER)
        self.path_key = os.urandom(32)  # this run's: ids hash the same within the run only

    def _refusal(self, scope: Scope) -> Refused | None:
        headers = dict(scope.get("headers") or [])
        client = (scope.get("client") or ("-", 0))[0]
        wait = self.client_window.over(client)
        if wait is not None:
            return Refused(429, "rate_limited", "too many refused API keys from this client",
                           {"Retry-After": str(wait)})
        given = headers.get(b"x-api-key")
        auth = headers.get(b"authorization", b"")
        if given is None and auth[:7].lower() == b"bearer ":
            given = auth[7:].strip()
        if not given:
            self._failed(client)
            return Refused(401, "unauthorized", "an API key is required (header X-API-Key)",
                           {"WWW-Authenticate": 'Bearer realm="xpg"'})
        ok = False
        for k in self.keys:  # every key compared, in constant time
            ok |= hmac.compare_digest(given, k)
        if not ok:
            self._failed(client)
            return Refused(403, "forbidden", "the API key is not valid")
        key = given.decode("latin-1")
        try:
            self.key_window.charge(key)
        except RateLimited as e:
            return Refused(429, "rate_limited", e.message, {"Retry-After": str(e.retry_after)})
        scope.setdefault("state", {})["xpg_key"] = key
        return None

    async def _answer(self, answer: Callable[[bytes], bytes | None], scope: Scope,
                      receive: Receive, send: Send) -> bool:
        """Answer a ``POST`` to a fast path: True when answered here, False when handed on
        to the application (the messages read replayed to it)."""
        content_type = length = None
        for name, value in scope.get("headers") or ():
            if name == b"content-type" and content_type is None:
                content_type = value
            elif name == b"content-length":
                length = value
        read: list[Message] = []
        body = None
        # what the body limit refuses (declared or read too long) is refused there
        if content_type == b"application/json" and not (
                length is not None and length.isdigit() and int(length) > self.max_body):
            size = 0
            while True:
                message = await receive()
                read.append(message)
                if message["type"] != "http.request":
                    break
                size += len(message.get("body", b""))
                if size > self.max_body:
                    break
                if not message.get("more_body", False):
                    body = b"".join(m.get("body", b"") for m in read)
                    break
        content = None if body is None else answer(body)
        if content is None:
            await self.app(scope, _replay(read, receive), send)
            return False
        # what the route's Response(content, media_type="application/json") sends
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-length", str(len(content)).encode("latin-1")),
            (b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": content})
        return True

    def _failed(self, client: str) -> None:
        # already over: the next one is refused before its key is looked at
        with contextlib.suppress(RateLimited):
            self.client_window.charge(client)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        started_response = False

        async def sending(message: Message) -> None:
            nonlocal status, started_response
            if message["type"] == "http.response.start":
                status, started_response = message["status"], True
                message["headers"] = [*message.get("headers", []), _NO_STORE]
            await send(message)

        path = scope.get("path", "")
        template = None
        try:
            refused = None
            if path == "/v1" or path.startswith("/v1/"):
                refused = self._refusal(scope)
            if refused is not None:
                await error_response(refused.status, refused.code, refused.message,
                                     refused.headers)(scope, receive, sending)
            elif path in self.fast and scope.get("method") == "POST":
                if await self._answer(self.fast[path], scope, receive, sending):
                    template = path  # a path of no parameter: its own route template
            else:
                await self.app(scope, receive, sending)
        except Exception as e:  # answered here: no traceback (paths, values) in the log
            logging.getLogger("xpg.serve").error("internal error: %s", type(e).__name__)
            if status == 500 and not started_response:
                await error_response(500, "internal", "internal error")(scope, receive,
                                                                        sending)
        finally:
            took = time.perf_counter() - started
            template = template or getattr(scope.get("route"), "path", None) or "unmatched"
            method = scope.get("method", "-")
            self.metrics.observe(method if method in _METHODS else "other", template, status,
                                 took)
            client = (scope.get("client") or ("-", 0))[0]
            self.log.info("%s %s %d %.1fms %s", method if method in _METHODS else "other",
                          logged_path(path, self.path_key, PATH_WORDS), status, took * 1000,
                          client)


class _BodyLimit:
    """ASGI middleware: refuse a request body larger than ``limit`` bytes with 413.

    The body is read here first (at most ``limit`` + 1 bytes are held), then
    replayed to the application, so a body without a Content-Length header is
    bounded too. It runs after the gate: a body is read only for a valid key.
    """

    def __init__(self, app: ASGIApp, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        too_big = error_response(413, "body_too_large", f"request body over {self.limit} bytes")
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


def _version() -> str:
    from xpg import __version__

    return __version__
