"""Pure valuation: a ledger and a price give per-holder values and comparisons; no I/O.

A holder's amount at instant t is its headline on t's date (headline.py: the latest government
figure, else the latest reserve one), among the claims known at ``known_at``.
Values are the exact product btc × price, quantized to cents half-even. Every derived figure
carries a bound (bounds.py): a holder's share and BTC and USD per person carry its claim's;
totals, ratios and differences are derived from their terms' (the price is taken as exact).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from tracker import bounds
from tracker.clock import DAY
from tracker.headline import Excluded, State, excluded, is_sovereign, standing, visible
from tracker.models import (
    Bound,
    Claim,
    HolderInfo,
    HolderLedger,
    PriceKind,
    PricePoint,
)
from tracker.money import CENT, MAX_SUPPLY_BTC, divide, multiply, quantize, value_of

SHARE_QUANTUM = Decimal("0.0001")  # percent of supply, 4 decimals
PER_CAPITA_QUANTUM = Decimal("0.00000001")  # BTC per person, to the satoshi
RATIO_QUANTUM = Decimal("0.01")
DEFAULT_PAIR = ("united-states", "el-salvador")  # the comparison the project began with


@dataclass(frozen=True)
class Valuation:
    holder: HolderInfo
    claim: Claim | None  # the headline used; None when undisclosed or no data
    shown: Claim | None  # the claim the row cites (the headline, or the newest undisclosed one)
    value: Decimal | None
    share_of_supply_pct: Decimal | None
    btc_per_capita: Decimal | None
    usd_per_capita: Decimal | None = None  # value per person, to the cent
    holding_age_days: int | None = None  # from the cited observation's as_of to the valuation
    state: State = State.NO_DATA
    parts: tuple[Claim, ...] = ()  # reserve and subset figures shown with the headline

    @property
    def divested(self) -> bool:
        """Valued at 0 BTC: the source says the holder sold or gave up its coins."""
        return self.claim is not None and self.claim.sats == 0

    @property
    def btc(self) -> Decimal | None:
        return None if self.claim is None else self.claim.btc

    @property
    def bound(self) -> Bound | None:
        """How sure the amount is, and so its value, share and BTC per person; None when
        undisclosed. An amount with no bound recorded is shown, and counted, as exact."""
        if self.claim is None or self.claim.btc is None:
            return None
        return self.claim.bound or Bound.EXACT

    @property
    def share_of_supply_bound(self) -> Bound | None:
        return None if self.share_of_supply_pct is None else self.bound

    @property
    def btc_per_capita_bound(self) -> Bound | None:
        return None if self.btc_per_capita is None else self.bound

    @property
    def usd_per_capita_bound(self) -> Bound | None:
        return None if self.usd_per_capita is None else self.bound


@dataclass(frozen=True)
class Pair:
    a: str
    b: str
    btc_ratio: Decimal | None  # a ÷ b; None when b holds nothing
    value_difference: Decimal | None  # a − b
    btc_ratio_bound: Bound | None  # None exactly when the figure is
    value_difference_bound: Bound | None


@dataclass(frozen=True)
class Comparison:
    total_btc: Decimal
    total_value: Decimal | None
    pairs: tuple[Pair, ...]
    total_bound: Bound  # of total_btc and total_value alike
    total_share_pct: Decimal  # of the 21,000,000 BTC supply, rounded as total_bound allows


def value_holder(
    ledger: HolderLedger,
    price: PricePoint | None,
    on: dt.date,
    known_at: dt.date | None = None,
) -> Valuation:
    at = standing(visible(ledger.claims, known_at), on)
    claim = at.cited if at.state is State.VALUED else None
    if claim is None or claim.btc is None:
        shown = at.cited
        age = None if shown is None else (on - shown.as_of).days
        return Valuation(
            ledger.holder, None, shown, None, None, None,
            holding_age_days=age, state=at.state, parts=at.parts,
        )  # fmt: skip
    btc = claim.btc
    pop = ledger.holder.population
    way = bounds.rounding(claim.bound or Bound.EXACT)  # a floor's share is rounded down
    return Valuation(
        holder=ledger.holder,
        claim=claim,
        shown=claim,
        value=None if price is None else value_of(btc, price.value),
        share_of_supply_pct=quantize(divide(btc * 100, MAX_SUPPLY_BTC), SHARE_QUANTUM, way),
        btc_per_capita=None
        if not pop
        else quantize(divide(btc, Decimal(pop)), PER_CAPITA_QUANTUM, way),
        usd_per_capita=None
        if not pop or price is None
        else quantize(divide(multiply(btc, price.value), Decimal(pop)), CENT, way),
        holding_age_days=(on - claim.as_of).days,
        state=State.VALUED,
        parts=at.parts,
    )


_STATE_ORDER = {State.VALUED: 0, State.UNDISCLOSED: 1, State.NO_DATA: 2}


def value_all(
    ledgers: list[HolderLedger],
    price: PricePoint | None,
    on: dt.date,
    known_at: dt.date | None = None,
) -> list[Valuation]:
    """Every sovereign valued on ``on`` with what was known on ``known_at``: the largest
    holding first, then the undisclosed, then those with no data."""
    rows = [
        value_holder(ledger, price, on, known_at)
        for ledger in ledgers
        if is_sovereign(ledger, visible(ledger.claims, known_at))
    ]
    return sorted(
        rows, key=lambda v: (_STATE_ORDER[v.state], -(v.btc or 0), v.holder.name.casefold())
    )


def excluded_all(
    ledgers: list[HolderLedger], on: dt.date, known_at: dt.date | None = None
) -> list[Excluded]:
    """The figures other trackers count and this one does not, largest first, with why."""
    found = [excluded(lg, visible(lg.claims, known_at), on) for lg in ledgers]
    return sorted((e for e in found if e is not None), key=lambda e: (-(e.claim.btc or 0), e.slug))


def compare(valuations: list[Valuation], pair: tuple[str, str] | None = None) -> Comparison:
    """Totals over the valued holders, and one pair by ratio and difference: ``pair``, ``a ÷ b``
    as given; by default the U.S. and El Salvador, or the only two valued holders (larger
    first). No pair when either is not valued."""
    disclosed = [v for v in valuations if v.btc is not None]
    total_btc = sum((v.btc for v in disclosed if v.btc is not None), Decimal(0))
    values = [v.value for v in disclosed]
    total_value = (
        None
        if any(x is None for x in values)
        else sum((x for x in values if x is not None), Decimal(0))
    )
    total_bound = bounds.total(v.bound for v in disclosed if v.bound is not None)
    by_slug = {v.holder.slug: v for v in disclosed}
    if pair is None and len(disclosed) == 2:
        big, small = sorted(disclosed, key=lambda v: (-(v.btc or 0), v.holder.slug))
        pair = (big.holder.slug, small.holder.slug)
    a, b = (by_slug.get(slug) for slug in pair or DEFAULT_PAIR)
    pairs = [] if a is None or b is None else [_pair(a, b)]
    return Comparison(
        total_btc=total_btc,
        total_value=total_value,
        pairs=tuple(pairs),
        total_bound=total_bound,
        total_share_pct=quantize(
            divide(total_btc * 100, MAX_SUPPLY_BTC), SHARE_QUANTUM, bounds.rounding(total_bound)
        ),
    )


def _pair(big: Valuation, small: Valuation) -> Pair:
    """``big`` against ``small``: the ratio of amounts and the difference of values."""
    assert big.btc is not None and small.btc is not None
    assert big.bound is not None and small.bound is not None
    ratio_bound = bounds.ratio(big.bound, small.bound)
    ratio = (
        None
        if small.btc == 0
        else quantize(divide(big.btc, small.btc), RATIO_QUANTUM, bounds.rounding(ratio_bound))
    )
    diff = None if big.value is None or small.value is None else big.value - small.value
    return Pair(
        big.holder.slug, small.holder.slug, ratio, diff,
        btc_ratio_bound=None if ratio is None else ratio_bound,
        value_difference_bound=None if diff is None else bounds.difference(big.bound, small.bound),
    )  # fmt: skip


@dataclass(frozen=True)
class PriceChoice:
    point: PricePoint
    age: dt.timedelta
    stale: bool


def covers_until(point: PricePoint) -> dt.datetime:
    """A daily close is stamped 00:00 of its day but describes the whole day."""
    return point.as_of + (DAY if point.kind is PriceKind.DAILY_CLOSE else dt.timedelta(0))


def judge(point: PricePoint, at: dt.datetime, *, max_age: dt.timedelta) -> PriceChoice:
    """The price's age at ``at``; stale once ``at`` is more than ``max_age`` past what it covers."""
    if point.kind is PriceKind.WHAT_IF:
        return PriceChoice(point, dt.timedelta(0), False)
    age = max(at - point.as_of, dt.timedelta(0))
    return PriceChoice(point, age, at - covers_until(point) > max_age)


