"""Daily price history: the bundled series and CSV imports, inserted in bulk and idempotently."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import gzip
import io
from collections.abc import Iterable, Iterator
from decimal import Decimal, InvalidOperation
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Connection, Engine

from tracker import store
from tracker.errors import InputError
from tracker.models import PRICE_SCALE

BUNDLED_SOURCE = "bundled"
BUNDLED_FILE = "btc_usd_daily.csv.gz"
CSV_COLUMNS = ("date", "open", "high", "low", "close")
# The largest price accepted: far above any BTC price, and 10^18 units of 10^-8 fit a BIGINT
# (up to 9.2 × 10^18). Like config.ConsensusSettings.max_price, a bound on nonsense only.
MAX_PRICE = Decimal(10) ** 10


def price_problem(value: Decimal) -> str | None:
    """Why ``value`` cannot be stored as a price, or None when it can.

    The store keeps a price as a BIGINT count of 10^-8 units (models.ScaledPrice): a price
    must be finite, from PRICE_SCALE to MAX_PRICE, and exact to 8 decimals (finer digits
    would be rounded away without a word).
    """
    if not value.is_finite() or value <= 0:
        return "must be a positive number"
    if value < PRICE_SCALE:
        return f"is below the smallest storable price, {PRICE_SCALE:f}"
    if value > MAX_PRICE:
        return f"is above the largest accepted price, {MAX_PRICE:,f}"
    if value.quantize(PRICE_SCALE) != value:  # exact: at most 19 digits here
        return "has more than 8 decimals (prices are kept to 0.00000001 and it would be rounded)"
    return None


def _price(text: str, *, line: int, column: str, where: str) -> Decimal | None:
    if text == "":
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise InputError(f"{where}:{line}: {column} {text!r:.40} is not a number") from None
    problem = price_problem(value)
    if problem is not None:
        raise InputError(f"{where}:{line}: {column} {text!r:.40} {problem}")
    return value


def parse_daily_csv(
    lines: Iterable[str], *, source: str, where: str, currency: str = "USD"
) -> Iterator[dict[str, Any]]:
    """Rows of ``date,open,high,low,close[,volume]`` as daily_prices rows.

    Errors name the line (as a text editor counts them) and column; a date given twice is an
    error, as there is no telling which of its closes is right.
    """
    reader = csv.DictReader(lines)
    try:
        fieldnames = reader.fieldnames or ()
        missing = [c for c in ("date", "close") if c not in fieldnames]
        if missing:
            raise InputError(
                f"{where}: missing column(s) {', '.join(missing)}; expected {','.join(CSV_COLUMNS)}"
            )
        seen: dict[dt.date, int] = {}
        for row in reader:
            line = reader.line_num  # the row's last line: blank lines and quoted newlines count
            try:
                day = dt.date.fromisoformat(row["date"])
            except (TypeError, ValueError):
                raise InputError(
                    f"{where}:{line}: date {row['date']!r:.40} is not YYYY-MM-DD"
                ) from None
            if day in seen:
                raise InputError(f"{where}:{line}: date {day} is already on line {seen[day]}")
            seen[day] = line
            close = _price(row["close"] or "", line=line, column="close", where=where)
            if close is None:
                raise InputError(f"{where}:{line}: close is empty")
            yield {
                "currency": currency,
                "date": day,
                "source": source,
                "open": _price(row.get("open") or "", line=line, column="open", where=where),
                "high": _price(row.get("high") or "", line=line, column="high", where=where),
                "low": _price(row.get("low") or "", line=line, column="low", where=where),
                "close": close,
            }
    except csv.Error as e:  # e.g. a field over the csv module's size limit
        line = reader.reader.line_num  # DictReader.line_num lags on an error
        raise InputError(f"{where}:{line}: not a readable CSV line ({e})") from None


def bundled_rows() -> list[dict[str, Any]]:
    data = resources.files("tracker.data").joinpath(BUNDLED_FILE).read_bytes()
    text = gzip.decompress(data).decode("utf-8")
    return list(parse_daily_csv(io.StringIO(text), source=BUNDLED_SOURCE, where=BUNDLED_FILE))


def load_bundled(*, conn: Connection) -> int:
    """Insert the bundled daily closes (one executemany); returns the rows added."""
    return store.insert_daily_prices(conn=conn, rows=bundled_rows())


def read_daily_csv(path: Path, *, source: str) -> list[dict[str, Any]]:
    """The rows of a CSV file in the bundled format; InputError names the file and line of
    any problem, so nothing is stored from a bad file."""
    try:
        data = path.read_bytes()
    except OSError as e:
        raise InputError(f"cannot read {path}: {e.strerror}") from None
    bom = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        text = data[bom:].decode("utf-8")
    except UnicodeDecodeError as e:
        at = bom + e.start  # e.start counts from after the BOM
        line = len((data[:at] + b".").splitlines())  # \n, \r\n or \r, as csv counts lines
        raise InputError(
            f"{path}: not UTF-8 text (line {line}: byte 0x{data[at]:02x} at offset {at:,}); "
            "save the file as UTF-8"
        ) from None
    return list(parse_daily_csv(io.StringIO(text, newline=""), source=source, where=str(path)))


CONSENSUS_SOURCE = "consensus"


def store_daily_close(*, engine: Engine, day: dt.date, currency: str = "USD") -> str | None:
    """Make sure ``day`` has a daily close; returns the source that has it, or None.

    A close already stored from an exchange's history (or the bundled file) is kept. Otherwise
    the day's consensus rounds give one: open = first, high = max, low = min, close = last.
    """
    start = dt.datetime.combine(day, dt.time(0), tzinfo=dt.UTC)
    end = start + dt.timedelta(days=1)
    with store.write_connection(engine) as conn:
        existing = store.daily_sources(conn=conn, day=day, currency=currency)
        if existing:
            return sorted(existing, key=store.daily_preference)[0]
        ohlc = store.consensus_ohlc(conn=conn, start=start, end=end, currency=currency)
        if ohlc is None:
            return None
        store.insert_daily_prices(
            conn=conn,
            rows=[{"currency": currency, "date": day, "source": CONSENSUS_SOURCE, **ohlc}],
        )
    return CONSENSUS_SOURCE
