"""`tracker backfill`: parsers on the pinned sample bodies, then pages against the fake exchange."""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
import os
from collections.abc import Callable, Collection, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from typer.testing import Result

from tests.fake_exchange import FakeExchange, daily_bar
from tests.helpers import SHARED_BITSTAMP_CSV, SHARED_CSV, bundled_last_day, bundled_rows
from tracker.config import Settings
from tracker.daily import backfill as bf
from tracker.daily import check
from tracker.errors import InputError, SourceError
from tracker.models import Gap, SQLModel
from tracker.render.daily import backfill_lines
from tracker.render.progress import ProgressBar
from tracker.sources import CANDLES
from tracker.sources.http import decode_json, make_client
from tracker.store import queries
from tracker.store.engine import make_engine, write_connection
from tracker.store.migrate import open_database

PAYLOADS = Path(__file__).parent / "payloads"
DAY = dt.timedelta(days=1)
Run = Callable[..., Result]


@pytest.fixture
def today() -> dt.date:
    """Today (UTC), read once per test and handed to the code under test where it takes one,
    so a run that crosses midnight UTC never mixes two days."""
    return dt.datetime.now(dt.UTC).date()


def payload(name: str) -> Any:
    return decode_json((PAYLOADS / f"{name}.json").read_bytes())


def midnight_ts(day: dt.date) -> int:
    return int(dt.datetime.combine(day, dt.time(0), tzinfo=dt.UTC).timestamp())


def series(
    first: dt.date, last: dt.date, *, skip: Collection[dt.date] = ()
) -> dict[dt.date, Decimal]:
    """Closes for every day of [first, last] but ``skip``: 40000 + the day's ordinal mod 9973."""
    out = {}
    day = first
    while day <= last:
        if day not in skip:
            out[day] = Decimal(40000 + day.toordinal() % 9973) + Decimal("0.25")
        day += DAY
    return out


@pytest.fixture
def engine(db_url: str) -> Any:
    """An empty schema on SQLite and, when configured, PostgreSQL."""
    eng = make_engine(db_url)
    SQLModel.metadata.create_all(eng)
    yield eng
    eng.dispose()


def stored(engine: Any, source: str) -> dict[dt.date, tuple[Decimal, Decimal, Decimal, Decimal]]:
    from tracker.models import DailyPrice

    table = DailyPrice.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(table.c.date, table.c.open, table.c.high, table.c.low, table.c.close).where(
                table.c.source == source
            )
        ).all()
    return {r.date: (r.open, r.high, r.low, r.close) for r in rows}


def expected(closes: Mapping[dt.date, Decimal]) -> dict[dt.date, tuple[Decimal, ...]]:
    return {day: daily_bar(close) for day, close in closes.items()}


def windows_asked(fx: FakeExchange, name: str) -> list[tuple[dt.date, dt.date]]:
    """The [first, last] day of each request, read back from its query string."""
    out = []
    for r in fx.requests(name):
        q = {k: v[0] for k, v in parse_qs(urlsplit(r.target).query).items()}
        if name == "bitstamp":
            first, last = int(q["start"]), int(q["end"])
        elif name == "bitfinex":
            first, last = int(q["start"]) // 1000, int(q["end"]) // 1000
        else:
            raise ValueError(name)
        epoch = dt.date(1970, 1, 1)
        out.append((epoch + dt.timedelta(seconds=first), epoch + dt.timedelta(seconds=last)))
    return out


def run(coro_fn: Callable[[Any], Any]) -> Any:
    async def go() -> Any:
        async with make_client() as client:
            return await coro_fn(client)

    return asyncio.run(go())


def fill(engine: Any, fx: FakeExchange, source: str, **kw: Any) -> bf.BackfillResult:
    kw.setdefault("pause_s", 0)
    kw.setdefault("backoff_s", 0.01)
    return run(  # type: ignore[no-any-return]
        lambda client: bf.backfill(
            client=client, engine=engine, source=source, base_url=fx.base_url(source), **kw
        )
    )


# --- parsers, on the sample bodies ---------------------------------------------------------------


def test_the_hourly_samples_are_refused_as_not_daily() -> None:
    # The pinned samples are 1 h candles: a daily parser must notice, not store them as days.
    with pytest.raises(SourceError, match="not BTC/USD"):
        CANDLES["bitstamp"].parse(payload("bitstamp_ohlc"))
    for name, sample in (
        ("bitfinex", "bitfinex_candles"),
        ("coinbase", "coinbase_exchange_candles"),
    ):
        with pytest.raises(SourceError, match="not a daily candle"):
            CANDLES[name].parse(payload(sample))


def test_bitstamp_columns() -> None:
    body = payload("bitstamp_ohlc")
    body["data"]["pair"] = "BTC/USD"
    body["data"]["ohlc"][0]["timestamp"] = str(midnight_ts(dt.date(2024, 3, 13)))
    (row,) = CANDLES["bitstamp"].parse(body)
    assert row == {
        "currency": "USD", "date": dt.date(2024, 3, 13), "source": "bitstamp",
        "open": Decimal("73241"), "high": Decimal("73293"), "low": Decimal("73240"),
        "close": Decimal("73285"),
    }  # fmt: skip


