"""Benchmark: the query behind `tracker history --interval month` against hand-written SQL.

    python bench/bench_history.py [--repeat 21]

Builds a temporary SQLite database (migrated as `tracker` does it) with ten years of daily closes
from three sources and one year of 5-minute consensus rounds, all inserted in bulk. Then, in one
process and alternating, it times

  tracker:  timeline.build_timeline(...)  (SQLAlchemy: the history query, the missing-days
            query, and the exact values in Decimal), as `tracker history` runs it;
  baseline: the same questions as hand-written SQL through the sqlite3 module, rows fetched.

It prints the medians and their ratio; the target is a ratio of at most 2 (exit status 1 above).
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sqlalchemy as sa

from tracker.config import Settings
from tracker.daily import history as timeline
from tracker.models import (
    ConsensusPrice,
    DailyPrice,
    FetchRound,
    Holder,
    Observation,
    price_to_units,
)
from tracker.store.engine import make_engine, write_connection
from tracker.store.migrate import open_database

YEARS = 10
LAST_DAY = dt.date(2025, 12, 31)
FIRST_DAY = LAST_DAY - dt.timedelta(days=365 * YEARS + YEARS // 4)
SOURCES = ("bitstamp", "bundled", "bitfinex")
TARGET_RATIO = 2.0

HANDWRITTEN_HISTORY = """
WITH ranked AS (
    SELECT date(date, 'start of month') AS period, date, source, close,
           row_number() OVER (
               PARTITION BY date(date, 'start of month')
               ORDER BY date DESC,
                        CASE source WHEN 'bitstamp' THEN 0 WHEN 'bundled' THEN 1
                                    WHEN 'bitfinex' THEN 2 WHEN 'coinbase' THEN 3
                                    WHEN 'kraken' THEN 4 WHEN 'consensus' THEN 5 ELSE 6 END
           ) AS rn
    FROM daily_prices
    WHERE currency = 'USD' AND date BETWEEN :first AND :last
),
closes AS (
    SELECT period, min(date(date, 'start of month', '+1 month', '-1 day'), :last) AS period_end,
           date AS close_date, source, close
    FROM ranked WHERE rn = 1
),
same_day AS (
    SELECT id, holder_id, sats, bound, basis, as_of,
           row_number() OVER (
               PARTITION BY holder_id, as_of
               ORDER BY CASE basis WHEN 'official' THEN 0 WHEN 'reported' THEN 1
                                   WHEN 'estimate' THEN 2 ELSE 3 END, id DESC
           ) AS rn
    FROM holding_observations WHERE sats IS NOT NULL
),
steps AS (
    SELECT id, holder_id, sats, bound, basis, as_of,
           lead(as_of) OVER (PARTITION BY holder_id ORDER BY as_of) AS until
    FROM same_day WHERE rn = 1
)
SELECT c.period, c.period_end, c.close_date, c.source, c.close,
       h.id, s.id, s.sats, s.bound, s.basis, s.as_of
FROM closes AS c
CROSS JOIN holders AS h
LEFT JOIN steps AS s
       ON s.holder_id = h.id AND s.as_of <= c.period_end
      AND (s.until IS NULL OR s.until > c.period_end)
