"""Charts of a `tracker history`: in the terminal (plotext) or as a PNG or SVG image (matplotlib,
the optional ``charts`` extra; charts_image.py). Prices and values become floats here, for
drawing only.

Holdings span six orders of magnitude (Germany's 31 BTC beside the U.S.'s 200,000), so values are
drawn on a log axis: El Salvador is not a flat line at zero. A holder without an amount (no data,
undisclosed) has no line there, never a zero; a holding of 0 BTC (divested) cannot sit on a log
axis and is named instead. The days a holding changed (a new headline) are marked. A holder's
on-chain balance (`tracker verify --history`), valued at the same closes, is a line of its own
beside its claims: dashed, in the holder's colour.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tracker.daily.history import Interval, Period, Timeline
from tracker.errors import InputError
from tracker.headline import State
from tracker.render.daily import title
from tracker.render.text import BOUND_MARK, grouped

IMAGE_FORMATS = {".png": "png", ".svg": "svg"}
MISSING_MATPLOTLIB = (
    "writing an image needs matplotlib, the optional 'charts' extra: pip install 'tracker[charts]'"
)
PLAIN_MARKERS = ("•", "x", "+", "o", "*", "#")
TERMINAL_LINES = 5  # holders drawn in a terminal: more lines (and their legend) do not fit
# The longest a period can be: closes further apart than this have a gap between them.
SPAN = {Interval.DAY: 1, Interval.WEEK: 7, Interval.MONTH: 31}


def _when(p: Period) -> dt.date:
    """Where a period sits on the time axis: the day of its close."""
    return p.close_date


@dataclass(frozen=True)
class Series:
    """One sovereign's line: its value per period (None: no line there) and its changes."""

    slug: str
    name: str
    values: tuple[float | None, ...]  # USD; None where there is no amount (or 0 BTC)
    changes: tuple[int, ...]  # indexes of the periods where a new headline took effect
    last: str  # the latest holding, e.g. "~6,274 BTC"


@dataclass(frozen=True)
class Chartable:
    """What a chart draws of a timeline, and what it names because it cannot draw it."""

    series: tuple[Series, ...]  # valued at some point, the largest last value first
    no_data: tuple[str, ...]  # names of holders with no observation anywhere in the range
    undisclosed: tuple[str, ...]  # names of holders whose amount is never disclosed in range
    divested: tuple[str, ...]  # names of holders at 0 BTC at the end
    breaks: tuple[int, ...]  # indexes of periods after a gap in the daily series
    onchain: tuple[Series, ...] = ()  # on-chain balances' values, in the order of the claims


def _amount(sats: int | None) -> float | None:
    return None if not sats else float(sats)


def chartable(tl: Timeline) -> Chartable:
    series: list[Series] = []
    no_data, undisclosed, divested = [], [], []
    for i, holder in enumerate(tl.holders):
        held = [p.holdings[i] for p in tl.periods]
        values = tuple(None if h.value is None or not h.sats else float(h.value) for h in held)
        if held and held[-1].sats == 0:
            divested.append(holder.name)
        if all(v is None for v in values):
            if any(h.state is State.UNDISCLOSED for h in held):
                undisclosed.append(holder.name)
            elif not any(h.state is State.VALUED for h in held):
                no_data.append(holder.name)
            continue
        changes = tuple(
            n
            for n, h in enumerate(held)
            if h.observation_id is not None
            and h.as_of is not None
            and (
                held[n - 1].observation_id != h.observation_id
                if n
                else h.as_of >= tl.start  # a figure that appeared within the range
            )
        )
        final = next(h for h in reversed(held) if h.btc is not None)
        mark = BOUND_MARK[final.bound] if final.bound else ""
        assert final.btc is not None
        last = f"{mark}{grouped(final.btc)} BTC"
        series.append(Series(holder.slug, holder.name, values, changes, last))
    series.sort(key=lambda s: -(next((v for v in reversed(s.values) if v), 0.0)))
    when = [_when(p) for p in tl.periods]
    span = SPAN[tl.interval]
    breaks = tuple(n for n in range(1, len(when)) if (when[n] - when[n - 1]).days > span)
    return Chartable(
        tuple(series),
        tuple(no_data),
        tuple(undisclosed),
        tuple(divested),
        breaks,
        _onchain(tl, [s.slug for s in series]),
    )


