"""What a source is: ``SpotSource`` (a live BTC/USD price) and ``CandleSource`` (daily candles).

Each exchange is one module: the module itself satisfies ``SpotSource``, and its ``candles``
attribute, when it serves daily history, is a ``Candles`` that satisfies ``CandleSource``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from tracker.errors import SourceError
from tracker.models import Quote

Classify = Callable[[int, Any], "SourceError | None"]


class SpotSource(Protocol):
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


class CandleSource(Protocol):
    """One exchange's daily-candle endpoint: where, how much per request, how to read it."""

    @property
    def name(self) -> str: ...

    @property
    def base_url(self) -> str:
        """The default host; ``[history.<name>]`` or the spot source's host override it."""

    @property
    def page_days(self) -> int:
        """The most candles one request returns."""

    @property
    def pause_s(self) -> float:
        """The pause between two requests: well under the public rate limits."""

    @property
    def first_day(self) -> dt.date | None:
        """The oldest day it serves; None: only its newest ``page_days`` (no paging)."""

    @property
    def spot_host(self) -> bool:
        """The candles live on the spot source's host."""

    def url(self, base_url: str, first: dt.date, last: dt.date) -> str:
        """The request for the days [first, last]."""

    def parse(self, payload: Any) -> list[dict[str, Any]]:
        """daily_prices rows, or ``SourceError(outcome="invalid")``."""

    def classify(self, status: int, payload: Any) -> SourceError | None: ...


@dataclass(frozen=True)
class Candles:
    """A ``CandleSource`` made of an exchange module's functions."""

    name: str
    base_url: str
    page_days: int
    pause_s: float
    first_day: dt.date | None
    url: Callable[[str, dt.date, dt.date], str]
    parse: Callable[[Any], list[dict[str, Any]]]
    classify: Classify
    spot_host: bool = True

    @property
    def pageable(self) -> bool:
        return self.first_day is not None
