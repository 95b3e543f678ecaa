"""v2 identifier normalization: one phone written three ways is one value.

Identifier values are compared (and keyed as graph nodes) in a normalized form,
per ``kind``; the value as written is kept beside it for display:

- every kind: surrounding whitespace dropped (the loader trims all text);
- ``phone``: the number in a canonical form, read with the default region
  (``load.default_region``, CN) when none is written: the national
  significant number for a number of the default region's country
  (``+86 138-0013-8000``, ``0086 138 0013 8000`` and ``13800138000`` all give
  ``13800138000``), ``+`` country code and national number for another country
  (``+44 20 7946 0958`` gives ``+442079460958``); parsed by ``phonenumbers``
  (Google's libphonenumber), which does not require a number to be assigned;
- ``email``: lower case;
- ``bank_card``: its digits only;
- ``id_number``: upper case, without any whitespace;
- any other kind (``ip``, ``address``, ...): as written.

A value that normalizes to nothing (a phone without a digit, a
card without a digit) is null here; the loader reports it (``empty_normalized``).

Notes
-----
Everything is a Polars expression except reading a phone that is not in the
common clean form, which is per-value Python (``phonenumbers``). So: a
vectorized fast path takes the 11-digit CN mobile numbers (optionally
``+86``/``0086``, spaces and hyphens), whose canonical form is their 11 digits
(the same as ``phonenumbers`` gives: tested); the rest are parsed once per
distinct value and joined back. Cost: O(rows) plus O(distinct unusual phones)
Python calls.
"""

from __future__ import annotations

import re
import traceback
from functools import cache

import phonenumbers
import polars as pl

from xpg.errors import ConfigError

__all__ = ["NORMALIZED_KINDS", "canonical_phone", "check_region", "normalize_values",
           "unusable_reason", "unusable_reasons"]

NORMALIZED_KINDS = ("phone", "email", "bank_card", "id_number")

# 11-digit CN mobile numbers: 13x-19x, except 179xx (a carrier-selection prefix
# libphonenumber strips), optionally with +86 or 0086 in front.
_FAST_MOBILE = r"^(?:\+86|0086)?(1(?:[3-68-9]\d|7[0-8])\d{8})$"
_SEPARATORS = r"[ ().\-]"
# A phone phonenumbers cannot read keeps its digits only when there are as many as a
# phone can have: E.164 numbers have at most 15 digits (17 with a 00 prefix).
_MIN_DIGITS, _MAX_DIGITS = 3, 17


def check_region(region: str) -> str:
    """``region`` if ``phonenumbers`` knows it (an ISO 3166 code such as ``CN``).

    Raises :class:`~xpg.errors.ConfigError` otherwise.

    Examples
    --------
    >>> check_region("CN")
    'CN'
    """
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ConfigError(
            f"load.default_region: {region!r} is not a region code (ISO 3166, for example CN)"
        )
    return region


@cache
def _home_code(region: str) -> int:
    return phonenumbers.country_code_for_region(region)


def canonical_phone(value: str, region: str = "CN") -> str | None:
    """The canonical form of one phone number, or None when it is not one.

    Examples
    --------
    >>> [canonical_phone(v) for v in ("+86 138-0013-8000", "0086 138 0013 8000", "13800138000")]
    ['13800138000', '13800138000', '13800138000']
    >>> canonical_phone("+44 20 7946 0958"), canonical_phone("n/a")
    ('+442079460958', None)
    """
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as error:
        _forget(error)
        return _digits_only(value, region)
    national = phonenumbers.national_significant_number(number)
    if not national:
        return _digits_only(value, region)
    if number.country_code == _home_code(region):
        return national
    return f"+{number.country_code}{national}"


def _forget(error: BaseException) -> None:
    """Clear the frames ``error`` (and the errors it was raised during) went through.

    ``phonenumbers.parse`` keeps the error it handles in a local variable
    (``sys.exc_info()``): a reference cycle from its frame to the error, its traceback
    and back, which holds every frame below it, and their locals, until the garbage
    collector runs (``xpg detect`` pauses it): the loader's whole ``identifiers`` table
    as read, for the rest of the run. Clearing the frames breaks the cycle.
    """
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        traceback.clear_frames(current.__traceback__)
        current = current.__context__


