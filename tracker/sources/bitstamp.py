"""Bitstamp ticker: ``last`` (a string) and ``timestamp`` (unix seconds, a string)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

from tracker.errors import SourceError
from tracker.models import Quote
from tracker.sources._parse import dig, price, unix_time

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
