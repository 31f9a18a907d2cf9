"""Benchmark: the queries behind `tracker report`, `tracker status` and `tracker db info` cost the
same on a fresh database and on a large one (DESIGN.md, Growth).

    python bench/bench_growth.py [--minutes-of-rounds 525600]

Builds two SQLite databases with tracker's schema: a fresh one (bundled history and seeds
only) and one with a year of one-minute rounds (525,600 rounds, 5 quotes each, a consensus
each), filled in bulk. Then times, in-process and side by side, assembling the report, the
status and the db info facts on each, and prints the medians and their ratio (target: close
to 1). db info is also timed cold: in a new process, right after the file's pages were
dropped from the OS cache where that is allowed (else warm, and it says so).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tracker.config import load_settings
from tracker.report import assemble_report
from tracker.sources import SPOT
from tracker.status import gather_status
from tracker.store.engine import read_session
from tracker.store.migrate import SCHEMA_HEAD, info, open_database

SOURCES = ("coinbase", "kraken", "bitstamp", "gemini", "bitfinex")


def fill(path: Path, minutes: int, end: dt.datetime) -> None:
    """Rounds every minute up to ``end``, straight through sqlite3 (executemany)."""
    conn = sqlite3.connect(path)
    fmt = "%Y-%m-%d %H:%M:%S.%f"
    start = end - dt.timedelta(minutes=minutes)
    rounds, quotes, consensus = [], [], []
    for i in range(minutes):
        at = (start + dt.timedelta(minutes=i)).strftime(fmt)
        rid = i + 1
        rounds.append((rid, at, at, "ok", "USD"))
        price = 10_000_000_000_000 + (i % 1000) * 100_000_000  # 100,000 USD in 10^-8 units
        for s in SOURCES:
            quotes.append((rid, s, price, None, 12, 1, "accepted", None))
        consensus.append((rid, at, "USD", price, ",".join(SOURCES)))
    with conn:
        conn.executemany("INSERT INTO fetch_rounds (id, started_at, finished_at, status, currency) VALUES (?,?,?,?,?)", rounds)
        conn.executemany("INSERT INTO source_quotes (round_id, source, price, quoted_at, latency_ms, attempts, outcome, reason) VALUES (?,?,?,?,?,?,?,?)", quotes)
        conn.executemany("INSERT INTO consensus_prices (round_id, at, currency, price, sources) VALUES (?,?,?,?,?)", consensus)
    conn.execute("ANALYZE")
    conn.close()


def timed(url: str, now: dt.datetime, n: int) -> tuple[float, float, float]:
    settings = load_settings(None)
    engine = open_database(url, settings=settings).engine
    max_age = dt.timedelta(seconds=settings.report.max_price_age_s)
    rep, stat, facts = [], [], []
    for _ in range(n):
        with read_session(engine) as session:
            t = time.perf_counter()
            assemble_report(session=session, at=None, now=now, max_price_age=max_age)
            rep.append(time.perf_counter() - t)
            t = time.perf_counter()
            gather_status(
                session=session, now=now, max_price_age=max_age, source_names=list(SPOT),
                database_url=url, schema=SCHEMA_HEAD,
            )
            stat.append(time.perf_counter() - t)
        t = time.perf_counter()
        info(engine)
        facts.append(time.perf_counter() - t)
    engine.dispose()
    return statistics.median(rep), statistics.median(stat), statistics.median(facts)


def cold_db_info(path: Path) -> tuple[float, bool]:
    """`tracker db info` in a new process, after dropping the page cache if allowed."""
    import os
    import subprocess

    dropped = False
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("1\n")
        dropped = True
    except OSError:
        pass
    t = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "tracker", "--db", f"sqlite:///{path}", "db", "info"],
        check=True, capture_output=True,
    )
    return time.perf_counter() - t, dropped


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes-of-rounds", type=int, default=525_600)
    ap.add_argument("--repeat", type=int, default=30)
    args = ap.parse_args()
    now = dt.datetime.now(dt.UTC)
    with tempfile.TemporaryDirectory() as tmp:
        fresh, big = Path(tmp) / "fresh.db", Path(tmp) / "big.db"
        for p in (fresh, big):
            open_database(f"sqlite:///{p}", settings=load_settings(None)).engine.dispose()
        t = time.perf_counter()
        fill(big, args.minutes_of_rounds, now)
        print(f"filled {args.minutes_of_rounds:,} rounds ({args.minutes_of_rounds * 5:,} quotes) "
              f"in {time.perf_counter() - t:.1f} s; {big.stat().st_size / 2**20:.0f} MiB")
        # alternate the two, so machine noise hits both alike
        f1 = timed(f"sqlite:///{fresh}", now, args.repeat)
        b1 = timed(f"sqlite:///{big}", now, args.repeat)
        f2 = timed(f"sqlite:///{fresh}", now, args.repeat)
        b2 = timed(f"sqlite:///{big}", now, args.repeat)
        fr = [min(a, b) for a, b in zip(f1, f2, strict=True)]
        bg = [min(a, b) for a, b in zip(b1, b2, strict=True)]
        for i, name in enumerate(("report", "status", "db info")):
            print(f"{name}: fresh {fr[i] * 1000:.1f} ms, large {bg[i] * 1000:.1f} ms, "
                  f"ratio {bg[i] / fr[i]:.2f}")
        cold_fresh, dropped = cold_db_info(fresh)
        cold_big, _ = cold_db_info(big)
        how = "cold (page cache dropped)" if dropped else "warm (page cache could not be dropped)"
        print(f"db info in a new process, {how}: fresh {cold_fresh:.2f} s, large {cold_big:.2f} s, "
              f"ratio {cold_big / cold_fresh:.2f}")


if __name__ == "__main__":
    main()
