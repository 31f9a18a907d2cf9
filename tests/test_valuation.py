"""Pure valuation rules: which claim counts, exact values, comparisons, price staleness."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_EVEN, Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracker.headline import headline
from tracker.models import Basis, Bound, Claim, HolderInfo, HolderLedger, PriceKind, PricePoint
from tracker.valuation import (
    Valuation,
    compare,
    judge,
    judge_past,
    nearest_close_day,
    value_all,
    value_of,
)

D = dt.date
ES = HolderInfo("el-salvador", "El Salvador", "SV", 6_300_000)
US = HolderInfo("united-states", "United States", "US", 340_000_000)


def claim(
    holder: str, sats: int | None, day: D, basis: Basis, cid: int, bound: Bound | None = Bound.EXACT
) -> Claim:
    return Claim(holder, sats, None if sats is None else bound, day, basis, f"src {cid}", id=cid)


def price(value: str, at: dt.datetime, kind: PriceKind = PriceKind.DAILY_CLOSE) -> PricePoint:
    return PricePoint(Decimal(value), at, kind, ("bundled",))


def test_latest_known_amount_on_or_before_the_date_wins() -> None:
    claims = (
        claim("us", 198_000 * 10**8, D(2025, 3, 7), Basis.ESTIMATE, 1),
        claim("us", None, D(2025, 4, 1), Basis.UNDISCLOSED, 2),
        claim("us", 198_012 * 10**8, D(2025, 7, 24), Basis.ESTIMATE, 3),
    )
    assert headline(claims, D(2025, 3, 6)) is None
    assert headline(claims, D(2025, 4, 14)) == claims[0]
    assert headline(claims, D(2025, 7, 24)) == claims[2]


def test_same_day_claims_rank_official_over_reported_over_estimate() -> None:
    day = D(2025, 6, 16)
    claims = (
        claim("es", 1, day, Basis.ESTIMATE, 3),
        claim("es", 2, day, Basis.OFFICIAL, 1),
        claim("es", 3, day, Basis.REPORTED, 2),
    )
    chosen = headline(claims, day)
    assert chosen is not None and chosen.basis is Basis.OFFICIAL


def test_value_is_the_exact_product_rounded_half_even_to_cents() -> None:
    assert value_of(Decimal("0.00000001"), Decimal("50")) == Decimal("0.00")  # 0.0000005 -> 0.00
    assert value_of(Decimal("0.5"), Decimal("0.05")) == Decimal("0.02")  # 0.025 -> 0.02 (even)
    assert value_of(Decimal("0.5"), Decimal("0.07")) == Decimal("0.04")  # 0.035 -> 0.04 (even)


@given(
    sats=st.integers(min_value=0, max_value=21_000_000 * 10**8),
    cents=st.integers(min_value=1, max_value=10**9),
)
def test_value_recomputes_exactly_from_btc_and_price(sats: int, cents: int) -> None:
    btc = Decimal(sats) / 10**8
    p = Decimal(cents) / 100
    expected = (btc * p).quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
    assert value_of(btc, p) == expected
    assert abs(value_of(btc, p) - btc * p) <= Decimal("0.005")


def test_undisclosed_holders_have_no_value_and_come_last() -> None:
    at = dt.datetime(2025, 4, 14, 23, 59, 59, tzinfo=dt.UTC)
    ledgers = [
        HolderLedger(
            ES,
            (claim("el-salvador", 6100 * 10**8, D(2025, 4, 1), Basis.REPORTED, 1, Bound.AT_LEAST),),
        ),
        HolderLedger(US, (claim("united-states", None, D(2025, 4, 1), Basis.UNDISCLOSED, 2),)),
    ]
    rows = value_all(ledgers, price("84575.75", at), at.date())
    assert [r.holder.slug for r in rows] == ["el-salvador", "united-states"]
    us = rows[1]
    assert us.btc is None and us.value is None and us.shown is not None
    assert us.shown.basis is Basis.UNDISCLOSED
    comp = compare(rows)
    assert comp.total_btc == 6100 and comp.pairs == ()


def test_comparison_ratio_and_difference() -> None:
    at = dt.datetime(2025, 4, 14, tzinfo=dt.UTC)
    ledgers = [
        HolderLedger(ES, (claim("el-salvador", 6100 * 10**8, D(2025, 4, 1), Basis.REPORTED, 1),)),
        HolderLedger(
            US, (claim("united-states", 198_000 * 10**8, D(2025, 3, 7), Basis.ESTIMATE, 2),)
        ),
    ]
    rows = value_all(ledgers, price("84575.75", at), at.date())
    comp = compare(rows)
    (pair,) = comp.pairs
    assert (pair.a, pair.b, pair.btc_ratio) == ("united-states", "el-salvador", Decimal("32.46"))
    assert pair.value_difference == rows[0].value - rows[1].value  # type: ignore[operator]
    assert comp.total_value == rows[0].value + rows[1].value  # type: ignore[operator]
    assert rows[1].btc_per_capita == Decimal("0.00096825")
    assert rows[0].share_of_supply_pct == Decimal("0.9429")


def test_a_daily_close_is_fresh_through_its_day_and_stale_after() -> None:
    close = price("1", dt.datetime(2025, 4, 14, tzinfo=dt.UTC))
    max_age = dt.timedelta(minutes=10)
    end = dt.datetime(2025, 4, 14, 23, 59, 59, tzinfo=dt.UTC)
    assert judge(close, end, max_age=max_age).stale is False
    assert judge(close, end + dt.timedelta(minutes=10, seconds=1), max_age=max_age).stale is False
    assert judge(close, end + dt.timedelta(minutes=10, seconds=2), max_age=max_age).stale is True


def test_a_consensus_is_stale_after_max_age() -> None:
    at = dt.datetime(2025, 4, 14, 12, tzinfo=dt.UTC)
    point = price("1", at, PriceKind.CONSENSUS)
    max_age = dt.timedelta(minutes=10)
    assert not judge(point, at + max_age, max_age=max_age).stale
    assert judge(point, at + max_age + dt.timedelta(seconds=1), max_age=max_age).stale


@given(
    sats=st.integers(min_value=0, max_value=21_000_000 * 10**8),
    units=st.integers(min_value=1, max_value=10**18),  # prices to 10^-8, up to 10^10 USD
)
def test_value_is_exact_for_8_decimal_prices_across_the_whole_range(sats: int, units: int) -> None:
    from decimal import Context

    btc = Decimal(sats) / 10**8
    p = Decimal(units) / 10**8
    wide = Context(prec=100)
    exact = wide.multiply(btc, p)  # at most 16 + 18 digits: exact in 100
    expected = exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN, context=wide)
    assert value_of(btc, p) == expected


def test_a_product_beyond_28_digits_is_not_double_rounded() -> None:
    # exact product 73500000000001.0149999999999995 -> half-even cents .01 (not .02)
    assert value_of(Decimal("20999999.99999999"), Decimal("3500000.00000005")) == Decimal(
        "73500000000001.01"
    )


def test_a_past_days_close_is_the_price_for_that_day_whatever_the_live_price_age() -> None:
    max_age = dt.timedelta(minutes=10)  # the live-price age: it never applies to a past close
    close = price("1", dt.datetime(2025, 4, 14, tzinfo=dt.UTC))  # ends 2025-04-15 00:00
    at = dt.datetime
    assert nearest_close_day(at(2025, 4, 15, 11, 59, 59, tzinfo=dt.UTC)) == D(2025, 4, 14)
    assert nearest_close_day(at(2025, 4, 14, 12, tzinfo=dt.UTC)) == D(2025, 4, 14)
    assert nearest_close_day(at(2025, 4, 14, 23, 59, 59, tzinfo=dt.UTC)) == D(2025, 4, 14)
    assert judge_past(close, at(2025, 4, 14, 12, tzinfo=dt.UTC), max_age=max_age).stale is False
    assert judge_past(close, at(2025, 4, 15, 12, tzinfo=dt.UTC), max_age=max_age).stale is False
    assert judge(close, at(2025, 4, 15, 12, tzinfo=dt.UTC), max_age=max_age).stale is True
    for far in (
        at(2025, 4, 14, 11, 59, 59, tzinfo=dt.UTC),
        at(2025, 4, 15, 12, 0, 1, tzinfo=dt.UTC),
    ):
        assert judge_past(close, far, max_age=max_age).stale is True  # more than half a day off
    consensus = price("1", at(2025, 4, 14, 12, tzinfo=dt.UTC), PriceKind.CONSENSUS)
    assert judge_past(consensus, at(2025, 4, 14, 12, 11, tzinfo=dt.UTC), max_age=max_age).stale


def _two(us_bound: Bound, es_bound: Bound) -> list[Valuation]:
    at = dt.datetime(2025, 4, 14, tzinfo=dt.UTC)
    ledgers = [
        HolderLedger(
            ES, (claim("el-salvador", 6100 * 10**8, D(2025, 4, 1), Basis.REPORTED, 1, es_bound),)
        ),
        HolderLedger(
            US,
            (claim("united-states", 198_000 * 10**8, D(2025, 3, 7), Basis.ESTIMATE, 2, us_bound),),
        ),
    ]
    return value_all(ledgers, price("84575.75", at), at.date())


def test_about_198000_and_at_least_6100_give_an_approximate_total_ratio_and_difference() -> None:
    rows = _two(Bound.APPROXIMATE, Bound.AT_LEAST)
    comp = compare(rows)
    (pair,) = comp.pairs
    assert comp.total_bound is Bound.APPROXIMATE  # "Total: 204,100 BTC" was shown as exact
    assert (pair.btc_ratio_bound, pair.value_difference_bound) == (Bound.APPROXIMATE,) * 2
    us, es = rows
    assert (us.share_of_supply_bound, us.btc_per_capita_bound) == (Bound.APPROXIMATE,) * 2
    assert (es.share_of_supply_bound, es.btc_per_capita_bound) == (Bound.AT_LEAST,) * 2


@pytest.mark.parametrize(
    ("us_bound", "es_bound", "total", "ratio"),
    [
        (Bound.EXACT, Bound.EXACT, Bound.EXACT, Bound.EXACT),
        (Bound.AT_LEAST, Bound.EXACT, Bound.AT_LEAST, Bound.AT_LEAST),
        (Bound.EXACT, Bound.AT_LEAST, Bound.AT_LEAST, Bound.AT_MOST),
        (Bound.AT_LEAST, Bound.AT_LEAST, Bound.AT_LEAST, Bound.APPROXIMATE),
    ],
)
def test_totals_and_pairs_carry_the_bounds_of_their_terms(
    us_bound: Bound, es_bound: Bound, total: Bound, ratio: Bound
) -> None:
    comp = compare(_two(us_bound, es_bound))
    (pair,) = comp.pairs
    assert comp.total_bound is total
    assert pair.btc_ratio_bound is ratio and pair.value_difference_bound is ratio


def test_undisclosed_holders_do_not_make_the_total_less_sure_and_have_no_bounds() -> None:
    at = dt.datetime(2025, 4, 14, tzinfo=dt.UTC)
    ledgers = [
        HolderLedger(ES, (claim("el-salvador", 6100 * 10**8, D(2025, 4, 1), Basis.OFFICIAL, 1),)),
        HolderLedger(US, (claim("united-states", None, D(2025, 3, 7), Basis.UNDISCLOSED, 2),)),
    ]
    rows = value_all(ledgers, price("84575.75", at), at.date())
    assert compare(rows).total_bound is Bound.EXACT
    us = rows[1]
    assert (us.bound, us.share_of_supply_bound, us.btc_per_capita_bound) == (None, None, None)


def test_a_ratio_over_a_holder_of_none_has_no_bound() -> None:
    at = dt.datetime(2025, 4, 14, tzinfo=dt.UTC)
    ledgers = [
        HolderLedger(ES, (claim("el-salvador", 0, D(2025, 4, 1), Basis.OFFICIAL, 1),)),
        HolderLedger(US, (claim("united-states", 10**8, D(2025, 3, 7), Basis.OFFICIAL, 2),)),
    ]
    (pair,) = compare(value_all(ledgers, price("84575.75", at), at.date())).pairs
    assert pair.btc_ratio is None and pair.btc_ratio_bound is None
    assert pair.value_difference_bound is Bound.EXACT


def _pair(us_sats: int, us_bound: Bound, es_sats: int, es_bound: Bound) -> list[Valuation]:
    at = dt.datetime(2025, 4, 14, tzinfo=dt.UTC)
    ledgers = [
        HolderLedger(
            ES, (claim("el-salvador", es_sats, D(2025, 4, 1), Basis.REPORTED, 1, es_bound),)
        ),
        HolderLedger(
            US, (claim("united-states", us_sats, D(2025, 3, 7), Basis.ESTIMATE, 2, us_bound),)
        ),
    ]
    return value_all(ledgers, price("84575.75", at), at.date())


def test_an_at_least_figure_is_rounded_down_and_an_at_most_one_up() -> None:
    # 200 ÷ 3 = 66.666…: half-even shows 66.67, which "≥" would overstate
    (pair,) = compare(_pair(200 * 10**8, Bound.AT_LEAST, 3 * 10**8, Bound.EXACT)).pairs
    assert (pair.btc_ratio, pair.btc_ratio_bound) == (Decimal("66.66"), Bound.AT_LEAST)
    # 100 ÷ 3 = 33.333…: half-even shows 33.33, which "≤" would understate
    (pair,) = compare(_pair(100 * 10**8, Bound.EXACT, 3 * 10**8, Bound.AT_LEAST)).pairs
    assert (pair.btc_ratio, pair.btc_ratio_bound) == (Decimal("33.34"), Bound.AT_MOST)
    # 31.5 BTC is 0.00015 % of the supply: at least 0.0001 %, not 0.0002 %
    rows = _pair(10**8, Bound.EXACT, 3_150_000_000, Bound.AT_LEAST)
    es = next(v for v in rows if v.holder.slug == "el-salvador")
    assert es.share_of_supply_pct == Decimal("0.0001")
    comp = compare(rows)
    assert (comp.total_share_pct, comp.total_bound) == (Decimal("0.0001"), Bound.AT_LEAST)


@given(
    st.integers(min_value=1, max_value=21 * 10**14),
    st.integers(min_value=1, max_value=21 * 10**14),
    st.sampled_from([Bound.EXACT, Bound.AT_LEAST, Bound.APPROXIMATE]),
    st.sampled_from([Bound.EXACT, Bound.AT_LEAST, Bound.APPROXIMATE]),
)
def test_shown_ratios_and_shares_never_claim_more_than_the_exact_quotient(
    a: int, b: int, a_bound: Bound, b_bound: Bound
) -> None:
    big, small = max(a, b), min(a, b)
    rows = _pair(big, a_bound, small, b_bound)
    (pair,) = compare(rows).pairs
    if pair.a != "united-states":  # equal amounts: sorted by slug
        return
    exact = Fraction(big, small)
    shown = Fraction(pair.btc_ratio)  # type: ignore[arg-type]
    assert abs(shown - exact) <= Fraction(1, 100)
    if pair.btc_ratio_bound is Bound.AT_LEAST:
        assert shown <= exact
    elif pair.btc_ratio_bound is Bound.AT_MOST:
        assert shown >= exact
    for v, sats in zip(rows, (big, small), strict=True):
        share, true_share = Fraction(v.share_of_supply_pct), Fraction(sats, 21 * 10**12)  # type: ignore[arg-type]
        if v.bound is Bound.AT_LEAST:
            assert share <= true_share
