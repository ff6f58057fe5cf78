"""Charts drawn as SVG on the server: no JavaScript, no chart library. Pure: no Flask, no database.

Each chart is an image (``role="img"``) named by its ``<title>`` and ``<desc>``; its figures are given again
by the data table the page puts after it, which is what assistive technologies read. Colours come from the
DSFR: the SVG attributes carry the light theme's values, and app.css replaces them with the DSFR's colour
variables, so that the dark theme applies too. Lines also differ by their dash and marker shape, so that
no series is told apart by colour alone. The ``viewBox`` lets the chart shrink with the page.

Every text interpolated into the markup goes through ``escape``; numbers are formatted here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT = 960, 400
LEFT, RIGHT, TOP, BOTTOM = 72, 24, 72, 64
PLOT_WIDTH, PLOT_HEIGHT = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
# Month labels (« sept. 2026 ») need about this much room each before they are thinned out.
LABEL_ROOM = 72
FONT_SIZE = 13
CSS_NAME = re.compile(r"[a-z][a-z0-9-]*")
COLOUR = re.compile(r"#[0-9a-f]{6}")
DASH = re.compile(r"[0-9]+(?: [0-9]+)*")
# French typography separates thousands with a narrow no-break space.
THOUSANDS = "\u202f"

# The DSFR's light-theme colours, as SVG attribute fallbacks (app.css maps each series to a variable).
BLUE_FRANCE = "#000091"
SUCCESS = "#18753c"
ERROR = "#ce0500"
WARNING = "#b34000"
GREY_TEXT = "#3a3a3a"
GREY_LINE = "#dddddd"
BLUE_FRANCE_LIGHT = "#e3e3fd"


def format_integer(value: float) -> str:
    """« 1 234 »."""
    return f"{round(value):,}".replace(",", THOUSANDS)


def format_decimal(value: float, digits: int = 1) -> str:
    """« 1 234,5 »."""
    return f"{value:,.{digits}f}".replace(",", THOUSANDS).replace(".", ",")


def format_days(value: float | None) -> str:
    """« 12,5 j », or a dash when there is no value."""
    return "—" if value is None else f"{format_decimal(value)}\u00a0j"


@dataclass(frozen=True)
class Series:
    """One series: its legend, a value per category (None: no value, a gap in a line), and ``key``, the
    CSS name app.css gives its colour by (``stat-chart__series--<key>``)."""

    key: str
    label: str
    values: tuple[float | None, ...]
    colour: str
    dash: str = ""
    marker: str = "circle"  # or "square"

    def __post_init__(self) -> None:
        # These go into attributes unescaped: only what is known to be harmless is accepted.
        if not CSS_NAME.fullmatch(self.key):
            raise ValueError(f"not a CSS name: {self.key!r}")
        if not COLOUR.fullmatch(self.colour) or (self.dash and not DASH.fullmatch(self.dash)):
            raise ValueError(f"not a colour or a dash pattern: {self.colour!r}, {self.dash!r}")
        if self.marker not in ("circle", "square"):
            raise ValueError(f"unknown marker: {self.marker!r}")


@dataclass(frozen=True)
class Chart:
    """What every chart needs: ``chart_id`` prefixes the ids of its title and description (unique in the
    page), ``categories`` are the x-axis labels, ``format_value`` writes the values in tooltips, and
    ``format_tick`` the y-axis ticks (``format_value`` by default)."""

    chart_id: str
    title: str
    description: str
    categories: tuple[str, ...]
    series: tuple[Series, ...]
    y_label: str
    x_label: str
    format_value: Callable[[float], str]
    format_tick: Callable[[float], str] | None = None
    integer_ticks: bool = False

    def __post_init__(self) -> None:
        if not CSS_NAME.fullmatch(self.chart_id):
            raise ValueError(f"not an id: {self.chart_id!r}")
        if any(len(series.values) != len(self.categories) for series in self.series):
            raise ValueError("every series needs one value per category")

    @property
    def maximum(self) -> float:
        return max((v for series in self.series for v in series.values if v is not None), default=0.0)


def nice_ticks(maximum: float, *, integer: bool = False, count: int = 5) -> list[float]:
    """Ticks from 0 to a round value at or above ``maximum``, about ``count`` steps of 1, 2, 2.5 or 5 × 10ⁿ
    (whole steps only for counts)."""
    if maximum <= 0:
        return [0.0, 1.0]
    raw_step = maximum / count
    magnitude = 10 ** math.floor(math.log10(raw_step))
    multipliers = (1, 2, 5, 10) if integer else (1, 2, 2.5, 5, 10)
    step = next(m * magnitude for m in multipliers if m * magnitude >= raw_step)
    if integer:
        step = max(1.0, float(round(step)))
    steps = math.ceil(maximum / step - 1e-9)
    return [index * step for index in range(steps + 1)]


class _Frame:
    """Scales from data to the plot area: categories as equal bands, values from 0 to the top tick."""

    def __init__(self, chart: Chart) -> None:
        self.chart = chart
        self.ticks = nice_ticks(chart.maximum, integer=chart.integer_ticks)
        self.band = PLOT_WIDTH / max(len(chart.categories), 1)

    def x(self, index: int) -> float:
        return LEFT + self.band * (index + 0.5)

    def y(self, value: float) -> float:
        return TOP + PLOT_HEIGHT * (1 - value / self.ticks[-1])


def _open(chart: Chart) -> list[str]:
    ids = f"{chart.chart_id}-title {chart.chart_id}-desc"
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" class="stat-chart" role="img" '
        f'aria-labelledby="{ids}" focusable="false" font-size="{FONT_SIZE}">',
        f'<title id="{chart.chart_id}-title">{escape(chart.title)}</title>',
        f'<desc id="{chart.chart_id}-desc">{escape(chart.description)}</desc>',
    ]


def _axes(frame: _Frame) -> list[str]:
    chart = frame.chart
    parts = ['<g class="stat-chart__grid" stroke="' + GREY_LINE + '">']
    for tick in frame.ticks:
        y = frame.y(tick)
        parts.append(f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
    parts.append("</g>")
    parts.append(f'<g class="stat-chart__text" fill="{GREY_TEXT}">')
    format_tick = chart.format_tick or chart.format_value
    for tick in frame.ticks:
        parts.append(
            f'<text x="{LEFT - 8}" y="{frame.y(tick) + 4:.1f}" text-anchor="end">{escape(format_tick(tick))}</text>'
        )
    # Thin out the month labels when they would overlap; the data table keeps every month.
    every = max(1, math.ceil(LABEL_ROOM / frame.band))
    for index, category in enumerate(chart.categories):
        if index % every == 0:
            parts.append(
                f'<text x="{frame.x(index):.1f}" y="{TOP + PLOT_HEIGHT + 20}" text-anchor="middle">'
                f"{escape(category)}</text>"
            )
    parts.append(
        f'<text x="{LEFT + PLOT_WIDTH / 2:.1f}" y="{HEIGHT - 12}" text-anchor="middle" font-weight="bold">'
        f"{escape(chart.x_label)}</text>"
    )
    parts.append(f'<text x="{LEFT - 8}" y="{TOP - 16}" font-weight="bold">{escape(chart.y_label)}</text>')
    parts.append("</g>")
    baseline = frame.y(0)
    parts.append(
        f'<line class="stat-chart__axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{baseline:.1f}" y2="{baseline:.1f}" '
        f'stroke="{GREY_TEXT}"/>'
    )
    return parts


def _group(series: Series, *, bars: bool = False) -> str:
    """The series' group: its colour, inherited by what it holds (bars are filled, never outlined)."""
    kind, stroke = ("stat-chart__bars", "none") if bars else ("stat-chart__lines", series.colour)
    return (
        f'<g class="stat-chart__series stat-chart__series--{series.key} {kind}" fill="{series.colour}" '
        f'stroke="{stroke}">'
    )


