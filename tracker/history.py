"""Daily price history: the bundled series and CSV imports, inserted in bulk and idempotently."""

from __future__ import annotations

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

BUNDLED_SOURCE = "bundled"
BUNDLED_FILE = "btc_usd_daily.csv.gz"
CSV_COLUMNS = ("date", "open", "high", "low", "close")


def _price(text: str, *, line: int, column: str, where: str) -> Decimal | None:
    if text == "":
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise InputError(f"{where}:{line}: {column} {text!r} is not a number") from None
    if not value.is_finite() or value <= 0:
        raise InputError(f"{where}:{line}: {column} {text!r} must be a positive number")
    return value


def parse_daily_csv(
    lines: Iterable[str], *, source: str, where: str, currency: str = "USD"
) -> Iterator[dict[str, Any]]:
    """Rows of ``date,open,high,low,close[,volume]`` as daily_prices rows."""
    reader = csv.DictReader(lines)
    missing = [c for c in ("date", "close") if c not in (reader.fieldnames or ())]
    if missing:
        raise InputError(
            f"{where}: missing column(s) {', '.join(missing)}; expected {','.join(CSV_COLUMNS)}"
        )
    for line, row in enumerate(reader, start=2):
        try:
            day = dt.date.fromisoformat(row["date"])
        except (TypeError, ValueError):
            raise InputError(f"{where}:{line}: date {row['date']!r} is not YYYY-MM-DD") from None
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


def bundled_rows() -> list[dict[str, Any]]:
    data = resources.files("tracker.data").joinpath(BUNDLED_FILE).read_bytes()
    text = gzip.decompress(data).decode("utf-8")
    return list(parse_daily_csv(io.StringIO(text), source=BUNDLED_SOURCE, where=BUNDLED_FILE))


def load_bundled(*, conn: Connection) -> int:
    """Insert the bundled daily closes (one executemany); returns the rows added."""
    return store.insert_daily_prices(conn=conn, rows=bundled_rows())


def import_csv(*, conn: Connection, path: Path, source: str) -> int:
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            rows = list(parse_daily_csv(f, source=source, where=str(path)))
    except OSError as e:
        raise InputError(f"cannot read {path}: {e.strerror}") from None
    return store.insert_daily_prices(conn=conn, rows=rows)


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
