"""The daily BTC/USD series: ``bundled`` (the shipped series, CSV imports), ``backfill`` (the
exchanges' daily candles, the daily close job), ``check`` (two series compared) and
``history`` (the `tracker history` query)."""

from __future__ import annotations

# When several sources have a close for the same day, prefer the exchange's own series to the
# bundled aggregate index, and either to a close derived from our own consensus.
DAILY_SOURCE_PREFERENCE = ("bitstamp", "bundled", "bitfinex", "coinbase", "kraken", "consensus")


def daily_preference(source: str) -> int:
    try:
        return DAILY_SOURCE_PREFERENCE.index(source)
    except ValueError:
        return len(DAILY_SOURCE_PREFERENCE)
