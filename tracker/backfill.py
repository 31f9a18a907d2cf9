"""Daily history from the exchanges (`tracker backfill`): their daily candles, page by page.

Only the days a source is missing are asked for (the gaps in what is stored from it), each page
is committed as it arrives, and inserts keep rows already there: a rerun adds nothing and an
interrupted run resumes at the gap it left. A candle is final only once its UTC day is over, so
today's is never stored. Endpoints and row layouts: SOURCES.md, "Daily history".
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracker import history, store
from tracker.config import check_base_url
from tracker.errors import ConfigError, InputError, SourceError
from tracker.report import csv_text, price_text
from tracker.sources import bitfinex as bitfinex_spot
from tracker.sources import kraken as kraken_spot
from tracker.sources._parse import dig, invalid, price, unix_time
from tracker.timeline import Gap

if TYPE_CHECKING:
    import httpx
    from sqlalchemy.engine import Connection, Engine

    from tracker.config import Settings

Row = dict[str, Any]
DAY = dt.timedelta(days=1)
_EPOCH = dt.date(1970, 1, 1)
MAX_PAGE_BYTES = 8 << 20  # 10,000 Bitfinex candles are about 700 kB
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_RETRIES = 4
DEFAULT_BACKOFF_S = 1.0


def _unix(day: dt.date) -> int:
    return (day - _EPOCH).days * 86400


def _row(
    source: str,
    where: str,
    when: Any,
    prices: Mapping[str, Any],
    *,
    ms: bool = False,
    number: bool = False,
) -> Row:
    """A daily_prices row from one candle; its time must be 00:00 UTC (else it is not daily)."""
    at = unix_time(source, f"{where} time", when, ms=ms)
    if at.time() != dt.time(0):
        raise invalid(source, f"{where}: {at:%Y-%m-%d %H:%M} UTC is not a daily candle (00:00)")
    values = {k: price(source, f"{where} {k}", v, number=number) for k, v in prices.items()}
    for k, value in values.items():  # the bounds of a CSV import (history.price_problem)
        if (problem := history.price_problem(value)) is not None:
            raise invalid(source, f"{where} {k} {format(value, 'f'):.40} {problem}")
    return {"currency": "USD", "date": at.date(), "source": source, **values}


def _http_message(
    source: str, *, retry_404: bool = False
) -> Callable[[int, Any], SourceError | None]:
    """Errors as ``{"message": …}`` or ``{"errors": …}`` with a 4xx/5xx status: keep the text."""

    def classify(status: int, payload: Any) -> SourceError | None:
        if status < 400 or status == 429:  # 429 is read generically, for its Retry-After
            return None
        text = ""
        if isinstance(payload, dict):
            text = str(
                payload.get("message") or payload.get("errors") or payload.get("reason") or ""
            )
        retryable = status >= 500 or (retry_404 and status == 404)
        reason = f"HTTP {status}" + (f": {text:.160}" if text else "")
        return SourceError(source=source, reason=reason, outcome="http_error", retryable=retryable)

    return classify


# --- one parser and one URL per exchange --------------------------------------------------------


def _bitstamp_url(base: str, first: dt.date, last: dt.date) -> str:
    # With both start and end Bitstamp counts `limit` candles back from `end`: ask for exactly
    # the window so either reading of the two gives the same candles.
    days = (last - first).days + 1
    return (
        f"{base}/api/v2/ohlc/btcusd/?step=86400&limit={days}"
        f"&start={_unix(first)}&end={_unix(last)}&exclude_current_candle=true"
    )


def _bitstamp_parse(payload: Any) -> list[Row]:
    name = "bitstamp"
    pair = dig(name, payload, "data", "pair")
    if pair != "BTC/USD":
        raise invalid(name, f"data.pair is {pair!r:.20}, not BTC/USD")
    candles = dig(name, payload, "data", "ohlc")
    if not isinstance(candles, list):
        raise invalid(name, "data.ohlc is not a JSON array")
    return [
        _row(
            name,
            f"data.ohlc[{i}]",
            dig(name, payload, "data", "ohlc", i, "timestamp"),
            {k: dig(name, payload, "data", "ohlc", i, k) for k in ("open", "high", "low", "close")},
        )
        for i in range(len(candles))
    ]


def _bitfinex_url(base: str, first: dt.date, last: dt.date) -> str:
    days = (last - first).days + 1
    start, end = _unix(first) * 1000, _unix(last) * 1000
    return f"{base}/v2/candles/trade:1D:tBTCUSD/hist?limit={days}&start={start}&end={end}&sort=1"


def _bitfinex_parse(payload: Any) -> list[Row]:
    # [MTS, OPEN, CLOSE, HIGH, LOW, VOLUME]: the close is index 2, not 4.
    # https://docs.bitfinex.com/reference/rest-public-candles
    name = "bitfinex"
    if not isinstance(payload, list):
        raise invalid(name, "body is not a JSON array of candles")
    rows = []
    for i, candle in enumerate(payload):
        if not isinstance(candle, list) or len(candle) < 6:
            raise invalid(name, f"[{i}] is not a [MTS, OPEN, CLOSE, HIGH, LOW, VOLUME] candle")
        fields = {"open": candle[1], "close": candle[2], "high": candle[3], "low": candle[4]}
        rows.append(_row(name, f"[{i}]", candle[0], fields, ms=True, number=True))
    return rows


def _bitfinex_classify(status: int, payload: Any) -> SourceError | None:
    if isinstance(payload, dict) and payload.get("error") == "ERR_RATE_LIMIT":
        # The IP is blocked for 60 s, and no Retry-After says so.
        reason = "ERR_RATE_LIMIT (blocked for 60 s)"
        return SourceError(
            source="bitfinex", reason=reason, outcome="rate_limited", retry_after_s=60
        )
    return bitfinex_spot.classify(status, payload)


def _coinbase_url(base: str, first: dt.date, last: dt.date) -> str:
    return (
        f"{base}/products/BTC-USD/candles?granularity=86400"
        f"&start={first.isoformat()}T00:00:00Z&end={last.isoformat()}T00:00:00Z"
    )


def _coinbase_parse(payload: Any) -> list[Row]:
    # [time, LOW, HIGH, OPEN, CLOSE, volume], newest first.
    name = "coinbase"
    if not isinstance(payload, list):
        raise invalid(name, "body is not a JSON array of candles")
    rows = []
    for i, candle in enumerate(payload):
        if not isinstance(candle, list) or len(candle) < 6:
            raise invalid(name, f"[{i}] is not a [time, low, high, open, close, volume] candle")
        fields = {"open": candle[3], "high": candle[2], "low": candle[1], "close": candle[4]}
        rows.append(_row(name, f"[{i}]", candle[0], fields, number=True))
    return sorted(rows, key=lambda r: r["date"])


def _kraken_url(base: str, first: dt.date, last: dt.date) -> str:
    # Kraken answers with the newest 720 candles whatever `since` says; one second before
    # the first day keeps that day in under either reading of `since`.
    return f"{base}/0/public/OHLC?pair=XBTUSD&interval=1440&since={_unix(first) - 1}"


def _kraken_parse(payload: Any) -> list[Row]:
    # [time, open, high, low, close, vwap, volume, count]; the last row is today's open candle.
    name = "kraken"
    if (error := kraken_spot.classify(200, payload)) is not None:
        raise error
    result = dig(name, payload, "result")
    pairs = [k for k in result if k != "last"] if isinstance(result, dict) else []
    if len(pairs) != 1:
        raise invalid(
            name, f"result should hold exactly one pair, not: {', '.join(pairs) or 'none'}"
        )
    (pair,) = pairs
    candles = dig(name, payload, "result", pair)
    if not isinstance(candles, list):
        raise invalid(name, f"result.{pair} is not a JSON array")
    rows = []
    for i, candle in enumerate(candles[:-1]):
        if not isinstance(candle, list) or len(candle) < 5:
            raise invalid(name, f"result.{pair}[{i}] is not an OHLC row")
        fields = {"open": candle[1], "high": candle[2], "low": candle[3], "close": candle[4]}
        rows.append(_row(name, f"result.{pair}[{i}]", candle[0], fields))
    return rows


@dataclass(frozen=True)
class DailySource:
    """One exchange's daily-candle endpoint: where, how much per request, how to read it."""

    name: str
    base_url: str  # default; see endpoint()
    page_days: int  # most candles one request returns
    pause_s: float  # between two requests: well under the public rate limits
    first_day: dt.date | None  # the oldest day it serves; None: only its newest page_days
    url: Callable[[str, dt.date, dt.date], str]  # base_url, first and last day of a window
    parse: Callable[[Any], list[Row]]
    classify: Callable[[int, Any], SourceError | None]
    spot_host: bool = True  # the candles live on the spot source's host

    @property
    def pageable(self) -> bool:
        return self.first_day is not None


