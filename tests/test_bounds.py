"""The bound algebra of derived figures (DESIGN.md, "Bounds of derived figures")."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracker import bounds
from tracker.errors import InputError
from tracker.holdings import make_claim
from tracker.models import Bound

E, L, M, A = Bound.EXACT, Bound.AT_LEAST, Bound.AT_MOST, Bound.APPROXIMATE


@pytest.mark.parametrize(
    ("terms", "expected"),
    [
        ((), E),
        ((E,), E),
        ((E, E, E), E),
        ((E, L), L),
        ((L, L), L),
        ((E, M), M),
        ((L, M), A),
        ((E, A), A),
        ((L, A, E), A),
    ],
)
def test_a_sum_is_as_sure_as_its_least_sure_terms(
    terms: tuple[Bound, ...], expected: Bound
) -> None:
    assert bounds.total(terms) is expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (E, E, E),
        (L, E, L),  # more on top: the quotient can only be larger
        (E, L, M),  # more below: the quotient can only be smaller
        (L, L, A),
        (A, E, A),
        (E, A, A),
        (A, L, A),
        (M, E, M),
        (E, M, L),
        (L, M, L),
        (M, L, M),
    ],
)
def test_ratio_and_difference_move_with_a_and_against_b(
    a: Bound, b: Bound, expected: Bound
) -> None:
    assert bounds.ratio(a, b) is expected
    assert bounds.difference(a, b) is expected


def test_the_us_and_el_salvador_figures_give_approximate_total_ratio_and_difference() -> None:
    # about 198,000 and at least 6,100: the example
    assert bounds.total([A, L]) is A
    assert bounds.ratio(A, L) is A and bounds.difference(A, L) is A


def test_at_most_is_never_accepted_for_an_observation() -> None:
    assert Bound.AT_MOST not in bounds.OBSERVED
    with pytest.raises(InputError, match="unknown bound 'at_most'"):
        make_claim(
            holder="el-salvador", btc="6100", bound="at_most", as_of=dt.date(2025, 4, 1),
            basis="reported", source="a source", today=dt.date(2025, 5, 1),
        )  # fmt: skip


# --- never tighter than the inputs allow -------------------------------------------------------

amounts = st.integers(min_value=1, max_value=2_100_000_000_000_000).map(
    lambda s: Fraction(s, 10**8)
)
unit = st.fractions(min_value=0, max_value=1)


@st.composite
def figures(draw: st.DrawFn) -> tuple[Fraction, Bound, Fraction]:
    """(the figure shown, its bound, a true value the bound allows)."""
    x = draw(amounts)
    bound = draw(st.sampled_from(list(Bound)))
    t = draw(unit)
    k = 1 + 9 * t  # at least: [x, 10x]; at most: [x/10, x]
    e = draw(st.fractions(min_value=Fraction(1, 100), max_value=Fraction(9, 10)))
    true = {
        E: x,
        L: x * k,
        M: x / k,
        A: x * (1 - e + 2 * e * draw(unit)),
    }[bound]
    return x, bound, true


def allows(bound: Bound, shown: Fraction, true: Fraction) -> bool:
    """Whether a true result lies where ``bound`` says it may, relative to the one shown."""
    return {E: true == shown, L: true >= shown, M: true <= shown, A: True}[bound]


@given(st.lists(figures(), min_size=1, max_size=6))
def test_a_sums_bound_is_never_tighter_than_its_terms_allow(
    terms: list[tuple[Fraction, Bound, Fraction]],
) -> None:
    shown = sum((x for x, _, _ in terms), Fraction(0))
    true = sum((t for _, _, t in terms), Fraction(0))
    assert allows(bounds.total(b for _, b, _ in terms), shown, true)


@pytest.mark.parametrize(
    ("derive", "op"),
    [(bounds.ratio, lambda a, b: a / b), (bounds.difference, lambda a, b: a - b)],
    ids=["ratio", "difference"],
)
@given(a=figures(), b=figures())
def test_a_ratios_and_a_differences_bound_is_never_tighter_than_the_inputs_allow(
    derive: Callable[[Bound, Bound], Bound],
    op: Callable[[Fraction, Fraction], Fraction],
    a: tuple[Fraction, Bound, Fraction],
    b: tuple[Fraction, Bound, Fraction],
) -> None:
    (xa, ba, ta), (xb, bb, tb) = a, b
    assert allows(derive(ba, bb), op(xa, xb), op(ta, tb))


@pytest.mark.parametrize(
    ("bound", "factor", "expected"),
    [
        (L, Decimal(2), L),
        (L, Decimal(-2), M),  # a floor times a fall: the change is at most (a bigger loss)
        (M, Decimal(-1), L),
        (A, Decimal(-1), A),
        (E, Decimal(-1), E),
        (A, Decimal(0), E),  # no price change: no value change, whatever the amount
    ],
)
def test_an_amount_times_an_exact_factor(bound: Bound, factor: Decimal, expected: Bound) -> None:
    assert bounds.scaled(bound, factor) is expected


@given(figures(), st.fractions(min_value=-10, max_value=10))
def test_a_scaled_bound_is_never_tighter_than_the_amount_allows(
    a: tuple[Fraction, Bound, Fraction], factor: Fraction
) -> None:
    x, bound, true = a
    derived = bounds.scaled(bound, Decimal(factor.numerator) / Decimal(factor.denominator))
    assert allows(derived, x * factor, true * factor)
