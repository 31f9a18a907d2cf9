"""Gemini ticker: ``last`` (a string) and ``volume.timestamp`` (unix ms, a number or a string)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

from tracker.errors import SourceError
from tracker.models import Quote
from tracker.sources.parse import dig, price, unix_time

name: Final = "gemini"
role: Final = "core"
path: Final = "/v1/pubticker/btcusd"


def classify(status: int, payload: Any) -> SourceError | None:
    return None  # {"result": "error", "reason": …} comes with a fitting status (400, 429, …)


def parse(payload: Any, *, fetched_at: dt.datetime) -> Quote:
    stamp = dig(name, payload, "volume", "timestamp")
    return Quote(
        source=name,
        price=price(name, "last", dig(name, payload, "last")),
        fetched_at=fetched_at,
        quoted_at=unix_time(name, "volume.timestamp", stamp, ms=True),
    )
