"""Daily history from the exchanges (`tracker backfill`): their daily candles, page by page.

Only the days a source is missing are asked for (the gaps in what is stored from it), each page
is committed as it arrives, and inserts keep rows already there: a rerun adds nothing and an
interrupted run resumes at the gap it left. A candle is final only once its UTC day is over, so
today's is never stored. Endpoints and row layouts: SOURCES.md, "Daily history".
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tracker.clock import DAY, start_of_day, utc_today
from tracker.config import check_base_url
from tracker.daily import daily_preference
from tracker.errors import ConfigError, InputError, SourceError
from tracker.models import Gap
from tracker.sources import CANDLES, PRIMARY_CANDLES, Candles
from tracker.store import queries
from tracker.store.engine import write_connection

if TYPE_CHECKING:
    import httpx
    from sqlalchemy.engine import Engine

    from tracker.config import Settings

Row = dict[str, Any]
MAX_PAGE_BYTES = 8 << 20  # 10,000 Bitfinex candles are about 700 kB
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_RETRIES = 4
DEFAULT_BACKOFF_S = 1.0


PRIMARY = PRIMARY_CANDLES


def daily_source(name: str) -> Candles:
    """The exchange ``name``'s daily candles, or one line saying which exchanges serve them."""
    try:
        return CANDLES[name]
    except KeyError:
        raise InputError(
            f"unknown history source {name!r}: use one of {', '.join(CANDLES)}"
        ) from None


@dataclass(frozen=True)
class Endpoint:
    base_url: str
    timeout_s: float = DEFAULT_TIMEOUT_S


def endpoint(settings: Settings, name: str) -> Endpoint:
    """Where ``name``'s daily candles live, from the config.

    ``[history.<name>] base_url`` / ``timeout_s`` when the config has them; otherwise the spot
    source's ``[sources.<name>] base_url`` (same host: bitstamp, bitfinex, kraken), otherwise
    the default (coinbase's candles are on api.exchange.coinbase.com, not its spot host).
    """
    spec = daily_source(name)
    entry = settings.history.get(name)
    timeout_s = DEFAULT_TIMEOUT_S if entry is None else entry.timeout_s
    if entry is not None and entry.base_url:
        return Endpoint(entry.base_url, timeout_s)
    if spec.spot_host and name in settings.sources:
        return Endpoint(settings.sources[name].base_url, timeout_s)
    return Endpoint(spec.base_url, timeout_s)


def _checked(name: str, base_url: str) -> str:
    try:
        return check_base_url(base_url)
    except ValueError as e:
        raise ConfigError(f"history.{name}.base_url: {e}") from None


# --- planning ---------------------------------------------------------------------------------


def windows(gaps: Sequence[Gap], *, page_days: int, pageable: bool = True) -> list[Gap]:
    """The fewest requests that cover ``gaps`` (sorted): each window starts at the first day
    still uncovered and spans at most ``page_days`` calendar days, taking in every gap that
    starts inside it, so the scattered holes an exchange never fills cost one page, not one
    request each, on every rerun. A source that cannot page (Kraken) gets one request."""
    if not gaps:
        return []
    if not pageable:
        return [Gap(gaps[0].first, gaps[-1].last)]
    out: list[Gap] = []
    i, day = 0, gaps[0].first
    while i < len(gaps):
        first = max(day, gaps[i].first)
        limit = first + (page_days - 1) * DAY
        last = first
        while i < len(gaps) and gaps[i].first <= limit:
            last = min(gaps[i].last, limit)
            if gaps[i].last > limit:
                break  # the rest of this gap starts the next window
            i += 1
        out.append(Gap(first, last))
        day = last + DAY
    return out


def _overlap(window: Gap, gaps: Sequence[Gap]) -> int:
    """Missing days inside ``window`` (what its page can fill; the progress bar's unit)."""
    days = 0
    for g in gaps:
        first, last = max(g.first, window.first), min(g.last, window.last)
        if first <= last:
            days += (last - first).days + 1
    return days


# --- the backfill -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    """One request's outcome, for a progress display."""

    window: Gap
    days: int  # missing days the page was asked to fill
    received: int  # candles in the answer within the range
    added: int  # rows stored


@dataclass(frozen=True)
class BackfillResult:
    source: str
    start: dt.date
    end: dt.date
    missing_before: int  # days this source lacked in [start, end] before the run
    requests: int
    received: int
    added: int
    missing_after: tuple[Gap, ...]
    unreachable: Gap | None = None  # days older than a source serves (Kraken: 720 days)


def _gaps(engine: Engine, source: str, first: dt.date, last: dt.date) -> list[Gap]:
    with engine.connect() as conn:
        found = queries.daily_gaps(conn=conn, start=first, end=last, source=source)
    return [Gap(a, b) for a, b in found]


def _first_of_each_day(rows: Sequence[Row]) -> list[Row]:
    """An overlapping page may repeat a day: keep its first candle."""
    seen: dict[dt.date, Row] = {}
    for row in rows:
        seen.setdefault(row["date"], row)
    return list(seen.values())


