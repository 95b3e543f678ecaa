"""v2 identifier normalization in Spark: the loader's rules (:mod:`xpg.loaders.normalize`)
as Spark SQL, so that tables Spark reads from a URI link users as the loader's do.

Per ``kind``, as the loader: ``phone`` canonical (the vectorized fast path for the
11-digit CN mobiles, and every other distinct phone once through
:func:`~xpg.loaders.normalize.canonical_phone` (libphonenumber) on the driver, joined back
as a broadcast table), ``email`` lower case, ``bank_card`` its digits, ``id_number`` upper
case without whitespace; a phone, card or ID number written as a float (``.0`` tail)
loses the tail; a masked or scientific-notation one is null (it links nobody), and so is
a value with nothing left. The patterns are the loader's own; Java's regular expressions
run them with ``(?U)`` so that ``\\d`` and ``\\s`` are Unicode classes, as in Polars.

:func:`normalized` returns the identifiers with ``value`` normalized, ``value_raw`` as
written and ``why`` (:func:`~xpg.loaders.normalize.unusable_reason`'s words where a
written value was made null as one that cannot link users), which the Spark checks
(:mod:`xpg.graph.spark.validate`) turn into ``unusable_identifier`` and
``empty_normalized`` failures.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from xpg.loaders.normalize import (
    _BY_KIND,
    _DIGIT_KINDS,
    _FAST_MOBILE,
    _FLOAT_TAIL,
    _MASKED,
    _SCIENTIFIC,
    _SEPARATORS,
    _UNUSABLE,
    _home_code,
    canonical_phone,
    unusable_reason,
)

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

__all__ = ["normalized", "slow_phones"]

_U = "(?U)"  # Unicode \d and \s, as Rust's regex (Polars) has them


def _words() -> tuple[str, str]:
    """The reasons :func:`~xpg.loaders.normalize.unusable_reason` gives for a value in
    scientific notation and for a masked one, taken from the loader itself."""
    import polars as pl

    sample = {"scientific": "1.38001E+10", "masked": "6222********1234"}
    got = unusable_reason(pl.Series(list(sample.values()))).to_list()
    return got[0], got[1]


def _rx(column: Column, pattern: str) -> Column:
    return column.rlike(_U + pattern)


def normalized(identifiers: DataFrame, region: str = "CN") -> DataFrame:
    """``identifiers`` (``kind``, ``value`` trimmed, blank as null) with ``value``
    normalized, ``value_raw`` (the value as written) and ``why`` added."""
    from pyspark.sql import functions as F

    kind, written = F.col("kind"), F.col("value")
    digit = kind.isin(list(_DIGIT_KINDS))
    untailed = F.when(digit & _rx(written, _FLOAT_TAIL),
                      F.regexp_replace(written, _U + _FLOAT_TAIL, "$1")).otherwise(written)
    frame = identifiers.withColumn("value_raw", written).withColumn("_v", untailed)
    v = F.col("_v")
    unusable = digit & _rx(v, _UNUSABLE)
    if _home_code(region) == 86:
        stripped = F.regexp_replace(v, _U + _SEPARATORS, "")
        fast = F.regexp_extract(stripped, _U + _FAST_MOBILE, 1)
        fast = F.when(fast != "", fast)
    else:
        fast = F.lit(None).cast("string")
    frame = frame.withColumn(
        "_fast", F.when((kind == "phone") & ~unusable & v.isNotNull(), fast))
    phones = slow_phones(frame, region)
    frame = frame.join(F.broadcast(phones), F.col("_v") == F.col("_raw"), "left") \
        if phones is not None else frame.withColumn("_canon", F.lit(None).cast("string"))
    after = (
        F.when(v.isNull() | (F.length(v) == 0) | unusable, F.lit(None))
        .when(kind == "phone", F.coalesce(F.col("_fast"), F.col("_canon")))
        .when(kind == "email", F.lower(v))
        .when(kind == "bank_card", F.regexp_replace(v, _U + r"\D", ""))
        .when(kind == "id_number", F.upper(F.regexp_replace(v, _U + r"\s", "")))
        .otherwise(v)
    )
    assert set(_BY_KIND) == {"email", "bank_card", "id_number"}  # the kinds written above
    scientific, masked = _words()
    frame = frame.withColumn("_after", F.when(F.length(after) > 0, after))
    lost = written.isNotNull() & F.col("_after").isNull()
    why = (F.when(lost & _rx(written, _SCIENTIFIC), F.lit(scientific))
           .when(lost & _rx(written, _MASKED), F.lit(masked)))
    columns = [F.col("_after").alias("value") if c == "value" else F.col(c)
               for c in identifiers.columns]
    return frame.select(*columns, "value_raw", why.alias("why"))


def slow_phones(frame: DataFrame, region: str) -> DataFrame | None:
    """``_raw``, ``_canon``: every distinct phone the fast path did not take, read once
    on the driver by :func:`~xpg.loaders.normalize.canonical_phone`; None when there is
    none."""
    from pyspark.sql import functions as F

    rest = (frame.where((F.col("kind") == "phone") & F.col("_fast").isNull()
                        & F.col("_v").isNotNull() & ~_rx(F.col("_v"), _UNUSABLE)
                        & (F.length("_v") > 0))
            .select("_v").distinct().collect())
    if not rest:
        return None
    rows = [(r["_v"], canonical_phone(r["_v"], region)) for r in rest]
    spark = frame.sparkSession
    return spark.createDataFrame(rows, "_raw string, _canon string")
