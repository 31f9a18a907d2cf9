"""What users type (tracker/inputs.py), and dates before bitcoin's first block refused at every
door: `holdings add`, `backfill --csv`, `backfill --from`, `history --from`."""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import Result

from tests.fake_exchange import FakeExchange
from tracker.clock import end_of_day
from tracker.errors import InputError
from tracker.inputs import (
    check_day,
    check_text,
    optional_date,
    parse_at,
    parse_btc,
    parse_date,
    parse_number,
)

Run = Callable[..., Result]
DAY = dt.timedelta(days=1)
FIRST_BLOCK = dt.date(2009, 1, 3)  # bitcoin's genesis block
NOW = dt.datetime(2026, 11, 26, 14, 30, 5, tzinfo=dt.UTC)
ADD = ("holdings", "add", "el-salvador", "--btc", "1", "--basis", "official", "--source", "s")

# --- BTC amounts ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "sats"),
    [
        ("6100", 6100 * 10**8),
        ("6,100.5", 610_050_000_000),
        (" 6_100 ", 6100 * 10**8),
        ("0", 0),  # a holder that has divested
        ("0.00000001", 1),
        ("21,000,000", 21_000_000 * 10**8),
        ("1.10000000000", 110_000_000),  # trailing zeros are not decimals
    ],
)
def test_parse_btc_gives_exact_satoshis(text: str, sats: int) -> None:
    assert parse_btc(text) == sats


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("-1", "is negative"),
        ("21000000.00000001", "more than the 21,000,000 BTC"),
        ("1.123456789", "more than 8 decimals"),
        ("6,5", "use a dot for decimals"),  # never read as 65
        ("12,34,567", "use a dot for decimals"),
        ("lots", "is not a number"),
        ("", "is not a number"),
        ("NaN", "is not a finite number"),
        ("Infinity", "is not a finite number"),
    ],
)
def test_parse_btc_refuses_what_is_not_an_amount(text: str, needle: str) -> None:
    with pytest.raises(InputError, match=needle) as caught:
        parse_btc(text)
    assert repr(text) in str(caught.value)  # names what was typed


# --- numbers -------------------------------------------------------------------------------------


def test_parse_number_reads_what_people_type() -> None:
    assert parse_number("$100,000.5", what="--what-if", example="1") == Decimal("100000.5")
    assert parse_number("1 %", what="tolerance", example="1") == Decimal(1)
    assert parse_number("0", what="x", example="1", positive=False) == 0
    limit = Decimal(10) ** 12
    assert parse_number("1000000000000", what="x", example="1", maximum=limit) == limit


@pytest.mark.parametrize(
    ("text", "kwargs", "needle"),
    [
        ("0", {}, "must be a positive number"),
        ("-3", {}, "must be a positive number"),
        ("-3", {"positive": False}, "must be a finite number of at least 0"),
        ("1000000000000.01", {"maximum": Decimal(10) ** 12}, "is more than 1,000,000,000,000"),
        ("1.005", {"places": 2}, "has more than 2 decimals"),
        ("84,57", {}, "use a dot for decimals"),
        ("1e400x", {}, "is not a number"),
        ("-inf", {"positive": False}, "is not a finite number"),
    ],
)
def test_parse_number_refuses_with_the_option_named(
    text: str, kwargs: dict[str, object], needle: str
) -> None:
    with pytest.raises(InputError, match=needle) as caught:
        parse_number(text, what="--what-if", example="100000", **kwargs)  # type: ignore[arg-type]
    assert str(caught.value).startswith(f"--what-if {text!r}")


# --- dates and instants --------------------------------------------------------------------------


def test_parse_at_a_date_is_the_end_of_that_day_and_today_is_now() -> None:
    assert parse_at("2025-04-14", current=NOW) == end_of_day(dt.date(2025, 4, 14))
    assert parse_at("20250414", current=NOW) == end_of_day(dt.date(2025, 4, 14))
    assert parse_at(" 2026-11-26 ", current=NOW) == NOW  # today: now, not a second in the future
    assert parse_at("2009-01-03", current=NOW) == end_of_day(FIRST_BLOCK)


