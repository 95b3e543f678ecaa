"""``/health`` and ``/metrics``: no key, no data, never behind a data request."""

# No `from __future__ import annotations`: FastAPI reads the routes' annotations at run time.
from typing import TYPE_CHECKING

from fastapi import APIRouter, Response

from xpg.serve.metrics import CONTENT_TYPE

if TYPE_CHECKING:
    from xpg.serve.routes.context import Context

__all__ = ["router"]


def router(ctx: "Context") -> APIRouter:
    r = APIRouter(tags=["service"])

    # async: answered on the event loop itself, never queued behind the data requests
    # that the thread pool runs
    @r.get("/health", summary="Liveness: no key needed, no data")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @r.get("/metrics", summary="Request counts, latencies and errors (Prometheus text format)",
           response_class=Response,
           responses={200: {"content": {CONTENT_TYPE.split(";")[0]: {
               "schema": {"type": "string"}}}}})
    def metrics() -> Response:
        return Response(ctx.metrics.text(), media_type=CONTENT_TYPE)

    return r
