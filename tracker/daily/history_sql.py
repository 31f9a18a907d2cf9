"""The SQL behind `tracker history`: the ledger's headline rule (headline.py) as window functions.

Per holder and period end, the headline is the latest ``government`` observation with an amount
and ``as_of`` on or before the period's end (same day: official > reported > estimate, then the
highest id); else the latest ``reserve`` one. Only *visible* observations count (headline.visible):
live (not removed), known on ``--as-known-at`` (``published`` for the shipped ledger, else the
day it was recorded), and not replaced by a live, known correction (``supersedes``).

Each (holder, scope)'s observations become steps, each in force from its ``as_of`` until the next
one's (``lead``), so the cost is one pass over the observations and one over the daily closes
whatever the span: a ten-year database costs per period what a fresh one does.

A holder's on-chain balance (``onchain_daily``, one row per day from its first transaction to
its last sync) is, per period, the row of the period's last stored day, found by an index seek
per period and holder: the days stored outside [start, end] are never read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from tracker.chain_models import OnchainDaily
from tracker.clock import DAY
from tracker.daily import DAILY_SOURCE_PREFERENCE
from tracker.models import Basis, DailyPrice, Holder, HolderKind, Observation, Origin, Scope

HEADLINE_SCOPES = (Scope.GOVERNMENT.value, Scope.RESERVE.value)  # in order of preference
# Same-day claims: official before reported before estimate (headline.headline), then the newest.
_BASIS_ORDER = (Basis.OFFICIAL.value, Basis.REPORTED.value, Basis.ESTIMATE.value)


def _obs() -> Any:
    return Observation.__table__  # type: ignore[attr-defined]


def _known(table: Any, known_at: dt.date | None) -> Any:
    """True when the observation was known on ``known_at`` (Claim.known_from <= known_at)."""
    if known_at is None:
        return sa.true()
    dated = sa.and_(table.c.origin == Origin.LEDGER.value, table.c.published.is_not(None))
    until = dt.datetime.combine(known_at + DAY, dt.time(0), tzinfo=dt.UTC)
    return sa.or_(
        sa.and_(dated, table.c.published <= known_at),
        sa.and_(sa.not_(dated), table.c.recorded_at < until),  # recorded on or before that day
    )


def visible(known_at: dt.date | None) -> Any:
    """The observations a reader could use on ``known_at``, as a subquery (headline.visible)."""
    obs = _obs()
    fix = obs.alias("fix")
    corrected = sa.exists().where(
        fix.c.supersedes == obs.c.id, fix.c.removed_at.is_(None), _known(fix, known_at)
    )
    return (
        sa.select(
            obs.c.id,
            obs.c.holder_id,
            obs.c.sats,
            obs.c.bound,
            obs.c.basis,
            obs.c.as_of,
            obs.c.scope,
        )
        .where(obs.c.removed_at.is_(None), _known(obs, known_at), sa.not_(corrected))
        .subquery("visible")
    )


def sovereigns(known_at: dt.date | None) -> sa.Select[Any]:
    """The holders history shows, oldest first (headline.is_sovereign): live ``state`` holders
    with a visible observation that is not ``not_sovereign``, or with none visible at all."""
    holders = Holder.__table__  # type: ignore[attr-defined]
    seen = visible(known_at)
    mine = seen.c.holder_id == holders.c.id
    return (
        sa.select(holders)
        .where(
            holders.c.removed_at.is_(None),
            holders.c.kind == HolderKind.STATE.value,
            sa.or_(
                ~sa.exists().where(mine),
                sa.exists().where(mine, seen.c.scope != Scope.NOT_SOVEREIGN.value),
            ),
        )
        .order_by(holders.c.id)
    )


def first_told(holder_ids: Sequence[int], known_at: dt.date | None) -> sa.Select[Any]:
    """The oldest ``as_of`` among these holders' visible government or reserve observations."""
    seen = visible(known_at)
    return sa.select(sa.func.min(seen.c.as_of)).where(
        seen.c.holder_id.in_(list(holder_ids)), seen.c.scope.in_(HEADLINE_SCOPES)
    )


def _rank(column: Any, order: Sequence[str]) -> Any:
    """0 for the first name in ``order``, 1 for the next, …; unknown names come last."""
    return sa.case({name: i for i, name in enumerate(order)}, value=column, else_=len(order))


def _period_start(dialect: str, interval: str, day: Any) -> Any:
    """The first day of the period holding ``day`` (weeks are ISO weeks, from Monday)."""
    if interval == "day":
        return day
    if dialect == "postgresql":
        return sa.cast(sa.func.date_trunc(interval, sa.cast(day, sa.DateTime())), sa.Date)
    # SQLite: 'weekday 0' moves forward to the next Sunday (or stays on one)
    mods = ("'weekday 0'", "'-6 days'") if interval == "week" else ("'start of month'",)
    return sa.func.date(day, *map(sa.literal_column, mods), type_=sa.Date)


def _period_end(dialect: str, interval: str, day: Any) -> Any:
    """The last day of the period holding ``day``."""
    if interval == "day":
        return day
    if dialect == "postgresql":
        step = "6 days" if interval == "week" else "1 month -1 day"
        start = sa.func.date_trunc(interval, sa.cast(day, sa.DateTime()))
        return sa.cast(start + sa.literal_column(f"interval '{step}'"), sa.Date)
    mods = (
        ("'weekday 0'",) if interval == "week" else ("'start of month'", "'+1 month'", "'-1 day'")
    )
    return sa.func.date(day, *map(sa.literal_column, mods), type_=sa.Date)