def test_bitfinex_close_is_index_2() -> None:
    body = payload("bitfinex_candles")  # [MTS, 3870.1, 3890, 3890, 3870.1, 0.05]
    body[0][0] = Decimal(midnight_ts(dt.date(2019, 3, 11)) * 1000)
    (row,) = CANDLES["bitfinex"].parse(body)
    assert row["date"] == dt.date(2019, 3, 11)
    assert (row["open"], row["close"], row["high"], row["low"]) == (
        Decimal("3870.1"), Decimal("3890"), Decimal("3890"), Decimal("3870.1"),
    )  # fmt: skip


def test_coinbase_columns_and_order() -> None:
    body = payload("coinbase_exchange_candles")  # [time, low, high, open, close, volume]
    older = list(body[0])
    body[0][0] = Decimal(midnight_ts(dt.date(2024, 3, 14)))
    older[0] = Decimal(midnight_ts(dt.date(2024, 3, 13)))
    older[4] = Decimal("70000.5")
    rows = CANDLES["coinbase"].parse([body[0], older])  # newest first, as Coinbase sends
    assert [r["date"] for r in rows] == [dt.date(2024, 3, 13), dt.date(2024, 3, 14)]
    assert rows[1]["low"] == Decimal("73241.5") and rows[1]["high"] == Decimal("73402.47")
    assert rows[1]["open"] == Decimal("73243.33") and rows[1]["close"] == Decimal("73370.65")
    assert rows[0]["close"] == Decimal("70000.5")


def test_coinbase_too_many_candles_is_a_clear_error() -> None:
    error = CANDLES["coinbase"].classify(
        400, payload("coinbase_exchange_error_400_too_many_candles")
    )
    assert error is not None and "exceeds 300" in error.reason and not error.retryable


def test_kraken_drops_the_open_candle() -> None:
    body = payload("kraken_ohlc")
    candles = body["result"]["XBTUSDT"]
    for i, candle in enumerate(candles):
        candle[0] = Decimal(midnight_ts(dt.date(2024, 1, 1) + i * DAY))
    rows = CANDLES["kraken"].parse(body)
    assert len(rows) == len(candles) - 1  # the last row is today's, still open
    assert rows[0]["close"] == Decimal("43361.1") and rows[0]["open"] == Decimal("43437.5")
    assert rows[-1]["date"] == dt.date(2024, 1, 1) + (len(candles) - 2) * DAY


def test_bitfinex_rate_limit_waits_its_minute() -> None:
    error = CANDLES["bitfinex"].classify(429, payload("bitfinex_error_ratelimit"))
    assert error is not None and error.outcome == "rate_limited" and error.retry_after_s == 60


# --- planning ------------------------------------------------------------------------------------


def test_windows_cut_each_gap_into_pages() -> None:
    gaps = [
        Gap(dt.date(2024, 1, 1), dt.date(2024, 1, 25)),
        Gap(dt.date(2024, 3, 1), dt.date(2024, 3, 1)),
    ]
    got = bf.windows(gaps, page_days=10)
    assert [(w.first, w.last) for w in got] == [
        (dt.date(2024, 1, 1), dt.date(2024, 1, 10)),
        (dt.date(2024, 1, 11), dt.date(2024, 1, 20)),
        (dt.date(2024, 1, 21), dt.date(2024, 1, 25)),
        (dt.date(2024, 3, 1), dt.date(2024, 3, 1)),
    ]
    assert [(w.first, w.last) for w in bf.windows(gaps, page_days=720, pageable=False)] == [
        (dt.date(2024, 1, 1), dt.date(2024, 3, 1))
    ]


# --- pages against the fake exchange -------------------------------------------------------------


def test_bitstamp_pages_with_an_empty_page_an_overlap_and_a_429(
    engine: Any, fake_exchange: FakeExchange, today: dt.date
) -> None:
    first, last = today - 120 * DAY, today - DAY
    hole = {first + n * DAY for n in range(30, 60)}  # exactly the second page: it comes back empty
    closes = series(first, today, skip=hole)  # today's candle is still open
    fake_exchange.set_daily("bitstamp", closes, overlap_days=3)
    fake_exchange.set_fault("bitstamp", times=2)  # two pages answered normally, then a 429
    fake_exchange.set_fault(
        "bitstamp", status=429, headers={"Retry-After": "1"}, times=1, queue=True
    )

    result = fill(engine, fake_exchange, "bitstamp", today=today, start=first, page_days=30)

    want = {d: c for d, c in closes.items() if d <= last}
    assert stored(engine, "bitstamp") == expected(want)
    asked = windows_asked(fake_exchange, "bitstamp")
    pages = [(first + n * 30 * DAY, min(first + (n * 30 + 29) * DAY, last)) for n in range(4)]
    assert asked == pages[:2] + pages[2:3] + pages[2:]  # the third page twice: 429, then again
    served = [r.served for r in fake_exchange.requests("bitstamp")]
    assert served == ["ok", "ok", "HTTP 429", "ok", "ok"]
    log = fake_exchange.requests("bitstamp")
    assert log[3].at - log[2].at >= 0.95  # Retry-After: 1 was honoured
    assert result.added == len(want) and result.requests == 4
    assert [(g.first, g.last) for g in result.missing_after] == [(min(hole), max(hole))]
    assert "30 day" in "\n".join(backfill_lines(result))


