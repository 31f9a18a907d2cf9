"""The image of a `tracker history` (matplotlib): the close above, each sovereign's holding value
below on a log axis, the days a holding changed marked, where the price data ends marked, and
"no data" said where there is none; a holder's on-chain balance dashed in its colour beside its
claims. Imported only when an image is asked for."""

from __future__ import annotations

import datetime as dt
import math
import textwrap
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from tracker.clock import DAY
from tracker.daily.history import Timeline
from tracker.render.charts import SPAN, Chartable, Series, short
from tracker.render.daily import title

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

PRICE_COLOUR = "#f7931a"  # bitcoin orange, for the price only
# Told apart by colour first, then by dash: 10 colours × 2 styles for up to 20 sovereigns.
HOLDER_COLOURS = (
    "#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b",
    "#e377c2", "#17becf", "#7f7f7f", "#bcbd22", "#393b79",
)  # fmt: skip
DASHES = ("-", "-.")  # claims; an on-chain line is dashed ("--") in its holder's colour
ONCHAIN_DASH = "--"
GAP_COLOUR = "#9e9e9e"
MAX_SPANS = 200  # more runs of missing days than this are named in the notes, not shaded


def figure(tl: Timeline, c: Chartable, notes: Callable[[Chartable, Timeline], list[str]]) -> Figure:
    from matplotlib.figure import Figure

    lines = bool(c.series or c.onchain)
    fig = Figure(figsize=(12, 8.6 if lines else 4.8), dpi=110, layout="constrained")
    rows = 2 if lines else 1
    axes = fig.subplots(
        rows, 1, sharex=True, squeeze=False, height_ratios=[1, 2.3][:rows] if rows == 2 else None
    )[:, 0]
    fig.suptitle(title(tl), fontsize=13, fontweight="bold")
    top = axes[0]
    top.set_gid("price")
    when = [p.close_date for p in tl.periods]
    xs, ys = _broken(when, [float(p.close) for p in tl.periods], c.breaks)
    top.plot(xs, ys, color=PRICE_COLOUR, linewidth=1.6,
             label=f"BTC/{tl.currency} close ({_sources(tl)})")  # fmt: skip
    _log_axis(top, [float(p.close) for p in tl.periods])
    top.set_ylabel(f"{tl.currency} per BTC (log scale)")
    top.set_title("Price: the last daily close of each period", fontsize=10, loc="left")
    if lines:
        _values(axes[1], tl, c, when)
    for ax in axes:
        _gaps(ax, tl, first=ax is top)
        ax.grid(True, which="major", alpha=0.3)
        ax.set_xlim(tl.start, tl.end + DAY)
    top.legend(loc="upper left", frameon=False, fontsize=8)
    _x_axis(axes[-1])
    said = [textwrap.fill(line, 46, subsequent_indent="  ") for line in notes(c, tl)]
    if said:  # below the legend, in the right margin the layout keeps for it
        axes[-1].text(1.01, 0.0, "\n".join(said), transform=axes[-1].transAxes, ha="left",
                      va="bottom", fontsize=8, color="#424242", gid="notes")  # fmt: skip
    fig.text(0.995, 0.002, "tracker history", ha="right", va="bottom", fontsize=7, alpha=0.6)
    return fig