HALF_DAY = DAY / 2


def nearest_close_day(instant: dt.datetime) -> dt.date:
    """The day whose close is nearest to ``instant``: a close is the price at the midnight
    (UTC) that ends its day, so before noon that is the day before ``instant``'s."""
    return instant.date() if instant.time() >= dt.time(12) else instant.date() - DAY


def judge_past(point: PricePoint, since: dt.datetime, *, max_age: dt.timedelta) -> PriceChoice:
    """A price for the past side of a change. A past day's close is the right price for that
    day: it is fresh when it is the close nearest to ``since`` (at most half a day away),
    whatever the live-price age; a consensus is judged by ``max_age`` as always."""
    if point.kind is not PriceKind.DAILY_CLOSE:
        return judge(point, since, max_age=max_age)
    age = max(since - point.as_of, dt.timedelta(0))
    return PriceChoice(point, age, abs(since - covers_until(point)) > HALF_DAY)


# --- changes over time, profit and loss, competing estimates ---------------------------------

PCT_QUANTUM = Decimal("0.01")
HORIZONS: tuple[tuple[str, dt.timedelta], ...] = (
    ("24h", dt.timedelta(hours=24)),
    ("7d", dt.timedelta(days=7)),
    ("30d", dt.timedelta(days=30)),
    ("1y", dt.timedelta(days=365)),
)


