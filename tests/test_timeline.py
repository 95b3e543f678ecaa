"""A user's cross-product timeline: events of both products, loans, applications and the
findings of each stored night, in order with their reasons; memory and Neo4j alike."""

from __future__ import annotations

import json

import pytest
from decorator import INVESTIGATED, on_backends
from detect_fixtures import AS_OF, Builder, at, day
from xpg.queries.findings import FindingsReport
from xpg.queries.investigate.timeline import user_timeline

import xpg
from xpg.errors import NotFoundError
from xpg.settings import DetectionConfig


def data():
    b = Builder()
    b.account("h1", "u1", "huabei", limit=50, opened_at=day(-300))
    b.account("j1", "u1", "jiebei", limit=20_000, opened_at=day(-200))
    b.event("h1", at(-10, 9), "limit_change", old=8_000, new=50, reason="risk_control")
    b.event("j1", at(-8), "limit_change", old=10_000, new=20_000, reason="usage_growth")
    b.event("j1", at(-40), "freeze", reason="overdue")
    b.event("j1", at(-30), "unfreeze", reason="repaid")
    b.loan("u1", "L1", opened_at=day(-5), amount=3_000, outstanding=3_000)
    b.loan("u1", "L0", opened_at=day(-500), status="closed", outstanding=0,
           closed_at=day(-100))
    b.application("u1", "L2", at(-3, 15), outcome="rejected")
    b.application("u1", "L9", at(2))  # after the run date: not there
    b.account("x1", "u2", "huabei")
    return b.build()


@on_backends(*INVESTIGATED)
def test_the_story_in_order_with_its_reasons(backend):
    ds = data()
    backend.load(ds)
    report = backend.detect(DetectionConfig(), as_of=AS_OF)
    view = user_timeline(backend.investigations(ds), "u1", AS_OF, [report])
    kinds = [e.kind for e in view.entries]
    assert kinds == ["loan_opened", "account_opened", "account_opened", "loan_closed",
                     "freeze", "unfreeze", "limit_cut", "limit_raise", "loan_opened",
                     "application", "finding"]
    cut = view.entries[6]
    assert (cut.product, cut.reason) == ("huabei", "risk_control")
    assert cut.what == "huabei account h1 limit cut from 8,000.00 to 50.00 (-99%)"
    assert view.entries[4].what == "jiebei account j1 frozen"
    finding = view.entries[-1]
    assert finding.what.startswith("limit_divergence finding ")
    assert "cut from 8,000 CNY to 50 CNY" in finding.reason
    assert view.nights == (AS_OF.isoformat(),)
    with pytest.raises(NotFoundError):
        user_timeline(backend.investigations(ds), "nobody", AS_OF)


def test_the_findings_of_each_stored_night(tmp_path, capsys):
    from xpg.cli import main

    with xpg.open(dataset=data(), as_of=AS_OF) as s:
        today = s.findings()
    earlier = FindingsReport(as_of=day(-1), findings=today.findings, summary=today.summary)
    for report in (earlier, today):
        folder = tmp_path / "reports" / report.as_of.isoformat()
        folder.mkdir(parents=True)
        (folder / "findings.json").write_text(report.to_json(), "utf-8")
    with xpg.open(dataset=data(), as_of=AS_OF) as s:
        view = s.timeline("u1", reports=tmp_path / "reports")
    assert view.nights == (day(-1).isoformat(), AS_OF.isoformat())
    assert [e.at for e in view.entries if e.kind == "finding"] == [
        day(-1).isoformat(), AS_OF.isoformat()]
    # the JSON of the CLI
    from test_screen import write_folder

    data_dir = write_folder(data(), tmp_path / "data")
    assert main(["query", "user", "u1", "--data", str(data_dir), "--timeline", "--format",
                 "json", "--reports", str(tmp_path / "reports"), "--as-of", AS_OF.isoformat()]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["user_id"] == "u1" and len(out["nights"]) == 2
    assert main(["query", "user", "u1", "--data", str(data_dir), "--timeline"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("Timeline of u1 as of") and "risk_control" in text


def test_the_timeline_route(tmp_path):
    from fastapi.testclient import TestClient

    from xpg.serve import create_app

    key = "k" * 24
    with xpg.open(dataset=data(), as_of=AS_OF, read_only=True) as s:
        c = TestClient(create_app(s, api_keys=[key]), raise_server_exceptions=False)
        r = c.get("/v1/users/u1/timeline", headers={"X-API-Key": key})
        assert r.status_code == 200
        assert [e["kind"] for e in r.json()["entries"]][-1] == "finding"
        assert c.get("/v1/users/nobody/timeline", headers={"X-API-Key": key}
                     ).status_code == 404
