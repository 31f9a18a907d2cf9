"""The `tracker history` query: per day, week or month, the close and each holder's holding and
its value.

One SQL query does the aggregation (window functions, on SQLite and PostgreSQL alike): a period's
close is the close of its last day with a daily price, sources preferred in the order of
``DAILY_SOURCE_PREFERENCE``; a holder's holding is the claim ``valuation.claim_at`` would
pick on the period's last day. Python only multiplies the rows it gets back (one per period and
holder), exactly, rounding values half-even to cents.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tracker.clock import DAY, utc_today
from tracker.daily import DAILY_SOURCE_PREFERENCE
from tracker.daily.bundled import BUNDLED_SOURCE
from tracker.errors import InputError
from tracker.models import Basis, Bound, DailyPrice, Gap, Holder, HolderInfo, Observation
from tracker.money import sats_to_btc, value_of
from tracker.store import queries


class Interval(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


@dataclass(frozen=True)
class Holding:
    """A holder's claim at a period's end and its value at the period's close."""

    slug: str
    sats: int | None  # None: no disclosed amount on or before the period's end
    bound: Bound | None
    basis: Basis | None
    as_of: dt.date | None
    observation_id: int | None
    value: Decimal | None

    @property
    def btc(self) -> Decimal | None:
        return None if self.sats is None else sats_to_btc(self.sats)


@dataclass(frozen=True)
class Period:
    label: str  # 2025-04-14, 2025-W16 or 2025-04
    start: dt.date  # first day, clipped to the range asked for
    end: dt.date  # last day, clipped likewise; holdings are as of this day
    close_date: dt.date
    close_source: str
    close: Decimal
    holdings: tuple[Holding, ...]


@dataclass(frozen=True)
class Timeline:
    interval: Interval
    start: dt.date
    end: dt.date
    holders: tuple[HolderInfo, ...]
    periods: tuple[Period, ...]
    missing: tuple[Gap, ...]  # days without a daily close in [start, end] (up to yesterday)
    currency: str = "USD"
    bundled_ends: dt.date | None = None  # the bundled series' last day, when a period uses it


# --- missing days ---------------------------------------------------------------------------


def missing_days(
    *,
    conn: Connection,
    start: dt.date | None = None,
    end: dt.date | None = None,
    source: str | None = None,
    currency: str = "USD",
    today: dt.date | None = None,
) -> list[Gap]:
    """The runs of days without a daily close, oldest first (e.g. for `tracker status`).

    ``start`` defaults to the oldest stored close, ``end`` to yesterday (UTC): a day has no
    close until it is over, so today is never missing. With nothing stored there are no gaps
    to name (the caller says the series is empty). With ``source``, only its closes count.
    """
    yesterday = (today or utc_today()) - DAY
    end = yesterday if end is None else min(end, yesterday)
    if start is None:
        start, _ = queries.daily_span(conn=conn, source=source, currency=currency)
        if start is None:
            return []
    ranges = queries.daily_gaps(conn=conn, start=start, end=end, source=source, currency=currency)
    return [Gap(first, last) for first, last in ranges]


# --- the query ------------------------------------------------------------------------------


def _period_start(dialect: str, interval: Interval, day: Any) -> Any:
    """The first day of the period holding ``day`` (weeks are ISO weeks, from Monday)."""
    if interval is Interval.DAY:
        return day
    if dialect == "postgresql":
        return sa.cast(sa.func.date_trunc(interval.value, sa.cast(day, sa.DateTime())), sa.Date)
    # SQLite: 'weekday 0' moves forward to the next Sunday (or stays on one)
    mods = ("'weekday 0'", "'-6 days'") if interval is Interval.WEEK else ("'start of month'",)
    return sa.func.date(day, *map(sa.literal_column, mods), type_=sa.Date)


