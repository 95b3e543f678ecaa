"""Building blocks of the synthetic data generator (see :mod:`xpg.loaders.synthetic`).

The generator works on integer keys and small integer codes in NumPy arrays
(users, accounts, devices and identifier values are numbered; statuses,
reasons and kinds are indexes into the tuples below) and only turns them into
the contract's strings once, at the end (:func:`finalize`). Every id is a
bijection of its integer key, so ids are unique by construction and the same
key gives the same id on every run.

This module holds the :class:`Builder` (random source, run date, allocators
and the rows collected so far), the value formats (user ids, device
fingerprints, phones, bank cards, ID numbers, ...), the lender catalogue, and
the generators of *ordinary* behaviour: accounts and their events, own
devices and identifiers, external loans and applications. Ordinary behaviour
stays strictly below every detection threshold of the data contract, so that
only planted cases (:mod:`xpg.loaders.synthetic_cases`) produce findings.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections import defaultdict

import numpy as np
import polars as pl
from xpg.loaders.schema import (
    ACCOUNT_STATUSES,
    APPLICATION_OUTCOMES,
    EVENT_KINDS,
    LOAN_STATUSES,
    TABLES,
)

__all__ = [
    "APP_TEMPLATES",
    "DAY",
    "IDENTIFIER_KINDS",
    "LENDERS",
    "PRODUCTS",
    "Builder",
    "Profile",
    "account_ids",
    "code",
    "finalize",
    "user_id",
]

DAY = 86_400_000_000  # microseconds
SECOND = 1_000_000
NULL_TIME = np.iinfo(np.int64).min  # "no value" in a microsecond / day column

# ---------------------------------------------------------------------------- catalogues

PRODUCTS: tuple[tuple[str, str, str], ...] = (
    # product_id, kind, name
    ("huabei", "consumption", "Huabei pay-later credit line"),
    ("jiebei", "loan", "Jiebei cash loan"),
    ("beiyongjin", "loan", "Beiyongjin small cash reserve"),
)
HB, JB, BY = 0, 1, 2  # product codes

REASONS: tuple[str, ...] = (
    # user scope (config/defaults.toml)
    "fraud",
    "security",
    "regulatory",
    "multi_lending",
    # product scope
    "overdue",
    "credit_risk",
    "customer_request",
    "system",
    # listed nowhere: counts as user scope when it freezes or closes an account
    "aml_review",
    # reasons of unfreeze / reopen / limit_change events (scope never consulted)
    "repaid",
    "review_passed",
    "periodic_review",
    "risk_control",
    "usage_growth",
)
IDENTIFIER_KINDS: tuple[str, ...] = ("phone", "bank_card", "id_number", "email", "ip", "address")

_LENDER_TYPES = (
    # type, id prefix, how many, name suffix
    ("bank", "BK", 18, "Bank"),
    ("consumer_finance", "CF", 14, "Consumer Finance"),
    ("microloan", "ML", 24, "Microcredit"),
    ("p2p", "PP", 10, "P2P Lending"),
    ("bnpl", "BN", 14, "Pay Later"),
)
_PLACES = (
    "Anhe", "Baoshan", "Changxin", "Dongfang", "Fengyuan", "Guangyao", "Hengtai", "Huarun",
    "Jinqiao", "Kaiyuan", "Lanting", "Mingde", "Nanhu", "Pingan Road", "Qianhai", "Ruifeng",
    "Shengli", "Taihe", "Wanjia", "Xinghe", "Yongxin", "Zhongyu", "Beichen", "Chuangfu",
)  # fmt: skip


def _lenders() -> pl.DataFrame:
    ids: list[str] = []
    names: list[str] = []
    types: list[str] = []
    k = 0
    for typ, prefix, count, suffix in _LENDER_TYPES:
        for i in range(count):
            ids.append(f"{prefix}{i + 1:03d}")
            names.append(f"{_PLACES[(k * 7) % len(_PLACES)]} {suffix}")
            types.append(typ)
            k += 1
    return pl.DataFrame({"lender_id": ids, "name": names, "type": types})


LENDERS: pl.DataFrame = _lenders()
"""The lender catalogue: 80 external lenders of the five contract types."""
N_LENDERS = LENDERS.height
# strides coprime to N_LENDERS: stepping j * stride from any start visits distinct lenders
_STRIDES = np.array([s for s in range(1, N_LENDERS) if np.gcd(s, N_LENDERS) == 1][:16])


def code(values: tuple[str, ...], name: str) -> int:
    """The integer code of ``name`` in one of the catalogues."""
    return values.index(name)


# ---------------------------------------------------------------------------- credit profiles


class Profile:
    """Credit behaviour (external loans and applications) of one user, by code.

    ``ORDINARY`` stays below every multi_lending threshold; ``ML_*`` are
    multi-lenders by one rule; ``NM_*`` are near misses just under one rule.
    """

    ORDINARY = 0
    ML_OPEN = 1  # open loans at 4-7 distinct lenders
    ML_OPEN4 = 2  # exactly 4 (the boundary)
    ML_OPEN_OVERDUE = 3  # 3 open + 1 overdue, at 4 distinct lenders
    ML_APPS7 = 4  # 3 lenders within the 7-day window, on its first and last day
    ML_APPS30 = 5  # 6 lenders within 30 days, the first on the window's first day
    NM_OPEN3 = 6  # 5 open loans at only 3 distinct lenders
    NM_APPS7 = 7  # 4 applications to 2 lenders within 7 days
    NM_APPS30 = 8  # 5 lenders within 30 days
    NM_OUT7 = 9  # 3 lenders, one the day before the 7-day window
    NM_OUT30 = 10  # 6 lenders, one the day before the 30-day window
    NM_CLOSED = 11  # 3 open lenders + closed and written-off loans at 3 others
    COUNT = 12

    MULTI_LENDING = (ML_OPEN, ML_OPEN4, ML_OPEN_OVERDUE, ML_APPS7, ML_APPS30)


# Recent applications of the profiles that have them: (lender slot, days back, second of day or
# None for a random one). Distinct slots are distinct lenders.
LAST = 86_399
APP_TEMPLATES: dict[int, tuple[tuple[int, int, int | None], ...]] = {
    Profile.ML_APPS7: ((0, 6, 0), (1, 3, None), (2, 0, LAST)),
    Profile.ML_APPS30: ((0, 29, 0), (1, 22, None), (2, 15, None), (3, 9, None), (4, 4, None),
                        (5, 1, None)),
    Profile.NM_APPS7: ((0, 6, None), (1, 4, None), (0, 2, None), (1, 0, None)),
    Profile.NM_APPS30: ((0, 29, None), (1, 20, None), (2, 12, None), (3, 5, None), (4, 0, None)),
    Profile.NM_OUT7: ((0, 7, LAST), (1, 5, None), (2, 1, None)),
    Profile.NM_OUT30: ((0, 30, LAST), (1, 25, None), (2, 18, None), (3, 10, None), (4, 4, None),
                       (5, 1, None)),
}  # fmt: skip

# ---------------------------------------------------------------------------- helpers


def expand(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For groups of ``counts[i]`` rows: each row's group index and its rank inside the group.

    Examples
    --------
    >>> g, r = expand(np.array([2, 0, 3]))
    >>> g.tolist(), r.tolist()
    ([0, 0, 2, 2, 2], [0, 1, 0, 1, 2])
    """
    counts = np.asarray(counts, dtype=np.int64)
    group = np.repeat(np.arange(counts.size), counts)
    starts = np.cumsum(counts) - counts
    rank = np.arange(group.size) - np.repeat(starts, counts)
    return group, rank


