"""Inline SVG for the report: stacked bar charts, column charts, line charts over the nights,
and drawings of small subgraphs.

Everything is plain SVG markup (no script, no external reference), with every
piece of data escaped, so the page works offline and from a mail attachment.
Layouts of subgraphs are computed in Python with networkx (a seeded
force-directed layout), so the drawing of the same ring is the same on every
run.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from html import escape

import networkx as nx

from xpg.queries.investigate import Subgraph

__all__ = [
    "MAX_DRAWN_LINKS",
    "MAX_DRAWN_MEMBERS",
    "SEVERITY_COLOURS",
    "column_chart",
    "graph_drawing",
    "line_chart",
    "readable",
    "stacked_bar_chart",
]

SEVERITY_COLOURS = {
    "critical": "#b3261e",
    "high": "#e8710a",
    "medium": "#f2b705",
    "low": "#7b8a97",
}
_FREEZE_COLOURS = {
    "partly_frozen": "#d93025",  # frozen somewhere, still drawable elsewhere
    "frozen": "#80868b",
    "drawable": "#f29900",
    "none": "#4e79a7",
}
_KIND_COLOURS = {"device": "#188038", "identifier": "#9334e6", "lender": "#1967d2"}
_FONT = "font-family:system-ui,-apple-system,'Segoe UI',sans-serif"


def _e(x: object) -> str:
    return escape(str(x), quote=True)


def _num(v: float) -> str:
    """Compact figure: 950, 12.3k, 4.5M."""
    a = abs(v)
    if a >= 1e9:
        return f"{v / 1e9:.1f}B"
    if a >= 1e6:
        return f"{v / 1e6:.1f}M"
    if a >= 1e4:
        return f"{v / 1e3:.0f}k"
    if a >= 1e3:
        return f"{v / 1e3:.1f}k"
    return f"{v:.0f}" if float(v).is_integer() else f"{v:.2f}"


def _open(width: int, height: int, title: str, css_class: str) -> list[str]:
    return [
        f'<svg class="{css_class}" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" role="img" aria-label="{_e(title)}" style="{_FONT}">',
        f"<title>{_e(title)}</title>",
    ]


def _empty(title: str, width: int) -> str:
    parts = _open(width, 40, title, "chart empty")
    parts.append(f'<text x="8" y="24" font-size="13" fill="#5f6368">{_e(title)}: no data</text>')
    return "".join([*parts, "</svg>"])


def stacked_bar_chart(
    rows: Sequence[tuple[str, Mapping[str, float]]],
    *,
    title: str,
    order: Sequence[str],
    colours: Mapping[str, str],
    width: int = 560,
    label_width: int = 170,
) -> str:
    """Horizontal stacked bars: one row per label, one segment per key of ``order``."""
    if not rows or not any(sum(v.values()) for _, v in rows):
        return _empty(title, width)
    bar_h, gap, top = 20, 6, 26
    height = top + len(rows) * (bar_h + gap) + 30
    peak = max(sum(v.values()) for _, v in rows) or 1
    room = width - label_width - 50
    parts = _open(width, height, title, "chart stacked")
    parts.append(f'<text x="0" y="16" font-size="13" font-weight="600">{_e(title)}</text>')
    for i, (label, values) in enumerate(rows):
        y = top + i * (bar_h + gap)
        parts.append(f'<text x="{label_width - 6}" y="{y + 14}" font-size="12" '
                     f'text-anchor="end">{_e(label)}</text>')
        x = float(label_width)
        for key in order:
            v = values.get(key, 0)
            if not v:
                continue
            w = room * v / peak
            parts.append(f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{bar_h}" '
                         f'fill="{colours.get(key, "#999")}"><title>{_e(label)}, {_e(key)}: '
                         f"{_e(_num(v))}</title></rect>")
            x += w
        parts.append(f'<text x="{x + 4:.1f}" y="{y + 14}" font-size="12">'
                     f"{_e(_num(sum(values.values())))}</text>")
    y = top + len(rows) * (bar_h + gap) + 12
    x = float(label_width)
    for key in order:
        parts.append(f'<rect x="{x:.0f}" y="{y - 10}" width="12" height="12" '
                     f'fill="{colours.get(key, "#999")}"/><text x="{x + 16:.0f}" y="{y}" '
                     f'font-size="12">{_e(key)}</text>')
        x += 26 + 7 * len(key)
    parts.append("</svg>")
    return "".join(parts)


def _y_axis(peak: float, whole: bool, fmt: Callable[[float], str], *, left: float,
            right: float, top: float, plot_h: float) -> list[str]:
    """The y axis' grid lines and labels: 0, about half, the peak (whole numbers when the
    values are counts: ``whole``)."""
    ticks = sorted({0.0, float(round(peak / 2)), peak}) if whole else [0.0, peak / 2, peak]
    out = []
    for tick in ticks:
        y = top + plot_h * (1 - tick / peak)
        out.append(f'<line x1="{left}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}" '
                   f'stroke="#dadce0" stroke-width="1"/><text x="{left - 4}" y="{y + 4:.1f}" '
                   f'font-size="11" text-anchor="end">{_e(fmt(tick))}</text>')
    return out


def column_chart(
    items: Sequence[tuple[str, float]],
    *,
    title: str,
    x_label: str,
    y_label: str,
    width: int = 560,
    height: int = 240,
    colour: str = "#1967d2",
) -> str:
    """Vertical columns over ordered categories (a histogram of pre-binned counts)."""
    if not items or not any(v for _, v in items):
        return _empty(title, width)
    left, right, top, bottom = 48, 8, 28, 48
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max(v for _, v in items) or 1
    step = plot_w / len(items)
    parts = _open(width, height, title, "chart columns")
    parts.append(f'<text x="0" y="16" font-size="13" font-weight="600">{_e(title)}</text>')
    parts += _y_axis(float(peak), all(float(v).is_integer() for _, v in items), _num,
                     left=left, right=width - right, top=top, plot_h=plot_h)
    for i, (label, value) in enumerate(items):
        h = plot_h * value / peak
        x = left + i * step
        parts.append(
            f'<rect x="{x + step * 0.1:.1f}" y="{top + plot_h - h:.1f}" width="{step * 0.8:.1f}" '
            f'height="{h:.1f}" fill="{colour}"><title>{_e(label)}: {_e(_num(value))}</title></rect>'
            f'<text x="{x + step / 2:.1f}" y="{top + plot_h + 14}" font-size="11" '
            f'text-anchor="middle">{_e(label)}</text>'
        )
    parts.append(f'<text x="{left + plot_w / 2:.0f}" y="{height - 6}" font-size="12" '
                 f'text-anchor="middle" fill="#5f6368">{_e(x_label)}</text>')
    parts.append(f'<text x="12" y="{top + plot_h / 2:.0f}" font-size="12" fill="#5f6368" '
                 f'text-anchor="middle" transform="rotate(-90 12 {top + plot_h / 2:.0f})">'
                 f"{_e(y_label)}</text>")
    parts.append("</svg>")
    return "".join(parts)


def _layout(g: nx.Graph, seed: int) -> dict[str, tuple[float, float]]:
    n = g.number_of_nodes()
    if n == 0:
        return {}
    if n == 1:
        return {next(iter(g.nodes)): (0.0, 0.0)}
    # a seeded force-directed layout: the same drawing every night, milliseconds per ring
    # (Kamada-Kawai looks alike but takes from 5 ms to a second on 40 nodes)
    pos = nx.spring_layout(g, seed=seed, iterations=150, k=1.6 / math.sqrt(n))
    return {k: (float(v[0]), float(v[1])) for k, v in pos.items()}


def _shape(kind: str, x: float, y: float, r: float, fill: str, stroke: str, sw: float) -> str:
    common = f'fill="{fill}" stroke="{stroke}" stroke-width="{sw}"'
    if kind == "user":
        return f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}" {common}/>'
    if kind == "device":
        return (f'<rect x="{x - r * 0.85:.1f}" y="{y - r * 0.85:.1f}" width="{r * 1.7:.1f}" '
                f'height="{r * 1.7:.1f}" rx="2" {common}/>')
    if kind == "identifier":
        pts = f"{x:.1f},{y - r:.1f} {x + r:.1f},{y:.1f} {x:.1f},{y + r:.1f} {x - r:.1f},{y:.1f}"
        return f'<polygon points="{pts}" {common}/>'
    pts = " ".join(
        f"{x + r * math.cos(math.pi / 3 * i + math.pi / 6):.1f},"
        f"{y + r * math.sin(math.pi / 3 * i + math.pi / 6):.1f}" for i in range(6))
    return f'<polygon points="{pts}" {common}/>'


MAX_DRAWN_MEMBERS = 30
"""Members a drawing shows at most (beyond it, the rest are summarised on the drawing)."""

MAX_DRAWN_LINKS = 24
"""Shared devices, identifiers and lenders a drawing of a large group shows at most."""


def _count_users(g: nx.Graph) -> int:
    return sum(1 for _, d in g.nodes(data=True) if d.get("kind", "user") == "user")


def readable(g: nx.Graph, exposure_of: Mapping[str, float], *,
             max_members: int = MAX_DRAWN_MEMBERS, max_links: int = MAX_DRAWN_LINKS
             ) -> nx.Graph:
    """The part of a group's graph a drawing can show: the whole graph when it has at most
    ``max_members`` users; else the members that carry the exposure (the largest half of
    ``max_members`` by exposure: ``exposure_of`` by node id, else the node's ``exposure``)
    and those that carry the links (most shared nodes first, then exposure, then id) up to
    ``max_members``, with the shared nodes linking two or more of them (most drawn members
    first, at most ``max_links``). Deterministic: the same graph gives the same part."""
    users = [n for n, d in g.nodes(data=True) if d.get("kind", "user") == "user"]
    if len(users) <= max_members:
        return g

    def money(n: str) -> float:
        return float(exposure_of.get(n, g.nodes[n].get("exposure") or 0.0))

    links = {n for n in g.nodes if n not in set(users)}
    by_money = sorted(users, key=lambda n: (-money(n), n))
    drawn = by_money[: max_members // 2]
    # carriers: the members on most shared nodes, each node weighted by its members
    weight = {n: g.degree(n) for n in links}
    carry = sorted(users, key=lambda n: (-sum(weight[m] for m in g.neighbors(n) if m in links),
                                         -money(n), n))
    for n in carry:
        if len(drawn) >= max_members:
            break
        if n not in drawn:
            drawn.append(n)
    chosen = set(drawn)
    shared = sorted((n for n in links if sum(m in chosen for m in g.neighbors(n)) >= 2),
                    key=lambda n: (-sum(m in chosen for m in g.neighbors(n)), n))[:max_links]
    return g.subgraph([*drawn, *shared]).copy()


def graph_drawing(
    graph: Subgraph, *, title: str, width: int = 560, height: int = 400, seed: int = 7,
    members: int | None = None, exposure: float | None = None,
    exposure_of: Mapping[str, float] | None = None,
) -> str:
    """A drawing of a small subgraph: users (circles, coloured by freeze state, a thick
    ring for multi-lending), devices (squares), identifiers (diamonds), lenders
    (hexagons), with a legend. Hovering a node shows its full label.

    A large group stays readable: beyond :data:`MAX_DRAWN_MEMBERS` users only the members
    that carry the exposure and the links are drawn (:func:`readable`; ``exposure_of``
    gives each user node's exposure). Given the group's ``members`` and ``exposure`` (all
    of them, drawn or not), the drawing says what it leaves out: "+N more members, X CNY
    exposure not drawn"."""
    g = graph.to_networkx()
    if g.number_of_nodes() == 0:
        return _empty(title, width)
    full = g
    g = readable(g, exposure_of or {})
    drawn_users = [n for n, d in g.nodes(data=True) if d.get("kind", "user") == "user"]
    note = note2 = ""
    if members is not None and members > len(drawn_users):
        money_of = exposure_of or {}
        shown = sum(float(money_of.get(n, g.nodes[n].get("exposure") or 0.0))
                    for n in drawn_users)
        rest = None if exposure is None else max(0.0, exposure - shown)
        note = f"+{members - len(drawn_users):,} more members" + (
            "" if rest is None else f", {_num(rest)} CNY exposure") + " not drawn"
        hidden = (full.number_of_nodes() - _count_users(full)
                  - (g.number_of_nodes() - len(drawn_users)))
        if hidden > 0:
            note2 = f"nor {hidden:,} shared devices, identifiers or lenders"
    pos = _layout(g, seed)
    legend_h, pad = 58, 26
    top = pad + (28 if note2 else 14 if note else 0)  # room for the note of what is left out
    xs = [p[0] for p in pos.values()]
    ys = [p[1] for p in pos.values()]
    span_x, span_y = (max(xs) - min(xs)) or 1.0, (max(ys) - min(ys)) or 1.0
    plot_w, plot_h = width - 2 * pad, height - pad - top - legend_h

    def at(node: str) -> tuple[float, float]:
        px, py = pos[node]
        return (pad + (px - min(xs)) / span_x * plot_w, top + (py - min(ys)) / span_y * plot_h)

    n = g.number_of_nodes()
    r = 11.0 if n <= 30 else 8.0 if n <= 80 else 5.0
    parts = _open(width, height, title, "graph")
    parts.append('<g class="edges">')
    for a, b, data in sorted(g.edges(data=True), key=lambda e: (e[0], e[1])):
        (x1, y1), (x2, y2) = at(a), at(b)
        colour = "#1967d2" if data.get("kind") == "borrows_at" else "#9aa0a6"
        dash = ' stroke-dasharray="4 3"' if data.get("kind") == "borrows_at" else ""
        parts.append(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
                     f'stroke="{colour}" stroke-width="1.4"{dash}>'
                     f"<title>{_e(data.get('reason', ''))}</title></line>")
    parts.append("</g><g class=\"nodes\">")
    for node in sorted(g.nodes):
        data = g.nodes[node]
        kind = data.get("kind", "user")
        x, y = at(node)
        if kind == "user":
            fill = _FREEZE_COLOURS.get(str(data.get("freeze_state", "none")), "#4e79a7")
            ml = bool(data.get("multi_lending"))
            stroke, sw = ("#202124", 3.0) if ml else ("#ffffff", 1.5)
        else:
            fill, stroke, sw = _KIND_COLOURS.get(kind, "#999"), "#ffffff", 1.5
        label = str(data.get("label", node))
        short = label if len(label) <= 12 else "…" + label[-8:]
        if kind == "user" and n > 30:
            short = ""  # too many to read: the name is in the tooltip
        tip = " · ".join(f"{k}={v}" for k, v in sorted(data.items()) if k not in ("label",))
        parts.append(f'<g class="node {_e(kind)}"><title>{_e(label)} ({_e(tip)})</title>'
                     + _shape(kind, x, y, r, fill, stroke, sw)
                     + f'<text x="{x:.1f}" y="{y + r + 12:.1f}" font-size="11" '
                       f'text-anchor="middle">{_e(short)}</text></g>')
    parts.append("</g>")
    # legend
    y = height - legend_h + 14
    entries = [
        ("user", _FREEZE_COLOURS["partly_frozen"], "user: frozen + drawable"),
        ("user", _FREEZE_COLOURS["frozen"], "frozen"),
        ("user", _FREEZE_COLOURS["drawable"], "drawable"),
        ("user", _FREEZE_COLOURS["none"], "neither"),
        ("device", _KIND_COLOURS["device"], "device"),
        ("identifier", _KIND_COLOURS["identifier"], "identifier"),
        ("lender", _KIND_COLOURS["lender"], "lender"),
    ]
    x = 10.0
    for i, (kind, colour, text) in enumerate(entries):
        if i == 4:  # second row: the other node kinds
            x, y = 10.0, y + 16
        parts.append(_shape(kind, x + 6, y, 6, colour, "#ffffff", 1)
                     + f'<text x="{x + 15:.0f}" y="{y + 4:.0f}" font-size="11">{_e(text)}</text>')
        x += 24 + 6.2 * len(text)
    parts.append(f'<text x="10" y="{y + 20:.0f}" font-size="11" fill="#5f6368">'
                 "thick outline: multi-lending member · dashed line: borrows at</text>")
    if note:  # what the drawing leaves out, at its top left, over a white band
        second = (f'<text x="6" y="27" font-size="11" fill="#5f6368">{_e(note2)}</text>'
                  if note2 else "")
        parts.append(f'<g class="more"><rect x="0" y="0" width="{width}" '
                     f'height="{32 if note2 else 18}" fill="#ffffff" fill-opacity="0.85"/>'
                     f'<text x="6" y="13" font-size="12" font-weight="600" fill="#3c4043">'
                     f"{_e(note)}</text>{second}</g>")
    parts.append("</svg>")
    return "".join(parts)


_LINE_COLOURS = ("#1967d2", "#b3261e", "#188038", "#e8710a", "#9334e6", "#f2b705", "#5f6368",
                 "#12b5cb", "#d01884", "#7b8a97")


def _short_day(label: str) -> str:
    """``2026-11-20`` as ``11-20`` (the year is in the tooltip); other labels as given."""
    return label[5:] if len(label) == 10 and label[4] == "-" else label


def line_chart(
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None]]],
    *,
    title: str,
    y_label: str,
    percent: bool = False,
    width: int = 560,
    height: int = 230,
) -> str:
    """Lines over ordered points (``labels``, e.g. the nights), one per named series, with
    a dot at each known value (None: no value that night, the line breaks there) and a
    legend; ``percent`` draws values in [0, 1] as 0-100 %."""
    known = [v for _, vs in series for v in vs if v is not None]
    if len(labels) < 2 or not series or not known:
        return _empty(title, width)
    legend_rows = math.ceil(len(series) / 3)
    left, right, top, bottom = 52, 10, 26, 36 + 16 * legend_rows
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = 1.0 if percent else (max(known) or 1.0)
    step = plot_w / (len(labels) - 1)

    def fmt(v: float) -> str:
        return f"{v:.0%}" if percent else _num(v)

    parts = _open(width, height, title, "chart trend")
    parts.append(f'<text x="0" y="16" font-size="13" font-weight="600">{_e(title)}</text>')
    parts += _y_axis(peak, not percent and all(float(v).is_integer() for v in known), fmt,
                     left=left, right=width - right, top=top, plot_h=plot_h)
    last = len(labels) - 1
    for i in sorted({0, last, *range(0, len(labels), max(1, len(labels) // 4))}):
        x = left + i * step
        anchor = "end" if i == last else "middle"  # the last night's label inside the chart
        parts.append(f'<text x="{x:.1f}" y="{top + plot_h + 14}" font-size="11" '
                     f'text-anchor="{anchor}">{_e(_short_day(labels[i]))}</text>')
    for k, (name, values) in enumerate(series):
        colour = _LINE_COLOURS[k % len(_LINE_COLOURS)]
        at = {i: (left + i * step, top + plot_h * (1 - v / peak))
              for i, v in enumerate(values) if v is not None}
        runs: list[list[tuple[float, float]]] = [[]]
        for i in range(len(values)):  # a night without a value breaks the line
            if i in at:
                runs[-1].append(at[i])
            elif runs[-1]:
                runs.append([])
        parts.append(f'<g class="series"><title>{_e(name)}</title>')
        for r in runs:
            if len(r) > 1:
                pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in r)
                parts.append(f'<polyline points="{pts}" fill="none" stroke="{colour}" '
                             'stroke-width="2"/>')
        for i, (x, y) in at.items():
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}">'
                         f"<title>{_e(name)}, {_e(labels[i])}: {_e(fmt(values[i] or 0.0))}"
                         "</title></circle>")
        parts.append("</g>")
        lx = 10 + (k % 3) * (width - 20) / 3
        ly = top + plot_h + 32 + 16 * (k // 3)
        parts.append(f'<rect x="{lx:.0f}" y="{ly - 9}" width="12" height="3" fill="{colour}"/>'
                     f'<text x="{lx + 16:.0f}" y="{ly - 4}" font-size="11">{_e(name)}</text>')
    parts.append(f'<text x="12" y="{top + plot_h / 2:.0f}" font-size="12" fill="#5f6368" '
                 f'text-anchor="middle" transform="rotate(-90 12 {top + plot_h / 2:.0f})">'
                 f"{_e(y_label)}</text>")
    parts.append("</svg>")
    return "".join(parts)
