"""ring: connected groups over shared devices/identifiers, hubs left out; exact findings."""

from __future__ import annotations

import dataclasses

from decorator import on_backends
from detect_fixtures import AS_OF, Builder, at, multi_lender
from xpg.queries.findings import stable_id
from xpg.queries.rules.ring import RingConfig

from xpg.settings import DetectionConfig

CONFIG = DetectionConfig()


def with_ring(**changes):
    return dataclasses.replace(CONFIG, ring=dataclasses.replace(RingConfig(), **changes))


def rings(report):
    return {f.users: f for f in report.findings if f.type == "ring"}


@on_backends()
def test_three_users_on_one_device_two_multi_lending(backend):
    b = Builder()
    for u in ("u1", "u2", "u3"):
        b.device(u, "d9")
    multi_lender(b, "u1", outstanding=10_000)
    multi_lender(b, "u2", prefix="N", outstanding=5_000)
    b.loan("u3", "M1", outstanding=1_200)
    b.account("a3", "u3", "huabei", limit=30_000, outstanding=0)
    b.device("u1", "d-own")  # a device of one member only is not "shared"
    b.device("x", "d-other").device("y", "d-other")  # a pair elsewhere: no ring
    backend.load(b.build())
    found = rings(backend.detect(CONFIG, as_of=AS_OF))
    assert list(found) == [("u1", "u2", "u3")]
    f = found[("u1", "u2", "u3")]
    assert f.id == stable_id("ring", ["u3", "u1", "u2"])
    assert f.exposure.total == 40_000 + 20_000 + 1_200 + 30_000
    assert f.exposure.external_outstanding == 61_200
    assert f.exposure.drawable == 30_000
    assert f.evidence["devices"] == ["d9"]
    assert f.evidence["identifiers"] == []
    assert f.evidence["multi_lending_members"] == ["u1", "u2"]
    assert f.evidence["lenders"] == ["M1", "M2", "M3", "M4", "N1", "N2", "N3", "N4"]
    assert f.evidence["lender_members"]["M1"] == 2 and f.evidence["lender_members"]["N1"] == 1
    assert f.explanation == (
        "3 users share device d9; 2 of 3 are multi-lending; they borrow from 8 lenders; "
        "exposure 91,200 CNY."
    )


@on_backends()
def test_min_users_three_vs_two(backend):
    b = Builder()
    b.device("u1", "d1").device("u2", "d1")
    multi_lender(b, "u1")
    multi_lender(b, "u2")
    backend.load(b.build())
    assert rings(backend.detect(CONFIG, as_of=AS_OF)) == {}
    assert list(rings(backend.detect(with_ring(min_users=2), as_of=AS_OF))) == [("u1", "u2")]


@on_backends()
def test_exactly_half_multi_lending_is_a_ring_less_is_not(backend):
    b = Builder()
    for u in ("h1", "h2", "h3", "h4"):
        b.device(u, "dh")
    multi_lender(b, "h1")
    multi_lender(b, "h2")
    for u in ("l1", "l2", "l3"):
        b.device(u, "dl")
    multi_lender(b, "l1")
    backend.load(b.build())
    found = rings(backend.detect(CONFIG, as_of=AS_OF))
    assert list(found) == [("h1", "h2", "h3", "h4")]
    assert found[("h1", "h2", "h3", "h4")].evidence["multi_lending_share"] == 0.5


def hub_dataset(n_users):
    """n users on device `tablet`, the first half of them multi-lending."""
    b = Builder()
    users = [f"u{i:02d}" for i in range(n_users)]
    for i, u in enumerate(users):
        b.device(u, "tablet")
        if i < (n_users + 1) // 2:
            multi_lender(b, u, outstanding=100)
    return b.build(), users


@on_backends()
def test_a_device_of_20_users_is_not_a_hub(backend):
    ds, users = hub_dataset(20)
    backend.load(ds)
    found = rings(backend.detect(CONFIG, as_of=AS_OF))
    assert list(found) == [tuple(users)]
    assert found[tuple(users)].evidence["devices"] == ["tablet"]


@on_backends()
def test_a_device_of_21_users_is_a_hub(backend):
    ds, _ = hub_dataset(21)
    backend.load(ds)
    assert rings(backend.detect(CONFIG, as_of=AS_OF)) == {}
    assert rings(backend.detect(with_ring(hub_max_users=21), as_of=AS_OF)) != {}


