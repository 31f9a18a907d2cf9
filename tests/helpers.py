"""Small helpers shared by tests (not fixtures)."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path

import tracker

BUNDLED = Path(tracker.__file__).with_name("data") / "btc_usd_daily.csv.gz"
SHARED_CSV = Path(__file__).resolve().parents[2] / "shared" / "data" / "btc_usd_daily.csv"


SHARED_BITSTAMP_CSV = SHARED_CSV.with_name("btc_usd_daily_bitstamp.csv")


def bundled_rows() -> list[dict[str, str]]:
    """The shipped bundled series as written (strings), read straight from the file."""
    text = gzip.decompress(BUNDLED.read_bytes()).decode()
    return list(csv.DictReader(io.StringIO(text)))


def bundled_close(day: str) -> Decimal:
    """The bundled close of a day, read straight from the shipped file (not through tracker)."""
    for row in bundled_rows():
        if row["date"] == day:
            return Decimal(row["close"])
    raise KeyError(day)


def bundled_last_day() -> dt.date:
    """The last day of the shipped bundled series."""
    return dt.date.fromisoformat(bundled_rows()[-1]["date"])


def store_closes(url: str, closes: Mapping[dt.date, Decimal], *, source: str) -> None:
    """Daily closes from ``source`` straight into the database at ``url`` (already created)."""
    from tracker.store import queries
    from tracker.store.engine import make_engine, write_connection

    rows = [
        {"currency": "USD", "date": day, "source": source, "open": None, "high": None,
         "low": None, "close": close}
        for day, close in closes.items()
    ]  # fmt: skip
    engine = make_engine(url)
    try:
        with write_connection(engine) as conn:
            queries.insert_daily_prices(conn=conn, rows=rows)
    finally:
        engine.dispose()


def store_consensus(url: str, at: dt.datetime, price: Decimal) -> None:
    """A round with a consensus at ``at``, as `tracker fetch` would have stored it."""
    from tracker.models import ConsensusPrice, FetchRound
    from tracker.store import queries
    from tracker.store.engine import make_engine, write_session

    engine = make_engine(url)
    try:
        with write_session(engine) as session:
            queries.insert_round(
                session=session,
                fetch_round=FetchRound(started_at=at, finished_at=at, status="ok"),
                quotes=[],
                consensus=ConsensusPrice(round_id=0, at=at, price=price, sources="a,b,c"),
            )
    finally:
        engine.dispose()