def _digits_only(value: str, region: str) -> str | None:
    """A phone ``phonenumbers`` cannot read, by its digits (None without a plausible count).

    libphonenumber rejects numbers it cannot place, for example CN ``179xx...``,
    whose first digits it takes for a carrier-selection prefix; such a value is
    still an identifier that links the users who share it, so it keeps its
    digits, with the default region's country code dropped as in the parsed case.

    Examples
    --------
    >>> canonical_phone("179-0100-2422"), canonical_phone("+86 17901002422")
    ('17901002422', '17901002422')
    >>> canonical_phone("1" * 40) is None
    True
    """
    digits = re.sub(r"\D", "", value)
    if not _MIN_DIGITS <= len(digits) <= _MAX_DIGITS:
        return None
    if value.lstrip().startswith("+"):
        international = digits
    elif digits.startswith("00"):
        international = digits[2:]
    else:
        return digits
    home = str(_home_code(region))
    if international.startswith(home) and len(international) > len(home):
        return international[len(home):]
    return f"+{international}" if international else None


def _phones(values: pl.Series, region: str) -> pl.Series:
    """Canonical phones of ``values`` (text, trimmed): fast path, then each distinct rest once."""
    fast = (
        values.str.replace_all(_SEPARATORS, "").str.extract(_FAST_MOBILE, 1)
        if _home_code(region) == 86
        else pl.Series(values.name, [None] * len(values), dtype=pl.String)
    )
    rest = values.filter(fast.is_null() & values.is_not_null()).unique()
    if rest.is_empty():
        return fast
    lookup = pl.DataFrame(
        {
            "raw": rest,
            "canon": rest.map_elements(
                lambda v: canonical_phone(v, region), return_dtype=pl.String, skip_nulls=True
            ),
        }
    )
    slow = (
        values.to_frame("raw")
        .join(lookup, on="raw", how="left", maintain_order="left")
        .get_column("canon")
    )
    return fast.fill_null(slow)


_NOT_DIGIT = r"\D"
"""What a card loses (its digits are kept)."""
_SPACE = r"\s"
"""What an ID number loses (Unicode white space, as the Rust regex crate reads it)."""
_BY_KIND = {
    "email": lambda v: v.str.to_lowercase(),
    "bank_card": lambda v: v.str.replace_all(_NOT_DIGIT, ""),
    "id_number": lambda v: v.str.replace_all(_SPACE, "").str.to_uppercase(),
}
"""The normalization of each kind other than ``phone`` (:func:`_phones`); other kinds stay."""

# Per kind, a value that does not match is its own normalized form: only the values
# that match are normalized (most values of an export are written normalized already,
# and those keep their own strings, shared with ``value_raw``). Each pattern is a
# superset of the values the normalization changes: e-mails with an ASCII capital or
# any non-ASCII letter, cards with a non-digit, ID numbers with whitespace, an ASCII
# small letter or any non-ASCII letter, phones that are not a bare 11-digit mobile
# (the fast path's form without prefix or separators; :data:`_FAST_MOBILE`).
_MAY_CHANGE = {
    "email": r"[^\x00-\x40\x5B-\x7F]",
    "bank_card": r"\D",
    "id_number": r"[^\x00-\x60\x7B-\x7F]|\s",
}
_BARE_MOBILE = r"^1(?:[3-68-9]\d|7[0-8])\d{8}$"


def _may_change(name: str, values: pl.Series, region: str) -> pl.Series:
    """True for the ``values`` of kind ``name`` that the normalization may change."""
    if name == "phone":
        if _home_code(region) != 86:
            return pl.repeat(True, len(values), eager=True)
        return ~values.str.contains(_BARE_MOBILE).fill_null(True)
    return values.str.contains(_MAY_CHANGE[name]).fill_null(False)


_DIGIT_KINDS = ("phone", "bank_card", "id_number")
_FLOAT_TAIL = r"^(\+?[0-9][0-9 \-]*)\.0+$"
"""``13800138000.0``: a number column written as text by a tool that read it as a float."""
_MASKED = r"[*•]|[xX]{2,}"
_SCIENTIFIC = r"^[+-]?[0-9]+(?:\.[0-9]+)?[eE][+-]?[0-9]+$"
_UNUSABLE = f"{_MASKED}|{_SCIENTIFIC}"


