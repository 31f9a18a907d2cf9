"""Keyword-only queries: what the other modules ask of the store. No business rules live here."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlmodel import Session, col, select

from tracker.clock import DAY
from tracker.daily import daily_preference
from tracker.models import (
    ConsensusPrice,
    DailyPrice,
    FetchRound,
    Holder,
    Observation,
    SourceQuote,
)

# --- holders and observations ------------------------------------------------------------


def get_holder(*, session: Session, slug: str, removed: bool = False) -> Holder | None:
    """The holder with ``slug``; a removed one only when ``removed`` is asked for."""
    query = select(Holder).where(Holder.slug == slug)
    if not removed:
        query = query.where(col(Holder.removed_at).is_(None))
    return session.exec(query).first()


def list_holders(*, session: Session) -> list[Holder]:
    """The holders not removed, in the order they were added."""
    query = select(Holder).where(col(Holder.removed_at).is_(None))
    return list(session.exec(query.order_by(col(Holder.id))))


def list_observations(
    *, session: Session, holder_id: int | None = None, removed: bool = False
) -> list[Observation]:
    """Observations oldest first; removed ones only when ``removed`` is asked for."""
    query = select(Observation)
    if holder_id is not None:
        query = query.where(Observation.holder_id == holder_id)
    if not removed:
        query = query.where(col(Observation.removed_at).is_(None))
    return list(session.exec(query.order_by(col(Observation.as_of), col(Observation.id))))


def find_observation(
    *, session: Session, holder_id: int, as_of: dt.date, source: str
) -> Observation | None:
    """The observation with this identity, removed or not (the identity is unique)."""
    return session.exec(
        select(Observation).where(
            Observation.holder_id == holder_id,
            Observation.as_of == as_of,
            Observation.source == source,
        )
    ).first()


# --- prices -------------------------------------------------------------------------------


def _insert_ignoring_duplicates(conn: Connection, table: sa.Table) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING for the connection's dialect."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing()
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table).on_conflict_do_nothing()


def insert_daily_prices(*, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
    """Bulk insert (executemany); rows already present are kept. Returns rows added, as the
    database reports them (RETURNING gives back only the rows it inserted)."""
    if not rows:
        return 0
    table = DailyPrice.__table__  # type: ignore[attr-defined]
    insert = _insert_ignoring_duplicates(conn, table).returning(table.c.date)
    return len(conn.execute(insert, list(rows)).all())


def count_daily_prices(*, conn: Connection, source: str | None = None) -> int:
    table = DailyPrice.__table__  # type: ignore[attr-defined]
    query = sa.select(sa.func.count()).select_from(table)
    if source is not None:
        query = query.where(table.c.source == source)
    return int(conn.execute(query).scalar_one())


def latest_consensus(
    *, session: Session, at: dt.datetime, currency: str = "USD"
) -> ConsensusPrice | None:
    """The newest consensus at or before ``at`` (index ix_consensus_currency_at)."""
    return session.exec(
        select(ConsensusPrice)
        .where(ConsensusPrice.currency == currency, ConsensusPrice.at <= at)
        .order_by(col(ConsensusPrice.at).desc())
        .limit(1)
    ).first()


def latest_daily_close(
    *, session: Session, on_or_before: dt.date, currency: str = "USD"
) -> DailyPrice | None:
    """The newest daily close on or before a date (primary-key index on currency, date)."""
    newest = session.exec(
        select(col(DailyPrice.date))
        .where(DailyPrice.currency == currency, col(DailyPrice.date) <= on_or_before)
        .order_by(col(DailyPrice.date).desc())
        .limit(1)
    ).first()
    if newest is None:
        return None
    rows = session.exec(
        select(DailyPrice).where(DailyPrice.currency == currency, DailyPrice.date == newest)
    ).all()
    return min(rows, key=lambda r: daily_preference(r.source))


def daily_sources(*, conn: Connection, day: dt.date, currency: str = "USD") -> list[str]:
    table = DailyPrice.__table__  # type: ignore[attr-defined]
    query = sa.select(table.c.source).where(table.c.currency == currency, table.c.date == day)
    return [str(s) for s in conn.execute(query).scalars()]


def consensus_ohlc(
    *, conn: Connection, start: dt.datetime, end: dt.datetime, currency: str = "USD"
) -> dict[str, Decimal] | None:
    """First, highest, lowest and last consensus in [start, end), or None when there is none."""
    table = ConsensusPrice.__table__  # type: ignore[attr-defined]
    span = sa.and_(table.c.currency == currency, table.c.at >= start, table.c.at < end)
    high, low = conn.execute(
        sa.select(sa.func.max(table.c.price), sa.func.min(table.c.price)).where(span)
    ).one()
    if high is None:
        return None
    first = conn.execute(
        sa.select(table.c.price).where(span).order_by(table.c.at).limit(1)
    ).scalar_one()
    last = conn.execute(
        sa.select(table.c.price).where(span).order_by(table.c.at.desc()).limit(1)
    ).scalar_one()
    return {"open": first, "high": high, "low": low, "close": last}


# --- rounds -------------------------------------------------------------------------------


def insert_round(
    *,
    session: Session,
    fetch_round: FetchRound,
    quotes: Iterable[SourceQuote],
    consensus: ConsensusPrice | None,
) -> FetchRound:
    """Add a round with its quotes and consensus; the caller's transaction makes it atomic."""
    session.add(fetch_round)
    session.flush()
    assert fetch_round.id is not None
    for quote in quotes:
        quote.round_id = fetch_round.id
        session.add(quote)
    if consensus is not None:
        consensus.round_id = fetch_round.id
        session.add(consensus)
    session.flush()
    return fetch_round


