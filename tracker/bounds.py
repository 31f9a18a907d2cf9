"""How sure a derived figure is, from how sure its inputs are (DESIGN.md, "Bounds of derived
figures"); pure, no I/O.

A bound says which way the true value may lie from the figure shown: ``exact`` (nowhere else),
``at_least`` (above), ``at_most`` (below), ``approximate`` (either way). A sum may err every way
any of its terms may; a ratio a/b or a difference a−b (positive amounts) grows with a and shrinks
with b, so it may err as a may, and opposite to b. Observations are only ever exact, at least or
approximate (``OBSERVED``); ``at_most`` arises from dividing or subtracting by an at-least figure.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal

from tracker.models import Bound

OBSERVED = (Bound.EXACT, Bound.AT_LEAST, Bound.APPROXIMATE)  # what a user may say of an amount

# (the true value may be higher, the true value may be lower)
_SIDES = {
    Bound.EXACT: (False, False),
    Bound.AT_LEAST: (True, False),
    Bound.AT_MOST: (False, True),
    Bound.APPROXIMATE: (True, True),
}
_FROM_SIDES = {sides: bound for bound, sides in _SIDES.items()}


def total(bounds: Iterable[Bound]) -> Bound:
    """A sum's bound: exact if every term is; at least if every term is exact or at least (at
    most likewise); else approximate. The empty sum is exact."""
    up = down = False
    for b in bounds:
        u, d = _SIDES[b]
        up, down = up or u, down or d
    return _FROM_SIDES[(up, down)]


def ratio(a: Bound, b: Bound) -> Bound:
    """The bound of a ÷ b (both positive): exact if both are; at least when a is at least and b
    exact; at most when a is exact and b at least; else approximate."""
    a_up, a_down = _SIDES[a]
    b_up, b_down = _SIDES[b]
    return _FROM_SIDES[(a_up or b_down, a_down or b_up)]


def difference(a: Bound, b: Bound) -> Bound:
    """The bound of a − b: it moves with a and against b, as a ratio does."""
    return ratio(a, b)


def scaled(bound: Bound, factor: Decimal) -> Bound:
    """The bound of an amount times an exact ``factor`` (one holding's change in value is its
    amount times the change in price): a negative factor turns at least into at most."""
    if factor == 0:
        return Bound.EXACT
    if factor > 0:
        return bound
    return {Bound.AT_LEAST: Bound.AT_MOST, Bound.AT_MOST: Bound.AT_LEAST}.get(bound, bound)


def rounding(bound: Bound) -> str:
    """How to round a figure so that its bound stays true: an at-least figure down, an
    at-most one up ("≥32.46" from 32.459… would claim more than is known); others half-even."""
    return {Bound.AT_LEAST: ROUND_FLOOR, Bound.AT_MOST: ROUND_CEILING}.get(bound, ROUND_HALF_EVEN)