def test_bitfinex_pages_overlap_and_a_429_without_retry_after(
    engine: Any, fake_exchange: FakeExchange, today: dt.date
) -> None:
    first = today - 100 * DAY
    closes = series(first, today)
    fake_exchange.set_daily("bitfinex", closes, overlap_days=5)
    fake_exchange.set_fault("bitfinex", times=1)
    fake_exchange.set_fault("bitfinex", status=429, times=1, queue=True)

    result = fill(engine, fake_exchange, "bitfinex", today=today, start=first, page_days=40)

    want = {d: c for d, c in closes.items() if d < today}  # the open candle is not stored
    assert stored(engine, "bitfinex") == expected(want)
    assert result.added == len(want) and result.requests == 3
    assert [r.served for r in fake_exchange.requests("bitfinex")] == ["ok", "HTTP 429", "ok", "ok"]


def test_a_rerun_adds_nothing_and_asks_nothing(
    engine: Any, fake_exchange: FakeExchange, today: dt.date
) -> None:
    first = today - 50 * DAY
    fake_exchange.set_daily("bitstamp", series(first, today))
    once = fill(engine, fake_exchange, "bitstamp", today=today, start=first, page_days=20)
    before = stored(engine, "bitstamp")
    asked = len(fake_exchange.requests("bitstamp"))
    again = fill(engine, fake_exchange, "bitstamp", today=today, start=first, page_days=20)
    assert once.added == 50 and again.added == 0 and again.requests == 0
    assert len(fake_exchange.requests("bitstamp")) == asked
    assert stored(engine, "bitstamp") == before
    assert "nothing missing" in backfill_lines(again)[0]


def test_an_interrupted_run_resumes_at_its_gap(
    engine: Any, fake_exchange: FakeExchange, today: dt.date
) -> None:
    first = today - 90 * DAY
    closes = series(first, today)
    fake_exchange.set_daily("bitstamp", closes)
    fake_exchange.set_fault("bitstamp", times=2)
    fake_exchange.set_fault("bitstamp", status=503, queue=True)  # down from the third page on

    with pytest.raises(SourceError, match="run it again to resume"):
        fill(engine, fake_exchange, "bitstamp", today=today, start=first, page_days=25, retries=1)
    assert sorted(stored(engine, "bitstamp")) == [first + n * DAY for n in range(50)]

    fake_exchange.clear_faults()
    seen = len(fake_exchange.requests("bitstamp"))
    result = fill(engine, fake_exchange, "bitstamp", today=today, start=first, page_days=25)
    rerun = windows_asked(fake_exchange, "bitstamp")[seen:]
    assert rerun == [(first + 50 * DAY, first + 74 * DAY), (first + 75 * DAY, today - DAY)]
    assert result.added == 40 and result.missing_before == 40
    assert stored(engine, "bitstamp") == expected({d: c for d, c in closes.items() if d < today})


def test_coinbase_asks_at_most_300_days_at_a_time(
    engine: Any, fake_exchange: FakeExchange, today: dt.date
) -> None:
    first = today - 400 * DAY
    closes = series(first, today)
    fake_exchange.set_daily("coinbase", closes)
    result = fill(
        engine, fake_exchange, "coinbase", today=today, start=first
    )  # the fake refuses > 300 (HTTP 400)
    assert result.requests == 2 and result.added == 400
    assert stored(engine, "coinbase") == expected({d: c for d, c in closes.items() if d < today})


def test_kraken_one_request_and_older_days_are_named(
    engine: Any, fake_exchange: FakeExchange, today: dt.date
) -> None:
    closes = series(today - 800 * DAY, today - DAY)
    fake_exchange.set_daily("kraken", closes)
    result = fill(engine, fake_exchange, "kraken", today=today, start=today - 800 * DAY)
    assert result.requests == 1 and len(fake_exchange.requests("kraken")) == 1
    oldest = today - 719 * DAY
    assert sorted(stored(engine, "kraken")) == [oldest + n * DAY for n in range(719)]
    assert result.unreachable == Gap(today - 800 * DAY, oldest - DAY)
    assert "cannot come from it" in "\n".join(backfill_lines(result))


def test_a_page_that_is_not_json_fails_with_the_page_named(
    engine: Any, fake_exchange: FakeExchange, today: dt.date
) -> None:
    fake_exchange.set_daily("bitstamp", series(today - 10 * DAY, today))
    fake_exchange.set_fault("bitstamp", malformed=True)
    with pytest.raises(SourceError, match=r"page .* to .*: body is not JSON"):
        fill(engine, fake_exchange, "bitstamp", today=today, start=today - 10 * DAY)
    assert stored(engine, "bitstamp") == {}


