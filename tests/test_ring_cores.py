"""Contract v2 rings end to end: a core of a large group as a ring finding (evidence,
wording), its identity across nights (the report's carry-forward) and its report card."""

from __future__ import annotations

import dataclasses

import pytest
from detect_fixtures import AS_OF, Builder, multi_lender
from xpg.queries.detections import detect
from xpg.queries.diff import diff_reports
from xpg.queries.rules.ring import RingConfig

import xpg
from xpg.report.html import _core_note
from xpg.settings import DetectionConfig


def _night(core: list[str], *, chain_users: int = 60, whole: int = 0) -> Builder:
    """A chain of ``chain_users`` non-multi-lenders with the multi-lending ``core`` on
    device ``dx`` hanging off it (one group of ``chain_users + len(core)``), and a
    separate all-multi-lending group of ``whole`` users on device ``dw``."""
    b = Builder()
    ids = [f"c{i:02d}" for i in range(chain_users)]
    for i in range(chain_users - 1):
        b.device(ids[i], f"d{i}").device(ids[i + 1], f"d{i}")
    b.device(ids[0], "dlink").device(core[0], "dlink")
    for u in core:
        multi_lender(b, u)
        b.device(u, "dx")
    for i in range(whole):
        multi_lender(b, f"w{i}", prefix="W")
        b.device(f"w{i}", "dw")
    return b


def _rings(b: Builder, config: DetectionConfig | None = None):
    report = detect(b.build(), config or DetectionConfig(), as_of=AS_OF)
    return report, [f for f in report.findings if f.type == "ring"]


def test_a_core_of_a_large_group_is_a_ring_and_says_so():
    _, rings = _rings(_night(["x1", "x2", "x3", "x4"], whole=3))
    by_users = {f.users: f for f in rings}
    assert set(by_users) == {("x1", "x2", "x3", "x4"), ("w0", "w1", "w2")}
    core = by_users["x1", "x2", "x3", "x4"]
    assert core.evidence["core"] is True and core.evidence["group_users"] == 64
    assert core.evidence["devices"] == ["dx"]  # dlink joins one multi-lender only
    assert core.explanation.startswith(
        "4 of the multi-lending members of a 64-user connected group share device dx; "
        "they borrow from 4 lenders; exposure ")
    whole = by_users["w0", "w1", "w2"]
    assert "core" not in whole.evidence and "group_users" not in whole.evidence
    assert whole.explanation.startswith("3 users share device dw; 3 of 3 are multi-lending")


def test_max_group_users_decides_whole_or_searched():
    b = _night(["x1", "x2", "x3"], chain_users=47)  # a group of exactly 50: judged whole
    assert not _rings(b)[1]  # 3 multi-lenders of 50: no ring
    ring = dataclasses.replace(RingConfig(), max_group_users=49)
    _, rings = _rings(b, dataclasses.replace(DetectionConfig(), ring=ring))
    assert [(f.users, f.evidence["group_users"]) for f in rings] == [(("x1", "x2", "x3"), 50)]


def test_max_group_users_is_validated():
    with pytest.raises(ValueError, match="max_group_users"):
        RingConfig(max_group_users=2, min_users=3)
    with pytest.raises(ValueError, match="max_group_users"):
        RingConfig(max_group_users=1)


@pytest.mark.parametrize(
    ("tonight", "kind"),
    [(["x1", "x2", "x3", "x4", "x5"], "grew"), (["x1", "x2", "x3"], "shrank"),
     (["x1", "x2", "x3", "x9"], "reshaped"), (["x1", "x2", "x3", "x4"], "unchanged")],
)  # fmt: skip
def test_a_core_keeps_its_id_across_nights_as_groups_do(tonight, kind):
    before, rings = _rings(_night(["x1", "x2", "x3", "x4"]))
    after, _ = _rings(_night(tonight))
    diff = diff_reports(before, after)
    ring = [c for c in diff.changes if c.type == "ring"]
    assert [(c.kind, c.id) for c in ring] == [(kind, rings[0].id)]
    carried = [f for f in diff.apply(after).findings if f.type == "ring"]
    assert [f.id for f in carried] == [rings[0].id]
    assert carried[0].evidence["core"] is True


def test_the_report_card_says_when_a_ring_is_a_core(tmp_path):
    _, rings = _rings(_night(["x1", "x2", "x3", "x4"], whole=3))
    notes = {f.users: _core_note(f.evidence) for f in rings}
    assert "Multi-lending core</b> of a connected group of 64 users" in notes[
        "x1", "x2", "x3", "x4"]
    assert notes["w0", "w1", "w2"] == ""
    with xpg.open(dataset=_night(["x1", "x2", "x3", "x4"], whole=3).build(), as_of=AS_OF) as s:
        page = (s.report(tmp_path).folder / "index.html").read_text("utf-8")
    assert page.count("Multi-lending core</b> of a connected group of 64 users") == 1
