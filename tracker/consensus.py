"""Consensus: one round's quotes in, one price (or none) out, and a verdict on every quote.

``decide(quotes, rules=..., now=...)`` is pure: no I/O, no clock (the caller passes ``now``, a
timezone-aware instant), and no dependence on the caller's decimal context. It never raises
for a bad quote; a bad quote gets a verdict saying why. ``continuity(consensus, previous=...,
held=..., rules=...)`` then applies rule 5 against the last stored consensus, which the caller
(rounds.py) reads from the store and passes in: it is pure too.

The rules, in order. A quote is judged by the first rule that rejects it:

1. ``invalid``: the price is not a ``Decimal``, is not finite (NaN, sNaN, Infinity), is ≤ 0, or
   lies outside ``[min_price, max_price]`` (both bounds are allowed); or the quote's timestamp
   has no time zone. An invalid quote's verdict carries no price, because the value may not be
   storable (NaN, or too large for the scaled-integer column); the reason quotes it.
2. ``stale``: the quote's ``observed_at`` (the exchange's own timestamp when it sent one, else
   when we fetched it) is more than ``max_quote_age_s`` before ``now``, or more than
   ``max_future_s`` after it. The window is inclusive: exactly ``max_quote_age_s`` old, or
   exactly ``max_future_s`` ahead, is still fresh. The reason gives the age and the limit.
3. ``deviation``: the median ``m`` of the quotes that passed rules 1 and 2 is taken, and a quote
   with ``|p - m| * 100 > max_deviation_pct * m`` is rejected (exactly at the limit is kept).
   The reason says how far off it was, e.g. "30.00 % from median 100000 (limit 1.0 %)"; the
   percentage is rounded *up* to two places, so a rejected quote never reads as inside the
   limit. The quotes left are ``accepted`` and the median is recomputed over them alone.
4. quorum: with at least ``min_sources`` distinct accepted sources the round is ``ok``, its
   ``price`` is the recomputed median and ``sources`` lists those names, sorted. With fewer,
   ``price`` is None, ``sources`` is empty and the round is ``degraded``; it is ``failed`` when
   no quote passed rules 1 and 2 at all (including an empty round).

5. continuity (``continuity``), for an ``ok`` round only: when the last stored consensus
   ``previous`` is at most ``jump_window_s`` older than this round (inclusive; 0 turns the
   rule off) and this round's price ``p`` moved ``|p - previous| * 100 > max_jump_pct *
   previous`` from it, the round is ``suspect``: ``price`` is None (nothing is stored as
   consensus), ``sources`` is empty, and ``held`` keeps the price, its sources and the reason,
   e.g. "99.85 % below the last consensus 100000 of 2025-04-14T11:55:00Z, 5 min 0 s earlier
   (limit 20 % within 3600 s)" (rounded up, like a deviation). Exactly at the limit is kept. The
   first consensus ever (no ``previous``) is never suspect.
   ``held`` is the price the round just before held as suspect, if it did. This round
   *confirms* it when its own price is within ``max_jump_pct`` of the held price (measured
   from the held price) and the held one is at most ``jump_window_s`` old; a confirming round
   is ``ok`` even when far from ``previous``, and ``confirmed`` tells the caller to store the
   held price too. Why: a quorum guards against one bad source, not against every source
   reading one bad upstream (a unanimous 150 USD lies inside ``[min_price, max_price]``); a
   real move is still there one round later, a glitch usually is not. This is the deviation
   threshold price oracles use, in time rather than across sources.

In a degraded round the quotes that passed all three checks keep the verdict ``accepted``:
a verdict describes the quote (it was fresh, sane and close to its peers), while the round's
status and its missing price say that nothing was stored as consensus. A round can also be
degraded with no accepted quote, when every valid quote is far from the median (two quotes,
100000 and 200000: which one is right is unknowable, so both are rejected).

The median: sorted prices, the middle one for an odd count, the mean of the two middle ones for
an even count. Every consensus price is then quantized to ``PRICE_SCALE`` (10^-8) with
ROUND_HALF_EVEN, exactly as the store would round it, and written without trailing zeros, so
the same prices in any order give the identical ``Decimal``. All arithmetic is ``Decimal`` in a
context sized to its operands, with Inexact trapped: nothing is rounded except that final,
deliberate quantization (and the displayed percentage), and no float is involved.

Why one pass of rejection, not repeated until nothing moves: DESIGN asks for one, and it is
enough. While honest sources outnumber the rest and agree with one another within
``max_deviation_pct``, the first median lies among the honest prices, no honest quote is
rejected, the honest ones still outnumber what is left, and so the recomputed median lies among
them too. Repeating could only trim further against a median that already moved, which makes the
result harder to explain per quote without making that guarantee stronger. (When the honest
sources themselves disagree by more than ``max_deviation_pct``, no median-based rule keeps the
consensus inside their range; the verdicts then show which quotes were set aside.)

Duplicate source names are tolerated: each quote gets its own verdict and is one value in the
median, but a source counts once toward ``min_sources`` and appears once in ``sources``, so a
repeated answer cannot make up a quorum by itself. The quotes' ``currency`` is not checked here:
the caller passes one currency's quotes per round.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import (
    ROUND_HALF_EVEN,
    ROUND_UP,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
)

from tracker.clock import human_age
from tracker.config import ConsensusSettings
from tracker.models import Consensus, Held, Outcome, PricePoint, Quote, RoundStatus, Verdict
from tracker.money import PRICE_SCALE

_HUNDRED = Decimal(100)
_TWO = Decimal(2)
_PERCENT_PLACES = Decimal("0.01")
_MICROSECOND = timedelta(microseconds=1)


def decide(quotes: Sequence[Quote], *, rules: ConsensusSettings, now: datetime) -> Consensus:
    """Judge one round's quotes; ``verdicts`` has one entry per quote, in input order."""
    if now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    verdicts: dict[int, Verdict] = {}
    valid: list[int] = []
    for i, quote in enumerate(quotes):
        rejected = _screen(quote, rules=rules, now=now)
        if rejected is None:
            valid.append(i)
        else:
            verdicts[i] = rejected

    kept: list[int] = []
    if valid:
        first = _median([quotes[i].price for i in valid])
        for i in valid:
            quote = quotes[i]
            reason = _deviation(quote.price, first, rules.max_deviation_pct)
            if reason is None:
                kept.append(i)
                verdicts[i] = Verdict(quote.source, quote.price, Outcome.ACCEPTED)
            else:
                verdicts[i] = Verdict(quote.source, quote.price, Outcome.DEVIATION, reason)

    ordered = tuple(verdicts[i] for i in range(len(quotes)))
    names = tuple(sorted({quotes[i].source for i in kept}))
    if len(names) < rules.min_sources:
        status = RoundStatus.DEGRADED if valid else RoundStatus.FAILED
        return Consensus(price=None, sources=(), verdicts=ordered, status=status, at=now)
    price = _median([quotes[i].price for i in kept])
    return Consensus(price=price, sources=names, verdicts=ordered, status=RoundStatus.OK, at=now)