def _values(ax: Axes, tl: Timeline, c: Chartable, when: Sequence[dt.date]) -> None:
    from matplotlib.lines import Line2D

    ax.set_gid("holding-values")
    drawn: list[float] = []
    colours: dict[str, str] = {}
    for n, s in enumerate(c.series):
        colour = colours[s.slug] = HOLDER_COLOURS[n % len(HOLDER_COLOURS)]
        dash = DASHES[(n // len(HOLDER_COLOURS)) % len(DASHES)]
        xs, ys = _broken(when, [math.nan if v is None else v for v in s.values], c.breaks)
        ax.plot(xs, ys, color=colour, linestyle=dash, linewidth=1.6, label=f"{s.name}: {s.last}")
        chain = next((o for o in c.onchain if o.slug == s.slug), None)
        if chain is not None:  # beside the claims, in the legend right under them
            drawn += _onchain_line(ax, chain, colour, when, c)
        changed = [(_num(when[i]), v) for i in s.changes if (v := s.values[i]) is not None]
        if changed:
            ax.plot([x for x, _ in changed], [y for _, y in changed], linestyle="none",
                    marker="o", markersize=5, markerfacecolor="white", markeredgecolor=colour,
                    markeredgewidth=1.4, gid=f"changes-{s.slug}")  # fmt: skip
        drawn += [v for v in s.values if v is not None]
    for n, o in enumerate(o for o in c.onchain if o.slug not in colours):  # no claim line
        colour = HOLDER_COLOURS[(len(c.series) + n) % len(HOLDER_COLOURS)]
        drawn += _onchain_line(ax, o, colour, when, c)
    _log_axis(ax, drawn)
    first = min(
        next(i for i, v in enumerate(s.values) if v is not None) for s in c.series + c.onchain
    )
    if (when[first] - tl.start).days >= (tl.end - tl.start).days * 0.08:
        middle = tl.start + (when[first] - tl.start) / 2
        said = f"no data\n(no holding above 0 BTC\non record before {when[first]:%Y-%m})"
        ax.text(_num(middle), 0.5, said,
                transform=ax.get_xaxis_transform(), ha="center", va="center", fontsize=9,
                color="#757575", gid="no-data-holdings")  # fmt: skip
    ax.set_ylabel(f"value ({tl.currency}, log scale)")
    ax.set_title(
        "Value of each sovereign's holding (its headline at each period's end): "
        "no line where there is no data"
        + ("; dashed: its addresses' balance on-chain" if c.onchain else ""),
        fontsize=10,
        loc="left",
    )
    handles, _ = ax.get_legend_handles_labels()
    handles.append(
        Line2D(
            [],
            [],
            linestyle="none",
            marker="o",
            markerfacecolor="white",
            markeredgecolor="black",
            label="a new figure: the holding changed",
        )
    )
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False,
              fontsize=8, title="largest first (latest holding)", title_fontsize=8)  # fmt: skip


def _onchain_line(
    ax: Axes, s: Series, colour: str, when: Sequence[dt.date], c: Chartable
) -> list[float]:
    xs, ys = _broken(when, [math.nan if v is None else v for v in s.values], c.breaks)
    ax.plot(xs, ys, color=colour, linestyle=ONCHAIN_DASH, linewidth=1.4, alpha=0.9,
            label=f"{s.name}: {s.last}", gid=f"onchain-{s.slug}")  # fmt: skip
    return [v for v in s.values if v is not None]


def _num(day: dt.date) -> float:
    """A date as matplotlib's axis number."""
    from matplotlib.dates import date2num

    return float(date2num(day))  # type: ignore[no-untyped-call]


def _broken(
    when: Sequence[dt.date], ys: Sequence[float], breaks: Sequence[int]
) -> tuple[list[Any], list[float]]:
    """The points, with a NaN between two periods a gap in the daily series separates, so the
    line stops there instead of bridging days without a close."""
    xs: list[Any] = []
    out: list[float] = []
    cut = set(breaks)
    for n, (x, y) in enumerate(zip(when, ys, strict=True)):
        if n in cut:
            xs.append(when[n - 1] + (x - when[n - 1]) / 2)
            out.append(math.nan)
        xs.append(x)
        out.append(y)
    return xs, out


def _log_axis(ax: Axes, values: Sequence[float]) -> None:
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_yscale("log")
    shown = [v for v in values if v > 0 and math.isfinite(v)]
    if not shown:
        return
    decades = math.log10(max(shown)) - math.log10(min(shown))
    subs = (1.0,) if decades >= 2 else (1.0, 2.0, 5.0)  # enough labelled ticks on a short axis
    ax.yaxis.set_major_locator(LogLocator(base=10, subs=subs))
    ax.yaxis.set_major_formatter(FuncFormatter(lambda y, _: short(y)))
    ax.yaxis.set_minor_formatter(NullFormatter())
    low, high = min(shown), max(shown)
    ax.set_ylim(low / 1.6, high * 1.6)


def _gaps(ax: Axes, tl: Timeline, *, first: bool) -> None:
    """Grey where the daily series has no close ("no price data"), and a line where the
    bundled series ends."""
    days = [(g.first, g.last + DAY) for g in tl.missing][:MAX_SPANS]
    if tl.periods and tl.end > tl.periods[-1].close_date + SPAN[tl.interval] * DAY:
        days.append((tl.periods[-1].close_date + DAY, tl.end + DAY))  # after the last close
    whole = max((tl.end - tl.start).days, 1)
    spans = [(_num(a), _num(b)) for a, b in days]
    for n, (a, b) in enumerate(spans):
        ax.axvspan(a, b, color=GAP_COLOUR, alpha=0.18, linewidth=0, gid=f"no-data-{n}",
                   label="no price data" if first and n == 0 else None)  # fmt: skip
        if b - a >= whole * 0.02:
            ax.text(a + (b - a) / 2, 0.5, "no data", transform=ax.get_xaxis_transform(),
                    ha="center", va="center", rotation=90, fontsize=8, color="#616161")  # fmt: skip
    end = tl.bundled_ends
    if end is not None and tl.start <= end < tl.end:
        x = _num(end + DAY)
        ax.axvline(x, color="#424242", linestyle=":", linewidth=1.2, gid="price-data-end",
                   label=f"bundled prices end {end}" if first else None)  # fmt: skip
        if first:
            ax.text(x, 0.97, f" bundled prices end {end};\n later: stored closes only",
                    transform=ax.get_xaxis_transform(), ha="left", va="top", fontsize=7,
                    color="#424242")  # fmt: skip


def _x_axis(ax: Axes) -> None:
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    locator = AutoDateLocator(minticks=4, maxticks=10)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]
    ax.set_xlabel("date (UTC)")


def _sources(tl: Timeline) -> str:
    from tracker.daily import daily_preference

    return ", ".join(sorted({p.close_source for p in tl.periods}, key=daily_preference))