def _closes(dialect: str, interval: str, start: dt.date, end: dt.date, currency: str) -> Any:
    """Each period's close: its last day with a daily price, sources in order of preference."""
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
                order_by=(prices.c.date.desc(), _rank(prices.c.source, DAILY_SOURCE_PREFERENCE)),
            )
            .label("rn"),
        )
        .where(prices.c.currency == currency, prices.c.date >= start, prices.c.date <= end)
        .subquery("ranked")
    )
    last_day = sa.literal(end, sa.Date)
    period_end = _period_end(dialect, interval, ranked.c.date)
    return (
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


def _steps(seen: Any) -> Any:
    """Each (holder, scope)'s headline candidates as steps: the best claim of each day with an
    amount, in force from its ``as_of`` until the next one's."""
    same_day = (
        sa.select(
            seen,
            sa.func.row_number()
            .over(
                partition_by=(seen.c.holder_id, seen.c.scope, seen.c.as_of),
                order_by=(_rank(seen.c.basis, _BASIS_ORDER), seen.c.id.desc()),
            )
            .label("rn"),
        )
        .where(seen.c.sats.is_not(None), seen.c.scope.in_(HEADLINE_SCOPES))
        .subquery("same_day")
    )
    return (
        sa.select(
            same_day.c.id,
            same_day.c.holder_id,
            same_day.c.scope,
            same_day.c.sats,
            same_day.c.bound,
            same_day.c.basis,
            same_day.c.as_of,
            sa.func.lead(same_day.c.as_of, type_=sa.Date)
            .over(partition_by=(same_day.c.holder_id, same_day.c.scope), order_by=same_day.c.as_of)
            .label("until"),
        )
        .where(same_day.c.rn == 1)
        .subquery("steps")
    )


def _onchain_day(holder_id: Any, period: Any, period_end: Any, start: dt.date) -> Any:
    """The join condition that finds a holder's on-chain row for a period: every day from the
    first transaction to the last sync is stored, so the period's last stored day is its end,
    or the holder's last stored day if that is earlier (but still in the period, and not before
    ``start``). Index seeks on (holder_id, date): no scan of the years stored."""
    daily = OnchainDaily.__table__  # type: ignore[attr-defined]
    newest = sa.alias(daily, "newest")
    last = (
        sa.select(sa.func.max(newest.c.date))
        .where(newest.c.holder_id == holder_id)
        .scalar_subquery()
    )
    chain = daily.alias("chain")
    day = sa.case((last < period_end, last), else_=period_end)
    return chain, sa.and_(
        chain.c.holder_id == holder_id,
        chain.c.date == day,
        chain.c.date >= period,
        chain.c.date >= sa.literal(start, sa.Date),
    )


HEADLINE_COLUMNS = ("id", "sats", "bound", "basis", "as_of")


def history_query(
    *,
    dialect: str,
    start: dt.date,
    end: dt.date,
    interval: str,
    holder_ids: Sequence[int],
    known_at: dt.date | None = None,
    currency: str = "USD",
) -> sa.Select[Any]:
    """One row per period and holder: the period, its close, the government step and the
    reserve step in force at the period's end (``g_*``, ``r_*``; NULL when none), the
    holder's first visible government or reserve ``as_of`` (``told``: undisclosed from then),
    and its on-chain balance on the period's last stored day (``chain_date``, ``chain_sats``;
    NULL when none) with ``addresses_complete``."""
    closes = _closes(dialect, interval, start, end, currency)
    seen = visible(known_at)
    steps = _steps(seen)
    gov, res = steps.alias("gov"), steps.alias("res")
    told = (
        sa.select(seen.c.holder_id, sa.func.min(seen.c.as_of).label("told"))
        .where(seen.c.scope.in_(HEADLINE_SCOPES))
        .group_by(seen.c.holder_id)
        .subquery("told")
    )
    holders = Holder.__table__  # type: ignore[attr-defined]
    chain, on_day = _onchain_day(holders.c.id, closes.c.period, closes.c.period_end, start)

    def in_force(step: Any, scope: str) -> Any:
        return sa.and_(
            step.c.holder_id == holders.c.id,
            step.c.scope == scope,
            step.c.as_of <= closes.c.period_end,
            sa.or_(step.c.until.is_(None), step.c.until > closes.c.period_end),
        )

    return (
        sa.select(
            closes.c.period,
            closes.c.period_end,
            closes.c.close_date,
            closes.c.source,
            closes.c.close,
            holders.c.id.label("holder_id"),
            *(gov.c[c].label(f"g_{c}") for c in HEADLINE_COLUMNS),
            *(res.c[c].label(f"r_{c}") for c in HEADLINE_COLUMNS),
            told.c.told,
            chain.c.date.label("chain_date"),
            chain.c.sats.label("chain_sats"),
            holders.c.addresses_complete,
        )
        .select_from(closes)
        .outerjoin(holders, holders.c.id.in_(list(holder_ids)))
        .outerjoin(gov, in_force(gov, Scope.GOVERNMENT.value))
        .outerjoin(res, in_force(res, Scope.RESERVE.value))
        .outerjoin(told, told.c.holder_id == holders.c.id)
        .outerjoin(chain, on_day)
        .order_by(closes.c.period, holders.c.id)
    )