def continuity(
    consensus: Consensus,
    *,
    previous: PricePoint | None,
    held: PricePoint | None,
    rules: ConsensusSettings,
) -> Consensus:
    """Rule 5: hold an ``ok`` round's price as suspect when it jumped too far from ``previous``
    (the last stored consensus) within ``jump_window_s``, unless it confirms ``held`` (the
    price the round before held as suspect). Other rounds are returned unchanged."""
    price = consensus.price
    if consensus.status is not RoundStatus.OK or price is None:
        return consensus
    limit, window = rules.max_jump_pct, Decimal(str(rules.jump_window_s))

    def recent(point: PricePoint | None) -> bool:
        return point is not None and window > 0 and _seconds(consensus.at - point.as_of) <= window

    confirmed = held is not None and recent(held) and _beyond(price, held.value, limit) is None
    if previous is None or not recent(previous) or confirmed:
        return replace(consensus, confirmed=confirmed)
    pct = _beyond(price, previous.value, limit)
    if pct is None:
        return consensus
    direction = "above" if price > previous.value else "below"
    since = human_age(max(consensus.at - previous.as_of, timedelta(0)))
    stamp = previous.as_of.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    reason = (
        f"{pct:f} % {direction} the last consensus {_plain(previous.value)} of {stamp}, "
        f"{since} earlier (limit {limit:f} % within {_plain(window)} s)"
    )
    return replace(
        consensus,
        price=None,
        sources=(),
        status=RoundStatus.SUSPECT,
        held=Held(price=price, sources=consensus.sources, reason=reason),
    )


def median(prices: Sequence[Decimal]) -> Decimal:
    """The consensus price of a round's accepted prices (non-empty): how rounds.py recovers the
    price a suspect round held from its stored quotes."""
    return _median(prices)


