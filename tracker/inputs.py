"""What users type: dates and instants, numbers, BTC amounts, slugs and free text.

Each parser returns a value or raises ``InputError`` naming what was typed and how to fix it.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal, InvalidOperation

from tracker.clock import GENESIS, end_of_day
from tracker.errors import InputError
from tracker.money import MAX_SUPPLY_BTC, SATS_PER_BTC

_GROUPED = re.compile(r"[+-]?\d{1,3}(,\d{3})+(\.\d*)?")
SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
# C0 and C1 control characters and DEL; a tab or a line break is allowed only where asked.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_CONTROL_NO_NEWLINE = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def _decimal(text: str, *, what: str, example: str) -> Decimal:
    """A decimal as people type it: "6100", "6,100.5", "$100_000", "1 %". A comma is only a
    thousands separator ("6,5" is refused, not read as 65)."""
    cleaned = text.strip().replace("_", "").replace(" ", "").lstrip("$").rstrip("%")
    if "," in cleaned:
        if not _GROUPED.fullmatch(cleaned):
            raise InputError(
                f"{what} {text!r}: use a dot for decimals; commas only between thousands "
                f"(e.g. {example})"
            )
        cleaned = cleaned.replace(",", "")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise InputError(f"{what} {text!r} is not a number (e.g. {example})") from None
    if not value.is_finite():
        raise InputError(f"{what} {text!r} is not a finite number")
    return value


def _places(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def parse_btc(text: str) -> int:
    """An exact BTC amount as satoshis: 0 to 21,000,000 with at most 8 decimals."""
    amount = _decimal(text, what="BTC amount", example="6100 or 6,100.5")
    if amount < 0:
        raise InputError(f"BTC amount {text!r} is negative")
    if amount > MAX_SUPPLY_BTC:
        raise InputError(
            f"BTC amount {text!r} is more than the 21,000,000 BTC that will ever exist"
        )
    if _places(amount) > 8:
        raise InputError(f"BTC amount {text!r} has more than 8 decimals (1 satoshi = 0.00000001)")
    return int(amount * SATS_PER_BTC)


def parse_number(
    text: str,
    *,
    what: str,
    example: str,
    positive: bool = True,
    maximum: Decimal | None = None,
    places: int = 8,
) -> Decimal:
    """A decimal a user typed: finite, above zero (at least zero when ``positive`` is False),
    at most ``maximum`` and ``places`` decimals; InputError naming ``what`` otherwise."""
    value = _decimal(text, what=what, example=example)
    if value < 0 or (positive and value == 0):
        kind = "a positive number" if positive else "a finite number of at least 0"
        raise InputError(f"{what} {text!r} must be {kind}")
    if maximum is not None and value > maximum:
        raise InputError(f"{what} {text!r} is more than {maximum:,}")
    if _places(value) > places:
        raise InputError(f"{what} {text!r} has more than {places} decimals")
    return value


def check_slug(slug: str) -> str:
    if not SLUG.fullmatch(slug):
        raise InputError(
            f"holder slug {slug!r} must be 1 to 64 lowercase letters, digits and dashes "
            "(e.g. el-salvador)"
        )
    return slug


def check_text(text: str, *, what: str, multiline: bool = False) -> str:
    """Refuse terminal control characters (ESC, BEL, C1 codes…): stored text is printed to
    terminals later, where ESC[2J would clear the screen. Line breaks only if ``multiline``."""
    pattern = _CONTROL if multiline else _CONTROL_NO_NEWLINE
    found = pattern.search(text)
    if found is not None:
        raise InputError(
            f"{what} contains the control character U+{ord(found.group()):04X}: "
            "remove it (control characters are never stored)"
        )
    return text


def check_day(value: dt.date, *, today: dt.date, what: str = "date") -> dt.date:
    """A day between bitcoin's first block and today (UTC)."""
    if value < GENESIS:
        raise InputError(f"{what} {value} is before bitcoin's first block ({GENESIS})")
    if value > today:
        raise InputError(f"{what} {value} is in the future (today is {today} UTC)")
    return value


def parse_date(text: str, *, today: dt.date, what: str = "date") -> dt.date:
    """An ISO date from bitcoin's first block to today."""
    try:
        value = dt.date.fromisoformat(text.strip())
    except ValueError:
        raise InputError(f"{what} {text!r} is not a date: use YYYY-MM-DD") from None
    return check_day(value, today=today, what=what)


def optional_date(text: str | None, *, what: str, today: dt.date) -> dt.date | None:
    return None if text is None else parse_date(text, today=today, what=what)


def parse_at(text: str, *, current: dt.datetime, what: str = "--at") -> dt.datetime:
    """A date (the end of that UTC day; today means now) or an ISO datetime (UTC when no
    offset is given), from bitcoin's first block to ``current``."""
    text = text.strip()
    try:
        try:
            day = dt.date.fromisoformat(text)  # 2025-04-14 or 20250414
        except ValueError:
            parsed = dt.datetime.fromisoformat(text)
            instant = parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed
            instant = instant.astimezone(dt.UTC)
        else:
            instant = current if day == current.date() else end_of_day(day)  # today: now
    except ValueError:
        raise InputError(
            f"{what} {text!r} is not a date or datetime: use YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS]Z"
        ) from None
    except OverflowError:
        raise InputError(f"{what} {text!r} is out of range") from None
    if instant > current:
        raise InputError(f"{what} {text} is in the future (now is {current:%Y-%m-%dT%H:%M:%SZ})")
    if instant.date() < GENESIS:
        raise InputError(f"{what} {text} is before bitcoin's first block ({GENESIS})")
    return instant
