"""`tracker history`: the SQL's answers recomputed here, independently, from the same rows."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import Result

from tests.helpers import bundled_close, bundled_last_day
from tracker.chain_models import Address
from tracker.config import Settings
from tracker.daily import history as timeline
from tracker.daily.history import Interval
from tracker.errors import InputError
from tracker.headline import State, headline, is_sovereign, standing, visible
from tracker.models import (
    Basis,
    Bound,
    Claim,
    DailyPrice,
    Gap,
    Holder,
    HolderInfo,
    HolderLedger,
    Observation,
    Origin,
    Scope,
)
from tracker.render import render
from tracker.store import queries
from tracker.store.engine import write_connection
from tracker.store.migrate import open_database

Run = Callable[..., Result]
DAY = dt.timedelta(days=1)
START, END = dt.date(2024, 12, 20), dt.date(2025, 3, 10)
PREFERENCE = ("bitstamp", "bundled", "bitfinex", "coinbase", "kraken", "consensus")


def clear_ledger(conn: Any) -> None:
    """Drop the shipped ledger the new database was given, to start from a known one."""
    obs = Observation.__table__  # type: ignore[attr-defined]
    conn.execute(obs.update().values(supersedes=None))
    conn.execute(obs.delete())
    conn.execute(Address.__table__.delete())  # type: ignore[attr-defined]
    conn.execute(Holder.__table__.delete())  # type: ignore[attr-defined]


@pytest.fixture
def engine(db_url: str) -> Iterator[Any]:
    """A migrated database with the bundled history, three holders and a ledger with ties."""
    eng = open_database(db_url, settings=Settings()).engine
    with write_connection(eng) as conn:
        clear_ledger(conn)
        holders = Holder.__table__  # type: ignore[attr-defined]
        conn.execute(
            holders.insert(),
            [
                {"id": 1, "slug": "alpha", "name": "Alpha"},
                {"id": 2, "slug": "beta", "name": "Beta"},
                {"id": 3, "slug": "gamma", "name": "Gamma"},
            ],
        )
        add_observations(conn, LEDGER)
        queries.insert_daily_prices(conn=conn, rows=EXTRA_PRICES)
    yield eng
    eng.dispose()


# (id, holder_id, btc or None, basis, as_of)
LEDGER = [
    (1, 1, "100", "estimate", dt.date(2025, 1, 10)),
    (2, 1, "90.5", "official", dt.date(2025, 1, 10)),  # same day: official wins over estimate
    (3, 1, None, "undisclosed", dt.date(2025, 2, 1)),  # no amount: the official one still counts
    (4, 1, "120.00000001", "reported", dt.date(2025, 2, 15)),
    (5, 2, "7", "estimate", dt.date(2025, 1, 31)),
    (6, 2, "8", "estimate", dt.date(2025, 1, 31)),  # same day, same basis: the newer (id) wins
    (7, 2, "0.5", "reported", dt.date(2025, 3, 9)),
    # gamma (3) has no observation at all
]
# A few closes from exchanges next to the bundled ones, to exercise the source preference.
EXTRA_PRICES = [
    {"currency": "USD", "date": dt.date(2025, 1, 31), "source": "bitstamp", "close": Decimal("101000.5")},
    {"currency": "USD", "date": dt.date(2025, 2, 28), "source": "kraken", "close": Decimal("1")},
    {"currency": "USD", "date": dt.date(2025, 3, 2), "source": "coinbase", "close": Decimal("86000.01")},
    {"currency": "USD", "date": dt.date(2025, 3, 2), "source": "consensus", "close": Decimal("2")},
]  # fmt: skip


RECORDED = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)


def add_observations(conn: Any, ledger: list[tuple[int, int, str | None, str, dt.date]]) -> None:
    insert_observations(
        conn,
        [
            {"id": i, "holder_id": h, "btc": btc, "basis": basis, "as_of": as_of}
            for i, h, btc, basis, as_of in ledger
        ],
    )


def insert_observations(conn: Any, rows: list[dict[str, Any]]) -> None:
    """Rows of id, holder_id, btc (str or None), basis, as_of, and optionally scope, origin,
    published, recorded_at, supersedes, removed (bool)."""
    obs = Observation.__table__  # type: ignore[attr-defined]
    for r in rows:  # one at a time: a correction's target must exist first
        btc = r["btc"]
        conn.execute(
            obs.insert(),
            {
                "id": r["id"], "holder_id": r["holder_id"],
                "sats": None if btc is None else int(Decimal(btc) * 10**8),
                "bound": None if btc is None else r.get("bound", "exact"),
                "as_of": r["as_of"], "basis": r["basis"], "source": f"source {r['id']}",
                "recorded_at": r.get("recorded_at", RECORDED),
                "scope": r.get("scope", "government"), "origin": r.get("origin", "user"),
                "published": r.get("published"), "supersedes": r.get("supersedes"),
                "removed_at": RECORDED if r.get("removed") else None,
            },
        )  # fmt: skip


# --- the independent computation -----------------------------------------------------------------


def period_of(day: dt.date, interval: Interval) -> dt.date:
    if interval is Interval.MONTH:
        return day.replace(day=1)
    if interval is Interval.WEEK:
        return day - dt.timedelta(days=day.weekday())
    return day


def period_end(start: dt.date, interval: Interval) -> dt.date:
    if interval is Interval.MONTH:
        following = (start.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        return following - DAY
    if interval is Interval.WEEK:
        return start + 6 * DAY
    return start


def model_ledgers(conn: Any) -> list[HolderLedger]:
    """Every live holder with its live claims, read plainly: what load_ledgers gives."""
    obs = Observation.__table__  # type: ignore[attr-defined]
    holders = Holder.__table__  # type: ignore[attr-defined]
    rows = conn.execute(sa.select(holders).where(holders.c.removed_at.is_(None))).all()
    claims: dict[int, list[Claim]] = {r.id: [] for r in rows}
    slugs = {r.id: r.slug for r in rows}
    for r in conn.execute(sa.select(obs).where(obs.c.removed_at.is_(None))).all():
        if r.holder_id in claims:
            claims[r.holder_id].append(
                Claim(
                    holder=slugs[r.holder_id],
                    sats=r.sats,
                    bound=None if r.bound is None else Bound(r.bound),
                    as_of=r.as_of,
                    basis=Basis(r.basis),
                    source=r.source,
                    id=r.id,
                    scope=Scope(r.scope),
                    published=r.published,
                    supersedes=r.supersedes,
                    origin=Origin(r.origin),
                    recorded_on=r.recorded_at.date(),
                )
            )
    return [HolderLedger(HolderInfo.of(r), tuple(claims[r.id])) for r in rows]


def model_holdings(
    ledgers: list[HolderLedger], on: dt.date, known_at: dt.date | None
) -> list[tuple[str, int | None, State]]:
    """Each sovereign's (slug, headline id, state) on ``on``, by tracker.headline."""
    out = []
    for lg in sorted(ledgers, key=lambda lg: lg.holder.id or 0):
        seen = visible(lg.claims, known_at)
        if not is_sovereign(lg, seen):
            continue
        head = headline(seen, on)
        out.append((lg.holder.slug, None if head is None else head.id, standing(seen, on).state))
    return out


