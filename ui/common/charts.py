"""Server-rendered SVG charts (no JavaScript): `line_chart` for values over time with an optional
shaded band and dashed reference lines, and `bar_chart` for labelled values. Both return markup
safe to put in a Jinja template as is (`{{ chart }}`): every text is escaped here.

Colours come from CSS classes (`chart-*` in app.css, plus the `css_class` given per point, bar,
band or line), so pages theme them without touching this module. Each chart is an
`<svg role="img">` with a `<title>` and an `aria-label` that says what it shows; each point and
bar carries a `<title>` tooltip.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from markupsafe import Markup, escape

PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 64, 16, 16, 36
Y_TICKS = 4
X_TICKS = 4


@dataclass(frozen=True)
class Point:
    x: datetime | float
    y: float
    css_class: str = ""
    title: str = ""  # tooltip; defaults to "x: y"


@dataclass(frozen=True)
class Band:
    """A shaded horizontal band between two values (e.g. a normal range)."""

    low: float
    high: float
    label: str = ""
    css_class: str = ""


@dataclass(frozen=True)
class Line:
    """A dashed horizontal reference line (e.g. a threshold)."""

    y: float
    label: str = ""
    css_class: str = ""


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    css_class: str = ""
    title: str = ""
    shown: str = ""  # the value as printed beside the bar (default: the number)


def _num(v: float) -> str:
    """Compact axis numbers: 950, 1.2k, 3.4M."""
    a = abs(v)
    if a >= 1e6:
        return f"{v / 1e6:.3g}M"
    if a >= 1e4:
        return f"{v / 1e3:.3g}k"
    return f"{v:.4g}"


def _x_value(x: datetime | float) -> float:
    return x.timestamp() if isinstance(x, datetime) else float(x)


def _x_label(x: float, as_time: bool) -> str:
    if not as_time:
        return _num(x)
    return datetime.fromtimestamp(x, UTC).strftime("%m-%d")


def _nice_top(v: float) -> float:
    """A round axis maximum at or above v (1, 2, 2.5, 5 x 10^n)."""
    if v <= 0 or not math.isfinite(v):
        return 1.0
    exp = 10 ** math.floor(math.log10(v))
    for step in (1, 2, 2.5, 5, 10):
        if step * exp >= v:
            return step * exp
    return 10 * exp


def _cls(*names: str) -> str:
    return " ".join(n for n in names if n)


def _svg(width: int, height: int, title: str, summary: str, body: list[str]) -> Markup:
    head = (
        f'<svg class="chart" viewBox="0 0 {width} {height}" width="100%" '
        f'preserveAspectRatio="xMidYMid meet" role="img" aria-label="{escape(summary)}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title or summary)}</title>'
    )
    return Markup(head + "".join(body) + "</svg>")  # noqa: S704 (every part escaped above)


def _y_axis(body: list[str], top: float, y_of: Callable[[float], float], width: int) -> None:
    for i in range(Y_TICKS + 1):
        value = top * i / Y_TICKS
        y = y_of(value)
        body.append(
            f'<line class="chart-grid" x1="{PAD_LEFT}" x2="{width - PAD_RIGHT}" '
            f'y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="chart-axis" x="{PAD_LEFT - 6}" y="{y + 4:.1f}" '
            f'text-anchor="end">{escape(_num(value))}</text>'
        )


def line_chart(
    points: Sequence[Point],
    *,
    band: Band | None = None,
    lines: Sequence[Line] = (),
    title: str = "",
    width: int = 720,
    height: int = 260,
    connect: bool = True,
    empty_text: str = "No data to chart.",
) -> Markup:
    """Points over x (datetimes or numbers) from 0 up, with an optional band and dashed lines;
    `connect` joins the points with a thin line."""
    if not points:
        return _svg(width, height, title, empty_text, [
            f'<text class="chart-empty" x="{width / 2}" y="{height / 2}" '
            f'text-anchor="middle">{escape(empty_text)}</text>'
        ])  # fmt: skip
    as_time = isinstance(points[0].x, datetime)
    xs = [_x_value(p.x) for p in points]
    x0, x1 = min(xs), max(xs)
    if x1 == x0:
        x0, x1 = x0 - 1, x1 + 1
    highest = max([p.y for p in points] + [ln.y for ln in lines] + ([band.high] if band else []))
    top = _nice_top(highest * 1.05)
    plot_w, plot_h = width - PAD_LEFT - PAD_RIGHT, height - PAD_TOP - PAD_BOTTOM

    def x_of(x: float) -> float:
        return PAD_LEFT + (x - x0) / (x1 - x0) * plot_w

    def y_of(y: float) -> float:
        return PAD_TOP + plot_h - max(0.0, min(y, top)) / top * plot_h

    body: list[str] = []
    _y_axis(body, top, y_of, width)
    for i in range(X_TICKS + 1):
        x = x0 + (x1 - x0) * i / X_TICKS
        anchor = "start" if i == 0 else "end" if i == X_TICKS else "middle"
        body.append(
            f'<text class="chart-axis" x="{x_of(x):.1f}" y="{height - PAD_BOTTOM + 16}" '
            f'text-anchor="{anchor}">{escape(_x_label(x, as_time))}</text>'
        )
    if band is not None:
        y_hi, y_lo = y_of(band.high), y_of(band.low)
        body.append(
            f'<rect class="{_cls("chart-band", band.css_class)}" x="{PAD_LEFT}" '
            f'y="{y_hi:.1f}" width="{plot_w}" height="{max(0.0, y_lo - y_hi):.1f}">'
            f"<title>{escape(band.label)}</title></rect>"
        )
    for ln in lines:
        y = y_of(ln.y)
        body.append(
            f'<line class="{_cls("chart-line", ln.css_class)}" x1="{PAD_LEFT}" '
            f'x2="{width - PAD_RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke-dasharray="6 4">'
            f"<title>{escape(ln.label)}</title></line>"
            f'<text class="{_cls("chart-line-label", ln.css_class)}" x="{width - PAD_RIGHT - 4}" '
            f'y="{y - 4:.1f}" text-anchor="end">{escape(ln.label)}</text>'
        )
    coords = [(x_of(x), y_of(p.y)) for x, p in zip(xs, points, strict=True)]
    if connect and len(coords) > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
        body.append(f'<polyline class="chart-path" points="{path}"/>')
    for (cx, cy), p, x in zip(coords, points, xs, strict=True):
        tip = p.title or f"{_x_label(x, as_time)}: {_num(p.y)}"
        body.append(
            f'<circle class="{_cls("chart-point", p.css_class)}" cx="{cx:.1f}" cy="{cy:.1f}" '
            f'r="3.5"><title>{escape(tip)}</title></circle>'
        )
    summary = title or f"{len(points)} points"
    return _svg(width, height, title, f"{summary} ({len(points)} points)", body)


def bar_chart(
    bars: Sequence[Bar],
    *,
    title: str,
    label_width: int = 190,
    bar_area: int = 320,
    width: int = 600,
    row: int = 26,
) -> Markup:
    """Horizontal bars, a row each: the label left, the bar (the longest is full), the value
    (`shown`, else the number) right. For counts and totals per named thing."""
    top = max((b.value for b in bars), default=0.0)
    height = 12 + len(bars) * row
    body: list[str] = []
    for i, b in enumerate(bars):
        y = 6 + i * row
        w = round(bar_area * b.value / top, 1) if top > 0 else 0.0
        shown = b.shown or _num(b.value)
        tip = b.title or f"{b.label}: {shown}"
        body.append(
            f'<g class="chart-hbar"><title>{escape(tip)}</title>'
            f'<text class="chart-bar-label" x="{label_width - 8}" y="{y + 14}" '
            f'text-anchor="end">{escape(b.label)}</text>'
            f'<rect class="{_cls("chart-bar", b.css_class)}" x="{label_width}" y="{y}" '
            f'width="{w}" height="18" rx="2"></rect>'
            f'<text class="chart-bar-value" x="{label_width + w + 6}" y="{y + 14}">'
            f"{escape(shown)}</text></g>"
        )
    return _svg(width, height, title, f"{title} ({len(bars)} bars)", body)
