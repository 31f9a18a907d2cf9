"""HTTP for every source: the one place httpx errors become ``SourceError``, and the one retry
policy (``RetryPolicy``, ``with_retries``).

``fetch_one`` asks one spot source within a round's deadline; ``get_json`` fetches one page of
daily candles, waiting out rate limits.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import json
import logging
import random
import re
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NoReturn, TypeVar

import httpx

from tracker import __version__
from tracker.clock import utc_now
from tracker.config import FetchSettings, SourceSettings, check_base_url
from tracker.errors import ConfigError, SourceError
from tracker.models import Outcome, Quote, SourceResult
from tracker.sources.parse import invalid
from tracker.sources.protocols import SpotSource

log = logging.getLogger(__name__)
T = TypeVar("T")

USER_AGENT = f"tracker/{__version__}"  # Kraken refuses requests without one
MAX_BODY_BYTES = 1 << 20  # a ticker is a few hundred bytes; a body near this is not one
_DELAY_SECONDS = re.compile(r"[0-9]{1,10}", re.ASCII)


def make_client() -> httpx.AsyncClient:
    """The client for every source. TLS verification is always on and cannot be turned off."""
    return httpx.AsyncClient(
        verify=True,  # certifi's roots, CERT_REQUIRED and hostname checks
        headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        # A ticker never moves: a redirect means a wrong base_url, and following one could
        # leave https or the configured host.
        follow_redirects=False,
        limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
        timeout=httpx.Timeout(10.0),  # a fallback only: fetch_one sets each attempt's timeout
    )


def source_url(base_url: str, source: SpotSource) -> str:
    """``base_url`` (``scheme://host[:port][/prefix]``) followed by the source's documented path.

    The base URL is checked again here, so plain http:// never reaches a non-loopback host.
    """
    try:
        return check_base_url(base_url) + source.path
    except ValueError as e:
        raise ConfigError(f"sources.{source.name}.base_url: {e}") from None


def decode_json(body: bytes) -> Any:
    """The body as JSON with every number a Decimal (no float anywhere), or None if not JSON.

    NaN and Infinity are not JSON (RFC 8259 §6), though Python's json accepts them by default.
    """

    def refuse(constant: str) -> NoReturn:
        raise ValueError(f"{constant} is not JSON")

    try:
        return json.loads(body, parse_float=Decimal, parse_int=Decimal, parse_constant=refuse)
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        return None


def retry_after_s(headers: httpx.Headers, *, now: dt.datetime | None = None) -> float | None:
    """Seconds to wait according to ``Retry-After`` (RFC 9110 §10.2.3), or None without one.

    The header is either delay-seconds or an HTTP-date; a date is measured from the response's
    own ``Date`` when there is one, so a skewed local clock does not stretch or cut the wait.
    """
    value = headers.get("retry-after", "").strip()
    if _DELAY_SECONDS.fullmatch(value):
        return float(value)
    when = _http_date(value)
    if when is None:
        return None
    reference = _http_date(headers.get("date", "")) or now or utc_now()
    return max(0.0, (when - reference).total_seconds())


def _http_date(value: str) -> dt.datetime | None:
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)  # HTTP-dates are always GMT


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try one request: the one retry policy of every source.

    Connection errors, timeouts, 5xx and what a source calls retryable get up to ``retries``
    more attempts after a jittered exponential backoff (base ``backoff_s``); a 429 waits for
    its Retry-After. ``patient`` (a backfill, not racing a round's deadline) also waits out a
    429 that sends no Retry-After; a wait longer than ``max_wait_s`` is never attempted.
    """

    timeout_s: float
    retries: int
    backoff_s: float
    patient: bool = False
    max_wait_s: float = 120.0


async def with_retries(
    attempt: Callable[[float], Awaitable[T]],
    *,
    name: str,
    policy: RetryPolicy,
    deadline: float | None = None,
    on_wait: Callable[[float, SourceError], None] | None = None,
) -> tuple[T, int]:
    """``attempt(timeout)`` until it succeeds; returns its result and the attempts it took.

    ``deadline`` (a ``time.monotonic()`` instant) bounds the whole: each attempt gets the time
    left, and a wait that would pass it is not begun. Raises SourceError when it gives up, with
    ``attempts`` set and the count in the reason.
    """
    attempts = 0
    error: SourceError | None = None
    while True:
        timeout = policy.timeout_s
        if deadline is not None:
            timeout = min(timeout, deadline - time.monotonic())
            if timeout <= 0:
                if error is None:
                    reason = "its time budget ran out before the first attempt"
                    raise SourceError(source=name, reason=reason, outcome="timeout", attempts=0)
                raise _gave_up(error, attempts, note="; its time budget ran out")
        attempts += 1
        try:
            return await attempt(timeout), attempts
        except SourceError as e:
            error = e
        wait = _wait_before_retry(error, attempts, policy)
        if wait is None or attempts > policy.retries:
            raise _gave_up(error, attempts)
        if deadline is not None and time.monotonic() + wait >= deadline:
            note = f"; waiting {_secs(wait)} s more would pass its time budget"
            raise _gave_up(error, attempts, note=note)
        if wait > policy.max_wait_s:
            limit = _secs(policy.max_wait_s)
            note = f"; asked to wait {_secs(wait)} s, more than {limit} s"
            raise _gave_up(error, 1, note=note)  # the count would only repeat the wait
        if on_wait is not None:
            on_wait(wait, error)
        await asyncio.sleep(wait)


def _gave_up(error: SourceError, attempts: int, *, note: str = "") -> SourceError:
    suffix = "" if attempts <= 1 else f" after {attempts} attempts"
    return SourceError(
        source=error.source,
        reason=error.reason + suffix + note,
        outcome=error.outcome,
        attempts=attempts,
    )


async def fetch_one(
    client: httpx.AsyncClient,
    source: SpotSource,
    settings: SourceSettings,
    fetch: FetchSettings,
    *,
    deadline: float,
) -> SourceResult:
    """Ask one source for a quote; never raises (except for cancellation).

    ``deadline`` is a ``time.monotonic()`` instant for the whole round. The source's own
    ``timeout_s`` bounds its whole part of the round, retries and waits included, so a source
    that never answers is abandoned at its timeout, not after ``retries + 1`` of them.
    """
    start = time.monotonic()
    try:
        url = source_url(settings.base_url, source)
    except ConfigError as e:
        refused = SourceError(source=source.name, reason=f"refused: {e}", outcome="http_error")
        return _failed(source, refused, start, attempts=0)
    policy = RetryPolicy(settings.timeout_s, fetch.retries, fetch.backoff_s)

    async def attempt(timeout: float) -> Quote:
        try:
            return await _attempt(client, source, url, timeout=timeout)
        except SourceError:
            raise
        except Exception as e:  # a parser bug: report it, keep the traceback in the log, go on
            log.exception("%s: unexpected error while reading the answer", source.name)
            raise invalid(
                source.name, f"unexpected {type(e).__name__} while reading the answer"
            ) from None

    try:
        quote, attempts = await with_retries(
            attempt,
            name=source.name,
            policy=policy,
            deadline=min(deadline, start + settings.timeout_s),
        )
    except SourceError as e:
        return _failed(source, e, start, e.attempts)
    return SourceResult(
        source=source.name,
        quote=quote,
        outcome=Outcome.ACCEPTED,
        latency_ms=_ms_since(start),
        attempts=attempts,
    )


async def _attempt(
    client: httpx.AsyncClient, source: SpotSource, url: str, *, timeout: float
) -> Quote:
    payload, fetched_at = await _get_payload(
        client, source.name, url, timeout=timeout, classify=source.classify
    )
    return source.parse(payload, fetched_at=fetched_at)


async def _get_payload(
    client: httpx.AsyncClient,
    name: str,
    url: str,
    *,
    timeout: float,
    classify: Callable[[int, Any], SourceError | None],
    max_bytes: int = MAX_BODY_BYTES,
) -> tuple[Any, dt.datetime]:
    """One GET: the decoded JSON of a 2xx answer and when it arrived, or a SourceError."""
    try:
        # httpx's timeout bounds each step (connect, each read); asyncio.timeout bounds the
        # whole exchange, so a server dribbling a byte at a time cannot stretch an attempt.
        async with asyncio.timeout(timeout), client.stream("GET", url, timeout=timeout) as response:
            body = await _read_body(name, response, max_bytes=max_bytes)
    except (TimeoutError, httpx.TimeoutException):
        reason = f"no answer within {_secs(timeout)} s"
        raise SourceError(source=name, reason=reason, outcome="timeout", retryable=True) from None
    except httpx.HTTPError as e:
        raise _transport_error(name, e) from None
    fetched_at = utc_now()
    status = response.status_code
    payload = decode_json(body)
    if (error := classify(status, payload)) is not None:
        raise error
    if status == 429:
        wait = retry_after_s(response.headers)
        reason = "HTTP 429" if wait is None else f"HTTP 429, Retry-After {_secs(wait)} s"
        raise SourceError(source=name, reason=reason, outcome="rate_limited", retry_after_s=wait)
    if 300 <= status < 400:
        where = response.headers.get("location", "?")
        reason = f"HTTP {status} redirect to {where:.80} (not followed: check base_url)"
        raise SourceError(source=name, reason=reason, outcome="http_error")
    if not 200 <= status < 300:
        # A 503 may say when to come back (RFC 9110 §10.2.3); other 5xx get the backoff.
        wait = retry_after_s(response.headers) if status >= 500 else None
        raise SourceError(
            source=name,
            reason=f"HTTP {status}",
            outcome="http_error",
            retryable=status >= 500,
            retry_after_s=wait,
        )
    if payload is None:
        html = body.lstrip()[:15].lower().startswith((b"<!doctype html", b"<html"))
        raise invalid(name, "body is an HTML page, not JSON" if html else "body is not JSON")
    return payload, fetched_at


async def _read_body(
    name: str, response: httpx.Response, *, max_bytes: int = MAX_BODY_BYTES
) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():  # decoded, so a gzip bomb is counted as it grows
        size += len(chunk)
        if size > max_bytes:
            raise invalid(name, f"body is larger than {max_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _transport_error(name: str, error: httpx.HTTPError) -> SourceError:
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            # An untrusted certificate stays untrusted: do not retry.
            reason = f"TLS certificate not trusted: {cause.verify_message}"
            return SourceError(source=name, reason=reason, outcome="http_error")
        cause = cause.__cause__ or cause.__context__
    detail = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    reason = f"connection failed ({detail:.120})"
    return SourceError(source=name, reason=reason, outcome="http_error", retryable=True)


def _wait_before_retry(error: SourceError, attempt: int, policy: RetryPolicy) -> float | None:
    """Seconds to wait before the next attempt, or None when another attempt cannot help."""
    if error.retry_after_s is not None and (error.retryable or error.outcome == "rate_limited"):
        return float(error.retry_after_s)
    base = policy.backoff_s * 2.0 ** (attempt - 1)
    if error.retryable:
        # "Full jitter": uniform over [0, base * 2^n], so clients that failed together do not
        # retry together. https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/
        return random.uniform(0, base)
    if policy.patient and error.outcome == "rate_limited":
        return base / 2 + random.uniform(0, base / 2)  # no Retry-After: "equal jitter", never 0
    return None


def _failed(source: SpotSource, error: SourceError, start: float, attempts: int) -> SourceResult:
    try:
        outcome = Outcome(error.outcome)
    except ValueError:  # a source invented an outcome: still a failure, and still reported
        outcome = Outcome.INVALID
    return SourceResult(
        source=source.name,
        quote=None,
        outcome=outcome,
        reason=error.reason,
        latency_ms=_ms_since(start),
        attempts=attempts,
    )


def _secs(seconds: float) -> str:
    return f"{round(seconds, 2):g}"


def _ms_since(start: float) -> int:
    return round((time.monotonic() - start) * 1000)


def _no_error(status: int, payload: Any) -> SourceError | None:
    return None


async def get_json(
    client: httpx.AsyncClient,
    url: str,
    *,
    name: str,
    timeout_s: float,
    retries: int,
    backoff_s: float,
    classify: Callable[[int, Any], SourceError | None] = _no_error,
    max_bytes: int = MAX_BODY_BYTES,
    max_wait_s: float = 120.0,
    on_wait: Callable[[float, SourceError], None] | None = None,
) -> Any:
    """GET one JSON document (numbers as Decimal), e.g. a page of daily history, with the
    patient form of the one retry policy (a backfill is not racing a round's deadline).
    ``on_wait(seconds, error)`` is told before each wait. Raises SourceError when it gives up.
    """
    policy = RetryPolicy(timeout_s, retries, backoff_s, patient=True, max_wait_s=max_wait_s)

    async def attempt(timeout: float) -> Any:
        payload, _ = await _get_payload(
            client, name, url, timeout=timeout, classify=classify, max_bytes=max_bytes
        )
        return payload

    payload, _ = await with_retries(attempt, name=name, policy=policy, on_wait=on_wait)
    return payload
