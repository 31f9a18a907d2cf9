"""Charts of a `tracker history`: in the terminal (plotext) or as a PNG or SVG image (matplotlib,
the optional ``charts`` extra). Prices and values become floats here, for drawing only."""

from __future__ import annotations

import datetime as dt
import itertools
import math
import os
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracker.daily.history import Period, Timeline
from tracker.errors import InputError
from tracker.render.daily import title

if TYPE_CHECKING:
    from matplotlib.figure import Figure

IMAGE_FORMATS = {".png": "png", ".svg": "svg"}
MISSING_MATPLOTLIB = (
    "writing an image needs matplotlib, the optional 'charts' extra: pip install 'tracker[charts]'"
)
BILLION = 1e9
PRICE_COLOUR = "#f7931a"  # bitcoin orange, for the price only
PLAIN_MARKERS = ("•", "x", "+", "o", "*", "#")
HOLDER_COLOURS = ("#1f77b4", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#17becf", "#7f7f7f")


def _when(p: Period) -> dt.date:
    """Where a period sits on the time axis: the day of its close."""
    return p.close_date


def _series(tl: Timeline) -> list[tuple[str, list[float | None]]]:
    """Each holder's value per period, in billions (None where undisclosed); holders that are
    undisclosed throughout are left out."""
    out = []
    for i, holder in enumerate(tl.holders):
        values = [_billions(p.holdings[i].value) for p in tl.periods]
        if any(v is not None for v in values):
            out.append((holder.name, values))
    return out


def _billions(value: Decimal | None) -> float | None:
    return None if value is None else float(value) / BILLION


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


def _short(value: float) -> str:
    """A compact tick label: 85k, 1.2M, 14.5 (the unit is in the axis label)."""
    size = abs(value)
    if size >= 1e6:
        return f"{value / 1e6:g}M"
    if size >= 1e3:
        return f"{value / 1e3:g}k"
    return f"{value:g}"


# --- terminal (plotext) ---------------------------------------------------------------------


def terminal_chart(tl: Timeline, *, width: int = 100, height: int = 30, color: bool = False) -> str:
    """The close, and the holders' values below it, drawn with plotext as text."""
    import plotext

    if not tl.periods:
        raise InputError("nothing to draw: no daily closes in this range (run `tracker backfill`)")
    fig = plotext.figure
    fig.clear()
    values = _series(tl)
    panels = 2 if values else 1
    fig.plot_size(max(width, 40), max(height, 12 * panels))
    fig.subplots(panels, 1)
    when = [dt.datetime.combine(_when(p), dt.time(0)) for p in tl.periods]
    closes = [float(p.close) for p in tl.periods]
    top = fig.subplot(1, 1)
    _panel(top, when, [(f"BTC/{tl.currency} close", closes)], f"{title(tl)}", color=color)
    top.label(f"{tl.currency} per BTC", axis="y")
    if values:
        bottom = fig.subplot(2, 1)
        _panel(bottom, when, values, "Value of each holding", color=color)
        bottom.label(f"billion {tl.currency}", axis="y")
        bottom.label("date (UTC)", axis="x")
    else:
        top.label("date (UTC)", axis="x")
    text: str = fig.build().string(colorless=not color)
    fig.clear()
    return "\n".join(line.rstrip() for line in text.splitlines()) + "\n"


def _panel(
    plot: Any,
    when: Sequence[dt.datetime],
    lines: Sequence[tuple[str, Sequence[float | None]]],
    heading: str,
    *,
    color: bool,
) -> None:
    plot.date().activate(form="%Y-%m-%d")
    drawn: list[float] = []
    for n, (label, ys) in enumerate(lines):
        points = [(x, y) for x, y in zip(when, ys, strict=True) if y is not None]
        if not points:
            continue
        # Without colour, lines are told apart by their marker.
        marker = None if color or len(lines) == 1 else PLAIN_MARKERS[n % len(PLAIN_MARKERS)]
        signal = plot.signal([x for x, _ in points], [y for _, y in points], marker=marker)
        signal.label(label)
        signal.lines()
        plot.draw(signal)
        drawn += [y for _, y in points]
    plot.title(heading)
    if drawn:
        low, high = min(drawn), max(drawn)
        ticks = [t for t in nice_ticks(low, high) if low <= t <= high] or [low]
        plot.ruler("y").ticks(ticks, [_short(t) for t in ticks])
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

    tmp = path.with_name(f".{path.name}.tmp")
    metadata = {"Date": None} if kind == "svg" else None  # reproducible SVG: no timestamp
    # Holder names are plain text, not mathtext: a "$" in one must neither fail nor turn the
    # rest of the name into a formula.
    with rc_context({"text.parse_math": False}):
        fig = _figure(tl)
        try:
            fig.savefig(tmp, format=kind, metadata=metadata)
            os.replace(tmp, path)
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise InputError(f"cannot write {path}: {e.strerror}") from None
    return path


def _figure(tl: Timeline) -> Figure:
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    values = _series(tl)
    when = [_when(p) for p in tl.periods]
    fig = Figure(figsize=(10, 7.5 if values else 4.5), dpi=110, layout="constrained")
    axes = fig.subplots(2 if values else 1, 1, sharex=True, squeeze=False)[:, 0]
    fig.suptitle(title(tl), fontsize=13, fontweight="bold")

    top = axes[0]
    top.plot(when, [float(p.close) for p in tl.periods], color=PRICE_COLOUR, linewidth=1.6,
             label=f"BTC/{tl.currency} close ({_sources(tl)})")  # fmt: skip
    top.set_ylabel(f"{tl.currency} per BTC")
    top.set_title("Price: the last daily close of each period", fontsize=10, loc="left")
    top.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:,.0f}"))
    if values:
        bottom = axes[1]
        for (name, ys), colour in zip(values, itertools.cycle(HOLDER_COLOURS), strict=False):
            bottom.plot(when, [math.nan if y is None else y for y in ys],
                        color=colour, linewidth=1.6, label=name)  # fmt: skip
        bottom.set_ylabel(f"billion {tl.currency}")
        bottom.set_title("Value of each holding (undisclosed: no line)", fontsize=10, loc="left")
        bottom.yaxis.set_major_formatter(FuncFormatter(lambda y, _: f"{y:,.1f}"))
    for ax in axes:
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper left", frameon=False)
    locator = AutoDateLocator(minticks=4, maxticks=10)  # type: ignore[no-untyped-call]
    axes[-1].xaxis.set_major_locator(locator)
    axes[-1].xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    axes[-1].set_xlabel("date (UTC)")
    fig.text(0.995, 0.002, "tracker history", ha="right", va="bottom", fontsize=7, alpha=0.6)
    return fig


def _sources(tl: Timeline) -> str:
    from tracker.daily import daily_preference

    return ", ".join(sorted({p.close_source for p in tl.periods}, key=daily_preference))
