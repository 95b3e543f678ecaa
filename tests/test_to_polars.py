"""Findings, exposure and a ring's members as Polars frames, as the report's Parquet files
hold them."""

from __future__ import annotations

import polars as pl
import pytest
from investigation_data import AS_OF, RING, dataset
from polars.testing import assert_frame_equal
from xpg.queries.tables import exposure_frame

import xpg


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    with xpg.open(dataset=dataset()) as s:
        result = s.report(tmp_path_factory.mktemp("reports"), as_of=AS_OF)
        return result, s.findings(AS_OF), s.exposure(AS_OF), s.ring(
            next(f.id for f in s.findings(AS_OF).findings if f.type == "ring"), limit=100,
            as_of=AS_OF)


def test_findings_to_polars_is_findings_parquet(written):
    result, findings, _, _ = written
    frame = findings.to_polars()
    assert frame.height == len(findings.findings) and frame["change"].null_count() == frame.height
    assert_frame_equal(frame, pl.read_parquet(result.folder / "findings.parquet"))
    assert_frame_equal(findings.users_to_polars(),
                       pl.read_parquet(result.folder / "finding_users.parquet"))
    ring = frame.filter(pl.col("type") == "ring").row(0, named=True)
    assert ring["users"] == " ".join(RING) and ring["user_count"] == len(RING)


def test_exposure_is_exposure_parquet(written):
    result, findings, exposure, _ = written
    assert isinstance(exposure, pl.DataFrame)
    assert_frame_equal(exposure_frame(findings, exposure),
                       pl.read_parquet(result.folder / "exposure.parquet"))


def test_a_rings_members_to_polars(written):
    _, _, exposure, ring = written
    members = ring.to_polars()
    assert members.height == ring.member_count == len(RING)
    assert sorted(members["user_id"].to_list()) == sorted(RING)
    assert members.columns[:6] == ["user_id", "multi_lending", "freeze_state",
                                   "frozen_products", "drawable_products", "findings"]
    assert members.schema["findings"] == pl.List(pl.String)
    # each member's amounts are that user's row of the exposure frame
    joined = members.join(exposure, on="user_id", suffix="_all")
    for amount in ("total", "internal_limit", "drawable", "external_outstanding"):
        assert joined[amount].round(2).to_list() == joined[f"{amount}_all"].round(2).to_list()
    assert members["total"].sum() == pytest.approx(ring.exposure.total)
