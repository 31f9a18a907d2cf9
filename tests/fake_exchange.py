"""A loopback HTTP server standing in for every exchange: the ``fake_exchange`` fixture or a script.

python -m tests.fake_exchange --port 8765 [--chaos 0.2 --seed 1]   # prints [sources.*] config
"""

from __future__ import annotations

import datetime as dt
import json
import random
import select
import socket
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from http.server import BaseHTTPRequestHandler
from typing import Literal
from urllib.parse import parse_qs

import pytest

from tests.loopback import LoopbackFake, LoopbackServer, arguments, serve_until_stopped
from tracker.config import SourceSettings
from tracker.sources import SPOT

# The documented paths (SOURCES.md), written out again on purpose: the fake answers only these,
# so a source asking for the wrong path fails against it instead of agreeing with itself.
PATHS: dict[str, str] = {
    "coinbase": "/v2/prices/BTC-USD/spot",
    "kraken": "/0/public/Ticker?pair=XBTUSD",
    "bitstamp": "/api/v2/ticker/btcusd/",
    "gemini": "/v1/pubticker/btcusd",
    "bitfinex": "/v2/ticker/tBTCUSD",
    "mempool": "/api/v1/prices",
    "coingecko": "/api/v3/simple/price?ids=bitcoin&vs_currencies=usd&include_last_updated_at=true",
}
# The daily-candle endpoints (SOURCES.md, "Daily history"), under the same per-source prefix.
# Coinbase's candles really live on api.exchange.coinbase.com; here they share /coinbase.
HISTORY_PATHS: dict[str, str] = {
    "bitstamp": "/api/v2/ohlc/btcusd/",
    "bitfinex": "/v2/candles/trade:1D:tBTCUSD/hist",
    "coinbase": "/products/BTC-USD/candles",
    "kraken": "/0/public/OHLC",
}
# Slightly apart, as real venues are (all within 0.02 % of 100,000).
DEFAULT_PRICES: dict[str, Decimal] = {
    "coinbase": Decimal("100000.00"),
    "kraken": Decimal("100012.50000"),
    "bitstamp": Decimal("99990"),
    "gemini": Decimal("100005.25"),
    "bitfinex": Decimal("99995"),
    "mempool": Decimal("100000"),
    "coingecko": Decimal("100003.1"),
}
HTML_ERROR_PAGE = (
    b"<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>"
    b"<body><h1>502 Bad Gateway</h1><hr><center>cloudflare</center></body></html>\n"
)
ChaosKind = Literal["5xx", "timeout", "429", "malformed"]
CHAOS_KINDS: tuple[ChaosKind, ...] = ("5xx", "timeout", "429", "malformed")


