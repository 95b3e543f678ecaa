"""Time identifier normalization (contract v2): ``python bench/bench_normalize.py [--rows N]``.

Builds N identifier rows (default 1,000,000) as a real export has them: 40%
phones (most of them clean 11-digit CN mobiles, some with ``+86``/``0086`` and
separators, a few landlines and foreign numbers, many repeated), then e-mails,
bank cards, id numbers and IPs. Times, ``--repeat`` times each (default 3):

- ``vectorized``: :func:`xpg.loaders.normalize.normalize_values` (the loader's
  path: Polars expressions, a fast path for clean mobiles, ``phonenumbers`` once
  per distinct other phone);
- ``per-row``: the plain approach, one Python call per row (``phonenumbers``
  for every phone) through ``map_elements``.

Checks that both give the same values, and prints seconds. Nothing else is
asserted: this script prints figures.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import polars as pl


def identifiers(rows: int, seed: int) -> pl.DataFrame:
    """``kind`` and ``value`` columns of ``rows`` generated identifier rows."""
    rng = np.random.default_rng(seed)
    kinds = rng.choice(
        ["phone", "email", "bank_card", "id_number", "ip"], size=rows, p=[0.4, 0.1, 0.2, 0.2, 0.1]
    )
    # phones: a pool of rows // 4 numbers, so numbers repeat as shared phones do
    pool = rng.integers(0, 10**8, size=max(rows // 4, 1))
    prefixes = rng.choice([130, 135, 138, 150, 158, 166, 177, 186, 199], size=pool.size)
    digits = pl.Series((prefixes * 10**8 + pool).astype(str))
    n = rows
    pick = pl.Series(rng.integers(0, pool.size, size=n))
    d = digits.gather(pick)
    form = pl.Series(rng.choice(6, size=n, p=[0.70, 0.10, 0.08, 0.07, 0.03, 0.02]))
    frame = pl.DataFrame({"d": d, "form": form, "kind": kinds, "i": np.arange(n)})
    phone = (
        pl.when(pl.col("form") == 0).then(pl.col("d"))
        .when(pl.col("form") == 1).then(pl.format("+86 {}-{}-{}", pl.col("d").str.slice(0, 3),
                                                   pl.col("d").str.slice(3, 4),
                                                   pl.col("d").str.slice(7)))
        .when(pl.col("form") == 2).then(pl.format("0086 {}", pl.col("d")))
        .when(pl.col("form") == 3).then(pl.format("(+86) {}", pl.col("d")))
        .when(pl.col("form") == 4).then(pl.format("010-{}", pl.col("d").str.slice(3)))
        .otherwise(pl.format("+44 20 {}", pl.col("d").str.slice(3, 8)))
    )
    value = (
        pl.when(pl.col("kind") == "phone").then(phone)
        .when(pl.col("kind") == "email").then(pl.format("User.{}@QQ.com", pl.col("i")))
        .when(pl.col("kind") == "bank_card").then(pl.format("6222 {}", pl.col("d")))
        .when(pl.col("kind") == "id_number").then(pl.format("11010519{}x", pl.col("d")))
        .otherwise(pl.format("10.0.{}.1", pl.col("i") % 256))
    )
    return frame.select("kind", value.alias("value"))


def per_row(frame: pl.DataFrame, region: str) -> pl.Series:
    """The plain approach: one Python call per row."""
    import re

    from xpg.loaders.normalize import canonical_phone

    def one(row: dict) -> str | None:
        kind, value = row["kind"], row["value"]
        if kind == "phone":
            out = canonical_phone(value, region)
        elif kind == "email":
            out = value.lower()
        elif kind == "bank_card":
            out = re.sub(r"\D", "", value)
        elif kind == "id_number":
            out = re.sub(r"\s", "", value).upper()
        else:
            out = value
        return out or None

    return frame.select(
        pl.struct("kind", "value").map_elements(one, return_dtype=pl.String).alias("value")
    ).to_series()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    from xpg.loaders.normalize import normalize_values

    frame = identifiers(args.rows, args.seed)
    phones = frame.filter(pl.col("kind") == "phone")
    print(
        f"{frame.height:,} identifier rows: {phones.height:,} phones, "
        f"{phones['value'].n_unique():,} distinct as written"
    )
    results = {}
    for label, fn in (
        ("vectorized", lambda: normalize_values(frame["kind"], frame["value"], "CN")),
        ("per-row", lambda: per_row(frame, "CN")),
    ):
        for i in range(args.repeat):
            start = time.perf_counter()
            results[label] = fn()
            print(f"{label:<10} #{i + 1}: {time.perf_counter() - start:6.2f} s", flush=True)
    same = results["vectorized"].equals(results["per-row"])
    print(f"same values: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
