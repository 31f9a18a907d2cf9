"""Kraken: the ticker (``result.<only key>.c[0]``, the last trade, a string; no timestamp) and
daily OHLC (only its newest 720 days; no paging).

Kraken reports errors as HTTP 200 with a non-empty ``error`` array, so that is read first.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

from tracker.errors import SourceError
from tracker.models import Quote
from tracker.sources.parse import Row, candle_row, dig, invalid, price, unix_day
from tracker.sources.protocols import Candles

name: Final = "kraken"
role: Final = "core"
path: Final = "/0/public/Ticker?pair=XBTUSD"

# Messages are "<severity><category>:<text>"; severity E is an error, W only a warning.
# https://docs.kraken.com/api/docs/guides/spot-errors
_RATE_LIMITED = ("EAPI:Rate limit exceeded", "EGeneral:Too many requests")
_TRANSIENT = ("EService:", "EGeneral:Internal error")


def _errors(payload: Any) -> list[str]:
    found = payload.get("error") if isinstance(payload, dict) else None
    return [str(e) for e in found if str(e).startswith("E")] if isinstance(found, list) else []


def classify(status: int, payload: Any) -> SourceError | None:
    errors = _errors(payload)
    if not errors:
        return None
    reason = "; ".join(errors)
    if any(e.startswith(_RATE_LIMITED) for e in errors):
        return SourceError(source=name, reason=reason, outcome="rate_limited")
    if all(e.startswith(_TRANSIENT) for e in errors):
        return SourceError(source=name, reason=reason, outcome="http_error", retryable=True)
    # The rest (EQuery:Unknown asset pair, EGeneral:Invalid arguments) will not change on retry.
    return SourceError(source=name, reason=reason, outcome="invalid")


def parse(payload: Any, *, fetched_at: dt.datetime) -> Quote:
    if errors := _errors(payload):
        raise invalid(name, "; ".join(errors))
    result = dig(name, payload, "result")
    if not isinstance(result, dict) or len(result) != 1:
        # The key is Kraken's own pair name (XXBTZUSD), not the XBTUSD we asked for: take the
        # only one there is, and refuse to guess between several.
        held = ", ".join(result) if isinstance(result, dict) else type(result).__name__
        raise invalid(name, f"result should hold exactly one pair, not: {held or 'none'}")
    (pair,) = result
    last = price(name, f"result.{pair}.c[0]", dig(name, payload, "result", pair, "c", 0))
    return Quote(source=name, price=last, fetched_at=fetched_at)


# --- daily candles (`tracker backfill`, the daily close job) ------------------------------------


def candle_url(base: str, first: dt.date, last: dt.date) -> str:
    # Kraken answers with the newest 720 candles whatever `since` says; one second before
    # the first day keeps that day in under either reading of `since`.
    return f"{base}/0/public/OHLC?pair=XBTUSD&interval=1440&since={unix_day(first) - 1}"


def parse_candles(payload: Any) -> list[Row]:
    # [time, open, high, low, close, vwap, volume, count]; the last row is today's open candle.
    if (error := classify(200, payload)) is not None:
        raise error
    result = dig(name, payload, "result")
    pairs = [k for k in result if k != "last"] if isinstance(result, dict) else []
    if len(pairs) != 1:
        raise invalid(
            name, f"result should hold exactly one pair, not: {', '.join(pairs) or 'none'}"
        )
    (pair,) = pairs
    ohlc = dig(name, payload, "result", pair)
    if not isinstance(ohlc, list):
        raise invalid(name, f"result.{pair} is not a JSON array")
    rows = []
    for i, candle in enumerate(ohlc[:-1]):
        if not isinstance(candle, list) or len(candle) < 5:
            raise invalid(name, f"result.{pair}[{i}] is not an OHLC row")
        fields = {"open": candle[1], "high": candle[2], "low": candle[3], "close": candle[4]}
        rows.append(candle_row(name, f"result.{pair}[{i}]", candle[0], fields))
    return rows


candles: Final = Candles(
    name=name, base_url="https://api.kraken.com", page_days=720, pause_s=1.0,
    first_day=None, url=candle_url, parse=parse_candles, classify=classify,
)  # fmt: skip
