"""Benchmark: a check of 21 addresses on two explorers with 100 ms latency each finishes
within 1.5 x the time the polite request rate allows (concurrency within the rate, not one
request after another).

    python bench/bench_verify.py [--rate 1.0] [--rate 20] [--latency-ms 100]

Per explorer a check makes 23 requests (tip, 21 addresses, tip), their starts spaced
1 / rate_per_s apart: the rate allows (23 - 1) / rate + one latency (the last answer), and the
closing tip cannot start before the last address has answered. The whole of `run_checks`
is timed (reads, judging, storing in a temporary SQLite file), against the loopback fake
explorer pair (tests/fake_explorer.py). The default rate (1.0/s, the config's) takes ~22 s;
a fast one (20/s, below the latency) shows the requests overlap.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fake_explorer import FakeExplorer
from tests.verify_support import ES, database_with
from tracker.config import Settings, VerifySettings
from tracker.verify import run_checks

# El Salvador's 20 shipped addresses and a 21st (a valid P2PKH from the Esplora samples)
ADDRESSES = [*ES, "1FHxL2JskCy6g98wEMxpaNNkxohjq3hUKk"]
TARGET = 1.5


def bench(rate: float, latency_s: float, url: str) -> tuple[float, float, float]:
    """(elapsed, allowed, one after another) seconds of one check at ``rate``."""
    with FakeExplorer() as fake:
        fake.set_latency(latency_s)
        fake.set_balances({a: 1_000 + i for i, a in enumerate(ADDRESSES)})
        settings = Settings(
            explorers=fake.explorer_settings(rate_per_s=rate, timeout_s=10),
            verify=VerifySettings(min_explorers=2),
        )
        others = {"united-states": [], "germany": []}
        engine = database_with(url, settings, {"el-salvador": ADDRESSES, **others})
        start = time.perf_counter()
        (result,) = run_checks(settings, engine, ["el-salvador"])
        elapsed = time.perf_counter() - start
        assert result.status.value == "verified", result.reason
        assert len(fake.requests("mempool")) == len(ADDRESSES) + 2
    n = len(ADDRESSES) + 2
    allowed = (n - 1) / rate + latency_s
    serial = n * max(latency_s, 1 / rate)  # each request waiting for the one before
    return elapsed, allowed, serial


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, action="append", help="rate_per_s (repeatable)")
    parser.add_argument("--latency-ms", type=float, default=100.0)
    args = parser.parse_args()
    rates = args.rate or [1.0, 20.0]
    latency = args.latency_ms / 1000
    failed = False
    print(f"{len(ADDRESSES)} addresses, 2 explorers, {args.latency_ms:g} ms latency each")
    for rate in rates:
        with tempfile.TemporaryDirectory() as tmp:
            elapsed, allowed, serial = bench(rate, latency, f"sqlite:///{tmp}/bench.db")
        ratio = elapsed / allowed
        ok = ratio <= TARGET
        failed |= not ok
        print(
            f"rate {rate:g}/s per explorer: {elapsed:.2f} s; the rate allows {allowed:.2f} s "
            f"-> {ratio:.2f}x (target <= {TARGET}x; one request after another: "
            f"{serial:.2f} s) {'ok' if ok else 'SLOW'}"
        )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
