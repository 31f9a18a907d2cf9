"""Price sources, one module per exchange: ``SPOT`` (live prices; core votes first, then the
fallbacks) and ``CANDLES`` (daily history, the primary first). ``http`` asks them all."""

from __future__ import annotations

from tracker.sources import bitfinex, bitstamp, coinbase, coingecko, gemini, kraken, mempool
from tracker.sources.protocols import Candles, CandleSource, SpotSource

_ALL: tuple[SpotSource, ...] = (coinbase, kraken, bitstamp, gemini, bitfinex, mempool, coingecko)
SPOT: dict[str, SpotSource] = {source.name: source for source in _ALL}
CANDLES: dict[str, Candles] = {
    m.candles.name: m.candles for m in (bitstamp, bitfinex, coinbase, kraken)
}
PRIMARY_CANDLES = "bitstamp"

__all__ = ["CANDLES", "PRIMARY_CANDLES", "SPOT", "CandleSource", "Candles", "SpotSource"]