def _marker(series: Series, x: float, y: float, inner: str = "", size: float = 4.5) -> str:
    """A circle or a square on a point; ``inner`` (a tooltip) goes inside the element."""
    if series.marker == "square":
        element = "rect"
        attributes = f'x="{x - size:.1f}" y="{y - size:.1f}" width="{2 * size}" height="{2 * size}"'
    else:
        element, attributes = "circle", f'cx="{x:.1f}" cy="{y:.1f}" r="{size}"'
    opening = f'<{element} class="stat-chart__marker" {attributes}'
    return f"{opening}>{inner}</{element}>" if inner else f"{opening}/>"


def _legend(chart: Chart, swatch: Callable[[Series, float, float], str]) -> list[str]:
    """A row of swatches and labels above the plot, in the order of the series."""
    parts = [f'<g class="stat-chart__legend" transform="translate({LEFT - 8},24)">']
    x = 0.0
    for series in chart.series:
        parts.append(_group(series) + swatch(series, x, 0) + "</g>")
        parts.append(
            f'<text class="stat-chart__text" x="{x + 30:.1f}" y="5" fill="{GREY_TEXT}">{escape(series.label)}</text>'
        )
        # Marianne is about 0.55 em wide per character on average; the gap keeps entries apart.
        x += 30 + len(series.label) * FONT_SIZE * 0.55 + 28
    parts.append("</g>")
    return parts