def insert_consensus(*, session: Session, consensus: ConsensusPrice) -> None:
    """Add a consensus for a round already stored (a held price, once confirmed); kept as it
    is when that round has one already (two writers confirming the same round at once)."""
    conn = session.connection()
    table = ConsensusPrice.__table__  # type: ignore[attr-defined]
    row = consensus.model_dump(exclude={"id"})
    conn.execute(_insert_ignoring_duplicates(conn, table), [row])


def round_quotes(
    *, session: Session, round_id: int, outcome: str | None = None
) -> list[SourceQuote]:
    """One round's quotes (index on source_quotes.round_id), with ``outcome`` if given."""
    query = select(SourceQuote).where(SourceQuote.round_id == round_id)
    if outcome is not None:
        query = query.where(SourceQuote.outcome == outcome)
    return list(session.exec(query.order_by(col(SourceQuote.id))))


@dataclass(frozen=True)
class SourceHealth:
    source: str
    asked: int  # rounds (of the last ``window`` it took part in) that asked this source
    accepted: int
    last_success: dt.datetime | None
    last_error_at: dt.datetime | None
    last_error: str | None


FAILURE_OUTCOMES = ("deviation", "stale", "invalid", "http_error", "timeout", "rate_limited")


def source_health(*, session: Session, source: str, window: int = 100) -> SourceHealth:
    """Success over the source's last ``window`` rounds (index ix_source_quotes_source_round),
    and its last success and last error, each an index seek (ix_source_quotes_source_outcome_
    round): the same cost on a fresh database as on a ten-year one."""
    recent = session.exec(
        select(SourceQuote.outcome, SourceQuote.reason, FetchRound.started_at)
        .join(FetchRound, col(SourceQuote.round_id) == col(FetchRound.id))
        .where(SourceQuote.source == source)
        .order_by(col(SourceQuote.round_id).desc())
        .limit(window)
    ).all()
    ok = _last_with(session, source, ("accepted",))
    in_window = next((r for r in recent if r[0] != "accepted"), None)
    bad = (
        (in_window[0], in_window[1], in_window[2])
        if in_window is not None
        else _last_with(session, source, FAILURE_OUTCOMES)
    )
    return SourceHealth(
        source=source,
        asked=len(recent),
        accepted=sum(1 for r in recent if r[0] == "accepted"),
        last_success=None if ok is None else ok[2],
        last_error_at=None if bad is None else bad[2],
        last_error=None if bad is None else f"{bad[0]}: {bad[1] or ''}".strip(),
    )


def _last_with(
    session: Session, source: str, outcomes: Sequence[str]
) -> tuple[str, str | None, dt.datetime] | None:
    """The newest quote of ``source`` with one of ``outcomes``: one statement, one index
    seek per outcome (SQLite and PostgreSQL both answer max() on an index prefix by a seek)."""
    table = SourceQuote.__table__  # type: ignore[attr-defined]
    seeks = [
        sa.select(sa.func.max(table.c.round_id))
        .where(table.c.source == source, table.c.outcome == outcome)
        .scalar_subquery()
        for outcome in outcomes
    ]
    found = [rid for rid in session.connection().execute(sa.select(*seeks)).one() if rid]
    if not found:
        return None
    row = session.exec(
        select(SourceQuote.outcome, SourceQuote.reason, FetchRound.started_at)
        .join(FetchRound, col(SourceQuote.round_id) == col(FetchRound.id))
        .where(SourceQuote.source == source, SourceQuote.round_id == max(found))
        .limit(1)
    ).first()
    return None if row is None else (row[0], row[1], row[2])


