"""The report page with cases, in a real headless browser: the act-first list opens the
page (before the ring gallery), with the re-alerted finding, the drawable money at
user-scope freezes and the old open cases; a screenshot."""

from __future__ import annotations

import datetime as dt
import struct

import pytest
from investigation_data import AS_OF, RING, dataset
from test_browser import Elements, run_chromium
from xpg.queries.findings import stable_id

import xpg.api as api
from xpg.cases import open_case_store

pytestmark = pytest.mark.browser
RING_ID = stable_id("ring", list(RING))


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    with api.open(dataset=dataset()) as s:
        first = s.report(out, as_of=AS_OF - dt.timedelta(days=1))
    ring = next(f for f in first.findings.findings if f.id == RING_ID)
    store = open_case_store(None, out)
    old = dt.datetime(2026, 11, 1, 9)
    store.open(finding=ring, by="alice", at=old)
    # decided when the ring was smaller: tonight it is worse (severity and exposure)
    smaller = ring.__class__(**{**ring.__dict__, "severity": "medium",
                                "users": ring.users[:3]})
    store.decide(RING_ID, "false_positive", by="alice", finding=smaller, at=old)
    store.open(user="u7", by="bob", note="tip-off", at=old)
    store.close()
    with api.open(dataset=dataset()) as s:
        return s.report(out, previous="auto", as_of=AS_OF)


def test_act_first_opens_the_page(report, tmp_path):
    done = run_chromium(["--dump-dom", (report.folder / "index.html").as_uri()], tmp_path / "p")
    assert done.returncode == 0, done.stderr[-2000:]
    dom = Elements()
    dom.feed(done.stdout)
    sections = [i for t, i, _ in dom.seen if t == "section"]
    assert sections[0] == "act-first" and sections.index("act-first") < sections.index("rings")
    text = " ".join(dom.text)
    assert "Act first" in text
    assert "Drawable at user-scope freezes: 4,000.00 CNY" in text
    assert "open case(s) 7 days old or more" in text and "user:u7" in text
    assert report.cases["findings"][RING_ID]["state"] == "realerted"
    assert RING_ID in dom.ids() or RING_ID in text
    assert "gained 1 member(s) since the decision: u4" in text
    assert "Tonight: 0 new, 1 re-alerted" in " ".join(text.split())


def test_screenshot_with_cases(report, tmp_path):
    shot = tmp_path / "report.png"
    done = run_chromium([f"--screenshot={shot}", "--window-size=1280,1400",
                         "--hide-scrollbars", (report.folder / "index.html").as_uri()],
                        tmp_path / "p")
    assert done.returncode == 0, done.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (1280, 1400)
    assert len(data) > 30_000
