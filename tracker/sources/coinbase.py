"""Coinbase spot price: ``data.amount`` (a string); the answer carries no timestamp."""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

from tracker.errors import SourceError
from tracker.models import Quote
from tracker.sources._parse import dig, invalid, price

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
