"""Charts of a history: the terminal drawing and the image files (PNG, SVG)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import Result

from tracker.daily.history import Holding, Interval, Period, Timeline
from tracker.errors import InputError
from tracker.models import Basis, Bound, Gap, HolderInfo
from tracker.render import charts

Run = Callable[..., Result]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def sample(months: int = 18) -> Timeline:
    """A hand-made history: a rising price, one holder disclosed from month 6 on."""
    periods = []
    for n in range(months):
        start = dt.date(2024 + n // 12, n % 12 + 1, 1)
        end = (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1) - dt.timedelta(days=1)
        close = Decimal(40000 + 2500 * n) + Decimal("0.5")
        sats = 6_100 * 10**8 if n >= 6 else None
        holdings = (
            Holding("el-salvador", sats, Bound.AT_LEAST if sats else None,
                    Basis.REPORTED if sats else None, start if sats else None, 1 if sats else None,
                    None if sats is None else (Decimal(6100) * close).quantize(Decimal("0.01"))),
            Holding("atlantis", None, None, None, None, None, None),
        )  # fmt: skip
        periods.append(Period(f"{start:%Y-%m}", start, end, end, "bundled", close, holdings))
    return Timeline(
        interval=Interval.MONTH,
        start=periods[0].start,
        end=periods[-1].end,
        holders=(HolderInfo("el-salvador", "El Salvador"), HolderInfo("atlantis", "Atlantis")),
        periods=tuple(periods),
        missing=(),
    )


def test_png_is_a_real_image_of_some_size(tmp_path: Path) -> None:
    path = charts.save_image(sample(), tmp_path / "history.png")
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert len(data) > 20_000
    import matplotlib.image

    pixels = matplotlib.image.imread(path)
    height, width = pixels.shape[:2]
    assert width >= 800 and height >= 600
    assert pixels.std() > 0.05  # not a blank canvas
    assert not list(tmp_path.glob(".*.tmp"))


def test_svg_has_title_labels_and_legend(tmp_path: Path) -> None:
    path = charts.save_image(sample(), tmp_path / "history.SVG")
    text = path.read_text()
    root = ET.fromstring(text)
    assert root.tag.endswith("svg")
    assert len(text) > 20_000
    # matplotlib writes every text as a comment next to its glyphs
    for words in (
        "BTC/USD monthly close and holdings, 2024-01-01 to 2025-06-30",
        "USD per BTC (log scale)",
        "value (USD, log scale)",
        "date (UTC)",
        "BTC/USD close (bundled)",
        "El Salvador: ≥6,100 BTC",
        "a new figure: the holding changed",
    ):
        assert words in text, words
    assert "Atlantis: " not in text  # never disclosed: no line, no legend entry …
    assert "no data (no observation by then): Atlantis" in said(text)  # … but named


def svg_of(tmp_path: Path, tl: Timeline) -> tuple[str, ET.Element]:
    text = charts.save_image(tl, tmp_path / "h.svg").read_text()
    return text, ET.fromstring(text)


def by_id(root: ET.Element, ident: str) -> ET.Element | None:
    return next((e for e in root.iter() if e.get("id") == ident), None)


def tick_labels(root: ET.Element, axes_id: str) -> list[str]:
    """The y tick labels of the axes matplotlib wrote with ``axes_id`` (from its comments)."""
    axes = by_id(root, axes_id)
    assert axes is not None, axes_id
    ytick_groups = [e for e in axes.iter() if (e.get("id") or "").startswith("ytick_")]
    out = []
    for group in ytick_groups:
        texts = [e for e in group.iter() if (e.get("id") or "").startswith("text_")]
        out += ["".join(t.itertext()).strip() for t in texts]
    return out


UNITS = {"": 1.0, "k": 1e3, "M": 1e6, "B": 1e9, "T": 1e12}


def said(text: str) -> str:
    """Every text matplotlib drew, from its comments, as one line (wrapped lines joined)."""
    return " ".join(" ".join(re.findall(r"<!-- (.*?) -->", text)).split())


def y_ticks(text: str, axes_id: str, label: str) -> dict[float, float]:
    """The y tick values of the axes ``axes_id`` and where each is drawn (SVG y, downwards)."""
    part = text[text.index(f'id="{axes_id}"') :]
    part = part[: part.index(f"<!-- {label} -->")]  # the y label follows the ticks
    ticks = re.findall(
        r'<g id="ytick_\d+">.*?<use [^>]*?y="([\d.]+)".*?<!-- ([\d.]+)([kMBT]?) -->', part, re.S
    )
    return {float(n) * UNITS[unit]: float(y) for y, n, unit in ticks}


def test_values_are_on_a_log_axis(tmp_path: Path) -> None:
    """El Salvador's ~6,000 BTC beside a 200,000 BTC holder: equal ratios, equal distances."""
    big = dataclasses.replace(sample(), holders=(HolderInfo("el-salvador", "El Salvador"),
                                                 HolderInfo("atlantis", "Atlantis")))  # fmt: skip
    periods = tuple(
        dataclasses.replace(p, holdings=(p.holdings[0], dataclasses.replace(
            p.holdings[0], slug="atlantis", sats=200_000 * 10**8, observation_id=2,
            value=Decimal(200_000) * p.close)))
        for p in big.periods
    )  # fmt: skip
    text, _ = svg_of(tmp_path, dataclasses.replace(big, periods=periods))
    ticks = y_ticks(text, "holding-values", "value (USD, log scale)")
    assert len(ticks) >= 3, ticks
    (a, ya), (b, yb), (c, yc) = sorted(ticks.items())[:3]
    # on a log axis the distance between two ticks follows the log of their ratio
    assert (yb - ya) / (yc - ya) == pytest.approx(math.log(b / a) / math.log(c / a), rel=0.01)
    assert "value (USD, log scale)" in text
    assert len(charts.chartable(dataclasses.replace(big, periods=periods)).series) == 2