def unusable_reason(values: pl.Series) -> pl.Series:
    """Why each phone, card or ID number in ``values`` cannot link users (null: it can):
    masked (``6222********1234``, ``138xxxx8000``: people with nothing in common share
    the masked form) or in scientific notation (``6.22202E+15``: a spreadsheet dropped
    its digits). :func:`normalize_values` makes such values null.

    Examples
    --------
    >>> unusable_reason(pl.Series(["6222********1234", "1.38001E+10", "13800138000"])).to_list()
    ['is masked', 'is in scientific notation (a spreadsheet dropped its digits)', None]
    """
    return pl.select(
        pl.when(pl.lit(values).str.contains(_SCIENTIFIC))
        .then(pl.lit("is in scientific notation (a spreadsheet dropped its digits)"))
        .when(pl.lit(values).str.contains(_MASKED))
        .then(pl.lit("is masked"))
    ).to_series()


def unusable_reasons(written: pl.Series, normalized: pl.Series) -> pl.Series:
    """Per row, why a value as ``written`` was made null by :func:`normalize_values` as one
    that cannot link users (:func:`unusable_reason`); null for every other row."""
    lost = written.is_not_null() & normalized.is_null()
    out = pl.Series(written.name, [None] * len(written), dtype=pl.String)
    if lost.any():
        out = out.scatter(lost.arg_true(), unusable_reason(written.filter(lost)))
    return out


def _digit_values(values: pl.Series) -> tuple[pl.Series, pl.Series, pl.Series]:
    """A digit kind's values without a float's ``.0`` tail, which of them lost it, and
    which cannot link users (:func:`unusable_reason`)."""
    none = pl.Series([False] * len(values))
    odd = values.str.contains(r"[.*•xXeE]").fill_null(False)  # one cheap pass: the rest
    if not odd.any():  # are plain digits and separators
        return values, none, none
    at, some = odd.arg_true(), values.filter(odd)
    tailed = none.clone().scatter(at, some.str.contains(_FLOAT_TAIL).fill_null(False))
    if tailed.any():
        values = values.clone().scatter(tailed.arg_true(),
                                        values.filter(tailed).str.replace(_FLOAT_TAIL, "${1}"))
    unusable = none.clone().scatter(
        at, values.gather(at).str.contains(_UNUSABLE).fill_null(False))
    return values, tailed, unusable


def normalize_values(kind: pl.Series, value: pl.Series, region: str = "CN") -> pl.Series:
    """The normalized ``value`` of each row, by its ``kind``; null where nothing is left.

    ``value`` is trimmed text (as the loader types it); null stays null. Values that
    the normalization leaves as they are keep their strings (no copy): when none
    changes, ``value`` itself is returned.

    Examples
    --------
    >>> kind = pl.Series(["phone", "email", "bank_card", "id_number", "ip", "bank_card"])
    >>> value = pl.Series(["+86 138-0013-8000", "Li.Na@QQ.com", "6222 0200-1234",
    ...                    "11010519720227010x", "10.0.0.1", "n/a"])
    >>> normalize_values(kind, value).to_list()
    ['13800138000', 'li.na@qq.com', '622202001234', '11010519720227010X', '10.0.0.1', None]
    """
    rows, done = [], []
    empty = (value.str.len_bytes() == 0).fill_null(False)
    if empty.any():  # nothing is left of an empty value, whatever its kind
        rows.append(empty.arg_true())
        done.append(pl.Series([None] * len(rows[-1]), dtype=pl.String))
    for name in ("phone", *_BY_KIND):  # each kind's rows only (a when/then chain
        of_kind = ((kind == name) & ~empty).arg_true()  # would run every regex over every row)
        if of_kind.is_empty():
            continue
        values = written = value.gather(of_kind)
        tailed = unusable = None
        if name in _DIGIT_KINDS:
            values, tailed, unusable = _digit_values(values)
            if unusable.any():  # nothing to link by
                rows.append(of_kind.filter(unusable))
                done.append(pl.Series([None] * int(unusable.sum()), dtype=pl.String))
        may = _may_change(name, values, region)
        if tailed is not None:
            may = (may | tailed) & ~unusable
        if not may.any():
            continue
        idx, before, written = of_kind.filter(may), values.filter(may), written.filter(may)
        if name == "phone":
            after = _phones(before, region)
        else:
            after = pl.select(_BY_KIND[name](pl.lit(before))).to_series()
        after = pl.select(pl.when(after.str.len_bytes() > 0).then(after)).to_series()
        changed = ~after.eq_missing(written)
        rows.append(idx.filter(changed))
        done.append(after.filter(changed))
    if not rows or not sum(len(r) for r in rows):
        return value
    # a new Series: scatter writes in place
    return value.alias(value.name).scatter(pl.concat(rows), pl.concat(done))
