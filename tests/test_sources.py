"""Sources: parsers on the real sample bodies and broken ones; fetch_one over real HTTP."""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import inspect
import json
import socket
import ssl
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fake_exchange import HTML_ERROR_PAGE, PATHS, FakeExchange
from tracker import __version__
from tracker.config import DEFAULT_BASE_URLS, FetchSettings, SourceSettings
from tracker.errors import ConfigError, SourceError
from tracker.models import Outcome, Quote, SourceResult
from tracker.sources import SPOT
from tracker.sources.http import (
    MAX_BODY_BYTES,
    decode_json,
    fetch_one,
    make_client,
    retry_after_s,
    source_url,
)

PAYLOADS = Path(__file__).parent / "payloads"
FETCHED_AT = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


def sample(name: str) -> str:
    return (PAYLOADS / name).read_text(encoding="utf-8")


def parse(source: str, body: str | bytes) -> Quote:
    raw = body.encode() if isinstance(body, str) else body
    return SPOT[source].parse(decode_json(raw), fetched_at=FETCHED_AT)


def utc(seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


# --- the registry --------------------------------------------------------------------------


def test_registry_lists_every_configurable_source_core_first() -> None:
    assert list(SPOT) == list(DEFAULT_BASE_URLS)
    roles = [source.role for source in SPOT.values()]
    assert roles == ["core"] * 5 + ["fallback"] * 2
    assert all(name == source.name for name, source in SPOT.items())


@pytest.mark.parametrize("name", list(SPOT))
def test_paths_are_the_documented_ones(name: str) -> None:
    assert SPOT[name].path == PATHS[name]


# --- parsers on the real bodies ------------------------------------------------------------

GOOD_SAMPLES = [
    ("coinbase", "coinbase_spot.json", "64090.00", None),
    ("kraken", "kraken_ticker.json", "73380.60000", None),
    ("kraken", "kraken_ticker_xxbtzusd_partial.json", "78754.00000", None),
    ("bitstamp", "bitstamp_ticker.json", "73285", utc(1710328241)),
    ("gemini", "gemini_pubticker.json", "73268.24", utc(1710328245)),
    ("gemini", "gemini_pubticker_btcusd.json", "78531.37000", utc(1788856560)),
    ("bitfinex", "bitfinex_ticker.json", "73350", None),
    ("mempool", "mempool_prices.json", "43753", utc(1703252411)),
    ("coingecko", "coingecko_simple_price.json", "17885.84", None),
]


@pytest.mark.parametrize(("source", "file", "price", "quoted_at"), GOOD_SAMPLES)
def test_parses_real_sample(
    source: str, file: str, price: str, quoted_at: dt.datetime | None
) -> None:
    quote = parse(source, sample(file))
    assert quote.source == source
    assert str(quote.price) == price  # exact, digits and all: never went through a float
    assert quote.quoted_at == quoted_at
    assert quote.fetched_at == FETCHED_AT
    assert quote.currency == "USD"


@pytest.mark.parametrize(("source", "file", "price", "quoted_at"), GOOD_SAMPLES)
def test_real_samples_are_not_errors(
    source: str, file: str, price: str, quoted_at: dt.datetime | None
) -> None:
    assert SPOT[source].classify(200, decode_json(sample(file).encode())) is None


def test_gemini_timestamp_keeps_milliseconds() -> None:
    body = sample("gemini_pubticker.json").replace('"1710328245000"', '"1710328245123"')
    assert parse("gemini", body).quoted_at == utc(1710328245) + dt.timedelta(milliseconds=123)


def test_bitfinex_reads_last_price_not_bid() -> None:
    ticker = json.loads(sample("bitfinex_ticker.json"))
    ticker[6] = 12345.5  # the sample's LAST_PRICE equals its BID: tell them apart
    assert parse("bitfinex", json.dumps(ticker)).price == Decimal("12345.5")


def test_coingecko_reads_last_updated_at_when_sent() -> None:
    body = '{"bitcoin":{"usd":17885.84,"last_updated_at":1710328241}}'
    assert parse("coingecko", body).quoted_at == utc(1710328241)


def test_kraken_takes_whatever_its_single_pair_key_is() -> None:
    body = sample("kraken_ticker_xxbtzusd_partial.json").replace("XXBTZUSD", "XBT/USD-NEW")
    assert parse("kraken", body).price == Decimal("78754.00000")


@given(st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal("9999999999"), places=8))
def test_prices_stay_exact(price: Decimal) -> None:
    # Up to 18 significant digits: a float on the way would lose some of them.
    spot = {"data": {"amount": str(price), "base": "BTC", "currency": "USD"}}
    assert parse("coinbase", json.dumps(spot)).price == price
    assert parse("coingecko", f'{{"bitcoin":{{"usd":{price}}}}}').price == price
    ticker = f"[1,1,1,1,1,1,{price},1,1,1]"
    assert parse("bitfinex", ticker).price == price


