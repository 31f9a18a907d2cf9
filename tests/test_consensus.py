"""Consensus rules: worked examples (expected values computed by hand) and properties."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal, Inexact, localcontext
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from tracker.config import ConsensusSettings
from tracker.consensus import continuity, decide
from tracker.models import (
    Consensus,
    Held,
    Outcome,
    PriceKind,
    PricePoint,
    Quote,
    RoundStatus,
)

NOW = datetime(2025, 4, 14, 12, 0, tzinfo=UTC)
RULES = ConsensusSettings()  # min_sources 3, 1.0 %, 120 s old, 30 s ahead, [100, 10000000]


def quote(source: str, price: str | Decimal, *, age: timedelta = timedelta(0)) -> Quote:
    value = Decimal(price) if isinstance(price, str) else price
    return Quote(source=source, price=value, fetched_at=NOW - age)


def run(quotes: Sequence[Quote], **rules: Any) -> Consensus:
    return decide(quotes, rules=ConsensusSettings(**rules), now=NOW)


def outcomes(result: Consensus) -> list[Outcome]:
    return [v.outcome for v in result.verdicts]


# --- the DESIGN scenarios -------------------------------------------------------------------


def test_an_outlier_30_percent_off_is_rejected_and_the_rest_give_the_price() -> None:
    # Sorted: 99900 99950 100000 100200 130000 -> first median 100000; 130000 is 30 % above it.
    # Without it: (99950 + 100000) / 2 = 99975.
    quotes = [
        quote("coinbase", "99900"),
        quote("kraken", "99950"),
        quote("bitstamp", "100000"),
        quote("gemini", "100200"),
        quote("bitfinex", "130000"),
    ]
    result = run(quotes)
    assert result.status is RoundStatus.OK
    assert result.price == Decimal("99975")
    assert result.sources == ("bitstamp", "coinbase", "gemini", "kraken")
    assert outcomes(result) == [Outcome.ACCEPTED] * 4 + [Outcome.DEVIATION]
    outlier = result.verdicts[4]
    assert outlier.source == "bitfinex"
    assert outlier.price == Decimal("130000")
    assert outlier.reason == "30.00 % from median 100000 (limit 1.0 %)"


def test_with_one_source_missing_the_other_three_give_the_price() -> None:
    # First median (99950 + 100000) / 2 = 99975; 130000 is 30025 / 99975 = 30.0325… % off,
    # shown rounded up as 30.04. The other three: median 99950.
    quotes = [
        quote("coinbase", "99900"),
        quote("kraken", "99950"),
        quote("bitstamp", "100000"),
        quote("bitfinex", "130000"),
    ]
    result = run(quotes)
    assert result.status is RoundStatus.OK
    assert result.price == Decimal("99950")
    assert result.sources == ("bitstamp", "coinbase", "kraken")
    assert result.verdicts[3].outcome is Outcome.DEVIATION
    assert result.verdicts[3].reason == "30.04 % from median 99975 (limit 1.0 %)"


def test_two_valid_quotes_are_not_a_quorum_of_three() -> None:
    result = run([quote("kraken", "100000"), quote("coinbase", "100010")], min_sources=3)
    assert result.status is RoundStatus.DEGRADED
    assert result.price is None
    assert result.sources == ()
    # The quotes themselves were fine; the round, not the quote, is degraded.
    assert outcomes(result) == [Outcome.ACCEPTED, Outcome.ACCEPTED]


def test_a_round_where_every_valid_quote_deviates_is_degraded_not_failed() -> None:
    # Median 75000; each is 33.3… % off, so neither can be trusted.
    result = run([quote("kraken", "50000"), quote("coinbase", "100000")], min_sources=1)
    assert result.status is RoundStatus.DEGRADED
    assert result.price is None
    assert outcomes(result) == [Outcome.DEVIATION, Outcome.DEVIATION]


def test_deviation_exactly_at_the_limit_is_kept() -> None:
    # Median 100000; 1000 / 100000 = exactly 1.0 % either way.
    for near in ("101000", "99000"):
        result = run([quote("a", "100000"), quote("b", "100000"), quote("c", near)])
        assert outcomes(result) == [Outcome.ACCEPTED] * 3, near
    result = run([quote("a", "100000"), quote("b", "100000"), quote("c", "101000.00000001")])
    assert outcomes(result) == [Outcome.ACCEPTED, Outcome.ACCEPTED, Outcome.DEVIATION]
    assert result.verdicts[2].reason == "1.01 % from median 100000 (limit 1.0 %)"


# --- the median -----------------------------------------------------------------------------


def test_even_count_median_is_the_exact_mean_of_the_middle_two() -> None:
    result = run([quote("a", "100000.01"), quote("b", "100000.02")], min_sources=2)
    assert result.price == Decimal("100000.015")
    assert str(result.price) == "100000.015"


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        # …015 is a tie between …01 and …02: half-even picks the even …02 (truncation: …01).
        ("100000.00000001", "100000.00000002", "100000.00000002"),
        # …025 is a tie between …02 and …03: half-even picks the even …02 (half-up: …03).
        ("100000.00000002", "100000.00000003", "100000.00000002"),
    ],
)
def test_even_count_median_is_quantized_half_even_at_1e_8(
    low: str, high: str, expected: str
) -> None:
    result = run([quote("a", low), quote("b", high)], min_sources=2)
    assert str(result.price) == expected


def test_an_odd_median_finer_than_1e_8_is_quantized_like_the_store() -> None:
    quotes = [quote("a", "99999"), quote("b", "100000.000000015"), quote("c", "100001")]
    assert str(run(quotes).price) == "100000.00000002"


def test_the_caller_decimal_context_does_not_leak_in() -> None:
    with localcontext() as ctx:
        ctx.prec = 4
        ctx.rounding = ROUND_DOWN
        ctx.traps[Inexact] = True
        result = run([quote("a", "100000.01"), quote("b", "100000.02")], min_sources=2)
    assert result.price == Decimal("100000.015")


def test_equal_prices_written_differently_give_one_canonical_price() -> None:
    quotes = [quote("a", "100000.000"), quote("b", "100000"), quote("c", "100000.00")]
    assert str(run(quotes).price) == "100000"


# --- stale ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("age", "outcome", "reason"),
    [
        (timedelta(seconds=119), Outcome.ACCEPTED, None),
        (timedelta(seconds=120), Outcome.ACCEPTED, None),  # the bound is inclusive
        (timedelta(seconds=120, microseconds=1), Outcome.STALE, "120.000001 s old (max 120 s)"),
        (timedelta(minutes=10), Outcome.STALE, "600 s old (max 120 s)"),
        (timedelta(seconds=-30), Outcome.ACCEPTED, None),  # inclusive in the future too
        (
            timedelta(seconds=-30, microseconds=-1),
            Outcome.STALE,
            "30.000001 s in the future (max 30 s)",
        ),
        (timedelta(hours=-1), Outcome.STALE, "3600 s in the future (max 30 s)"),
    ],
)
def test_quote_age_window(age: timedelta, outcome: Outcome, reason: str | None) -> None:
    result = run([quote("kraken", "100000", age=age)], min_sources=1)
    (verdict,) = result.verdicts
    assert (verdict.outcome, verdict.reason) == (outcome, reason)
    assert verdict.price == Decimal("100000")


def test_the_exchange_timestamp_counts_not_when_we_fetched_it() -> None:
    old = Quote(
        source="kraken",
        price=Decimal("100000"),
        fetched_at=NOW,
        quoted_at=NOW - timedelta(minutes=5),
    )
    assert run([old], min_sources=1).verdicts[0].outcome is Outcome.STALE


def test_stale_quotes_do_not_move_the_median() -> None:
    quotes = [
        quote("a", "100000"),
        quote("b", "100000"),
        quote("c", "100000"),
        quote("d", "200000", age=timedelta(minutes=5)),
        quote("e", "200000", age=timedelta(minutes=5)),
    ]
    result = run(quotes)
    assert result.price == Decimal("100000")
    assert outcomes(result) == [Outcome.ACCEPTED] * 3 + [Outcome.STALE] * 2


def test_the_largest_age_limit_is_accepted() -> None:
    # config caps max_quote_age_s at one day and refuses inf (test_config)
    result = run([quote("kraken", "100000", age=timedelta(hours=23))], max_quote_age_s=86_400)
    assert result.verdicts[0].outcome is Outcome.ACCEPTED


def test_an_infinite_age_limit_is_refused_by_the_settings() -> None:
    with pytest.raises(ValidationError, match="finite"):
        ConsensusSettings(max_quote_age_s=float("inf"))


# --- invalid --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("price", "shown"),
    [
        ("0", "price 0 is not above 0"),
        ("-0", "price -0 is not above 0"),
        ("-100000", "price -100000 is not above 0"),
        ("NaN", "price NaN is not a finite number"),
        ("sNaN", "price sNaN is not a finite number"),
        ("Infinity", "price Infinity is not a finite number"),
        ("-Infinity", "price -Infinity is not a finite number"),
        ("99.99999999", "price 99.99999999 is below min_price 100"),
        ("10000000.00000001", "price 10000000.00000001 is above max_price 10000000"),
        ("1E+30", "price 1000000000000000000000000000000 is above max_price 10000000"),
    ],
)
def test_invalid_prices_are_rejected_with_a_reason(price: str, shown: str) -> None:
    quotes = [quote("a", "100000"), quote("b", "100000"), quote("c", "100000"), quote("x", price)]
    result = run(quotes)
    bad = result.verdicts[3]
    assert (bad.source, bad.outcome, bad.reason) == ("x", Outcome.INVALID, shown)
    assert bad.price is None  # NaN or 1E+30 could not be stored as a price
    assert result.price == Decimal("100000")
    assert result.status is RoundStatus.OK


@pytest.mark.parametrize("price", ["100", "10000000"])
def test_the_price_bounds_themselves_are_valid(price: str) -> None:
    result = run([quote("kraken", price)], min_sources=1)
    assert result.price == Decimal(price)


def test_a_float_price_is_invalid_not_a_crash() -> None:
    bad = Quote(source="kraken", price=100000.5, fetched_at=NOW)  # type: ignore[arg-type]
    (verdict,) = run([bad], min_sources=1).verdicts
    assert verdict.outcome is Outcome.INVALID
    assert verdict.reason == "price 100000.5 is a float, not a Decimal"


def test_a_timestamp_without_time_zone_is_invalid() -> None:
    naive = Quote(source="kraken", price=Decimal("100000"), fetched_at=NOW.replace(tzinfo=None))
    (verdict,) = run([naive], min_sources=1).verdicts
    assert verdict.outcome is Outcome.INVALID
    assert verdict.reason == "timestamp 2025-04-14T12:00:00 has no time zone"


def test_invalid_is_judged_before_stale() -> None:
    result = run([quote("kraken", "NaN", age=timedelta(hours=1))], min_sources=1)
    assert result.verdicts[0].outcome is Outcome.INVALID


def test_now_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        decide([], rules=RULES, now=NOW.replace(tzinfo=None))


# --- round status and shape -----------------------------------------------------------------


def test_an_empty_round_failed() -> None:
    result = decide([], rules=RULES, now=NOW)
    assert result == Consensus(None, (), (), RoundStatus.FAILED, NOW)


@pytest.mark.parametrize(
    "quotes",
    [
        [quote("a", "0"), quote("b", "NaN")],
        [quote("a", "100000", age=timedelta(hours=1)), quote("b", "-5")],
    ],
)
def test_a_round_without_any_valid_quote_failed(quotes: list[Quote]) -> None:
    result = run(quotes, min_sources=1)
    assert result.status is RoundStatus.FAILED
    assert result.price is None


def test_verdicts_follow_input_order_and_sources_are_sorted() -> None:
    quotes = [
        quote("kraken", "100000"),
        quote("gemini", "0"),
        quote("bitstamp", "100001"),
        quote("coinbase", "99999"),
    ]
    result = run(quotes)
    assert [v.source for v in result.verdicts] == ["kraken", "gemini", "bitstamp", "coinbase"]
    assert [v.price for v in result.verdicts] == [
        Decimal("100000"),
        None,
        Decimal("100001"),
        Decimal("99999"),
    ]
    assert result.sources == ("bitstamp", "coinbase", "kraken")
    assert result.at == NOW


def test_a_repeated_source_counts_once_toward_the_quorum() -> None:
    quotes = [quote("kraken", "100000"), quote("kraken", "100000"), quote("coinbase", "100000")]
    result = run(quotes, min_sources=3)
    assert result.status is RoundStatus.DEGRADED
    assert outcomes(result) == [Outcome.ACCEPTED] * 3
    result = run(quotes, min_sources=2)
    assert result.status is RoundStatus.OK
    assert result.sources == ("coinbase", "kraken")


# --- continuity: a jump from the previous consensus is held as suspect -----------------------

THREE = ("bitstamp", "coinbase", "kraken")
BEFORE = NOW - timedelta(minutes=5)


def point(price: str, at: datetime = BEFORE) -> PricePoint:
    return PricePoint(Decimal(price), at, PriceKind.CONSENSUS, THREE)


def judged(
    price: str, *, previous: PricePoint | None, held: PricePoint | None = None, **rules: Any
) -> Consensus:
    """A unanimous round at ``price``, then the continuity rule against ``previous``."""
    settings = ConsensusSettings(**rules)
    base = decide([quote(s, price) for s in THREE], rules=settings, now=NOW)
    return continuity(base, previous=previous, held=held, rules=settings)


def test_a_unanimous_absurd_price_is_held_as_suspect() -> None:
    # 150 lies inside [min_price, max_price] and every source agrees: only continuity catches it.
    # (100000 - 150) / 100000 = 99.85 % below, over the 20 % limit.
    result = judged("150", previous=point("100000"))
    assert result.status is RoundStatus.SUSPECT
    assert result.price is None and result.sources == ()
    assert outcomes(result) == [Outcome.ACCEPTED] * 3  # the quotes agree; the round is held
    assert result.held == Held(
        price=Decimal("150"),
        sources=THREE,
        reason="99.85 % below the last consensus 100000 of 2025-04-14T11:55:00Z, 5 min 0 s "
        "earlier (limit 20 % within 3600 s)",
    )
    assert result.confirmed is False


def test_the_next_round_confirms_a_held_price() -> None:
    result = judged("150", previous=point("100000"), held=point("150", NOW - timedelta(minutes=1)))
    assert result.status is RoundStatus.OK and result.price == Decimal("150")
    assert result.held is None and result.confirmed is True
    # within 20 % of the held price confirms it too: |120 - 150| / 150 = 20 % exactly
    result = judged("120", previous=point("100000"), held=point("150"))
    assert (result.status, result.confirmed) == (RoundStatus.OK, True)
    result = judged("119.99", previous=point("100000"), held=point("150"))
    assert (result.status, result.confirmed) == (RoundStatus.SUSPECT, False)


@pytest.mark.parametrize(
    ("price", "status"),
    [
        ("119999.99", RoundStatus.OK),
        ("120000", RoundStatus.OK),  # exactly 20 % is kept, as with deviation
        ("120000.00000001", RoundStatus.SUSPECT),
        ("80000", RoundStatus.OK),
        ("79999.99999999", RoundStatus.SUSPECT),
    ],
)
def test_a_move_within_max_jump_pct_is_stored_at_once(price: str, status: RoundStatus) -> None:
    result = judged(price, previous=point("100000"))
    assert result.status is status
    assert result.price == (Decimal(price) if status is RoundStatus.OK else None)


def test_the_shown_jump_is_rounded_up_so_it_never_reads_as_inside_the_limit() -> None:
    result = judged("120000.00000001", previous=point("100000"))
    assert result.held is not None and result.held.reason.startswith("20.01 % above")


def test_a_previous_consensus_older_than_the_window_does_not_hold() -> None:
    old = point("100000", NOW - timedelta(seconds=3601))
    assert judged("150", previous=old).status is RoundStatus.OK
    edge = point("100000", NOW - timedelta(seconds=3600))  # the window is inclusive
    assert judged("150", previous=edge).status is RoundStatus.SUSPECT
    # and a held price older than the window cannot be confirmed any more
    stale_held = point("150", NOW - timedelta(seconds=3601))
    result = judged("150", previous=point("100000"), held=stale_held)
    assert (result.status, result.confirmed) == (RoundStatus.SUSPECT, False)


def test_the_first_consensus_ever_is_never_suspect() -> None:
    result = judged("150", previous=None)
    assert (result.status, result.price, result.held) == (RoundStatus.OK, Decimal("150"), None)


def test_a_zero_window_turns_the_check_off() -> None:
    assert judged("150", previous=point("100000", NOW), jump_window_s=0).status is RoundStatus.OK


def test_a_held_price_far_from_the_next_round_stays_unconfirmed() -> None:
    # back near the previous consensus: stored, and the held 150 is never confirmed
    result = judged("100010", previous=point("100000"), held=point("150"))
    assert (result.status, result.confirmed) == (RoundStatus.OK, False)


def test_continuity_leaves_a_round_without_quorum_alone() -> None:
    base = run([quote("kraken", "150")])
    assert base.status is RoundStatus.DEGRADED
    assert continuity(base, previous=point("100000"), held=None, rules=RULES) == base


# --- properties -----------------------------------------------------------------------------


def units(low: int, high: int) -> st.SearchStrategy[Decimal]:
    """Decimals with 8 places between low and high (in units of 10^-8), built exactly."""
    return st.integers(low, high).map(lambda n: Decimal(f"{n}E-8"))


ANY_PRICE = st.one_of(
    units(99_000 * 10**8, 101_000 * 10**8),  # near one another, so deviation matters
    st.decimals(min_value=Decimal("1E-10"), max_value=Decimal("1E12"), places=10),
    st.sampled_from([Decimal(x) for x in ("0", "-1", "NaN", "sNaN", "Infinity", "100000.0")]),
)
ANY_QUOTE = st.builds(
    lambda source, price, age_ms: quote(source, price, age=timedelta(milliseconds=age_ms)),
    st.sampled_from(["coinbase", "kraken", "bitstamp", "gemini", "bitfinex"]),
    ANY_PRICE,
    st.integers(-60_000, 200_000),
)


@given(
    quotes=st.lists(ANY_QUOTE, max_size=9),
    min_sources=st.integers(1, 5),
    data=st.data(),
)
def test_the_result_does_not_depend_on_quote_order(
    quotes: list[Quote], min_sources: int, data: st.DataObject
) -> None:
    order = data.draw(st.permutations(range(len(quotes))))
    base = run(quotes, min_sources=min_sources)
    shuffled = run([quotes[i] for i in order], min_sources=min_sources)
    assert shuffled.status is base.status
    assert str(shuffled.price) == str(base.price)  # the same value, written the same way
    assert shuffled.sources == base.sources
    assert shuffled.verdicts == tuple(base.verdicts[i] for i in order)


@given(
    honest_low=units(100 * 10**8, 9_000_000 * 10**8),
    data=st.data(),
    n_honest=st.integers(1, 8),
    min_sources=st.integers(1, 8),
)
def test_a_minority_of_arbitrary_quotes_cannot_move_the_price_out_of_the_honest_range(
    honest_low: Decimal, data: st.DataObject, n_honest: int, min_sources: int
) -> None:
    # Honest sources agree within the deviation limit (1.0 %): all in [low, low * 1.01].
    low_units = int(honest_low * 10**8)
    band = units(low_units, low_units + low_units // 100)
    honest = data.draw(st.lists(band, min_size=n_honest, max_size=n_honest))
    n_bad = data.draw(st.integers(0, n_honest - 1))  # strictly fewer than half of all quotes
    arbitrary = st.one_of(
        st.decimals(min_value=Decimal("1E-10"), max_value=Decimal("1E15"), places=10),
        st.decimals(min_value=RULES.min_price, max_value=RULES.max_price, places=10),  # valid
        units(low_units - low_units // 25, low_units + low_units // 25),  # around the band
    )
    bad = data.draw(st.lists(arbitrary, min_size=n_bad, max_size=n_bad))
    quotes = [quote(f"honest{i}", p) for i, p in enumerate(honest)]
    quotes += [quote(f"bad{i}", p) for i, p in enumerate(bad)]
    order = data.draw(st.permutations(range(len(quotes))))
    result = run([quotes[i] for i in order], min_sources=min_sources)
    if min_sources <= n_honest:
        assert result.status is RoundStatus.OK  # no honest quote was rejected
    if result.price is not None:
        assert min(honest) <= result.price <= max(honest)


@given(
    price=units(100 * 10**8, 10_000_000 * 10**8),
    n=st.integers(1, 12),
    data=st.data(),
)
def test_the_consensus_of_identical_prices_is_that_price(
    price: Decimal, n: int, data: st.DataObject
) -> None:
    min_sources = data.draw(st.integers(1, n))
    result = run([quote(f"s{i}", price) for i in range(n)], min_sources=min_sources)
    assert result.status is RoundStatus.OK
    assert result.price == price
    assert outcomes(result) == [Outcome.ACCEPTED] * n
