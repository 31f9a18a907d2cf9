"""`tracker history`: per day, week or month, the closing price and each holder's holding and value.

One SQL query does the aggregation (window functions, on SQLite and PostgreSQL alike): a period's
close is the close of its last day with a daily price, sources preferred in the order of
``store.DAILY_SOURCE_PREFERENCE``; a holder's holding is the claim ``valuation.claim_at`` would
pick on the period's last day. Python only multiplies the rows it gets back (one per period and
holder), exactly, rounding values half-even to cents.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tracker import store
from tracker.errors import InputError
from tracker.models import (
    Basis,
    Bound,
    DailyPrice,
    Holder,
    HolderInfo,
    Observation,
    sats_to_btc,
)
from tracker.report import (
    BOUND_MARK,
    console_text,
    csv_text,
    grouped,
    plain,
    price_text,
    text_console,
)
from tracker.valuation import value_of

DAY = dt.timedelta(days=1)


class Interval(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


@dataclass(frozen=True)
class Gap:
    """A run of consecutive days without a daily close."""

    first: dt.date
    last: dt.date

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def __str__(self) -> str:
        if self.first == self.last:
            return f"{self.first} (1 day)"
        return f"{self.first} to {self.last} ({self.days:,} days)"


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
    yesterday = (today or dt.datetime.now(dt.UTC).date()) - DAY
    end = yesterday if end is None else min(end, yesterday)
    if start is None:
        start, _ = store.daily_span(conn=conn, source=source, currency=currency)
        if start is None:
            return []
    ranges = store.daily_gaps(conn=conn, start=start, end=end, source=source, currency=currency)
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
                    _rank(prices.c.source, store.DAILY_SOURCE_PREFERENCE),
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
    )


# --- rendering --------------------------------------------------------------------------------

CSV_FIELDS = (
    "period", "start", "end", "close_date", "close", "close_source",
    "holder", "btc", "bound", "basis", "holding_as_of", "value",
)  # fmt: skip
INTERVAL_WORD = {Interval.DAY: "daily", Interval.WEEK: "weekly", Interval.MONTH: "monthly"}


def _holding_dict(h: Holding) -> dict[str, Any]:
    return {
        "slug": h.slug,
        "btc": plain(h.btc),
        "bound": None if h.bound is None else h.bound.value,
        "basis": None if h.basis is None else h.basis.value,
        "holding_as_of": None if h.as_of is None else h.as_of.isoformat(),
        "value": None if h.value is None else format(h.value, "f"),
    }


def to_dict(tl: Timeline) -> dict[str, Any]:
    """Decimals as strings, dates as YYYY-MM-DD; an undisclosed holding has null btc and value."""
    return {
        "interval": tl.interval.value,
        "from": tl.start.isoformat(),
        "to": tl.end.isoformat(),
        "currency": tl.currency,
        "holders": [{"slug": h.slug, "name": h.name} for h in tl.holders],
        "periods": [
            {
                "period": p.label,
                "start": p.start.isoformat(),
                "end": p.end.isoformat(),
                "close": price_text(p.close),
                "close_date": p.close_date.isoformat(),
                "close_source": p.close_source,
                "holdings": [_holding_dict(h) for h in p.holdings],
            }
            for p in tl.periods
        ],
        "missing_days": [
            {"from": g.first.isoformat(), "to": g.last.isoformat(), "days": g.days}
            for g in tl.missing
        ],
    }


def render_json(tl: Timeline) -> str:
    return json.dumps(to_dict(tl), indent=2, ensure_ascii=False) + "\n"


def render_csv(tl: Timeline) -> str:
    """One line per period and holder (one per period when no holder is chosen)."""
    rows = []
    for p in to_dict(tl)["periods"]:
        base = {k: p[k] for k in ("period", "start", "end", "close_date", "close", "close_source")}
        for h in p["holdings"] or [{}]:
            rows.append({**base, "holder": h.get("slug"), **{k: h.get(k) for k in CSV_FIELDS[7:]}})
    return csv_text(CSV_FIELDS, rows)


def btc_text(h: Holding) -> str:
    if h.btc is None:
        return "undisclosed"
    return f"{BOUND_MARK[h.bound] if h.bound else ''}{grouped(h.btc)}"


def title(tl: Timeline) -> str:
    return (
        f"BTC/{tl.currency} {INTERVAL_WORD[tl.interval]} close and holdings, {tl.start} to {tl.end}"
    )


def gap_lines(gaps: Sequence[Gap], *, limit: int = 10) -> list[str]:
    """Lines naming the missing days (the first ``limit`` runs, then a count of the rest)."""
    if not gaps:
        return []
    total = sum(g.days for g in gaps)
    lines = [f"Missing days in the daily series: {total:,} in {len(gaps):,} run(s)"]
    lines += [f"  {g}" for g in gaps[:limit]]
    if len(gaps) > limit:
        lines.append(f"  … and {len(gaps) - limit:,} more run(s): see --format json")
    return lines


def render_table(tl: Timeline, *, width: int | None = None, color: bool = False) -> str:
    """The history as a text table. Every cell and heading goes to Rich as a ``Text``, never as
    markup: a holder's name such as "Bhutan [via Druk Holding]" is shown as typed."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column(Text("Period"), no_wrap=True)
    table.add_column(Text(f"Close ({tl.currency})"), justify="right", no_wrap=True)
    for h in tl.holders:
        table.add_column(Text(f"{h.name}\nBTC"), justify="right", no_wrap=True)
        table.add_column(Text(f"{h.name}\nvalue ({tl.currency})"), justify="right", no_wrap=True)
    for p in tl.periods:
        cells = [p.label, grouped(p.close, 2)]
        for held in p.holdings:
            cells += [btc_text(held), "—" if held.value is None else grouped(held.value, 2)]
        table.add_row(*map(Text, cells))
    console = text_console(width=width or 200, color=color)
    console.print(Text(title(tl)))  # above the table, not as its title: never wrapped
    console.print(table)
    if not tl.periods:
        console.print(Text("No daily closes in this range: run `tracker backfill`."))
    sources = sorted({p.close_source for p in tl.periods}, key=store.daily_preference)
    notes = [
        "Close: the last daily close of each period"
        + (f" (from {', '.join(sources)})" if sources else "")
        + "; holdings as of each period's end.",
        "≥ at least, ~ approximate; undisclosed: no amount published by then (not zero).",
        *gap_lines(tl.missing),
    ]
    for line in notes:
        console.print(Text(line, style="dim"))
    return console_text(console)


def render(tl: Timeline, fmt: str, *, width: int | None = None, color: bool = False) -> str:
    if fmt == "json":
        return render_json(tl)
    if fmt == "csv":
        return render_csv(tl)
    return render_table(tl, width=width, color=color)
