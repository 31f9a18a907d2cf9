"""CoinGecko simple price: ``bitcoin.usd`` (a number) and, when sent, ``bitcoin.last_updated_at``.

An aggregator, so a fallback rather than an independent vote.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

from tracker.errors import SourceError
from tracker.models import Quote
from tracker.sources.parse import dig, price, unix_time

name: Final = "coingecko"
role: Final = "fallback"
path: Final = "/api/v3/simple/price?ids=bitcoin&vs_currencies=usd&include_last_updated_at=true"


def classify(status: int, payload: Any) -> SourceError | None:
    return None  # keyless calls get a plain 429 (or 403 from datacenter IPs)


def parse(payload: Any, *, fetched_at: dt.datetime) -> Quote:
    usd = price(name, "bitcoin.usd", dig(name, payload, "bitcoin", "usd"), number=True)
    # Asked for with include_last_updated_at=true, but older answers and mirrors omit it.
    updated = dig(name, payload, "bitcoin").get("last_updated_at")
    stamp = None if updated is None else unix_time(name, "bitcoin.last_updated_at", updated)
    return Quote(source=name, price=usd, fetched_at=fetched_at, quoted_at=stamp)
