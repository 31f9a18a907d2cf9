"""Daily closes from files: the series bundled in the package and CSV imports (`backfill --csv`),
read with the same rules and inserted in bulk and idempotently."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import gzip
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Connection, Engine

from tracker.clock import GENESIS, utc_today
from tracker.errors import InputError
from tracker.money import price_problem
from tracker.store import queries
from tracker.store.engine import write_connection

BUNDLED_SOURCE = "bundled"
BUNDLED_FILE = "btc_usd_daily.csv.gz"
CSV_COLUMNS = ("date", "open", "high", "low", "close")


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
            if day < GENESIS:
                raise InputError(
                    f"{where}:{line}: date {day} is before bitcoin's first block ({GENESIS})"
                )
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
    return queries.insert_daily_prices(conn=conn, rows=bundled_rows())


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


# --- a CSV file in the bundled format (`tracker backfill --csv`) -------------------------------

_LABEL = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}", re.ASCII)


@dataclass(frozen=True)
class CsvResult:
    path: Path
    source: str
    read: int
    added: int
    skipped_open: int  # rows dated today or later: not a finished day
    skipped_range: int  # rows outside --from/--to


def import_csv(
    *,
    engine: Engine,
    path: Path,
    source: str = "csv",
    start: dt.date | None = None,
    end: dt.date | None = None,
    today: dt.date | None = None,
) -> CsvResult:
    """Load a ``date,open,high,low,close[,volume]`` file, all or nothing, in one transaction."""
    if not _LABEL.fullmatch(source):
        raise InputError(
            f"source label {source!r}: use up to 32 lowercase letters, digits, '-' or '_'"
        )
    today = today or utc_today()
    rows = read_daily_csv(path, source=source)  # a date given twice is refused there
    final = [r for r in rows if r["date"] < today]
    wanted = [
        r
        for r in final
        if (start is None or r["date"] >= start) and (end is None or r["date"] <= end)
    ]
    with write_connection(engine) as conn:
        added = queries.insert_daily_prices(conn=conn, rows=wanted)
    return CsvResult(
        path, source, len(rows), added, len(rows) - len(final), len(final) - len(wanted)
    )
