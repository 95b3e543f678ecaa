"""What every router of ``xpg serve`` is given (:class:`Context`), and a router's type."""

from __future__ import annotations

import datetime as dt
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request

from xpg.serve.data import ServeData
from xpg.serve.errors import Refused
from xpg.serve.limits import Limits, RateLimited, SlidingWindow
from xpg.serve.metrics import Metrics

__all__ = ["Context", "RouterFactory"]


@dataclass(frozen=True)
class Context:
    """What a router needs: the data, the limits, the rate limiter of the keys, the
    metrics."""

    data: ServeData
    limits: Limits
    keys: SlidingWindow
    metrics: Metrics
    write_keys: tuple[str, ...] = ()
    #: path -> the answer to a valid JSON body of a ``POST`` there, or None (then the
    #: route answers it, errors included): what the gate answers without the router
    #: (:class:`xpg.serve.app._Gate`); a route that adds one is tested equal to it
    fast: dict[str, Callable[[bytes], bytes | None]] = field(default_factory=dict)

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

