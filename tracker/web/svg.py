"""The history chart of the web pages as server-rendered SVG: no JavaScript, nothing loaded.

It draws what `tracker history --output chart.svg` draws (render/charts.py's ``chartable``: the
same series, changes, gaps and notes), in a form a page can hold inline: each sovereign's holding
value on a log axis (Germany's 31 BTC beside the U.S.'s 200,000), a ring where a holding changed
(a new headline), a dashed line for an on-chain balance, a break where the daily series has a
gap, and a rule where the price data ends. Colours come from the page's stylesheet (classes
``s0``…``s9``), never from a style attribute: the Content-Security-Policy has no
'unsafe-inline'. Every text is escaped. Values become floats here, for drawing only.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from tracker.daily.history import Timeline
from tracker.render.charts import Chartable, Series, chartable, notes, short
from tracker.render.text import BOUND_MARK, grouped

WIDTH, HEIGHT = 800, 360
LEFT, RIGHT, TOP, BOTTOM = 80, 16, 20, 48
COLOURS = 10  # classes s0…s9 in the stylesheet; beyond ten, the same colours dashed ("alt")


@dataclass(frozen=True)
class Line:
    """One legend entry: the stylesheet class of its colour, its name, its latest holding."""

    css: str
    name: str
    last: str
    onchain: bool = False


@dataclass(frozen=True)
class Chart:
    svg: Markup  # the <svg> element, escaped throughout
    legend: tuple[Line, ...]
    notes: tuple[str, ...]  # what the chart cannot draw, in words (escaped by the template)


def _css(n: int) -> str:
    return f"s{n % COLOURS}" + (" alt" if (n // COLOURS) % 2 else "")


class _Scale:
    """Dates to x, values to y on a log axis, inside the plot area."""

    def __init__(self, start: dt.date, end: dt.date, low: float, high: float) -> None:
        self.start, self.days = start, max((end - start).days, 1)
        self.low, self.high = math.log10(low), math.log10(high)

    def x(self, day: dt.date) -> float:
        return LEFT + (WIDTH - LEFT - RIGHT) * (day - self.start).days / self.days

    def y(self, value: float) -> float:
        span = (self.high - self.low) or 1.0
        return TOP + (HEIGHT - TOP - BOTTOM) * (1 - (math.log10(value) - self.low) / span)


def _path(s: Series, when: Sequence[dt.date], breaks: Sequence[int], scale: _Scale) -> str:
    """``M x y L x y…``, lifted where there is no value or the daily series has a gap."""
    parts: list[str] = []
    pen_up = True
    for n, value in enumerate(s.values):
        if value is None or n in breaks:
            pen_up = True
        if value is None:
            continue
        parts.append(f"{'M' if pen_up else 'L'}{scale.x(when[n]):.1f} {scale.y(value):.1f}")
        pen_up = False
    return " ".join(parts)


def _ticks(scale: _Scale) -> list[float]:
    """Powers of ten across the axis; 2 and 5 between them when it spans few decades."""
    first, last = math.floor(scale.low), math.ceil(scale.high)
    steps = (1, 2, 5) if last - first <= 3 else (1,)
    found = [m * 10.0**p for p in range(first, last + 1) for m in steps]
    return [t for t in found if scale.low - 1e-9 <= math.log10(t) <= scale.high + 1e-9]


def _years(start: dt.date, end: dt.date) -> list[dt.date]:
    """The x ticks: the first of each year (of each month when the span is short)."""
    if (end - start).days > 3 * 365:
        every = max(1, (end.year - start.year) // 8)
        return [dt.date(y, 1, 1) for y in range(start.year + 1, end.year + 1, every)]
    days, day = [], dt.date(start.year, start.month, 1)
    step = 1 if (end - start).days <= 200 else 3
    while day <= end:
        if day > start:
            days.append(day)
        month = day.month - 1 + step
        day = dt.date(day.year + month // 12, month % 12 + 1, 1)
    return days


def _tick_label(day: dt.date, span_days: int) -> str:
    return str(day.year) if span_days > 3 * 365 else f"{day:%Y-%m}"


def _message(text: str) -> Markup:
    return Markup(
        f'<svg class="chart" viewBox="0 0 {WIDTH} 80" role="img" aria-label="{escape(text)}" '
        f'xmlns="http://www.w3.org/2000/svg"><text class="empty" x="{WIDTH / 2}" y="44" '
        f'text-anchor="middle">{escape(text)}</text></svg>'
    )


def history_chart(tl: Timeline, *, caption: str) -> Chart:
    """The value of each sovereign's holding over ``tl`` as an SVG chart, its legend and notes."""
    c = chartable(tl)
    said = tuple(notes(c, tl))
    if not tl.periods:
        return Chart(_message("No daily closes in this range: nothing to draw."), (), said)
    drawn = [v for s in (*c.series, *c.onchain) for v in s.values if v]
    if not drawn:
        return Chart(_message("No holding with an amount in this range: no line."), (), said)
    low = 10.0 ** math.floor(math.log10(min(drawn)))
    high = 10.0 ** math.ceil(math.log10(max(drawn)))
    if high <= low:
        high = low * 10
    scale = _Scale(tl.start, tl.end, low, high)
    when = [p.close_date for p in tl.periods]
    out = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="chart-title chart-desc" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="chart-title">{escape(caption)}</title>',
        f'<desc id="chart-desc">{escape(_description(c, tl))}</desc>',
    ]
    out += _axes(scale, tl)
    legend: list[Line] = []
    colour: dict[str, str] = {}
    for n, s in enumerate(c.series):
        css = colour[s.slug] = _css(n)
        legend.append(Line(css, s.name, s.last))
        out.append(
            f'<path class="line {css}" d="{_path(s, when, c.breaks, scale)}">'
            f"<title>{escape(s.name)}: {escape(s.last)}</title></path>"
        )
        for i in s.changes:
            value = s.values[i]
            if value is None:
                continue
            held = _holding_text(tl, s.slug, i)
            out.append(
                f'<circle class="change {css}" cx="{scale.x(when[i]):.1f}" '
                f'cy="{scale.y(value):.1f}" r="4"><title>{escape(s.name)}: {escape(held)}'
                "</title></circle>"
            )
    for n, o in enumerate(c.onchain):
        css = colour.get(o.slug) or _css(len(c.series) + n)
        legend.append(Line(css, o.name, o.last, onchain=True))
        out.append(
            f'<path class="line onchain {css}" d="{_path(o, when, c.breaks, scale)}">'
            f"<title>{escape(o.name)}: {escape(o.last)}</title></path>"
        )
    out += _no_data(scale, tl, c, when)
    out += _data_end(scale, tl, when[-1])
    out.append("</svg>")
    return Chart(Markup("".join(out)), tuple(legend), said)


