"""Checking holders' claims against the chain (DESIGN.md, "On-chain verification").

For each holder with live addresses, every enabled explorer reads the tip height, then every
address's confirmed balance, then the tip again (a tip that moved gets one more pass); the
reads are judged (``tracker.chain_verdict``), the agreed total is compared with the holder's
headline claim on the check's day, and the check is stored in one transaction with every
explorer's per-address answer, like a price round.

``run_checks(settings, engine, holders)`` is the whole of it (the CLI and the service call it;
it runs its own event loop, so the service calls it from a worker thread);
``latest_checks(session)`` is each holder's newest check, for the report and status.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlmodel import Session

from tracker.chain_models import CheckStatus, Verdict, VerifyAnswer, VerifyCheck
from tracker.chain_verdict import (
    OK,
    AddressAnswer,
    Differing,
    ExplorerRead,
    compare,
    judge,
)
from tracker.clock import utc_now
from tracker.config import Settings
from tracker.errors import InputError, SourceError
from tracker.explorers import Explorer, make_explorers
from tracker.models import Bound, Claim
from tracker.store import chain_queries
from tracker.store.engine import read_session, write_session

__all__ = ["CheckResult", "latest_checks", "run_checks"]

TIP = ""  # VerifyAnswer.address of an explorer's tip row


@dataclass(frozen=True)
class Plan:
    """What a check of one holder needs from the store, read before any request is made."""

    holder_id: int
    slug: str
    name: str
    addresses: tuple[str, ...]
    complete: bool  # holders.addresses_complete: the chain's total is exact, not at least
    claim: Claim | None  # the headline claim on the day the plan was made


@dataclass(frozen=True)
class CheckResult:
    """One stored check, as the CLI shows it."""

    check_id: int
    holder: str  # slug
    name: str
    started_at: dt.datetime
    finished_at: dt.datetime
    status: CheckStatus
    height: int | None
    chain_sats: int | None
    chain_bound: Bound | None
    addresses: tuple[str, ...]
    explorers: tuple[str, ...]  # the agreeing ones
    asked: tuple[str, ...]  # every explorer asked
    claim: Claim | None
    verdict: Verdict | None
    difference_sats: int | None  # chain - claim
    reason: str | None
    reads: tuple[ExplorerRead, ...]
    differing: tuple[Differing, ...] = ()

    @property
    def ok(self) -> bool:
        """Verified and not differing from the claim (nothing to compare is not a failure)."""
        return self.status is CheckStatus.VERIFIED and self.verdict is not Verdict.DIFFERS


def latest_checks(session: Session) -> dict[int, VerifyCheck]:
    """Each holder's newest check by holder id (report and status show it)."""
    return chain_queries.latest_checks(session=session)


def run_checks(
    settings: Settings, engine: Engine, holders: Sequence[str] | None = None
) -> list[CheckResult]:
    """Check each holder with addresses (of ``holders``, slugs, when given), one after another,
    every enabled explorer in parallel within its rate; each check is stored as it finishes.

    Raises InputError for a slug that is not a live holder. Returns [] when no holder (of
    those asked) has addresses.
    """
    plans = plan_checks(engine, holders, today=utc_now().date())
    if not plans:
        return []
    return asyncio.run(_check_all(settings, engine, plans))


def plan_checks(engine: Engine, holders: Sequence[str] | None, *, today: dt.date) -> list[Plan]:
    from tracker.addresses import live_addresses
    from tracker.holdings import load_ledgers
    from tracker.store.queries import get_holder
    from tracker.valuation import value_holder

    with read_session(engine) as session:
        if holders is not None:
            for slug in holders:
                if get_holder(session=session, slug=slug) is None:
                    raise InputError(
                        f"--holder {slug}: no such holder (see `tracker holders list`)"
                    )
        rows = chain_queries.holders_with_addresses(session=session, slugs=holders)
        ledgers = {ledger.holder.id: ledger for ledger in load_ledgers(session=session)}
        plans: list[Plan] = []
        for row in rows:
            assert row.id is not None
            addresses = live_addresses(session, row.id)
            ledger = ledgers.get(row.id)
            claim = None if ledger is None else value_holder(ledger, None, today).claim
            plans.append(
                Plan(
                    holder_id=row.id,
                    slug=row.slug,
                    name=row.name,
                    addresses=tuple(dict.fromkeys(a.address for a in addresses)),
                    complete=row.addresses_complete,
                    claim=claim,
                )
            )
    return plans


async def _check_all(settings: Settings, engine: Engine, plans: list[Plan]) -> list[CheckResult]:
    from tracker.sources.http import make_client

    results: list[CheckResult] = []
    async with make_client() as client:
        explorers = make_explorers(settings.explorers, settings.fetch, client)
        by_name = {e.name: e for e in explorers}
        for plan in plans:
            started = utc_now()
            reads = await asyncio.gather(*(read_explorer(e, plan.addresses) for e in explorers))
            lagging = behind(reads, plan.addresses)
            if lagging:  # a new block seen by one explorer first: the others read once more
                again = await asyncio.gather(
                    *(read_explorer(by_name[name], plan.addresses) for name in lagging)
                )
                fresh = {r.explorer: r for r in again}
                reads = [fresh.get(r.explorer, r) for r in reads]
            finished = utc_now()
            saved = await asyncio.to_thread(
                save_check, engine, settings, plan, reads, started, finished
            )
            results.append(saved)
    return results


def behind(reads: Sequence[ExplorerRead], addresses: Sequence[str]) -> list[str]:
    """The explorers that read every address steadily at a lower tip than another did."""
    steady = [r for r in reads if r.complete(addresses) and r.height is not None]
    top = max((r.height for r in steady if r.height is not None), default=None)
    return [
        r.explorer for r in steady if r.height is not None and top is not None and r.height < top
    ]