def _screen(quote: Quote, *, rules: ConsensusSettings, now: datetime) -> Verdict | None:
    """Rules 1 and 2: the verdict rejecting ``quote`` as invalid or stale, or None if it passes."""
    price = quote.price
    if not isinstance(price, Decimal):
        return _invalid(quote, f"price {price!r} is a {type(price).__name__}, not a Decimal")
    if not price.is_finite():
        return _invalid(quote, f"price {price} is not a finite number")
    shown = _plain(price)
    if price <= 0:
        return _invalid(quote, f"price {shown} is not above 0")
    if price < rules.min_price:
        return _invalid(quote, f"price {shown} is below min_price {_plain(rules.min_price)}")
    if price > rules.max_price:
        return _invalid(quote, f"price {shown} is above max_price {_plain(rules.max_price)}")

    observed = quote.observed_at
    if observed.utcoffset() is None:
        return _invalid(quote, f"timestamp {observed.isoformat()} has no time zone")
    age, ahead = _seconds(now - observed), _seconds(observed - now)
    max_age = Decimal(str(rules.max_quote_age_s))
    max_ahead = Decimal(str(rules.max_future_s))
    if age > max_age:
        reason = f"{_plain(age)} s old (max {_plain(max_age)} s)"
        return Verdict(quote.source, price, Outcome.STALE, reason)
    if ahead > max_ahead:
        reason = f"{_plain(ahead)} s in the future (max {_plain(max_ahead)} s)"
        return Verdict(quote.source, price, Outcome.STALE, reason)
    return None


def _invalid(quote: Quote, reason: str) -> Verdict:
    return Verdict(quote.source, None, Outcome.INVALID, reason)


def _deviation(price: Decimal, median: Decimal, max_pct: Decimal) -> str | None:
    """Rule 3: why ``price`` is too far from ``median``, or None when it is close enough."""
    pct = _beyond(price, median, max_pct)
    if pct is None:
        return None
    return f"{pct:f} % from median {_plain(median)} (limit {max_pct:f} %)"


def _beyond(price: Decimal, reference: Decimal, max_pct: Decimal) -> Decimal | None:
    """How far ``price`` is from ``reference``, in percent of ``reference`` rounded *up* to two
    places, when that is more than ``max_pct``; None when it is within (the limit included)."""
    ctx = _context(price, reference, max_pct, _HUNDRED)
    off = ctx.multiply(ctx.abs(ctx.subtract(price, reference)), _HUNDRED)
    if off <= ctx.multiply(max_pct, reference):
        return None
    # Rounding up at every step keeps the shown figure at or above the true one.
    shown = Context(prec=ctx.prec, rounding=ROUND_UP)
    return shown.divide(off, reference).quantize(_PERCENT_PLACES, context=shown)


def _median(prices: Sequence[Decimal]) -> Decimal:
    """The median of a non-empty list of finite prices, quantized to PRICE_SCALE half-even."""
    ordered = sorted(prices)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        value = ordered[mid]
    else:
        low, high = ordered[mid - 1], ordered[mid]
        ctx = _context(low, high, PRICE_SCALE)
        value = ctx.divide(ctx.add(low, high), _TWO)  # exact: halving needs one more digit
    rounding = Context(prec=_context(value, PRICE_SCALE).prec, rounding=ROUND_HALF_EVEN)
    return Decimal(_plain(value.quantize(PRICE_SCALE, context=rounding)))


def _context(*values: Decimal) -> Context:
    """A context in which adding, subtracting, halving or multiplying two of ``values`` is exact.

    Inexact is trapped, so if the precision were ever too small the round would fail loudly
    rather than store a silently rounded price.
    """
    top = max(v.adjusted() for v in values)
    bottom = min(_exponent(v) for v in values)
    return Context(
        prec=2 * (top - bottom + 3),
        rounding=ROUND_HALF_EVEN,
        traps=[InvalidOperation, Inexact, DivisionByZero, Overflow],
    )


def _exponent(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int), "only finite values reach the arithmetic"
    return exponent


def _seconds(delta: timedelta) -> Decimal:
    """A timedelta as exact decimal seconds."""
    return Decimal(f"{delta // _MICROSECOND}E-6")


def _plain(value: Decimal) -> str:
    """Fixed-point text without trailing zeros: 100000, 100000.015, 0.5 (exact, no context)."""
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text
