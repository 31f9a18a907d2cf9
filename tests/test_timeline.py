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
from tracker.config import Settings
from tracker.daily import history as timeline
from tracker.daily.history import Interval
from tracker.errors import InputError
from tracker.models import Basis, Bound, Claim, DailyPrice, Gap, Holder, Observation
from tracker.render import render
from tracker.store import queries
from tracker.store.engine import write_connection
from tracker.store.migrate import open_database
from tracker.valuation import claim_at

Run = Callable[..., Result]
DAY = dt.timedelta(days=1)
START, END = dt.date(2024, 12, 20), dt.date(2025, 3, 10)
PREFERENCE = ("bitstamp", "bundled", "bitfinex", "coinbase", "kraken", "consensus")


@pytest.fixture
def engine(db_url: str) -> Iterator[Any]:
    """A migrated database with the bundled history, three holders and a ledger with ties."""
    eng = open_database(db_url, settings=Settings()).engine
    with write_connection(eng) as conn:
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


def add_observations(conn: Any, ledger: list[tuple[int, int, str | None, str, dt.date]]) -> None:
    obs = Observation.__table__  # type: ignore[attr-defined]
    now = dt.datetime(2025, 6, 1, tzinfo=dt.UTC)
    conn.execute(
        obs.insert(),
        [
            {
                "id": i, "holder_id": h, "sats": None if btc is None else int(Decimal(btc) * 10**8),
                "bound": None if btc is None else "exact", "as_of": as_of, "basis": basis,
                "source": f"source {i}", "recorded_at": now,
            }
            for i, h, btc, basis, as_of in ledger
        ],
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


def expected_rows(
    engine: Any, interval: Interval, start: dt.date, end: dt.date
) -> list[dict[str, Any]]:
    """Every daily row and observation read plainly, then grouped and valued here in Python."""
    prices = DailyPrice.__table__  # type: ignore[attr-defined]
    obs = Observation.__table__  # type: ignore[attr-defined]
    holders = Holder.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        daily = conn.execute(
            sa.select(prices.c.date, prices.c.source, prices.c.close).where(
                prices.c.date >= start, prices.c.date <= end
            )
        ).all()
        slugs = dict(conn.execute(sa.select(holders.c.id, holders.c.slug)).all())
        claims: dict[int, list[Claim]] = {i: [] for i in slugs}
        for r in conn.execute(sa.select(obs)).all():
            claims[r.holder_id].append(
                Claim(
                    holder=slugs[r.holder_id],
                    sats=r.sats,
                    bound=None if r.bound is None else Bound(r.bound),
                    as_of=r.as_of,
                    basis=Basis(r.basis),
                    source=r.source,
                    id=r.id,
                )
            )
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
        for hid in sorted(slugs):
            claim = claim_at(tuple(claims[hid]), last)
            value = None
            if claim is not None and claim.sats is not None:
                value = (Decimal(claim.sats) / 10**8 * close).quantize(
                    Decimal("0.01"), ROUND_HALF_EVEN
                )
            holdings.append((slugs[hid], None if claim is None else claim.id, value))
        out.append({"start": max(p, start), "end": last, "close_date": day, "source": source,
                    "close": close, "holdings": holdings})  # fmt: skip
    return out


def actual_rows(tl: timeline.Timeline) -> list[dict[str, Any]]:
    return [
        {"start": p.start, "end": p.end, "close_date": p.close_date, "source": p.close_source,
         "close": p.close, "holdings": [(h.slug, h.observation_id, h.value) for h in p.holdings]}
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


# --- the ledger rule, against valuation.claim_at ----------------------------------------------------

BASES = ("official", "reported", "estimate", "undisclosed")


@pytest.fixture
def sqlite_engine(tmp_path: Path) -> Iterator[Any]:
    eng = open_database(f"sqlite:///{tmp_path / 'h.db'}", settings=Settings()).engine
    with write_connection(eng) as conn:
        conn.execute(Holder.__table__.insert(), [{"id": 1, "slug": "h", "name": "H"}])  # type: ignore[attr-defined]
    yield eng
    eng.dispose()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 12),  # as_of: 2025-01-01 + n days
            st.sampled_from(BASES),
            st.integers(1, 10**9),  # sats when disclosed
        ),
        max_size=8,
    )
)
def test_holdings_follow_claim_at(sqlite_engine: Any, claims: list[tuple[int, str, int]]) -> None:
    obs = Observation.__table__  # type: ignore[attr-defined]
    first = dt.date(2025, 1, 1)
    ledger = [
        (
            i + 1,
            1,
            None if basis == "undisclosed" else str(Decimal(sats) / 10**8),
            basis,
            first + n * DAY,
        )
        for i, (n, basis, sats) in enumerate(claims)
    ]
    with write_connection(sqlite_engine) as conn:
        conn.execute(obs.delete())
        if ledger:
            add_observations(conn, ledger)
    with sqlite_engine.connect() as conn:
        tl = timeline.build_timeline(
            conn=conn, start=first, end=first + 14 * DAY, interval=Interval.DAY
        )
    model = tuple(
        Claim(holder="h", sats=None if btc is None else int(Decimal(btc) * 10**8), bound=None,
              as_of=as_of, basis=Basis(basis), source="", id=i)
        for i, _, btc, basis, as_of in ledger
    )  # fmt: skip
    for p in tl.periods:
        want = claim_at(model, p.end)
        assert p.holdings[0].observation_id == (None if want is None else want.id), p.end


