"""Build `tracker report` from the store, typed and unformatted: a ``Report`` (the valuation of
every sovereign at an instant, with what was known at a date)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlmodel import Session

from tracker import holdings, valuation
from tracker.clock import DAY, end_of_day, human_age, start_of_day
from tracker.errors import InputError
from tracker.headline import Excluded, State
from tracker.models import (
    Bound,
    ConsensusPrice,
    HolderLedger,
    PriceKind,
    PricePoint,
)
from tracker.money import sats_to_btc
from tracker.store import queries
from tracker.valuation import (
    Change,
    Comparison,
    Estimate,
    PriceChoice,
    Valuation,
    covers_until,
    judge,
    judge_past,
)

CHECK_SHOWN_FOR = dt.timedelta(days=7)  # a check older than this at the report's instant is not


@dataclass(frozen=True)
class Onchain:
    """A holder's newest check of its claim against the chain (tracker verify)."""

    btc: Decimal | None  # the chain's total over the holder's addresses
    bound: Bound | None  # at_least unless the holder publishes its full list
    height: int | None
    checked_at: dt.datetime
    addresses: int
    explorers: tuple[str, ...]  # those that agreed
    status: str  # verified, disagree, unverified
    claim_difference_btc: Decimal | None  # chain − claim
    verdict: str | None  # matches, differs; None with nothing to compare
    reason: str | None = None

    @classmethod
    def of(cls, row: Any) -> Onchain:
        """From a ``VerifyCheck`` row."""
        return cls(
            btc=None if row.chain_sats is None else sats_to_btc(row.chain_sats),
            bound=None if row.chain_bound is None else Bound(row.chain_bound),
            height=row.height,
            checked_at=row.finished_at,
            addresses=row.addresses,
            explorers=tuple(e for e in row.explorers.split(",") if e),
            status=row.status,
            claim_difference_btc=None
            if row.difference_sats is None
            else sats_to_btc(row.difference_sats),
            verdict=row.verdict,
            reason=row.reason,
        )


@dataclass(frozen=True)
class Report:
    generated_at: dt.datetime
    at: dt.datetime | None  # None means "now"
    price: PriceChoice | None
    valuations: list[Valuation]
    comparison: Comparison
    warnings: list[str] = field(default_factory=list)
    currency: str = "USD"
    changes: list[Change] = field(default_factory=list)
    estimates: dict[str, list[Estimate]] | None = None  # --all-estimates
    series_ends: dt.date | None = None  # the bundled series' last day, when the price is from it
    max_holding_age_days: int = 180  # report.max_holding_age_days
    as_known_at: dt.date | None = None  # only what was published (or recorded) by then
    excluded: list[Excluded] = field(default_factory=list)  # listed elsewhere, not counted
    onchain: dict[str, Onchain] = field(default_factory=dict)  # slug: its newest recent check
    schema_version: int = 2  # of the JSON: 2 is the sovereign ledger's (DESIGN.md)

    def holding_stale(self, v: Valuation) -> bool | None:
        """Whether ``v``'s cited observation is older than ``max_holding_age_days``."""
        age = v.holding_age_days
        return None if age is None else age > self.max_holding_age_days


def _consensus_point(consensus: ConsensusPrice, currency: str) -> PricePoint:
    return PricePoint(
        value=consensus.price,
        as_of=consensus.at,
        kind=PriceKind.CONSENSUS,
        sources=tuple(s for s in consensus.sources.split(",") if s),
        currency=currency,
    )


def choose_price(
    *, session: Session, at: dt.datetime, max_age: dt.timedelta, currency: str = "USD"
) -> PriceChoice | None:
    """The newest consensus at or before ``at`` when it is within ``max_age``; otherwise the
    fresher of that consensus and the newest daily close on or before ``at``'s date."""
    candidates: list[PricePoint] = []
    consensus = queries.latest_consensus(session=session, at=at, currency=currency)
    if consensus is not None:
        point = _consensus_point(consensus, currency)
        if at - consensus.at <= max_age:
            return judge(point, at, max_age=max_age)
        candidates.append(point)
    daily = _daily_point(session, last_closed_day(at), currency)
    if daily is not None:
        candidates.append(daily)
    if not candidates:
        return None
    return judge(max(candidates, key=covers_until), at, max_age=max_age)