def expected_rows(
    engine: Any, interval: Interval, start: dt.date, end: dt.date, known_at: dt.date | None = None
) -> list[dict[str, Any]]:
    """Every daily row and observation read plainly, then grouped and valued here in Python."""
    prices = DailyPrice.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        daily = conn.execute(
            sa.select(prices.c.date, prices.c.source, prices.c.close).where(
                prices.c.date >= start, prices.c.date <= end
            )
        ).all()
        ledgers = model_ledgers(conn)
    claims = {c.id: c for lg in ledgers for c in lg.claims}
    best: dict[dt.date, tuple[dt.date, int, str, Decimal]] = {}
    for day, source, close in daily:
        key = (day, -PREFERENCE.index(source))
        p = period_of(day, interval)
        if p not in best or key > (best[p][0], best[p][1]):
            best[p] = (day, -PREFERENCE.index(source), source, close)
    out = []
    for p in sorted(best):
        day, _, source, close = best[p]
        last = min(period_end(p, interval), end)
        holdings = []
        for slug, cid, state in model_holdings(ledgers, last, known_at):
            value = None
            if cid is not None:
                sats = claims[cid].sats
                assert sats is not None
                value = (Decimal(sats) / 10**8 * close).quantize(Decimal("0.01"), ROUND_HALF_EVEN)
            holdings.append((slug, cid, value, state))
        out.append({"start": max(p, start), "end": last, "close_date": day, "source": source,
                    "close": close, "holdings": holdings})  # fmt: skip
    return out


def actual_rows(tl: timeline.Timeline) -> list[dict[str, Any]]:
    return [
        {"start": p.start, "end": p.end, "close_date": p.close_date, "source": p.close_source,
         "close": p.close,
         "holdings": [(h.slug, h.observation_id, h.value, h.state) for h in p.holdings]}
        for p in tl.periods
    ]  # fmt: skip


@pytest.mark.parametrize("interval", list(Interval))
def test_history_matches_an_independent_recomputation(engine: Any, interval: Interval) -> None:
    with engine.connect() as conn:
        tl = timeline.build_timeline(conn=conn, start=START, end=END, interval=interval)
    want = expected_rows(engine, interval, START, END)
    assert actual_rows(tl) == want
    assert len(want) == {Interval.DAY: 81, Interval.WEEK: 13, Interval.MONTH: 4}[interval]