# --- rendering and the command -------------------------------------------------------------------


def test_json_and_csv_carry_exact_strings(engine: Any) -> None:
    with engine.connect() as conn:
        tl = timeline.build_timeline(conn=conn, start=START, end=END, interval=Interval.MONTH)
    data = json.loads(render(tl, "json"))
    jan = data["periods"][1]
    assert jan["close"] == "101000.50" and jan["close_source"] == "bitstamp"
    assert jan["holdings"][0] == {
        "slug": "alpha", "btc": "90.5", "bound": "exact", "basis": "official",
        "holding_as_of": "2025-01-10", "value": "9140545.25",
    }  # fmt: skip
    assert jan["holdings"][2]["btc"] is None and jan["holdings"][2]["value"] is None
    lines = render(tl, "csv").splitlines()
    assert lines[0].startswith("period,start,end,close_date,close,close_source,holder")
    assert len(lines) == 1 + 4 * 3
    assert (
        "2025-01,2025-01-01,2025-01-31,2025-01-31,101000.50,bitstamp,alpha,90.5,exact" in lines[4]
    )


def test_history_command(run_cli: Run) -> None:
    done = run_cli(
        "history", "--from", "2025-04-01", "--to", "2025-05-31", "--format", "json",
        "--holder", "el-salvador",
    )  # fmt: skip
    assert done.exit_code == 0, done.stderr
    data = json.loads(done.stdout)
    april, may = data["periods"]
    assert april["close"] == str(bundled_close("2025-04-30"))
    # the seed: el-salvador at least 6,100 BTC as of 2025-04-01
    value = Decimal(6100) * bundled_close("2025-04-30")
    assert april["holdings"] == [
        {"slug": "el-salvador", "btc": "6100", "bound": "at_least", "basis": "reported",
         "holding_as_of": "2025-04-01", "value": format(value.quantize(Decimal("0.01")), "f")}
    ]  # fmt: skip
    assert may["period"] == "2025-05"
    table = run_cli("history", "--from", "2025-04-01", "--to", "2025-05-31")
    assert "≥6,100" in table.stdout and "2025-05" in table.stdout


def test_history_command_refuses_bad_input(run_cli: Run) -> None:
    for args, needle in (
        (("--from", "2025-05-01", "--to", "2025-04-01"), "after"),
        (("--holder", "atlantis"), "unknown holder"),
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
    store_closes(f"sqlite:///{tmp_path / 'tracker.db'}", {later: Decimal("90000")}, source="bitstamp")
    args = ("history", "--from", str(later), "--to", str(later), "-f", "json")
    assert json.loads(run_cli(*args).stdout)["bundled_series_ends"] is None  # not used there


def test_history_values_carry_their_holdings_bound(run_cli: Run) -> None:
    """'≥6,100' BTC at an exact close is at least that value: the value cell says so too."""
    text = run_cli("history", "--from", "2025-04-01", "--to", "2025-04-30", "--holder", "el-salvador")
    row = next(line for line in text.stdout.splitlines() if line.lstrip().startswith("2025-04"))
    cells = row.split()
    assert cells[2] == "≥6,100" and cells[3].startswith("≥"), row
