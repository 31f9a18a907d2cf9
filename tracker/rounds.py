"""One fetch round: ask the sources at once, judge the quotes, store everything in one go.

``run_once`` is shared by `tracker fetch`, `tracker report` (when prices are stale) and the
service; it takes the client and the engine, and builds neither.

Continuity (consensus rule 5) is judged when the round is stored, inside its write
transaction: the last stored consensus and, when the newest round was ``suspect``, the price it
held are read there and passed to the pure ``consensus.continuity``. A suspect round is stored
like any other (its status says ``suspect``, every quote is kept) but without a consensus row,
so nothing values at its price. The held price is not stored anywhere else: it is recovered
from the suspect round's accepted quotes (their median, as consensus computed it), so this
needs no schema change.

When the next round confirms it, both prices are stored: the confirming round's, and the held
round's own, at that round's ``finished_at`` (a few microseconds after it was judged). Why
store the held one retroactively: once confirmed it was a real price, measured by a quorum at
its own time; leaving it out would record the move one round late in the history and in that
day's high and low, and a report for an instant between the two rounds would value at a price
already known to be outdated. A report made *during* the hold never saw it. The held round
keeps its status ``suspect``: that is what it was when it ran; its consensus row, written by
the round after it, says that it was confirmed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import httpx
from sqlalchemy.engine import Engine
from sqlmodel import Session

from tracker.clock import utc_now
from tracker.config import ConsensusSettings, Settings
from tracker.consensus import continuity, decide, median
from tracker.models import (
    Consensus,
    ConsensusPrice,
    FetchRound,
    PriceKind,
    PricePoint,
    RoundReport,
    RoundStatus,
    SourceLine,
    SourceQuote,
    SourceResult,
)
from tracker.sources import SPOT, SpotSource
from tracker.sources.http import fetch_one
from tracker.store import queries
from tracker.store.engine import write_session

Clock = Callable[[], dt.datetime]


async def gather_quotes(
    client: httpx.AsyncClient,
    settings: Settings,
    *,
    clock: Clock = utc_now,
    registry: Mapping[str, SpotSource] = SPOT,
    budget_s: float | None = None,
) -> tuple[list[SourceResult], Consensus, tuple[str, ...]]:
    """Ask every enabled core source concurrently; ask the fallbacks only when the core
    leaves the quorum short. The round lasts as long as its slowest source, within budget."""
    budget = settings.fetch.round_timeout_s if budget_s is None else budget_s
    deadline = time.monotonic() + budget
    enabled = {n: s for n, s in registry.items() if settings.sources[n].enabled}
    core = [s for s in enabled.values() if s.role == "core"]
    fallback = [s for s in enabled.values() if s.role == "fallback"]

    async def ask(sources: Sequence[SpotSource]) -> list[SourceResult]:
        return list(
            await asyncio.gather(
                *(
                    fetch_one(
                        client, s, settings.sources[s.name], settings.fetch, deadline=deadline
                    )
                    for s in sources
                )
            )
        )

    results = await ask(core)
    consensus = _judge(results, settings, clock)
    skipped: tuple[str, ...] = tuple(s.name for s in fallback)
    if consensus.status is not RoundStatus.OK and fallback and time.monotonic() < deadline:
        results += await ask(fallback)
        consensus = _judge(results, settings, clock)
        skipped = ()
    return results, consensus, skipped


def _judge(results: Sequence[SourceResult], settings: Settings, clock: Clock) -> Consensus:
    quotes = [r.quote for r in results if r.quote is not None]
    return decide(quotes, rules=settings.consensus, now=clock())


def merge(
    results: Sequence[SourceResult],
    consensus: Consensus,
    registry: Mapping[str, SpotSource] = SPOT,
) -> tuple[SourceLine, ...]:
    """Each source's final outcome: the fetch's failure, or consensus's verdict on its quote."""
    verdicts = {v.source: v for v in consensus.verdicts}
    lines = []
    for r in results:
        verdict = verdicts.get(r.source) if r.quote is not None else None
        lines.append(
            SourceLine(
                source=r.source,
                role=registry[r.source].role if r.source in registry else "core",
                price=verdict.price if verdict else None,
                quoted_at=None if r.quote is None else r.quote.quoted_at,
                outcome=verdict.outcome if verdict else r.outcome,
                reason=verdict.reason if verdict else r.reason,
                latency_ms=r.latency_ms,
                attempts=r.attempts,
            )
        )
    return tuple(lines)


@dataclass(frozen=True)
class Saved:
    """A stored round: its id, its consensus after the continuity rule, and the suspect round
    whose held price it confirmed (and stored), if any."""

    round_id: int
    consensus: Consensus
    confirmed_round: int | None = None


