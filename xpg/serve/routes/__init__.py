"""The routers of ``xpg serve``: one module per group of endpoints.

Each module has ``router(ctx: Context) -> APIRouter``; :data:`ROUTERS` lists them and
:func:`xpg.serve.app.create_app` includes each. A new group of endpoints is one new module
and one line appended to :data:`ROUTERS` (write endpoints check their own key with
:meth:`Context.require_key`, e.g. ``XPG_API_WRITE_KEY``; every ``/v1`` request has
already passed the read key check and the rate limit before its body is read).
"""

from __future__ import annotations

import datetime as dt
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request

from xpg.serve.data import ServeData
from xpg.serve.errors import Refused
from xpg.serve.limits import Limits, RateLimited, SlidingWindow
from xpg.serve.metrics import Metrics

__all__ = ["ROUTERS", "Context", "RouterFactory"]


@dataclass(frozen=True)
class Context:
    """What a router needs: the data, the limits, the rate limiter of the keys, the
    metrics."""

    data: ServeData
    limits: Limits
    keys: SlidingWindow
    metrics: Metrics
    write_keys: tuple[str, ...] = ()

    @property
    def dates(self) -> tuple[dt.date, ...]:
        return self.data.dates

    def date_schema(self) -> dict[str, Any]:
        """The ``as_of`` parameter's schema beyond ``format: date``: the dates served."""
        return {"enum": [d.isoformat() for d in self.dates]}

    def charge(self, request: Request, units: int) -> None:
        """Count ``units`` more against the request's API key (429 past the limit)."""
        key = request.scope.get("state", {}).get("xpg_key")
        if units <= 0 or key is None:
            return
        try:
            self.keys.charge(key, units)
        except RateLimited as e:
            raise Refused(429, "rate_limited", e.message,
                          {"Retry-After": str(e.retry_after)}) from None

    @staticmethod
    def require_key(request: Request, keys: Sequence[str]) -> None:
        """403 unless the request's key is one of ``keys`` (compared in constant time):
        for endpoints that need another key than the read key."""
        given = (request.scope.get("state", {}).get("xpg_key") or "").encode()
        ok = False
        for k in keys:
            ok |= hmac.compare_digest(given, k.encode())
        if not ok:
            raise Refused(403, "forbidden", "this endpoint needs another API key")


RouterFactory = Callable[[Context], APIRouter]


def _routers() -> list[RouterFactory]:
    from xpg.serve.routes import cases, findings, investigations, screening, service

    return [
        service.router,
        findings.router,
        investigations.router,
        cases.router,
        screening.router,
        # a new group of endpoints: its module's router, one line here
    ]


ROUTERS: list[RouterFactory] = _routers()