def test_fetch_day_for_the_daily_job(fake_exchange: FakeExchange, today: dt.date) -> None:
    closes = series(today - 5 * DAY, today)
    fake_exchange.set_daily("bitstamp", closes)
    base = fake_exchange.base_url("bitstamp")
    yesterday = today - DAY
    row = run(lambda c: bf.fetch_day(c, yesterday, base_url=base, today=today))
    o, h, low, close = daily_bar(closes[yesterday])
    assert row == {"currency": "USD", "date": yesterday, "source": "bitstamp",
                   "open": o, "high": h, "low": low, "close": close}  # fmt: skip
    assert run(lambda c: bf.fetch_day(c, today - 30 * DAY, base_url=base, today=today)) is None
    asked = len(fake_exchange.requests("bitstamp"))
    assert run(lambda c: bf.fetch_day(c, today, base_url=base, today=today)) is None  # still open
    assert len(fake_exchange.requests("bitstamp")) == asked


def test_plain_http_is_refused_for_other_hosts(engine: Any) -> None:
    from tracker.errors import ConfigError

    with pytest.raises(ConfigError, match="loopback"):
        run(lambda c: bf.backfill(client=c, engine=engine, base_url="http://example.com"))


def test_endpoint_follows_the_spot_host_except_coinbase() -> None:
    settings = Settings()
    assert bf.endpoint(settings, "bitstamp").base_url == settings.sources["bitstamp"].base_url
    assert bf.endpoint(settings, "coinbase").base_url == "https://api.exchange.coinbase.com"
    with pytest.raises(InputError, match="unknown history source"):
        bf.endpoint(settings, "gemini")


# --- the command ---------------------------------------------------------------------------------


@pytest.fixture
def cfg(tmp_path: Path, fake_exchange: FakeExchange, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(fake_exchange.config_toml(timeout_s=2))
    monkeypatch.setenv("TRACKER_CONFIG", str(path))
    return path


def test_backfill_command_is_quiet_in_a_pipe_and_idempotent(
    cfg: Path, fake_exchange: FakeExchange, run_cli: Run, today: dt.date
) -> None:
    first = today - 30 * DAY
    fake_exchange.set_daily("bitstamp", series(first, today))
    done = run_cli("backfill", "--from", first.isoformat(), "--format", "json")
    assert done.exit_code == 0, done.stderr
    assert done.stderr == ""  # no progress bar in a pipe
    data = json.loads(done.stdout)
    assert (data["added"], data["requests"], data["missing_before"]) == (30, 1, 30)
    again = run_cli("backfill", "--from", first.isoformat())
    assert again.exit_code == 0 and "nothing missing" in again.stdout
    assert len(fake_exchange.requests("bitstamp")) == 1


def test_backfill_check_lists_the_days_more_than_1_percent_apart(
    cfg: Path, fake_exchange: FakeExchange, run_cli: Run, today: dt.date
) -> None:
    first = today - 40 * DAY
    closes = series(first, today)
    other = dict(closes)
    far, near = first + 10 * DAY, first + 20 * DAY
    other[far] = closes[far] * Decimal("1.015")  # 1.5 % off: listed
    other[near] = closes[near] * Decimal("0.995")  # 0.5 % off: within the tolerance
    fake_exchange.set_daily("bitstamp", closes)
    fake_exchange.set_daily("bitfinex", other)
    assert run_cli("backfill", "--from", first.isoformat()).exit_code == 0

    done = run_cli(
        "backfill", "--check", "bitfinex", "--from", first.isoformat(), "--format", "json"
    )
    assert done.exit_code == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["reference"] == "bitstamp" and data["overlap_days"] == 40
    assert data["differences"] == [
        {"date": far.isoformat(), "bitfinex": format(other[far], "f"),
         "bitstamp": format(closes[far], "f"), "difference_pct": "+1.50"}
    ]  # fmt: skip
    assert "bitfinex" in done.stderr  # what the fill did goes to stderr
    text = run_cli("backfill", "--check", "bitfinex", "--from", first.isoformat())
    assert "1 differ by more than 1 %" in text.stdout and far.isoformat() in text.stdout


def test_backfill_csv_is_all_or_nothing_and_idempotent(tmp_path: Path, run_cli: Run) -> None:
    good = tmp_path / "mine.csv"
    good.write_text("date,open,high,low,close\n2013-05-01,1,3,1,2.5\n2013-05-02,,,,3\n")
    done = run_cli("backfill", "--csv", str(good), "--source", "mine", "--format", "json")
    assert done.exit_code == 0, done.stderr
    assert json.loads(done.stdout)["added"] == 2
    again = run_cli("backfill", "--csv", str(good), "--source", "mine", "--format", "json")
    assert json.loads(again.stdout)["added"] == 0

    bad = tmp_path / "bad.csv"
    bad.write_text("date,open,high,low,close\n2013-06-01,1,3,1,2.5\n2013-06-02,1,3,1,oops\n")
    failed = run_cli("backfill", "--csv", str(bad), "--source", "mine")
    assert failed.exit_code == 1
    assert failed.stderr.count("\n") == 1 and "oops" in failed.stderr
    eng = sa.create_engine(os.environ["TRACKER_DATABASE_URL"])
    with eng.connect() as conn:
        n = conn.execute(
            sa.text("SELECT count(*) FROM daily_prices WHERE source = 'mine'")
        ).scalar()
    eng.dispose()
    assert n == 2  # the bad file added nothing, not even its good first row


def test_backfill_refuses_bad_input(run_cli: Run, today: dt.date) -> None:
    for args, needle in (
        (("--source", "gemini"), "unknown history source"),
        (("--from", "2024-02-30"), "not a date"),
        (("--from", "2024-03-02", "--to", "2024-03-01"), "after"),
        (("--to", (today + DAY).isoformat()), "future"),
        (("--check", "bitfinex", "--tolerance", "-1"), "positive"),
    ):
        done = run_cli("backfill", *args)
        assert done.exit_code == 1, args
        assert needle in done.stderr and done.stderr.count("\n") == 1, done.stderr


def stored_count(db_url: str, source: str) -> int:
    eng = sa.create_engine(db_url)
    try:
        with eng.connect() as conn:
            n = conn.execute(
                sa.text("SELECT count(*) FROM daily_prices WHERE source = :s"), {"s": source}
            ).scalar()
    finally:
        eng.dispose()
    return int(n or 0)


def test_a_csv_that_is_not_utf8_is_one_line_and_stores_nothing(
    tmp_path: Path, run_cli: Run, db_url: str
) -> None:
    bad = tmp_path / "latin.csv"
    bad.write_bytes(b"date,open,high,low,close\n2024-01-01,1,1,1,7000\n2024-01-02,1,1,1,7000\xff\n")
    failed = run_cli("backfill", "--csv", str(bad), "--source", "t3", db=db_url)
    assert failed.exit_code == 1
    assert failed.stderr == (
        f"tracker: error: {bad}: not UTF-8 text (line 3: byte 0xff at offset 68); "
        "save the file as UTF-8\n"
    )
    # a byte-order mark does not shift the line or the offset named
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + bad.read_bytes())
    failed = run_cli("backfill", "--csv", str(bom), "--source", "t3", db=db_url)
    assert "(line 3: byte 0xff at offset 71)" in failed.stderr, failed.stderr
    assert stored_count(db_url, "t3") == 0


