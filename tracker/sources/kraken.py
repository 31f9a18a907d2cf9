"""Kraken ticker: ``result.<only key>.c[0]``, the last trade (a string); no timestamp.

Kraken reports errors as HTTP 200 with a non-empty ``error`` array, so that is read first.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

from tracker.errors import SourceError
from tracker.models import Quote
from tracker.sources._parse import dig, invalid, price

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
