"""Findings as frames: each finding's JSON line formatted from columns.

A rule may assemble its findings as one frame (:meth:`Rule.assemble_frame
<xpg.queries.rules.base.Rule.assemble_frame>`) instead of one
:class:`~xpg.queries.findings.Finding` at a time: one row per finding with the columns of
:data:`FINDING_FRAME` (what the sort and the summary read) and ``line``, the finding's
JSON exactly as ``json.dumps(finding.to_dict(), ensure_ascii=False)`` writes it. The
:class:`~xpg.queries.findings.Finding` objects are made from the lines only when asked
for (:class:`~xpg.queries.findings.FindingSequence`).

Byte for byte: strings are escaped as the JSON encoder escapes them (:func:`json_string`:
quote, backslash and the control characters; nothing else with ``ensure_ascii=False``);
integers are Polars' decimal text (the same as Python's); floats are Python's own
``repr`` of the rounded value (:func:`float_texts`, one conversion per value: Polars
writes ``1e-05`` as ``0.00001``), and amounts in explanations Python's ``{:,.0f}``
(:func:`amount_texts`). The Python assembly of each rule stays the oracle
(``tests/test_detect_frames.py`` compares both).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

import polars as pl
from xpg.queries.assembly import SEVERITY_FLOORS, score_of

__all__ = [
    "FINDING_FRAME",
    "amount_texts",
    "empty_findings",
    "float_texts",
    "json_string",
    "json_string_list",
    "rounded_text",
    "rounded_texts",
    "scores",
    "severity",
]

FINDING_FRAME = {
    "id": pl.String(),
    "severity": pl.String(),
    "score": pl.Float64(),
    "users": pl.List(pl.String()),
    "at_risk": pl.Float64(),
    "line": pl.String(),
}
"""The columns of a rule's findings frame: what the sort, the summary and the document
read (``at_risk`` null where the rule names none)."""

_ENCODE_FLOAT = json.JSONEncoder().encode
_ESCAPED = ["\\", '"', *(chr(i) for i in range(32))]
_ESCAPES = [json.dumps(c)[1:-1] for c in _ESCAPED]


def json_string(expr: pl.Expr) -> pl.Expr:
    """``expr`` (strings) as JSON string literals, quoted and escaped as
    ``json.dumps(..., ensure_ascii=False)`` writes them.

    Examples
    --------
    >>> pl.select(json_string(pl.lit('a"b\\\\c\\n\u00e9'))).item()
    '"a\\\\"b\\\\\\\\c\\\\n\u00e9"'
    """
    return pl.concat_str(pl.lit('"'), expr.str.replace_many(_ESCAPED, _ESCAPES), pl.lit('"'))


def json_string_list(expr: pl.Expr) -> pl.Expr:
    """``expr`` (lists of strings) as JSON arrays: ``["a", "b"]``, ``[]``.

    Examples
    --------
    >>> pl.DataFrame({"x": [["a", "b"], []]}).select(
    ...     json_string_list(pl.col("x"))).to_series().to_list()
    ['["a", "b"]', '[]']
    """
    inner = expr.list.eval(json_string(pl.element())).list.join(", ")
    return pl.concat_str(pl.lit("["), inner, pl.lit("]"))


def float_texts(values: Iterable[float], digits: int | None = None) -> pl.Series:
    """The JSON encoder's text of each value (rounded to ``digits`` first when given):
    Python's ``repr``, ``NaN`` and ``Infinity`` as the encoder writes them.

    Examples
    --------
    >>> float_texts([1e-05, 2.0, 0.125, float("nan")], digits=2).to_list()
    ['0.0', '2.0', '0.12', 'NaN']
    """
    if digits is not None:
        values = (round(float(v), digits) for v in values)
    return pl.Series([_ENCODE_FLOAT(float(v)) for v in values], dtype=pl.String)


def rounded_text(expr: pl.Expr, digits: int) -> pl.Expr:
    """Python's ``repr(round(v, digits))`` of a float column, vectorized where it provably
    is the value's ``digits``-place decimal; null where it is not (see
    :func:`rounded_texts`).