@pytest.mark.parametrize(
    ("cell", "problem"),
    [
        ("close=1e30", "close '1e30' is above the largest accepted price, 10,000,000,000"),
        ("close=100000000000000000", "is above the largest accepted price"),
        ("close=10000000000.00000001", "is above the largest accepted price"),
        ("open=1e400", "open '1e400' is above the largest accepted price"),
        ("close=0.000000001", "close '0.000000001' is below the smallest storable price"),
        ("low=0.000000015", "low '0.000000015' has more than 8 decimals"),
        ("close=7000.123456789", "has more than 8 decimals"),
        ("high=-1", "high '-1' must be a positive number"),
        ("close=NaN", "must be a positive number"),
    ],
)
def test_csv_prices_the_store_cannot_hold_are_refused_with_line_and_column(
    tmp_path: Path, run_cli: Run, db_url: str, cell: str, problem: str
) -> None:
    column, value = cell.split("=")
    bar = {"open": "7000", "high": "7100", "low": "6900", "close": "7050"} | {column: value}
    path = tmp_path / "range.csv"
    path.write_text(
        "date,open,high,low,close\n2024-01-01,1,3,1,2\n\n"  # a blank line still counts
        f"2024-01-02,{bar['open']},{bar['high']},{bar['low']},{bar['close']}\n"
    )
    failed = run_cli("backfill", "--csv", str(path), "--source", "t3", db=db_url)
    assert failed.exit_code == 1
    assert failed.stderr.startswith(f"tracker: error: {path}:4: {column} "), failed.stderr
    assert problem in failed.stderr and failed.stderr.count("\n") == 1, failed.stderr
    assert stored_count(db_url, "t3") == 0


def test_csv_prices_at_the_bounds_are_stored_exactly(
    tmp_path: Path, run_cli: Run, db_url: str
) -> None:
    path = tmp_path / "edges.csv"
    path.write_text(
        "date,open,high,low,close\n"
        "2024-01-01,,,,10000000000\n"  # the largest accepted price
        "2024-01-02,,,,0.00000001\n"  # the smallest storable one
        "2024-01-03,,,,7000.1200000000000\n"  # more decimals, all zero: nothing is rounded
    )
    done = run_cli("backfill", "--csv", str(path), "--source", "t3", "--format", "json", db=db_url)
    assert done.exit_code == 0, done.stderr
    assert json.loads(done.stdout)["added"] == 3
    eng = make_engine(db_url)
    try:
        closes = {day: bar[3] for day, bar in stored(eng, "t3").items()}
    finally:
        eng.dispose()
    assert closes == {
        dt.date(2024, 1, 1): Decimal(10) ** 10,
        dt.date(2024, 1, 2): Decimal("0.00000001"),
        dt.date(2024, 1, 3): Decimal("7000.12"),
    }