def last_closed_day(at: dt.datetime) -> dt.date:
    """A day's close is known only once the day ends (``--at DATE`` is that last second);
    an instant inside a day has the day before, never a close from its own future."""
    return at.date() if at >= end_of_day(at.date()) else at.date() - DAY


def _daily_point(session: Session, on_or_before: dt.date, currency: str) -> PricePoint | None:
    daily = queries.latest_daily_close(
        session=session, on_or_before=on_or_before, currency=currency
    )
    if daily is None:
        return None
    return PricePoint(
        value=daily.close,
        as_of=start_of_day(daily.date),
        kind=PriceKind.DAILY_CLOSE,
        sources=(daily.source,),
        currency=currency,
    )


def choose_past_price(
    *,
    session: Session,
    since: dt.datetime,
    known_at: dt.datetime,
    max_age: dt.timedelta,
    currency: str = "USD",
) -> PriceChoice | None:
    """The price a change compares with at ``since``: a consensus within ``max_age`` before it,
    else the daily close nearest to it among those known at ``known_at`` (the report's
    instant), judged by ``judge_past``."""
    consensus = queries.latest_consensus(session=session, at=since, currency=currency)
    if consensus is not None and since - consensus.at <= max_age:
        return judge(_consensus_point(consensus, currency), since, max_age=max_age)
    day = min(valuation.nearest_close_day(since), last_closed_day(known_at))
    daily = _daily_point(session, day, currency)
    if daily is not None:
        return judge_past(daily, since, max_age=max_age)
    if consensus is not None:
        return judge(_consensus_point(consensus, currency), since, max_age=max_age)
    return None


def assemble_report(
    *,
    session: Session,
    at: dt.datetime | None,
    now: dt.datetime,
    max_price_age: dt.timedelta,
    what_if: Decimal | None = None,
    warnings: list[str] | None = None,
    all_estimates: bool = False,
    max_holding_age_days: int = 180,
    only: tuple[str, ...] | None = None,
    pair: tuple[str, str] | None = None,
    as_known_at: dt.date | None = None,
) -> Report:
    """A report at ``at`` (None: now), valued at the stored price or a what-if price, from the
    observations known on ``as_known_at`` (None: all of them)."""
    instant = at or now
    notes = list(warnings or [])
    if what_if is not None:
        price: PriceChoice | None = judge(
            PricePoint(value=what_if, as_of=instant, kind=PriceKind.WHAT_IF, sources=()),
            instant,
            max_age=max_price_age,
        )
    else:
        price = choose_price(session=session, at=instant, max_age=max_price_age)
    if price is None:
        notes.append("no price is stored on or before this date: values are not shown")
    elif price.stale:
        notes.append(
            f"the price is stale ({human_age(price.age)} old): run `tracker fetch` for a live "
            "price or `tracker backfill` for recent daily closes"
        )
    if (
        price is not None
        and price.point.kind is PriceKind.DAILY_CLOSE
        and at is None
        and queries.latest_consensus(session=session, at=instant) is None
    ):
        notes.append("no live price has been fetched yet: using the newest stored daily close")
    series_ends = bundled_end(session=session, price=price)
    if series_ends is not None and instant.date() > series_ends:
        notes.append(
            f"the bundled daily series ends on {series_ends}, before {instant.date()}: "
            "`tracker backfill` fetches the later daily closes"
        )
    ledgers = narrow(holdings.load_ledgers(session=session), only, pair)
    point = None if price is None else price.point
    valuations = valuation.value_all(ledgers, point, instant.date(), as_known_at)
    changes = []
    if what_if is None:
        for label, span in valuation.HORIZONS:
            since = instant - span
            then = choose_past_price(
                session=session, since=since, known_at=instant, max_age=max_price_age
            )
            then_values = valuation.value_all(
                ledgers, None if then is None else then.point, since.date(), as_known_at
            )
            changes.append(
                valuation.change(
                    label, since, now_price=price, then_price=then,
                    now_values=valuations, then_values=then_values,
                )
            )  # fmt: skip
    estimates = None
    if all_estimates:
        estimates = {
            lg.holder.slug: valuation.all_estimates(lg, point, instant.date()) for lg in ledgers
        }
    held = {v.holder.slug: v for v in valuations}
    if pair is not None and any(slug not in held or held[slug].btc is None for slug in pair):
        notes.append(f"no comparison of {pair[0]} with {pair[1]}: an amount is not known")
    notes += holder_warnings(valuations, instant.date(), max_holding_age_days)
    onchain = recent_checks(session, ledgers, instant)
    for v in valuations:
        check = onchain.get(v.holder.slug)
        if check is not None and check.verdict == "differs":
            notes.append(
                f"{v.holder.name}: the chain holds {marked_btc(check)} BTC at height "
                f"{check.height}, {check.claim_difference_btc:+} BTC from the claim "
                "(`tracker verify -v` shows each address)"
            )
    return Report(
        generated_at=now,
        at=at,
        price=price,
        valuations=valuations,
        comparison=valuation.compare(valuations, pair),
        warnings=notes,
        changes=changes,
        estimates=estimates,
        series_ends=series_ends,
        max_holding_age_days=max_holding_age_days,
        as_known_at=as_known_at,
        excluded=valuation.excluded_all(ledgers, instant.date(), as_known_at),
        onchain=onchain,
    )