@functools.cache
def _coprime(modulus: int, near: int = 3_141_592_653) -> int:
    """The first number from ``near`` on that is coprime to ``modulus`` (below 2**32)."""
    m = min(near, modulus - 1)
    while math.gcd(m, modulus) != 1:
        m += 1
    return m


def _permute(key: np.ndarray, modulus: int, add: int) -> np.ndarray:
    """A bijection of ``[0, modulus)`` that scatters neighbouring keys (keys below 2**31)."""
    mult = _coprime(modulus)
    return (np.asarray(key, dtype=np.int64) % modulus * mult + add) % modulus


def _mix64(key: np.ndarray, salt: int) -> np.ndarray:
    """A bijection of 64-bit integers (splitmix64's finalizer), salted by the seed."""
    x = np.asarray(key, dtype=np.uint64) ^ np.uint64(salt & 0xFFFFFFFFFFFFFFFF)
    with np.errstate(over="ignore"):
        x = (x + np.uint64(0x9E3779B97F4A7C15)) * np.uint64(0xBF58476D1CE4E5B9)
        x ^= x >> np.uint64(31)
        x = x * np.uint64(0x94D049BB133111EB)
        x ^= x >> np.uint64(29)
    return x


_USER_ADD, _USER_MOD = 104_729, 10**12


def user_id(index: int) -> str:
    """The user_id of user number ``index`` (the same as the vectorized :func:`_user_ids`).

    Examples
    --------
    >>> user_id(0)
    '2088000000104729'
    """
    return f"2088{(index * _coprime(_USER_MOD) + _USER_ADD) % _USER_MOD:012d}"


def _zfill(x: np.ndarray, width: int) -> pl.Expr:
    return pl.lit(pl.Series(np.asarray(x, dtype=np.int64))).cast(pl.String).str.zfill(width)


def _user_ids(index: np.ndarray) -> pl.Series:
    x = _permute(index, _USER_MOD, _USER_ADD)
    return pl.select(pl.concat_str(pl.lit("2088"), _zfill(x, 12))).to_series()


_HEX4 = pl.Series([f"{i:04x}" for i in range(65536)])


def _hex16(x: np.ndarray) -> pl.Expr:
    parts = [
        pl.lit(_HEX4).gather(
            pl.lit(pl.Series(((x >> np.uint64(s)) & np.uint64(0xFFFF)).astype(np.int64)))
        )
        for s in (48, 32, 16, 0)
    ]
    return pl.concat_str(parts)


def _digits_check(number: np.ndarray, n_digits: int, weights: np.ndarray) -> np.ndarray:
    """Sum of digit * weight over the ``n_digits`` digits of ``number`` (most significant first)."""
    total = np.zeros(number.shape, dtype=np.int64)
    rest = number.copy()
    for i in range(n_digits - 1, -1, -1):
        total += (rest % 10) * weights[i]
        rest //= 10
    return total


