"""A large core's drawing stays readable: on a ring of hundreds of members the drawing shows
the members that carry the exposure and the links, the shared nodes between them, and says
on the drawing how many members and how much exposure it leaves out; checked in headless
chromium too. A small ring's drawing is unchanged (tests/test_report.py)."""

from __future__ import annotations

import re
import struct

import networkx as nx
import pytest
from detect_fixtures import AS_OF, Builder, multi_lender
from xpg.queries.investigate.subgraph import GraphBuilder

import xpg
from xpg.report import svg

MEMBERS = 300
"""Members of the large ring: a chain of shared devices, every 20th member also on a
device shared by the next 15 (the link carriers)."""


def _outstanding(i: int) -> float:
    return 1_000.0 + (i * 7919) % 50_000  # spread, distinct-ish, deterministic


def _big_ring():
    b = Builder()
    for i in range(MEMBERS):
        u = f"m{i:03d}"
        multi_lender(b, u, outstanding=_outstanding(i))
        if i + 1 < MEMBERS:
            b.device(u, f"chain{i:03d}")
            b.device(f"m{i + 1:03d}", f"chain{i:03d}")
        if i % 20 == 0:
            for j in range(i, min(i + 15, MEMBERS)):
                b.device(f"m{j:03d}", f"shared{i:03d}")
    return b.build()


def _graph():
    g = GraphBuilder()
    for i in range(MEMBERS):
        g.user(f"m{i:03d}", exposure=_outstanding(i) if i < 25 else None)
    for i in range(0, MEMBERS, 20):
        g.link("device", f"shared{i:03d}")
        for j in range(i, min(i + 15, MEMBERS)):
            g.edge(f"m{j:03d}", "device", f"shared{i:03d}", "seen on")
    for i in range(MEMBERS - 1):
        g.link("device", f"chain{i:03d}")
        for j in (i, i + 1):
            g.edge(f"m{j:03d}", "device", f"chain{i:03d}", "seen on")
    return g.build()


def test_readable_keeps_the_exposure_and_the_link_carriers():
    sub = _graph()
    g = sub.to_networkx()
    money = {n: _outstanding(int(g.nodes[n]["label"][1:])) for n, d in g.nodes(data=True)
             if d["kind"] == "user"}
    part = svg.readable(g, money)
    users = [n for n, d in part.nodes(data=True) if d["kind"] == "user"]
    links = [n for n in part.nodes if n not in users]
    assert len(users) == svg.MAX_DRAWN_MEMBERS and len(links) <= svg.MAX_DRAWN_LINKS
    richest = sorted(money, key=lambda n: (-money[n], n))[: svg.MAX_DRAWN_MEMBERS // 2]
    assert set(richest) <= set(users)
    # every drawn shared node links two or more drawn members
    assert all(sum(m in users for m in part.neighbors(n)) >= 2 for n in links)
    # the rest are the link carriers: members of the 15-member devices (on two devices more)
    carriers = [n for n in users if n not in richest]
    assert all(any("shared" in m for m in g.neighbors(n)) for n in carriers)
    assert nx.utils.graphs_equal(part, svg.readable(g, money))  # the same part every time
    small = nx.path_graph(5)
    nx.set_node_attributes(small, "user", "kind")
    assert svg.readable(small, {}) is small  # a small graph is drawn whole


def test_the_drawing_says_what_it_leaves_out():
    sub = _graph()
    money = {n.id: _outstanding(int(n.label[1:])) for n in sub.nodes if n.kind == "user"}
    total = round(sum(money.values()), 2)
    drawing = svg.graph_drawing(sub, title="big", members=MEMBERS, exposure=total,
                                exposure_of=money)
    assert drawing.count("<circle") - 4 == svg.MAX_DRAWN_MEMBERS  # 4 in the legend
    part = svg.readable(sub.to_networkx(), money)
    shown = sum(money[n] for n in part.nodes if n in money)
    more = drawing[drawing.index('<g class="more">'):]
    lines = re.findall(r"<text[^>]*>([^<]*)</text>", more[:more.index("</g>")])
    hidden_links = sub.to_networkx().number_of_nodes() - MEMBERS - (
        part.number_of_nodes() - svg.MAX_DRAWN_MEMBERS)
    assert lines == [f"+{MEMBERS - svg.MAX_DRAWN_MEMBERS} more members, "
                     f"{svg._num(total - shown)} CNY exposure not drawn",
                     f"nor {hidden_links} shared devices, identifiers or lenders"]
    assert 'class="more"' not in svg.graph_drawing(sub, title="no totals")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    with xpg.open(dataset=_big_ring(), as_of=AS_OF) as s:
        return s.report(out, as_of=AS_OF, top_rings=1)


def test_a_ring_of_hundreds_on_the_page(report):
    (ring,) = [f for f in report.findings.findings if f.type == "ring"]
    assert len(ring.users) == MEMBERS
    page = (report.folder / "index.html").read_text()
    drawing = page[page.index('<svg class="graph"'):]
    drawing = drawing[:drawing.index("</svg>")]
    users = drawing.count('<g class="node user">')
    assert users == svg.MAX_DRAWN_MEMBERS
    exposure = sum(_outstanding(i) * 4 for i in range(MEMBERS))  # 4 loans each
    assert ring.exposure.total == pytest.approx(exposure)
    assert f"+{MEMBERS - users} more members, " in drawing
    assert "CNY exposure not drawn" in drawing
    # the 15 members of largest exposure are drawn
    top = sorted(range(MEMBERS), key=lambda i: (-_outstanding(i), i))[:15]
    for i in top:
        assert f"<title>m{i:03d} (" in drawing


@pytest.mark.browser
def test_the_large_ring_in_chromium(report, tmp_path):
    from test_browser import Elements, run_chromium

    page = report.folder / "index.html"
    done = run_chromium(["--dump-dom", page.as_uri()], tmp_path / "p")
    assert done.returncode == 0, done.stderr[-2000:]
    dom = Elements()
    dom.feed(done.stdout)
    assert dom.count("svg", "graph") == 1 and dom.count("g", "more") == 1
    assert dom.count("g", "user") == svg.MAX_DRAWN_MEMBERS
    assert any("more members" in t for t in dom.text)
    shot = tmp_path / "ring.png"
    done = run_chromium([f"--screenshot={shot}", "--window-size=1280,1600", "--hide-scrollbars",
                         page.as_uri() + f"#{report.findings.findings[0].id}"], tmp_path / "q")
    assert done.returncode == 0, done.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", data[16:24]) == (1280, 1600)
    assert len(data) > 30_000  # a page, not a blank
