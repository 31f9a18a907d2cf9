"""What every renderer shares: number and time formats, the terminal's width, control
characters made harmless, CSV documents, Markdown cells and a Rich console that renders into a
string."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import shutil
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from tracker.models import Bound

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

BOUND_MARK = {Bound.EXACT: "", Bound.AT_LEAST: "≥", Bound.AT_MOST: "≤", Bound.APPROXIMATE: "~"}
# C0 controls but tab and line feed, DEL and the C1 controls: ESC[2J clears a screen, an OSC
# sequence sets the window title, and C1 CSI (U+009B) does as ESC[ on some terminals.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_C1 = re.compile(r"[\x7f-\x9f]")


def clean(text: str) -> str:
    """``text`` with every control character shown as ``\\xNN`` instead of acting on the
    terminal (names, sources, notes and servers' error texts come from outside)."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def clean_json(text: str) -> str:
    """JSON escapes C0 controls itself; C1 controls (written raw with ensure_ascii=False) are
    escaped here, which is valid anywhere they can occur: inside strings."""
    return _C1.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def terminal_width() -> int:
    """The width to fit: $COLUMNS, else the terminal's, else 80."""
    return max(shutil.get_terminal_size((80, 24)).columns, 40)


def iso(instant: dt.datetime) -> str:
    return instant.astimezone(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def plain(value: Decimal | None) -> str | None:
    """A decimal as a plain string, without exponent or trailing zeros."""
    if value is None:
        return None
    return format(value.normalize(), "f")


def cents(value: Decimal | None) -> str | None:
    """Cents always shown: values and differences are quantized to cents already."""
    return None if value is None else format(value, "f")


def price_text(value: Decimal) -> str:
    """A price with at least two decimals (84575.70, not 84575.7)."""
    exponent = value.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent >= -2:
        return format(value.quantize(Decimal("0.01")), "f")
    return plain(value) or ""


def grouped(value: Decimal, places: int | None = None) -> str:
    if places is None:
        text = plain(value) or "0"
        whole, _, frac = text.partition(".")
        return f"{int(whole):,}" + (f".{frac}" if frac else "")
    return f"{value:,.{places}f}"


def signed_money(value: Decimal, places: int = 2) -> str:
    sign = "+" if value >= 0 else "−"
    return f"{sign}${grouped(abs(value), places)}"


def signed_pct(value: Decimal | None) -> str:
    return "—" if value is None else f"{'+' if value >= 0 else '−'}{abs(value)} %"


def csv_text(
    fieldnames: Sequence[str],
    rows: Iterable[Mapping[str, Any]],
    *,
    extra: Literal["raise", "ignore"] = "raise",
) -> str:
    """A CSV document: header, then ``rows``; LF line ends (``extra="ignore"`` drops keys
    that are not columns)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fieldnames, lineterminator="\n", extrasaction=extra)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def md(cell: object) -> str:
    """A Markdown table cell: pipes escaped, line breaks folded."""
    return " ".join(str(cell).replace("|", "\\|").split())


def md_row(cells: Iterable[object]) -> str:
    return "| " + " | ".join(md(c) for c in cells) + " |"


def cell(value: object, style: str = "") -> Text:
    """A table cell as literal text (never Rich markup), control characters made harmless."""
    from rich.text import Text

    return Text(clean(str(value)), style=style)


def text_console(*, width: int | None = None, color: bool = False) -> Console:
    """A Rich console that renders into a string, ``width`` wide (default: the terminal's).
    Markup and emoji codes are off, and strings printed are cleaned, so names and sources
    from users or servers always print as typed and never act on the terminal."""
    from rich.console import Console

    class _Console(Console):
        def print(self, *objects: Any, **kwargs: Any) -> None:
            super().print(*(clean(o) if isinstance(o, str) else o for o in objects), **kwargs)

    return _Console(
        file=io.StringIO(), width=width or terminal_width(), color_system="auto" if color else None,
        force_terminal=color, highlight=False, soft_wrap=False, markup=False, emoji=False,
    )  # fmt: skip


def console_text(console: Console) -> str:
    """What ``text_console`` rendered, without Rich's trailing padding."""
    out = console.file
    assert isinstance(out, io.StringIO)
    return "\n".join(line.rstrip() for line in out.getvalue().splitlines()) + "\n"
