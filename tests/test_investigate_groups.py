"""Investigating large groups: the user view's group facts, the group summary and the
bounded ring view, on every backend with an investigation source (tests/investigation_data.py).

On the fixture, with ``max_group_users = 3`` and ``min_users = 2``, the chain u1..u4 is a
group of 4 (over 3: searched for cores) whose multi-lenders u1 and u2 share d1: a core
of 2 (a ring); u3 is in that large group but in no core; u5 -d3- u6 is a small group of 2
(judged whole, not a ring); u8's only device is first seen after the run date (a group
of 1). ``dhub`` (21 users) is a hub, ``d20`` (20 users) is not: u7's group is u7 and
h01..h19, with dhub cut next to it.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from decorator import INVESTIGATED, on_backends
from investigation_data import AS_OF, RING, dataset, findings
from xpg.queries.investigate import (
    FindingsIndex,
    MemorySource,
    group_from_links,
    investigate_group,
    investigate_ring,
    investigate_user,
)

from xpg.errors import InputError, NotFoundError
from xpg.settings import load_settings

CONFIG = load_settings(environ={}).detection
SMALL = dataclasses.replace(CONFIG, ring=dataclasses.replace(CONFIG.ring, max_group_users=3,
                                                             min_users=2))


@pytest.fixture
def loaded(backend):
    """(source, findings index of a detection with max_group_users = 3) on ``backend``."""
    ds = dataset()
    backend.load(ds)
    index = FindingsIndex(backend.findings(SMALL, as_of=AS_OF))
    return backend.investigations(ds), index


def core_of(index):
    (ring,) = [f for f in index.report.findings if f.type == "ring"]
    return ring


# ----------------------------------------------------------------------- user view


@on_backends(*INVESTIGATED)
def test_user_in_a_core(loaded):
    source, index = loaded
    ring = core_of(index)
    assert ring.users == ("u1", "u2") and ring.evidence["core"] is True
    v = investigate_user(source, index, SMALL, "u1")
    assert (v.group_users, v.in_core, v.core_ring) == (4, True, ring.id)
    assert json.loads(v.to_json())["core_ring"] == ring.id


@on_backends(*INVESTIGATED)
@pytest.mark.parametrize(("user", "size"), [("u3", 4), ("u5", 2), ("u8", 1), ("u7", 20),
                                            ("h20", 1)])
def test_user_in_no_core(loaded, user, size):
    source, index = loaded
    v = investigate_user(source, index, SMALL, user)
    assert (v.group_users, v.in_core, v.core_ring) == (size, False, None)
    assert v.to_dict()["group_users"] == size and v.to_dict()["in_core"] is False


@on_backends(*INVESTIGATED)
def test_absent_user(loaded):
    source, index = loaded
    for query in (investigate_user, investigate_group):
        with pytest.raises(NotFoundError):
            query(source, index, SMALL, "nobody")


# ---------------------------------------------------------------------- group view


@on_backends(*INVESTIGATED)
def test_group_of_a_core_member(loaded):
    source, index = loaded
    ring = core_of(index)
    v = investigate_group(source, index, SMALL, "u3")
    assert (v.users, v.judged, v.multi_lenders) == (4, "cores", 2)
    assert (v.rings_found, v.cores_found, v.rings_users) == (1, 1, 2)
    assert [(r.ring_id, r.core, r.users, r.has_user) for r in v.rings] == [
        (ring.id, True, 2, False)]
    assert v.rings_exposure == ring.exposure.total
    # u1 13,100 + u2 5,800 + u3 2,050 + u4 1,000 (tests/test_investigate.py)
    assert v.exposure.total == 21950.0
    assert [(h.label, h.users, h.members) for h in v.hubs] == [("dhub", 21, 1)]
    assert "u1" not in v.to_json()  # a summary: no member is listed


@on_backends(*INVESTIGATED)
def test_group_hub_counts_at_the_threshold(loaded):
    source, index = loaded
    v = investigate_group(source, index, SMALL, "u7")
    # d20 has 20 users: crossed; dhub has 21: cut, 19 of the group are on it
    assert (v.users, v.judged, v.hub_max_users) == (20, "cores", 20)
    assert (v.hubs_cut, [(h.label, h.users, h.members) for h in v.hubs]) == (
        1, [("dhub", 21, 19)])
    assert (v.rings_found, v.multi_lenders) == (0, 0)


@on_backends(*INVESTIGATED)
def test_group_judged_whole_up_to_max_group_users(loaded):
    source, index = loaded
    for limit, judged in ((3, "cores"), (4, "whole")):  # a group of 4
        config = dataclasses.replace(SMALL, ring=dataclasses.replace(SMALL.ring,
                                                                     max_group_users=limit))
        v = investigate_group(source, index, config, "u4")
        assert (v.users, v.judged, v.max_group_users) == (4, judged, limit)


@on_backends(*INVESTIGATED)
def test_group_of_a_small_group_and_of_one(loaded):
    source, index = loaded
    v = investigate_group(source, index, SMALL, "u5")
    assert (v.users, v.judged, v.hubs_cut, v.rings_found) == (2, "whole", 0, 0)
    one = investigate_group(source, index, SMALL, "u8")
    assert (one.users, one.hubs, one.exposure.total) == (1, (), 0.0)


def test_group_listing_is_bounded(tmp_path):
    source, index = MemorySource(dataset()), FindingsIndex(findings())
    v = investigate_group(source, index, CONFIG, "h01", limit=1)
    assert (v.users, v.hubs_cut, len(v.hubs)) == (20, 1, 1)
    with pytest.raises(InputError):
        investigate_group(source, index, CONFIG, "h01", limit=0)


# ------------------------------------------------------------------ the group hook


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """A generated mixed graph (a giant group) in the in-memory backend."""
    from xpg.graph.memory import MemoryBackend

    from xpg.synthetic import write

    ds = write(tmp_path_factory.mktemp("mixed") / "m", 2000, seed=4, shape="mixed").dataset()
    backend = MemoryBackend()
    backend.load(ds)
    return ds, backend


def test_breadth_first_groups_equal_the_detection_components(mixed):
    """The generic search (MemorySource) and the in-memory backend's components agree on
    every user of a mixed graph with a giant group."""
    ds, backend = mixed
    native, searched = backend.investigations(ds), MemorySource(ds)
    kinds, hub = ("device", *CONFIG.ring.identifier_kinds), CONFIG.ring.hub_max_users
    day = ds.latest_date()
    users = ds.users.get_column("user_id").to_list()
    rng = np.random.default_rng(4)
    sizes = set()
    every_link = searched._links_by_user.frame.lazy()  # what a stored state scans
    for u in rng.choice(users, 12, replace=False).tolist():
        a = native.group(u, day, kinds, hub)
        assert a.equals(searched.group(u, day, kinds, hub)), u
        assert a.equals(group_from_links(every_link, u, day, kinds, hub)), u
        sizes.add(a.height)
    assert max(sizes) > 1000  # the giant group was searched too


# ------------------------------------------------------------------ bounded ring view


@on_backends(*INVESTIGATED)
def test_ring_page_is_cut_by_exposure_with_totals_over_every_member(backend):
    ds = dataset()
    backend.load(ds)
    source, index = backend.investigations(ds), FindingsIndex(findings())
    rid = next(f.id for f in index.report.findings if f.type == "ring")
    full = investigate_ring(source, index, CONFIG, rid, limit=None)
    page = investigate_ring(source, index, CONFIG, rid, limit=2)
    assert [m.user_id for m in page.members] == ["u1", "u2"]  # 13,100 and 5,800
    assert (page.member_count, page.more_members, full.more_members) == (4, 2, 0)
    assert page.exposure == full.exposure and page.drawable_total == full.drawable_total
    assert (page.frozen_members, page.drawable_members) == (full.frozen_members,
                                                            full.drawable_members)
    assert (page.shared_devices_total, len(page.shared_devices)) == (2, 2)
    lenders = {x.lender_id: (x.members, x.borrowers) for x in page.lenders}
    assert lenders["L2"] == (("u1", "u2"), 3)  # u3 borrows there too, not listed
    assert [x.lender_id for x in page.lenders] == ["L2", "L1"]  # most borrowers first
    assert (page.lenders_total, full.lenders_total, len(full.lenders)) == (5, 5, 5)
    assert [m.user_id for m in full.members] == list(RING)


def test_a_paged_ring_lists_the_first_links_of_the_full_view(mixed):
    """The page reads only its nodes' degrees and takes the counts from the evidence: the
    same links, in the same order, as the full view, on every ring of a mixed graph."""
    ds, backend = mixed
    index = FindingsIndex(backend.findings(CONFIG))
    source = backend.investigations(ds)
    rings = [f.id for f in index.report.findings if f.type == "ring"]
    assert any(index.get(r).evidence.get("core") for r in rings)
    for rid in rings:
        full = investigate_ring(source, index, CONFIG, rid, limit=None)
        for limit in (1, 3, 10_000):
            page = investigate_ring(source, index, CONFIG, rid, limit=limit)
            assert page.shared_devices == full.shared_devices[:limit], (rid, limit)
            assert page.shared_identifiers == full.shared_identifiers[:limit], (rid, limit)
            assert (page.shared_devices_total, page.shared_identifiers_total) == (
                len(full.shared_devices), len(full.shared_identifiers))
            assert page.exposure == full.exposure
            assert [m.user_id for m in page.members] == [m.user_id for m in full.members][:limit]
