"""Request limits of ``xpg serve``: the numbers (:class:`Limits`), the cost of a request,
the rate limiters (per API key, and per client for refused keys) and the body limit.

Every limiter here is per process: with ``--workers N`` each worker holds its own, and
:func:`per_worker` gives each worker its share of the limit (the kernel spreads the
connections over the workers, so a client's total is about the configured limit).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, replace

__all__ = ["Limits", "RateLimited", "SlidingWindow", "batch_cost", "per_worker"]


@dataclass(frozen=True)
class Limits:
    """Request limits of the service (see :mod:`xpg.serve`).

    ``rate_limit`` is in request units per ``rate_window`` seconds and API key: a plain
    request costs one unit, a batch of users :func:`batch_cost` units.
    ``wrong_key_limit`` refused keys (missing or wrong) per ``rate_window`` and client
    address are answered; past that, 429 without the key being looked at.
    """

    max_hops: int = 2
    max_path_hops: int = 8
    max_ids: int = 100
    max_id_length: int = 200
    max_body: int = 64 * 1024
    max_page: int = 1000
    rate_limit: int = 120
    rate_window: float = 60.0
    wrong_key_limit: int = 20
    ids_per_unit: int = 10
    max_clients: int = 10_000


def per_worker(limits: Limits, workers: int) -> Limits:
    """The limits one of ``workers`` processes enforces: its share of the rate limits.

    >>> per_worker(Limits(rate_limit=120, wrong_key_limit=20), 4).rate_limit
    30
    """
    if workers <= 1:
        return limits
    return replace(limits, rate_limit=max(1, math.ceil(limits.rate_limit / workers)),
                   wrong_key_limit=max(1, math.ceil(limits.wrong_key_limit / workers)))


def batch_cost(ids: int, hops: int, limits: Limits) -> int:
    """Request units of a batch of ``ids`` users with ``hops``: one unit per
    ``ids_per_unit`` id-hops (an id with ``hops`` h counts 1 + h), at least one.

    >>> batch_cost(100, 2, Limits()), batch_cost(3, 0, Limits()), batch_cost(1, 2, Limits())
    (30, 1, 1)
    """
    return max(1, math.ceil(ids * (1 + hops) / limits.ids_per_unit))


class RateLimited(Exception):
    """Over the limit: ``retry_after`` seconds until the request would pass."""

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.message, self.retry_after = message, retry_after


class SlidingWindow:
    """A sliding window of request units per name (an API key, a client address).

    At most ``max_names`` names are tracked (the least recently seen is dropped), so a
    flood of distinct names cannot grow it without bound. Thread-safe.
    """

    def __init__(self, limit: int, window: float, *, what: str,
                 clock: Callable[[], float] = time.monotonic, max_names: int = 10_000):
        self.limit, self.window, self.what, self.clock = limit, window, what, clock
        self.max_names = max_names
        self._hits: OrderedDict[str, deque[tuple[float, int]]] = OrderedDict()
        self._used: dict[str, int] = {}
        self._lock = threading.Lock()

    def _expire(self, name: str, now: float) -> deque[tuple[float, int]]:
        hits = self._hits.get(name)
        if hits is None:
            hits = self._hits[name] = deque()
            self._used[name] = 0
            while len(self._hits) > self.max_names:
                old, _ = self._hits.popitem(last=False)
                self._used.pop(old, None)
        else:
            self._hits.move_to_end(name)
        while hits and hits[0][0] <= now - self.window:
            self._used[name] -= hits.popleft()[1]
        return hits

    def charge(self, name: str, units: int = 1) -> None:
        """Count ``units`` for ``name``; :class:`RateLimited` (nothing counted) when they
        would take it over the limit."""
        now = self.clock()
        with self._lock:
            hits = self._expire(name, now)
            if self._used[name] + units > self.limit:
                if units > self.limit:
                    raise RateLimited(f"this request costs {units} units, more than the "
                                      f"limit of {self.limit} {self.what} in "
                                      f"{self.window:g} s: ask for fewer ids or hops",
                                      math.ceil(self.window))
                free, retry = self._used[name], 0.0
                for t, u in hits:  # when enough units have left the window
                    free -= u
                    retry = t + self.window - now
                    if free + units <= self.limit:
                        break
                raise RateLimited(f"more than {self.limit} {self.what} in {self.window:g} s",
                                  max(1, math.ceil(retry)))
            hits.append((now, units))
            self._used[name] += units

    def over(self, name: str) -> int | None:
        """Seconds until ``name`` is under its limit again, None when it is now."""
        now = self.clock()
        with self._lock:
            if name not in self._hits:
                return None
            hits = self._expire(name, now)
            if self._used[name] < self.limit or not hits:
                return None
            return max(1, math.ceil(hits[0][0] + self.window - now))
