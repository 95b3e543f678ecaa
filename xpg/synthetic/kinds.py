"""The catalogue of case kinds the synthetic generator plants (``docs/synthetic-data.md``)."""

from __future__ import annotations

from xpg.synthetic.builder import Builder
from xpg.synthetic.cases import FI, LD, LV, ML, RA, RING, CaseKind, case_count, lone
from xpg.synthetic.catalogue import Profile
from xpg.synthetic.cross import NOTES, TEMPLATES, cross
from xpg.synthetic.early import kinds as early_kinds
from xpg.synthetic.early import probes
from xpg.synthetic.groups import (
    RING_BEHIND_HUB,
    hub_boundary,
    plant_decoy,
    plant_decoy_under_half,
    plant_family,
    plant_hub_device,
    plant_hub_identifier,
    plant_nondefault,
    plant_pair,
    plant_ring_half,
    ring_planter,
)

__all__ = ["CASE_KINDS", "plant_all"]

# ---------------------------------------------------------------------------- the catalogue


def _k(name, expect, must_not, per_million, plant, description) -> CaseKind:
    return CaseKind(name, expect, must_not, per_million, plant, description)


CASE_KINDS: tuple[CaseKind, ...] = (
    # rings and their look-alikes
    _k("ring_star", RING, None, 1000, ring_planter("star", 3, 8),
       "3-8 users on one shared device, at least half of them multi-lenders"),
    _k("ring_chain", RING, None, 600, ring_planter("chain", 3, 7),
       "users chained u1-d1-u2-d2-u3..., at least half multi-lenders"),
    _k("ring_mixed", RING, None, 600, ring_planter("mixed", 4, 9),
       "a device group joined to a phone group through a shared bank card"),
    _k("ring_half", RING, None, 200, plant_ring_half,
       "4 or 6 users on a device, exactly half multi-lenders (the share's boundary)"),
    RING_BEHIND_HUB,
    _k("hub_boundary_20", RING, None, 10, hub_boundary(20),
       "20 distinct users (21 rows) on one device, 12 multi-lenders: not a hub, a ring"),
    _k("decoy_cluster", None, RING, 1000, plant_decoy,
       "3-8 users sharing devices (star or chain), fewer than half multi-lenders"),
    _k("decoy_just_under_half", None, RING, 200, plant_decoy_under_half,
       "5 or 7 users on a device with 2 or 3 multi-lenders (just under half)"),
    _k("pair_not_ring", None, RING, 300, plant_pair,
       "two multi-lenders on one device: too few for a ring"),
    _k("ring_via_nondefault_identifier", None, RING, 400, plant_nondefault,
       "3-6 multi-lenders linked only by an ip, address or email (not enabled by default)"),
    _k("family_device", None, RING, 10000, plant_family(False),
       "a household of 2-4 users sharing a device and an address, nobody multi-lending"),
    _k("family_with_multilender", None, RING, 1000, plant_family(True),
       "a household of 3-4 users sharing a device, one of them a multi-lender"),
    _k("hub_device", None, RING, 50, plant_hub_device,
       "a device shared by tens to hundreds of users, 60% multi-lenders: a hub, left out"),
    _k("hub_identifier", None, RING, 20, plant_hub_identifier,
       "a phone or bank card shared by 22-40 users, 60% multi-lenders: a hub, left out"),
    _k("hub_boundary_21", None, RING, 10, hub_boundary(21),
       "21 users on one device, 12 multi-lenders: a hub (more than 20), so no ring"),
    # lone multi-lenders and near misses
    _k("ml_open_lenders", ML, None, 8000, lone(Profile.ML_OPEN, "open loans at 4-7 lenders"),
       "open loans at 4-7 distinct lenders"),
    _k("ml_open_lenders_exactly_4", ML, None, 1000, lone(Profile.ML_OPEN4, "open loans at 4"),
       "open loans at exactly 4 distinct lenders (the boundary)"),
    _k("ml_open_and_overdue", ML, None, 1000,
       lone(Profile.ML_OPEN_OVERDUE, "3 open + 1 overdue lenders"),
       "open loans at 3 lenders and an overdue one at a 4th: overdue counts as open"),
    _k("ml_applications_7d", ML, None, 2000,
       lone(Profile.ML_APPS7, "3 lenders within 7 days"),
       "applications to 3 lenders on the 7-day window's first day (00:00:00), inside it and "
       "its last day (23:59:59)"),
    _k("ml_applications_30d", ML, None, 2000,
       lone(Profile.ML_APPS30, "6 lenders within 30 days"),
       "applications to 6 lenders within 30 days, the first on the window's first day"),
    _k("near_miss_open_lenders", None, ML, 1000, lone(Profile.NM_OPEN3, "5 open loans, 3 lenders"),
       "5 open loans at only 3 distinct lenders"),
    _k("near_miss_applications_7d", None, ML, 1000,
       lone(Profile.NM_APPS7, "4 applications, 2 lenders, 7 days"),
       "4 applications to only 2 distinct lenders within 7 days"),
    _k("near_miss_applications_30d", None, ML, 1000,
       lone(Profile.NM_APPS30, "5 lenders within 30 days"),
       "applications to 5 distinct lenders within 30 days (2 of them in the last 7)"),
    _k("near_miss_outside_7d", None, ML, 1000,
       lone(Profile.NM_OUT7, "3 lenders, one on day 8"),
       "3 lenders, one of them at 23:59:59 the day before the 7-day window"),
    _k("near_miss_outside_30d", None, ML, 1000,
       lone(Profile.NM_OUT30, "6 lenders, one on day 31"),
       "6 lenders, one of them at 23:59:59 the day before the 30-day window"),
    _k("near_miss_closed_loans", None, ML, 1000,
       lone(Profile.NM_CLOSED, "3 open lenders + closed/written-off"),
       "open loans at 3 lenders; closed and written-off loans at 3 others do not count"),
    # lender velocity (and the near misses of multi_lending above that are velocity users)
    _k("lv_three_new_lenders", LV, None, 1000,
       lone(Profile.LV3, "3 new lenders in 30 days"),
       "applications to 3 lenders new to the user within 30 days, the first on the window's "
       "first day (00:00:00): the threshold"),
    _k("lv_lookalike_day_31", None, LV, 500,
       lone(Profile.LV_OUT31, "3 lenders, the first on day 31"),
       "3 lenders, the first at 23:59:59 the day before the 30-day window: 2 new"),
    _k("lv_lookalike_old_lender", None, LV, 500,
       lone(Profile.LV2_OLD, "3 lenders in 30 days, one first seen 60 days ago"),
       "applications to 3 lenders within 30 days, one of them applied to 60 days ago: 2 new "
       "(the threshold minus one)"),
    _k("lv_lookalike_multi_lender", ML, None, 300,
       lone(Profile.ML_APPS7, "3 new lenders within 7 days"),
       "3 new lenders within 7 days: multi_lending, so no lender_velocity"),
    # linked risk
    *early_kinds(_k),
    # cross-product
    *(
        _k(name, (t.findings[0] if t.findings else None),
           None if t.findings else {"fi": FI, "ra": RA, "ld": LD}[name[:2]],
           800 if t.findings else 400, cross(name), NOTES[name])
        for name, t in TEMPLATES.items()
    ),
)  # fmt: skip


def plant_all(b: Builder) -> None:
    """Plant every case kind, in proportion to the number of users (at least one of each)."""
    for kind in CASE_KINDS:
        if kind.per_million:
            kind.plant(b, kind, case_count(kind, b.n))
    probes(b)