def test_numbers_decoded_as_float_are_refused() -> None:
    payload = json.loads(sample("bitfinex_ticker.json"))  # plain json: floats
    payload[6] = 73350.5
    with pytest.raises(SourceError, match="float"):
        SPOT["bitfinex"].parse(payload, fetched_at=FETCHED_AT)


# --- parsers on broken bodies --------------------------------------------------------------

FILES = {
    "coinbase": "coinbase_spot.json",
    "kraken": "kraken_ticker_xxbtzusd_partial.json",
    "bitstamp": "bitstamp_ticker.json",
    "gemini": "gemini_pubticker.json",
    "bitfinex": "bitfinex_ticker.json",
    "mempool": "mempool_prices.json",
    "coingecko": "coingecko_simple_price.json",
}
NOT_A_BODY = {
    "html error page": HTML_ERROR_PAGE,
    "empty body": b"",
    "empty array": b"[]",
    "empty object": b"{}",
    "null": b"null",
    "a string": b'"73350"',
    "json with NaN": b'{"price": NaN}',
}


@pytest.mark.parametrize("source", list(SPOT))
@pytest.mark.parametrize("body", list(NOT_A_BODY.values()), ids=list(NOT_A_BODY))
def test_rejects_what_is_not_a_ticker(source: str, body: bytes) -> None:
    with pytest.raises(SourceError) as caught:
        parse(source, body)
    assert (caught.value.source, caught.value.outcome) == (source, "invalid")