def test_spot_checks_by_hand(engine: Any) -> None:
    """A few answers worked out by hand, to be sure the recomputation above is itself right."""
    with engine.connect() as conn:
        tl = timeline.build_timeline(conn=conn, start=START, end=END, interval=Interval.MONTH)
    by = {p.label: p for p in tl.periods}
    assert list(by) == ["2024-12", "2025-01", "2025-02", "2025-03"]
    jan, feb, mar = by["2025-01"], by["2025-02"], by["2025-03"]
    assert (jan.close_source, jan.close) == ("bitstamp", Decimal("101000.5"))  # beats bundled
    # bundled beats kraken on 2025-02-28
    assert (feb.close_source, feb.close) == ("bundled", bundled_close("2025-02-28"))
    # March is cut at --to: its close is 2025-03-10's, holdings as of 2025-03-10
    assert (mar.end, mar.close_date, mar.close_source) == (END, END, "bundled")
    alpha, beta, gamma = jan.holdings
    assert (alpha.observation_id, alpha.btc) == (2, Decimal("90.5"))  # official beats estimate
    assert alpha.value == (Decimal("90.5") * Decimal("101000.5")).quantize(Decimal("0.01"))
    assert (beta.observation_id, beta.btc) == (6, Decimal(8))  # the newer of two estimates
    assert gamma.btc is None and gamma.value is None  # never disclosed: no value, not zero
    assert feb.holdings[0].observation_id == 4  # the undisclosed 2025-02-01 claim is skipped
    assert mar.holdings[1].observation_id == 7  # as of 2025-03-09, before the cut
    assert by["2024-12"].start == START and all(h.btc is None for h in by["2024-12"].holdings)


def test_the_preferred_source_wins_on_a_day(engine: Any) -> None:
    # 2025-03-02 has bundled, coinbase and consensus closes
    with engine.connect() as conn:
        tl = timeline.build_timeline(
            conn=conn, start=dt.date(2025, 3, 2), end=dt.date(2025, 3, 2), interval=Interval.DAY
        )
    (day,) = tl.periods
    assert (day.close_source, day.close) == ("bundled", bundled_close("2025-03-02"))


def test_week_labels_are_iso_weeks(engine: Any) -> None:
    with engine.connect() as conn:
        tl = timeline.build_timeline(
            conn=conn, start=dt.date(2024, 12, 28), end=dt.date(2025, 1, 12), interval=Interval.WEEK
        )
    got = [(p.label, p.start, p.end) for p in tl.periods]
    assert got == [
        ("2024-W52", dt.date(2024, 12, 28), dt.date(2024, 12, 29)),
        ("2025-W01", dt.date(2024, 12, 30), dt.date(2025, 1, 5)),  # ISO: 2024-12-30 is in 2025-W01
        ("2025-W02", dt.date(2025, 1, 6), dt.date(2025, 1, 12)),
    ]


def test_only_the_chosen_holders_in_the_order_asked(engine: Any) -> None:
    with engine.connect() as conn:
        tl = timeline.build_timeline(
            conn=conn, start=START, end=END, interval=Interval.MONTH, holders=["beta", "alpha"]
        )
        with pytest.raises(InputError, match="unknown holder 'delta'"):
            timeline.build_timeline(
                conn=conn, start=START, end=END, interval=Interval.MONTH, holders=["delta"]
            )
    assert [h.slug for h in tl.holders] == ["beta", "alpha"]
    assert all([h.slug for h in p.holdings] == ["beta", "alpha"] for p in tl.periods)


# --- missing days --------------------------------------------------------------------------------


def test_missing_days_are_named_as_ranges(engine: Any) -> None:
    present = {dt.date(2024, 3, d) for d in (1, 5, 6, 8, 10)}
    rows = [
        {"currency": "USD", "date": d, "source": "bitfinex", "close": Decimal(1)} for d in present
    ]
    with write_connection(engine) as conn:
        queries.insert_daily_prices(conn=conn, rows=rows)
    with engine.connect() as conn:
        gaps = timeline.missing_days(
            conn=conn, start=dt.date(2024, 2, 28), end=dt.date(2024, 3, 12), source="bitfinex"
        )
        end = bundled_last_day()
        everything = timeline.missing_days(conn=conn, today=end + 19 * DAY)
        nothing = timeline.missing_days(conn=conn, source="nobody")
    # the same, by brute force
    days = [dt.date(2024, 2, 28) + n * DAY for n in range(14)]
    missing = [d for d in days if d not in present]
    assert [d for g in gaps for d in (g.first + n * DAY for n in range(g.days))] == missing
    assert [str(g) for g in gaps] == [
        "2024-02-28 to 2024-02-29 (2 days)",
        "2024-03-02 to 2024-03-04 (3 days)",
        "2024-03-07 (1 day)",
        "2024-03-09 (1 day)",
        "2024-03-11 to 2024-03-12 (2 days)",
    ]
    # After the bundled series' last day, every day up to yesterday is expected.
    assert everything == [Gap(end + DAY, end + 18 * DAY)]
    assert nothing == []


