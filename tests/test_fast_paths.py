"""The faster code paths give exactly what the plain ones give.

* ``graph.links._distinct_links``: distinct (node, user) pairs with their earliest
  day, by one sort of a packed 64-bit key, or by argsort when the key does not fit;
* ``queries.findings.gc_paused``: the collector is restored, nested or not, error or not;
* ``queries.polars_hooks.accounts_as_of``: product kind by look-up equals the join.
"""

from __future__ import annotations

import datetime as dt
import gc

import numpy as np
import polars as pl
import pytest
from detect_fixtures import Builder
from xpg.graph.links import _ALWAYS, _distinct_links
from xpg.queries.findings import gc_paused
from xpg.queries.polars_hooks import accounts_as_of


def _brute(user, node, first):
    best: dict[tuple[int, int], int] = {}
    for u, n, f in zip(user.tolist(), node.tolist(), first.tolist(), strict=True):
        best[(n, u)] = min(best.get((n, u), f), f)
    pairs = sorted(best)
    return (
        [n for n, _ in pairs],
        [u for _, u in pairs],
        [best[p] for p in pairs],
    )


# 2**46 nodes: 46 node bits + 3 user bits + 15 day bits > 63, so the argsort path runs
@pytest.mark.parametrize("n_nodes", [7, 2**46], ids=["packed", "too_wide_for_64_bits"])
def test_distinct_links_keeps_each_pair_once_with_its_earliest_day(n_nodes):
    rng = np.random.default_rng(3)
    size = 400
    user = rng.integers(0, 5, size)
    node = rng.integers(0, 7, size) * (n_nodes // 7)
    first = rng.integers(-30, 20_000, size).astype(np.int32)
    first[rng.random(size) < 0.2] = _ALWAYS  # no first_seen: exists at any date
    got = _distinct_links(user, node, first, n_nodes=n_nodes, n_users=5)
    expected = _brute(user, node, first)
    assert [a.tolist() for a in got] == [list(e) for e in expected]
    assert got[2].dtype == np.int32


def test_distinct_links_of_nothing_and_of_days_all_unknown():
    empty = np.zeros(0, dtype=np.int64)
    node, user, first = _distinct_links(empty, empty, empty.astype(np.int32), n_nodes=0, n_users=0)
    assert node.size == user.size == first.size == 0
    user = np.array([1, 1, 0])
    node = np.array([2, 2, 2])
    first = np.full(3, _ALWAYS, dtype=np.int32)
    got = _distinct_links(user, node, first, n_nodes=3, n_users=2)
    assert [a.tolist() for a in got] == [[2, 2], [0, 1], [_ALWAYS, _ALWAYS]]


def test_gc_paused_restores_the_collector_nested_and_on_error():
    assert gc.isenabled()
    with pytest.raises(RuntimeError), gc_paused():
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer pause still holds
        raise RuntimeError("boom")
    assert gc.isenabled()
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()  # it was off before: left off
    finally:
        gc.enable()


def _joined(ds, as_of):
    products = ds.products.select("product_id", "kind")
    return ds.accounts.filter(pl.col("opened_at").is_null() | (pl.col("opened_at") <= as_of)).join(
        products, on="product_id", how="left"
    )


def test_accounts_as_of_looks_up_the_kind_exactly_as_the_join():
    b = Builder()
    b.account("a1", "u1", "huabei", opened_at=dt.date(2026, 1, 1))
    b.account("a2", "u1", "jiebei", opened_at=dt.date(2026, 12, 1))  # not yet opened
    b.account("a3", "u2", "jiebei")
    ds = b.build()
    ds = ds.__class__(
        **{
            **ds.tables(),
            "accounts": pl.concat(
                [ds.accounts, ds.accounts.head(1).with_columns(product_id=pl.lit("unknown"))]
            ),
        }
    )
    as_of = dt.date(2026, 11, 20)
    got = accounts_as_of(ds, as_of)
    assert got.sort("account_id", "product_id").equals(
        _joined(ds, as_of).sort("account_id", "product_id")
    )
    assert got.filter(pl.col("product_id") == "unknown")["kind"].to_list() == [None]
    # repeated product ids: the join (one row per match) is kept
    twice = ds.__class__(**{**ds.tables(), "products": pl.concat([ds.products, ds.products])})
    assert accounts_as_of(twice, as_of).height == 2 * accounts_as_of(ds, as_of).height - 1
