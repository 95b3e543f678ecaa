"""Personal data: masks for identifier values on display, and keyed pseudonyms.

**Masks.** Identifier values (phones, IPs, addresses, card and id numbers,
emails) are shown masked wherever xpg displays them to a person: the CLI, the
API's views (and so ``xpg serve``) and the report page. Each kind has a mask
(``[privacy.masks]`` of the configuration):

==========  ============================================================
mask        shows
==========  ============================================================
none        the value as it is
last4       ``****`` and the last four characters
prefix      an IPv4's first two octets (``10.1.*.*``), an IPv6's first
            two groups; other values as ``last4``
domain      an email's domain (``****@example.com``)
hide        ``****`` only
==========  ============================================================

The masks in effect are set for a block of code with :func:`masking` (a
session does it around each investigation); :func:`mask` reads them.

**Pseudonyms.** :func:`pseudonym` is HMAC-SHA256 of ``kind`` and ``value`` with
a secret key (``XPG_PSEUDONYM_KEY``): the same value gives the same pseudonym
on every night with the same key, and nobody without the key can compute or
reverse it.
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import hmac
from collections.abc import Iterator, Mapping

__all__ = ["DEFAULT_MASKS", "MASKS", "PSEUDONYM_KEY_VARIABLE", "current_masks", "mask",
           "masking", "pseudonym"]

MASKS: tuple[str, ...] = ("none", "last4", "prefix", "domain", "hide")
"""The masks a kind can have."""

PSEUDONYM_KEY_VARIABLE = "XPG_PSEUDONYM_KEY"
"""The environment variable the pseudonym key is read from (never from a file)."""

DEFAULT_MASKS: Mapping[str, str] = {
    "phone": "last4", "ip": "prefix", "address": "hide", "bank_card": "last4",
    "id_number": "last4", "email": "domain",
}
"""The masks of ``config/defaults.toml``'s ``[privacy.masks]`` (kinds not listed: none)."""

_MASKS: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "xpg_masks", default=DEFAULT_MASKS)


def _last4(value: str) -> str:
    return "****" + (value[-4:] if len(value) > 4 else "")


def mask(kind: str, value: str, masks: Mapping[str, str] | None = None) -> str:
    """``value`` of identifier ``kind`` as the masks in effect show it.

    Examples
    --------
    >>> mask("phone", "+8613800138000")
    '****8000'
    >>> mask("ip", "10.1.2.3"), mask("email", "li@example.com"), mask("address", "1 Road")
    ('10.1.*.*', '****@example.com', '****')
    >>> mask("phone", "13800138000", {"phone": "none"})
    '13800138000'
    """
    how = (current_masks() if masks is None else masks).get(kind, "none")
    if how == "none":
        return value
    if how == "hide":
        return "****"
    if how == "domain" and "@" in value:
        return "****@" + value.rsplit("@", 1)[1]
    if how == "prefix":
        if value.count(".") == 3:
            return ".".join([*value.split(".")[:2], "*", "*"])
        if ":" in value:
            return ":".join(value.split(":")[:2]) + ":*"
    return _last4(value)


def current_masks() -> Mapping[str, str]:
    """The masks in effect (the defaults outside :func:`masking`)."""
    return _MASKS.get()


@contextlib.contextmanager
def masking(masks: Mapping[str, str]) -> Iterator[None]:
    """Use ``masks`` (kind -> mask) for :func:`mask` inside the block."""
    token = _MASKS.set(masks)
    try:
        yield
    finally:
        _MASKS.reset(token)


def pseudonym(key: bytes, kind: str, value: str, length: int = 16) -> str:
    """The keyed pseudonym of ``value`` (HMAC-SHA256 of ``kind`` and ``value``, hex).

    Examples
    --------
    >>> pseudonym(b"k" * 32, "user", "u1") == pseudonym(b"k" * 32, "user", "u1")
    True
    >>> pseudonym(b"k" * 32, "user", "u1") != pseudonym(b"j" * 32, "user", "u1")
    True
    >>> len(pseudonym(b"k" * 32, "user", "u1"))
    16
    """
    mac = hmac.new(key, f"{kind}\x1f{value}".encode(), hashlib.sha256)
    return mac.hexdigest()[:length]