@dataclass
class Fault:
    """How to answer instead of the normal body; ``times`` counts down (None: forever)."""

    status: int | None = None  # None: 200
    body: bytes | None = None  # None: the normal body (or a short text for an error status)
    headers: Mapping[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    hang: bool = False  # never answer; hold the connection until the client gives up
    malformed: bool = False  # the normal body cut in half
    times: int | None = None


@dataclass(frozen=True)
class Request:
    """One request the fake received, and what it served (``ok``, ``HTTP 503``, ``hang``, …)."""

    source: str
    target: str  # path and query after the source's prefix
    headers: Mapping[str, str]
    at: float  # time.time()
    served: str


@dataclass
class _Chaos:
    rng: random.Random
    rate: float
    kinds: Sequence[ChaosKind]
    names: frozenset[str]


class FakeExchange(LoopbackFake):
    """Serves every exchange at ``http://127.0.0.1:PORT/<source>/<documented path>``.

    Thread-safe; each connection gets its own thread, so slow sources do not queue behind
    each other. Use as a context manager, or ``start()`` and ``stop()``.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host, port)
        self._prices: dict[str, Decimal] = {}
        self._ages: dict[str, float] = {}
        self._faults: dict[str, list[Fault]] = {}
        self._log: dict[str, list[Request]] = {}
        self._chaos: _Chaos | None = None
        self._daily: dict[str, dict[dt.date, Decimal]] = {}
        self._overlap: dict[str, int] = {}
        self.reset()

    # --- where it is (start, stop and url: tests/loopback.py) ------------------------------

    def base_url(self, name: str) -> str:
        return f"{self.url}/{_known(name)}"

    def source_settings(
        self, *, timeout_s: float = 5.0, names: Sequence[str] | None = None
    ) -> dict[str, SourceSettings]:
        """``[sources.*]`` settings pointing every registered source (or ``names``) here."""
        return {
            name: SourceSettings(base_url=self.base_url(name), timeout_s=timeout_s)
            for name in (names or SPOT)
        }

    def config_toml(self, *, timeout_s: float = 5.0) -> str:
        """The same as TOML tables, for a config file given to a ``tracker`` subprocess."""
        return "".join(
            f'[sources.{name}]\nbase_url = "{s.base_url}"\ntimeout_s = {s.timeout_s}\n\n'
            for name, s in self.source_settings(timeout_s=timeout_s).items()
        )

    # --- what it serves ----------------------------------------------------------------------

    def set_price(self, name: str, price: Decimal, *, age_s: float = 0.0) -> None:
        """Serve ``price`` with timestamps ``age_s`` in the past (mempool rounds to an integer)."""
        with self._lock:
            self._prices[_known(name)] = price
            self._ages[name] = age_s

    def set_fault(
        self,
        name: str,
        *,
        status: int | None = None,
        body: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        delay_s: float = 0.0,
        hang: bool = False,
        malformed: bool = False,
        times: int | None = None,
        queue: bool = False,
    ) -> None:
        """Answer the next ``times`` requests (None: all) this way, then normally again.

        Replaces the source's faults; ``queue=True`` adds this one after them instead, so
        ``set_fault(n, status=503, times=1)`` then ``set_fault(n, status=429, queue=True, …)``
        serves 503, then 429, …
        """
        fault = Fault(
            status=status,
            body=body.encode() if isinstance(body, str) else body,
            headers=dict(headers or {}),
            delay_s=delay_s,
            hang=hang,
            malformed=malformed,
            times=times,
        )
        with self._lock:
            kept = self._faults[_known(name)] if queue else []
            self._faults[name] = [*kept, fault]

    def set_daily(
        self, name: str, closes: Mapping[dt.date, Decimal], *, overlap_days: int = 0
    ) -> None:
        """Serve these daily closes from ``name``'s candle endpoint (open, high and low are
        derived with ``daily_bar``). Today's date, if given, is the still-open candle: served
        the way the real API serves it. ``overlap_days`` > 0 makes every page also repeat that
        many days before the window asked for, as an overlapping page."""
        if name not in HISTORY_PATHS:
            raise KeyError(f"the fake exchange serves no daily candles for {name!r}")
        with self._lock:
            self._daily[name] = dict(closes)
            self._overlap[name] = overlap_days

    def clear_faults(self, name: str | None = None) -> None:
        with self._lock:
            for n in [_known(name)] if name else PATHS:
                self._faults[n] = []

    def set_chaos(
        self,
        rate: float,
        *,
        seed: int,
        kinds: Sequence[ChaosKind] = CHAOS_KINDS,
        names: Sequence[str] | None = None,
    ) -> None:
        """Fault a ``rate`` share of requests at random (seeded): 5xx, hang, 429 with
        ``Retry-After: 1``, or a cut-off body. Set faults go first; ``rate=0`` turns it off."""
        with self._lock:
            chosen = frozenset(_known(n) for n in (names or PATHS))
            self._chaos = _Chaos(random.Random(seed), rate, tuple(kinds), chosen) if rate else None

    def reset(self) -> None:
        """Default prices, no faults, no chaos, an empty request log."""
        with self._lock:
            self._prices = dict(DEFAULT_PRICES)
            self._ages = dict.fromkeys(PATHS, 0.0)
            self._faults = {n: [] for n in PATHS}
            self._log = {n: [] for n in PATHS}
            self._chaos = None
            self._daily = {n: {} for n in HISTORY_PATHS}
            self._overlap = dict.fromkeys(HISTORY_PATHS, 0)

    def requests(self, name: str) -> list[Request]:
        with self._lock:
            return list(self._log[_known(name)])

    # --- serving (handler threads) -----------------------------------------------------------

    def _serve(self, handler: _Handler) -> None:
        name, _, rest = handler.path.lstrip("/").partition("/")
        target = "/" + rest
        path, _, query = target.partition("?")
        if name in HISTORY_PATHS and path == HISTORY_PATHS[name]:
            fault, served, status, body = self._plan_daily(name, query)
            self._record(name, target, handler, served)
            if fault.delay_s and self._stopping.wait(fault.delay_s):
                handler.close_connection = True
            elif fault.hang:
                self._hang(handler)
            else:
                _send(handler, fault.status or status, body, fault.headers)
            return
        if name not in PATHS or target != PATHS.get(name):
            _send(handler, 404, b'{"message":"NotFound"}', {})
            if name in PATHS:
                self._record(name, target, handler, "HTTP 404 (unknown path)")
            return
        fault, served, body = self._plan(name)
        self._record(name, target, handler, served)
        if fault.hang:
            self._hang(handler)
            return
        if fault.delay_s and self._stopping.wait(fault.delay_s):
            handler.close_connection = True
            return
        _send(handler, fault.status or 200, body, fault.headers)

    def _plan(self, name: str) -> tuple[Fault, str, bytes]:
        with self._lock:
            price, age = self._prices[name], self._ages[name]
            fault = self._take_fault(name) or self._chaos_fault(name) or Fault()
        return fault, _describe(fault), _apply(fault, _body(name, price, time.time() - age))

    def _plan_daily(self, name: str, query: str) -> tuple[Fault, str, int, bytes]:
        with self._lock:
            fault = self._take_fault(name) or self._chaos_fault(name) or Fault()
            bars, overlap = dict(self._daily[name]), self._overlap[name]
        status, body = _daily_answer(name, bars, overlap, parse_qs(query))
        body = _apply(fault, body)
        served = _describe(fault)
        if served == "ok" and status != 200:
            served = f"HTTP {status}"
        return fault, served, status, body

    def _take_fault(self, name: str) -> Fault | None:
        faults = self._faults[name]
        if not faults:
            return None
        fault = faults[0]
        if fault.times is not None:
            fault.times -= 1
            if fault.times <= 0:
                faults.pop(0)
        return fault

    def _chaos_fault(self, name: str) -> Fault | None:
        chaos = self._chaos
        if chaos is None or name not in chaos.names or chaos.rng.random() >= chaos.rate:
            return None
        kind = chaos.rng.choice(chaos.kinds)
        if kind == "5xx":
            return Fault(status=chaos.rng.choice((500, 502, 503, 504)))
        if kind == "429":
            return Fault(status=429, headers={"Retry-After": "1"})
        if kind == "timeout":
            return Fault(hang=True)
        return Fault(malformed=True)

    def _record(self, name: str, target: str, handler: _Handler, served: str) -> None:
        request = Request(name, target, dict(handler.headers.items()), time.time(), served)
        with self._lock:
            self._log[name].append(request)

    def _hang(self, handler: _Handler) -> None:
        """Hold the connection without answering until the client closes it or we stop."""
        handler.close_connection = True
        sock = handler.connection
        while not self._stopping.is_set():
            readable, _, _ = select.select([sock], [], [], 0.05)
            if readable:
                try:
                    if not sock.recv(1, socket.MSG_PEEK):
                        return  # the client gave up
                except OSError:
                    return
                self._stopping.wait(0.05)  # data we will not read: do not spin on it


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the real exchanges
    timeout = 30  # drop idle keep-alive connections eventually
    # Headers and body go out in two writes; with Nagle on, the body waits for the client's
    # delayed ACK (~40 ms on Linux) on every request.
    disable_nagle_algorithm = True
    server: LoopbackServer

    def do_GET(self) -> None:
        self.server.fake._serve(self)

    def log_message(self, format: str, *args: object) -> None:
        pass  # tests read fx.requests(name) instead


FakeExchange.handler = _Handler


def _send(handler: _Handler, status: int, body: bytes, headers: Mapping[str, str]) -> None:
    start = body.lstrip()[:1]
    kind = {b"{": "application/json", b"[": "application/json", b"<": "text/html"}
    try:
        handler.send_response(status)  # also sends Date, which Retry-After dates are read against
        handler.send_header("Content-Type", kind.get(start, "text/plain"))
        handler.send_header("Content-Length", str(len(body)))
        for key, value in headers.items():
            handler.send_header(key, value)
        handler.end_headers()
        handler.wfile.write(body)
    except (BrokenPipeError, ConnectionResetError):
        handler.close_connection = True  # the client gave up first


def _apply(fault: Fault, body: bytes) -> bytes:
    """The body a fault serves instead of the normal one: its own, a cut-off copy, or an
    error page for an error status."""
    if fault.body is not None:
        return fault.body
    if fault.malformed:
        return body[: len(body) // 2]
    if fault.status and not 200 <= fault.status < 300:
        return f"fake exchange: HTTP {fault.status}\n".encode()
    return body


def _describe(fault: Fault) -> str:
    if fault.hang:
        return "hang"
    if fault.status:
        return f"HTTP {fault.status}"
    if fault.malformed or fault.body is not None:
        return "malformed" if fault.malformed else "custom body"
    return "ok"


def _known(name: str) -> str:
    if name not in PATHS:
        raise KeyError(f"the fake exchange has no source {name!r} (known: {', '.join(PATHS)})")
    return name


def _body(name: str, price: Decimal, now: float) -> bytes:
    """A body shaped like the real API's (see tests/payloads), at ``price`` and time ``now``."""
    p, s, ms = str(price), int(now), int(now * 1000)
    bid, ask = str(price - 1), str(price + 1)
    if name == "coinbase":
        return json.dumps({"data": {"amount": p, "base": "BTC", "currency": "USD"}}).encode()
    if name == "kraken":
        ticker = {
            "a": [ask, "1", "1.000"],
            "b": [bid, "1", "1.000"],
            "c": [p, "0.00160710"],
            "v": ["165.16072288", "598.03698452"],
            "p": [p, p],
            "t": [6405, 21103],
            "l": [bid, bid],
            "h": [ask, ask],
            "o": p,
        }
        return json.dumps({"error": [], "result": {"XXBTZUSD": ticker}}).encode()
    if name == "bitstamp":
        ticker = {"timestamp": str(s), "open": p, "high": ask, "low": bid, "last": p}
        return json.dumps({**ticker, "volume": "135.29692054", "bid": bid, "ask": ask}).encode()
    if name == "gemini":
        volume = {"BTC": "76.83286898", "USD": "6033790.46", "timestamp": ms}
        return json.dumps({"bid": bid, "ask": ask, "last": p, "volume": volume}).encode()
    if name == "bitfinex":  # bare numbers; built by hand since json.dumps cannot write a Decimal
        fields = (
            bid,
            "2.55279457",
            ask,
            "6.36068263",
            "1003",
            "0.01386374",
            p,
            "2638.43",
            ask,
            bid,
        )
        return f"[{','.join(fields)}]".encode()
    if name == "mempool":
        usd = int(price.to_integral_value(ROUND_HALF_EVEN))
        others = f'"EUR":{usd * 93 // 100},"GBP":{usd * 79 // 100}'
        return f'{{"time":{s},"USD":{usd},{others}}}'.encode()
    if name == "coingecko":
        return f'{{"bitcoin":{{"usd":{p},"last_updated_at":{s}}}}}'.encode()
    raise KeyError(name)


