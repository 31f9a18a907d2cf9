"""Bitfinex: the ticker (a bare array whose ``[6]``, LAST_PRICE, is a number; no timestamp) and
daily candles (a cross-check of the daily history, from 2013-04-01)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

from tracker.errors import SourceError
from tracker.models import Quote
from tracker.sources.parse import Row, candle_row, dig, invalid, price, unix_day
from tracker.sources.protocols import Candles

name: Final = "bitfinex"
role: Final = "core"
path: Final = "/v2/ticker/tBTCUSD"

# [BID, BID_SIZE, ASK, ASK_SIZE, DAILY_CHANGE, DAILY_CHANGE_RELATIVE, LAST_PRICE, VOLUME, HIGH, LOW]
# https://docs.bitfinex.com/reference/rest-public-ticker
_FIELDS = 10
_LAST_PRICE = 6
_ERR_PARAMS = 10020  # e.g. "symbol: invalid"


def classify(status: int, payload: Any) -> SourceError | None:
    if isinstance(payload, list) and payload[:1] == ["error"]:
        # Bitfinex sends even a bad request as HTTP 500 ["error", code, text]: only retry
        # what is not the request's own fault.
        reason = " ".join(str(part) for part in payload)
        if payload[1:2] == [_ERR_PARAMS] or status < 500:
            return SourceError(source=name, reason=reason, outcome="invalid")
        return SourceError(source=name, reason=reason, outcome="http_error", retryable=True)
    if isinstance(payload, dict) and payload.get("error") == "ERR_RATE_LIMIT":
        # The IP is blocked for 60 s and no Retry-After is sent: asking again cannot help.
        return SourceError(source=name, reason="ERR_RATE_LIMIT", outcome="rate_limited")
    return None


def parse(payload: Any, *, fetched_at: dt.datetime) -> Quote:
    if not isinstance(payload, list):
        raise invalid(name, "body is not a JSON array")
    if len(payload) != _FIELDS:  # a funding ticker, say, or a changed format
        raise invalid(name, f"expected the {_FIELDS}-element ticker, got {len(payload)} elements")
    last = price(name, "[6] LAST_PRICE", dig(name, payload, _LAST_PRICE), number=True)
    return Quote(source=name, price=last, fetched_at=fetched_at)


# --- daily candles (`tracker backfill`, the daily close job) ------------------------------------


def candle_url(base: str, first: dt.date, last: dt.date) -> str:
    days = (last - first).days + 1
    start, end = unix_day(first) * 1000, unix_day(last) * 1000
    return f"{base}/v2/candles/trade:1D:tBTCUSD/hist?limit={days}&start={start}&end={end}&sort=1"


def parse_candles(payload: Any) -> list[Row]:
    # [MTS, OPEN, CLOSE, HIGH, LOW, VOLUME]: the close is index 2, not 4.
    # https://docs.bitfinex.com/reference/rest-public-candles
    if not isinstance(payload, list):
        raise invalid(name, "body is not a JSON array of candles")
    rows = []
    for i, candle in enumerate(payload):
        if not isinstance(candle, list) or len(candle) < 6:
            raise invalid(name, f"[{i}] is not a [MTS, OPEN, CLOSE, HIGH, LOW, VOLUME] candle")
        fields = {"open": candle[1], "close": candle[2], "high": candle[3], "low": candle[4]}
        rows.append(candle_row(name, f"[{i}]", candle[0], fields, ms=True, number=True))
    return rows


def classify_candles(status: int, payload: Any) -> SourceError | None:
    if isinstance(payload, dict) and payload.get("error") == "ERR_RATE_LIMIT":
        # The IP is blocked for 60 s, and no Retry-After says so.
        reason = "ERR_RATE_LIMIT (blocked for 60 s)"
        return SourceError(source=name, reason=reason, outcome="rate_limited", retry_after_s=60)
    return classify(status, payload)


candles: Final = Candles(
    name=name, base_url="https://api-pub.bitfinex.com", page_days=10000, pause_s=3.0,
    first_day=dt.date(2013, 4, 1), url=candle_url, parse=parse_candles,
    classify=classify_candles,
)  # fmt: skip