def _luhn_digit(number: np.ndarray, n_digits: int) -> np.ndarray:
    """The Luhn check digit to append to ``number`` (``n_digits`` digits)."""
    total = np.zeros(number.shape, dtype=np.int64)
    rest = number.copy()
    for i in range(n_digits):  # from the right; the rightmost payload digit is doubled
        d = rest % 10
        rest //= 10
        if i % 2 == 0:
            d = d * 2
            d = np.where(d > 9, d - 9, d)
        total += d
    return (10 - total % 10) % 10


_REGIONS = np.array([
    110101, 110105, 120101, 310101, 310115, 320102, 320506, 330102, 330106, 340104, 350203,
    360102, 370102, 370202, 410105, 420106, 430104, 440103, 440106, 440305, 440307, 450103,
    500103, 510104, 510107, 520102, 530102, 610103, 610113, 620102,
])  # fmt: skip
_ID_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
_ID_CHECK = pl.Series(list("10X98765432"))
_BIRTH_DAYS = 16_800  # birthdays from 1960-01-01 on
_SURNAMES = pl.Series(
    [
        "wang",
        "li",
        "zhang",
        "liu",
        "chen",
        "yang",
        "zhao",
        "huang",
        "zhou",
        "wu",
        "xu",
        "sun",
        "hu",
        "zhu",
        "gao",
        "lin",
        "he",
        "guo",
        "ma",
        "luo",
    ]
)
_GIVEN = pl.Series(
    [
        "wei",
        "fang",
        "na",
        "min",
        "jing",
        "lei",
        "qiang",
        "jun",
        "yang",
        "yan",
        "jie",
        "tao",
        "ming",
        "chao",
        "xiu",
        "hui",
        "ping",
        "gang",
        "hong",
        "yu",
    ]
)
_DOMAINS = pl.Series(["qq.com", "163.com", "126.com", "sina.com", "foxmail.com", "gmail.com"])
_IP_FIRST = np.array([36, 39, 42, 58, 59, 60, 61, 101, 106, 110, 112, 113, 114, 115, 116, 117,
                      118, 119, 120, 121, 122, 123, 124, 125, 180, 182, 183, 202, 211, 218, 219,
                      220, 221, 222, 223])  # fmt: skip
_CITIES = pl.Series(
    [
        "北京市朝阳区",
        "上海市浦东新区",
        "广州市天河区",
        "深圳市南山区",
        "杭州市西湖区",
        "成都市武侯区",
        "武汉市洪山区",
        "南京市鼓楼区",
        "西安市雁塔区",
        "重庆市渝北区",
        "长沙市岳麓区",
        "郑州市金水区",
        "天津市南开区",
        "苏州市姑苏区",
        "合肥市蜀山区",
        "福州市鼓楼区",
    ]
)
_ROADS = pl.Series(
    [
        "人民路",
        "解放路",
        "中山路",
        "建设路",
        "和平路",
        "文化路",
        "新华路",
        "长江路",
        "滨江路",
        "学院路",
        "科技路",
        "光明路",
        "幸福路",
        "东风路",
        "友谊路",
        "青年路",
    ]
)