def _axes(scale: _Scale, tl: Timeline) -> list[str]:
    out = ['<g class="axis">']
    right = WIDTH - RIGHT
    for t in _ticks(scale):
        y = scale.y(t)
        out.append(f'<line class="grid" x1="{LEFT}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}"/>')
        out.append(
            f'<text class="ylab" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"${escape(short(t))}</text>"
        )
    span = (tl.end - tl.start).days
    base = HEIGHT - BOTTOM
    for day in _years(tl.start, tl.end):
        x = scale.x(day)
        out.append(f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{base}"/>')
        out.append(
            f'<text x="{x:.1f}" y="{base + 20}" text-anchor="middle">'
            f"{escape(_tick_label(day, span))}</text>"
        )
    out.append(f'<line class="frame" x1="{LEFT}" x2="{right}" y1="{base}" y2="{base}"/>')
    out.append(f'<line class="frame" x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{base}"/>')
    out.append(f'<text class="unit" x="4" y="{base + 42}">{escape(tl.currency)}, log</text>')
    out.append("</g>")
    return out


def _data_end(scale: _Scale, tl: Timeline, last_close: dt.date) -> list[str]:
    """A rule at the last daily close drawn (and at the bundled series' end, when earlier)."""
    out = []
    marks = [(last_close, f"prices end {last_close}")]
    if tl.bundled_ends is not None and tl.bundled_ends < last_close:
        marks.insert(0, (tl.bundled_ends, f"bundled series ends {tl.bundled_ends}"))
    base = HEIGHT - BOTTOM
    for n, (day, text) in enumerate(marks):
        x = scale.x(day)
        anchor = "end" if x > WIDTH / 2 else "start"
        dx = -4 if anchor == "end" else 4
        out.append(
            f'<g class="data-end"><line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{base}"/>'
            f'<text x="{x + dx:.1f}" y="{TOP + 12 + 14 * n}" text-anchor="{anchor}">'
            f"{escape(text)}</text></g>"
        )
    return out


def _no_data(scale: _Scale, tl: Timeline, c: Chartable, when: Sequence[dt.date]) -> list[str]:
    """ "no data" over the stretch before the first holding on record, when it is wide."""
    first = min(
        next(i for i, v in enumerate(s.values) if v is not None) for s in (*c.series, *c.onchain)
    )
    left, right = scale.x(tl.start), scale.x(when[first])
    if right - left < (WIDTH - LEFT - RIGHT) * 0.08:
        return []
    middle, y = (left + right) / 2, (TOP + HEIGHT - BOTTOM) / 2
    words = f"no data before {when[first]:%Y-%m}" if right - left > 260 else "no data"
    why = f"no holding above 0 BTC on record before {when[first]:%Y-%m}"
    return [
        f'<text class="no-data" x="{middle:.1f}" y="{y:.1f}" text-anchor="middle">'
        f"<title>{why}</title>{words}</text>"
    ]


def _holding_text(tl: Timeline, slug: str, index: int) -> str:
    """What a change marker says: the new figure, its bound, basis and date."""
    order = [h.slug for h in tl.holders]
    h = tl.periods[index].holdings[order.index(slug)]
    if h.btc is None:
        return "no amount"
    mark = BOUND_MARK[h.bound] if h.bound else ""
    basis = "" if h.basis is None else f", {h.basis.value}"
    return f"new figure {mark}{grouped(h.btc)} BTC{basis}, as of {h.as_of}"


def _description(c: Chartable, tl: Timeline) -> str:
    names = ", ".join(f"{s.name} {s.last}" for s in c.series) or "none"
    return (
        f"Value in {tl.currency} of each sovereign's holding, log scale, from {tl.start} to "
        f"{tl.end}, one point per {tl.interval.value}; rings mark a new figure. Latest: {names}."
    )