@pytest.mark.parametrize("source", list(SPOT))
def test_rejects_truncated_json(source: str) -> None:
    text = sample(FILES[source])
    with pytest.raises(SourceError, match="not a JSON"):
        parse(source, text[: len(text) // 2])


# (source, text in the sample, replacement, expected words in the reason)
MUTATIONS = [
    ("coinbase", '"64090.00"', '"NaN"', "not a decimal number"),
    ("coinbase", '"64090.00"', '"Infinity"', "not a decimal number"),
    ("coinbase", '"64090.00"', '"-1"', "not a positive price"),
    ("coinbase", '"64090.00"', '"0.00"', "not a positive price"),
    ("coinbase", '"64090.00"', '"1e400"', "is above the largest accepted price"),
    ("coinbase", '"64090.00"', '"0.000000001"', "is below the smallest storable price"),  # below 10^-8: stores as 0
    ("coinbase", '"64090.00"', '"1e999999999999"', "not a decimal number"),
    ("coinbase", '"64090.00"', '"64_090"', "not a decimal number"),
    ("coinbase", '"64090.00"', '" 64090"', "not a decimal number"),
    ("coinbase", '"64090.00"', '""', "not a decimal number"),
    ("coinbase", '"64090.00"', "64090.00", "not a string"),
    ("coinbase", '"64090.00"', "null", "not a string"),
    ("coinbase", '"amount"', '"price"', "missing field data.amount"),
    ("coinbase", '"USD"', '"EUR"', "not BTC-USD"),
    ("coinbase", '"data"', '"info"', "missing field data"),
    ("coinbase", '{"amount":"64090.00","base":"BTC","currency":"USD"}', "[]", "data is not a JSON"),
    ("kraken", '"XXBTZUSD":', '"XXBTZUSD":{"c":["1"]},"XXBTZEUR":', "exactly one pair"),
    ("kraken", '"result":{"XXBTZUSD":', '"result":{},"x":{"XXBTZUSD":', "not: none"),
    ("kraken", '"result":', '"results":', "missing field result"),
    ("kraken", '"c":["78754.00000","0.00076909"]', '"c":[]', "missing field result.XXBTZUSD.c[0]"),
    ("kraken", '"c":', '"last":', "missing field result.XXBTZUSD.c"),
    ("kraken", '"78754.00000","0.00076909"', '"NaN","1"', "not a decimal number"),
    ("kraken", '"error":[]', '"error":["EService:Unavailable"]', "EService:Unavailable"),
    ("bitstamp", '"last": "73285"', '"last": "-1"', "not a positive price"),
    ("bitstamp", '"last": "73285"', '"last": 73285', "not a string"),
    ("bitstamp", '"last": "73285",', "", "missing field last"),
    ("bitstamp", '"1710328241"', '"yesterday"', "not a unix time"),
    ("bitstamp", '"1710328241"', '"1710328241.5"', "not a unix time"),
    ("bitstamp", '"timestamp"', '"time"', "missing field timestamp"),
    ("gemini", '"last": "73268.24"', '"last": 73268.24', "not a string"),
    ("gemini", '"last": "73268.24"', '"last": "1e400"', "is above the largest accepted price"),
    ("gemini", '"1710328245000"', "null", "not a unix time"),
    ("gemini", '"1710328245000"', "1710328245000.5", "not a unix time"),
    ("gemini", '"1710328245000"', "-1710328245000", "not a unix time"),
    ("gemini", '"1710328245000"', "1e400", "not a unix time"),
    ("gemini", '"1710328245000"', '"99999999999999999"', "not a unix time"),
    ("gemini", '"1710328245000"', "9999999999999999", "out of range"),
    ("gemini", '"volume"', '"vol"', "missing field volume"),
    ("bitfinex", "73350,\n    2638", "-1,\n    2638", "not a positive price"),
    ("bitfinex", "73350,\n    2638", "0,\n    2638", "not a positive price"),
    ("bitfinex", "73350,\n    2638", "1e400,\n    2638", "is above the largest accepted price"),
    ("bitfinex", "73350,\n    2638", "NaN,\n    2638", "not a JSON array"),  # NaN is not JSON
    ("bitfinex", "73350,\n    2638", "Infinity,\n    2638", "not a JSON array"),
    ("bitfinex", "73350,\n    2638", '"73350",\n    2638', "not a JSON number"),
    ("bitfinex", "73350,\n    2638", "null,\n    2638", "not a JSON number"),
    ("bitfinex", "73350,\n    2638", "2638", "9 elements"),
    ("mempool", '"USD": 43753', '"USD": -1', "not a positive price"),
    ("mempool", '"USD": 43753', '"USD": 0', "not a positive price"),
    ("mempool", '"USD": 43753', '"USD": "43753"', "not a JSON number"),
    ("mempool", '"USD": 43753', '"USD": 1e400', "is above the largest accepted price"),
    ("mempool", '"USD": 43753,', "", "missing field USD"),
    ("mempool", '"time": 1703252411', '"time": "today"', "not a unix time"),
    ("mempool", '"time": 1703252411,', "", "missing field time"),
    ("coingecko", "17885.84", "-1", "not a positive price"),
    ("coingecko", "17885.84", '"17885.84"', "not a JSON number"),
    ("coingecko", "17885.84", "1e400", "is above the largest accepted price"),
    ("coingecko", "17885.84", "NaN", "not a JSON object"),
    ("coingecko", "17885.84", '17885.84,"last_updated_at":true', "not a unix time"),
    ("coingecko", '"usd"', '"eur"', "missing field bitcoin.usd"),
    ("coingecko", '{"usd":17885.84}', "[17885.84]", "bitcoin is not a JSON object"),
]


@pytest.mark.parametrize(("source", "old", "new", "reason"), MUTATIONS)
def test_rejects_broken_field(source: str, old: str, new: str, reason: str) -> None:
    text = sample(FILES[source])
    assert old in text  # the mutation must change something
    with pytest.raises(SourceError) as caught:
        parse(source, text.replace(old, new, 1))
    assert caught.value.outcome == "invalid"
    assert caught.value.source == source
    assert reason in caught.value.reason


# --- sources that report errors their own way ------------------------------------------------


@pytest.mark.parametrize(
    ("source", "status", "body", "outcome", "retryable"),
    [
        ("kraken", 200, sample("kraken_error.json"), "invalid", False),
        ("kraken", 200, '{"error":["EAPI:Rate limit exceeded"]}', "rate_limited", False),
        ("kraken", 200, '{"error":["EService:Unavailable"]}', "http_error", True),
        ("kraken", 200, '{"error":["EService:Busy","EService:Unavailable"]}', "http_error", True),
        ("bitfinex", 500, sample("bitfinex_error.json"), "invalid", False),
        ("bitfinex", 500, '["error",10000,"ERR_UNK"]', "http_error", True),
        ("bitfinex", 429, sample("bitfinex_error_ratelimit.json"), "rate_limited", False),
        ("bitstamp", 404, '{"message":"NotFound"}', "http_error", True),
    ],
)
def test_classifies_own_error_reports(
    source: str, status: int, body: str, outcome: str, retryable: bool
) -> None:
    error = SPOT[source].classify(status, decode_json(body.encode()))
    assert error is not None
    assert (error.source, error.outcome, error.retryable) == (source, outcome, retryable)


def test_kraken_warnings_are_not_errors() -> None:
    body = sample("kraken_ticker_xxbtzusd_partial.json").replace(
        '"error":[]', '"error":["WGeneral:Deprecated"]'
    )
    assert SPOT["kraken"].classify(200, decode_json(body.encode())) is None
    assert parse("kraken", body).price == Decimal("78754.00000")


# --- Retry-After -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "date", "expected"),
    [
        ("120", None, 120.0),
        (" 0 ", None, 0.0),
        ("Sun, 06 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 08:49:07 GMT", 30.0),
        ("Sunday, 06-Nov-94 08:49:37 GMT", "Sun, 06 Nov 1994 08:49:07 GMT", 30.0),  # RFC 850
        ("Sun Nov  6 08:49:37 1994", "Sun, 06 Nov 1994 08:49:07 GMT", 30.0),  # asctime
        ("Sun, 06 Nov 1994 08:49:37 GMT", "Sun, 06 Nov 1994 08:50:00 GMT", 0.0),  # past
        ("-5", None, None),
        ("1.5", None, None),
        ("soon", None, None),
        (None, None, None),
    ],
)
def test_retry_after(header: str | None, date: str | None, expected: float | None) -> None:
    headers = httpx.Headers({"Retry-After": header} if header is not None else {})
    if date:
        headers["Date"] = date
    assert retry_after_s(headers) == expected


def test_retry_after_date_without_date_header_uses_local_clock() -> None:
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    headers = httpx.Headers({"Retry-After": "Thu, 01 Jan 2026 00:00:45 GMT"})
    assert retry_after_s(headers, now=now) == 45.0


# --- the client and URLs ---------------------------------------------------------------------


def test_tls_verification_is_always_on() -> None:
    assert inspect.signature(make_client).parameters == {}
    with pytest.raises(TypeError):
        make_client(verify=False)  # type: ignore[call-arg]
    client = make_client()
    try:
        # every route out, proxies from the environment included
        transports = [client._transport, *client._mounts.values()]
        for transport in filter(None, transports):
            # httpx keeps the context on its httpcore pool; no public accessor exists.
            context: ssl.SSLContext = transport._pool._ssl_context  # type: ignore[attr-defined]
            assert context.verify_mode == ssl.CERT_REQUIRED
            assert context.check_hostname is True
        assert client.follow_redirects is False
        assert client.headers["User-Agent"] == f"tracker/{__version__}"
    finally:
        asyncio.run(client.aclose())


@pytest.mark.parametrize(
    ("base_url", "prefix"),
    [
        ("https://kraken.example", "https://kraken.example"),
        ("https://mirror.example/kraken/", "https://mirror.example/kraken"),
        ("http://127.0.0.1:8080/k", "http://127.0.0.1:8080/k"),
        ("http://localhost", "http://localhost"),
        ("http://[::1]:9", "http://[::1]:9"),
    ],
)
def test_source_url_appends_the_path(base_url: str, prefix: str) -> None:
    path = "/0/public/Ticker?pair=XBTUSD"
    assert source_url(base_url, SPOT["kraken"]) == prefix + path


@pytest.mark.parametrize(
    "base_url", ["http://192.0.2.1", "http://kraken.example", "ftp://127.0.0.1", "https://x/?a=1"]
)
def test_source_url_refuses(base_url: str) -> None:
    with pytest.raises(ConfigError, match=r"sources\.kraken\.base_url"):
        source_url(base_url, SPOT["kraken"])


def test_fetch_refuses_plain_http_to_a_remote_host() -> None:
    # Settings built without validation, as a buggy caller might: fetch_one checks again.
    settings = SourceSettings.model_construct(base_url="http://192.0.2.1", timeout_s=1.0)
    result, _ = run(fetch_one_now(SPOT["kraken"], settings))
    assert result.outcome == Outcome.HTTP_ERROR
    assert result.attempts == 0
    assert result.reason is not None and "loopback" in result.reason


# --- fetch_one over HTTP ---------------------------------------------------------------------


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def fetch_one_now(
    source: Any,
    settings: SourceSettings,
    *,
    retries: int = 2,
    backoff_s: float = 0.01,
    deadline_s: float = 5.0,
) -> tuple[SourceResult, float]:
    fetch = FetchSettings(retries=retries, backoff_s=backoff_s)
    async with make_client() as client:
        start = time.monotonic()
        result = await fetch_one(client, source, settings, fetch, deadline=start + deadline_s)
        return result, time.monotonic() - start


def fetch(
    fx: FakeExchange, name: str, *, timeout_s: float = 2.0, **options: Any
) -> tuple[SourceResult, float]:
    settings = fx.source_settings(timeout_s=timeout_s)[name]
    result: tuple[SourceResult, float] = run(fetch_one_now(SPOT[name], settings, **options))
    return result


def served(fx: FakeExchange, name: str) -> list[str]:
    return [request.served for request in fx.requests(name)]


@pytest.mark.parametrize("name", list(SPOT))
def test_fetches_each_source(fake_exchange: FakeExchange, name: str) -> None:
    price = Decimal("64321") if name == "mempool" else Decimal("64321.87")
    fake_exchange.set_price(name, price)
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    result, _ = fetch(fake_exchange, name)
    assert result.outcome == Outcome.ACCEPTED, result.reason
    assert result.quote is not None and result.quote.price == price
    assert before <= result.quote.fetched_at <= dt.datetime.now(dt.UTC)
    if name in ("bitstamp", "gemini", "mempool", "coingecko"):
        assert result.quote.quoted_at is not None
        assert before <= result.quote.quoted_at <= result.quote.fetched_at
    else:
        assert result.quote.quoted_at is None
    assert (result.attempts, result.reason) == (1, None)
    assert result.latency_ms is not None and result.latency_ms >= 0
    (request,) = fake_exchange.requests(name)
    assert request.headers["User-Agent"] == f"tracker/{__version__}"


def test_sources_are_asked_concurrently(fake_exchange: FakeExchange) -> None:
    names = ["coinbase", "kraken", "bitstamp", "gemini", "bitfinex"]
    for name in names:
        fake_exchange.set_fault(name, delay_s=0.3)
    settings = fake_exchange.source_settings(timeout_s=2.0)
    fetch = FetchSettings(retries=0)

    async def round_() -> tuple[list[SourceResult], float]:
        async with make_client() as client:  # one client, as the pipeline has
            start = time.monotonic()
            deadline = start + 5
            asks = (
                fetch_one(client, SPOT[n], settings[n], fetch, deadline=deadline) for n in names
            )
            results = await asyncio.gather(*asks)
            return results, time.monotonic() - start

    results, elapsed = run(round_())
    assert [r.outcome for r in results] == [Outcome.ACCEPTED] * 5
    assert 0.29 <= elapsed < 0.6  # 5 x 0.3 s if the server or the client took them in turn


def test_retries_a_503_then_accepts(fake_exchange: FakeExchange) -> None:
    fake_exchange.set_fault("kraken", status=503, times=1)
    result, _ = fetch(fake_exchange, "kraken")
    assert result.outcome == Outcome.ACCEPTED
    assert result.attempts == 2
    assert served(fake_exchange, "kraken") == ["HTTP 503", "ok"]


def test_gives_up_after_the_retries(fake_exchange: FakeExchange) -> None:
    fake_exchange.set_fault("gemini", status=503)
    result, _ = fetch(fake_exchange, "gemini", retries=2)
    assert result.outcome == Outcome.HTTP_ERROR
    assert (result.attempts, result.reason) == (3, "HTTP 503 after 3 attempts")
    assert len(fake_exchange.requests("gemini")) == 3


def test_no_retry_without_retries(fake_exchange: FakeExchange) -> None:
    fake_exchange.set_fault("gemini", status=502)
    result, _ = fetch(fake_exchange, "gemini", retries=0)
    assert (result.outcome, result.attempts, result.reason) == (Outcome.HTTP_ERROR, 1, "HTTP 502")
    assert len(fake_exchange.requests("gemini")) == 1


def test_backoff_never_sleeps_past_the_deadline(fake_exchange: FakeExchange) -> None:
    fake_exchange.set_fault("coinbase", status=503)
    result, elapsed = fetch(fake_exchange, "coinbase", retries=10, backoff_s=30, deadline_s=1.0)
    assert result.outcome == Outcome.HTTP_ERROR
    assert elapsed <= 1.2


def test_honours_retry_after_seconds(fake_exchange: FakeExchange) -> None:
    fake_exchange.set_fault("coinbase", status=429, headers={"Retry-After": "1"}, times=1)
    result, elapsed = fetch(fake_exchange, "coinbase")
    assert (result.outcome, result.attempts) == (Outcome.ACCEPTED, 2)
    first, second = fake_exchange.requests("coinbase")
    assert 0.95 <= second.at - first.at <= 1.5
    assert elapsed < 2.0


def test_honours_retry_after_http_date(fake_exchange: FakeExchange) -> None:
    # HTTP-dates have whole seconds, read against the response's Date: the wait is 1 to 2 s.
    retry_at = email.utils.formatdate(time.time() + 2, usegmt=True)
    fake_exchange.set_fault("bitstamp", status=429, headers={"Retry-After": retry_at}, times=1)
    result, _ = fetch(fake_exchange, "bitstamp", timeout_s=5.0, deadline_s=5.0)
    assert (result.outcome, result.attempts) == (Outcome.ACCEPTED, 2)
    first, second = fake_exchange.requests("bitstamp")
    assert 0.9 <= second.at - first.at <= 2.5


def test_retry_after_beyond_the_deadline_is_rate_limited_at_once(
    fake_exchange: FakeExchange,
) -> None:
    fake_exchange.set_fault("coinbase", status=429, headers={"Retry-After": "30"})
    result, elapsed = fetch(fake_exchange, "coinbase", deadline_s=2.0)
    assert result.outcome == Outcome.RATE_LIMITED
    assert result.reason is not None and "Retry-After 30 s" in result.reason
    assert elapsed < 0.5
    assert len(fake_exchange.requests("coinbase")) == 1


def test_429_without_retry_after_is_rate_limited(fake_exchange: FakeExchange) -> None:
    body = sample("coinbase_spot_error_429.json")
    fake_exchange.set_fault("coinbase", status=429, body=body)
    result, _ = fetch(fake_exchange, "coinbase")
    assert (result.outcome, result.attempts) == (Outcome.RATE_LIMITED, 1)


def test_hung_source_is_abandoned_at_its_timeout(fake_exchange: FakeExchange) -> None:
    fake_exchange.set_fault("bitfinex", hang=True)
    result, elapsed = fetch(fake_exchange, "bitfinex", timeout_s=0.5, retries=0)
    assert (result.outcome, result.attempts) == (Outcome.TIMEOUT, 1)
    assert 0.45 <= elapsed <= 0.6


def test_hung_source_is_abandoned_at_its_own_timeout(fake_exchange: FakeExchange) -> None:
    # timeout_s bounds the source's whole part of the round, retries included
    fake_exchange.set_fault("bitfinex", hang=True)
    result, elapsed = fetch(fake_exchange, "bitfinex", timeout_s=0.4, retries=5, deadline_s=3.0)
    assert result.outcome == Outcome.TIMEOUT
    assert result.attempts == 1
    assert elapsed <= 0.4 * 1.2


def test_hung_source_is_abandoned_at_the_round_deadline(fake_exchange: FakeExchange) -> None:
    fake_exchange.set_fault("bitfinex", hang=True)
    result, elapsed = fetch(fake_exchange, "bitfinex", timeout_s=5.0, retries=5, deadline_s=0.5)
    assert result.outcome == Outcome.TIMEOUT
    assert elapsed <= 0.5 * 1.2


def test_fast_failures_are_retried_within_the_timeout(fake_exchange: FakeExchange) -> None:
    fake_exchange.set_fault("kraken", status=503, times=2)
    result, elapsed = fetch(fake_exchange, "kraken", timeout_s=1.0, retries=2, deadline_s=3.0)
    assert (result.outcome, result.attempts) == (Outcome.ACCEPTED, 3)
    assert elapsed <= 1.0


def test_slow_answer_times_out(fake_exchange: FakeExchange) -> None:
    fake_exchange.set_fault("mempool", delay_s=1.0)
    result, elapsed = fetch(fake_exchange, "mempool", timeout_s=0.3, retries=0)
    assert result.outcome == Outcome.TIMEOUT
    assert elapsed <= 0.4


def test_deadline_already_passed(fake_exchange: FakeExchange) -> None:
    result, _ = fetch(fake_exchange, "kraken", deadline_s=-1.0)
    assert (result.outcome, result.attempts) == (Outcome.TIMEOUT, 0)
    assert fake_exchange.requests("kraken") == []


def test_kraken_rate_limit_in_a_200(fake_exchange: FakeExchange) -> None:
    fake_exchange.set_fault("kraken", status=200, body='{"error":["EAPI:Rate limit exceeded"]}')
    result, _ = fetch(fake_exchange, "kraken")
    assert (result.outcome, result.reason) == (Outcome.RATE_LIMITED, "EAPI:Rate limit exceeded")
    assert len(fake_exchange.requests("kraken")) == 1


def test_kraken_unavailable_in_a_200_is_retried(fake_exchange: FakeExchange) -> None:
    fake_exchange.set_fault("kraken", body='{"error":["EService:Unavailable"]}', times=1)
    result, _ = fetch(fake_exchange, "kraken")
    assert (result.outcome, result.attempts) == (Outcome.ACCEPTED, 2)


def test_bitfinex_bad_symbol_500_is_not_retried(fake_exchange: FakeExchange) -> None:
    fake_exchange.set_fault("bitfinex", status=500, body=sample("bitfinex_error.json"))
    result, _ = fetch(fake_exchange, "bitfinex", retries=3)
    assert (result.outcome, result.attempts) == (Outcome.INVALID, 1)
    assert result.reason == "error 10020 symbol: invalid"
    assert len(fake_exchange.requests("bitfinex")) == 1


def test_bitfinex_rate_limit(fake_exchange: FakeExchange) -> None:
    body = sample("bitfinex_error_ratelimit.json")
    fake_exchange.set_fault("bitfinex", status=429, body=body)
    result, _ = fetch(fake_exchange, "bitfinex")
    assert (result.outcome, result.attempts) == (Outcome.RATE_LIMITED, 1)


def test_bitstamp_404_is_retried(fake_exchange: FakeExchange) -> None:
    fake_exchange.set_fault("bitstamp", status=404, times=1)
    result, _ = fetch(fake_exchange, "bitstamp")
    assert (result.outcome, result.attempts) == (Outcome.ACCEPTED, 2)


def test_other_4xx_is_not_retried(fake_exchange: FakeExchange) -> None:
    fake_exchange.set_fault("gemini", status=400, body=sample("gemini_error.json"))
    result, _ = fetch(fake_exchange, "gemini")
    assert (result.outcome, result.attempts, result.reason) == (Outcome.HTTP_ERROR, 1, "HTTP 400")


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ({"body": HTML_ERROR_PAGE}, "body is an HTML page, not JSON"),
        ({"malformed": True}, "body is not JSON"),
        ({"body": b"[" + b"1," * MAX_BODY_BYTES + b"1]"}, "body is larger than"),
        ({"body": '{"data":{"amount":"-1","base":"BTC","currency":"USD"}}'}, "not a positive"),
    ],
    ids=["html", "truncated", "huge", "negative"],
)
def test_bad_body_is_invalid_and_not_retried(
    fake_exchange: FakeExchange, fault: dict[str, Any], reason: str
) -> None:
    fake_exchange.set_fault("coinbase", **fault)
    result, _ = fetch(fake_exchange, "coinbase")
    assert (result.outcome, result.attempts) == (Outcome.INVALID, 1)
    assert result.reason is not None and reason in result.reason


