"""Gather what a report needs from the store: the holders' ledgers and the price to use."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlmodel import Session

from tracker import holdings, store, valuation
from tracker.models import Bound, PriceKind, PricePoint
from tracker.report import Report, human_age, iso, price_text
from tracker.timeline import missing_days
from tracker.valuation import PriceChoice, covers_until, end_of_day, judge


def choose_price(
    *, session: Session, at: dt.datetime, max_age: dt.timedelta, currency: str = "USD"
) -> PriceChoice | None:
    """The newest consensus at or before ``at`` when it is within ``max_age``; otherwise the
    fresher of that consensus and the newest daily close on or before ``at``'s date."""
    candidates: list[PricePoint] = []
    consensus = store.latest_consensus(session=session, at=at, currency=currency)
    if consensus is not None:
        point = PricePoint(
            value=consensus.price,
            as_of=consensus.at,
            kind=PriceKind.CONSENSUS,
            sources=tuple(s for s in consensus.sources.split(",") if s),
            currency=currency,
        )
        if at - consensus.at <= max_age:
            return judge(point, at, max_age=max_age)
        candidates.append(point)
    # A day's close is known only once the day ends (``--at DATE`` is that last second);
    # an instant inside a day uses the day before, never a close from its own future.
    last_closed = at.date() if at >= end_of_day(at.date()) else at.date() - dt.timedelta(days=1)
    daily = store.latest_daily_close(session=session, on_or_before=last_closed, currency=currency)
    if daily is not None:
        candidates.append(
            PricePoint(
                value=daily.close,
                as_of=dt.datetime.combine(daily.date, dt.time(0), tzinfo=dt.UTC),
                kind=PriceKind.DAILY_CLOSE,
                sources=(daily.source,),
                currency=currency,
            )
        )
    if not candidates:
        return None
    return judge(max(candidates, key=covers_until), at, max_age=max_age)


def assemble_report(
    *,
    session: Session,
    at: dt.datetime | None,
    now: dt.datetime,
    max_price_age: dt.timedelta,
    what_if: Decimal | None = None,
    warnings: list[str] | None = None,
    all_estimates: bool = False,
) -> Report:
    """A report at ``at`` (None: now), valued at the stored price or a what-if price."""
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
        and store.latest_consensus(session=session, at=instant) is None
    ):
        notes.append("no live price has been fetched yet: using the newest stored daily close")
    ledgers = holdings.load_ledgers(session=session)
    point = None if price is None else price.point
    valuations = valuation.value_all(ledgers, point, instant.date())
    changes = []
    if what_if is None:
        for label, span in valuation.HORIZONS:
            since = instant - span
            then = choose_price(session=session, at=since, max_age=max_price_age)
            then_values = valuation.value_all(
                ledgers, None if then is None else then.point, since.date()
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
    for v in valuations:
        if v.claim is None:
            notes.append(f"{v.holder.name}: amount undisclosed as of {instant.date()}, not zero")
        elif v.claim.bound is Bound.AT_LEAST:
            notes.append(
                f"{v.holder.name}: the source says at least this much; the value is a floor"
            )
    return Report(
        generated_at=now,
        at=at,
        price=price,
        valuations=valuations,
        comparison=valuation.compare(valuations),
        warnings=notes,
        changes=changes,
        estimates=estimates,
    )


GAP_WINDOW = dt.timedelta(days=365)


def gather_status(
    *, session: Session, now: dt.datetime, max_price_age: dt.timedelta, source_names: list[str]
) -> dict[str, Any]:
    """What `tracker status` shows; ``status`` is fresh, stale, degraded or never."""
    rounds = store.recent_rounds(session=session, limit=10)
    consensus = store.latest_consensus(session=session, at=now)
    newest_daily = store.newest_daily_date(session=session)
    age = None if consensus is None else now - consensus.at
    if not rounds:
        state = "never"
    elif rounds[0].status != "ok":
        state = "degraded"
    elif age is None or age > max_price_age:
        state = "stale"
    else:
        state = "fresh"
    health = [store.source_health(session=session, source=n) for n in source_names]
    return {
        "status": state,
        "checked_at": iso(now),
        "consensus": None
        if consensus is None
        else {
            "price": price_text(consensus.price),
            "at": iso(consensus.at),
            "sources": consensus.sources.split(","),
            "age_seconds": int(age.total_seconds()) if age is not None else None,
            "max_age_seconds": int(max_price_age.total_seconds()),
        },
        "last_rounds": [
            {
                "round_id": r.id,
                "started_at": iso(r.started_at),
                "status": r.status,
                "duration_ms": round((r.finished_at - r.started_at).total_seconds() * 1000),
            }
            for r in rounds
        ],
        "sources": [
            {
                "name": h.source,
                "asked": h.asked,
                "accepted": h.accepted,
                "last_success": None if h.last_success is None else iso(h.last_success),
                "last_error": h.last_error,
            }
            for h in health
        ],
        "daily_prices": {
            "newest": None if newest_daily is None else newest_daily.isoformat(),
            # bounded to a year, so status costs the same on a ten-year database
            "gaps": [
                str(gap)
                for gap in missing_days(
                    conn=session.connection(), start=now.date() - GAP_WINDOW, today=now.date()
                )
            ],
            "gaps_checked_since": (now.date() - GAP_WINDOW).isoformat(),
        },
    }