@on_backends()
def test_a_hub_does_not_join_two_rings(backend):
    b = Builder()
    for u in ("a1", "a2", "a3"):
        b.device(u, "da")
        multi_lender(b, u)
    for u in ("b1", "b2", "b3"):
        b.device(u, "db")
        multi_lender(b, u)
    b.device("a1", "emulator").device("b1", "emulator")
    for i in range(19):
        b.device(f"x{i:02d}", "emulator")  # 21 users in all
    backend.load(b.build())
    found = rings(backend.detect(CONFIG, as_of=AS_OF))
    assert set(found) == {("a1", "a2", "a3"), ("b1", "b2", "b3")}
    assert found[("a1", "a2", "a3")].evidence["devices"] == ["da"]


@on_backends()
def test_a_chain_of_devices_is_one_ring(backend):
    b = Builder()
    b.device("u1", "d1").device("u2", "d1").device("u2", "d2").device("u3", "d2")
    b.device("u3", "d3").device("u4", "d3")
    for u in ("u1", "u2"):
        multi_lender(b, u)
    backend.load(b.build())
    found = rings(backend.detect(CONFIG, as_of=AS_OF))
    assert list(found) == [("u1", "u2", "u3", "u4")]
    f = found[("u1", "u2", "u3", "u4")]
    assert f.evidence["devices"] == ["d1", "d2", "d3"]
    assert f.explanation.startswith(
        "4 users are linked through device d1, device d2 and device d3;"
    )


@on_backends()
def test_identifier_kinds_enabled_and_disabled(backend):
    b = Builder()
    for u in ("p1", "p2", "p3"):
        b.identifier(u, "phone", "13800001111")
        multi_lender(b, u)
    for u in ("i1", "i2", "i3"):
        b.identifier(u, "ip", "10.0.0.1")
        multi_lender(b, u)
    for u in ("c1", "c2", "c3"):
        b.identifier(u, "bank_card", "6222020200112233")
        multi_lender(b, u)
    backend.load(b.build())
    found = rings(backend.detect(CONFIG, as_of=AS_OF))
    assert set(found) == {("p1", "p2", "p3"), ("c1", "c2", "c3")}
    assert found[("p1", "p2", "p3")].evidence["identifiers"] == ["phone:13800001111"]
    # bank cards are masked in evidence and explanation
    card = found[("c1", "c2", "c3")]
    assert card.evidence["identifiers"] == ["bank_card:****2233"]
    assert "6222020200112233" not in card.to_dict().__repr__()
    assert card.explanation.startswith("3 users share bank_card ****2233;")
    only_ip = with_ring(identifier_kinds=("ip",))
    assert set(rings(backend.detect(only_ip, as_of=AS_OF))) == {("i1", "i2", "i3")}
    assert rings(backend.detect(with_ring(identifier_kinds=()), as_of=AS_OF)) == {}


@on_backends()
def test_identifier_values_of_different_kinds_are_different_nodes(backend):
    b = Builder()
    b.identifier("u1", "phone", "123456").identifier("u2", "phone", "123456")
    b.identifier("u3", "id_number", "123456")  # same value, another kind
    for u in ("u1", "u2", "u3"):
        multi_lender(b, u)
    backend.load(b.build())
    assert rings(backend.detect(CONFIG, as_of=AS_OF)) == {}
    assert list(rings(backend.detect(with_ring(min_users=2), as_of=AS_OF))) == [("u1", "u2")]


@on_backends()
def test_links_first_seen_after_the_run_date_do_not_count(backend):
    b = Builder()
    b.device("u1", "d1", first_seen=at(-30)).device("u2", "d1", first_seen=at(0, 23))
    b.device("u3", "d1", first_seen=at(1, 0))
    b.device("u3", "d1", first_seen=None)  # ... but another row without a date: it counts
    b.device("u4", "d1", first_seen=at(1))  # only after as_of
    for u in ("u1", "u2", "u3", "u4"):
        multi_lender(b, u)
    backend.load(b.build())
    assert list(rings(backend.detect(CONFIG, as_of=AS_OF))) == [("u1", "u2", "u3")]


@on_backends()
def test_hub_counts_only_links_existing_at_the_run_date(backend):
    ds, users = hub_dataset(20)
    b = Builder()
    b.device("late", "tablet", first_seen=at(5))  # the 21st user arrives after as_of
    late = b.build()
    merged = dataclasses.replace(
        ds,
        users=ds.users.vstack(late.users),
        devices=ds.devices.vstack(late.devices),
    )
    backend.load(merged)
    assert list(rings(backend.detect(CONFIG, as_of=AS_OF))) == [tuple(users)]
