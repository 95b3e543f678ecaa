"""``xpg serve``: a read-only HTTP JSON service over an opened session.

What it answers and how it is built: :data:`xpg.serve.app.DESCRIPTION` (also the
description its ``/openapi.json`` gives).

Access and limits
-----------------
* Every ``/v1`` route needs an API key in the ``X-API-Key`` header (or
  ``Authorization: Bearer KEY``). Keys come from the ``XPG_API_KEY``
  environment variable only (several keys: comma-separated, to rotate them),
  never from a file or the command line; they are compared in constant time,
  before the request body is read. No key: 401. A wrong key: 403. More than
  ``wrong_key_limit`` refused keys from one client address per ``rate_window``:
  429 with ``Retry-After``, without looking at the key.
* Each key may spend ``rate_limit`` request units per ``rate_window`` seconds
  (sliding window); a request costs one unit, a batch of users one unit per ten
  id-hops (:func:`~xpg.serve.limits.batch_cost`: 100 ids with ``hops=2`` cost
  30); past that: 429 with ``Retry-After``.
* ``hops`` is at most ``max_hops``, a path search at most ``max_path_hops``;
  a batch at most ``max_ids`` ids; every id (path, query or body) at most
  ``max_id_length`` characters; a request body at most ``max_body`` bytes
  (413); a page of findings at most ``max_page`` findings.
* ``as_of`` is a date the service holds (the run it was started on, declared as
  the parameter's ``enum``); any other date, ``0001-01-01`` or ``9999-12-31``
  included, is answered 422 before anything is computed.
* Errors are JSON: ``{"error": {"status": 404, "code": "not_found",
  "message": "..."}}``; unknown id 404, malformed parameters 422, backend
  failure 503, anything else 500 (with no internals in the message, and only the
  error's class in the log). A 405 carries ``Allow``.
* ``POST /v1/users`` answers each id on its own: the users found, and an error
  for each unknown id (``errors``).

``/health``, ``/metrics`` and ``/openapi.json`` need no key: they hold no data.
``/health`` is answered on the event loop, never behind a data request.
``/metrics`` gives request counts, latencies and errors in the Prometheus text
format (:mod:`xpg.serve.metrics`; summed over the workers).

Access log
----------
Each request is logged to the ``xpg.serve.access`` logger (``xpg serve`` prints it
on stderr): ``method path status duration client``, where every path segment but
the service's own words is replaced by a keyed hash, whatever the spelling of the
path (:func:`~xpg.serve.access.logged_path`), and the query string (which holds
ids and dates) is left out. No header, so no API key, is logged.
"""

from __future__ import annotations

import os

from xpg.errors import ConfigError
from xpg.serve.access import ACCESS_LOGGER, logged_path
from xpg.serve.app import create_app
from xpg.serve.errors import ErrorBody
from xpg.serve.limits import Limits

__all__ = ["ACCESS_LOGGER", "API_KEY_ENV", "ErrorBody", "Limits", "api_keys_from_env",
           "create_app", "logged_path"]

API_KEY_ENV = "XPG_API_KEY"


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
