"""On-chain history (`tracker verify --history`): addresses' transactions from a loopback fake
explorer (mempool's txs/summary, or paging /txs and /txs/chain/:txid), a holder's daily series
recomputed here by hand, idempotence, resuming, faults, and `tracker history` showing the series
beside the claims, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.fake_explorer import FakeExplorer, FakeTx, tx_body
from tracker import onchain_history as oh
from tracker.chain_models import Address, AddressTx, OnchainDaily
from tracker.config import Settings
from tracker.models import Holder
from tracker.onchain_series import (
    BadAnswer,
    TxEffect,
    address_days,
    holder_series,
    parse_page,
    parse_summary,
)
from tracker.store.engine import write_connection
from tracker.store.migrate import open_database

SAMPLES = Path("/work/shared/api-samples/esplora")
A1 = "32ixEdVJWo3kmvJGMTZq5jAQVZZeuwnqzo"
A2 = "3Fh6QjPzfu2LWYxVYqRZ45QPTja1PrFmNC"
OTHER = "bc1qxy2kgdygjrsqtzq2n0yrf2493p83kkfjhx0wlh"
TODAY = dt.date(2025, 3, 10)
T0 = int(dt.datetime(2025, 1, 1, 12, tzinfo=dt.UTC).timestamp())
HOUR = 3600


def txid(n: int) -> str:
    return f"{n:064x}"


# --- the fake explorer (tests/fake_explorer.py) and what it was given ------------------------


@dataclass
class Chain:
    """The shared fake explorer pair, and every transaction given to it (oldest first)."""

    fx: FakeExplorer
    txs: dict[str, list[FakeTx]] = field(default_factory=dict)

    @property
    def tip(self) -> int:
        return self.fx.tip("mempool")

    def url(self, name: str) -> str:
        return self.fx.base_url(name)

    def add(self, address: str, day: int, value: int, *, hour: int = 0) -> None:
        """A transaction ``day`` days after 2025-01-01 12:00 UTC, in a new block."""
        tx = self.fx.add_tx(address, value, time=T0 + day * 86400 + hour * HOUR)
        self.txs.setdefault(address, []).append(tx)

    def paths(self, name: str) -> list[str]:
        return [r.target for r in self.fx.requests(name)]

    def clear(self) -> None:
        """Forget the requests so far (the transactions and tip stay)."""
        for state in self.fx._explorers.values():
            state.log.clear()


@pytest.fixture
def fake(fake_explorer: Chain) -> Chain:
    return Chain(fake_explorer)


def settings_for(fake: Chain, *names: str) -> Settings:
    explorers: dict[str, Any] = {
        "mempool": {"enabled": False},
        "blockstream": {"enabled": False},
    }
    for name in names:
        explorers[name] = {"enabled": True, "base_url": fake.url(name), "rate_per_s": 1000}
    return Settings.model_validate(
        {"explorers": explorers, "fetch": {"retries": 1, "backoff_s": 0}}
    )


@pytest.fixture
def engine(db_url: str) -> Iterator[Any]:
    """A migrated database (the shipped ledger's holders) with no address but the test's."""
    eng = open_database(db_url, settings=Settings()).engine
    with write_connection(eng) as conn:
        conn.execute(AddressTx.__table__.delete())  # type: ignore[attr-defined]
        conn.execute(OnchainDaily.__table__.delete())  # type: ignore[attr-defined]
        conn.execute(Address.__table__.delete())  # type: ignore[attr-defined]
    yield eng
    eng.dispose()


def holder_id(engine: Any, slug: str) -> int:
    holders = Holder.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        return int(conn.execute(sa.select(holders.c.id).where(holders.c.slug == slug)).scalar_one())


def add_address(engine: Any, slug: str, address: str) -> int:
    table = Address.__table__  # type: ignore[attr-defined]
    with write_connection(engine) as conn:
        row = {
            "holder_id": holder_id(engine, slug),
            "address": address,
            "kind": "official",
            "origin": "user",
            "recorded_at": dt.datetime(2025, 1, 1, tzinfo=dt.UTC),
        }
        return int(conn.execute(table.insert().values(**row).returning(table.c.id)).scalar_one())


def series(engine: Any, slug: str) -> list[tuple[dt.date, int, int]]:
    daily = OnchainDaily.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(daily.c.date, daily.c.sats, daily.c.addresses)
            .where(daily.c.holder_id == holder_id(engine, slug))
            .order_by(daily.c.date)
        ).all()
    return [(r.date, r.sats, r.addresses) for r in rows]


def synced(engine: Any) -> dict[str, int | None]:
    table = Address.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        return {r.address: r.synced_height for r in conn.execute(sa.select(table))}


def stored_txs(engine: Any) -> int:
    table = AddressTx.__table__  # type: ignore[attr-defined]
    with engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def expected(fake: Chain, addresses: list[str], last: dt.date) -> list[tuple]:
    """The series recomputed from the fake's own transactions, day by day, by brute force."""
    txs = [(a, t) for a in addresses for t in fake.txs.get(a, [])]
    days = [dt.datetime.fromtimestamp(t.time, dt.UTC).date() for _, t in txs]
    if not days:
        return []
    out = []
    day = min(days)
    while day <= last:
        upto = [(a, t) for (a, t), d in zip(txs, days, strict=True) if d <= day]
        out.append((day, sum(t.value for _, t in upto), len({a for a, _ in upto})))
        day += dt.timedelta(days=1)
    return out


def run(engine: Any, fake: Chain, *names: str, holders: list[str] | None = None) -> Any:
    return oh.rebuild_onchain_history(
        settings_for(fake, *names), engine, holders, None, today=TODAY
    )


def populate(fake: Chain, count: int = 60) -> None:
    """``count`` transactions on A1 (some days several), a few on A2, never below zero."""
    for n in range(count):
        fake.add(A1, n // 3, 50_000_000 if n % 4 else -20_000_000, hour=n % 3)
    fake.add(A2, 10, 700_000_000)
    fake.add(A2, 40, -100_000_000)


# --- the pure part ----------------------------------------------------------------------------


def test_summary_sample_parses() -> None:
    body = json.loads((SAMPLES / "address_txs_summary.json").read_text(), parse_int=Decimal)
    body[1]["txid"] = "ab" * 32  # the sample's second entry is illustrative, its txid too
    effects = parse_summary(body)
    assert effects[0] == TxEffect(
        "dba43fd04b7ae3df8e5b596f2e7fab247c58629d622e3a5213f03a5a09684430",
        326148,
        dt.datetime(2014, 10, 20, 9, 40, 20, tzinfo=dt.UTC),
        15007599040,
    )
    assert address_days(effects[:1]) == {dt.date(2014, 10, 20): 15007599040}
    assert address_days(effects) == {dt.date(2014, 10, 20): 0}  # both on the same UTC day


@pytest.mark.parametrize(
    "body",
    [
        {"txid": "x"},
        [{"txid": "zz", "value": 1, "height": 1, "time": 1}],
        [{"txid": "ab" * 32, "value": "1", "height": 1, "time": 1}],
        [{"txid": "ab" * 32, "value": Decimal("1.5"), "height": 1, "time": 1}],
        [{"txid": "ab" * 32, "value": 1, "height": 1, "time": -5}],
    ],
)
def test_summary_of_another_shape_is_refused(body: Any) -> None:
    with pytest.raises(BadAnswer):
        parse_summary(body)


def test_page_nets_outputs_against_inputs_and_skips_unconfirmed() -> None:
    spend = tx_body(A1, FakeTx(txid(1), 10, T0, -3_000), confirmed=True)
    receive = tx_body(A1, FakeTx(txid(2), 9, T0, 8_000), confirmed=True)
    pending = tx_body(A1, FakeTx(txid(3), 0, 0, 99), confirmed=False)
    coinbase = {
        "txid": txid(4),
        "vin": [{"txid": "0" * 64, "prevout": None, "is_coinbase": True}],
        "vout": [{"scriptpubkey_address": A1, "value": 625_000_000}],
        "status": {"confirmed": True, "block_height": 8, "block_time": T0},
    }
    page = parse_page([pending, spend, receive, coinbase], A1)
    assert [e.value_sats for e in page.effects] == [-3_000, 8_000, 625_000_000]
    assert (page.confirmed, page.last_txid) == (3, txid(4))


def test_missing_transactions_are_an_error_not_a_series() -> None:
    effects = [TxEffect(txid(1), 1, dt.datetime(2025, 1, 1, tzinfo=dt.UTC), -5)]
    with pytest.raises(BadAnswer, match="transactions are missing"):
        address_days(effects, label=A1)


def test_holder_series_carries_balances_forward() -> None:
    t = dt.datetime(2025, 1, 1, 23, 59, tzinfo=dt.UTC)
    got = holder_series(
        {
            A1: [TxEffect(txid(1), 1, t, 10), TxEffect(txid(2), 3, t + 2 * oh_day(), -4)],
            A2: [TxEffect(txid(3), 2, t + oh_day(), 100)],
            OTHER: [],
        },
        last_day=dt.date(2025, 1, 4),
    )
    assert [(d.day.day, d.sats, d.addresses) for d in got] == [
        (1, 10, 1),
        (2, 110, 2),
        (3, 106, 2),
        (4, 106, 2),
    ]
    assert holder_series({A1: []}, last_day=dt.date(2025, 1, 4)) == []


def oh_day() -> dt.timedelta:
    return dt.timedelta(days=1)


# --- fetching and storing ---------------------------------------------------------------------


def test_summary_explorer_builds_the_series_and_twice_stores_the_same(
    engine: Any, fake: Chain
) -> None:
    add_address(engine, "el-salvador", A1)
    add_address(engine, "el-salvador", A2)
    populate(fake)
    result = run(engine, fake, "mempool")
    assert result.ok, result.error
    want = expected(fake, [A1, A2], TODAY)
    assert series(engine, "el-salvador") == want
    assert want[0][0] == dt.date(2025, 1, 1) and want[-1][0] == TODAY
    assert synced(engine) == {A1: fake.tip, A2: fake.tip}
    assert stored_txs(engine) == 62
    (done,) = result.holders
    assert (done.slug, done.addresses, done.requests, done.added) == ("el-salvador", 2, 2, 62)
    assert done.sats == want[-1][1] and done.first == dt.date(2025, 1, 1)
    assert not any("/txs/chain" in p or p.endswith("/txs") for p in fake.paths("mempool"))

    again = run(engine, fake, "mempool")
    assert again.ok and again.holders[0].added == 0
    assert series(engine, "el-salvador") == want
    assert stored_txs(engine) == 62


def test_paging_explorer_gives_the_same_series(engine: Any, fake: Chain) -> None:
    add_address(engine, "el-salvador", A1)
    add_address(engine, "el-salvador", A2)
    populate(fake, 60)
    result = run(engine, fake, "blockstream")
    assert result.ok, result.error
    assert result.explorer == "blockstream"
    assert series(engine, "el-salvador") == expected(fake, [A1, A2], TODAY)
    chain = [p for p in fake.paths("blockstream") if "/txs/chain/" in p]
    assert len(chain) == 2  # 60 on A1: the first page, then two pages of /txs/chain
    assert stored_txs(engine) == 62  # the unconfirmed transaction is never stored


def test_a_rerun_pages_only_down_to_the_synced_height(engine: Any, fake: Chain) -> None:
    add_address(engine, "el-salvador", A1)
    populate(fake, 80)
    assert run(engine, fake, "blockstream").ok
    first_tip = fake.tip
    fake.clear()
    fake.add(A1, 50, 1_000)
    fake.add(A1, 51, -500)
    result = run(engine, fake, "blockstream")
    assert result.ok, result.error
    assert not [p for p in fake.paths("blockstream") if "/txs/chain/" in p]
    assert result.holders[0].added == 2
    assert synced(engine)[A1] == fake.tip > first_tip
    assert series(engine, "el-salvador") == expected(fake, [A1], TODAY)


def test_a_summary_at_its_cap_falls_back_to_paging(
    engine: Any, fake: Chain, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(oh, "SUMMARY_CAP", 30)
    fake.fx.summary_cap = 30
    add_address(engine, "el-salvador", A1)
    populate(fake, 60)
    result = run(engine, fake, "mempool")
    assert result.ok, result.error
    assert any(p.endswith("/txs/summary") for p in fake.paths("mempool"))
    assert len([p for p in fake.paths("mempool") if "/txs/chain/" in p]) == 2
    assert series(engine, "el-salvador") == expected(fake, [A1], TODAY)


def test_an_explorer_failing_midway_keeps_what_was_stored(engine: Any, fake: Chain) -> None:
    add_address(engine, "el-salvador", A1)
    add_address(engine, "el-salvador", A2)
    add_address(engine, "united-states", OTHER)
    populate(fake, 60)
    fake.add(OTHER, 3, 123)
    assert run(engine, fake, "blockstream", holders=["el-salvador"]).ok
    before = series(engine, "el-salvador")
    fake.add(A2, 60, -1)  # a new transaction, then the explorer fails while paging A1 again
    clean = {a: s for a, s in synced(engine).items()}
    with engine.begin() as conn:  # A1 to be refetched whole: its second page fails
        conn.execute(
            Address.__table__.update()  # type: ignore[attr-defined]
            .where(Address.__table__.c.address == A1)  # type: ignore[attr-defined]
            .values(synced_height=None)
        )
    # holders go by id: the U.S. (first sync), then El Salvador, whose A1 fails on page 2
    fake.fx.set_fault("blockstream", status=500, address=A1, skip=1)
    result = run(engine, fake, "blockstream")
    assert not result.ok
    assert result.error is not None and "\n" not in result.error
    assert result.error.startswith("el-salvador: blockstream: HTTP 500")
    assert "run it again to resume" in result.error
    assert [h.slug for h in result.holders] == ["united-states", "el-salvador"]
    assert result.holders[0].error is None and result.skipped == ()
    assert series(engine, "united-states") == expected(fake, [OTHER], TODAY)
    assert series(engine, "el-salvador") == before  # the series is not half-rebuilt
    assert synced(engine)[A1] is None and synced(engine)[A2] == clean[A2]
    assert stored_txs(engine) == 63  # the U.S.'s one added; A1's first page known already

    fake.fx._explorers["blockstream"].faults.clear()
    assert run(engine, fake, "blockstream").ok
    assert series(engine, "el-salvador") == expected(fake, [A1, A2], TODAY)
    assert series(engine, "united-states") == expected(fake, [OTHER], TODAY)


def test_the_next_explorer_is_read_when_the_first_is_down(engine: Any, fake: Chain) -> None:
    add_address(engine, "el-salvador", A1)
    populate(fake, 10)
    fake.fx.set_fault("mempool", status=500)
    result = run(engine, fake, "mempool", "blockstream")
    assert result.ok and result.explorer == "blockstream"
    fake.fx.set_fault("blockstream", status=500)
    result = run(engine, fake, "mempool", "blockstream")
    assert not result.ok and result.error is not None
    assert result.error.startswith("no explorer answered its tip height: mempool: HTTP 500")


def test_removed_addresses_leave_the_series(engine: Any, fake: Chain) -> None:
    add_address(engine, "el-salvador", A1)
    add_address(engine, "el-salvador", A2)
    populate(fake, 10)
    assert run(engine, fake, "mempool").ok
    table = Address.__table__  # type: ignore[attr-defined]
    with engine.begin() as conn:
        conn.execute(
            table.update()
            .where(table.c.address == A2)
            .values(removed_at=dt.datetime(2025, 3, 1, tzinfo=dt.UTC))
        )
    result = run(engine, fake, "mempool")
    assert result.ok and result.holders[0].addresses == 1
    assert series(engine, "el-salvador") == expected(fake, [A1], TODAY)


def test_holders_are_checked(engine: Any, fake: Chain) -> None:
    from tracker.errors import InputError

    with pytest.raises(InputError, match="unknown holder 'atlantis'"):
        run(engine, fake, "mempool", holders=["atlantis"])
    assert run(engine, fake, "mempool", holders=["el-salvador"]).holders == ()
    nothing = run(engine, fake, "mempool")
    assert nothing.ok and nothing.holders == () and nothing.explorer is None


# --- `tracker history` beside the claims -----------------------------------------------------


@pytest.fixture
def synced_world(engine: Any, fake: Chain) -> Any:
    """El Salvador with two addresses synced (62 transactions, 2025-01-01 to 2025-02-20)."""
    add_address(engine, "el-salvador", A1)
    add_address(engine, "el-salvador", A2)
    populate(fake)
    assert run(engine, fake, "mempool").ok
    return engine


def timeline_of(engine: Any, interval: str, **kw: Any) -> Any:
    from tracker.daily import history as timeline

    args: dict[str, Any] = {"start": dt.date(2024, 12, 25), "end": TODAY} | kw
    with engine.connect() as conn:
        return timeline.build_timeline(
            conn=conn, interval=timeline.Interval(interval), today=TODAY, **args
        )


def test_history_shows_the_onchain_balance_per_period(synced_world: Any, fake: Chain) -> None:
    want = {day: sats for day, sats, _ in expected(fake, [A1, A2], TODAY)}
    tl = timeline_of(synced_world, "day", holders=["el-salvador", "united-states"])
    assert tl.onchain == ("el-salvador",)
    for p in tl.periods:
        salvador, usa = p.holdings
        assert usa.onchain_sats is None
        assert salvador.onchain_sats == want.get(p.end)
        if p.end in want:
            assert salvador.onchain_as_of == p.end
            assert salvador.onchain_bound is not None and salvador.onchain_bound.value == "at_least"
            btc = Decimal(want[p.end]) / 100_000_000
            assert salvador.onchain_value == (btc * p.close).quantize(Decimal("0.01"))
        assert salvador.sats is not None  # the claim is still there, beside it

    months = timeline_of(synced_world, "month", holders=["el-salvador"])
    by_label = {p.label: p.holdings[0] for p in months.periods}
    assert by_label["2024-12"].onchain_sats is None
    assert by_label["2025-01"].onchain_as_of == dt.date(2025, 1, 31)
    assert by_label["2025-01"].onchain_sats == want[dt.date(2025, 1, 31)]
    assert by_label["2025-03"].onchain_as_of == TODAY
    later = timeline_of(synced_world, "month", holders=["el-salvador"], end=dt.date(2025, 4, 30))
    april = later.periods[-1]
    assert april.label == "2025-04" and april.holdings[0].onchain_sats is None  # after the sync
    weeks = timeline_of(synced_world, "week", holders=["el-salvador"], start=dt.date(2025, 1, 3))
    assert weeks.periods[0].holdings[0].onchain_as_of == dt.date(2025, 1, 5)  # W01 cut at --from


def test_history_outputs_carry_the_onchain_column(synced_world: Any) -> None:
    from tracker.render import render

    tl = timeline_of(synced_world, "month", holders=["el-salvador"])
    data = json.loads(render(tl, "json"))
    january = data["periods"][1]["holdings"][0]
    assert january["onchain"]["as_of"] == "2025-01-31"
    assert january["onchain"]["bound"] == "at_least"
    assert Decimal(january["onchain"]["btc"]) > 0
    assert data["periods"][0]["holdings"][0]["onchain"] is None
    csv_lines = render(tl, "csv").splitlines()
    assert csv_lines[0].endswith(",scope,onchain_btc,onchain_bound,onchain_as_of,onchain_value")
    assert ",at_least,2025-01-31," in csv_lines[2]
    table = render(tl, "table", width=200)
    assert "on-chain BTC" in table and "≥" in table and "tracker verify --history" in table
    both = timeline_of(synced_world, "month", holders=["el-salvador", "united-states"])
    narrow = render(both, "table", width=80)  # a row per period and holder
    lines = narrow.splitlines()
    (at,) = [n for n, line in enumerate(lines) if line.lstrip().startswith("2025-02")]
    assert "El Salvador" in lines[at] and "on-chain" in lines[at + 1] and "≥" in lines[at + 1]
    assert "United States" in lines[at + 2]

    plain = timeline_of(synced_world, "month", holders=["united-states"])
    assert plain.onchain == ()
    assert "onchain" not in json.loads(render(plain, "json"))["periods"][1]["holdings"][0]
    assert "onchain" not in render(plain, "csv").splitlines()[0]


def test_history_charts_draw_the_onchain_line(synced_world: Any, tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from tracker.render.charts import chartable, save_image, terminal_chart

    tl = timeline_of(
        synced_world, "day", holders=["el-salvador", "united-states"], start=dt.date(2024, 12, 1)
    )
    c = chartable(tl)
    (line,) = c.onchain
    assert line.slug == "el-salvador" and line.last.startswith("≥")
    text = terminal_chart(tl, width=120, height=40)
    assert "El Salvador on-chain" in text
    png = save_image(tl, tmp_path / "history.png")
    assert png.stat().st_size > 10_000
    svg = save_image(tl, tmp_path / "history.svg").read_text()
    assert 'id="onchain-el-salvador"' in svg


def test_history_cli_shows_it(synced_world: Any, db_url: str, run_cli: Any) -> None:
    result = run_cli(
        "history", "--from", "2025-01-01", "--to", "2025-03-10", "--holder", "el-salvador",
        "--format", "csv", db=db_url,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "onchain_btc" in result.stdout.splitlines()[0]


# --- the command ------------------------------------------------------------------------------


def test_verify_history_twice_stores_the_same_series(
    engine: Any, fake: Chain, db_url: str, run_cli: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    config = tmp_path / "explorers.toml"
    config.write_text(fake.fx.config_toml(rate_per_s=1000), encoding="utf-8")
    monkeypatch.setenv("TRACKER_CONFIG", str(config))
    add_address(engine, "el-salvador", A1)
    add_address(engine, "el-salvador", A2)
    populate(fake, 30)
    args = ("verify", "--history", "--holder", "el-salvador")
    first = run_cli(*args, "--format", "json", db=db_url)
    assert first.exit_code == 0, first.stderr
    data = json.loads(first.stdout)
    assert data["explorer"] == "mempool" and data["ok"] and data["height"] == fake.tip
    (holder,) = data["holders"]
    assert holder["holder"] == "el-salvador" and holder["added"] == 32
    today = dt.datetime.now(dt.UTC).date()
    stored = series(engine, "el-salvador")
    assert stored == expected(fake, [A1, A2], today)

    again = run_cli(*args, db=db_url)
    assert again.exit_code == 0, again.stderr
    assert "el-salvador: 2 address(es)" in again.stdout and ", 0 new\n" in again.stdout
    assert series(engine, "el-salvador") == stored

    fake.fx.set_fault("mempool", status=503)
    fake.fx.set_fault("blockstream", status=500, target="address")
    failed = run_cli(*args, db=db_url)
    assert failed.exit_code == 1
    (line,) = failed.stderr.splitlines()
    assert line.startswith("tracker: error: el-salvador: blockstream: HTTP 500")
    assert series(engine, "el-salvador") == stored

    none = run_cli("verify", "--history", "--holder", "germany", db=db_url)
    assert none.exit_code == 2 and "no holder has addresses" in none.stderr


def test_a_series_that_cannot_be_built_leaves_the_stored_one(engine: Any, fake: Chain) -> None:
    address_id = add_address(engine, "el-salvador", A1)
    populate(fake, 10)
    assert run(engine, fake, "mempool").ok
    before = series(engine, "el-salvador")
    with write_connection(engine) as conn:  # a stored spend no receipt covers
        conn.execute(
            AddressTx.__table__.insert(),  # type: ignore[attr-defined]
            [{"address_id": address_id, "txid": txid(999), "height": 1,
              "time": dt.datetime(2024, 12, 31, tzinfo=dt.UTC), "value_sats": -1}],
        )  # fmt: skip
    result = run(engine, fake, "mempool")
    assert not result.ok and result.error is not None
    assert "transactions are missing" in result.error and "\n" not in result.error
    assert series(engine, "el-salvador") == before


def test_a_holder_whose_addresses_are_all_removed_loses_its_series(
    engine: Any, fake: Chain
) -> None:
    add_address(engine, "el-salvador", A1)
    populate(fake, 10)
    assert run(engine, fake, "mempool").ok and series(engine, "el-salvador")
    table = Address.__table__  # type: ignore[attr-defined]
    with engine.begin() as conn:
        conn.execute(table.update().values(removed_at=dt.datetime(2025, 3, 1, tzinfo=dt.UTC)))
    result = run(engine, fake, "mempool")
    assert result.ok and [(h.slug, h.addresses, h.first) for h in result.holders] == [
        ("el-salvador", 0, None)
    ]
    assert series(engine, "el-salvador") == []
