"""Price sources: the ``PriceSource`` protocol and ``REGISTRY``, core votes first, then fallbacks.

Each exchange is one module that satisfies the protocol itself; ``_http.fetch_one`` asks it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal, Protocol

from tracker.errors import SourceError
from tracker.models import Quote
from tracker.sources import bitfinex, bitstamp, coinbase, coingecko, gemini, kraken, mempool


class PriceSource(Protocol):
    """One keyless BTC/USD endpoint: where it lives and how to read its answers.

    Members are read-only so a module, a class or a frozen dataclass can each implement it.
    """

    @property
    def name(self) -> str:
        """The key in ``config.DEFAULT_BASE_URLS`` and ``[sources.<name>]``."""

    @property
    def role(self) -> Literal["core", "fallback"]:
        """``core`` votes in every round; ``fallback`` is asked only when the core falls short."""

    @property
    def path(self) -> str:
        """The documented path and query, appended to the configured ``base_url``."""

    def parse(self, payload: Any, *, fetched_at: dt.datetime) -> Quote:
        """Read a successful answer (JSON decoded with Decimal numbers).

        Returns a Quote with a finite price > 0, or raises ``SourceError(outcome="invalid")``.
        """

    def classify(self, status: int, payload: Any) -> SourceError | None:
        """Read an error the source reports its own way (any status, even 200).

        ``payload`` is the decoded body, or None when it is not JSON. None leaves the answer
        to the generic HTTP rules (2xx is parsed, 429 waits for Retry-After, 5xx is retried).
        """


_ALL: tuple[PriceSource, ...] = (coinbase, kraken, bitstamp, gemini, bitfinex, mempool, coingecko)
REGISTRY: dict[str, PriceSource] = {source.name: source for source in _ALL}

__all__ = ["REGISTRY", "PriceSource"]
