"""The investigations' fast paths for a view's few rows give exactly what the frame
paths give (on generated data, seeds in the test ids, and on edge values)."""

from __future__ import annotations

import math
import random

import polars as pl
import pytest
from xpg.queries.asof import exposure_frame
from xpg.queries.investigate import accounts as acc_mod
from xpg.queries.investigate.accounts import exposure_by_user
from xpg.queries.investigate.base import SMALL_ROWS, money
from xpg.queries.investigate.sources import MemorySource

from xpg.synthetic import generate


def _by_frame(accounts: pl.DataFrame, loans: pl.DataFrame) -> dict[str, tuple[float, ...]]:
    """The lazy plan's exposure, rounded as a view shows it."""
    return {r["user_id"]: tuple(money(r[k]) for k in (
        "total", "internal_limit", "internal_outstanding", "drawable", "external_outstanding"))
        for r in exposure_frame(accounts, loans).iter_rows(named=True)}


def _by_view(accounts: pl.DataFrame, loans: pl.DataFrame) -> dict[str, tuple[float, ...]]:
    return {u: (e.total, e.internal_limit, e.internal_outstanding, e.drawable,
                e.external_outstanding) for u, e in exposure_by_user(accounts, loans).items()}


@pytest.mark.parametrize("seed", [1, 7, 23])
def test_small_exposure_is_the_frames_exposure_on_generated_users(seed):
    ds = generate(600, seed=seed).dataset()
    src = MemorySource(ds)
    as_of = ds.accounts.get_column("opened_at").max()
    users = ds.users.get_column("user_id").to_list()
    rng = random.Random(seed)
    for size in (1, 1, 1, 3, 20):
        picked = rng.sample(users, size)
        acc, loans = src.accounts(picked, as_of), src.loans(picked, as_of)
        assert acc_mod._small_exposures(acc, loans) is not None
        assert _by_view(acc, loans) == _by_frame(acc, loans), picked


def _amounts(rng: random.Random, n: int) -> list[float | None]:
    pool = [None, 0.0, 0.005, 0.015, 416.911, 361.993, 1714.215, 984.835, 1e-7, 2.5e-7,
            12345678.905, 9_000_000_000.125]
    return [rng.choice(pool) if rng.random() < 0.5 else round(rng.uniform(0, 50_000), 3)
            for _ in range(n)]


@pytest.mark.parametrize("seed", range(5))
def test_small_exposure_is_the_frames_exposure_on_edge_values(seed):
    rng = random.Random(seed)
    n, m = rng.randint(0, 12), rng.randint(0, 12)
    users = ["a", "b", "c", None]
    acc = pl.DataFrame({
        "user_id": [rng.choice(users) for _ in range(n)],
        "credit_limit": _amounts(rng, n), "outstanding": _amounts(rng, n),
        "status": [rng.choice(["active", "frozen", "closed", "limited", None])
                   for _ in range(n)]},
        schema={"user_id": pl.String, "credit_limit": pl.Float64, "outstanding": pl.Float64,
                "status": pl.String})
    loans = pl.DataFrame({
        "user_id": [rng.choice(users) for _ in range(m)], "outstanding": _amounts(rng, m),
        "status": [rng.choice(["open", "overdue", "closed", "written_off", None])
                   for _ in range(m)]},
        schema={"user_id": pl.String, "outstanding": pl.Float64, "status": pl.String})
    assert acc_mod._small_exposures(acc, loans) is not None
    assert _by_view(acc, loans) == _by_frame(acc, loans)


def test_large_or_odd_frames_take_the_lazy_plan():
    acc = pl.DataFrame({"user_id": ["u"] * (SMALL_ROWS + 1),
                        "credit_limit": [1.0] * (SMALL_ROWS + 1),
                        "outstanding": [0.5] * (SMALL_ROWS + 1),
                        "status": ["active"] * (SMALL_ROWS + 1)})
    loans = pl.DataFrame({"user_id": ["u"], "outstanding": [1.0], "status": ["open"]})
    assert acc_mod._small_exposures(acc, loans) is None
    assert _by_view(acc, loans) == _by_frame(acc, loans)
    odd = acc.head(2).with_columns(pl.Series("credit_limit", [math.inf, 1.0]))
    assert acc_mod._small_exposures(odd, loans) is None
    ints = acc.head(2).with_columns(pl.col("credit_limit").cast(pl.Int64))
    assert acc_mod._small_exposures(ints, loans) is None


def _reference_plain(x):
    """``base._plain`` as it was written before its leaf fast path (the reference)."""
    import dataclasses
    import datetime as dt
    from collections.abc import Mapping

    from xpg.queries.investigate.base import View

    if isinstance(x, View):
        return {f.name: _reference_plain(getattr(x, f.name)) for f in dataclasses.fields(x)}
    if hasattr(x, "to_dict") and not isinstance(x, type):
        return x.to_dict()
    if isinstance(x, Mapping):
        return {str(k): _reference_plain(v) for k, v in x.items()}
    if isinstance(x, list | tuple | set | frozenset):
        return [_reference_plain(v) for v in x]
    if isinstance(x, dt.datetime | dt.date):
        return x.isoformat()
    if isinstance(x, float):
        return round(x, 2)
    return x


@pytest.mark.parametrize("seed", [3, 9])
def test_view_to_dict_is_the_reference(seed):
    import json

    import xpg.api as api
    from xpg.settings import load_settings

    s = generate(2_000, seed, shape="mixed")
    rng = random.Random(seed)
    with api.open(dataset=s.dataset(), settings=load_settings(environ={})) as session:
        found = session.findings().findings
        users = rng.sample(sorted({u for f in found for u in f.users}), 10) + rng.sample(
            s.dataset().users.get_column("user_id").to_list(), 10)
        views = [session.user(u, hops=h) for u in users for h in (0, 1)]
        views += [session.ring(f.id) for f in found if f.type == "ring"][:5]
        views += [session.group(u) for u in users[:5]]
        for v in views:
            assert json.dumps(v.to_dict()) == json.dumps(_reference_plain(v))
