"""`tracker backfill --check`: the days two daily series disagree by more than a tolerance."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy.engine import Connection

from tracker.daily import DAILY_SOURCE_PREFERENCE
from tracker.errors import InputError
from tracker.store import queries

PCT_QUANTUM = Decimal("0.01")


@dataclass(frozen=True)
class Difference:
    day: dt.date
    close: Decimal
    reference_close: Decimal

    @property
    def pct(self) -> Decimal:
        """(close − reference) ÷ reference, in percent (exact)."""
        return (self.close - self.reference_close) / self.reference_close * 100


@dataclass(frozen=True)
class CheckResult:
    source: str
    reference: str
    overlap: int  # days both series have
    first: dt.date | None
    last: dt.date | None
    tolerance_pct: Decimal
    differences: tuple[Difference, ...]  # the days further apart than the tolerance


def default_reference(*, conn: Connection, source: str) -> str:
    """The series to check ``source`` against: the most preferred other one that is stored."""
    for name in DAILY_SOURCE_PREFERENCE:
        if name != source and queries.count_daily_prices(conn=conn, source=name):
            return name
    raise InputError(f"no other daily series is stored to check {source} against")


def compare(
    *,
    conn: Connection,
    source: str,
    reference: str,
    start: dt.date | None = None,
    end: dt.date | None = None,
    tolerance_pct: Decimal = Decimal(1),
) -> CheckResult:
    """The days on which ``source``'s close is more than ``tolerance_pct`` % off
    ``reference``'s. Daily series describe different instants and differ by up to ~0.6 % on
    volatile days (SOURCES.md), hence the default 1 %."""
    for name in (source, reference):
        if not queries.count_daily_prices(conn=conn, source=name):
            raise InputError(
                f"no daily closes are stored from {name!r}: fetch them with --source "
                "or import them with --csv"
            )
    pairs = queries.daily_close_pairs(
        conn=conn, source=source, reference=reference, start=start, end=end
    )
    diffs = [Difference(day, a, b) for day, a, b in pairs]
    return CheckResult(
        source=source,
        reference=reference,
        overlap=len(pairs),
        first=pairs[0][0] if pairs else None,
        last=pairs[-1][0] if pairs else None,
        tolerance_pct=tolerance_pct,
        differences=tuple(d for d in diffs if abs(d.pct) > tolerance_pct),
    )
