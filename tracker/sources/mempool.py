"""mempool.space prices: ``USD`` (an integer; -1 means it has none) and ``time`` (unix seconds).

An aggregator of other exchanges, so a fallback rather than an independent vote.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

from tracker.errors import SourceError
from tracker.models import Quote
from tracker.sources.parse import dig, price, unix_time

name: Final = "mempool"
role: Final = "fallback"
path: Final = "/api/v1/prices"


def classify(status: int, payload: Any) -> SourceError | None:
    return None


def parse(payload: Any, *, fetched_at: dt.datetime) -> Quote:
    return Quote(
        source=name,
        price=price(name, "USD", dig(name, payload, "USD"), number=True),
        fetched_at=fetched_at,
        quoted_at=unix_time(name, "time", dig(name, payload, "time")),
    )
