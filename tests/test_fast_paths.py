"""The faster code paths give exactly what the plain ones give.

* ``graph.links._distinct_links``: distinct (node, user) pairs with their earliest
  day, by one sort of a packed 64-bit key, or by argsort when the key does not fit;
* ``queries.findings.gc_paused``: the collector is restored, nested or not, error or not;
* ``queries.asof.accounts_as_of``: product kind by look-up equals the join.
"""

from __future__ import annotations

import datetime as dt
import gc

import numpy as np
import polars as pl
import pytest
from detect_fixtures import Builder
from xpg.queries.asof import accounts_as_of
from xpg.queries.findings import gc_paused

from xpg.linkgraph.links import ALWAYS, _distinct_links


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
    first[rng.random(size) < 0.2] = ALWAYS  # no first_seen: exists at any date
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
    first = np.full(3, ALWAYS, dtype=np.int32)
    got = _distinct_links(user, node, first, n_nodes=3, n_users=2)
    assert [a.tolist() for a in got] == [[2, 2], [0, 1], [ALWAYS, ALWAYS]]


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


def test_padded_numbers_and_dates_parse_as_if_trimmed(tmp_path):
    from xpg.loaders import validate_dataset

    (tmp_path / "users.csv").write_text(
        "user_id,registered_at,credit_score\n"
        "u1, 2024-01-01T10:00:00,700\n"
        "u2,2024-01-02T10:00:00 , 701\n"
        'u3,"  ",700.0\n'
        "u4,\t2024-01-04 10:00:00Z, 7e2\n"
        "u5, 2024-01-05T10:00:00+0800 ,\n"
        "u6,2024-01-06,  700.5\n"
    )
    (tmp_path / "products.csv").write_text("product_id,kind\nhuabei,consumption\n")
    (tmp_path / "accounts.csv").write_text(
        "account_id,user_id,product_id,credit_limit,outstanding,status,opened_at\n"
        "a1,u1,huabei, 5000 ,12.5 ,active, 2026-01-02\n"
        "a2,u2,huabei, 1e3 ,  ,active,2026-01-03T23:00:00 \n"
    )
    (tmp_path / "devices.csv").write_text("user_id,device_id\nu1,d1\n")
    (tmp_path / "external_loans.csv").write_text(
        "user_id,lender_id,opened_at,amount,outstanding,status\nu1,L1, 2026-01-01 ,100, 50 ,open\n"
    )
    v = validate_dataset(tmp_path, quarantine=tmp_path / "q")
    failures = v.failures.select("table", "row", "column", "rule").rows()
    assert failures == [
        ("users", 7, "credit_score", "invalid_type"),  # 700.5 is no integer, padded or not
        ("accounts", 3, "outstanding", "not_null"),  # whitespace only: blank
    ]
    users = v.dataset.users
    assert users["registered_at"].to_list() == [
        dt.datetime(2024, 1, 1, 10),
        dt.datetime(2024, 1, 2, 10),
        None,  # whitespace only: blank, not invalid
        dt.datetime(2024, 1, 4, 10),
        dt.datetime(2024, 1, 5, 2),  # +08:00 to UTC
    ]
    assert users["credit_score"].to_list() == [700, 701, 700, 700, None]
    accounts = v.dataset.accounts
    assert accounts["credit_limit"].to_list() == [5000.0]
    assert accounts["outstanding"].to_list() == [12.5]
    assert accounts["opened_at"].to_list() == [dt.date(2026, 1, 2)]
    assert v.dataset.external_loans["opened_at"].to_list() == [dt.date(2026, 1, 1)]


def test_reference_check_settles_hash_collisions_exactly():
    from xpg.loaders.read import ROW
    from xpg.loaders.references import _KEY_SEED, KeySet, _absent, _absent_plan

    keys = KeySet(pl.Series(["a", "b", None, "b"]))
    assert keys.index().height == 2  # nulls left out, repeated keys once
    h = pl.Series(["a", "q", "b"]).hash(_KEY_SEED)
    # simulate collisions: the index holds, for the hash of key "a", another key "zz"
    # (kept when both hash alike), and value "q" (no key) hashes like key "b"
    keys._index = pl.DataFrame({"h": h, "key": ["zz", "b", "b"]})
    values = (
        pl.DataFrame({ROW: [2, 3, 4, 5, 6], "value": ["a", "c", "q", "zz", "b"]})
        .lazy()
        .with_columns(pl.col("value").hash(_KEY_SEED).alias("h"))
    )
    found = _absent_plan(values, keys).collect()
    assert found.rows() == [(2, "a", False), (3, "c", True), (4, "q", False), (5, "zz", True)]
    # "a" is a key after all (looked up exactly); "c", "q" and "zz" are not
    assert _absent(found, keys).rows() == [(3, "c"), (4, "q"), (5, "zz")]