def test_a_date_given_twice_in_a_csv_is_refused(tmp_path: Path, run_cli: Run) -> None:
    path = tmp_path / "twice.csv"
    path.write_text("date,close\n2024-01-01,100\n2024-01-02,200\n2024-01-02,201\n")
    failed = run_cli("backfill", "--csv", str(path), "--source", "t3")
    assert failed.exit_code == 1
    assert failed.stderr == (f"tracker: error: {path}:4: date 2024-01-02 is already on line 3\n"), (
        failed.stderr
    )
    assert stored_count(os.environ["TRACKER_DATABASE_URL"], "t3") == 0


def test_a_csv_field_too_large_for_the_csv_module_is_one_line(tmp_path: Path, run_cli: Run) -> None:
    path = tmp_path / "huge.csv"
    path.write_text('date,close\n2024-01-01,100\n2024-01-02,"' + "1" * 200_000 + '"\n')
    failed = run_cli("backfill", "--csv", str(path), "--source", "t3")
    assert failed.exit_code == 1 and failed.stderr.count("\n") == 1
    assert f"{path}:3: not a readable CSV line" in failed.stderr, failed.stderr


@pytest.mark.parametrize(
    ("name", "close", "problem"),
    [
        ("bitstamp", Decimal("50000000000"), "is above the largest accepted price"),
        ("bitstamp", Decimal("0.123456789"), "has more than 8 decimals"),
        ("bitfinex", Decimal("50000000000"), "is above the largest accepted price"),
        ("coinbase", Decimal("7000.000000001"), "has more than 8 decimals"),
        ("kraken", Decimal("10000000000.01"), "is above the largest accepted price"),
    ],
)
def test_an_exchange_page_with_prices_out_of_range_is_invalid_and_stores_nothing(
    engine: Any,
    fake_exchange: FakeExchange,
    name: str,
    close: Decimal,
    problem: str,
    today: dt.date,
) -> None:
    closes = series(today - 5 * DAY, today - DAY)
    closes[today - 3 * DAY] = close
    fake_exchange.set_daily(name, closes)
    with pytest.raises(SourceError, match=problem) as caught:
        fill(engine, fake_exchange, name, today=today, start=today - 5 * DAY)
    assert caught.value.outcome == "invalid" and caught.value.reason.startswith("page ")
    assert stored(engine, name) == {}


@pytest.mark.parametrize(
    ("close", "problem"),
    [
        ("1e30", "1e30 is above the largest accepted price"),
        ("0.000000001", "is below the smallest storable price"),  # would be stored as 0
        ("0.000000015", "close 0.000000015 has more than 8 decimals"),
        ("10000000000.5", "close 10000000000.5 is above the largest accepted price"),
        ("0", "not a positive price"),
    ],
)
def test_candle_prices_have_the_bounds_of_a_csv_import(close: str, problem: str) -> None:
    candle = {"timestamp": str(midnight_ts(dt.date(2024, 3, 13))), "open": "70000"}
    candle |= {"high": "71000", "low": "69000", "close": close}
    body = {"data": {"pair": "BTC/USD", "ohlc": [candle]}}
    with pytest.raises(SourceError, match=problem) as caught:
        CANDLES["bitstamp"].parse(body)
    assert caught.value.outcome == "invalid" and "data.ohlc[0] close" in caught.value.reason
    numbers = [[Decimal(midnight_ts(dt.date(2019, 3, 11)) * 1000), Decimal("1E+400"), 1, 1, 1, 1]]
    with pytest.raises(SourceError, match=r"\[0\] open 1E\+400 is above the largest accepted price"):
        CANDLES["bitfinex"].parse(numbers)


def test_the_progress_bar_shows_markup_like_text_as_it_is() -> None:
    reason = "HTTP 400: bad [/] [via X] [bold]"  # a server's message, shown in the bar
    bar = ProgressBar("bitstamp", enabled=True)
    with bar.running():
        bar.plan(10, 2)
        bar.wait(1.0, SourceError(source="bitstamp", reason=reason))
        progress = bar._progress
        progress.refresh()  # draws: markup would fail on "[/]"
        shown = progress.columns[0].render(progress.tasks[0])
    assert shown.plain == f"bitstamp: {reason}, waiting 1 s"


def drawn(bar: ProgressBar) -> str:
    """What the bar shows on a terminal, drawn on a string console 120 columns wide."""
    from rich.console import Console

    console = Console(file=io.StringIO(), width=120, color_system=None)
    console.print(bar._progress.get_renderable())
    return console.file.getvalue()  # type: ignore[attr-defined,no-any-return]


