"""The `tracker history` query: per day, week or month, the close and each sovereign's holding
and its value.

One SQL query does the aggregation (history_sql.py; window functions, on SQLite and PostgreSQL
alike): a period's close is the close of its last day with a daily price, sources preferred in
the order of ``DAILY_SOURCE_PREFERENCE``; a holder's holding is its headline (headline.py) on the
period's last day, among the observations known on ``known_at``. Python only picks the government
or else the reserve figure and multiplies the rows it gets back (one per period and holder),
exactly, rounding values half-even to cents.

Beside the claims, a holder's on-chain balance rebuilt from its addresses' transactions
(onchain_history.py; `tracker verify --history`): per period, the balance on the period's last
stored day, ``at_least`` unless the holder's address list is complete.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy.engine import Connection

from tracker.clock import DAY, utc_today
from tracker.daily import history_sql as sql
from tracker.daily.bundled import BUNDLED_SOURCE
from tracker.errors import InputError
from tracker.headline import State
from tracker.models import Basis, Bound, Gap, HolderInfo, Scope
from tracker.money import sats_to_btc, value_of
from tracker.store import queries


class Interval(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


@dataclass(frozen=True)
class Holding:
    """A holder's headline at a period's end and its value at the period's close."""

    slug: str
    sats: int | None  # None: no headline on or before the period's end (never 0 for it)
    bound: Bound | None
    basis: Basis | None
    as_of: dt.date | None
    observation_id: int | None
    value: Decimal | None
    scope: Scope | None = None  # government, or reserve when there is no government figure
    undisclosed: bool = False  # no amount, but a government or reserve claim says it holds BTC
    # on-chain: its addresses' balance on the period's last day stored (None: none stored)
    onchain_sats: int | None = None
    onchain_as_of: dt.date | None = None
    onchain_bound: Bound | None = None  # at_least unless the address list is complete
    onchain_value: Decimal | None = None  # at the period's close

    @property
    def btc(self) -> Decimal | None:
        return None if self.sats is None else sats_to_btc(self.sats)

    @property
    def onchain_btc(self) -> Decimal | None:
        return None if self.onchain_sats is None else sats_to_btc(self.onchain_sats)

    @property
    def state(self) -> State:
        if self.sats is not None:
            return State.VALUED
        return State.UNDISCLOSED if self.undisclosed else State.NO_DATA


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
    known_at: dt.date | None = None  # --as-known-at: only what was published (or recorded) by then
    onchain: tuple[str, ...] = ()  # slugs of the holders with an on-chain balance in a period


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


# --- the query (history_sql.py) ------------------------------------------------------------


def _holders(
    conn: Connection, slugs: Sequence[str] | None, known_at: dt.date | None
) -> list[tuple[int, HolderInfo]]:
    """The sovereigns shown (all, oldest first; or those of ``slugs``, in the order given)."""
    known = [(r.id, HolderInfo.of(r)) for r in conn.execute(sql.sovereigns(known_at)).all()]
    if slugs is None:
        return known
    by_slug = {info.slug: (i, info) for i, info in known}
    for slug in slugs:
        if slug not in by_slug:
            names = ", ".join(by_slug) or "none"
            raise InputError(f"--holder: unknown holder {slug!r} (known sovereigns: {names})")
    return [by_slug[s] for s in dict.fromkeys(slugs)]


def default_start(
    *,
    conn: Connection,
    holders: Sequence[str] | None = None,
    known_at: dt.date | None = None,
    currency: str = "USD",
) -> dt.date | None:
    """Where `tracker history` starts unless told: the first government or reserve observation
    of the holders shown (the shipped ledger's is 2018-01-01), but not before the oldest daily
    close; the oldest close when there is no observation; None when there is no close."""
    oldest, _ = queries.daily_span(conn=conn, currency=currency)
    if oldest is None:
        return None
    ids = [i for i, _ in _holders(conn, holders, known_at)]
    first = conn.execute(sql.first_told(ids, known_at)).scalar() if ids else None
    return oldest if first is None else max(oldest, first)


def _unknown(slug: str) -> Holding:
    return Holding(slug, None, None, None, None, None, None)


def _label(interval: Interval, start: dt.date) -> str:
    if interval is Interval.MONTH:
        return f"{start:%Y-%m}"
    if interval is Interval.WEEK:
        year, week, _ = start.isocalendar()
        return f"{year}-W{week:02d}"
    return start.isoformat()


def _headline(row: Any, slug: str) -> Holding:
    """The government step in force, else the reserve one (history_sql.history_query's row)."""
    pick = "g" if row.g_id is not None else "r" if row.r_id is not None else None
    if pick is None:
        told = row.told is not None and row.told <= row.period_end
        return Holding(slug, None, None, None, None, None, None, undisclosed=told)

    def col(name: str) -> Any:
        return getattr(row, f"{pick}_{name}")

    sats, bound = col("sats"), col("bound")
    return Holding(
        slug=slug,
        sats=sats,
        bound=None if bound is None else Bound(bound),
        basis=Basis(col("basis")),
        as_of=col("as_of"),
        observation_id=col("id"),
        value=value_of(sats_to_btc(sats), row.close),
        scope=Scope.GOVERNMENT if pick == "g" else Scope.RESERVE,
    )


def _with_chain(held: Holding, row: Any) -> Holding:
    """The holding with the period's on-chain balance, when one is stored."""
    if row.chain_sats is None:
        return held
    return replace(
        held,
        onchain_sats=row.chain_sats,
        onchain_as_of=row.chain_date,
        onchain_bound=Bound.EXACT if row.addresses_complete else Bound.AT_LEAST,
        onchain_value=value_of(sats_to_btc(row.chain_sats), row.close),
    )


def build_timeline(
    *,
    conn: Connection,
    start: dt.date,
    end: dt.date,
    interval: Interval,
    holders: Sequence[str] | None = None,
    known_at: dt.date | None = None,
    currency: str = "USD",
    today: dt.date | None = None,
) -> Timeline:
    """The history of [start, end] per ``interval``, for ``holders`` (slugs; default every
    sovereign), with the observations known on ``known_at`` (default all).

    Periods without any daily close are left out; ``missing`` names the days without one.
    """
    if end < start:
        raise InputError(f"--from {start} is after --to {end}")
    chosen = _holders(conn, holders, known_at)
    query = sql.history_query(
        dialect=conn.dialect.name,
        start=start,
        end=end,
        interval=interval.value,
        holder_ids=[i for i, _ in chosen],
        known_at=known_at,
        currency=currency,
    )
    slug_of = {i: info.slug for i, info in chosen}
    order = [info.slug for _, info in chosen]
    periods: list[Period] = []
    current: Any = None
    holdings: dict[str, Holding] = {}

    def flush() -> None:
        if current is not None:
            periods.append(
                Period(
                    label=_label(interval, current.period),
                    start=max(current.period, start),
                    end=current.period_end,
                    close_date=current.close_date,
                    close_source=current.source,
                    close=current.close,
                    holdings=tuple(holdings.get(slug) or _unknown(slug) for slug in order),
                )
            )

    for row in conn.execute(query):
        if current is None or row.period != current.period:
            flush()
            current, holdings = row, {}
        if row.holder_id is not None:
            slug = slug_of[row.holder_id]
            holdings[slug] = _with_chain(_headline(row, slug), row)
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
        known_at=known_at,
        onchain=tuple(
            s
            for i, s in enumerate(order)
            if any(p.holdings[i].onchain_sats is not None for p in periods)
        ),
    )