def daily_bar(close: Decimal) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    """The open, high, low and close the fake serves for a day closing at ``close``: four
    different numbers, so a parser reading the wrong column is caught."""
    cent = Decimal("0.01")
    return (
        (close * Decimal("0.99")).quantize(cent),
        (close * Decimal("1.02")).quantize(cent),
        (close * Decimal("0.97")).quantize(cent),
        close,
    )


def _midnight(day: dt.date) -> int:
    return (day - dt.date(1970, 1, 1)).days * 86400


def _day_of(unix: int) -> dt.date:
    return dt.date(1970, 1, 1) + dt.timedelta(days=unix // 86400)


def _daily_answer(
    name: str, bars: Mapping[dt.date, Decimal], overlap: int, query: Mapping[str, list[str]]
) -> tuple[int, bytes]:
    """The status and body the real endpoint gives for ``query`` (a subset of its rules)."""
    today = dt.datetime.now(dt.UTC).date()

    def arg(key: str, default: str | None = None) -> str:
        value = query.get(key, [default])[0]
        if value is None:
            raise ValueError(f"missing {key}")
        return value

    def pick(first: dt.date, last: dt.date, limit: int) -> list[dt.date]:
        days = sorted(d for d in bars if first <= d <= last)[:limit]
        if days and overlap:
            days = (
                sorted(d for d in bars if days[0] - dt.timedelta(days=overlap) <= d < days[0])
                + days
            )
        return days

    def num(value: Decimal) -> str:
        return str(value)

    try:
        if name == "bitstamp":
            if arg("step") != "86400":
                return 400, b'{"errors": [{"field": "step", "message": "Invalid step"}]}'
            limit = int(arg("limit", "100"))
            first, last = _day_of(int(arg("start"))), _day_of(int(arg("end")))
            days = pick(first, last, min(limit, 1000))
            if arg("exclude_current_candle", "false") == "true":
                days = [d for d in days if d < today]
            ohlc = [
                dict(zip(("timestamp", "open", "high", "low", "close"),
                         (str(_midnight(d)), *map(num, daily_bar(bars[d]))), strict=True))
                | {"volume": "12.5"}
                for d in days
            ]  # fmt: skip
            return 200, json.dumps({"data": {"pair": "BTC/USD", "ohlc": ohlc}}).encode()
        if name == "bitfinex":
            first, last = _day_of(int(arg("start")) // 1000), _day_of(int(arg("end")) // 1000)
            days = pick(first, last, min(int(arg("limit", "100")), 10000))
            if arg("sort", "-1") != "1":
                days.reverse()
            rows = []
            for d in days:
                o, h, low, c = daily_bar(bars[d])
                rows.append(f"[{_midnight(d) * 1000},{o},{c},{h},{low},12.5]")
            return 200, f"[{','.join(rows)}]".encode()
        if name == "coinbase":
            if arg("granularity") != "86400":
                return 400, b'{"message":"Unsupported granularity"}'
            first = dt.date.fromisoformat(arg("start")[:10])
            last = dt.date.fromisoformat(arg("end")[:10])
            if (last - first).days + 1 > 300:
                return 400, (
                    b'{"message":"granularity too small for the requested time range. '
                    b'Count of aggregations requested exceeds 300"}'
                )
            rows = []
            for d in reversed(pick(first, last, 300)):
                o, h, low, c = daily_bar(bars[d])
                rows.append(f"[{_midnight(d)},{low},{h},{o},{c},12.5]")
            return 200, f"[{','.join(rows)}]".encode()
        if name == "kraken":
            if arg("interval") != "1440" or arg("pair") != "XBTUSD":
                return 200, b'{"error":["EGeneral:Invalid arguments"]}'
            since = _day_of(int(arg("since", "0")) + 1)
            days = [d for d in sorted(bars) if since <= d < today][-719:]
            series = {d: bars[d] for d in days}
            # the last row is today's candle, still open
            series[today] = bars.get(today) or (bars[days[-1]] if days else Decimal(100000))
            rows = [
                [_midnight(d), *map(num, daily_bar(c)[:4]), num(c), "12.5", 42]
                for d, c in series.items()
            ]
            last_ts = _midnight(days[-1]) if days else 0
            result = {"XXBTZUSD": rows, "last": last_ts}
            return 200, json.dumps({"error": [], "result": result}).encode()
    except ValueError as e:
        return 400, json.dumps({"message": f"bad request: {e}"}).encode()
    raise KeyError(name)


@pytest.fixture
def fake_exchange() -> Iterator[FakeExchange]:
    """A running FakeExchange, stopped after the test."""
    with FakeExchange() as fx:
        yield fx


def main(argv: Sequence[str] | None = None) -> None:
    parser = arguments(__doc__.splitlines()[0])
    parser.add_argument("--timeout-s", type=float, default=5.0, help="timeout_s in the config")
    parser.add_argument("--chaos", type=float, default=0.0, help="share of requests to fault")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    with FakeExchange(args.host, args.port) as fx:
        fx.set_chaos(args.chaos, seed=args.seed)
        config = fx.config_toml(timeout_s=args.timeout_s)
        serve_until_stopped(fx, f"# fake exchange at {fx.url}\n{config}")


if __name__ == "__main__":
    main()
