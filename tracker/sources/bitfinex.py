"""Bitfinex ticker: a bare array whose element ``[6]`` (LAST_PRICE) is a number; no timestamp."""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

from tracker.errors import SourceError
from tracker.models import Quote
from tracker.sources._parse import dig, invalid, price

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