def test_changes_are_marked(tmp_path: Path) -> None:
    tl = sample()
    # a second figure for El Salvador from month 12 on: marked there, and where it first appears
    periods = tuple(
        p if n < 12 else dataclasses.replace(p, holdings=(dataclasses.replace(
            p.holdings[0], sats=6_200 * 10**8, observation_id=7,
            value=Decimal(6200) * p.close), p.holdings[1]))
        for n, p in enumerate(tl.periods)
    )  # fmt: skip
    _, root = svg_of(tmp_path, dataclasses.replace(tl, periods=periods))
    marks = by_id(root, "changes-el-salvador")
    assert marks is not None
    assert len([e for e in marks.iter() if e.tag.endswith("use")]) == 2  # month 6 and month 12
    assert charts.chartable(dataclasses.replace(tl, periods=periods)).series[0].changes == (6, 12)


def test_no_data_is_said_not_drawn_as_zero(tmp_path: Path) -> None:
    text, root = svg_of(tmp_path, sample())
    flat = said(text)
    assert by_id(root, "no-data-holdings") is not None  # the six months before the first figure
    assert "no data" in flat and "on record before 2024-07" in flat
    series = charts.chartable(sample()).series[0]
    assert series.values[:6] == (None,) * 6  # a gap, not zeros
    assert all(v is not None and v > 0 for v in series.values[6:])


def test_undisclosed_and_divested_are_named(tmp_path: Path) -> None:
    tl = sample()
    periods = tuple(
        dataclasses.replace(p, holdings=(
            dataclasses.replace(p.holdings[0], sats=0, value=Decimal(0)) if n == len(tl.periods) - 1
            else p.holdings[0], dataclasses.replace(p.holdings[1], undisclosed=True)))
        for n, p in enumerate(tl.periods)
    )  # fmt: skip
    c = charts.chartable(dataclasses.replace(tl, periods=periods))
    assert (c.undisclosed, c.divested, c.no_data) == (("Atlantis",), ("El Salvador",), ())
    assert c.series[0].values[-1] is None  # 0 BTC: no point on a log axis, named instead
    text, _ = svg_of(tmp_path, dataclasses.replace(tl, periods=periods))
    flat = said(text)
    assert "undisclosed amount (no line, not zero): Atlantis" in flat
    assert "0 BTC at the end (divested; no point on a log axis): El Salvador" in flat


def test_the_end_of_the_price_data_is_marked(tmp_path: Path) -> None:
    tl = sample()
    last = tl.periods[-1].close_date
    tl = dataclasses.replace(
        tl, bundled_ends=dt.date(2025, 3, 15), end=last + dt.timedelta(days=120),
        missing=(Gap(last + dt.timedelta(days=1), last + dt.timedelta(days=120)),),
    )  # fmt: skip
    text, root = svg_of(tmp_path, tl)
    assert by_id(root, "price-data-end") is not None
    flat = said(text)
    assert "bundled prices end 2025-03-15" in flat
    assert "later: stored closes only" in flat
    assert by_id(root, "no-data-0") is not None and "no price data" in flat  # the months after


def test_a_gap_in_the_daily_series_breaks_the_lines() -> None:
    tl = sample()
    periods = tl.periods[:8] + tl.periods[11:]  # three months without any close
    c = charts.chartable(dataclasses.replace(tl, periods=periods))
    assert c.breaks == (8,)


def test_missing_matplotlib_gets_a_clear_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    with pytest.raises(InputError, match=r"pip install 'tracker\[charts\]'"):
        charts.save_image(sample(), tmp_path / "h.png")
    assert not (tmp_path / "h.png").exists()