def pct_change(old: Decimal | None, new: Decimal | None) -> Decimal | None:
    """(new − old) ÷ old in percent, half-even to 0.01; None when it is undefined."""
    if old is None or new is None or old == 0:
        return None
    return quantize(divide(multiply(new - old, Decimal(100)), old), PCT_QUANTUM)


@dataclass(frozen=True)
class HolderChange:
    value_then: Decimal | None
    value_change: Decimal | None
    value_change_pct: Decimal | None
    value_change_bound: Bound | None = None  # None exactly when the figure is
    value_change_pct_bound: Bound | None = None


def _change_bounds(
    now: Valuation, then: Valuation | None, diff: Decimal | None, pct: Decimal | None
) -> tuple[Bound | None, Bound | None]:
    """Bounds of a holder's value change and its percent. One holding at two prices changes by
    its amount times the price change, and its percent is the price's, exact; two holdings
    change as a difference does, and their percent (new ÷ old − 1) as a ratio does."""
    if diff is None or then is None or now.bound is None or then.bound is None:
        return None, None
    if now.claim == then.claim:
        return bounds.scaled(now.bound, diff), None if pct is None else Bound.EXACT
    pct_bound = None if pct is None else bounds.ratio(now.bound, then.bound)
    return bounds.difference(now.bound, then.bound), pct_bound


@dataclass(frozen=True)
class Change:
    """How price and values moved between ``since`` and the report's instant."""

    label: str
    since: dt.datetime
    price_then: PriceChoice | None
    price_change: Decimal | None
    price_change_pct: Decimal | None
    holders: dict[str, HolderChange]


def change(
    label: str,
    since: dt.datetime,
    *,
    now_price: PriceChoice | None,
    then_price: PriceChoice | None,
    now_values: list[Valuation],
    then_values: list[Valuation],
) -> Change:
    """Compare two valuations; each side uses its own holdings (the ledger as of its date).

    A stale price on either side makes the change unknown (None), not zero: two instants
    valued at the same old close would otherwise read as "no change". ``now_price`` is judged
    by ``judge``, ``then_price`` by ``judge_past`` (a past day's close is not stale for it).
    """
    fresh = (
        now_price is not None and then_price is not None
        and not now_price.stale and not then_price.stale
    )  # fmt: skip
    p_now = now_price.point.value if fresh and now_price is not None else None
    p_then = then_price.point.value if fresh and then_price is not None else None
    before = {v.holder.slug: v for v in then_values}
    holders = {}
    for v in now_values:
        past = before.get(v.holder.slug)
        old = past.value if fresh and past is not None else None
        new = v.value if fresh else None
        diff = None if old is None or new is None else new - old
        pct = pct_change(old, new)
        holders[v.holder.slug] = HolderChange(old, diff, pct, *_change_bounds(v, past, diff, pct))
    return Change(
        label=label,
        since=since,
        price_then=then_price,
        price_change=None if p_now is None or p_then is None else p_now - p_then,
        price_change_pct=pct_change(p_then, p_now),
        holders=holders,
    )


def unrealized_pnl(v: Valuation) -> Decimal | None:
    """Value minus the cost basis of the claim used, when the claim has one."""
    if v.claim is None or v.claim.cost_basis_usd is None or v.value is None:
        return None
    return v.value - quantize(v.claim.cost_basis_usd, CENT)


@dataclass(frozen=True)
class Estimate:
    claim: Claim
    value: Decimal | None
    used: bool  # the claim the main valuation uses


def all_estimates(ledger: HolderLedger, price: PricePoint | None, on: dt.date) -> list[Estimate]:
    """Every claim on or before ``on``, newest first, each valued at the same price."""
    used = standing(visible(ledger.claims, None), on).cited
    seen = sorted((c for c in ledger.claims if c.as_of <= on), key=lambda c: (c.as_of, c.id or 0))
    return [
        Estimate(
            claim=c,
            value=None if c.btc is None or price is None else value_of(c.btc, price.value),
            used=c == used,
        )
        for c in reversed(seen)
    ]
