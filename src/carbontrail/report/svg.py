"""Inline SVG charts drawn from data, for the HTML report and the dashboard. Pure; no JavaScript, no CDN.

Each function returns an ``<svg class="ct-chart" ...>`` string with a ``<title>``, axis labels and
one element per data mark (``rect.ct-bar``, ``path.ct-line``, ``circle.ct-point``) so that tests
can count what was drawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

__all__ = ["KIND_COLORS", "PALETTE", "bar_chart", "color_for", "line_chart", "stacked_bars"]

PALETTE: tuple[str, ...] = (
    "#2b7a4b",
    "#4c9be8",
    "#e8a33d",
    "#c8553d",
    "#7a5cc7",
    "#3dbfb0",
    "#9a9a9a",
    "#d16ba5",
)
#: one colour per lifecycle stage, the same in every chart
KIND_COLORS: dict[str, str] = {
    "data-prep": "#7a5cc7",
    "train": "#c8553d",
    "retrain": "#e8a33d",
    "hpo-trial": "#3dbfb0",
    "evaluate": "#9a9a9a",
    "inference": "#4c9be8",
    "other": "#b0b7b2",
}


def color_for(key: str, index: int) -> str:
    """A series' colour: its stage colour for a lifecycle stage, else the ``index``-th palette colour."""
    return KIND_COLORS.get(key, PALETTE[index % len(PALETTE)])


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 1e6 or a < 1e-2:
        return f"{v:.2e}"
    if a >= 100:
        return f"{v:,.0f}"
    return f"{v:.3g}"


def _nice_max(v: float) -> float:
    if v <= 0:
        return 1.0
    import math

    exp = 10 ** math.floor(math.log10(v))
    for m in (1, 2, 2.5, 5, 10):
        if m * exp >= v:
            return m * exp
    return 10 * exp