def test_other_suffixes_and_missing_directories_are_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"\.png or \.svg"):
        charts.save_image(sample(), tmp_path / "h.jpg")
    with pytest.raises(InputError, match="does not exist"):
        charts.save_image(sample(), tmp_path / "nowhere" / "h.png")


def test_terminal_chart_has_title_axes_legend_and_dates() -> None:
    text = charts.terminal_chart(sample(), width=100, height=40)
    assert "\x1b[" not in text  # no colour codes unless asked
    for words in ("BTC/USD monthly close and holdings", "USD per BTC", "USD, log scale",
                  "date (UTC)", "BTC/USD close", "El Salvador", "2024-01-31",
                  "no data (no observation by then): Atlantis"):  # fmt: skip
        assert words in text, words
    assert re.search(r"\d+k", text)  # price ticks read 40k, 60k, …
    assert max(len(line) for line in text.splitlines()) <= 100


def test_terminal_chart_draws_the_largest_and_names_the_rest() -> None:
    tl = sample()
    names = [f"Holder {n}" for n in range(7)]
    periods = tuple(
        dataclasses.replace(p, holdings=tuple(
            dataclasses.replace(p.holdings[0], slug=f"h{n}", sats=(n + 1) * 10**8,
                                value=(n + 1) * p.close) for n in range(7)))
        for p in tl.periods
    )  # fmt: skip
    tl = dataclasses.replace(
        tl, holders=tuple(HolderInfo(f"h{n}", name) for n, name in enumerate(names)),
        periods=periods,
    )  # fmt: skip
    text = charts.terminal_chart(tl, width=100, height=40)
    key = "holdings: • Holder 6: ≥7 BTC x Holder 5: ≥6 BTC + Holder 4: ≥5 BTC o Holder 3: ≥4 BTC"
    flat = " ".join(text.split())
    assert key + " * Holder 2: ≥3 BTC also valued" in flat  # the five largest, by marker
    assert max(len(line) for line in text.splitlines()) <= 100
    rest = flat.split("also valued, smaller, not drawn here (see --holder, --output): ")[1]
    assert rest.startswith("Holder 1, Holder 0")
    assert "USD, log scale" in text


def test_terminal_chart_without_any_holding_draws_the_price() -> None:
    tl = sample()
    periods = tuple(dataclasses.replace(p, holdings=p.holdings[1:]) for p in tl.periods)
    tl = dataclasses.replace(tl, holders=tl.holders[1:], periods=periods)
    text = charts.terminal_chart(tl, width=100, height=30)
    assert "USD per BTC" in text and "no data (no observation by then): Atlantis" in text


def test_nice_ticks() -> None:
    assert charts.nice_ticks(40000.5, 82500.5) == [40000, 60000, 80000]
    assert charts.nice_ticks(0.24, 0.71, 4) == [0.2, 0.4, 0.6, 0.8]


def test_history_command_writes_the_image_or_says_why_not(
    tmp_path: Path, run_cli: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    png = tmp_path / "h.png"
    done = run_cli("history", "--from", "2025-01-01", "--to", "2025-06-30", "--output", str(png))
    assert done.exit_code == 0, done.stderr
    assert png.read_bytes()[:8] == PNG_SIGNATURE and "wrote" in done.stderr
    assert "2025-06" in done.stdout  # the table is still printed

    chart = run_cli("history", "--from", "2025-01-01", "--to", "2025-06-30", "--chart")
    assert chart.exit_code == 0 and "USD per BTC" in chart.stdout

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    for name in [m for m in sys.modules if m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, name)
    svg = tmp_path / "h.svg"
    failed = run_cli("history", "--output", str(svg))
    assert failed.exit_code == 1 and failed.stdout == ""
    assert failed.stderr.count("\n") == 1 and "tracker[charts]" in failed.stderr
    assert not svg.exists()


def test_names_are_drawn_as_typed(tmp_path: Path) -> None:
    names = ("Fund $x^$ [/]", "A $5 and $6 fund")  # mathtext would fail on one, mangle the other
    tl = sample()
    holding = tl.periods[-1].holdings[0]
    periods = tuple(
        dataclasses.replace(p, holdings=(p.holdings[0], dataclasses.replace(holding)))
        for p in tl.periods
    )
    tl = dataclasses.replace(
        tl,
        holders=(HolderInfo("el-salvador", names[0]), HolderInfo("other", names[1])),
        periods=periods,
    )
    text = charts.save_image(tl, tmp_path / "names.svg").read_text()
    assert "Oblique" not in text  # no glyph in mathtext's italic: nothing drawn as a formula
    for name in names:
        assert f"<!-- {name}: ≥6,100 BTC -->" in text, name  # matplotlib's comment on its text
        assert name in charts.terminal_chart(tl, width=100, height=40)
