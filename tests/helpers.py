"""Small helpers shared by tests (not fixtures)."""

from __future__ import annotations

import csv
import gzip
import io
from decimal import Decimal
from pathlib import Path

import tracker

BUNDLED = Path(tracker.__file__).with_name("data") / "btc_usd_daily.csv.gz"
SHARED_CSV = Path(__file__).resolve().parents[2] / "shared" / "data" / "btc_usd_daily.csv"


def bundled_close(day: str) -> Decimal:
    """The bundled close of a day, read straight from the shipped file (not through tracker)."""
    text = gzip.decompress(BUNDLED.read_bytes()).decode()
    for row in csv.DictReader(io.StringIO(text)):
        if row["date"] == day:
            return Decimal(row["close"])
    raise KeyError(day)