def test_history_names_the_missing_days(engine: Any) -> None:
    prices = DailyPrice.__table__  # type: ignore[attr-defined]
    with write_connection(engine) as conn:
        conn.execute(
            prices.delete().where(prices.c.date.between(dt.date(2025, 2, 3), dt.date(2025, 2, 9)))
        )
    with engine.connect() as conn:
        tl = timeline.build_timeline(conn=conn, start=START, end=END, interval=Interval.WEEK)
    assert tl.missing == (Gap(dt.date(2025, 2, 3), dt.date(2025, 2, 9)),)
    assert "2025-W06" not in [p.label for p in tl.periods]  # a week without any close
    assert "2025-02-03 to 2025-02-09 (7 days)" in render(tl, "table")
    assert json.loads(render(tl, "json"))["missing_days"] == [
        {"from": "2025-02-03", "to": "2025-02-09", "days": 7}
    ]


# --- the ledger rule, against tracker.headline ----------------------------------------------------

JAN = dt.date(2025, 1, 1)


def jan(day: int) -> dt.date:
    return JAN + (day - 1) * DAY


def at_midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=dt.UTC)


RULE_HOLDERS = [
    # (id, slug, kind, removed)
    (1, "gov-reserve", "state", False),
    (2, "same-day", "state", False),
    (3, "removed-row", "state", False),
    (4, "corrected", "state", False),
    (5, "bad-fix", "state", False),
    (6, "known-when", "state", False),
    (7, "linked", "state_linked", False),
    (8, "not-sovereign", "state", False),
    (9, "mixed", "state", False),
    (10, "empty", "state", False),
    (11, "gone", "state", True),
    (12, "zero", "state", False),
]
RULE_LEDGER: list[dict[str, Any]] = [
    # a reserve figure stands in until a government one, which an amountless claim never hides
    {"id": 1, "holder_id": 1, "btc": "10", "basis": "official", "as_of": jan(5), "scope": "reserve"},
    {"id": 2, "holder_id": 1, "btc": "20", "basis": "estimate", "as_of": jan(10)},
    {"id": 3, "holder_id": 1, "btc": None, "basis": "undisclosed", "as_of": jan(20)},
    {"id": 4, "holder_id": 1, "btc": "30", "basis": "official", "as_of": jan(25), "scope": "reserve"},
    {"id": 5, "holder_id": 1, "btc": "40", "basis": "official", "as_of": jan(26), "scope": "subset"},
    # same day: official > reported > estimate, whatever the ids; then the highest id
    {"id": 16, "holder_id": 2, "btc": "7", "basis": "official", "as_of": jan(5)},
    {"id": 17, "holder_id": 2, "btc": "6", "basis": "reported", "as_of": jan(5)},
    {"id": 18, "holder_id": 2, "btc": "5", "basis": "estimate", "as_of": jan(5)},
    {"id": 19, "holder_id": 2, "btc": "8", "basis": "estimate", "as_of": jan(8)},
    {"id": 20, "holder_id": 2, "btc": "9", "basis": "estimate", "as_of": jan(8)},
    # a removed row never counts
    {"id": 21, "holder_id": 3, "btc": "1", "basis": "official", "as_of": jan(5)},
    {"id": 22, "holder_id": 3, "btc": "2", "basis": "official", "as_of": jan(10), "removed": True},
    # a correction (published 2025-01-15) replaces its target from the start, once known
    {"id": 31, "holder_id": 4, "btc": "100", "basis": "official", "as_of": jan(5),
     "origin": "ledger", "published": jan(5)},
    {"id": 32, "holder_id": 4, "btc": "101", "basis": "official", "as_of": jan(6),
     "origin": "ledger", "published": jan(15), "supersedes": 31},
    # a removed correction corrects nothing
    {"id": 41, "holder_id": 5, "btc": "50", "basis": "official", "as_of": jan(8)},
    {"id": 42, "holder_id": 5, "btc": "49", "basis": "official", "as_of": jan(8),
     "supersedes": 41, "removed": True},
    # known from: the shipped ledger's publication date, else the day it was recorded
    {"id": 51, "holder_id": 6, "btc": "4", "basis": "official", "as_of": jan(3),
     "origin": "ledger", "published": jan(10)},
    {"id": 52, "holder_id": 6, "btc": "3", "basis": "official", "as_of": jan(4),
     "origin": "user", "recorded_at": at_midnight(jan(20)) + dt.timedelta(hours=23)},
    {"id": 53, "holder_id": 6, "btc": "2", "basis": "official", "as_of": jan(5),
     "origin": "ledger", "recorded_at": at_midnight(jan(12))},  # no published date: recorded
    {"id": 61, "holder_id": 7, "btc": "1000", "basis": "estimate", "as_of": jan(2)},
    {"id": 71, "holder_id": 8, "btc": "500", "basis": "estimate", "as_of": jan(2),
     "scope": "not_sovereign"},
    {"id": 81, "holder_id": 9, "btc": "500", "basis": "estimate", "as_of": jan(2),
     "scope": "not_sovereign"},
    {"id": 82, "holder_id": 9, "btc": None, "basis": "undisclosed", "as_of": jan(5)},
    {"id": 91, "holder_id": 11, "btc": "77", "basis": "official", "as_of": jan(2), "removed": True},
    {"id": 92, "holder_id": 12, "btc": "0", "basis": "official", "as_of": jan(2)},
]  # fmt: skip