def test_parse_at_a_datetime_is_utc_unless_it_says_otherwise() -> None:
    assert parse_at("2025-04-14T12:00", current=NOW) == dt.datetime(2025, 4, 14, 12, tzinfo=dt.UTC)
    assert parse_at("2025-04-14T12:00:00+02:00", current=NOW) == dt.datetime(
        2025, 4, 14, 10, tzinfo=dt.UTC
    )
    assert parse_at("2025-04-14T12:00:00Z", current=NOW).tzinfo is dt.UTC


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("yesterday", "is not a date or datetime"),
        ("2025-02-30", "is not a date or datetime"),
        ("2026-11-27", "is in the future (now is 2026-11-26T14:30:05Z)"),
        ("2026-11-26T14:30:06Z", "is in the future"),
        ("2009-01-02", "is before bitcoin's first block (2009-01-03)"),
        ("2009-01-02T23:59:59Z", "is before bitcoin's first block"),
        ("0001-01-01", "is before bitcoin's first block"),
        ("0001-01-01T00:00:00+01:00", "is out of range"),
    ],
)
def test_parse_at_refuses(text: str, needle: str) -> None:
    with pytest.raises(InputError, match=re.escape(needle)) as c:
        parse_at(text, current=NOW)
    assert str(c.value).startswith(f"--at {text.strip()}") or f"--at {text!r}" in str(c.value)


def test_days_run_from_bitcoins_first_block_to_today() -> None:
    today = NOW.date()
    assert check_day(FIRST_BLOCK, today=today) == FIRST_BLOCK
    assert check_day(today, today=today) == today
    assert parse_date("2009-01-03", today=today) == FIRST_BLOCK
    assert optional_date(None, what="--from", today=today) is None
    with pytest.raises(InputError, match=r"--from 2009-01-02 is before bitcoin's first block"):
        optional_date("2009-01-02", what="--from", today=today)
    with pytest.raises(InputError, match=r"--to 2026-11-27 is in the future \(today is 2026-11-26"):
        parse_date("2026-11-27", what="--to", today=today)
    with pytest.raises(InputError, match="is not a date: use YYYY-MM-DD"):
        parse_date("2025-13-01", today=today)


# --- free text -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Reuters \x1b[2J", "U+001B"),  # ESC: would clear a terminal
        ("a\x9bb", "U+009B"),  # CSI, the one-byte C1 form of ESC [
        ("a\x85b", "U+0085"),  # NEL, a C1 line break
        ("bell\x07", "U+0007"),
        ("del\x7f", "U+007F"),
        ("two\nlines", "U+000A"),
        ("tab\there", "U+0009"),
    ],
)
def test_check_text_refuses_control_characters(text: str, code: str) -> None:
    needle = f"--source contains the control character {code}: remove it"
    with pytest.raises(InputError, match=re.escape(needle)):
        check_text(text, what="--source")


def test_check_text_keeps_printable_text_and_line_breaks_where_asked() -> None:
    text = "Bitcoin Office — “6,209 BTC”, 2025 [bold] ₿"
    assert check_text(text, what="--source") == text
    assert check_text("line one\nline two\ttab", what="--note", multiline=True).count("\n") == 1
    with pytest.raises(InputError, match=re.escape("U+001B")):
        check_text("line\n\x1b[31mred", what="--note", multiline=True)
    with pytest.raises(InputError, match=re.escape("U+009B")):
        check_text("line\n\x9b31m", what="--note", multiline=True)


# --- dates before bitcoin's first block, at each command -----------------------------------------