def _tooltip(chart: Chart, series: Series, index: int, value: float) -> str:
    """« mars 2026 – Médiane : 12,5 j », shown on hover."""
    text = f"{chart.categories[index]} – {series.label} : {chart.format_value(value)}"
    return f"<title>{escape(text)}</title>"


def bar_chart(chart: Chart) -> Markup:
    """Bars grouped by category, one per series, side by side."""
    frame = _Frame(chart)
    parts = _open(chart)
    parts += _legend(chart, lambda _s, x, y: f'<rect x="{x:.1f}" y="{y - 8}" width="22" height="14" stroke="none"/>')
    parts += _axes(frame)
    group_width = frame.band * 0.8
    bar_width = group_width / max(len(chart.series), 1)
    for position, series in enumerate(chart.series):
        parts.append(_group(series, bars=True))
        for index, value in enumerate(series.values):
            if not value:
                continue
            x = frame.x(index) - group_width / 2 + position * bar_width
            top = frame.y(value)
            parts.append(
                f'<rect x="{x:.1f}" y="{top:.1f}" width="{max(bar_width - 1, 1):.1f}" '
                f'height="{frame.y(0) - top:.1f}">{_tooltip(chart, series, index, value)}</rect>'
            )
        parts.append("</g>")
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text above went through escape()


def line_chart(chart: Chart, *, area: bool = False) -> Markup:
    """A line per series through each category's value, broken where a value is missing (a month without
    any decision), with a marker on every point; ``area`` also shades the surface under the first series,
    which must then have no gap."""
    if area and None in chart.series[0].values:
        raise ValueError("an area needs a value for every category")
    frame = _Frame(chart)
    parts = _open(chart)
    parts += _legend(
        chart,
        lambda s, x, y: (
            f'<line x1="{x:.1f}" x2="{x + 22:.1f}" y1="{y - 1}" y2="{y - 1}" stroke-width="2.5"'
            + (f' stroke-dasharray="{s.dash}"' if s.dash else "")
            + "/>"
            + _marker(s, x + 11, y - 1)
        ),
    )
    parts += _axes(frame)
    for position, series in enumerate(chart.series):
        points = [
            (index, value, frame.x(index), frame.y(value))
            for index, value in enumerate(series.values)
            if value is not None
        ]
        parts.append(_group(series))
        if area and position == 0 and points:
            outline = " ".join(f"{x:.1f},{y:.1f}" for _i, _v, x, y in points)
            baseline = frame.y(0)
            parts.append(
                f'<polygon class="stat-chart__area" points="{points[0][2]:.1f},{baseline:.1f} {outline} '
                f'{points[-1][2]:.1f},{baseline:.1f}" fill="{BLUE_FRANCE_LIGHT}" stroke="none"/>'
            )
        for segment in _segments(points):
            if len(segment) < 2:
                continue  # a lone point: its marker shows it
            path = " ".join(f"{'M' if n == 0 else 'L'}{x:.1f},{y:.1f}" for n, (_i, _v, x, y) in enumerate(segment))
            dash = f' stroke-dasharray="{series.dash}"' if series.dash else ""
            parts.append(f'<path class="stat-chart__line" d="{path}" fill="none" stroke-width="2.5"{dash}/>')
        for index, value, x, y in points:
            parts.append(_marker(series, x, y, inner=_tooltip(chart, series, index, value)))
        parts.append("</g>")
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text above went through escape()


Point = tuple[int, float, float, float]  # category index, value, x, y


def _segments(points: Sequence[Point]) -> list[list[Point]]:
    """Runs of consecutive categories: a missing value breaks the line rather than bridging the gap."""
    segments: list[list[Point]] = []
    for point in points:
        if segments and segments[-1][-1][0] == point[0] - 1:
            segments[-1].append(point)
        else:
            segments.append([point])
    return segments
