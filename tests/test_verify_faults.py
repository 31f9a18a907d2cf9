"""An explorer's faults during a check, each a stored outcome with its reason and never a
made-up total: 500, 429 (Retry-After honoured; backoff without), an HTML page, a truncated
body, a tip moving between reads, balances differing, an address called invalid, a hung
explorer cut at its timeout. Requests to one explorer are spaced by its rate; explorers run in
parallel. And the [explorers.*] and [verify] settings."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Sequence
from decimal import Decimal

import pytest

from tests.fake_explorer import BLOCKSTREAM_429, HTML_PAGE, FakeExplorer
from tests.verify_support import ES
from tracker.chain_models import CheckStatus
from tracker.chain_verdict import ExplorerRead, compare, judge
from tracker.config import ExplorerSettings, FetchSettings, Settings
from tracker.errors import ConfigError
from tracker.explorers import Explorer, RateLimiter
from tracker.sources.http import make_client
from tracker.verify import read_explorer

BTC = 100_000_000
A = ES[:3]
FAST = FetchSettings(retries=2, backoff_s=0.05)


def read(
    fake: FakeExplorer,
    addresses: Sequence[str] = A,
    *,
    timeout_s: float = 2.0,
    rate_per_s: float = 200.0,
    fetch: FetchSettings = FAST,
) -> dict[str, ExplorerRead]:
    """Both explorers' reads of ``addresses``, in parallel."""

    async def go() -> list[ExplorerRead]:
        async with make_client() as client:
            settings = fake.explorer_settings(timeout_s=timeout_s, rate_per_s=rate_per_s)
            explorers = [Explorer(n, s, fetch, client) for n, s in settings.items()]
            return await asyncio.gather(*(read_explorer(e, addresses) for e in explorers))

    return {r.explorer: r for r in asyncio.run(go())}


@pytest.fixture
def fake(fake_explorer: FakeExplorer) -> FakeExplorer:
    fake_explorer.set_balances({A[0]: 5 * BTC, A[1]: 7, A[2]: 0})
    fake_explorer.set_tip(900_000)
    return fake_explorer


def verdict(reads: dict[str, ExplorerRead], addresses: Sequence[str] = A) -> CheckStatus:
    return judge(list(reads.values()), addresses, 2).status


def test_agreeing_reads_subtract_spent_and_ignore_the_mempool(fake: FakeExplorer) -> None:
    reads = read(fake)
    for r in reads.values():
        assert (r.outcome, r.height, r.attempts) == ("ok", 900_000, 1)
        assert [a.sats for a in r.answers] == [5 * BTC, 7, 0]
    judged = judge(list(reads.values()), A, 2)
    assert judged.status is CheckStatus.VERIFIED and judged.chain_sats == 5 * BTC + 7


def test_500_is_retried_then_recorded(fake: FakeExplorer) -> None:
    fake.set_fault("mempool", status=500, times=1, target="address", address=A[1])
    fake.set_fault("blockstream", status=500, target="address", address=A[1])
    reads = read(fake)
    ok = reads["mempool"].answers[1]
    assert (ok.outcome, ok.sats, ok.attempts) == ("ok", 7, 2)
    failed = reads["blockstream"]
    assert failed.outcome == "http_error" and failed.height is None
    assert failed.reason == f"{A[1]}: HTTP 500 (fake explorer: HTTP 500) after 3 attempts"
    judged = judge(list(reads.values()), A, 2)
    assert judged.status is CheckStatus.UNVERIFIED and judged.chain_sats is None
    assert "blockstream" in (judged.reason or "") and A[1] in (judged.reason or "")


def test_429_with_retry_after_is_waited_out(fake: FakeExplorer) -> None:
    fake.set_fault("mempool", status=429, headers={"Retry-After": "1"}, times=1, target="tip")
    start = time.monotonic()
    reads = read(fake)
    assert reads["mempool"].outcome == "ok"
    log = fake.requests("mempool")
    assert log[0].served == "HTTP 429"
    assert log[1].at - log[0].at >= 0.95  # no request to that host before Retry-After
    assert time.monotonic() - start < 3


def test_429_without_retry_after_backs_off(fake: FakeExplorer) -> None:
    fake.set_fault("blockstream", status=429, body=BLOCKSTREAM_429, times=2, target="address")
    reads = read(fake, rate_per_s=20.0)  # a polite interval of 0.05 s: the backoff's base
    assert reads["blockstream"].outcome == "ok"
    log = [r for r in fake.requests("blockstream") if r.target.startswith("/api/address/")]
    assert [r.served for r in log[:2]] == ["HTTP 429", "HTTP 429"]
    assert log[2].at - log[0].at >= 0.05  # not hammered while rate-limited


