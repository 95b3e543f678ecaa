"""The detections against the generator's truth: every planted case found, nothing else.

On generated data of a few sizes and seeds, under the default configuration:
every finding a planted case lists is found (rings with exactly the planted
members), no look-alike is flagged with the type it resembles, and there is
no finding beyond the planted ones (ordinary users never trigger anything).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from xpg.queries import detect

from xpg.settings import load_settings
from xpg.synthetic import generate, write

SIZES = [(300, 1), (300, 2), (2_000, 3), (20_000, 4)]


def _expected(truth: dict) -> dict[tuple[str, tuple[str, ...]], str]:
    """(finding type, users) -> the id of the case that planted it."""
    out = {}
    for case in truth["cases"]:
        for f in case.get("findings", []):
            out[(f["type"], tuple(f["users"]))] = case["id"]
    return out


def _check(report, truth: dict) -> None:
    expected = _expected(truth)
    found = {(f.type, tuple(f.users)): f for f in report.findings}
    missing = sorted(f"{case} {key[0]} {list(key[1])}" for key, case in expected.items()
                     if key not in found)  # fmt: skip
    assert not missing, f"{len(missing)} planted findings not found: {missing[:10]}"
    owner = {u: c["id"] for c in truth["cases"] for u in c["users"]}
    extra = sorted(f"{key[0]} {list(key[1])[:4]} (case {owner.get(key[1][0], 'ordinary')})"
                   for key in found if key not in expected)  # fmt: skip
    assert not extra, f"{len(extra)} findings beyond the planted ones: {extra[:10]}"
    # look-alikes: none of their users is in a finding of the type they resemble, except
    # findings another case plants (the ring behind a hub)
    for case in truth["cases"]:
        if case["expect"] is None and case.get("must_not"):
            members = set(case["users"])
            for (typ, users), f in found.items():
                if typ == case["must_not"] and members & set(users):
                    assert (typ, users) in expected, (case["id"], f.id)
    # details: the exposure at risk, and the ring's shared devices in its evidence
    for case in truth["cases"]:
        if "at_risk" in case:
            f = found[("freeze_inconsistency", tuple(case["users"]))]
            assert f.exposure.at_risk == pytest.approx(case["at_risk"], abs=0.01), case["id"]
        if case["expect"] == "ring" and "devices" in case:
            f = found[("ring", tuple(case["users"]))]
            assert set(case["devices"]) <= set(f.evidence.get("devices", [])), case["id"]


@pytest.mark.parametrize(("users", "seed"), SIZES, ids=[f"{u}u-s{s}" for u, s in SIZES])
def test_detections_find_exactly_the_planted_cases(users, seed):
    synthetic = generate(users, seed)
    truth = synthetic.truth
    config = load_settings(environ={}).detection
    report = detect(synthetic.dataset(), config, as_of=dt.date.fromisoformat(truth["as_of"]))
    _check(report, truth)
    by_type = Counter(f.type for f in report.findings)
    assert set(by_type) == {
        "multi_lending", "ring", "freeze_inconsistency", "restored_after_freeze",
        "limit_divergence", "linked_risk", "lender_velocity",
    }  # fmt: skip


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_the_same_through_files_and_the_loader(tmp_path, fmt):
    """Written, loaded and validated, with the run date taken from the data."""
    from xpg.loaders import load_dataset

    synthetic = write(tmp_path / "data", 2_000, seed=8, fmt=fmt)
    loaded = load_dataset(tmp_path / "data")
    report = detect(loaded.dataset, load_settings(environ={}).detection)
    assert report.as_of.isoformat() == synthetic.truth["as_of"]
    _check(report, synthetic.truth)
    in_memory = detect(synthetic.dataset(), load_settings(environ={}).detection)
    assert [f.id for f in report.findings] == [f.id for f in in_memory.findings]
