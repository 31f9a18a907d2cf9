"""Benchmark: a fetch round lasts as long as its slowest source, not the sum of them.

    python bench/bench_round.py

1. Five core sources each answering after 300 ms: one round (fetch, consensus, store) should
   take under 1.3 x 300 ms of wall time.
2. One source hanging: the round should end within 1.2 x that source's timeout.
Runs against the loopback fake exchange (tests/fake_exchange.py) and a temporary SQLite file.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fake_exchange import FakeExchange
from tracker import rounds
from tracker.config import FetchSettings, Settings
from tracker.sources.http import make_client
from tracker.store.migrate import open_database

CORE = ("coinbase", "kraken", "bitstamp", "gemini", "bitfinex")


def timed_rounds(settings: Settings, url: str, n: int) -> list[float]:
    engine = open_database(url, settings=settings).engine

    async def go() -> list[float]:
        times = []
        async with make_client() as client:
            for _ in range(n):
                start = time.perf_counter()
                await rounds.run_once(client=client, engine=engine, settings=settings)
                times.append(time.perf_counter() - start)
        return times

    try:
        return asyncio.run(go())
    finally:
        engine.dispose()


def main() -> None:
    with FakeExchange() as fx, tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        fetch = FetchSettings(retries=2, backoff_s=0.25, round_timeout_s=15)

        delay = 0.300
        for name in CORE:
            fx.set_fault(name, delay_s=delay)
        settings = Settings(sources=fx.source_settings(timeout_s=5), fetch=fetch)
        times = timed_rounds(settings, url, 7)
        median = statistics.median(times)
        print(
            f"five sources at {delay * 1000:.0f} ms each: round median {median * 1000:.0f} ms "
            f"(min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f}) over {len(times)} rounds; "
            f"ratio to one source's delay {median / delay:.2f} (target < 1.30)"
        )

        fx.reset()
        timeout = 1.0
        fx.set_fault("bitfinex", hang=True)
        sources = fx.source_settings(timeout_s=5)
        sources["bitfinex"] = fx.source_settings(timeout_s=timeout)["bitfinex"]
        settings = Settings(sources=sources, fetch=fetch)
        times = timed_rounds(settings, url, 3)
        median = statistics.median(times)
        print(
            f"one source hanging, its timeout {timeout:.1f} s: round median {median:.2f} s "
            f"(max {max(times):.2f}); ratio to the timeout {median / timeout:.2f} (target < 1.20)"
        )


if __name__ == "__main__":
    main()