def test_redirects_are_not_followed(fake_exchange: FakeExchange) -> None:
    elsewhere = fake_exchange.base_url("kraken") + PATHS["kraken"]
    fake_exchange.set_fault("coinbase", status=302, headers={"Location": elsewhere})
    result, _ = fetch(fake_exchange, "coinbase")
    assert (result.outcome, result.attempts) == (Outcome.HTTP_ERROR, 1)
    assert result.reason is not None and "redirect" in result.reason
    assert fake_exchange.requests("kraken") == []


@pytest.fixture
def closed_port() -> Iterator[int]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    yield port  # nothing listens here now: connections are refused


def test_connection_refused_is_retried_then_reported(closed_port: int) -> None:
    settings = SourceSettings(base_url=f"http://127.0.0.1:{closed_port}", timeout_s=1.0)
    result, _ = run(fetch_one_now(SPOT["coinbase"], settings, retries=2))
    assert (result.outcome, result.attempts) == (Outcome.HTTP_ERROR, 3)
    assert result.reason is not None and result.reason.startswith("connection failed")


class _BuggySource:
    """A SpotSource whose parser has a bug: fetch_one reports it instead of raising."""

    name = "coinbase"
    role: Literal["core", "fallback"] = "core"
    path = PATHS["coinbase"]

    def parse(self, payload: Any, *, fetched_at: dt.datetime) -> Quote:
        return payload["nope"]  # type: ignore[no-any-return]

    def classify(self, status: int, payload: Any) -> SourceError | None:
        return None