async def read_explorer(explorer: Explorer, addresses: Sequence[str]) -> ExplorerRead:
    """Tip, every address's balance (concurrently, within the explorer's rate), tip again;
    once more when the tip moved. Never raises (except for cancellation)."""
    start = time.monotonic()
    moved: list[str] = []
    answers: tuple[AddressAnswer, ...] = ()
    for passes in (1, 2):
        explorer.gave_up = None
        try:
            before, _ = await explorer.tip_height()
        except SourceError as e:
            reason = f"tip height: {e.reason}"
            skipped = _skipped(explorer.name, addresses, f"not asked: {reason}")
            return ExplorerRead(explorer.name, None, e.outcome, skipped, reason, _ms(start), passes)
        answers = tuple(await asyncio.gather(*(_answer(explorer, a) for a in addresses)))
        failed = [a for a in answers if a.outcome not in (OK, "invalid_address", "skipped")]
        if failed:  # the explorer failed (not one address): its reads stop here
            first = failed[0]
            reason = f"{first.address}: {first.reason}"
            return ExplorerRead(
                explorer.name, None, first.outcome, answers, reason, _ms(start), passes
            )
        try:
            after, _ = await explorer.tip_height()
        except SourceError as e:
            reason = f"tip height after its reads: {e.reason}"
            return ExplorerRead(explorer.name, None, e.outcome, answers, reason, _ms(start), passes)
        if before == after:
            return ExplorerRead(explorer.name, before, OK, answers, None, _ms(start), passes)
        moved.append(f"{before} to {after}")
    reason = "the tip moved during its reads (" + ", then ".join(moved) + ")"
    return ExplorerRead(explorer.name, None, "tip_moved", answers, reason, _ms(start), len(moved))


async def _answer(explorer: Explorer, address: str) -> AddressAnswer:
    start = time.monotonic()
    try:
        sats, attempts = await explorer.balance(address)
    except SourceError as e:
        if e.outcome not in ("invalid_address", "skipped") and explorer.gave_up is None:
            # the explorer is failing, not the address: its other reads are not made
            explorer.gave_up = f"not asked: {explorer.name} failed at {address} ({e.outcome})"
        return AddressAnswer(
            explorer.name, address, None, e.outcome, e.reason, _ms(start), e.attempts
        )
    return AddressAnswer(explorer.name, address, sats, OK, None, _ms(start), attempts)


def _skipped(name: str, addresses: Sequence[str], reason: str) -> tuple[AddressAnswer, ...]:
    return tuple(AddressAnswer(name, a, None, "skipped", reason, None, 0) for a in addresses)


def save_check(
    engine: Engine,
    settings: Settings,
    plan: Plan,
    reads: Sequence[ExplorerRead],
    started: dt.datetime,
    finished: dt.datetime,
) -> CheckResult:
    """Judge the reads, compare with the claim, and store the check with every answer in one
    transaction."""
    judged = judge(reads, plan.addresses, settings.verify.min_explorers)
    claim = plan.claim
    claim_sats = None if claim is None else claim.sats
    compared = compare(
        judged.chain_sats, claim_sats, settings.verify.tolerance_btc, complete=plan.complete
    )
    bound = None
    if judged.chain_sats is not None:
        bound = Bound.EXACT if plan.complete else Bound.AT_LEAST
    reason = judged.reason or compared.reason
    check = VerifyCheck(
        holder_id=plan.holder_id,
        started_at=started,
        finished_at=finished,
        status=judged.status.value,
        height=judged.height,
        chain_sats=judged.chain_sats,
        chain_bound=None if bound is None else bound.value,
        addresses=len(plan.addresses),
        explorers=",".join(judged.explorers),
        claim_observation_id=None if claim is None else claim.id,
        claim_sats=claim_sats,
        claim_bound=None if claim is None or claim.bound is None else claim.bound.value,
        verdict=None if compared.verdict is None else compared.verdict.value,
        difference_sats=compared.difference_sats,
        reason=reason,
    )
    answers: list[VerifyAnswer] = []
    for read in reads:
        answers.append(
            VerifyAnswer(
                check_id=0,
                explorer=read.explorer,
                address=TIP,
                height=read.height,
                outcome=read.outcome,
                reason=read.reason,
                latency_ms=read.latency_ms,
                attempts=read.attempts,
            )
        )
        answers.extend(
            VerifyAnswer(
                check_id=0,
                explorer=read.explorer,
                address=a.address,
                sats=a.sats,
                height=read.height,
                outcome=a.outcome,
                reason=a.reason,
                latency_ms=a.latency_ms,
                attempts=a.attempts,
            )
            for a in read.answers
        )
    with write_session(engine) as session:
        row = chain_queries.insert_check(session=session, check=check, answers=answers)
        assert row.id is not None
        check_id = row.id
    return CheckResult(
        check_id=check_id,
        holder=plan.slug,
        name=plan.name,
        started_at=started,
        finished_at=finished,
        status=judged.status,
        height=judged.height,
        chain_sats=judged.chain_sats,
        chain_bound=bound,
        addresses=plan.addresses,
        explorers=judged.explorers,
        asked=tuple(r.explorer for r in reads),
        claim=claim,
        verdict=compared.verdict,
        difference_sats=compared.difference_sats,
        reason=reason,
        reads=tuple(reads),
        differing=judged.differing,
    )


def _ms(start: float) -> int:
    return round((time.monotonic() - start) * 1000)
