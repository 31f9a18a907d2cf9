"""Bitstamp: the ticker (``last`` and ``timestamp``, strings) and daily OHLC candles, the
primary source of daily history (from 2011-09-13)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

from tracker.errors import SourceError
from tracker.models import Quote
from tracker.sources.parse import (
    Row,
    candle_row,
    dig,
    http_message,
    invalid,
    price,
    unix_day,
    unix_time,
)
from tracker.sources.protocols import Candles

name: Final = "bitstamp"
role: Final = "core"
path: Final = "/api/v2/ticker/btcusd/"  # the trailing slash is part of the documented path


def classify(status: int, payload: Any) -> SourceError | None:
    if status == 404:  # Bitstamp answers 404 now and then for a pair it lists: ask again
        return SourceError(source=name, reason="HTTP 404", outcome="http_error", retryable=True)
    return None


def parse(payload: Any, *, fetched_at: dt.datetime) -> Quote:
    return Quote(
        source=name,
        price=price(name, "last", dig(name, payload, "last")),
        fetched_at=fetched_at,
        quoted_at=unix_time(name, "timestamp", dig(name, payload, "timestamp")),
    )


# --- daily candles (`tracker backfill`, the daily close job) ------------------------------------


def candle_url(base: str, first: dt.date, last: dt.date) -> str:
    # With both start and end Bitstamp counts `limit` candles back from `end`: ask for exactly
    # the window so either reading of the two gives the same candles.
    days = (last - first).days + 1
    return (
        f"{base}/api/v2/ohlc/btcusd/?step=86400&limit={days}"
        f"&start={unix_day(first)}&end={unix_day(last)}&exclude_current_candle=true"
    )


def parse_candles(payload: Any) -> list[Row]:
    pair = dig(name, payload, "data", "pair")
    if pair != "BTC/USD":
        raise invalid(name, f"data.pair is {pair!r:.20}, not BTC/USD")
    ohlc = dig(name, payload, "data", "ohlc")
    if not isinstance(ohlc, list):
        raise invalid(name, "data.ohlc is not a JSON array")
    return [
        candle_row(
            name,
            f"data.ohlc[{i}]",
            dig(name, payload, "data", "ohlc", i, "timestamp"),
            {k: dig(name, payload, "data", "ohlc", i, k) for k in ("open", "high", "low", "close")},
        )
        for i in range(len(ohlc))
    ]


candles: Final = Candles(
    name=name, base_url="https://www.bitstamp.net", page_days=1000, pause_s=1.0,
    first_day=dt.date(2011, 9, 13), url=candle_url, parse=parse_candles,
    classify=http_message(name, retry_404=True),
)  # fmt: skip