async def backfill(
    *,
    client: httpx.AsyncClient,
    engine: Engine,
    source: str = PRIMARY,
    start: dt.date | None = None,
    end: dt.date | None = None,
    base_url: str | None = None,
    today: dt.date | None = None,
    page_days: int | None = None,
    pause_s: float | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    retries: int = DEFAULT_RETRIES,
    backoff_s: float = DEFAULT_BACKOFF_S,
    on_plan: Callable[[int, int], None] | None = None,
    on_page: Callable[[Page], None] | None = None,
    on_wait: Callable[[float, SourceError], None] | None = None,
) -> BackfillResult:
    """Fetch ``source``'s missing daily closes in [start, end] and store them, page by page.

    ``start`` defaults to the oldest day the source serves, ``end`` (and any later day) to
    yesterday. ``on_plan(missing_days, requests)`` is called once before the first request,
    ``on_page`` after each page is stored, ``on_wait`` before a rate-limit or retry wait.
    Raises SourceError when a page cannot be had; the pages before it stay stored.
    """
    spec = daily_source(source)
    url_base = _checked(source, base_url or spec.base_url)
    today = today or utc_today()
    size = page_days or spec.page_days
    # The oldest day the source can serve: its first candle, or for Kraken (no paging) the
    # newest `size` candles, the newest of them still open. Days before it are reported as
    # unreachable, never requested.
    oldest = spec.first_day if spec.pageable else today - (size - 1) * DAY
    first = start or oldest or today - (size - 1) * DAY
    last = min(end or today, today - DAY)
    unreachable = None
    if oldest is not None and first < oldest:
        unreachable = Gap(first, min(last, oldest - DAY))
        first = oldest
    if first > last:
        return BackfillResult(source, first, last, 0, 0, 0, 0, (), unreachable)
    gaps = _gaps(engine, source, first, last)
    plan = windows(gaps, page_days=size, pageable=spec.pageable)
    if on_plan is not None:
        on_plan(sum(g.days for g in gaps), len(plan))
    received = added = 0
    for n, window in enumerate(plan):
        if n:
            await asyncio.sleep(spec.pause_s if pause_s is None else pause_s)
        try:
            payload = await _get_page(
                client, spec, url_base, window, timeout_s, retries, backoff_s, on_wait
            )
            rows = [r for r in spec.parse(payload) if first <= r["date"] <= last]
        except SourceError as e:
            done = f"; {added:,} day(s) stored before that: run it again to resume" if added else ""
            raise SourceError(
                source=source,
                reason=f"page {window.first} to {window.last}: {e.reason}{done}",
                outcome=e.outcome,
            ) from None
        rows = _first_of_each_day(rows)
        with write_connection(engine) as conn:
            stored = queries.insert_daily_prices(conn=conn, rows=rows)
        received += len(rows)
        added += stored
        if on_page is not None:
            on_page(Page(window, _overlap(window, gaps), len(rows), stored))
    after = _gaps(engine, source, first, last)
    total = sum(g.days for g in gaps)
    return BackfillResult(
        source, first, last, total, len(plan), received, added, tuple(after), unreachable
    )


async def _get_page(
    client: httpx.AsyncClient,
    spec: Candles,
    base: str,
    window: Gap,
    timeout_s: float,
    retries: int,
    backoff_s: float,
    on_wait: Callable[[float, SourceError], None] | None,
) -> Any:
    from tracker.sources.http import get_json

    return await get_json(
        client,
        spec.url(base, window.first, window.last),
        name=spec.name,
        timeout_s=timeout_s,
        retries=retries,
        backoff_s=backoff_s,
        classify=spec.classify,
        max_bytes=MAX_PAGE_BYTES,
        on_wait=on_wait,
    )


async def fetch_day(
    client: httpx.AsyncClient,
    day: dt.date,
    *,
    source: str = PRIMARY,
    base_url: str | None = None,
    today: dt.date | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    retries: int = DEFAULT_RETRIES,
    backoff_s: float = DEFAULT_BACKOFF_S,
) -> Row | None:
    """``day``'s finished daily candle from ``source``, as a row for
    ``queries.insert_daily_prices``; None when the exchange has none, or ``day`` is not over yet
    (today's candle is still open). Raises SourceError when the exchange cannot be asked.
    """
    spec = daily_source(source)
    today = today or utc_today()
    if day >= today:
        return None
    base = _checked(source, base_url or spec.base_url)
    payload = await _get_page(
        client, spec, base, Gap(day, day), timeout_s, retries, backoff_s, None
    )
    return next((row for row in spec.parse(payload) if row["date"] == day), None)


# --- a CSV file in the bundled format ------------------------------------------------------------


# --- the daily close job ------------------------------------------------------------------------

CONSENSUS_SOURCE = "consensus"


def store_daily_close(*, engine: Engine, day: dt.date, currency: str = "USD") -> str | None:
    """Make sure ``day`` has a daily close; returns the source that has it, or None.

    A close already stored from an exchange's history (or the bundled file) is kept. Otherwise
    the day's consensus rounds give one: open = first, high = max, low = min, close = last.
    """
    start = start_of_day(day)
    end = start + DAY
    with write_connection(engine) as conn:
        existing = queries.daily_sources(conn=conn, day=day, currency=currency)
        if existing:
            return sorted(existing, key=daily_preference)[0]
        ohlc = queries.consensus_ohlc(conn=conn, start=start, end=end, currency=currency)
        if ohlc is None:
            return None
        queries.insert_daily_prices(
            conn=conn,
            rows=[{"currency": currency, "date": day, "source": CONSENSUS_SOURCE, **ohlc}],
        )
    return CONSENSUS_SOURCE