@pytest.fixture
def rules(db_url: str) -> Iterator[Any]:
    """A database whose ledger has one holder per rule of the headline."""
    eng = open_database(db_url, settings=Settings()).engine
    with write_connection(eng) as conn:
        clear_ledger(conn)
        conn.execute(
            Holder.__table__.insert(),  # type: ignore[attr-defined]
            [{"id": i, "slug": slug, "name": slug.title(), "kind": kind,
              "removed_at": RECORDED if removed else None}
             for i, slug, kind, removed in RULE_HOLDERS],
        )  # fmt: skip
        insert_observations(conn, RULE_LEDGER)
    yield eng
    eng.dispose()


def daily(
    engine: Any, known_at: dt.date | None = None
) -> dict[dt.date, dict[str, timeline.Holding]]:
    """January 2025 day by day: each day's holdings by slug."""
    with engine.connect() as conn:
        tl = timeline.build_timeline(
            conn=conn, start=JAN, end=jan(31), interval=Interval.DAY, known_at=known_at
        )
    return {p.end: {h.slug: h for h in p.holdings} for p in tl.periods}


def ids(days: dict[dt.date, dict[str, timeline.Holding]], slug: str, *on: int) -> list[int | None]:
    return [days[jan(d)][slug].observation_id for d in on]


def test_the_government_figure_else_the_reserve_one(rules: Any) -> None:
    days = daily(rules)
    assert ids(days, "gov-reserve", 4, 5, 9, 10, 20, 25, 26) == [None, 1, 1, 2, 2, 2, 2]
    assert days[jan(7)]["gov-reserve"].scope is Scope.RESERVE
    assert days[jan(26)]["gov-reserve"].scope is Scope.GOVERNMENT  # never the subset's 40
    assert days[jan(4)]["gov-reserve"].state is State.NO_DATA


def test_same_day_official_then_reported_then_estimate_then_the_newest(rules: Any) -> None:
    assert ids(daily(rules), "same-day", 5, 7, 8) == [16, 16, 20]


def test_removed_rows_and_holders_never_count(rules: Any) -> None:
    days = daily(rules)
    assert ids(days, "removed-row", 9, 12, 31) == [21, 21, 21]
    assert ids(daily(rules), "bad-fix", 8, 20) == [41, 41]  # its only correction was removed
    assert "gone" not in days[jan(5)]


def test_a_correction_counts_from_when_it_is_known(rules: Any) -> None:
    assert ids(daily(rules), "corrected", 5, 6, 20) == [None, 32, 32]  # 31 never, once corrected
    assert daily(rules)[jan(5)]["corrected"].state is State.NO_DATA
    before = daily(rules, known_at=jan(14))  # the correction is published on the 15th
    assert ids(before, "corrected", 5, 6, 20) == [31, 31, 31]
    assert ids(daily(rules, known_at=jan(15)), "corrected", 5, 20) == [None, 32]


def test_as_known_at_counts_publication_or_recording(rules: Any) -> None:
    assert ids(daily(rules), "known-when", 3, 4, 5, 31) == [51, 52, 53, 53]
    assert ids(daily(rules, known_at=jan(9)), "known-when", 3, 31) == [None, None]
    assert ids(daily(rules, known_at=jan(10)), "known-when", 3, 31) == [51, 51]
    assert ids(daily(rules, known_at=jan(12)), "known-when", 4, 31) == [51, 53]
    # recorded at 23:00 UTC on the 20th: known on the 20th, not the 19th
    assert ids(daily(rules, known_at=jan(19)), "known-when", 4) == [51]
    assert ids(daily(rules, known_at=jan(20)), "known-when", 4) == [52]


def test_only_sovereigns_are_shown(rules: Any) -> None:
    shown = list(daily(rules)[jan(5)])
    assert shown == [
        "gov-reserve", "same-day", "removed-row", "corrected", "bad-fix", "known-when",
        "mixed", "empty", "zero",
    ]  # fmt: skip
    with rules.connect() as conn:
        for slug in ("linked", "not-sovereign", "gone"):
            with pytest.raises(InputError, match=f"unknown holder '{slug}'"):
                timeline.build_timeline(
                    conn=conn, start=JAN, end=jan(31), interval=Interval.MONTH, holders=[slug]
                )