def _period_end(dialect: str, interval: Interval, day: Any) -> Any:
    """The last day of the period holding ``day``."""
    if interval is Interval.DAY:
        return day
    if dialect == "postgresql":
        step = "6 days" if interval is Interval.WEEK else "1 month -1 day"
        start = sa.func.date_trunc(interval.value, sa.cast(day, sa.DateTime()))
        return sa.cast(start + sa.literal_column(f"interval '{step}'"), sa.Date)
    mods = (
        ("'weekday 0'",)
        if interval is Interval.WEEK
        else ("'start of month'", "'+1 month'", "'-1 day'")
    )
    return sa.func.date(day, *map(sa.literal_column, mods), type_=sa.Date)


def _rank(column: Any, order: Sequence[str]) -> Any:
    """0 for the first name in ``order``, 1 for the next, …; unknown names come last."""
    return sa.case({name: i for i, name in enumerate(order)}, value=column, else_=len(order))


# Same-day claims: official before reported before estimate (valuation.claim_at), then the
# newest observation.
_BASIS_ORDER = (Basis.OFFICIAL.value, Basis.REPORTED.value, Basis.ESTIMATE.value)


def history_query(
    *,
    dialect: str,
    start: dt.date,
    end: dt.date,
    interval: Interval,
    holder_ids: Sequence[int] | None = None,
    currency: str = "USD",
) -> sa.Select[Any]:
    """One row per period and holder: the period, its close, and the holder's claim."""
    prices = DailyPrice.__table__  # type: ignore[attr-defined]
    period = _period_start(dialect, interval, prices.c.date)
    ranked = (
        sa.select(
            period.label("period"),
            prices.c.date,
            prices.c.source,
            prices.c.close,
            sa.func.row_number()
            .over(
                partition_by=period,
                order_by=(
                    prices.c.date.desc(),
                    _rank(prices.c.source, DAILY_SOURCE_PREFERENCE),
                ),
            )
            .label("rn"),
        )
        .where(prices.c.currency == currency, prices.c.date >= start, prices.c.date <= end)
        .subquery("ranked")
    )
    last_day = sa.literal(end, sa.Date)
    period_end = _period_end(dialect, interval, ranked.c.date)
    closes = (
        sa.select(
            ranked.c.period,
            sa.case((period_end > last_day, last_day), else_=period_end).label("period_end"),
            ranked.c.date.label("close_date"),
            ranked.c.source,
            ranked.c.close,
        )
        .where(ranked.c.rn == 1)
        .subquery("closes")
    )

    obs = Observation.__table__  # type: ignore[attr-defined]
    same_day = (
        sa.select(
            obs.c.id,
            obs.c.holder_id,
            obs.c.sats,
            obs.c.bound,
            obs.c.basis,
            obs.c.as_of,
            sa.func.row_number()
            .over(
                partition_by=(obs.c.holder_id, obs.c.as_of),
                order_by=(_rank(obs.c.basis, _BASIS_ORDER), obs.c.id.desc()),
            )
            .label("rn"),
        )
        .where(obs.c.sats.is_not(None))
        .subquery("same_day")
    )
    # Each holder's claims as steps: a claim counts from its as_of until the next one's.
    steps = (
        sa.select(
            same_day.c.id,
            same_day.c.holder_id,
            same_day.c.sats,
            same_day.c.bound,
            same_day.c.basis,
            same_day.c.as_of,
            sa.func.lead(same_day.c.as_of, type_=sa.Date)
            .over(partition_by=same_day.c.holder_id, order_by=same_day.c.as_of)
            .label("until"),
        )
        .where(same_day.c.rn == 1)
        .subquery("steps")
    )

    holders = Holder.__table__  # type: ignore[attr-defined]
    chosen = sa.true() if holder_ids is None else holders.c.id.in_(list(holder_ids))
    in_force = sa.and_(
        steps.c.holder_id == holders.c.id,
        steps.c.as_of <= closes.c.period_end,
        sa.or_(steps.c.until.is_(None), steps.c.until > closes.c.period_end),
    )
    return (
        sa.select(
            closes.c.period,
            closes.c.period_end,
            closes.c.close_date,
            closes.c.source,
            closes.c.close,
            holders.c.id.label("holder_id"),
            steps.c.id.label("observation_id"),
            steps.c.sats,
            steps.c.bound,
            steps.c.basis,
            steps.c.as_of,
        )
        .select_from(closes)
        .outerjoin(holders, chosen)
        .outerjoin(steps, in_force)
        .order_by(closes.c.period, holders.c.id)
    )