def test_429_that_never_ends_is_rate_limited(fake: FakeExplorer) -> None:
    fake.set_fault("mempool", status=429, body=BLOCKSTREAM_429, target="tip")
    r = read(fake)["mempool"]
    assert r.outcome == "rate_limited" and r.reason == "tip height: HTTP 429 after 3 attempts"
    assert {a.outcome for a in r.answers} == {"skipped"}


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ({"body": HTML_PAGE}, "body is an HTML page, not JSON"),
        ({"status": 502, "body": HTML_PAGE}, "HTTP 502 (an HTML page)"),
        ({"truncated": True}, "body cut short"),
        ({"body": b'{"address": "x"'}, "body is not JSON"),
        (
            {"body": b'{"chain_stats": {"funded_txo_sum": 1.5, "spent_txo_sum": 0}}'},
            "not an amount",
        ),
    ],
)
def test_a_body_that_is_not_data_is_never_data(
    fake: FakeExplorer, fault: dict[str, object], expected: str
) -> None:
    fake.set_fault("mempool", target="address", address=A[0], **fault)  # type: ignore[arg-type]
    reads = read(fake)
    r = reads["mempool"]
    assert r.outcome != "ok" and expected in (r.reason or "")
    assert r.answers[0].sats is None
    assert verdict(reads) is CheckStatus.UNVERIFIED


def test_a_tip_that_moves_once_gets_a_second_pass(fake: FakeExplorer) -> None:
    fake.set_tip(900_000, explorer="mempool", move_every=1, moves=1)
    fake.set_tip(900_001, explorer="blockstream")
    reads = read(fake)
    assert (reads["mempool"].outcome, reads["mempool"].height) == ("ok", 900_001)
    assert reads["mempool"].attempts == 2
    assert verdict(reads) is CheckStatus.VERIFIED


def test_a_tip_that_keeps_moving_is_not_used(fake: FakeExplorer) -> None:
    fake.set_tip(900_000, explorer="mempool", move_every=1)
    r = read(fake)["mempool"]
    assert r.outcome == "tip_moved" and r.height is None
    assert r.reason == "the tip moved during its reads (900000 to 900001, then 900002 to 900003)"


def test_explorers_at_different_heights_disagree(fake: FakeExplorer) -> None:
    fake.set_tip(900_005, explorer="blockstream")
    judged = judge(list(read(fake).values()), A, 2)
    assert judged.status is CheckStatus.DISAGREE and judged.chain_sats is None
    assert judged.reason == "heights differ: mempool 900000, blockstream 900005"


def test_differing_balances_name_the_address_and_amounts(fake: FakeExplorer) -> None:
    fake.set_balances({A[1]: 7 + BTC}, explorer="blockstream")
    judged = judge(list(read(fake).values()), A, 2)
    assert judged.status is CheckStatus.DISAGREE
    assert judged.reason == (
        f"balances differ: {A[1]}: mempool 0.00000007 BTC, blockstream 1.00000007 BTC"
    )


def test_an_address_the_explorers_call_invalid(fake: FakeExplorer) -> None:
    bad = "3FakeGovernmentAddre$$"
    reads = read(fake, [*A, bad])
    for r in reads.values():
        assert r.outcome == "ok"  # the explorer works; the address is the problem
        answer = r.answers[-1]
        assert answer.outcome == "invalid_address"
        assert answer.reason == (
            f"HTTP 400: the explorer calls {bad} invalid (Invalid Bitcoin address)"
        )
    judged = judge(list(reads.values()), [*A, bad], 2)
    assert judged.status is CheckStatus.UNVERIFIED and bad in (judged.reason or "")


def test_a_hung_explorer_is_cut_at_its_timeout(fake: FakeExplorer) -> None:
    fake.set_fault("blockstream", hang=True)
    start = time.monotonic()
    reads = read(fake, timeout_s=0.5)
    elapsed = time.monotonic() - start
    r = reads["blockstream"]
    assert r.outcome == "timeout" and r.reason == "tip height: no answer within 0.5 s"
    assert 0.45 <= elapsed < 1.5  # once, not once per retry
    assert reads["mempool"].outcome == "ok"
    assert verdict(reads) is CheckStatus.UNVERIFIED


def test_a_hang_mid_check_stops_that_explorer(fake: FakeExplorer) -> None:
    fake.set_fault("blockstream", hang=True, target="address", address=A[0])
    r = read(fake, timeout_s=0.5, rate_per_s=1.5)["blockstream"]  # the next starts after
    assert r.outcome == "timeout" and r.reason == f"{A[0]}: no answer within 0.5 s"
    assert [a.outcome for a in r.answers] == ["timeout", "skipped", "skipped"]


