"""What `tracker status` and `tracker sources` show, from the store, typed and unformatted: a
``Status`` (the service's freshness and health) and ``Sources`` (each price source's health)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlmodel import Session

from tracker.config import Settings
from tracker.daily.history import missing_days
from tracker.models import FetchRound, Gap
from tracker.store import queries
from tracker.store.queries import SourceHealth

# --- tracker status ------------------------------------------------------------------------

GAP_WINDOW = dt.timedelta(days=365)  # status names the gaps of the last year only: bounded cost


@dataclass(frozen=True)
class ConsensusSeen:
    price: Decimal
    at: dt.datetime
    sources: tuple[str, ...]
    age: dt.timedelta
    max_age: dt.timedelta


@dataclass(frozen=True)
class CheckSeen:
    """A holder's newest check against the chain (`tracker verify`)."""

    holder: str  # slug
    name: str
    status: str  # verified, disagree, unverified
    verdict: str | None  # matches, differs; None with no claim to compare
    height: int | None
    chain_sats: int | None
    difference_sats: int | None
    finished_at: dt.datetime
    age: dt.timedelta


@dataclass(frozen=True)
class Status:
    """What `tracker status` shows; ``state`` is fresh, stale, degraded or never."""

    state: str
    checked_at: dt.datetime
    consensus: ConsensusSeen | None
    last_rounds: tuple[FetchRound, ...]
    sources: tuple[SourceHealth, ...]
    newest_daily: dt.date | None
    gaps: tuple[Gap, ...]
    gaps_since: dt.date
    database_url: str  # password hidden
    schema: str
    checks: tuple[CheckSeen, ...] = ()  # each checked holder's newest check, by name

    EXIT_CODES = {"fresh": 0, "stale": 1, "degraded": 1, "never": 2}  # noqa: RUF012

    @property
    def exit_code(self) -> int:
        return self.EXIT_CODES[self.state]


def gather_status(
    *,
    session: Session,
    now: dt.datetime,
    max_price_age: dt.timedelta,
    source_names: list[str],
    database_url: str,
    schema: str,
) -> Status:
    """Freshness, the last rounds, each source's health and the daily series' gaps."""
    rounds = queries.recent_rounds(session=session, limit=10)
    consensus = queries.latest_consensus(session=session, at=now)
    if not rounds:
        state = "never"
    elif rounds[0].status != "ok":
        state = "degraded"
    elif consensus is None or now - consensus.at > max_price_age:
        state = "stale"
    else:
        state = "fresh"
    since = now.date() - GAP_WINDOW
    return Status(
        state=state,
        checked_at=now,
        consensus=None
        if consensus is None
        else ConsensusSeen(
            price=consensus.price,
            at=consensus.at,
            sources=tuple(s for s in consensus.sources.split(",") if s),
            age=now - consensus.at,
            max_age=max_price_age,
        ),
        last_rounds=tuple(rounds),
        sources=tuple(queries.source_health(session=session, source=n) for n in source_names),
        newest_daily=queries.newest_daily_date(conn=session.connection()),
        gaps=tuple(missing_days(conn=session.connection(), start=since, today=now.date())),
        gaps_since=since,
        database_url=database_url,
        schema=schema,
        checks=tuple(_checks(session, now)),
    )


def _checks(session: Session, now: dt.datetime) -> list[CheckSeen]:
    from tracker.store.chain_queries import latest_checks

    newest = latest_checks(session=session)
    holders = {h.id: h for h in queries.list_holders(session=session) if h.id in newest}
    seen = [
        CheckSeen(
            holder=h.slug, name=h.name, status=row.status, verdict=row.verdict,
            height=row.height, chain_sats=row.chain_sats, difference_sats=row.difference_sats,
            finished_at=row.finished_at, age=now - row.finished_at,
        )
        for holder_id, row in newest.items()
        if (h := holders.get(holder_id)) is not None
    ]  # fmt: skip
    return sorted(seen, key=lambda c: c.name.casefold())


# --- tracker sources -----------------------------------------------------------------------


@dataclass(frozen=True)
class SourceState:
    """One price source as configured, and how it has answered."""

    name: str
    role: str
    enabled: bool
    base_url: str
    timeout_s: float
    health: SourceHealth


@dataclass(frozen=True)
class Sources:
    entries: tuple[SourceState, ...]


def gather_sources(*, session: Session, settings: Settings) -> Sources:
    """Every built-in price source with its config and its health over its last 100 rounds."""
    from tracker.sources import SPOT

    return Sources(
        tuple(
            SourceState(
                name=name,
                role=src.role,
                enabled=settings.sources[name].enabled,
                base_url=settings.sources[name].base_url,
                timeout_s=settings.sources[name].timeout_s,
                health=queries.source_health(session=session, source=name),
            )
            for name, src in SPOT.items()
        )
    )