def recent_rounds(*, session: Session, limit: int = 10) -> list[FetchRound]:
    """The newest rounds, newest first (index ix_fetch_rounds_started_at)."""
    return list(
        session.exec(select(FetchRound).order_by(col(FetchRound.started_at).desc()).limit(limit))
    )


def newest_daily_date(
    *, conn: Connection, source: str | None = None, currency: str = "USD"
) -> dt.date | None:
    """The newest day with a daily close (from ``source``, if given): the primary-key index
    read backwards from the newest day, one seek whatever the table's size."""
    table = DailyPrice.__table__  # type: ignore[attr-defined]
    query = sa.select(table.c.date).where(table.c.currency == currency)
    if source is not None:
        query = query.where(table.c.source == source)
    return conn.execute(query.order_by(table.c.date.desc()).limit(1)).scalar()


# --- the daily series: gaps and cross-checks ------------------------------------------------


def _day_number(conn: Connection, column: Any) -> Any:
    """An integer count of days, so SQL can tell whether two dates are consecutive."""
    if conn.dialect.name == "postgresql":
        return column - sa.literal(dt.date(1970, 1, 1), sa.Date)  # date - date is an integer
    return sa.cast(sa.func.julianday(column), sa.Integer)


def daily_gaps(
    *,
    conn: Connection,
    start: dt.date,
    end: dt.date,
    source: str | None = None,
    currency: str = "USD",
) -> list[tuple[dt.date, dt.date]]:
    """The ranges of days in [start, end] without a daily close (from ``source``, or from any
    source), as (first, last) pairs, oldest first. Only the gaps leave the database."""
    if end < start:
        return []
    table = DailyPrice.__table__  # type: ignore[attr-defined]
    where = [table.c.currency == currency, table.c.date >= start, table.c.date <= end]
    if source is not None:
        where.append(table.c.source == source)
    first, last = conn.execute(
        sa.select(sa.func.min(table.c.date), sa.func.max(table.c.date)).where(*where)
    ).one()
    if first is None:
        return [(start, end)]
    days = sa.select(table.c.date).where(*where).group_by(table.c.date).subquery("days")
    number = _day_number(conn, days.c.date)
    steps = sa.select(
        days.c.date,
        sa.func.lag(days.c.date, type_=sa.Date).over(order_by=days.c.date).label("prev"),
        (number - sa.func.lag(number).over(order_by=days.c.date)).label("step"),
    ).subquery("steps")
    query = sa.select(steps.c.prev, steps.c.date).where(steps.c.step > 1).order_by(steps.c.date)
    one = DAY
    gaps = [(start, first - one)] if first > start else []
    gaps += [(prev + one, day - one) for prev, day in conn.execute(query)]
    if last < end:
        gaps.append((last + one, end))
    return gaps


def daily_close_pairs(
    *,
    conn: Connection,
    source: str,
    reference: str,
    start: dt.date | None = None,
    end: dt.date | None = None,
    currency: str = "USD",
) -> list[tuple[dt.date, Decimal, Decimal]]:
    """(date, close of ``source``, close of ``reference``) for every day both have, oldest first."""
    table = DailyPrice.__table__  # type: ignore[attr-defined]
    a, b = table.alias("a"), table.alias("b")
    query = (
        sa.select(a.c.date, a.c.close, b.c.close)
        .join(b, sa.and_(b.c.currency == a.c.currency, b.c.date == a.c.date))
        .where(a.c.currency == currency, a.c.source == source, b.c.source == reference)
        .order_by(a.c.date)
    )
    if start is not None:
        query = query.where(a.c.date >= start)
    if end is not None:
        query = query.where(a.c.date <= end)
    return [(day, x, y) for day, x, y in conn.execute(query)]


def daily_span(
    *, conn: Connection, source: str | None = None, currency: str = "USD"
) -> tuple[dt.date | None, dt.date | None]:
    """The oldest and newest day with a daily close (of ``source``, if given)."""
    table = DailyPrice.__table__  # type: ignore[attr-defined]
    query = sa.select(sa.func.min(table.c.date), sa.func.max(table.c.date)).where(
        table.c.currency == currency
    )
    if source is not None:
        query = query.where(table.c.source == source)
    first, last = conn.execute(query).one()
    return first, last