def test_parser_bug_becomes_invalid(fake_exchange: FakeExchange) -> None:
    settings = fake_exchange.source_settings()["coinbase"]
    result, _ = run(fetch_one_now(_BuggySource(), settings))
    assert (result.outcome, result.attempts) == (Outcome.INVALID, 1)
    assert result.reason == "unexpected KeyError while reading the answer"


# --- the fake exchange itself ----------------------------------------------------------------


def test_fake_serves_only_documented_paths(fake_exchange: FakeExchange) -> None:
    with httpx.Client() as client:
        ok = client.get(fake_exchange.base_url("bitstamp") + "/api/v2/ticker/btcusd/")
        no_slash = client.get(fake_exchange.base_url("bitstamp") + "/api/v2/ticker/btcusd")
        unknown = client.get(fake_exchange.url + "/binance/api/v3/ticker/price")
    assert (ok.status_code, no_slash.status_code, unknown.status_code) == (200, 404, 404)


def test_fake_faults_count_down_and_queue(fake_exchange: FakeExchange) -> None:
    fake_exchange.set_fault("kraken", status=503, times=2)
    fake_exchange.set_fault("kraken", status=429, times=1, queue=True)
    with httpx.Client() as client:
        url = fake_exchange.base_url("kraken") + PATHS["kraken"]
        statuses = [client.get(url).status_code for _ in range(5)]
    assert statuses == [503, 503, 429, 200, 200]


def test_fake_chaos_is_seeded(fake_exchange: FakeExchange) -> None:
    def sample_run() -> list[str]:
        fake_exchange.reset()
        fake_exchange.set_chaos(0.5, seed=7, kinds=("5xx", "429", "malformed"))
        with httpx.Client() as client:
            for _ in range(40):
                client.get(fake_exchange.base_url("gemini") + PATHS["gemini"])
        return served(fake_exchange, "gemini")

    first = sample_run()
    assert first == sample_run()
    assert 5 <= first.count("ok") <= 35
    assert {s.split()[0] for s in first} == {"ok", "HTTP", "malformed"}


def test_fake_chaos_hangs_until_the_client_gives_up(fake_exchange: FakeExchange) -> None:
    fake_exchange.set_chaos(1.0, seed=1, kinds=("timeout",), names=["mempool"])
    result, elapsed = fetch(fake_exchange, "mempool", timeout_s=0.2, retries=0)
    assert result.outcome == Outcome.TIMEOUT
    assert elapsed < 0.3
    other, _ = fetch(fake_exchange, "coingecko")
    assert other.outcome == Outcome.ACCEPTED
