"""Value formats of the synthetic generator: every id is a bijection of an integer key.

User ids, device fingerprints, account ids, phones, bank cards (Luhn-valid),
ID numbers (valid check character), emails, IPs and addresses are computed
from integer keys, vectorized with NumPy and Polars, so ids are unique by
construction and the same key gives the same id on every run.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import polars as pl

__all__ = [
    "account_ids",
    "device_id_of",
    "device_ids",
    "expand",
    "identifier_value_of",
    "identifier_values",
    "mix64",
    "user_id",
    "user_ids",
]

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


def mix64(key: np.ndarray, salt: int) -> np.ndarray:
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
    """The user_id of user number ``index`` (the same as the vectorized :func:`user_ids`).

    Examples
    --------
    >>> user_id(0)
    '2088000000104729'
    """
    return f"2088{(index * _coprime(_USER_MOD) + _USER_ADD) % _USER_MOD:012d}"


def _zfill(x: np.ndarray, width: int) -> pl.Expr:
    return pl.lit(pl.Series(np.asarray(x, dtype=np.int64))).cast(pl.String).str.zfill(width)


def user_ids(index: np.ndarray) -> pl.Series:
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


def identifier_values(kind: str, key: np.ndarray) -> pl.Expr:
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

def device_ids(key: np.ndarray, seed: int) -> pl.Expr:
    return _hex16(mix64(key, seed * 0x2545F4914F6CDD1D + 17))


def account_ids(acct: np.ndarray) -> pl.Expr:
    return pl.concat_str(pl.lit("AC"), _zfill(_permute(acct, 10**10, 12_345), 10))

def device_id_of(key: np.ndarray, seed: int) -> list[str]:
    """Device ids of device keys (for the truth file)."""
    return pl.select(device_ids(np.asarray(key, dtype=np.int64), seed)).to_series().to_list()


def identifier_value_of(kind: str, key: np.ndarray) -> list[str]:
    """Identifier values of keys of one kind (for the truth file)."""
    return (
        pl.select(identifier_values(kind, np.asarray(key, dtype=np.int64))).to_series().to_list()
    )