ORDER BY c.period, h.id
"""
HANDWRITTEN_SPAN = """
SELECT min(date), max(date) FROM daily_prices
WHERE currency = 'USD' AND date BETWEEN :first AND :last
"""
HANDWRITTEN_GAPS = """
WITH days AS (
    SELECT date FROM daily_prices
    WHERE currency = 'USD' AND date BETWEEN :first AND :last GROUP BY date
),
steps AS (SELECT date, lag(date) OVER (ORDER BY date) AS prev FROM days)
SELECT prev, date FROM steps WHERE julianday(date) - julianday(prev) > 1 ORDER BY date
"""


def build(path: Path) -> dict[str, int]:
    """A migrated database filled in bulk; returns the row counts."""
    engine = open_database(f"sqlite:///{path}", settings=Settings()).engine
    rng = random.Random(7)
    daily, day, price = [], FIRST_DAY, Decimal(400)
    while day <= LAST_DAY:
        price = max(
            Decimal(100), price * Decimal(1 + rng.uniform(-0.04, 0.042)).quantize(Decimal("0.0001"))
        )
        for n, source in enumerate(SOURCES):
            if source == "bitfinex" and rng.random() < 0.02:
                continue  # a few holes in one series
            close = (price * (1 + Decimal(n) / 1000)).quantize(Decimal("0.01"))
            daily.append({"currency": "USD", "date": day, "source": source, "close": close})
        day += dt.timedelta(days=1)
    start = dt.datetime.combine(LAST_DAY - dt.timedelta(days=364), dt.time(0), tzinfo=dt.UTC)
    rounds, consensus = [], []
    for i in range(365 * 24 * 12):
        at = start + dt.timedelta(minutes=5 * i)
        rounds.append(
            {"id": i + 1, "started_at": at, "finished_at": at, "status": "ok", "currency": "USD"}
        )
        consensus.append({"round_id": i + 1, "at": at, "currency": "USD",
                          "price": Decimal(90000 + i % 1000), "sources": "bitstamp,kraken,coinbase"})  # fmt: skip
    holders = [{"id": 1, "slug": "el-salvador", "name": "El Salvador"},
               {"id": 2, "slug": "united-states", "name": "United States"}]  # fmt: skip
    observations = [
        (1, 6100, "at_least", dt.date(2025, 4, 1), "reported"),
        (1, 6209, "exact", dt.date(2025, 6, 16), "official"),
        (2, None, None, dt.date(2025, 4, 1), "undisclosed"),
        (2, 198000, "approximate", dt.date(2025, 3, 7), "estimate"),
        (2, 198012, "at_least", dt.date(2025, 7, 24), "estimate"),
        (1, 400, "exact", dt.date(2019, 9, 7), "official"),
    ]
    recorded = dt.datetime(2025, 8, 1, tzinfo=dt.UTC)
    with write_connection(engine) as conn:
        conn.execute(DailyPrice.__table__.delete())  # type: ignore[attr-defined]
        conn.execute(Observation.__table__.delete())  # type: ignore[attr-defined]
        conn.execute(Holder.__table__.delete())  # type: ignore[attr-defined]
        conn.execute(DailyPrice.__table__.insert(), daily)  # type: ignore[attr-defined]
        conn.execute(FetchRound.__table__.insert(), rounds)  # type: ignore[attr-defined]
        conn.execute(ConsensusPrice.__table__.insert(), consensus)  # type: ignore[attr-defined]
        conn.execute(Holder.__table__.insert(), holders)  # type: ignore[attr-defined]
        conn.execute(
            Observation.__table__.insert(),  # type: ignore[attr-defined]
            [{"holder_id": h, "sats": None if btc is None else btc * 10**8, "bound": bound,
              "as_of": as_of, "basis": basis, "source": f"seed {n}", "recorded_at": recorded}
             for n, (h, btc, bound, as_of, basis) in enumerate(observations)],
        )  # fmt: skip
    with engine.connect() as conn:
        counts = {
            t: int(conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one())
            for t in ("daily_prices", "consensus_prices", "fetch_rounds", "holding_observations")
        }
    engine.dispose()
    return counts


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=21, help="timed runs of each (odd)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        t0 = time.perf_counter()
        counts = build(path)
        print(f"built {path.name} in {time.perf_counter() - t0:.1f} s: "
              + ", ".join(f"{n:,} {t}" for t, n in counts.items()))  # fmt: skip
        print(f"SQLite {sqlite3.sqlite_version}, SQLAlchemy {sa.__version__}, "
              f"Python {sys.version.split()[0]}")  # fmt: skip

        engine = make_engine(f"sqlite:///{path}")
        raw = sqlite3.connect(path)
        params = {"first": FIRST_DAY.isoformat(), "last": LAST_DAY.isoformat()}

        def ours() -> int:
            with engine.connect() as conn:
                tl = timeline.build_timeline(
                    conn=conn, start=FIRST_DAY, end=LAST_DAY, interval=timeline.Interval.MONTH,
                    today=LAST_DAY + dt.timedelta(days=1),
                )  # fmt: skip
            return len(tl.periods) + len(tl.missing)

        def handwritten() -> int:
            rows = raw.execute(HANDWRITTEN_HISTORY, params).fetchall()
            raw.execute(HANDWRITTEN_SPAN, params).fetchall()
            gaps = raw.execute(HANDWRITTEN_GAPS, params).fetchall()
            return len({r[0] for r in rows}) + len(gaps)

        if ours() != handwritten():
            print("the two disagree on the number of periods and gaps", file=sys.stderr)
            return 2
        with engine.connect() as conn:  # the same rows, checked once
            expected = [(r[0], r[4]) for r in raw.execute(HANDWRITTEN_HISTORY, params).fetchall()]
            tl = timeline.build_timeline(conn=conn, start=FIRST_DAY, end=LAST_DAY,
                                         interval=timeline.Interval.MONTH)  # fmt: skip
        got = [
            (f"{p.start.replace(day=1)}", price_to_units(p.close))
            for p in tl.periods
            for _ in tl.holders
        ]
        if got != expected:
            print("the two disagree on the closes", file=sys.stderr)
            return 2

        timings: dict[str, list[float]] = {"tracker": [], "baseline": []}
        runs: list[tuple[str, Callable[[], int]]] = [("tracker", ours), ("baseline", handwritten)]
        for fn in (ours, handwritten):  # warm both (statement caches, page cache)
            fn()
        for i in range(args.repeat):
            for name, fn in runs if i % 2 == 0 else runs[::-1]:
                start = time.perf_counter()
                fn()
                timings[name].append(time.perf_counter() - start)
        raw.close()
        engine.dispose()

    ours_ms, base_ms = median_ms(timings["tracker"]), median_ms(timings["baseline"])
    ratio = ours_ms / base_ms
    print(f"tracker history --interval month, {YEARS} years ({len(tl.periods)} periods, "
          f"{len(tl.holders)} holders), median of {args.repeat}:")  # fmt: skip
    print(f"  tracker (SQLAlchemy, build_timeline): {ours_ms:7.2f} ms")
    print(f"  hand-written SQL through sqlite3:     {base_ms:7.2f} ms")
    verdict = "ok" if ratio <= TARGET_RATIO else "TOO SLOW"
    print(f"  ratio {ratio:.2f} (target <= {TARGET_RATIO:g}): {verdict}")
    return 0 if ratio <= TARGET_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
