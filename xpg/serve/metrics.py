"""Request counts, latencies and errors of ``xpg serve`` in the Prometheus text format
(prometheus_client), served at ``/metrics``.

With several workers (``xpg serve --workers N``) every worker writes its samples to the
folder named by ``PROMETHEUS_MULTIPROC_DIR`` (set by ``xpg serve`` before the workers
start: prometheus_client's multiprocess mode), and ``/metrics``, whichever worker
answers it, adds up all of them. A single process (tests, an embedding application)
keeps them in a registry of its own application.

Metrics (labels: ``method``; ``route``, the route's template such as
``/v1/users/{user_id}``, or ``unmatched``; ``status``):

* ``xpg_http_requests_total`` — requests answered, by method, route and status;
* ``xpg_http_request_duration_seconds`` — a histogram of the time to answer, by method
  and route;
* ``xpg_http_errors_total`` — answers of 4xx or 5xx, by route and status.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client import generate_latest as _generate

__all__ = ["CONTENT_TYPE", "MULTIPROC_ENV", "Metrics"]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST

_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """The service's metrics, in this application's registry or in multiprocess mode."""

    def __init__(self) -> None:
        self.multiprocess = bool(os.environ.get(MULTIPROC_ENV))
        # multiprocess mode: samples go to the shared folder, collected per scrape
        self.registry = None if self.multiprocess else CollectorRegistry()
        self.requests = Counter("xpg_http_requests_total", "HTTP requests answered",
                                ("method", "route", "status"), registry=self.registry)
        self.latency = Histogram("xpg_http_request_duration_seconds",
                                 "Time to answer an HTTP request", ("method", "route"),
                                 buckets=_BUCKETS, registry=self.registry)
        self.errors = Counter("xpg_http_errors_total", "HTTP answers of 4xx or 5xx",
                              ("route", "status"), registry=self.registry)
        # (method, route, status) -> its series: methods, route templates and statuses are
        # few (the gate names an unknown method "other", a path of no route "unmatched")
        self._children: dict[tuple[str, str, int], tuple[Any, Any, Any]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        counted = self._children.get(key)
        if counted is None:  # the labelled series, looked up once per method, route, status
            counted = self._children[key] = (
                self.requests.labels(method, route, str(status)),
                self.latency.labels(method, route),
                self.errors.labels(route, str(status)) if status >= 400 else None)
        requests, latency, errors = counted
        requests.inc()
        latency.observe(seconds)
        if errors is not None:
            errors.inc()

    def text(self) -> bytes:
        """Every metric in the Prometheus text format (all workers' in multiprocess mode)."""
        if self.multiprocess:
            from prometheus_client import multiprocess

            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return _generate(registry)
        return _generate(self.registry)
