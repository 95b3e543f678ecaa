"""One identifier value normalized in plain Python: the loader's rules, for a request.

:func:`xpg.loaders.normalize.normalize_values` normalizes a table's column with Polars;
a screening request (:mod:`xpg.queries.screen`) gives a handful of values, for which a
Polars query costs a fixed ~0.1-0.4 ms each of planning and thread hand-off. This module
gives the same answer for one value with Python's :mod:`re`, from the same patterns
(imported from :mod:`xpg.loaders.normalize`, never restated) and the same phone reader
(:func:`~xpg.loaders.normalize.canonical_phone`):

- :func:`trim`: what the loader's ``str.strip_chars()`` drops (Unicode ``White_Space``, as
  Rust reads it; Python's :meth:`str.strip` also drops ``\\x1c``-``\\x1f``, which the loader
  keeps);
- :func:`normalize_value`: the normalized value (None: nothing to link by) and, when it
  is None because the value is masked or in scientific notation, why
  (:func:`~xpg.loaders.normalize.unusable_reason`'s words).

The patterns are written for the Rust regex crate (Polars); :func:`_python` reads them as
Python's :mod:`re` would need them to match the same strings: ``\\s`` as Unicode
``White_Space`` (Python's ``\\s`` also takes ``\\x1c``-``\\x1f``) and ``$`` as the end of
the text (Python's ``$`` also matches before a final newline). A value with a character
this Python's Unicode database does not know (``Cn``: Polars' Rust may know it as a digit
or a space), and a non-ASCII e-mail or ID number (case mappings differ between Unicode
versions), is normalized by the loader's own function instead: those are rare, and cost a
Polars call.
``tests/test_normalize_one.py`` checks the result against :func:`normalize_values` on many
spellings, every code point included.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache

from xpg.loaders.normalize import (
    _BARE_MOBILE,
    _DIGIT_KINDS,
    _FAST_MOBILE,
    _FLOAT_TAIL,
    _MASKED,
    _NOT_DIGIT,
    _SCIENTIFIC,
    _SEPARATORS,
    _SPACE,
    _UNUSABLE,
    _home_code,
    canonical_phone,
    normalize_values,
    unusable_reasons,
)

__all__ = ["WHITE_SPACE", "bare_mobile", "normalize_value", "trim"]

WHITE_SPACE = ("\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
               "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
"""The characters of Unicode's ``White_Space`` property: what Rust's ``char::is_whitespace``
(Polars' ``strip_chars``) and the regex crate's ``\\s`` take."""

_CLASS = "[" + "".join(f"\\u{ord(c):04x}" for c in WHITE_SPACE) + "]"


def _python(pattern: str) -> re.Pattern[str]:
    r"""``pattern`` (Rust regex syntax, as Polars reads it) compiled for Python's :mod:`re`
    to match the same strings: ``\s`` is ``White_Space``, ``$`` the end of the text.

    The patterns translated are the loader's own: neither ``\s`` nor ``$`` appears in them
    inside a character class or escaped (``tests/test_normalize_one.py`` compares).
    """
    return re.compile(pattern.replace(r"\s", _CLASS).replace("$", r"\Z"))


_ODD = re.compile(r"[.*•xXeE]")
_TAIL = _python(_FLOAT_TAIL)
_UNUSABLE_RE = _python(_UNUSABLE)
_SCIENTIFIC_RE = _python(_SCIENTIFIC)
_MASKED_RE = _python(_MASKED)
_SEPARATORS_RE = _python(_SEPARATORS)
_FAST_RE = _python(_FAST_MOBILE)
_BARE_RE = _python(_BARE_MOBILE)
_NOT_DIGIT_RE = _python(_NOT_DIGIT)
_SPACE_RE = _python(_SPACE)

_CASED = ("email", "id_number")
"""The kinds whose normalization changes the case: Python's case tables and Rust's differ
on letters whose mapping a newer Unicode version added (``ƛ``: upper case ``꟝`` since
Unicode 16), so a non-ASCII value of these kinds is normalized by the loader's function."""

_SCIENTIFIC_WHY = "is in scientific notation (a spreadsheet dropped its digits)"
_MASKED_WHY = "is masked"


def trim(value: str) -> str:
    """``value`` without surrounding white space, as the loader trims text.

    >>> trim("\\u3000 13800138000\\t"), trim("\\x1cA\\x1c")
    ('13800138000', '\\x1cA\\x1c')
    """
    return value.strip(WHITE_SPACE)


def _unusable_why(written: str) -> str | None:
    if _SCIENTIFIC_RE.search(written):
        return _SCIENTIFIC_WHY
    if _MASKED_RE.search(written):
        return _MASKED_WHY
    return None


@cache
def _fast(region: str) -> bool:
    return _home_code(region) == 86


def bare_mobile(value: str, region: str) -> bool:
    """Whether ``value`` is a mainland mobile number written bare (``1`` and ten digits, of
    the loader's fast pattern) and ``region``'s country code is 86: what the loader keeps
    as written.

    >>> bare_mobile("13800138000", "CN"), bare_mobile("13800138000", "US")
    (True, False)
    """
    return _fast(region) and _BARE_RE.search(value) is not None


def _phone(value: str, region: str) -> str | None:
    if _fast(region):
        if _BARE_RE.search(value):
            return value
        m = _FAST_RE.search(_SEPARATORS_RE.sub("", value))
        if m:
            return m.group(1)
    return canonical_phone(value, region)


def _by_the_loader(kind: str, value: str, region: str) -> tuple[str | None, str | None]:
    """The loader's own answer (Polars), for a value with a character this Python's
    Unicode database does not know: the Rust regex crate may (a digit, white space or a
    case of a newer Unicode version)."""
    import polars as pl

    written = pl.Series([value], dtype=pl.String)
    norm = normalize_values(pl.Series([kind], dtype=pl.String), written, region)
    return norm[0], unusable_reasons(written, norm)[0]


def normalize_value(kind: str, value: str, region: str = "CN") -> tuple[str | None, str | None]:
    """``(normalized, why)`` of one ``value`` (trimmed text, :func:`trim`) of ``kind``:
    what :func:`~xpg.loaders.normalize.normalize_values` and
    :func:`~xpg.loaders.normalize.unusable_reasons` give for it in a column.

    ``normalized`` is None when nothing is left to link by; ``why`` then says why when the
    value is masked or in scientific notation (else None).

    Examples
    --------
    >>> [normalize_value("phone", v)[0] for v in
    ...  ("+86 138-0013-8000", "0086 138 0013 8000", "13800138000")]
    ['13800138000', '13800138000', '13800138000']
    >>> normalize_value("bank_card", "6222********1234")
    (None, 'is masked')
    >>> normalize_value("email", "Li.Na@QQ.com"), normalize_value("ip", "10.0.0.1")
    (('li.na@qq.com', None), ('10.0.0.1', None))
    """
    if not value:
        return None, None
    if not value.isascii() and (kind in _CASED or any(
            unicodedata.category(c) == "Cn" for c in value)):
        return _by_the_loader(kind, value, region)
    if kind in _DIGIT_KINDS:
        written = value
        if _ODD.search(value):
            m = _TAIL.search(value)
            if m:
                value = m.group(1)
            if _UNUSABLE_RE.search(value):
                return None, _unusable_why(written)
        if kind == "phone":
            out = _phone(value, region)
        elif kind == "bank_card":
            out = _NOT_DIGIT_RE.sub("", value)
        else:
            out = _SPACE_RE.sub("", value).upper()
        if not out:
            return None, _unusable_why(written)
        return out, None
    if kind == "email":
        return value.lower(), None
    return value, None
