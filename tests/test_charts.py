"""Charts of a history: the terminal drawing and the image files (PNG, SVG)."""

from __future__ import annotations

import dataclasses
import datetime as dt
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
from tracker.models import Basis, Bound, HolderInfo
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
        "USD per BTC",
        "billion USD",
        "date (UTC)",
        "BTC/USD close (bundled)",
        "El Salvador",
    ):
        assert words in text, words
    assert "Atlantis" not in text  # never disclosed: no line, no legend entry


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
    for words in ("BTC/USD monthly close and holdings", "USD per BTC", "billion USD",
                  "date (UTC)", "BTC/USD close", "El Salvador", "2024-01-31"):  # fmt: skip
        assert words in text, words
    assert re.search(r"\d+k", text)  # price ticks read 40k, 60k, …
    assert max(len(line) for line in text.splitlines()) <= 100


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
        assert f"<!-- {name} -->" in text, name  # matplotlib's comment on the text it drew
        assert name in charts.terminal_chart(tl, width=100, height=40)