The text is the ``digits``-place decimal nearest ``v`` (``k = round(v * 10**digits)``),
    trailing zeros dropped (``.0`` when whole), kept where it reads back as ``v`` exactly
    (Polars parses decimals correctly rounded) and ``0 < |v| < 1e13``. Then ``v`` is the
    float nearest that decimal, so ``round(v, digits)`` is ``v`` itself (its exact value
    is far closer to the decimal than half a step), and ``repr(v)``, the shortest decimal
    that reads back as ``v``, is that text: a shorter one would be a multiple of
    ``10**-digits`` too, at least a step away, while ``v``'s neighbours are less than
    0.002 away at that size. (``k / 10**digits == v`` would not do: Polars divides by a
    constant as a multiplication by its inverse, off by one bit at times.) Zero is
    Polars' own ``0.0`` / ``-0.0``, as Python writes it.

    Examples
    --------
    >>> pl.Series([1234.5, 0.05, 100.0, -2.25, 0.0, 1e-05]).to_frame("v").select(
    ...     rounded_text(pl.col("v"), 2)).to_series().to_list()
    ['1234.5', '0.05', '100.0', '-2.25', '0.0', None]
    """
    step = 10**digits
    small = expr.abs() < 1e13
    k = pl.when(small).then(expr.abs() * step).round().cast(pl.Int64)
    whole = (k // step).cast(pl.String)
    frac = k % step
    # the fraction's digits, zero-padded to `digits`, trailing zeros dropped ("0" if none)
    padded = frac.cast(pl.String).str.zfill(digits).str.strip_chars_end("0")
    fraction = pl.when(frac == 0).then(pl.lit("0")).otherwise(padded)
    sign = pl.when(expr < 0).then(pl.lit("-")).otherwise(pl.lit(""))
    text = pl.concat_str(sign, whole, pl.lit("."), fraction)
    exact = small & (expr != 0) & (text.cast(pl.Float64) == expr)
    return pl.when(exact).then(text).when(expr == 0).then(expr.cast(pl.String))


def rounded_texts(values: pl.Series, digits: int) -> pl.Series:
    """``repr(round(v, digits))`` of each value: :func:`rounded_text`, and Python's own
    for the values it leaves null (none in practice: amounts are cent-rounded already).

    Examples
    --------
    >>> rounded_texts(pl.Series([1e-05, 2.0, 0.125, 1e20]), 2).to_list()
    ['0.0', '2.0', '0.12', '1e+20']
    """
    texts = values.to_frame("v").select(rounded_text(pl.col("v"), digits)).to_series()
    missing = texts.is_null()
    if not missing.any():
        return texts
    fallback = float_texts(values.filter(missing).to_list(), digits)
    return texts.scatter(missing.arg_true(), fallback)


def amount_texts(values: Iterable[float]) -> pl.Series:
    """``{:,.0f}`` of each value (as :func:`xpg.queries.assembly.cny` writes it, without the
    currency).

    Examples
    --------
    >>> amount_texts([1234.5, 0.4]).to_list()
    ['1,234', '0']
    """
    return pl.Series([f"{v:,.0f}" for v in values], dtype=pl.String)


def scores(strengths: Sequence[float], amounts: Sequence[float]) -> list[float]:
    """:func:`xpg.queries.assembly.score_of` of each (strength, amount) pair (Python's
    ``round``, correctly rounded, and ``math.log10``: no vectorized form gives the same
    bits)."""
    return [score_of(s, a) for s, a in zip(strengths, amounts, strict=True)]


def severity(score: pl.Expr) -> pl.Expr:
    """:func:`xpg.queries.assembly.severity_of` of a score column.

    Examples
    --------
    >>> pl.Series([0.8, 0.7999, 0.6, 0.4, 0.39]).to_frame("s").select(
    ...     severity(pl.col("s"))).to_series().to_list()
    ['critical', 'high', 'high', 'medium', 'low']
    """
    expr = pl.lit("low")
    for name, floor in reversed(SEVERITY_FLOORS):  # the highest floor decides: it goes last
        expr = pl.when(score >= floor).then(pl.lit(name)).otherwise(expr)
    return expr


def empty_findings() -> pl.DataFrame:
    """A findings frame without rows."""
    return pl.DataFrame(schema=FINDING_FRAME)
