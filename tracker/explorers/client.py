"""One explorer's reads: ``tip_height()`` and ``balance(address)``, each one request (plus
bounded retries) spaced by the explorer's ``RateLimiter``.

Failures are ``ExplorerError`` (a ``SourceError``) with a stored outcome: ``http_error``,
``rate_limited``, ``timeout``, ``invalid`` (a non-JSON, HTML or misshapen body),
``invalid_address`` (the explorer's 400 for an address), ``skipped`` (the explorer already
gave up in this check).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import httpx

from tracker.config import ExplorerSettings, FetchSettings, check_base_url
from tracker.errors import ConfigError, SourceError
from tracker.sources.http import (
    MAX_BODY_BYTES,
    RetryPolicy,
    _transport_error,
    decode_json,
    retry_after_s,
    with_retries,
)

ADDRESS_PATH = "/api/address/"  # + the address
TIP_PATH = "/api/blocks/tip/height"
MAX_WAIT_S = 60.0  # a Retry-After longer than this is not waited out inside a check
MAX_HEIGHT = 100_000_000  # a tip above this is not a block height (about 1,900 years away)

ExplorerError = SourceError


class RateLimiter:
    """Spaces request starts ``1 / rate_per_s`` apart (requests may overlap: a slow answer does
    not hold up the next request, only the rate does). ``hold(s)`` makes every later request
    wait ``s`` more, as a 429 asks."""

    def __init__(self, rate_per_s: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval_s = 1.0 / rate_per_s
        self._clock = clock
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            now = self._clock()
            slot = max(now, self._next)
            self._next = slot + self.interval_s
        if slot > now:
            await asyncio.sleep(slot - now)

    def hold(self, seconds: float) -> None:
        self._next = max(self._next, self._clock() + seconds)


class Explorer:
    """An Esplora API at ``settings.base_url`` (``scheme://host[:port][/prefix]``)."""

    def __init__(
        self,
        name: str,
        settings: ExplorerSettings,
        fetch: FetchSettings,
        client: httpx.AsyncClient,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.name = name
        self.settings = settings
        try:
            self.base_url = check_base_url(settings.base_url)
        except ValueError as e:
            raise ConfigError(f"explorers.{name}.base_url: {e}") from None
        self.client = client
        self.limiter = limiter or RateLimiter(settings.rate_per_s)
        # 429 without Retry-After: back off from at least one polite interval
        backoff = max(fetch.backoff_s, self.limiter.interval_s)
        self.policy = RetryPolicy(
            settings.timeout_s, fetch.retries, backoff, patient=True, max_wait_s=MAX_WAIT_S
        )
        self.gave_up: str | None = None  # why this explorer's remaining reads are skipped

    async def tip_height(self) -> tuple[int, int]:
        """The tip height and the attempts it took; raises ExplorerError."""
        payload, attempts = await self.get(TIP_PATH)
        if (
            not isinstance(payload, Decimal)
            or payload != payload.to_integral_value()
            or not 0 <= payload < MAX_HEIGHT
        ):
            raise _invalid(self.name, f"tip height is not a block height: {_short(payload)}")
        return int(payload), attempts

    async def balance(self, address: str) -> tuple[int, int]:
        """The address's confirmed balance in sats (``chain_stats.funded_txo_sum -
        spent_txo_sum``) and the attempts it took; raises ExplorerError."""
        payload, attempts = await self.get(ADDRESS_PATH + address, address=address)
        return confirmed_balance(self.name, address, payload), attempts

    async def get(self, path: str, *, address: str | None = None) -> tuple[Any, int]:
        """GET ``path`` (after base_url) within the explorer's rate, with its retries and 429
        handling; the decoded JSON (or the tip's integer) and the attempts it took. Raises
        SourceError with the outcome and reason (``address`` names the address asked about)."""
        url = self.base_url + path

        async def attempt(timeout: float) -> Any:
            await self.limiter.acquire()
            if self.gave_up is not None:
                raise SourceError(source=self.name, reason=self.gave_up, outcome="skipped")
            try:
                return await self._once(url, timeout, address=address)
            except SourceError as e:
                if e.outcome == "rate_limited":  # every request to this host waits, not just this
                    self.limiter.hold(e.retry_after_s or self.policy.backoff_s)
                raise

        result: tuple[Any, int] = await with_retries(attempt, name=self.name, policy=self.policy)
        return result

    async def _once(self, url: str, timeout: float, *, address: str | None) -> Any:
        name = self.name
        try:
            async with (
                asyncio.timeout(timeout),
                self.client.stream("GET", url, timeout=timeout) as response,
            ):
                body = await _read_body(name, response)
        except (TimeoutError, httpx.TimeoutException):
            # not retried: a hung explorer is cut at its timeout, not at a multiple of it
            reason = f"no answer within {_secs(timeout)} s"
            raise SourceError(source=name, reason=reason, outcome="timeout") from None
        except httpx.RemoteProtocolError as e:
            if "complete message body" not in str(e):
                raise _transport_error(name, e) from None
            reason = f"body cut short ({_short_text(str(e))})"
            raise SourceError(
                source=name, reason=reason, outcome="invalid", retryable=True
            ) from None
        except httpx.HTTPError as e:
            raise _transport_error(name, e) from None
        status = response.status_code
        if status == 429:
            wait = retry_after_s(response.headers)
            reason = "HTTP 429" if wait is None else f"HTTP 429, Retry-After {_secs(wait)} s"
            raise SourceError(
                source=name, reason=reason, outcome="rate_limited", retry_after_s=wait
            )
        if 300 <= status < 400:
            where = response.headers.get("location", "?")
            reason = f"HTTP {status} redirect to {where:.80} (not followed: check base_url)"
            raise SourceError(source=name, reason=reason, outcome="http_error")
        if status == 400 and address is not None:
            said = _text(body) or "Bad Request"
            reason = f"HTTP 400: the explorer calls {address} invalid ({said})"
            raise SourceError(source=name, reason=reason, outcome="invalid_address")
        if not 200 <= status < 300:
            said = _text(body)
            reason = f"HTTP {status}" + (f" ({said})" if said else "")
            wait = retry_after_s(response.headers) if status >= 500 else None
            raise SourceError(
                source=name,
                reason=reason,
                outcome="http_error",
                retryable=status >= 500,
                retry_after_s=wait,
            )
        payload = decode_json(body)
        if payload is None:
            html = body.lstrip()[:15].lower().startswith((b"<!doctype html", b"<html"))
            raise _invalid(name, "body is an HTML page, not JSON" if html else "body is not JSON")
        return payload


def confirmed_balance(name: str, address: str, payload: Any) -> int:
    """``chain_stats.funded_txo_sum - chain_stats.spent_txo_sum`` of an address body, checked."""
    if not isinstance(payload, Mapping):
        raise _invalid(name, f"address body is not an object: {_short(payload)}")
    said = payload.get("address")
    if said is not None and said != address:
        raise _invalid(name, f"answered for another address ({_short(said)})")
    stats = payload.get("chain_stats")
    if not isinstance(stats, Mapping):
        raise _invalid(name, "address body has no chain_stats object")
    sums: list[int] = []
    for key in ("funded_txo_sum", "spent_txo_sum"):
        value = stats.get(key)
        if (
            not isinstance(value, Decimal)
            or value != value.to_integral_value()
            or not 0 <= value <= 21_000_000 * 100_000_000
        ):
            raise _invalid(name, f"chain_stats.{key} is not an amount of sats: {_short(value)}")
        sums.append(int(value))
    funded, spent = sums
    if spent > funded:
        raise _invalid(name, f"chain_stats spends {spent} sats of {funded} funded")
    return funded - spent


async def _read_body(name: str, response: httpx.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _invalid(name, f"body is larger than {MAX_BODY_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _invalid(name: str, reason: str) -> SourceError:
    return SourceError(source=name, reason=reason, outcome="invalid")


def _text(body: bytes) -> str:
    """A short error body as one line of text (an HTML page or JSON notice shown as such)."""
    text = body[:200].decode("utf-8", "replace")
    if text.lstrip()[:15].lower().startswith(("<!doctype html", "<html")):
        return "an HTML page"
    return " ".join(text.split())[:80]


def _short_text(text: str) -> str:
    return " ".join(text.split())[:100]


def _short(value: Any) -> str:
    return repr(value)[:40]


def _secs(seconds: float) -> str:
    return f"{round(seconds, 2):g}"


def make_explorers(
    explorers: Mapping[str, ExplorerSettings], fetch: FetchSettings, client: httpx.AsyncClient
) -> list[Explorer]:
    """The enabled explorers, in config order, each with its own rate limiter."""
    return [
        Explorer(name, settings, fetch, client)
        for name, settings in explorers.items()
        if settings.enabled
    ]
