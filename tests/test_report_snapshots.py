"""The report's diff on two generated snapshots with known changes between them.

Night 1 is a generated dataset. Night 2 is the same data with four planted changes:
an isolated user joins a ring through its shared device (the ring grew, keeps its id), a
lone multi-lender closes every loan (resolved), an isolated user takes loans at four lenders
(new), a freeze-inconsistency user's drawable line is raised (changed, exposure up).
Everything else must come out unchanged.
"""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pytest
from xpg.loaders.dataset import Dataset
from xpg.queries import detect

import xpg
from xpg.settings import load_settings
from xpg.synthetic import generate

pytestmark = pytest.mark.slow

CONFIG = load_settings(environ={}).detection


def isolated_users(ds: Dataset, flagged: set[str]) -> list[str]:
    """Users in no finding whose every device and identifier is theirs alone."""
    links = pl.concat([
        ds.devices.select("user_id", pl.lit("device").alias("kind"),
                          pl.col("device_id").alias("value")),
        ds.identifiers.select("user_id", "kind", "value"),
    ]).unique()
    shared = links.group_by("kind", "value").agg(pl.col("user_id").n_unique().alias("n")) \
        .filter(pl.col("n") > 1)
    touching = links.join(shared, on=["kind", "value"], how="semi").get_column("user_id")
    users = ds.users.get_column("user_id")
    return sorted(set(users.to_list()) - set(touching.to_list()) - flagged)


@pytest.fixture(scope="module")
def nights(tmp_path_factory):
    synthetic = generate(1500, seed=11)
    one = synthetic.dataset()
    as_of = one.latest_date()
    first = detect(one, CONFIG, as_of=as_of)
    by_user: dict[str, list] = {}
    for f in first.findings:
        for u in f.users:
            by_user.setdefault(u, []).append(f)
    flagged = set(by_user)
    spare = isolated_users(one, flagged)
    x, z = spare[0], spare[1]

    # a ring with a device shared by its members, and room for a non-multi-lending member
    ring = next(
        f for f in sorted(first.findings, key=lambda f: f.id)
        if f.type == "ring" and f.evidence.get("devices")
        and len(f.evidence["multi_lending_members"]) / (len(f.users) + 1) >= 0.5
        and one.devices.filter(pl.col("device_id") == f.evidence["devices"][0])
        .get_column("user_id").n_unique() < CONFIG.ring.hub_max_users
    )
    lone = next(f for f in first.findings if f.type == "multi_lending"
                and len(by_user[f.users[0]]) == 1)
    y = lone.users[0]
    frozen = next(f for f in first.findings if f.type == "freeze_inconsistency"
                  and not set(f.users) & set(ring.users))
    w = frozen.users[0]
    drawable_account = frozen.evidence["drawable_accounts"][0]["account_id"]

    t = one.tables()
    seen = dt.datetime.combine(as_of - dt.timedelta(days=10), dt.time(9))
    t["devices"] = pl.concat([t["devices"], pl.DataFrame(
        {"user_id": [x], "device_id": [ring.evidence["devices"][0]], "first_seen": [seen],
         "last_seen": [seen]}, schema=t["devices"].schema)], how="diagonal_relaxed")
    t["external_loans"] = t["external_loans"].with_columns(
        pl.when(pl.col("user_id") == y).then(pl.lit("closed")).otherwise(pl.col("status"))
        .alias("status"))
    t["applications"] = t["applications"].filter(pl.col("user_id") != y)
    lenders = t["lenders"].get_column("lender_id").sort().head(4).to_list()
    opened = as_of - dt.timedelta(days=5)
    t["external_loans"] = pl.concat([t["external_loans"], pl.DataFrame(
        {"user_id": [z] * 4, "lender_id": lenders, "opened_at": [opened] * 4,
         "amount": [5000.0] * 4, "outstanding": [5000.0] * 4, "status": ["open"] * 4},
        schema_overrides={"opened_at": pl.Date})], how="diagonal_relaxed")
    t["accounts"] = t["accounts"].with_columns(
        pl.when(pl.col("account_id") == drawable_account)
        .then(pl.col("credit_limit") + 10_000).otherwise(pl.col("credit_limit"))
        .alias("credit_limit"))
    two = Dataset(**t, present=one.present, source="night 2")

    out = tmp_path_factory.mktemp("reports")
    # both snapshots evaluated as of the same date (the generator's data ends there)
    with xpg.open(dataset=one, as_of=as_of) as s:
        r1 = s.report(out / "night-1")
    with xpg.open(dataset=two, as_of=as_of) as s:
        r2 = s.report(out / "night-2", previous=r1.folder)
    return {"r1": r1, "r2": r2, "ring": ring, "x": x, "y": y, "z": z, "w": w,
            "w_findings": {f.id for f in by_user[w]}, "first": first}


def test_counts_are_exactly_the_planted_changes(nights):
    r2 = nights["r2"]
    counts = r2.diff.counts()
    total = len(nights["first"].findings)
    changed = len(nights["w_findings"])
    assert counts == {"new": 1, "resolved": 1, "changed": changed, "grew": 1, "shrank": 0,
                      "reshaped": 0, "merged": 0, "split": 0,
                      "unchanged": total - 1 - 1 - changed}


def test_each_planted_change(nights):
    d = nights["r2"].diff
    (grew,) = d.of_kind("grew")
    assert grew.id == nights["ring"].id and grew.users_added == (nights["x"],)
    assert grew.detected_id != grew.id
    (new,) = d.of_kind("new")
    assert new.type == "multi_lending" and new.users_after == (nights["z"],)
    (gone,) = d.of_kind("resolved")
    assert gone.type == "multi_lending" and gone.users_before == (nights["y"],)
    for c in d.of_kind("changed"):
        assert c.id in nights["w_findings"] and c.exposure_change == "up"
        assert c.exposure_delta == pytest.approx(10_000.0)


def test_each_change_says_why(nights):
    d = nights["r2"].diff
    (grew,) = d.of_kind("grew")  # x joined through the device row planted tonight
    assert (grew.reason, grew.why) == (
        "link_added", "a device or identifier now links new members to the ring "
                      f"(1 member: {nights['x']} linked in)")
    (gone,) = d.of_kind("resolved")
    # every loan of the user closed; the user still has loans in the data
    assert gone.reason.split("+")[0] == "loans_closed"
    # w's drawable grew: every finding of w changed exposure; one whose severity follows
    # the amount at risk (linked_risk) may also change severity
    for c in d.of_kind("changed"):
        assert "exposure_changed" in c.reason.split("+")
        assert set(c.reason.split("+")) <= {"exposure_changed", "severity_changed"}
    assert {c.reason for c in d.of_kind("new", "unchanged")} == {""}
    changes = pl.read_csv(nights["r2"].folder / "changes.csv")
    assert changes.filter(pl.col("kind") == "grew").get_column("reason").to_list() == [
        "link_added"]


def test_files_carry_the_ring_id(nights):
    folder = nights["r2"].folder
    doc = json.loads((folder / "findings.json").read_text())
    ring = next(f for f in doc["findings"] if f["id"] == nights["ring"].id)
    assert nights["x"] in ring["users"] and ring["evidence"]["lineage"]["change"] == "grew"
    changes = pl.read_parquet(folder / "changes.parquet")
    assert changes.filter(pl.col("kind") == "grew").get_column("id").to_list() == [
        nights["ring"].id]
    assert json.loads((folder / "manifest.json").read_text())["changes"]["grew"] == 1