def recent_checks(
    session: Session, ledgers: list[HolderLedger], instant: dt.datetime
) -> dict[str, Onchain]:
    """Each holder's newest check when it finished within ``CHECK_SHOWN_FOR`` before the
    report's instant (a check describes the chain when it ran, not a date long before)."""
    from tracker.store.chain_queries import latest_checks

    slug_of = {lg.holder.id: lg.holder.slug for lg in ledgers}
    shown = {}
    for holder_id, row in latest_checks(session=session).items():
        if holder_id in slug_of and dt.timedelta(0) <= instant - row.finished_at <= CHECK_SHOWN_FOR:
            shown[slug_of[holder_id]] = Onchain.of(row)
    return shown


def marked_btc(check: Onchain) -> str:
    mark = "≥" if check.bound is Bound.AT_LEAST else ""
    return "?" if check.btc is None else f"{mark}{check.btc:,}"


def holder_warnings(valuations: list[Valuation], on: dt.date, max_age_days: int) -> list[str]:
    """One line per kind of caveat, naming the holders it concerns: old figures, floors,
    amounts undisclosed and holders without data (neither of the last two is zero)."""
    old = [
        f"{v.holder.name} ({v.shown.as_of})"
        for v in valuations
        if v.shown is not None and (v.holding_age_days or 0) > max_age_days
    ]
    floors = [v.holder.name for v in valuations if v.bound is Bound.AT_LEAST]
    hidden = [v.holder.name for v in valuations if v.state is State.UNDISCLOSED]
    empty = [v.holder.name for v in valuations if v.state is State.NO_DATA]
    notes = []
    if old:
        notes.append(f"older than {max_age_days} days, newer figures may exist: {', '.join(old)}")
    if floors:
        notes.append(
            f"the source says at least this much, the value is a floor: {', '.join(floors)}"
        )
    if hidden:
        notes.append(f"amount undisclosed as of {on}, not zero: {', '.join(hidden)}")
    if empty:
        notes.append(f"no observation on or before {on} (no data, not zero): {', '.join(empty)}")
    return notes


def narrow(
    ledgers: list[HolderLedger], only: tuple[str, ...] | None, pair: tuple[str, str] | None
) -> list[HolderLedger]:
    """The ledgers of the holders ``only`` names (all when None), after checking that every
    slug of ``only`` and ``pair`` is known, and that the pair is among those shown."""
    known = {lg.holder.slug: lg for lg in ledgers}
    names = ", ".join(known) or "none"
    for option, slugs in (("--holder", only or ()), ("--compare", pair or ())):
        for slug in slugs:
            if slug not in known:
                raise InputError(f"{option}: unknown holder {slug!r} (known: {names})")
    if pair is not None and pair[0] == pair[1]:
        raise InputError(f"--compare: give two different holders, not {pair[0]!r} twice")
    if only is None:
        return ledgers
    if pair is not None and not set(pair) <= set(only):
        raise InputError("--compare: both holders must be among those given with --holder")
    return [known[slug] for slug in known if slug in only]


def bundled_end(*, session: Session, price: PriceChoice | None) -> dt.date | None:
    """The last day of the bundled series when ``price`` is one of its closes, else None."""
    from tracker.daily.bundled import BUNDLED_SOURCE

    if price is None or price.point.kind is not PriceKind.DAILY_CLOSE:
        return None
    if price.point.sources != (BUNDLED_SOURCE,):
        return None
    return queries.newest_daily_date(
        conn=session.connection(), source=BUNDLED_SOURCE, currency=price.point.currency
    )
