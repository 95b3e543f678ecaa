"""The access log of ``xpg serve``: paths with every id replaced by a keyed hash.

Only the words the service itself uses in a path (``v1``, ``health``, ``users``, ...)
are written as sent; every other segment, in any position and whatever the spelling
of the path (``/V1/users/ID``, ``//v1/users/ID``, ``/health/ID``, ``/v1/ID``), is
replaced by ``#`` and the first 12 hex digits of its HMAC-SHA256 under a key drawn when
the service starts (the same id hashes the same within one run; nobody can reverse it).
The query string (ids, dates) is never logged, nor is any header.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["ACCESS_LOGGER", "PATH_WORDS", "logged_path"]

ACCESS_LOGGER = "xpg.serve.access"

#: the path segments written as sent (compared case-insensitively); the routers add theirs
PATH_WORDS: frozenset[str] = frozenset({
    "v1", "health", "metrics", "openapi.json", "docs", "redoc",
    "findings", "users", "rings", "path", "lenders", "groups", "cases", "stats",
    "decision", "snooze", "assignment", "notes", "status", "screen", "timeline",
})


def logged_path(path: str, key: bytes, words: frozenset[str] = PATH_WORDS) -> str:
    """``path`` as the access log writes it: every segment but the service's own words
    hashed, and no segment longer than a hash.

    >>> k = b"k" * 16
    >>> logged_path("/v1/users/2088000000104729", k).startswith("/v1/users/#")
    True
    >>> logged_path("/v1/findings", k), logged_path("/health", k)
    ('/v1/findings', '/health')
    >>> "2088" in logged_path("//V1/users/2088000000104729", k)
    False
    >>> logged_path("/health/2088000000104729", k).startswith("/health/#")
    True
    """
    parts = path.split("/")
    out = []
    for p in parts:
        if not p or (p.lower() in words and len(p) <= 16):
            out.append(p)
        else:
            out.append("#" + hmac.new(key, p.encode("utf-8", "surrogateescape"),
                                      hashlib.sha256).hexdigest()[:12])
    return "/".join(out)
