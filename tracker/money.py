"""The Decimal rules: satoshis and price units, exact products, quotients and half-even cents.

BTC amounts are integer satoshis in the store and ``Decimal`` in code; prices are ``Decimal``
stored as integers of 10^-8 units; values are the exact product, quantized half-even to cents.
No float anywhere.
"""

from __future__ import annotations

from decimal import (
    MAX_EMAX,
    MIN_EMIN,
    ROUND_05UP,
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    Inexact,
    InvalidOperation,
)

SATS_PER_BTC = 100_000_000
MAX_SUPPLY_BTC = Decimal(21_000_000)
PRICE_SCALE = Decimal("0.00000001")  # prices are kept to 10^-8 of a currency unit
_PRICE_FACTOR = 100_000_000
# The largest price accepted anywhere (a source's quote, a CSV row, a config bound): far above
# any BTC price, and 10^18 units of 10^-8 fit the store's BIGINT (up to 9.2 × 10^18).
MAX_PRICE = Decimal(10) ** 10
CENT = Decimal("0.01")


def price_to_units(value: Decimal) -> int:
    """Exact integer units of 10^-8; finer digits are rounded half-even."""
    return int(value.quantize(PRICE_SCALE, rounding=ROUND_HALF_EVEN) * _PRICE_FACTOR)


def units_to_price(units: int) -> Decimal:
    return (Decimal(units) / _PRICE_FACTOR).quantize(PRICE_SCALE).normalize() + Decimal(0)


def sats_to_btc(sats: int) -> Decimal:
    return (Decimal(sats) / SATS_PER_BTC).normalize() + Decimal(0)


def price_problem(value: Decimal) -> str | None:
    """Why ``value`` cannot be stored as a price, or None when it can.

    A price must be finite, from PRICE_SCALE to MAX_PRICE, and exact to 8 decimals (finer
    digits would be rounded away without a word).
    """
    if not value.is_finite() or value <= 0:
        return "must be a positive number"
    if value < PRICE_SCALE:
        return f"is below the smallest storable price, {PRICE_SCALE:f}"
    if value > MAX_PRICE:
        return f"is above the largest accepted price, {MAX_PRICE:,f}"
    if value.quantize(PRICE_SCALE) != value:  # exact: at most 19 digits here
        return "has more than 8 decimals (prices are kept to 0.00000001 and it would be rounded)"
    return None


def quantize(value: Decimal, quantum: Decimal, rounding: str = ROUND_HALF_EVEN) -> Decimal:
    """Half-even (or ``rounding``) to ``quantum``, in a context wide enough for any magnitude
    (the default 28 digits would raise InvalidOperation on a large value with many places)."""
    exponent = quantum.as_tuple().exponent
    assert isinstance(exponent, int)
    digits = max(value.adjusted(), 0) - exponent + 2
    ctx = Context(prec=max(28, digits), rounding=rounding, Emax=MAX_EMAX, Emin=MIN_EMIN)
    return value.quantize(quantum, context=ctx)


def multiply(a: Decimal, b: Decimal) -> Decimal:
    """The exact product: the context has room for every digit, and Inexact is trapped."""
    digits = len(a.as_tuple().digits) + len(b.as_tuple().digits) + 2
    ctx = Context(prec=digits, traps=[Inexact, InvalidOperation], Emax=MAX_EMAX, Emin=MIN_EMIN)
    return ctx.multiply(a, b)


def divide(a: Decimal, b: Decimal) -> Decimal:
    """a ÷ b to 50 significant digits, rounded "05up" so that a later half-even quantize of
    the result rounds as the exact quotient would (no double-rounding ties)."""
    ctx = Context(prec=50, rounding=ROUND_05UP, Emax=MAX_EMAX, Emin=MIN_EMIN)
    return ctx.divide(a, b)


def value_of(btc: Decimal, price: Decimal) -> Decimal:
    """The exact product, then half-even cents."""
    return quantize(multiply(btc, price), CENT)