def _onchain(tl: Timeline, order: Sequence[str]) -> tuple[Series, ...]:
    """Each on-chain series with a value above 0 somewhere, in the claims' order (then the
    holders drawn without a claim line)."""
    out = []
    for i, holder in enumerate(tl.holders):
        if holder.slug not in tl.onchain:
            continue
        held = [p.holdings[i] for p in tl.periods]
        values = tuple(
            None if h.onchain_value is None or not h.onchain_sats else float(h.onchain_value)
            for h in held
        )
        final = next((h for h in reversed(held) if h.onchain_btc is not None), None)
        if final is None or final.onchain_btc is None or all(v is None for v in values):
            continue
        mark = BOUND_MARK[final.onchain_bound] if final.onchain_bound else ""
        last = f"{mark}{grouped(final.onchain_btc)} BTC"
        out.append(Series(holder.slug, f"{holder.name} on-chain", values, (), last))
    rank = {slug: n for n, slug in enumerate(order)}
    out.sort(key=lambda s: rank.get(s.slug, len(rank)))
    return tuple(out)


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round tick positions (1, 2 or 5 × 10^k apart) from low to high."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return []
    if high <= low:
        high = low + (abs(low) or 1.0)
    raw = (high - low) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.floor(low / step) * step
    ticks = []
    tick = first
    while tick <= high + step / 2:
        ticks.append(round(tick, 10))
        tick += step
    return ticks


def short(value: float) -> str:
    """A compact label: 85k, 1.2M, 3B, 14.5 (the unit is in the axis label)."""
    size = abs(value)
    for limit, suffix in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k")):
        if size >= limit:
            return f"{value / limit:g}{suffix}"
    return f"{value:g}"


def notes(c: Chartable, tl: Timeline) -> list[str]:
    """What the chart says in words: the holders it cannot draw, and where prices end."""
    lines = []
    if c.no_data:
        lines.append(f"no data (no observation by then): {', '.join(c.no_data)}")
    if c.undisclosed:
        lines.append(f"undisclosed amount (no line, not zero): {', '.join(c.undisclosed)}")
    if c.divested:
        lines.append(
            f"0 BTC at the end (divested; no point on a log axis): {', '.join(c.divested)}"
        )
    if tl.bundled_ends is not None and tl.bundled_ends < tl.end:
        lines.append(
            f"the bundled price series ends {tl.bundled_ends}; later closes are stored ones"
        )
    return lines


# --- terminal (plotext) ---------------------------------------------------------------------


def terminal_chart(tl: Timeline, *, width: int = 100, height: int = 30, color: bool = False) -> str:
    """The close, and the holders' values below it on a log axis, drawn with plotext as text."""
    import plotext

    if not tl.periods:
        raise InputError("nothing to draw: no daily closes in this range (run `tracker backfill`)")
    fig = plotext.figure
    fig.clear()
    c = chartable(tl)
    panels = 2 if c.series else 1  # an on-chain line is drawn beside its holder's claims
    fig.plot_size(max(width, 40), max(height, 12 * panels))
    fig.subplots(panels, 1)
    when = [dt.datetime.combine(_when(p), dt.time(0)) for p in tl.periods]
    closes: list[float | None] = [float(p.close) for p in tl.periods]
    top = fig.subplot(1, 1) if panels == 2 else fig  # one panel: the figure is the plot
    _panel(top, when, [(f"BTC/{tl.currency} close", closes)], title(tl), color=color)
    top.label(f"{tl.currency} per BTC", axis="y")
    drawn, rest = c.series[:TERMINAL_LINES], c.series[TERMINAL_LINES:]
    shown = {s.slug for s in drawn}
    drawn += tuple(s for s in c.onchain if s.slug in shown)  # beside the claims drawn
    if drawn:
        bottom = fig.subplot(2, 1)
        logs = [(s.name, [None if v is None else math.log10(v) for v in s.values]) for s in drawn]
        _panel(bottom, when, logs, "Value of each holding (log scale)", color=color, log=True)
        bottom.label(f"{tl.currency}, log scale", axis="y")
        bottom.label("date (UTC)", axis="x")
    else:
        top.label("date (UTC)", axis="x")
    text: str = fig.build().string(colorless=not color)
    fig.clear()
    lines = [line.rstrip() for line in text.splitlines()]
    said: list[str] = []
    if drawn:
        key = "  ".join(
            f"{PLAIN_MARKERS[n % len(PLAIN_MARKERS)]} {s.name}: {s.last}"
            for n, s in enumerate(drawn)
        )
        said.append(f"holdings: {key}")
    if rest:
        names = ", ".join(s.name for s in rest)
        said.append(f"also valued, smaller, not drawn here (see --holder, --output): {names}")
    said += notes(c, tl)
    lines += [textwrap.fill(line, max(width, 40), subsequent_indent="  ") for line in said]
    return "\n".join(lines) + "\n"