def test_the_progress_bar_shows_the_page_reached_and_the_days_done(today: dt.date) -> None:
    bar = ProgressBar("bitstamp", enabled=True)
    with bar.running():
        bar.plan(10, 2)
        assert "bitstamp: 2 request(s)" in drawn(bar) and "0/10 days" in drawn(bar)
        last = today - 6 * DAY
        bar.page(bf.Page(Gap(today - 10 * DAY, last), days=5, received=5, added=1234))
        assert f"bitstamp: {last}, 1,234 added" in drawn(bar) and "5/10 days" in drawn(bar)
        bar.wait(1.0, SourceError(source="bitstamp", reason="HTTP 429"))
        assert "bitstamp: HTTP 429, waiting 1 s" in drawn(bar) and "5/10 days" in drawn(bar)
    assert bar._progress is None  # the bar is gone once the run ends
    silent = ProgressBar("bitstamp", enabled=False)
    with silent.running():
        silent.plan(10, 2)
        assert silent._progress is None  # not a terminal: nothing is drawn


def test_a_migrated_database_with_bundled_history_takes_a_backfill(
    tmp_path: Path, fake_exchange: FakeExchange, today: dt.date
) -> None:
    opened = open_database(f"sqlite:///{tmp_path / 'n.db'}", settings=Settings())
    fake_exchange.set_daily("bitstamp", series(today - 5 * DAY, today))
    try:
        result = fill(opened.engine, fake_exchange, "bitstamp", today=today, start=today - 5 * DAY)
        assert result.added == 5
        with opened.engine.connect() as conn:
            whole = queries.daily_gaps(conn=conn, start=dt.date(2014, 3, 1), end=bundled_last_day())
        assert whole == []  # the bundled series has every day
    finally:
        opened.engine.dispose()


def test_todays_candle_is_never_stored_even_when_served(
    engine: Any, fake_exchange: FakeExchange, today: dt.date
) -> None:
    closes = series(today - 3 * DAY, today)
    candles = [
        {"timestamp": str(midnight_ts(d)), "open": "1", "high": "2", "low": "1", "close": str(c)}
        for d, c in closes.items()
    ]
    body = {"data": {"pair": "BTC/USD", "ohlc": candles}}  # as if exclude_current_candle failed
    fake_exchange.set_fault("bitstamp", body=json.dumps(body))
    result = fill(engine, fake_exchange, "bitstamp", today=today, start=today - 3 * DAY)
    assert sorted(stored(engine, "bitstamp")) == [today - 3 * DAY, today - 2 * DAY, today - DAY]
    assert result.added == 3


# --- the bundled series ------------------------------------------------------------------------


def test_the_bundled_series_is_a_reproducible_gzip_of_every_day() -> None:
    from tests.helpers import BUNDLED

    data = BUNDLED.read_bytes()
    assert data[4:8] == b"\0\0\0\0"  # mtime 0: rebuilding from the same rows gives the same bytes
    rows = bundled_rows()
    days = [dt.date.fromisoformat(r["date"]) for r in rows]
    assert days == [days[0] + n * DAY for n in range(len(days))]  # every day, once, in order
    assert (days[0], days[-1]) == (dt.date(2014, 3, 1), dt.date(2026, 8, 21))
    assert list(rows[0]) == ["date", "open", "high", "low", "close"]


@pytest.mark.skipif(not SHARED_BITSTAMP_CSV.exists(), reason="../shared/data is not here")
def test_the_bundled_series_is_cryptocompare_then_bitstamp_as_written() -> None:
    import csv

    def read(path: Path) -> dict[str, dict[str, str]]:
        with path.open(newline="") as f:
            return {r["date"]: r for r in csv.DictReader(f)}

    main, bitstamp = read(SHARED_CSV), read(SHARED_BITSTAMP_CSV)
    switch = max(main)  # 2026-01-13: the main series' last day
    for row in bundled_rows():
        source = main if row["date"] <= switch else bitstamp
        want = source[row["date"]]
        assert row == {k: want[k] for k in ("date", "open", "high", "low", "close")}, row
    assert bundled_rows()[-1]["date"] == max(bitstamp)


def test_check_compares_an_imported_series_without_fetching(
    tmp_path: Path, run_cli: Run, fake_exchange: FakeExchange
) -> None:
    from tests.helpers import bundled_close

    days = ("2025-04-12", "2025-04-13", "2025-04-14")
    closes = {d: bundled_close(d) for d in days}
    closes["2025-04-13"] = (closes["2025-04-13"] * Decimal("0.98")).quantize(Decimal("0.01"))
    path = tmp_path / "other.csv"
    path.write_text("date,close\n" + "".join(f"{d},{c}\n" for d, c in closes.items()))
    assert run_cli("backfill", "--csv", str(path), "--source", "other").exit_code == 0

    done = run_cli("backfill", "--check", "other", "--format", "csv")
    assert done.exit_code == 0, done.stderr
    pct = (closes["2025-04-13"] - bundled_close("2025-04-13")) / bundled_close("2025-04-13") * 100
    assert done.stdout.splitlines() == [
        "date,other,bundled,difference_pct",
        f"2025-04-13,{closes['2025-04-13']},{bundled_close('2025-04-13')},{pct:+.2f}",
    ]
    assert fake_exchange.requests("bitstamp") == []  # nothing was fetched
    missing = run_cli("backfill", "--check", "nothing-here")
    assert (
        missing.exit_code == 1
        and "no daily closes are stored from 'nothing-here'" in missing.stderr
    )


