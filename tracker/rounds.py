"""One fetch round: ask the sources at once, judge the quotes, store everything in one go.

``run_once`` is shared by `tracker fetch`, `tracker report` (when prices are stale) and the
service; it takes the client and the engine, and builds neither.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import httpx
from sqlalchemy.engine import Engine

from tracker.clock import utc_now
from tracker.config import Settings
from tracker.consensus import decide
from tracker.models import (
    Consensus,
    ConsensusPrice,
    FetchRound,
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


def save_round(
    engine: Engine,
    *,
    started_at: dt.datetime,
    finished_at: dt.datetime,
    consensus: Consensus,
    lines: Sequence[SourceLine],
) -> int:
    """Write the round, every source's outcome and the consensus in one transaction."""
    with write_session(engine) as session:
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
        return row.id


@dataclass(frozen=True)
class Collected:
    """A judged round not yet stored."""

    started_at: dt.datetime
    finished_at: dt.datetime
    consensus: Consensus
    lines: tuple[SourceLine, ...]
    skipped: tuple[str, ...]


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
    return Collected(started, clock(), consensus, merge(results, consensus), skipped)


def store_round(engine: Engine, collected: Collected) -> RoundReport:
    """Write a collected round in one transaction (synchronous: once begun, it is not
    cancelled half-way; the transaction commits or rolls back whole)."""
    c = collected
    round_id = save_round(
        engine,
        started_at=c.started_at,
        finished_at=c.finished_at,
        consensus=c.consensus,
        lines=c.lines,
    )
    return RoundReport(
        round_id=round_id,
        status=c.consensus.status,
        price=c.consensus.price,
        sources_used=c.consensus.sources,
        started_at=c.started_at,
        finished_at=c.finished_at,
        lines=c.lines,
        skipped=c.skipped,
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
