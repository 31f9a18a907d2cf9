"""What every exchange parser needs: walk a decoded body, read an exact price, a unix time, a
daily candle, an error message.

Each returns a value or raises ``SourceError(outcome="invalid")`` with a reason naming the field.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from tracker.errors import SourceError
from tracker.money import MAX_PRICE, PRICE_SCALE, price_problem

# A plain decimal as exchanges write it. Decimal() alone is too lenient: it takes "NaN", "Infinity",
# "1_000", surrounding spaces and non-ASCII digits.
_DECIMAL = re.compile(r"-?[0-9]{1,40}(\.[0-9]{1,40})?([eE][+-]?[0-9]{1,6})?", re.ASCII)
_UNIX = re.compile(r"[0-9]{1,16}", re.ASCII)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def invalid(source: str, reason: str) -> SourceError:
    return SourceError(source=source, reason=reason, outcome="invalid")


def _where(path: tuple[str | int, ...]) -> str:
    text = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")
    return text or "body"


def dig(source: str, payload: Any, *path: str | int) -> Any:
    """``payload[path[0]][path[1]]…``: a string key needs a JSON object, an int index an array."""
    node = payload
    for i, key in enumerate(path):
        here, there = _where(path[:i]), _where(path[: i + 1])
        if isinstance(key, str):
            if not isinstance(node, dict):
                raise invalid(source, f"{here} is not a JSON object")
            if key not in node:
                raise invalid(source, f"missing field {there}")
        else:
            if not isinstance(node, list):
                raise invalid(source, f"{here} is not a JSON array")
            if len(node) <= key:
                raise invalid(source, f"missing field {there} ({here} has {len(node)} elements)")
        node = node[key]
    return node


def price(source: str, field: str, value: Any, *, number: bool = False) -> Decimal:
    """An exact price > 0 from a JSON string, or (``number=True``) a JSON number.

    JSON numbers must arrive as Decimal (``http.decode_json``); a float has already lost digits.
    """
    if number:
        if not isinstance(value, Decimal):
            kind = "a float (decode with parse_float=Decimal)" if isinstance(value, float) else None
            raise invalid(source, f"{field} is {kind or 'not a JSON number'}: {value!r:.40}")
        exact = value
    else:
        if not isinstance(value, str):
            raise invalid(source, f"{field} is not a string: {value!r:.40}")
        if not _DECIMAL.fullmatch(value):
            raise invalid(source, f"{field} is not a decimal number: {value!r:.40}")
        exact = Decimal(value)  # the pattern keeps it finite and of sane size
    if not exact.is_finite():
        raise invalid(source, f"{field} is not finite: {value}")
    if exact <= 0:
        raise invalid(source, f"{field} is {value}, not a positive price")
    if not PRICE_SCALE <= exact <= MAX_PRICE:
        raise invalid(source, f"{field} {value!s:.40} {price_problem(exact)}")
    return exact


def unix_time(source: str, field: str, value: Any, *, ms: bool = False) -> dt.datetime:
    """A UTC instant from a unix time in seconds (milliseconds with ``ms=True``).

    Accepts an integer JSON number or a string of digits: Gemini sends either.
    """
    digits = isinstance(value, str) and _UNIX.fullmatch(value) is not None
    whole = (  # bounded first: int() of a hostile 1e999999 would take a while
        isinstance(value, Decimal)
        and value.is_finite()
        and value.adjusted() < 16
        and value == value.to_integral_value()
    )
    if not (digits or whole) or int(value) <= 0:
        raise invalid(source, f"{field} is not a unix time: {value!r:.40}")
    count = int(value)
    try:
        # timedelta arithmetic is exact; fromtimestamp(count / 1000) would go through a float
        return _EPOCH + (dt.timedelta(milliseconds=count) if ms else dt.timedelta(seconds=count))
    except OverflowError:
        raise invalid(source, f"{field} is out of range: {value!s:.40}") from None


_EPOCH_DAY = dt.date(1970, 1, 1)
Row = dict[str, Any]


def unix_day(day: dt.date) -> int:
    """00:00 UTC of ``day`` in unix seconds."""
    return (day - _EPOCH_DAY).days * 86400


def candle_row(
    source: str,
    where: str,
    when: Any,
    prices: Mapping[str, Any],
    *,
    ms: bool = False,
    number: bool = False,
) -> Row:
    """A daily_prices row from one candle; its time must be 00:00 UTC (else it is not daily)."""
    at = unix_time(source, f"{where} time", when, ms=ms)
    if at.time() != dt.time(0):
        raise invalid(source, f"{where}: {at:%Y-%m-%d %H:%M} UTC is not a daily candle (00:00)")
    values = {k: price(source, f"{where} {k}", v, number=number) for k, v in prices.items()}
    for k, value in values.items():  # the bounds of a CSV import (money.price_problem)
        if (problem := price_problem(value)) is not None:
            raise invalid(source, f"{where} {k} {format(value, 'f'):.40} {problem}")
    return {"currency": "USD", "date": at.date(), "source": source, **values}


def http_message(
    source: str, *, retry_404: bool = False
) -> Callable[[int, Any], SourceError | None]:
    """Errors as ``{"message": …}`` or ``{"errors": …}`` with a 4xx/5xx status: keep the text."""

    def classify(status: int, payload: Any) -> SourceError | None:
        if status < 400 or status == 429:  # 429 is read generically, for its Retry-After
            return None
        text = ""
        if isinstance(payload, dict):
            text = str(
                payload.get("message") or payload.get("errors") or payload.get("reason") or ""
            )
        retryable = status >= 500 or (retry_404 and status == 404)
        reason = f"HTTP {status}" + (f": {text:.160}" if text else "")
        return SourceError(source=source, reason=reason, outcome="http_error", retryable=retryable)

    return classify
