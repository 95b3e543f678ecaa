"""Catalogues and credit profiles of the synthetic generator (see :mod:`xpg.synthetic`).

The generator works on small integer codes: statuses, reasons, products and
identifier kinds are indexes into the tuples below, turned into the contract's
strings once, at the end (:mod:`xpg.synthetic.tables`). This module holds the
time units, the products, the freeze and event reasons, the identifier kinds,
the lender catalogue and the credit :class:`Profile` codes with the
application templates of the profiles that have them.
"""

from __future__ import annotations

import numpy as np
import polars as pl

__all__ = [
    "APP_TEMPLATES",
    "BY",
    "DAY",
    "HB",
    "IDENTIFIER_KINDS",
    "JB",
    "LAST",
    "LENDERS",
    "NULL_TIME",
    "N_LENDERS",
    "PRODUCTS",
    "REASONS",
    "SECOND",
    "STRIDES",
    "Profile",
    "code",
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
STRIDES = np.array([s for s in range(1, N_LENDERS) if np.gcd(s, N_LENDERS) == 1][:16])


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
    LV3 = 12  # lender_velocity: 3 new lenders within 30 days, the first on its first day
    LV_OUT31 = 13  # 3 lenders, the first the day before the 30-day window: 2 new
    LV2_OLD = 14  # 3 lenders applied to within 30 days, one of them first seen 60 days ago
    COUNT = 15

    MULTI_LENDING = (ML_OPEN, ML_OPEN4, ML_OPEN_OVERDUE, ML_APPS7, ML_APPS30)
    LENDER_VELOCITY = (NM_OUT7, NM_APPS30, NM_OUT30, LV3)
    """Not multi-lending, with 3 or more lenders first seen within 30 days (their history
    loans and applications are at other lenders)."""


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
    Profile.LV3: ((0, 29, 0), (1, 15, None), (2, 8, None)),
    Profile.LV_OUT31: ((0, 30, LAST), (1, 15, None), (2, 8, None)),
    Profile.LV2_OLD: ((0, 60, None), (1, 15, None), (0, 12, None), (2, 8, None)),
}  # fmt: skip