def test_no_data_and_undisclosed_are_never_zero(rules: Any) -> None:
    days = daily(rules)
    mixed = [days[jan(d)]["mixed"] for d in (3, 6)]
    assert [h.state for h in mixed] == [State.NO_DATA, State.UNDISCLOSED]  # 500 is not its own
    assert all(h.btc is None and h.value is None for h in mixed)
    assert days[jan(6)]["empty"].state is State.NO_DATA
    zero = days[jan(6)]["zero"]
    assert (zero.state, zero.btc, zero.value) == (State.VALUED, 0, 0)  # divested: a real zero
    with rules.connect() as conn:
        tl = timeline.build_timeline(
            conn=conn, start=jan(3), end=jan(6), interval=Interval.DAY, holders=["mixed", "empty"]
        )
    data = json.loads(render(tl, "json"))
    assert [h["state"] for p in data["periods"] for h in p["holdings"]] == [
        "no_data",
        "no_data",
        "no_data",
        "no_data",
        "undisclosed",
        "no_data",
        "undisclosed",
        "no_data",
    ]  # the 3rd to the 6th: the amountless claim is dated the 5th
    text = render(tl, "table", width=120)
    assert "undisclosed" in text and "no data" in text
    assert " 0 " not in text and "0.00" not in text


@pytest.mark.parametrize("known_at", [None, jan(1), jan(9), jan(10), jan(14), jan(15), jan(20)])
def test_the_rules_ledger_matches_tracker_headline(rules: Any, known_at: dt.date | None) -> None:
    with rules.connect() as conn:
        tl = timeline.build_timeline(
            conn=conn, start=JAN, end=jan(31), interval=Interval.DAY, known_at=known_at
        )
    assert actual_rows(tl) == expected_rows(rules, Interval.DAY, JAN, jan(31), known_at)


SCOPES = ("government", "government", "reserve", "subset", "not_sovereign")
BASES = ("official", "reported", "estimate", "undisclosed")