SOURCES: dict[str, DailySource] = {
    s.name: s
    for s in (
        DailySource(
            "bitstamp", "https://www.bitstamp.net", 1000, 1.0, dt.date(2011, 9, 13),
            _bitstamp_url, _bitstamp_parse, _http_message("bitstamp", retry_404=True),
        ),
        DailySource(
            "bitfinex", "https://api-pub.bitfinex.com", 10000, 3.0, dt.date(2013, 4, 1),
            _bitfinex_url, _bitfinex_parse, _bitfinex_classify,
        ),
        DailySource(
            "coinbase", "https://api.exchange.coinbase.com", 300, 0.5, dt.date(2015, 7, 20),
            _coinbase_url, _coinbase_parse, _http_message("coinbase"), spot_host=False,
        ),
        DailySource(
            "kraken", "https://api.kraken.com", 720, 1.0, None,
            _kraken_url, _kraken_parse, kraken_spot.classify,
        ),
    )
}  # fmt: skip
PRIMARY = "bitstamp"


def daily_source(name: str) -> DailySource:
    try:
        return SOURCES[name]
    except KeyError:
        raise InputError(
            f"unknown history source {name!r}: use one of {', '.join(SOURCES)}"
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

    def lines(self) -> list[str]:
        head = f"{self.source}: {self.start} to {self.end}"
        if self.start > self.end:
            lines = [
                f"{self.source}: its daily candles start {self.start}, after {self.end}: "
                "nothing to ask for"
            ]
        elif not self.missing_before:
            lines = [f"{head}: nothing missing, nothing asked"]
        else:
            lines = [
                f"{head}: {self.missing_before:,} missing day(s), {self.requests:,} request(s), "
                f"{self.received:,} candle(s) received, {self.added:,} added"
            ]
        if self.unreachable is not None:
            other = "" if self.source == PRIMARY else f" (try --source {PRIMARY})"
            lines.append(
                f"  {self.source} has no daily candles before "
                f"{self.unreachable.last + DAY}: {self.unreachable} cannot come from it{other}"
            )
        if self.missing_after:
            total = sum(g.days for g in self.missing_after)
            lines.append(f"  {self.source} served nothing for {total:,} day(s):")
            lines += [f"    {g}" for g in self.missing_after[:10]]
            if len(self.missing_after) > 10:
                lines.append(f"    … and {len(self.missing_after) - 10:,} more run(s)")
        return lines

    def to_dict(self) -> dict[str, Any]:
        gap = self.unreachable
        return {
            "source": self.source,
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "missing_before": self.missing_before,
            "requests": self.requests,
            "received": self.received,
            "added": self.added,
            "missing_after": [_gap_dict(g) for g in self.missing_after],
            "unreachable": None if gap is None else _gap_dict(gap),
        }


def _gap_dict(gap: Gap) -> dict[str, Any]:
    return {"from": gap.first.isoformat(), "to": gap.last.isoformat(), "days": gap.days}


def _gaps(engine: Engine, source: str, first: dt.date, last: dt.date) -> list[Gap]:
    with engine.connect() as conn:
        found = store.daily_gaps(conn=conn, start=first, end=last, source=source)
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
    today = today or dt.datetime.now(dt.UTC).date()
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
        with store.write_connection(engine) as conn:
            stored = store.insert_daily_prices(conn=conn, rows=rows)
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
    spec: DailySource,
    base: str,
    window: Gap,
    timeout_s: float,
    retries: int,
    backoff_s: float,
    on_wait: Callable[[float, SourceError], None] | None,
) -> Any:
    from tracker.sources._http import get_json

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
    ``store.insert_daily_prices``; None when the exchange has none, or ``day`` is not over yet
    (today's candle is still open). Raises SourceError when the exchange cannot be asked.
    """
    spec = daily_source(source)
    today = today or dt.datetime.now(dt.UTC).date()
    if day >= today:
        return None
    base = _checked(source, base_url or spec.base_url)
    payload = await _get_page(
        client, spec, base, Gap(day, day), timeout_s, retries, backoff_s, None
    )
    return next((row for row in spec.parse(payload) if row["date"] == day), None)


# --- a CSV file in the bundled format ------------------------------------------------------------

_LABEL = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}", re.ASCII)


@dataclass(frozen=True)
class CsvResult:
    path: Path
    source: str
    read: int
    added: int
    skipped_open: int  # rows dated today or later: not a finished day
    skipped_range: int  # rows outside --from/--to

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": str(self.path),
            "source": self.source,
            "read": self.read,
            "added": self.added,
            "skipped_open": self.skipped_open,
            "skipped_range": self.skipped_range,
        }

    def lines(self) -> list[str]:
        lines = [
            f"{self.path}: {self.read:,} row(s) read, {self.added:,} added as source "
            f"{self.source!r}, {self.read - self.added - self.skipped_open - self.skipped_range:,}"
            " already stored"
        ]
        if self.skipped_range:
            lines.append(f"  {self.skipped_range:,} row(s) outside --from/--to skipped")
        if self.skipped_open:
            lines.append(f"  {self.skipped_open:,} row(s) dated today or later skipped (not final)")
        return lines


def import_csv(
    *,
    engine: Engine,
    path: Path,
    source: str = "csv",
    start: dt.date | None = None,
    end: dt.date | None = None,
    today: dt.date | None = None,
) -> CsvResult:
    """Load a ``date,open,high,low,close[,volume]`` file, all or nothing, in one transaction."""
    if not _LABEL.fullmatch(source):
        raise InputError(
            f"source label {source!r}: use up to 32 lowercase letters, digits, '-' or '_'"
        )
    today = today or dt.datetime.now(dt.UTC).date()
    rows = history.read_daily_csv(path, source=source)  # a date given twice is refused there
    final = [r for r in rows if r["date"] < today]
    wanted = [
        r
        for r in final
        if (start is None or r["date"] >= start) and (end is None or r["date"] <= end)
    ]
    with store.write_connection(engine) as conn:
        added = store.insert_daily_prices(conn=conn, rows=wanted)
    return CsvResult(
        path, source, len(rows), added, len(rows) - len(final), len(final) - len(wanted)
    )


def render_summary(result: BackfillResult | CsvResult, fmt: str) -> str:
    """What a backfill or an import did: lines of text, a JSON object, or one CSV record."""
    data = result.to_dict()
    if fmt == "json":
        return json.dumps(data, indent=2) + "\n"
    if fmt == "csv":
        flat = {k: v if isinstance(v, str | int | None) else json.dumps(v) for k, v in data.items()}
        return csv_text(list(flat), [flat])
    return "\n".join(result.lines()) + "\n"


# --- comparing two series (--check) ---------------------------------------------------------------

PCT_QUANTUM = Decimal("0.01")


@dataclass(frozen=True)
class Difference:
    day: dt.date
    close: Decimal
    reference_close: Decimal

    @property
    def pct(self) -> Decimal:
        """(close − reference) ÷ reference, in percent (exact)."""
        return (self.close - self.reference_close) / self.reference_close * 100


@dataclass(frozen=True)
class CheckResult:
    source: str
    reference: str
    overlap: int  # days both series have
    first: dt.date | None
    last: dt.date | None
    tolerance_pct: Decimal
    differences: tuple[Difference, ...]  # the days further apart than the tolerance


def default_reference(*, conn: Connection, source: str) -> str:
    """The series to check ``source`` against: the most preferred other one that is stored."""
    for name in store.DAILY_SOURCE_PREFERENCE:
        if name != source and store.count_daily_prices(conn=conn, source=name):
            return name
    raise InputError(f"no other daily series is stored to check {source} against")


def compare(
    *,
    conn: Connection,
    source: str,
    reference: str,
    start: dt.date | None = None,
    end: dt.date | None = None,
    tolerance_pct: Decimal = Decimal(1),
) -> CheckResult:
    """The days on which ``source``'s close is more than ``tolerance_pct`` % off
    ``reference``'s. Daily series describe different instants and differ by up to ~0.6 % on
    volatile days (SOURCES.md), hence the default 1 %."""
    for name in (source, reference):
        if not store.count_daily_prices(conn=conn, source=name):
            raise InputError(
                f"no daily closes are stored from {name!r}: fetch them with --source "
                "or import them with --csv"
            )
    pairs = store.daily_close_pairs(
        conn=conn, source=source, reference=reference, start=start, end=end
    )
    diffs = [Difference(day, a, b) for day, a, b in pairs]
    return CheckResult(
        source=source,
        reference=reference,
        overlap=len(pairs),
        first=pairs[0][0] if pairs else None,
        last=pairs[-1][0] if pairs else None,
        tolerance_pct=tolerance_pct,
        differences=tuple(d for d in diffs if abs(d.pct) > tolerance_pct),
    )


def _pct_text(value: Decimal) -> str:
    return f"{value.quantize(PCT_QUANTUM, rounding=ROUND_HALF_EVEN):+}"


def render_check(result: CheckResult, fmt: str) -> str:
    rows = [
        {
            "date": d.day.isoformat(),
            result.source: price_text(d.close),
            result.reference: price_text(d.reference_close),
            "difference_pct": _pct_text(d.pct),
        }
        for d in result.differences
    ]
    if fmt == "json":
        data = {
            "source": result.source,
            "reference": result.reference,
            "overlap_days": result.overlap,
            "from": None if result.first is None else result.first.isoformat(),
            "to": None if result.last is None else result.last.isoformat(),
            "tolerance_pct": format(result.tolerance_pct, "f"),
            "differences": rows,
        }
        return json.dumps(data, indent=2) + "\n"
    if fmt == "csv":
        return csv_text(["date", result.source, result.reference, "difference_pct"], rows)
    vs = f"{result.source} against {result.reference}"
    if not result.overlap:
        return f"{vs}: no day in common to compare\n"
    lines = [
        f"{vs}: {result.overlap:,} day(s) in common, {result.first} to {result.last}; "
        f"{len(rows):,} differ by more than {result.tolerance_pct} %"
    ]
    if rows:
        width = max(len(r[result.source]) for r in rows) + 2
        ref_width = max(len(r[result.reference]) for r in rows) + 2
        lines.append(
            f"  {'date':<10}  {result.source:>{width}}  {result.reference:>{ref_width}}  difference"
        )
        lines += [
            f"  {r['date']:<10}  {r[result.source]:>{width}}  {r[result.reference]:>{ref_width}}"
            f"  {r['difference_pct']:>8} %"
            for r in rows
        ]
    return "\n".join(lines) + "\n"


# --- progress on a terminal ---------------------------------------------------------------------


class ProgressBar:
    """A Rich progress bar on stderr when it is a terminal; silent otherwise."""

    def __init__(self, label: str, *, enabled: bool) -> None:
        self.label = label
        self.enabled = enabled
        self._progress: Any = None
        self._task: Any = None

    def plan(self, days: int, requests: int) -> None:
        if self._progress is not None:
            self._task = self._progress.add_task(
                f"{self.label}: {requests} request(s)", total=max(days, 1)
            )

    def page(self, page: Page) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(
                self._task,
                advance=page.days,
                description=f"{self.label}: {page.window.last}, {page.added:,} added",
            )

    def wait(self, seconds: float, error: SourceError) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(
                self._task, description=f"{self.label}: {error.reason}, waiting {seconds:.0f} s"
            )

    @contextmanager
    def running(self) -> Iterator[ProgressBar]:
        if not self.enabled:
            yield self
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        columns = (  # the description carries a server's error text: never read as markup
            TextColumn("{task.description}", markup=False),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("days"),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
            self._progress = progress
            try:
                yield self
            finally:
                self._progress = None