def test_compare_reads_both_series_from_the_store(engine: Any) -> None:
    days = [dt.date(2024, 5, d) for d in range(1, 6)]
    ref = {d: Decimal(60000 + 100 * n) for n, d in enumerate(days)}
    mine = dict(ref)
    mine[days[1]] = ref[days[1]] * Decimal("1.0101")  # 1.01 %: over
    mine[days[2]] = ref[days[2]] * Decimal("0.99")  # exactly 1 %: not over
    del mine[days[4]]  # not in common
    rows = [
        {"currency": "USD", "date": d, "source": src, "close": c}
        for src, series_ in (("bitstamp", ref), ("mine", mine))
        for d, c in series_.items()
    ]
    with write_connection(engine) as conn:
        queries.insert_daily_prices(conn=conn, rows=rows)
    with engine.connect() as conn:
        assert check.default_reference(conn=conn, source="mine") == "bitstamp"
        result = check.compare(conn=conn, source="mine", reference="bitstamp")
        with pytest.raises(InputError, match="no daily closes are stored from 'kraken'"):
            check.compare(conn=conn, source="mine", reference="kraken")
    assert (result.overlap, result.first, result.last) == (4, days[0], days[3])
    assert [(d.day, d.close, d.reference_close) for d in result.differences] == [
        (days[1], mine[days[1]], ref[days[1]])
    ]
    assert result.differences[0].pct == Decimal("1.01")


# --- second review: planning -----------------------------------------------------------------


def test_windows_merge_gaps_that_fit_one_page() -> None:
    d = dt.date(2025, 1, 1)
    gaps = [Gap(d + i * 7 * DAY, d + i * 7 * DAY) for i in range(86)]  # a hole a week
    plan = bf.windows(gaps, page_days=300)
    assert len(plan) == 2  # 86 one-day holes over 596 days: two pages of 300, not 86 requests
    assert plan[0].first == gaps[0].first
    # every hole is covered, no window is wider than a page
    for g in gaps:
        assert any(w.first <= g.first <= w.last for w in plan)
    assert all((w.last - w.first).days + 1 <= 300 for w in plan)
    # a long gap is still cut into pages
    long_gap = [Gap(d, d + 999 * DAY)]
    assert [(w.last - w.first).days + 1 for w in bf.windows(long_gap, page_days=300)] == [
        300,
        300,
        300,
        100,
    ]


def test_a_rerun_over_an_exchanges_holes_asks_few_pages(
    engine: Any, fake_exchange: FakeExchange, today: dt.date
) -> None:
    first = today - 600 * DAY
    holes = {first + i * DAY for i in range(0, 600, 7)}
    fake_exchange.set_daily("bitstamp", series(first, today - DAY, skip=holes))
    one = fill(engine, fake_exchange, "bitstamp", today=today, start=first, page_days=300)
    asked_first = len(fake_exchange.requests("bitstamp"))
    two = fill(engine, fake_exchange, "bitstamp", today=today, start=first, page_days=300)
    asked_again = len(fake_exchange.requests("bitstamp")) - asked_first
    assert one.added == 600 - len(holes) and two.added == 0
    assert asked_again <= 3, asked_again  # not one request per hole (86)


def test_from_before_a_sources_first_day_is_clipped_not_requested(
    engine: Any, fake_exchange: FakeExchange
) -> None:
    spec = bf.daily_source("bitstamp")
    assert spec.first_day is not None
    fake_exchange.set_daily("bitstamp", series(spec.first_day, spec.first_day + 9 * DAY))
    result = fill(engine, fake_exchange, "bitstamp", start=dt.date(2009, 1, 3),
                  end=spec.first_day + 9 * DAY)  # fmt: skip
    assert result.unreachable == Gap(dt.date(2009, 1, 3), spec.first_day - DAY)
    assert result.start == spec.first_day and result.added == 10
    assert all(first >= spec.first_day for first, _ in windows_asked(fake_exchange, "bitstamp"))
    assert "no daily candles before" in "\n".join(backfill_lines(result))


def test_a_range_wholly_before_a_source_says_so(engine: Any, fake_exchange: FakeExchange) -> None:
    result = fill(engine, fake_exchange, "coinbase", end=dt.date(2014, 1, 1))
    assert fake_exchange.requests("coinbase") == []
    text = "\n".join(backfill_lines(result))
    assert "its daily candles start 2015-07-20, after 2014-01-01" in text


def test_check_against_itself_is_refused(run_cli: Callable[..., Result]) -> None:
    result = run_cli("backfill", "--check", "bundled", "--against", "bundled")
    assert result.exit_code == 1 and "two different series" in result.stderr