def bar_chart(labels: Sequence[str], values: Sequence[float], *, title: str, unit: str, width: int = 560) -> str:
    """Horizontal bars, one per label."""
    n = len(labels)
    row = 24
    left = 150
    h = 40 + max(n, 1) * row + 20
    vmax = _nice_max(max(values, default=0.0))
    plot_w = width - left - 80
    parts = [
        f'<svg class="ct-chart" role="img" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{h}" '
        f'viewBox="0 0 {width} {h}"><title>{escape(title)}</title>',
        f'<text x="8" y="18" class="ct-title" font-size="14" font-weight="600">{escape(title)} ({escape(unit)})</text>',
    ]
    if n == 0:
        parts.append('<text x="8" y="50" class="ct-empty" font-size="12" fill="#666">no data</text></svg>')
        return "".join(parts)
    for i, (lab, v) in enumerate(zip(labels, values, strict=True)):
        y = 32 + i * row
        w = max(0.0, v / vmax * plot_w)
        color = color_for(lab, i)
        parts.append(
            f'<text x="{left - 6}" y="{y + 15}" text-anchor="end" font-size="12">{escape(lab[:24])}</text>'
            f'<rect class="ct-bar" x="{left}" y="{y + 3}" width="{w:.1f}" height="{row - 6}" fill="{color}">'
            f"<title>{escape(lab)}: {_fmt(v)} {escape(unit)}</title></rect>"
            f'<text x="{left + w + 4:.1f}" y="{y + 15}" font-size="11" fill="#333">{_fmt(v)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def stacked_bars(
    periods: Sequence[str],
    series: dict[str, Sequence[float]],
    *,
    title: str,
    unit: str,
    width: int = 640,
    height: int = 260,
) -> str:
    """Vertical bars per period, stacked by series (e.g. energy per day by lifecycle stage), with a legend."""
    left, right, top, bottom = 60, 130, 28, 40
    plot_w = width - left - right
    plot_h = height - top - bottom
    n = len(periods)
    totals = [sum(s[i] for s in series.values()) for i in range(n)]
    vmax = _nice_max(max(totals, default=0.0))
    parts = [
        f'<svg class="ct-chart" role="img" xmlns="http://www.w3.org/2000/svg" '
        f'width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}"><title>{escape(title)}</title>',
        f'<text x="8" y="18" font-size="14" font-weight="600">{escape(title)} ({escape(unit)})</text>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#888"/>',
        f'<text x="{left - 6}" y="{top + 4}" text-anchor="end" font-size="10">{_fmt(vmax)}</text>',
        f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end" font-size="10">0</text>',
    ]
    if n == 0:
        parts.append(f'<text x="{left + 8}" y="{top + 40}" class="ct-empty" font-size="12" fill="#666">no data</text>')
        parts.append("</svg>")
        return "".join(parts)
    bw = plot_w / n
    for i, per in enumerate(periods):
        y: float = top + plot_h
        for j, (name, vals) in enumerate(series.items()):
            v = vals[i]
            if v <= 0:
                continue
            hh = v / vmax * plot_h
            y -= hh
            parts.append(
                f'<rect class="ct-bar" x="{left + i * bw + bw * 0.1:.1f}" y="{y:.1f}" width="{bw * 0.8:.1f}" '
                f'height="{hh:.1f}" fill="{color_for(name, j)}"><title>{escape(per)} {escape(name)}: '
                f"{_fmt(v)} {escape(unit)}</title></rect>"
            )
        if n <= 16 or i % max(1, n // 8) == 0:
            parts.append(
                f'<text x="{left + i * bw + bw / 2:.1f}" y="{top + plot_h + 14}" text-anchor="middle" '
                f'font-size="9">{escape(per[-5:])}</text>'
            )
    for j, name in enumerate(series):
        y = top + 10 + j * 16
        parts.append(
            f'<rect x="{width - right + 10}" y="{y - 9}" width="10" height="10" '
            f'fill="{color_for(name, j)}"/>'
            f'<text x="{width - right + 24}" y="{y}" font-size="11">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _time_ticks(x0: float, x1: float, n: int = 6) -> list[tuple[float, str]]:
    from datetime import UTC, datetime

    span = x1 - x0
    fmt = "%H:%M" if span <= 86400 else "%m-%d %H:%M" if span <= 4 * 86400 else "%m-%d"
    return [
        (x0 + span * k / (n - 1), datetime.fromtimestamp(x0 + span * k / (n - 1), UTC).strftime(fmt)) for k in range(n)
    ]


def line_chart(
    series: dict[str, tuple[Sequence[float], Sequence[float]]],
    *,
    title: str,
    unit: str,
    x_labels: Sequence[tuple[float, str]] | None = None,
    markers: Sequence[tuple[float, float, str, str]] = (),
    width: int = 720,
    height: int = 260,
) -> str:
    """Lines (e.g. grid intensity per zone over time, x in POSIX seconds) with jobs marked as bands.

    ``series`` maps a name to ``(xs, ys)``; ``markers`` are ``(x_start, x_end, label, color)``
    shaded bands (scheduled or realised jobs). Without ``x_labels`` the x axis is labelled as UTC time.
    """
    left, right, top, bottom = 60, 110, 28, 40
    plot_w = width - left - right
    plot_h = height - top - bottom
    parts = [
        f'<svg class="ct-chart" role="img" xmlns="http://www.w3.org/2000/svg" '
        f'width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}"><title>{escape(title)}</title>',
        f'<text x="8" y="18" font-size="14" font-weight="600">{escape(title)} ({escape(unit)})</text>',
    ]
    all_x = [x for xs, _ in series.values() for x in xs]
    all_y = [y for _, ys in series.values() for y in ys]
    if not all_x:
        parts.append(f'<text x="{left + 8}" y="{top + 40}" class="ct-empty" font-size="12" fill="#666">no data</text>')
        parts.append("</svg>")
        return "".join(parts)
    x0, x1 = min(all_x), max(all_x)
    for a, b, _, _ in markers:
        x0, x1 = min(x0, a), max(x1, b)
    if x1 == x0:
        x1 = x0 + 1
    ymax = _nice_max(max(all_y))

    def px(x: float) -> float:
        return left + (x - x0) / (x1 - x0) * plot_w

    def py(y: float) -> float:
        return top + plot_h - y / ymax * plot_h

    for a, b, lab, color in markers:
        xa, xb = px(a), px(b)
        w = max(xb - xa, 2.0)
        parts.append(
            f'<rect class="ct-band" x="{xa:.1f}" y="{top}" width="{w:.1f}" height="{plot_h}" '
            f'fill="{color}" fill-opacity="0.3"><title>{escape(lab)}</title></rect>'
        )
    for j, (name, (xs, ys)) in enumerate(series.items()):
        color = PALETTE[j % len(PALETTE)]
        pts = sorted(zip(xs, ys, strict=True))
        d = " ".join(f"{'M' if i == 0 else 'L'}{px(x):.1f},{py(y):.1f}" for i, (x, y) in enumerate(pts))
        parts.append(
            f'<path class="ct-line" d="{d}" fill="none" stroke="{color}" stroke-width="1.5">'
            f"<title>{escape(name)}</title></path>"
        )
        if len(pts) <= 80:
            for x, y in pts:
                parts.append(
                    f'<circle class="ct-point" cx="{px(x):.1f}" cy="{py(y):.1f}" r="2.5" fill="{color}">'
                    f"<title>{escape(name)}: {_fmt(y)} {escape(unit)}</title></circle>"
                )
        if len(series) > 1 or name:
            ly = top + 10 + j * 16
            parts.append(
                f'<rect x="{width - right + 10}" y="{ly - 9}" width="10" height="10" fill="{color}"/>'
                f'<text x="{width - right + 24}" y="{ly}" font-size="11">{escape(name)}</text>'
            )
    parts.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#888"/>')
    parts.append(f'<text x="{left - 6}" y="{top + 4}" text-anchor="end" font-size="10">{_fmt(ymax)}</text>')
    parts.append(f'<text x="{left - 6}" y="{top + plot_h}" text-anchor="end" font-size="10">0</text>')
    for x, lab in x_labels if x_labels is not None else _time_ticks(x0, x1):
        parts.append(
            f'<text x="{px(x):.1f}" y="{top + plot_h + 14}" text-anchor="middle" font-size="9">{escape(lab)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