def _panel(
    plot: Any,
    when: Sequence[dt.datetime],
    lines: Sequence[tuple[str, Sequence[float | None]]],
    heading: str,
    *,
    color: bool,
    log: bool = False,
) -> None:
    plot.date().activate(form="%Y-%m-%d")
    drawn: list[float] = []
    for n, (label, ys) in enumerate(lines):
        points = [(x, y) for x, y in zip(when, ys, strict=True) if y is not None]
        if not points:
            continue
        # Lines are told apart by their marker (the key below the chart names them all, as
        # plotext's own legend is left out when the panel is too short for it).
        marker = None if len(lines) == 1 else PLAIN_MARKERS[n % len(PLAIN_MARKERS)]
        signal = plot.signal([x for x, _ in points], [y for _, y in points], marker=marker)
        signal.label(label)
        signal.lines()
        plot.draw(signal)
        drawn += [y for _, y in points]
    plot.title(heading)
    if drawn:
        low, high = min(drawn), max(drawn)
        if log:  # one tick per power of ten, labelled with the value it stands for
            powers = [float(t) for t in range(math.floor(low), math.ceil(high) + 1)]
            plot.ruler("y").ticks(powers, [short(10.0**t) for t in powers])
        else:
            ticks = [t for t in nice_ticks(low, high) if low <= t <= high] or [low]
            plot.ruler("y").ticks(ticks, [short(t) for t in ticks])
    if len(when) > 1:
        plot.ruler("x").lim(when[0], when[-1])  # both panels span the same dates
        step = max(1, (len(when) - 1) // 5)
        picks = list(when[::step])
        plot.ruler("x").ticks(picks, [f"{d:%Y-%m-%d}" for d in picks])


# --- image (matplotlib) ---------------------------------------------------------------------


def save_image(tl: Timeline, path: Path) -> Path:
    """Write the chart as PNG or SVG (by the file's suffix); all or nothing."""
    kind = IMAGE_FORMATS.get(path.suffix.lower())
    if kind is None:
        raise InputError(f"--output {path}: the file name must end in .png or .svg")
    if not tl.periods:
        raise InputError("nothing to draw: no daily closes in this range (run `tracker backfill`)")
    try:
        from matplotlib import rc_context
    except ImportError:
        raise InputError(MISSING_MATPLOTLIB) from None
    if not path.parent.is_dir():
        raise InputError(f"--output {path}: directory {path.parent} does not exist")

    from tracker.render.charts_image import figure

    tmp = path.with_name(f".{path.name}.tmp")
    metadata = {"Date": None} if kind == "svg" else None  # reproducible SVG: no timestamp
    # Holder names are plain text, not mathtext: a "$" in one must neither fail nor turn the
    # rest of the name into a formula.
    with rc_context({"text.parse_math": False, "svg.hashsalt": "tracker"}):
        fig = figure(tl, chartable(tl), notes)
        try:
            fig.savefig(tmp, format=kind, metadata=metadata)
            os.replace(tmp, path)
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise InputError(f"cannot write {path}: {e.strerror}") from None
    return path