def one_error_line(result: Result) -> str:
    assert result.exit_code == 1, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def count(table: str, where: str = "1 = 1") -> int:
    engine = sa.create_engine(os.environ["TRACKER_DATABASE_URL"])
    try:
        with engine.connect() as conn:
            query = sa.text(f"SELECT count(*) FROM {table} WHERE {where}")
            return int(conn.execute(query).scalar_one())
    finally:
        engine.dispose()


@pytest.fixture
def db(run_cli: Run) -> None:
    """A database with the bundled history and seeds, so 'nothing stored' can be counted."""
    assert run_cli("db", "upgrade").exit_code == 0


@pytest.fixture
def exchange_cfg(
    tmp_path: Path, fake_exchange: FakeExchange, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every exchange at the loopback fake: a refused command must not ask it anything."""
    path = tmp_path / "config.toml"
    path.write_text(fake_exchange.config_toml(timeout_s=2))
    monkeypatch.setenv("TRACKER_CONFIG", str(path))


@pytest.mark.usefixtures("db")
def test_holdings_add_refuses_an_as_of_before_the_first_block(run_cli: Run) -> None:
    before = count("holding_observations")
    line = one_error_line(run_cli(*ADD, "--as-of", "0001-01-01"))
    assert line == (
        "tracker: error: --as-of 0001-01-01 is before bitcoin's first block (2009-01-03)"
    )
    assert count("holding_observations") == before
    added = run_cli(*ADD, "--as-of", "2009-01-03")
    assert added.exit_code == 0, added.stderr
    assert count("holding_observations", "as_of = '2009-01-03'") == 1


@pytest.mark.usefixtures("db")
def test_a_csv_row_dated_before_the_first_block_is_refused_with_its_line(
    run_cli: Run, tmp_path: Path
) -> None:
    bad = tmp_path / "old.csv"
    bad.write_text("date,close\n2009-01-03,1\n2008-12-31,1\n")
    line = one_error_line(run_cli("backfill", "--csv", str(bad), "--source", "old"))
    assert line == (
        f"tracker: error: {bad}:3: date 2008-12-31 is before bitcoin's first block (2009-01-03)"
    )
    assert count("daily_prices", "source = 'old'") == 0  # not even the good first row
    good = tmp_path / "first.csv"
    good.write_text("date,close\n2009-01-03,1\n")
    done = run_cli("backfill", "--csv", str(good), "--source", "old")
    assert done.exit_code == 0, done.stderr
    assert count("daily_prices", "source = 'old' AND date = '2009-01-03'") == 1


@pytest.mark.usefixtures("db", "exchange_cfg")
def test_backfill_from_before_the_first_block_is_refused(
    run_cli: Run, fake_exchange: FakeExchange
) -> None:
    first = dt.date(2011, 9, 13)  # Bitstamp's first daily candle
    fake_exchange.set_daily("bitstamp", {first + n * DAY: Decimal("5.25") + n for n in range(10)})
    before = count("daily_prices")
    line = one_error_line(run_cli("backfill", "--from", "0001-01-01"))
    assert line == "tracker: error: --from 0001-01-01 is before bitcoin's first block (2009-01-03)"
    assert count("daily_prices") == before and fake_exchange.requests("bitstamp") == []
    done = run_cli("backfill", "--from", "2009-01-03", "--to", (first + 9 * DAY).isoformat())
    assert done.exit_code == 0, done.stderr
    assert count("daily_prices", "source = 'bitstamp'") == 10


@pytest.mark.usefixtures("db")
def test_history_from_before_the_first_block_is_refused(run_cli: Run) -> None:
    line = one_error_line(run_cli("history", "--from", "0001-01-01", "--format", "csv"))
    assert line == "tracker: error: --from 0001-01-01 is before bitcoin's first block (2009-01-03)"
    done = run_cli("history", "--from", "2009-01-03", "--to", "2014-03-31", "-f", "csv")
    assert done.exit_code == 0, done.stderr
    assert done.stdout.splitlines()[1].startswith("2014-03")  # the first month with a close