def save_round(
    engine: Engine,
    *,
    started_at: dt.datetime,
    finished_at: dt.datetime,
    consensus: Consensus,
    lines: Sequence[SourceLine],
    rules: ConsensusSettings,
) -> Saved:
    """Judge continuity against the store, then write the round, every source's outcome and
    the consensus (and a confirmed held price) in one transaction."""
    with write_session(engine) as session:
        previous = queries.latest_consensus(session=session, at=consensus.at)
        held = _held_by_newest_round(session)
        consensus = continuity(
            consensus,
            previous=None if previous is None else _point(previous),
            held=None if held is None else held[1],
            rules=rules,
        )
        row = queries.insert_round(
            session=session,
            fetch_round=FetchRound(
                started_at=started_at, finished_at=finished_at, status=consensus.status.value
            ),
            quotes=[
                SourceQuote(
                    round_id=0,
                    source=line.source,
                    price=line.price,
                    quoted_at=line.quoted_at,
                    latency_ms=line.latency_ms,
                    attempts=line.attempts,
                    outcome=line.outcome.value,
                    reason=line.reason,
                )
                for line in lines
            ],
            consensus=None
            if consensus.price is None
            else ConsensusPrice(
                round_id=0,
                at=consensus.at,
                price=consensus.price,
                sources=",".join(consensus.sources),
            ),
        )
        assert row.id is not None
        confirmed: int | None = None
        if consensus.confirmed and held is not None:
            confirmed, point = held
            queries.insert_consensus(
                session=session,
                consensus=ConsensusPrice(
                    round_id=confirmed,
                    at=point.as_of,
                    price=point.value,
                    sources=",".join(point.sources),
                ),
            )
        return Saved(row.id, consensus, confirmed)


def _point(row: ConsensusPrice) -> PricePoint:
    sources = tuple(s for s in row.sources.split(",") if s)
    return PricePoint(row.price, row.at, PriceKind.CONSENSUS, sources, row.currency)


def _held_by_newest_round(session: Session) -> tuple[int, PricePoint] | None:
    """The newest round's id and the price it held, when that round was suspect: the median
    of its accepted quotes, as of when it finished."""
    newest = queries.recent_rounds(session=session, limit=1)
    if not newest or newest[0].status != RoundStatus.SUSPECT.value:
        return None
    suspect = newest[0]
    assert suspect.id is not None
    accepted = queries.round_quotes(session=session, round_id=suspect.id, outcome="accepted")
    prices = [q.price for q in accepted if q.price is not None]
    if not prices:
        return None
    sources = tuple(sorted({q.source for q in accepted if q.price is not None}))
    point = PricePoint(median(prices), suspect.finished_at, PriceKind.CONSENSUS, sources)
    return suspect.id, point


@dataclass(frozen=True)
class Collected:
    """A round judged on its own quotes, not yet stored (continuity is judged at store time,
    against the store, under ``rules``)."""

    started_at: dt.datetime
    finished_at: dt.datetime
    consensus: Consensus
    lines: tuple[SourceLine, ...]
    skipped: tuple[str, ...]
    rules: ConsensusSettings


async def collect(
    *,
    client: httpx.AsyncClient,
    settings: Settings,
    clock: Clock = utc_now,
    budget_s: float | None = None,
) -> Collected:
    """Fetch and judge one round; cancelling it here stores nothing."""
    started = clock()
    results, consensus, skipped = await gather_quotes(
        client, settings, clock=clock, budget_s=budget_s
    )
    lines = merge(results, consensus)
    return Collected(started, clock(), consensus, lines, skipped, settings.consensus)


def store_round(engine: Engine, collected: Collected) -> RoundReport:
    """Write a collected round in one transaction (synchronous: once begun, it is not
    cancelled half-way; the transaction commits or rolls back whole)."""
    c = collected
    saved = save_round(
        engine,
        started_at=c.started_at,
        finished_at=c.finished_at,
        consensus=c.consensus,
        lines=c.lines,
        rules=c.rules,
    )
    return RoundReport(
        round_id=saved.round_id,
        status=saved.consensus.status,
        price=saved.consensus.price,
        sources_used=saved.consensus.sources,
        started_at=c.started_at,
        finished_at=c.finished_at,
        lines=c.lines,
        skipped=c.skipped,
        held=saved.consensus.held,
        confirmed_round=saved.confirmed_round,
    )


async def run_once(
    *,
    client: httpx.AsyncClient,
    engine: Engine,
    settings: Settings,
    clock: Clock = utc_now,
    budget_s: float | None = None,
) -> RoundReport:
    """Fetch, judge and store one round; returns what happened. Database errors propagate."""
    collected = await collect(client=client, settings=settings, clock=clock, budget_s=budget_s)
    return store_round(engine, collected)