@st.composite
def ledgers(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Up to ten observations of three holders: any scope and basis, same-day ties, shipped or
    the user's (known from publication or recording), corrections and removals."""
    rows: list[dict[str, Any]] = []
    for n in range(draw(st.integers(0, 10))):
        holder = draw(st.sampled_from((1, 2, 3)))
        as_of = jan(1 + draw(st.integers(0, 12)))
        basis = draw(st.sampled_from(BASES))
        btc = None if basis == "undisclosed" else str(Decimal(draw(st.integers(0, 10**9))) / 10**8)
        earlier = [r["id"] for r in rows if r["holder_id"] == holder]
        rows.append(
            {
                "id": n + 1, "holder_id": holder, "btc": btc, "basis": basis, "as_of": as_of,
                "bound": draw(st.sampled_from(("exact", "at_least", "approximate"))),
                "scope": draw(st.sampled_from(SCOPES)),
                "origin": draw(st.sampled_from(("ledger", "user"))),
                "published": draw(st.none() | st.integers(0, 10).map(lambda d, a=as_of: a + d * DAY)),
                "recorded_at": at_midnight(jan(1 + draw(st.integers(0, 20))))
                + dt.timedelta(hours=draw(st.integers(0, 23))),
                "supersedes": draw(st.none() | st.sampled_from(earlier)) if earlier else None,
                "removed": draw(st.integers(0, 5)) == 0,
            }
        )  # fmt: skip
    return rows


@pytest.fixture
def prop_engine(db_url: str) -> Iterator[Any]:
    eng = open_database(db_url, settings=Settings()).engine
    with write_connection(eng) as conn:
        clear_ledger(conn)
        conn.execute(
            Holder.__table__.insert(),  # type: ignore[attr-defined]
            [{"id": 1, "slug": "h", "name": "H"}, {"id": 2, "slug": "k", "name": "K"},
             {"id": 3, "slug": "l", "name": "L", "kind": "state_linked"}],
        )  # fmt: skip
    yield eng
    eng.dispose()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(ledgers(), st.none() | st.integers(0, 25).map(lambda d: jan(1 + d)))
def test_holdings_follow_tracker_headline(
    prop_engine: Any, rows: list[dict[str, Any]], known_at: dt.date | None
) -> None:
    obs = Observation.__table__  # type: ignore[attr-defined]
    with write_connection(prop_engine) as conn:
        conn.execute(obs.update().values(supersedes=None))
        conn.execute(obs.delete())
        insert_observations(conn, rows)
    end = jan(15)
    with prop_engine.connect() as conn:
        tl = timeline.build_timeline(
            conn=conn, start=JAN, end=end, interval=Interval.DAY, known_at=known_at
        )
        ledgers_ = model_ledgers(conn)
    assert len(tl.periods) == 15
    for p in tl.periods:
        got = [(h.slug, h.observation_id, h.state) for h in p.holdings]
        assert got == model_holdings(ledgers_, p.end, known_at), p.end
    assert actual_rows(tl) == expected_rows(prop_engine, Interval.DAY, JAN, end, known_at)


# --- rendering and the command -------------------------------------------------------------------


def test_json_and_csv_carry_exact_strings(engine: Any) -> None:
    with engine.connect() as conn:
        tl = timeline.build_timeline(conn=conn, start=START, end=END, interval=Interval.MONTH)
    data = json.loads(render(tl, "json"))
    jan = data["periods"][1]
    assert jan["close"] == "101000.50" and jan["close_source"] == "bitstamp"
    assert jan["holdings"][0] == {
        "slug": "alpha", "btc": "90.5", "bound": "exact", "basis": "official",
        "holding_as_of": "2025-01-10", "value": "9140545.25", "state": "valued",
        "scope": "government",
    }  # fmt: skip
    gamma = jan["holdings"][2]
    assert (gamma["btc"], gamma["value"], gamma["state"]) == (None, None, "no_data")
    lines = render(tl, "csv").splitlines()
    assert lines[0].startswith("period,start,end,close_date,close,close_source,holder")
    assert len(lines) == 1 + 4 * 3
    assert lines[0].endswith(",value,state,scope")
    assert lines[4].startswith(
        "2025-01,2025-01-01,2025-01-31,2025-01-31,101000.50,bitstamp,alpha,90.5,exact"
    )
    assert lines[6].endswith(",gamma,,,,,,no_data,")


def test_history_command(run_cli: Run) -> None:
    args = ("history", "--from", "2025-04-01", "--to", "2025-05-31", "--holder", "el-salvador")
    done = run_cli(*args, "--format", "json")
    assert done.exit_code == 0, done.stderr
    data = json.loads(done.stdout)
    april, may = data["periods"]
    assert april["close"] == str(bundled_close("2025-04-30"))
    # the shipped ledger: about 6,159 BTC as of 2025-04-26 (National Bitcoin Office)
    value = Decimal(6159) * bundled_close("2025-04-30")
    assert april["holdings"] == [
        {"slug": "el-salvador", "btc": "6159", "bound": "approximate", "basis": "official",
         "holding_as_of": "2025-04-26", "value": format(value.quantize(Decimal("0.01")), "f"),
         "state": "valued", "scope": "government"}
    ]  # fmt: skip
    assert may["period"] == "2025-05" and data["as_known_at"] is None
    # On 2025-04-20 only the press's "over 6,100" (published 2025-04-14) was known.
    then = json.loads(run_cli(*args, "-f", "json", "--as-known-at", "2025-04-20").stdout)
    assert then["as_known_at"] == "2025-04-20"
    assert [p["holdings"][0]["btc"] for p in then["periods"]] == ["6100", "6100"]
    table = run_cli(*args)
    assert "~6,159" in table.stdout and "2025-05" in table.stdout


def shipped(run_cli: Run, *args: str) -> dict[str, Any]:
    done = run_cli("history", *args, "--format", "json")
    assert done.exit_code == 0, done.stderr
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def holding(data: dict[str, Any], period: str, slug: str) -> dict[str, Any]:
    (p,) = (p for p in data["periods"] if p["period"] == period)
    (h,) = (h for h in p["holdings"] if h["slug"] == slug)
    return h


def test_history_follows_the_shipped_ledger(run_cli: Run) -> None:
    data = shipped(run_cli, "--from", "2022-01-01", "--to", "2025-12-31", "--interval", "month")
    slugs = [h["slug"] for h in data["holders"]]
    assert len(slugs) == 13 and "el-salvador" in slugs and "bulgaria" in slugs
    for gone in ("ukraine", "georgia", "united-arab-emirates", "north-korea"):
        assert gone not in slugs  # not_sovereign only, or state-linked: never shown
    assert holding(data, "2022-10", "el-salvador")["state"] == "no_data"
    nov = holding(data, "2022-11", "el-salvador")
    assert (nov["btc"], nov["bound"], nov["holding_as_of"]) == ("2381", "approximate", "2022-11-17")
    assert holding(data, "2024-06", "united-states")["btc"] == "213246"
    assert holding(data, "2024-06", "el-salvador")["btc"] == "5748.76"
    assert holding(data, "2025-11", "el-salvador")["btc"] == "7474.37"
    assert holding(data, "2022-01", "bulgaria")["btc"] == "0"  # divested in 2018: a real 0
    # Kazakhstan's reserve was announced with no amount in 2025-09: undisclosed, not 0
    kz = [holding(data, m, "kazakhstan") for m in ("2025-08", "2025-09")]
    assert [(h["state"], h["btc"]) for h in kz] == [("no_data", None), ("undisclosed", None)]
    # the U.S. headline is the government estimate; the undisclosed reserve never hides it
    us = holding(data, "2025-04", "united-states")
    assert (us["scope"], us["btc"]) == ("government", "198109")


def test_history_as_known_at_on_the_shipped_ledger(run_cli: Run) -> None:
    args = ("--from", "2025-11-01", "--to", "2025-11-30", "--holder", "el-salvador")
    assert holding(shipped(run_cli, *args), "2025-11", "el-salvador")["btc"] == "7474.37"
    then = shipped(run_cli, *args, "--as-known-at", "2025-01-01")
    assert holding(then, "2025-11", "el-salvador")["btc"] == "5980.77"  # published 2024-12-20
    early = shipped(run_cli, *args, "--as-known-at", "2020-01-01")
    assert holding(early, "2025-11", "el-salvador")["state"] == "no_data"


def test_history_starts_at_the_first_observation(run_cli: Run) -> None:
    data = shipped(run_cli, "--to", "2018-03-31")
    assert data["from"] == "2018-01-01"  # Bulgaria's 2018 figure, the shipped ledger's first
    assert [p["period"] for p in data["periods"]] == ["2018-01", "2018-02", "2018-03"]
    es = shipped(run_cli, "--to", "2022-12-31", "--holder", "el-salvador")
    assert es["from"] == "2022-11-17"
    later = shipped(run_cli, "--to", "2025-12-31", "--as-known-at", "2017-06-30")
    assert later["from"] == "2014-03-01"  # nothing known: the oldest daily close


def test_history_command_refuses_bad_input(run_cli: Run) -> None:
    for args, needle in (
        (("--from", "2025-05-01", "--to", "2025-04-01"), "after"),
        (("--holder", "atlantis"), "unknown holder"),
        (("--holder", "ukraine"), "unknown holder 'ukraine' (known sovereigns: united-states,"),
        (("--holder", "north-korea"), "unknown holder 'north-korea'"),  # state-linked
        (("--as-known-at", "2025-13-01"), "--as-known-at '2025-13-01' is not a date"),
        (("--as-known-at", "2999-01-01"), "--as-known-at"),
        (("--interval", "year"), "year"),
        (("--chart", "--format", "json"), "--chart"),
    ):
        done = run_cli("history", *args)
        assert done.exit_code in (1, 2), args
        assert needle in done.stderr, (args, done.stderr)


def test_names_are_shown_as_typed_never_read_as_markup(run_cli: Run) -> None:
    names = {
        "bad": "Bad [/] name",
        "druk": "Bhutan [via Druk Holding]",
        "fund": "Fund :thumbs_up: [bold]x[/bold]",  # no emoji, no style either
    }
    for slug, name in names.items():
        added = run_cli(
            "holdings", "add", slug, "--name", name, "--as-of", "2025-01-05",
            "--basis", "official", "--source", "x [/] y", "--btc", "5",
        )  # fmt: skip
        assert added.exit_code == 0, added.stderr
    args = ("history", "--from", "2025-01-01", "--to", "2025-02-28")
    done = run_cli(*args, *(f"--holder={slug}" for slug in names))
    assert done.exit_code == 0, done.stderr
    for name in names.values():
        assert done.stdout.count(name) == 2, (name, done.stdout)  # the BTC and value headings
    assert "👍" not in done.stdout
    assert "2025-02" in done.stdout and "512,062.05" in done.stdout  # 5 BTC at the January close


def test_history_names_where_the_bundled_series_ends(run_cli: Run, tmp_path: Path) -> None:
    from tests.helpers import bundled_last_day, store_closes

    done = run_cli("history", "--from", "2026-06-01", "--to", "2026-08-31", "-f", "json")
    assert json.loads(done.stdout)["bundled_series_ends"] == bundled_last_day().isoformat()
    text = run_cli("history", "--from", "2026-06-01", "--to", "2026-08-31").stdout
    assert f"the bundled series ends {bundled_last_day()}" in " ".join(text.split())
    later = bundled_last_day() + dt.timedelta(days=10)
    store_closes(
        f"sqlite:///{tmp_path / 'tracker.db'}", {later: Decimal("90000")}, source="bitstamp"
    )
    args = ("history", "--from", str(later), "--to", str(later), "-f", "json")
    assert json.loads(run_cli(*args).stdout)["bundled_series_ends"] is None  # not used there


def test_history_values_carry_their_holdings_bound(run_cli: Run) -> None:
    """'≥6,100' BTC at an exact close is at least that value: the value cell says so too."""
    text = run_cli("history", "--from", "2025-04-01", "--to", "2025-04-30", "--holder", "el-salvador",
                   "--as-known-at", "2025-04-20")  # fmt: skip
    row = next(line for line in text.stdout.splitlines() if line.lstrip().startswith("2025-04 "))
    cells = row.split()
    assert cells[2] == "≥6,100" and cells[3].startswith("≥"), row