def _holders(conn: Connection, slugs: Sequence[str] | None) -> list[tuple[int, HolderInfo]]:
    table = Holder.__table__  # type: ignore[attr-defined]
    rows = conn.execute(sa.select(table).order_by(table.c.id)).all()
    known = [
        (
            r.id,
            HolderInfo.of(r),
        )
        for r in rows
    ]
    if slugs is None:
        return known
    by_slug = {info.slug: (i, info) for i, info in known}
    unknown = [s for s in slugs if s not in by_slug]
    if unknown:
        names = ", ".join(by_slug) or "none"
        raise InputError(f"unknown holder {unknown[0]!r} (known: {names})")
    return [by_slug[s] for s in dict.fromkeys(slugs)]


def _unknown(slug: str) -> Holding:
    return Holding(slug, None, None, None, None, None, None)


def _label(interval: Interval, start: dt.date) -> str:
    if interval is Interval.MONTH:
        return f"{start:%Y-%m}"
    if interval is Interval.WEEK:
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    return start.isoformat()


def build_timeline(
    *,
    conn: Connection,
    start: dt.date,
    end: dt.date,
    interval: Interval,
    holders: Sequence[str] | None = None,
    currency: str = "USD",
    today: dt.date | None = None,
) -> Timeline:
    """The history of [start, end] per ``interval``, for ``holders`` (slugs; default all).

    Periods without any daily close are left out; ``missing`` names the days without one.
    """
    if end < start:
        raise InputError(f"--from {start} is after --to {end}")
    chosen = _holders(conn, holders)
    query = history_query(
        dialect=conn.dialect.name,
        start=start,
        end=end,
        interval=interval,
        holder_ids=None if holders is None else [i for i, _ in chosen],
        currency=currency,
    )
    slug_of = {i: info.slug for i, info in chosen}
    periods: list[Period] = []
    current: Any = None
    holdings: list[Holding] = []

    order = [info.slug for _, info in chosen]

    def flush() -> None:
        if current is not None:
            by_slug = {h.slug: h for h in holdings}
            first = max(current.period, start)
            periods.append(
                Period(
                    label=_label(interval, current.period),
                    start=first,
                    end=current.period_end,
                    close_date=current.close_date,
                    close_source=current.source,
                    close=current.close,
                    holdings=tuple(by_slug.get(slug) or _unknown(slug) for slug in order),
                )
            )

    for row in conn.execute(query):
        if current is None or row.period != current.period:
            flush()
            current, holdings = row, []
        if row.holder_id is None:
            continue
        sats = row.sats
        holdings.append(
            Holding(
                slug=slug_of[row.holder_id],
                sats=sats,
                bound=None if row.bound is None else Bound(row.bound),
                basis=None if row.basis is None else Basis(row.basis),
                as_of=row.as_of,
                observation_id=row.observation_id,
                value=None if sats is None else value_of(sats_to_btc(sats), row.close),
            )
        )
    flush()
    gaps = missing_days(conn=conn, start=start, end=end, currency=currency, today=today)
    return Timeline(
        interval=interval,
        start=start,
        end=end,
        holders=tuple(info for _, info in chosen),
        periods=tuple(periods),
        missing=tuple(gaps),
        currency=currency,
        bundled_ends=(
            queries.newest_daily_date(conn=conn, source=BUNDLED_SOURCE, currency=currency)
            if any(p.close_source == BUNDLED_SOURCE for p in periods)
            else None
        ),
    )
