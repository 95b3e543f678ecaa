"""What every investigation module shares: link kinds, graph node ids and labels,
the reason a link gives, and the JSON mixin of the views.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from typing import Any

from xpg.queries.asof import OPEN_LOAN_STATUSES

from xpg.privacy import mask

__all__ = [
    "DEVICE",
    "LENDER",
    "OPEN_LOAN_STATUSES",
    "SMALL_ROWS",
    "View",
    "link_label",
    "link_reason",
    "masked_explanation",
    "money",
    "node_id",
]

SMALL_ROWS = 256
"""A lookup's rows up to this many are filtered and counted in Python (a few microseconds a
row), more by Polars: a Polars query on a frame of a few rows costs a fixed 0.1-0.4 ms of
planning and thread hand-off, and a user view asks for a few tens of them. Both give the
same rows in the same order (``tests/test_serve_fast.py`` and
``tests/test_view_fast_paths.py`` compare them). Read as ``base.SMALL_ROWS``, so that a
test can set it to -1 (Polars everywhere)."""

DEVICE = "device"
"""``kind`` of a device link; identifier links carry their identifier kind."""
LENDER = "lender"
"""``kind`` of a borrower-to-lender link (an open or overdue external loan)."""


def node_id(kind: str, value: str) -> str:
    """The id of a graph node: ``user:u1``, ``device:d9``, ``lender:L1``,
    ``identifier:phone:<12 hex of the value's hash>`` (a value is never shown).

    Examples
    --------
    >>> node_id("device", "d9"), node_id("user", "u1")
    ('device:d9', 'user:u1')
    >>> node_id("phone", "13812345678").startswith("identifier:phone:")
    True
    """
    if kind in ("user", DEVICE, LENDER):
        return f"{kind}:{value}"
    digest = hashlib.sha1(f"{kind}:{value}".encode()).hexdigest()[:12]
    return f"identifier:{kind}:{digest}"


def link_label(kind: str, value: str) -> str:
    """How a link node is named to a person: the device id, the lender id, or
    ``kind value`` for an identifier, the value masked by the masks in effect
    (:func:`xpg.privacy.mask`, ``[privacy.masks]``; by default card, id
    numbers and phones keep their last four characters).

    Examples
    --------
    >>> link_label("device", "d9"), link_label("bank_card", "6222020200112233")
    ('d9', 'bank_card ****2233')
    >>> link_label("phone", "+8613800138000")
    'phone ****8000'
    """
    if kind in (DEVICE, LENDER):
        return value
    return f"{kind} {mask(kind, value)}"


def masked_explanation(text: str, evidence: Mapping[str, Any] | None) -> str:
    """``text`` (a finding's explanation) with the identifier values its ``evidence`` names
    (``identifiers``: ``kind:value``) masked as the masks in effect show them.

    Examples
    --------
    >>> masked_explanation("linked by phone 13800000001", {"identifiers": ["phone:13800000001"]})
    'linked by phone ****0001'
    """
    if not isinstance(evidence, Mapping):
        return text
    for item in evidence.get("identifiers", ()):
        kind, _, value = str(item).partition(":")
        if value and value in text and not value.startswith("****"):
            text = text.replace(value, mask(kind, value))
    return text


def money(x: float | None) -> float:
    return round(float(x or 0.0), 2)


_LEAVES = (str, int, bool, type(None))
_NAMES: dict[type, tuple[str, ...]] = {}
"""The field names of each view class (a few tens of classes: bounded)."""


def _plain(x: Any) -> Any:
    kind = type(x)
    if kind in _LEAVES:  # most values of a view: answered before the checks below
        return x
    if kind is float:
        return round(x, 2)
    if isinstance(x, View):
        names = _NAMES.get(kind)
        if names is None:
            names = _NAMES[kind] = tuple(f.name for f in dataclasses.fields(x))
        return {n: _plain(getattr(x, n)) for n in names}
    if hasattr(x, "to_dict") and not isinstance(x, type):
        return x.to_dict()
    if isinstance(x, Mapping):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, list | tuple | set | frozenset):
        return [_plain(v) for v in x]
    if isinstance(x, dt.datetime | dt.date):
        return x.isoformat()
    if isinstance(x, float):
        return round(x, 2)
    return x


class View:
    """Mixin: ``to_dict()`` gives plain JSON-ready data (dates ISO, money to cents)."""

    def to_dict(self) -> dict[str, Any]:
        return _plain(self)

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)


def link_reason(kind: str, value: str, a: str, b: str) -> str:
    if kind == DEVICE:
        return f"{a} and {b} were both seen on device {value}"
    if kind == LENDER:
        return f"{a} and {b} both borrow at lender {value}"
    return f"{a} and {b} are both linked to {link_label(kind, value)}"
