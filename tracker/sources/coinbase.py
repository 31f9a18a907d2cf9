"""Coinbase: the spot price (``data.amount``, a string; no timestamp), and daily candles from
its exchange API, on another host (api.exchange.coinbase.com, from 2015-07-20)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

from tracker.errors import SourceError
from tracker.models import Quote
from tracker.sources.parse import Row, candle_row, dig, http_message, invalid, price
from tracker.sources.protocols import Candles

name: Final = "coinbase"
role: Final = "core"
path: Final = "/v2/prices/BTC-USD/spot"


def classify(status: int, payload: Any) -> SourceError | None:
    return None  # {"errors": [...]} comes with a fitting HTTP status (429, 404, …)


def parse(payload: Any, *, fetched_at: dt.datetime) -> Quote:
    pair = (dig(name, payload, "data", "base"), dig(name, payload, "data", "currency"))
    if pair != ("BTC", "USD"):  # a mirror or a changed path could answer for another product
        raise invalid(name, f"quote is for {pair[0]}-{pair[1]}, not BTC-USD")
    amount = price(name, "data.amount", dig(name, payload, "data", "amount"))
    return Quote(source=name, price=amount, fetched_at=fetched_at)


# --- daily candles (`tracker backfill`, the daily close job) ------------------------------------


def candle_url(base: str, first: dt.date, last: dt.date) -> str:
    return (
        f"{base}/products/BTC-USD/candles?granularity=86400"
        f"&start={first.isoformat()}T00:00:00Z&end={last.isoformat()}T00:00:00Z"
    )


def parse_candles(payload: Any) -> list[Row]:
    # [time, LOW, HIGH, OPEN, CLOSE, volume], newest first.
    if not isinstance(payload, list):
        raise invalid(name, "body is not a JSON array of candles")
    rows = []
    for i, candle in enumerate(payload):
        if not isinstance(candle, list) or len(candle) < 6:
            raise invalid(name, f"[{i}] is not a [time, low, high, open, close, volume] candle")
        fields = {"open": candle[3], "high": candle[2], "low": candle[1], "close": candle[4]}
        rows.append(candle_row(name, f"[{i}]", candle[0], fields, number=True))
    return sorted(rows, key=lambda r: r["date"])


candles: Final = Candles(
    name=name, base_url="https://api.exchange.coinbase.com", page_days=300, pause_s=0.5,
    first_day=dt.date(2015, 7, 20), url=candle_url, parse=parse_candles,
    classify=http_message(name), spot_host=False,
)  # fmt: skip