def _identifier_values(kind: str, key: np.ndarray) -> pl.Expr:
    """The identifier value of each integer key, for one identifier kind (a bijection)."""
    key = np.asarray(key, dtype=np.int64)
    if kind == "phone":
        x = _permute(key, 7 * 10**9, 271_828)
        return pl.concat_str(pl.lit("1"), _zfill(3 + x // 10**9, 1), _zfill(x % 10**9, 9))
    if kind == "bank_card":
        x = _permute(key, 10**13, 5_772_156)
        payload = 62 * 10**13 + x
        return pl.concat_str(_zfill(payload, 15), _zfill(_luhn_digit(payload, 15), 1))
    if kind == "id_number":
        cap = _REGIONS.size * _BIRTH_DAYS * 999
        x = _permute(key, cap, 4_669_201)
        region = _REGIONS[x % _REGIONS.size]
        birth = np.datetime64("1960-01-01") + ((x // _REGIONS.size) % _BIRTH_DAYS)
        year = birth.astype("M8[Y]").astype(np.int64) + 1970
        month = birth.astype("M8[M]").astype(np.int64) % 12 + 1
        day = (birth - birth.astype("M8[M]")).astype(np.int64) + 1
        seq = x // (_REGIONS.size * _BIRTH_DAYS) + 1
        body = region * 10**11 + (year * 10_000 + month * 100 + day) * 1_000 + seq
        check = _digits_check(body, 17, _ID_WEIGHTS) % 11
        return pl.concat_str(_zfill(body, 17), pl.lit(_ID_CHECK).gather(pl.lit(pl.Series(check))))
    if kind == "email":
        x = _permute(key, 400 * 10**8, 1_414_213)
        return pl.concat_str(
            pl.lit(_SURNAMES).gather(pl.lit(pl.Series(x % 20))),
            pl.lit("."),
            pl.lit(_GIVEN).gather(pl.lit(pl.Series((x // 20) % 20))),
            _zfill(x // 400, 1),
            pl.lit("@"),
            pl.lit(_DOMAINS).gather(pl.lit(pl.Series(key % _DOMAINS.len()))),
        )
    if kind == "ip":
        x = _permute(key, _IP_FIRST.size << 24, 1_618_033)
        rest = x // _IP_FIRST.size
        return pl.concat_str(
            [_zfill(_IP_FIRST[x % _IP_FIRST.size], 1), _zfill((rest >> 16) & 255, 1),
             _zfill((rest >> 8) & 255, 1), _zfill(rest & 255, 1)],
            separator=".",
        )  # fmt: skip
    if kind == "address":
        x = _permute(key, 16 * 16 * 999 * 30 * 6 * 28, 3_141_592)
        road = (x // 16) % 16
        number = (x // 256) % 999 + 1
        building = (x // (256 * 999)) % 30 + 1
        unit = (x // (256 * 999 * 30)) % 6 + 1
        floor = x // (256 * 999 * 30 * 6) + 1
        return pl.concat_str(
            pl.lit(_CITIES).gather(pl.lit(pl.Series(x % 16))),
            pl.lit(_ROADS).gather(pl.lit(pl.Series(road))),
            _zfill(number, 1), pl.lit("号"), _zfill(building, 1), pl.lit("栋"),
            _zfill(unit, 1), pl.lit("单元"), _zfill(floor, 1), _zfill(1 + key % 4, 2), pl.lit("室"),
        )  # fmt: skip
    raise ValueError(kind)  # pragma: no cover


# ---------------------------------------------------------------------------- the builder

_COLUMNS: dict[str, dict[str, object]] = {
    # internal table -> column -> fill value when a part leaves it out
    "accounts": {"acct": None, "user": None, "product": None, "limit": None, "outstanding": None,
                 "status": None, "reason": -1, "changed": NULL_TIME, "opened": None},
    "account_events": {"acct": None, "at": None, "event": None, "old": np.nan, "new": np.nan,
                       "reason": -1},
    "devices": {"user": None, "device": None, "first": None, "last": None},
    "identifiers": {"user": None, "kind": None, "key": None, "first": None, "last": None},
    "external_loans": {"user": None, "lender": None, "opened": None, "amount": None,
                       "outstanding": None, "status": None, "closed": NULL_TIME},
    "applications": {"user": None, "lender": None, "at": None, "outcome": -1},
}  # fmt: skip


class Builder:
    """Random source, run date, allocators and the rows planted so far.

    Users are handed out in a random order (:meth:`take_users`), so planted
    cases are spread over the id space; whatever is left at the end is
    ordinary background.
    """

    def __init__(self, n_users: int, seed: int, as_of: dt.date):
        self.n = n_users
        self.seed = seed
        self.as_of = as_of
        self.rng = np.random.default_rng(seed)
        self.today = int((as_of - dt.date(1970, 1, 1)).days)  # run date in days
        self.t0 = self.today * DAY  # run date 00:00:00 in microseconds
        self._order = self.rng.permutation(n_users)
        self._next_user = 0
        self._next = {"device": 0, "account": 0}
        self._keys: dict[str, int] = {}
        self.parts: dict[str, list[dict[str, np.ndarray]]] = defaultdict(list)
        self.profile = np.zeros(n_users, dtype=np.int8)
        self.custom_accounts = np.zeros(n_users, dtype=bool)
        self.cases: list[dict] = []
        self.case_counts: dict[str, int] = defaultdict(int)
        # registration moment of every user: 30 days to 8 years before the run date
        self.registered = self.seconds(
            self.t0 - 8 * 365 * DAY + self.rng.random(n_users) * (8 * 365 - 30) * DAY
        )
        # first key of the planted-only ranges of the identifier kinds shared by ordinary users
        self.ip_pool = max(n_users // 4, 1)
        self.address_pool = n_users
        self._keys = {"ip": self.ip_pool, "address": self.address_pool, "email": n_users}

    # -- allocation
    def take_users(self, count: int) -> np.ndarray:
        if self._next_user + count > self.n:
            raise OverflowError("not enough users for the planted cases")
        out = self._order[self._next_user : self._next_user + count]
        self._next_user += count
        return out

    @property
    def users_taken(self) -> int:
        return self._next_user

    def new(self, what: str, count: int) -> np.ndarray:
        start = self._next[what]
        self._next[what] = start + count
        return np.arange(start, start + count, dtype=np.int64)

    def new_keys(self, kind: str, count: int) -> np.ndarray:
        """Identifier keys of ``kind`` never given to ordinary users."""
        start = self._keys[kind]
        self._keys[kind] = start + count
        return np.arange(start, start + count, dtype=np.int64)

    # -- time, in microseconds since the epoch (datetimes) or days (dates)
    @staticmethod
    def seconds(us: np.ndarray | float) -> np.ndarray:
        return (np.asarray(us, dtype=np.float64) // SECOND).astype(np.int64) * SECOND

    def at(self, days_back, second=None, size: int | None = None) -> np.ndarray:
        """A moment ``days_back`` days before the run date, at ``second`` of the day or random."""
        days_back = np.asarray(days_back, dtype=np.int64)
        n = size if size is not None else days_back.size
        if second is None:
            second = self.rng.integers(0, 86_400, n)
        return self.t0 - days_back * DAY + np.asarray(second, dtype=np.int64) * SECOND

    def between(self, lo: np.ndarray, hi: np.ndarray | int) -> np.ndarray:
        """A random whole second in ``[lo, hi]`` (microseconds)."""
        lo, hi = np.broadcast_arrays(np.asarray(lo, dtype=np.int64), np.asarray(hi, np.int64))
        span = np.maximum(hi - lo, 0)
        return self.seconds(lo + self.rng.random(lo.shape) * span)

    @property
    def now(self) -> int:
        """The last second of the run date."""
        return self.t0 + LAST * SECOND

    # -- rows
    def add(self, table: str, **columns) -> None:
        """Append rows to an internal table; scalars broadcast, left-out columns get their fill."""
        spec = _COLUMNS[table]
        unknown = set(columns) - set(spec)
        if unknown:  # pragma: no cover - a programming error
            raise KeyError(f"{table}: unknown columns {sorted(unknown)}")
        n = max(np.size(v) for v in columns.values() if np.ndim(v) > 0)
        part = {}
        for name, fill in spec.items():
            value = columns.get(name, fill)
            if value is None:  # pragma: no cover - a programming error
                raise KeyError(f"{table}: column {name} is required")
            part[name] = np.broadcast_to(np.asarray(value), (n,))
        self.parts[table].append(part)

    def table(self, name: str) -> dict[str, np.ndarray]:
        parts = self.parts[name]
        if not parts:
            return {c: np.empty(0) for c in _COLUMNS[name]}
        return {c: np.concatenate([p[c] for p in parts]) for c in _COLUMNS[name]}

    # -- amounts
    def limits(self, product: int, n: int) -> np.ndarray:
        """Realistic credit limits (CNY) of one product, rounded to 100."""
        r = self.rng
        if product == HB:
            x = np.exp(r.normal(np.log(4_000), 0.8, n)).clip(500, 50_000)
        elif product == JB:
            x = np.exp(r.normal(np.log(15_000), 0.9, n)).clip(1_000, 200_000)
        else:
            x = r.choice(np.array([500.0, 1_000, 1_500, 2_000, 3_000, 5_000]), n)
        return np.round(x / 100) * 100

    def partial(self, limit: np.ndarray) -> np.ndarray:
        """An outstanding balance strictly below ``limit`` (so something is drawable)."""
        return np.round(limit * self.rng.uniform(0.05, 0.85, np.shape(limit)), 2)

    def loan_amounts(self, n: int) -> np.ndarray:
        return np.round(np.exp(self.rng.normal(np.log(20_000), 1.0, n)).clip(1_000, 200_000), -2)

    # -- ordinary behaviour of users that cases may reuse
    def own_devices(self, users: np.ndarray) -> None:
        """1-3 devices per user that nobody else uses."""
        r = self.rng
        counts = r.choice(np.array([1, 2, 3]), users.size, p=[0.7, 0.25, 0.05])
        owner, _ = expand(counts)
        u = users[owner]
        first = self.between(self.registered[u], self.now)
        last = self.between(first, self.now)
        self.add("devices", user=u, device=self.new("device", u.size), first=first, last=last)

    def shared_device(self, users: np.ndarray, device: np.ndarray, days: int = 365) -> None:
        """Rows linking ``users[i]`` to ``device[i]``, first seen within ``days`` days."""
        first = self.between(np.maximum(self.registered[users], self.t0 - days * DAY), self.now)
        self.add("devices", user=users, device=device, first=first,
                 last=self.between(first, self.now))  # fmt: skip

    def identifier(self, users: np.ndarray, kind: str, key: np.ndarray, days: int = 720) -> None:
        first = self.between(np.maximum(self.registered[users], self.t0 - days * DAY), self.now)
        self.add("identifiers", user=users, kind=code(IDENTIFIER_KINDS, kind), key=key,
                 first=first, last=self.between(first, self.now))  # fmt: skip

    def own_identifiers(self, users: np.ndarray) -> None:
        """Every user's own phone, ID number and bank card(s); some emails; pooled IPs/addresses."""
        r = self.rng
        n = users.size
        self.identifier(users, "phone", users, days=3000)
        self.identifier(users, "id_number", users, days=3000)
        self.identifier(users, "bank_card", 2 * users, days=3000)
        second = users[r.random(n) < 0.1]
        self.identifier(second, "bank_card", 2 * second + 1)
        mail = users[r.random(n) < 0.2]
        self.identifier(mail, "email", mail)
        # IPs and addresses are shared by households, dormitories and carriers: not enabled
        # by default; ordinary users draw them from pools (keys below the planted ranges).
        ip_users = users[r.random(n) < 0.5]
        self.identifier(ip_users, "ip", r.integers(0, self.ip_pool, ip_users.size), days=90)
        addr = users[r.random(n) < 0.3]
        self.identifier(addr, "address", r.integers(0, self.address_pool, addr.size))

    def ordinary_accounts(self, users: np.ndarray) -> None:
        """Accounts in the three products with consistent events, never a finding.

        Frozen, closed and limited accounts carry product-scope reasons only; limit cuts
        stay under 50% and above 50 CNY; past freezes are product-scope and were lifted.
        """
        r = self.rng
        n = users.size
        has = np.stack([r.random(n) < 0.85, r.random(n) < 0.5, r.random(n) < 0.1])
        has[HB] |= ~has.any(axis=0)
        for product in (HB, JB, BY):
            u = users[has[product]]
            m = u.size
            acct = self.new("account", m)
            limit = self.limits(product, m)
            opened_us = self.between(self.registered[u], self.t0 - 7 * DAY)
            status = r.choice(4, m, p=[0.92, 0.035, 0.025, 0.02]).astype(np.int8)
            outstanding = np.where(status == 3, 0.0, self.partial(limit))
            reason = np.full(m, -1, dtype=np.int16)
            reason[status == 1] = r.choice([4, 5], (status == 1).sum())  # limited
            reason[status == 2] = r.choice([4, 5, 6, 7], (status == 2).sum())  # frozen
            reason[status == 3] = r.choice([6, 6, 6, 5], (status == 3).sum())  # closed
            changed = np.full(m, NULL_TIME, dtype=np.int64)
            inactive = status > 0
            changed[inactive] = self.between(opened_us[inactive] + DAY, self.now)
            # the event behind a non-active status: limited -> limit, frozen -> freeze, ...
            ev = np.array([-1, 3, 1, 4], dtype=np.int8)[status]  # EVENT_KINDS codes
            self.add("account_events", acct=acct[inactive], at=changed[inactive],
                     event=ev[inactive], reason=reason[inactive])  # fmt: skip
            # a past product-scope freeze, lifted since
            lifted = (status == 0) & (r.random(m) < 0.04)
            t_freeze = self.between(opened_us[lifted] + DAY, self.now - 30 * DAY)
            t_unfreeze = self.between(t_freeze + DAY, self.now)
            self.add(
                "account_events",
                acct=acct[lifted],
                at=t_freeze,
                event=1,
                reason=r.choice([4, 5, 7], lifted.sum()).astype(np.int16),
            )
            self.add("account_events", acct=acct[lifted], at=t_unfreeze, event=2, reason=9)
            changed[lifted] = t_unfreeze
            # limit changes: a raise, or a mild cut (< 50%, never to 50 or less)
            changes = (status != 3) & (r.random(m) < 0.3)
            k = changes.sum()
            cur = limit[changes]
            raise_ = r.random(k) < 0.7
            old_raise = np.maximum(np.floor(cur * r.uniform(0.4, 0.9, k) / 100) * 100, 100)
            old_raise = np.where(old_raise >= cur, cur / 2, old_raise)
            old_cut = np.ceil(cur / r.uniform(0.6, 0.9, k) / 100) * 100
            old = np.where(raise_, old_raise, old_cut)
            t_change = self.between(opened_us[changes] + DAY, self.now)
            self.add(
                "account_events",
                acct=acct[changes],
                at=t_change,
                event=0,
                old=old,
                new=cur,
                reason=np.where(raise_, 13, 11).astype(np.int16),
            )
            self.add("accounts", acct=acct, user=u, product=product, limit=limit,
                     outstanding=outstanding, status=status, reason=reason, changed=changed,
                     opened=opened_us // DAY)  # fmt: skip

    def apply_profiles(self) -> None:
        """External loans and applications of every user, by credit profile."""
        users = np.arange(self.n)
        profile = self.profile
        _loans(self, users, profile)
        _applications(self, users, profile)


# ---------------------------------------------------------------------------- loans, applications


def _lender_of(b: Builder, owner_key: np.ndarray, slot: np.ndarray, salt: int) -> np.ndarray:
    """The ``slot``-th of a user's distinct lenders: distinct slots give distinct lenders."""
    h = _mix64(owner_key, b.seed * 1_000_003 + salt)
    start = (h % np.uint64(N_LENDERS)).astype(np.int64)
    stride = _STRIDES[((h >> np.uint64(32)) % np.uint64(_STRIDES.size)).astype(np.int64)]
    return ((start + slot * stride) % N_LENDERS).astype(np.int16)


def _loans(b: Builder, users: np.ndarray, profile: np.ndarray) -> None:
    r = b.rng
    n = users.size
    live = np.zeros(n, dtype=np.int64)  # open/overdue/written-off loans at distinct lenders
    live_status = np.full(n, -1, dtype=np.int64)  # -1: random (ordinary); else a fixed status
    ordinary = np.isin(profile, [Profile.ORDINARY, Profile.ML_APPS7, Profile.ML_APPS30,
                                 Profile.NM_APPS7, Profile.NM_APPS30, Profile.NM_OUT7,
                                 Profile.NM_OUT30])  # fmt: skip
    live[ordinary] = r.choice(4, ordinary.sum(), p=[0.35, 0.35, 0.22, 0.08])
    ml = profile == Profile.ML_OPEN
    live[ml] = r.integers(4, 8, ml.sum())
    live[profile == Profile.ML_OPEN4] = 4
    live[np.isin(profile, [Profile.ML_OPEN_OVERDUE, Profile.NM_OPEN3, Profile.NM_CLOSED])] = 3
    live_status[~ordinary] = 0  # open
    # rows at distinct lenders
    owner, slot = expand(live)
    status = np.where(
        live_status[owner] >= 0,
        live_status[owner],
        r.choice(np.array([0, 1, 3]), owner.size, p=[0.9, 0.07, 0.03]),
    )
    parts = [(owner, slot, status)]
    # the planted extras
    for prof, extra in (
        (Profile.ML_OPEN_OVERDUE, [(3, 1)]),  # slot 3 overdue
        (Profile.NM_OPEN3, [(0, 0), (1, 0)]),  # two more open loans at lenders already held
        (Profile.NM_CLOSED, [(3, 3), (4, 2), (5, 2)]),  # written off, closed, closed
    ):
        who = np.flatnonzero(profile == prof)
        for s, st in extra:
            parts.append((who, np.full(who.size, s), np.full(who.size, st)))
    owner = np.concatenate([p[0] for p in parts])
    slot = np.concatenate([p[1] for p in parts])
    status = np.concatenate([p[2] for p in parts]).astype(np.int8)
    u = users[owner]
    lender = _lender_of(b, u, slot, salt=1)
    # closed loans, anywhere (ordinary history of everyone)
    n_closed = np.minimum(r.poisson(0.45, n), 4)
    c_owner, _ = expand(n_closed)
    cu = users[c_owner]
    u = np.concatenate([u, cu])
    lender = np.concatenate([lender, r.integers(0, N_LENDERS, cu.size).astype(np.int16)])
    status = np.concatenate([status, np.full(cu.size, 2, dtype=np.int8)])
    m = u.size
    amount = b.loan_amounts(m)
    closed_like = status == 2
    # live loans opened in the last 3 years, closed ones 1-6 years ago
    opened = np.where(
        closed_like, b.today - r.integers(365, 6 * 365, m), b.today - r.integers(0, 3 * 365, m)
    )
    closed = np.where(
        closed_like, np.minimum(opened + r.integers(30, 1_080, m), b.today), NULL_TIME
    )
    frac = np.select(
        [status == 0, status == 1, status == 3],
        [r.uniform(0.05, 1.0, m), r.uniform(0.3, 1.0, m), r.uniform(0.5, 1.0, m)],
        0.0,
    )
    b.add("external_loans", user=u, lender=lender, opened=opened, amount=amount,
          outstanding=np.round(amount * frac, 2), status=status, closed=closed)  # fmt: skip


def _applications(b: Builder, users: np.ndarray, profile: np.ndarray) -> None:
    r = b.rng
    n = users.size
    # history: applications more than 30 days ago, anywhere
    n_old = np.minimum(r.poisson(0.8, n), 6)
    owner, _ = expand(n_old)
    u = users[owner]
    at = b.between(b.t0 - 720 * DAY, b.t0 - 31 * DAY + np.zeros(u.size, dtype=np.int64))
    b.add(
        "applications",
        user=u,
        lender=r.integers(0, N_LENDERS, u.size).astype(np.int16),
        at=at,
        outcome=r.choice(3, u.size, p=[0.55, 0.4, 0.05]).astype(np.int8),
    )
    # ordinary recent applications: at most 2 rows in the last 30 days (so <= 2 lenders)
    ordinary = np.flatnonzero(profile == Profile.ORDINARY)
    n_recent = r.choice(3, ordinary.size, p=[0.86, 0.11, 0.03])
    owner, _ = expand(n_recent)
    u = users[ordinary[owner]]
    b.add(
        "applications",
        user=u,
        lender=r.integers(0, N_LENDERS, u.size).astype(np.int16),
        at=b.between(b.t0 - 29 * DAY + np.zeros(u.size, dtype=np.int64), b.now),
        outcome=r.choice(3, u.size, p=[0.5, 0.3, 0.2]).astype(np.int8),
    )
    # planted bursts and near misses
    for prof, template in APP_TEMPLATES.items():
        who = users[profile == prof]
        for s, days_back, second in template:
            at = b.at(np.full(who.size, days_back), second, size=who.size)
            b.add(
                "applications",
                user=who,
                lender=_lender_of(b, who, np.full(who.size, s), 2),
                at=at,
                outcome=r.choice(3, who.size, p=[0.4, 0.4, 0.2]).astype(np.int8),
            )


# ---------------------------------------------------------------------------- finalize


def _time(x: np.ndarray, dtype: pl.DataType) -> pl.Expr:
    s = pl.Series(np.asarray(x, dtype=np.int64))
    return pl.when(pl.lit(s) == NULL_TIME).then(None).otherwise(pl.lit(s)).cast(dtype)


def _float(x: np.ndarray) -> pl.Expr:
    return pl.lit(pl.Series(np.asarray(x, dtype=np.float64), nan_to_null=True))


def _lookup(values: tuple[str, ...] | pl.Series, codes: np.ndarray) -> pl.Expr:
    """Strings of integer codes; code -1 becomes null."""
    codes = np.asarray(codes, dtype=np.int64)
    table = pl.Series([*list(values), None], dtype=pl.String)
    return pl.lit(table).gather(pl.lit(pl.Series(np.where(codes < 0, len(table) - 1, codes))))


def _device_ids(key: np.ndarray, seed: int) -> pl.Expr:
    return _hex16(_mix64(key, seed * 0x2545F4914F6CDD1D + 17))


def account_ids(acct: np.ndarray) -> pl.Expr:
    return pl.concat_str(pl.lit("AC"), _zfill(_permute(acct, 10**10, 12_345), 10))


def _sorted(df: pl.DataFrame, order: np.ndarray) -> pl.DataFrame:
    return df[np.argsort(order, kind="stable")]


def finalize(b: Builder) -> dict[str, pl.DataFrame]:
    """The contract's tables from the builder's integer rows (exact contract columns and types)."""
    dtypes = {name: t.schema for name, t in TABLES.items()}
    out: dict[str, pl.DataFrame] = {}
    n = b.n
    r = b.rng
    idx = np.arange(n)
    is_ml = np.isin(b.profile, Profile.MULTI_LENDING)
    score = np.round(r.normal(680, 60, n) - 90 * is_ml).clip(350, 950).astype(np.int64)
    out["users"] = pl.select(
        user_id=pl.lit(_user_ids(idx)),
        registered_at=_time(b.registered, pl.Datetime("us")),
        credit_score=pl.lit(pl.Series(score)),
    )
    out["products"] = pl.DataFrame(
        {
            "product_id": [p[0] for p in PRODUCTS],
            "kind": [p[1] for p in PRODUCTS],
            "name": [p[2] for p in PRODUCTS],
        }
    )
    a = b.table("accounts")
    out["accounts"] = _sorted(pl.select(
        account_id=account_ids(a["acct"]),
        user_id=pl.lit(_user_ids(a["user"])),
        product_id=_lookup(tuple(p[0] for p in PRODUCTS), a["product"]),
        credit_limit=_float(a["limit"]),
        outstanding=_float(a["outstanding"]),
        status=_lookup(ACCOUNT_STATUSES, a["status"]),
        status_reason=_lookup(REASONS, a["reason"]),
        status_changed_at=_time(a["changed"], pl.Datetime("us")),
        opened_at=_time(a["opened"], pl.Date()),
    ), a["user"])  # fmt: skip
    e = b.table("account_events")
    out["account_events"] = _sorted(pl.select(
        account_id=account_ids(e["acct"]),
        at=_time(e["at"], pl.Datetime("us")),
        event=_lookup(EVENT_KINDS, e["event"]),
        old_limit=_float(e["old"]),
        new_limit=_float(e["new"]),
        reason=_lookup(REASONS, e["reason"]),
    ), e["at"])  # fmt: skip
    d = b.table("devices")
    out["devices"] = _sorted(pl.select(
        user_id=pl.lit(_user_ids(d["user"])),
        device_id=_device_ids(d["device"], b.seed),
        first_seen=_time(d["first"], pl.Datetime("us")),
        last_seen=_time(d["last"], pl.Datetime("us")),
    ), d["user"])  # fmt: skip
    i = b.table("identifiers")
    frames = []
    for k, kind in enumerate(IDENTIFIER_KINDS):
        sel = i["kind"] == k
        frames.append(pl.select(
            user_id=pl.lit(_user_ids(i["user"][sel])),
            kind=pl.lit(kind),
            value=_identifier_values(kind, i["key"][sel]),
            first_seen=_time(i["first"][sel], pl.Datetime("us")),
            last_seen=_time(i["last"][sel], pl.Datetime("us")),
            _order=pl.lit(pl.Series(i["user"][sel].astype(np.int64))),
        ))  # fmt: skip
    ident = pl.concat(frames)
    out["identifiers"] = ident.sort("_order", maintain_order=True).drop("_order")
    lender_ids = tuple(LENDERS["lender_id"].to_list())
    x = b.table("external_loans")
    out["external_loans"] = _sorted(pl.select(
        user_id=pl.lit(_user_ids(x["user"])),
        lender_id=_lookup(lender_ids, x["lender"]),
        opened_at=_time(x["opened"], pl.Date()),
        amount=_float(x["amount"]),
        outstanding=_float(x["outstanding"]),
        status=_lookup(LOAN_STATUSES, x["status"]),
        closed_at=_time(x["closed"], pl.Date()),
    ), x["user"])  # fmt: skip
    p = b.table("applications")
    out["applications"] = _sorted(pl.select(
        user_id=pl.lit(_user_ids(p["user"])),
        lender_id=_lookup(lender_ids, p["lender"]),
        applied_at=_time(p["at"], pl.Datetime("us")),
        outcome=_lookup(APPLICATION_OUTCOMES, p["outcome"]),
    ), p["user"])  # fmt: skip
    out["lenders"] = LENDERS
    ordered = {name: out[name].select(pl.col(c).cast(t) for c, t in dtypes[name].items())
               for name in TABLES}  # fmt: skip
    return ordered


def device_id_of(key: np.ndarray, seed: int) -> list[str]:
    """Device ids of device keys (for the truth file)."""
    return pl.select(_device_ids(np.asarray(key, dtype=np.int64), seed)).to_series().to_list()


def identifier_value_of(kind: str, key: np.ndarray) -> list[str]:
    """Identifier values of keys of one kind (for the truth file)."""
    return (
        pl.select(_identifier_values(kind, np.asarray(key, dtype=np.int64))).to_series().to_list()
    )
