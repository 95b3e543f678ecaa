"""The report page in a real headless browser (Debian's chromium): elements present, screenshot.

Skipped when chromium is not installed, except in CI (``CI=true``), where it
fails instead: ``.ci/run`` installs chromium before the tests.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import struct
import subprocess
from html.parser import HTMLParser

import polars as pl
import pytest
from investigation_data import AS_OF, dataset, tables
from processes import run_in_group
from xpg.loaders.dataset import Dataset

import xpg.api as api

pytestmark = pytest.mark.browser

FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("chromium is not installed (.ci/run installs it with apt-get)")
        pytest.skip("chromium is not installed")
    return path


def run_chromium(args: list[str], profile) -> subprocess.CompletedProcess[str]:
    """Run headless chromium in its own process group; the whole group (zygote, renderer,
    GPU helpers) is killed at the end or on a timeout, not just the main process."""
    cmd = [chromium(), *FLAGS, f"--user-data-dir={profile}", *args]
    return run_in_group(cmd, timeout=180)


class Elements(HTMLParser):
    """Tag, id and class of every element of a serialized DOM."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, str, str]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self.seen.append((tag, a.get("id") or "", a.get("class") or ""))

    def handle_data(self, data):
        self.text.append(data)

    def ids(self) -> set[str]:
        return {i for _, i, _ in self.seen if i}

    def count(self, tag: str, cls: str = "") -> int:
        return sum(1 for t, _, c in self.seen if t == tag and cls in c.split())


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    t = tables()  # the night before: u4 not yet on d2, so tonight the ring grew
    t["devices"] = t["devices"].filter(~((pl.col("user_id") == "u4")
                                         & (pl.col("device_id") == "d2")))
    with api.open(dataset=Dataset(**t, present=frozenset(t))) as s:
        s.report(out, as_of=AS_OF - dt.timedelta(days=1))
    with api.open(dataset=dataset()) as s:
        return s.report(out, previous="auto", as_of=AS_OF)


def test_the_page_renders_with_its_key_elements(report, tmp_path):
    done = run_chromium(["--dump-dom", (report.folder / "index.html").as_uri()], tmp_path / "p")
    assert done.returncode == 0, done.stderr[-2000:]
    dom = Elements()
    dom.feed(done.stdout)
    assert {"summary", "changes", "by-type", "rings", "inconsistencies", "charts", "findings",
            "files"} <= dom.ids()
    ring = next(f for f in report.findings.findings if f.type == "ring")
    assert ring.id in dom.ids()
    assert dom.count("svg", "graph") == 1 and dom.count("svg", "chart") == 5 + 3
    # two nights: the trends of findings, exposure and at risk (no decision: no precision)
    assert dom.count("svg", "trend") == 3 and "trends" in dom.ids()
    assert dom.count("div", "card") >= 7
    text = " ".join(dom.text)
    assert "xpg nightly report — 2026-11-20" in text
    assert "Rings that grew" in text and "4,000.00" in text


def test_screenshot(report, tmp_path):
    shot = tmp_path / "report.png"
    done = run_chromium([f"--screenshot={shot}", "--window-size=1280,2000",
                         "--hide-scrollbars", (report.folder / "index.html").as_uri()],
                        tmp_path / "p")
    assert done.returncode == 0, done.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1280, 2000)
    assert len(data) > 50_000  # a page, not a blank