def test_requests_to_one_explorer_are_spaced_by_its_rate(fake: FakeExplorer) -> None:
    fake.set_latency(0.1)
    read(fake, ES[:8], rate_per_s=20)
    firsts = []
    for name in ("mempool", "blockstream"):
        times = sorted(r.at for r in fake.requests(name))
        assert len(times) == 10
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert min(gaps[1:-1]) >= 0.03  # 1/20 s apart, give or take the threads' scheduling
        # within the rate, overlapping: the tip (0.1 s), 8 starts 0.05 s apart, the last
        # answer, the tip: about 0.55 s from first to last; one after another, 0.9 s
        assert times[-1] - times[0] < 0.8
        firsts.append(times[0])
    assert abs(firsts[0] - firsts[1]) < 0.1  # both explorers at once


def test_rate_limiter_spaces_starts() -> None:
    async def go() -> list[float]:
        limiter = RateLimiter(10)
        starts: list[float] = []

        async def one() -> None:
            await limiter.acquire()
            starts.append(time.monotonic())

        await asyncio.gather(*(one() for _ in range(5)))
        limiter.hold(0.3)
        await one()
        return starts

    starts = asyncio.run(go())
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert all(g >= 0.09 for g in gaps[:4]) and gaps[4] >= 0.29


def test_compare_is_signed_and_within_tolerance() -> None:
    assert compare(None, 5, Decimal(1)).verdict is None  # no total, nothing compared
    same = compare(10 * BTC, 9 * BTC, Decimal(1))
    assert (same.verdict, same.difference_sats) == ("matches", BTC)
    less = compare(8 * BTC, 10 * BTC, Decimal(1))  # a list that may miss addresses
    assert (less.verdict, less.difference_sats) == ("inconclusive", -2 * BTC)
    full = compare(8 * BTC, 10 * BTC, Decimal(1), complete=True)  # the holder's full list
    assert (full.verdict, full.difference_sats) == ("differs", -2 * BTC)
    more = compare(12 * BTC, 10 * BTC, Decimal(1))  # more than claimed: on any list
    assert (more.verdict, more.difference_sats) == ("differs", 2 * BTC)
    none = compare(8 * BTC, None, Decimal(1))
    assert none.verdict is None and "no headline figure" in (none.reason or "")


def test_explorer_settings() -> None:
    s = Settings()
    assert {n: e.base_url for n, e in s.explorers.items()} == {
        "mempool": "https://mempool.space",
        "blockstream": "https://blockstream.info",
    }
    assert (s.verify.min_explorers, s.verify.tolerance_btc, s.verify.interval_s) == (
        2, Decimal(1), 21_600,
    )  # fmt: skip
    assert s.explorers["mempool"].rate_per_s == 1.0
    merged = Settings.model_validate(
        {"explorers": {"mempool": {"enabled": False}, "mine": {"base_url": "http://[::1]:3002/x"}}}
    )
    assert merged.explorers["mempool"].base_url == "https://mempool.space"
    assert not merged.explorers["mempool"].enabled
    assert merged.explorers["mine"].base_url == "http://[::1]:3002/x"
    for bad in (
        {"blockstream": {"base_url": "http://blockstream.info"}},
        {"mine": {}},
        {"mempool": {"rate_per_s": 0}},
        {"mempool": {"colour": "red"}},
    ):
        with pytest.raises(ValueError):
            Settings.model_validate({"explorers": bad})


def test_a_non_loopback_http_base_url_is_refused_at_use(fake: FakeExplorer) -> None:
    settings = ExplorerSettings.model_construct(
        enabled=True, base_url="http://example.com", timeout_s=1.0, rate_per_s=1.0
    )

    async def go() -> None:
        async with make_client() as client:
            Explorer("x", settings, FAST, client)

    with pytest.raises(ConfigError, match="plain http:// is allowed only for loopback"):
        asyncio.run(go())


def test_an_explorer_that_refuses_connections(fake: FakeExplorer) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = ExplorerSettings(base_url=f"http://127.0.0.1:{port}/esplora", timeout_s=1)

    async def go() -> ExplorerRead:
        async with make_client() as client:
            return await read_explorer(Explorer("down", settings, FAST, client), A)

    r = asyncio.run(go())
    assert r.outcome == "http_error" and r.height is None
    assert (r.reason or "").startswith("tip height: connection failed (ConnectError")
    assert (r.reason or "").endswith("after 3 attempts")
