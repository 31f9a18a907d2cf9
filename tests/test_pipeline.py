"""A whole fetch round through the real httpx stack against the loopback fake exchange."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import Result

from tests.fake_exchange import FakeExchange
from tracker import rounds
from tracker.config import Settings, load_settings
from tracker.models import ConsensusPrice, FetchRound, RoundReport, RoundStatus, SourceQuote
from tracker.sources.http import make_client
from tracker.store import queries
from tracker.store.engine import read_session, write_session
from tracker.store.migrate import open_database

Run = Callable[..., Result]
CORE = ("coinbase", "kraken", "bitstamp", "gemini", "bitfinex")


@pytest.fixture
def cfg(tmp_path: Path, fake_exchange: FakeExchange, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config whose sources all point at the fake exchange, with quick retries."""
    path = tmp_path / "config.toml"
    path.write_text(
        "[fetch]\nretries = 1\nbackoff_s = 0.01\nround_timeout_s = 5\n\n"
        "[report]\nfetch_timeout_s = 3\n\n" + fake_exchange.config_toml(timeout_s=1)
    )
    monkeypatch.setenv("TRACKER_CONFIG", str(path))
    return path


def settings_for(cfg: Path, **changes: object) -> Settings:
    s = load_settings(cfg)
    return s.model_copy(update=changes) if changes else s


def run_round(settings: Settings, url: str) -> RoundReport:
    engine = open_database(url, settings=settings).engine

    async def go() -> RoundReport:
        async with make_client() as client:
            return await rounds.run_once(client=client, engine=engine, settings=settings)

    try:
        return asyncio.run(go())
    finally:
        engine.dispose()


def rows(url: str) -> tuple[list[FetchRound], list[SourceQuote], list[ConsensusPrice]]:
    engine = sa.create_engine(url)
    with read_session(engine) as s:
        from sqlmodel import select

        out = (
            list(s.exec(select(FetchRound))),
            list(s.exec(select(SourceQuote))),
            list(s.exec(select(ConsensusPrice))),
        )
    engine.dispose()
    return out


def test_healthy_round_stores_consensus_and_skips_fallbacks(
    cfg: Path, fake_exchange: FakeExchange, db_url: str
) -> None:
    rr = run_round(settings_for(cfg), db_url)
    assert rr.status is RoundStatus.OK
    # the median of the five default core prices, computed here by hand
    assert rr.price == Decimal("100000.00")
    assert set(rr.sources_used) == set(CORE)
    assert rr.skipped == ("mempool", "coingecko")
    assert fake_exchange.requests("mempool") == []
    rounds, quotes, consensus = rows(db_url)
    assert [r.status for r in rounds] == ["ok"]
    assert sorted(q.source for q in quotes) == sorted(CORE)
    assert consensus[0].price == Decimal("100000") and consensus[0].round_id == rounds[0].id


def test_one_source_down_and_one_30_percent_off(
    cfg: Path, fake_exchange: FakeExchange, db_url: str
) -> None:
    fake_exchange.set_fault("kraken", status=500)
    fake_exchange.set_price("gemini", Decimal("130000"))
    rr = run_round(settings_for(cfg), db_url)
    # the other three: coinbase 100000.00, bitstamp 99990, bitfinex 99995 -> median 99995
    assert rr.status is RoundStatus.OK and rr.price == Decimal("99995")
    assert set(rr.sources_used) == {"coinbase", "bitstamp", "bitfinex"}
    _, quotes, _ = rows(db_url)
    by = {q.source: q for q in quotes}
    assert by["kraken"].outcome == "http_error" and "500" in (by["kraken"].reason or "")
    assert by["kraken"].attempts == 2  # one retry, then given up
    assert by["gemini"].outcome == "deviation" and "%" in (by["gemini"].reason or "")
    assert by["gemini"].price == Decimal("130000")


def test_fallbacks_are_asked_when_the_core_is_short(
    cfg: Path, fake_exchange: FakeExchange, tmp_path: Path
) -> None:
    for name in ("kraken", "bitstamp", "gemini"):
        fake_exchange.set_fault(name, status=503)
    rr = run_round(settings_for(cfg), f"sqlite:///{tmp_path / 'f.db'}")
    assert rr.skipped == ()
    assert len(fake_exchange.requests("mempool")) == 1
    assert rr.status is RoundStatus.OK
    assert set(rr.sources_used) == {"coinbase", "bitfinex", "mempool", "coingecko"}


def test_two_valid_quotes_make_no_consensus_and_keep_the_last_one(
    cfg: Path, fake_exchange: FakeExchange, run_cli: Run, db_url: str
) -> None:
    first = run_cli("fetch", db=db_url)
    assert first.exit_code == 0, first.stderr
    for name in ("kraken", "bitstamp", "gemini", "mempool", "coingecko"):
        fake_exchange.set_fault(name, status=503)
    second = run_cli("fetch", "--format", "json", db=db_url)
    assert second.exit_code == 1
    data = json.loads(second.stdout)
    assert data["status"] == "degraded" and data["price"] is None
    rounds, quotes, consensus = rows(db_url)
    assert [r.status for r in rounds] == ["ok", "degraded"]
    assert len(consensus) == 1 and consensus[0].round_id == rounds[0].id
    assert sum(1 for q in quotes if q.round_id == rounds[1].id) == 7  # every source recorded


def test_a_hanging_source_is_abandoned_at_its_timeout(
    cfg: Path, fake_exchange: FakeExchange, tmp_path: Path
) -> None:
    fake_exchange.set_fault("bitfinex", hang=True)
    settings = settings_for(cfg)
    start = time.monotonic()
    rr = run_round(settings, f"sqlite:///{tmp_path / 'h.db'}")
    elapsed = time.monotonic() - start
    timeout = settings.sources["bitfinex"].timeout_s
    assert rr.status is RoundStatus.OK
    line = {x.source: x for x in rr.lines}["bitfinex"]
    assert line.outcome.value == "timeout"
    # abandoned at its own timeout (retries included), and the round still completes
    assert line.attempts == 1
    assert elapsed < 1.2 * timeout + 0.5  # + opening the database


def test_a_round_is_written_whole_or_not_at_all(
    cfg: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'atomic.db'}"
    real = queries.insert_round

    def broken(**kw: object) -> FetchRound:
        real(**kw)  # type: ignore[arg-type]
        raise RuntimeError("disk full, say")

    monkeypatch.setattr(queries, "insert_round", broken)
    with pytest.raises(RuntimeError):
        run_round(settings_for(cfg), url)
    assert rows(url) == ([], [], [])


def test_report_fetches_first_when_prices_are_stale(
    cfg: Path, fake_exchange: FakeExchange, run_cli: Run
) -> None:
    data = json.loads(run_cli("report", "--format", "json").stdout)
    assert data["price"]["kind"] == "consensus" and data["price"]["value"] == "100000.00"
    assert data["price"]["stale"] is False
    assert len(fake_exchange.requests("coinbase")) == 1
    # fresh now: a second report does not fetch again
    run_cli("report", "--format", "json")
    assert len(fake_exchange.requests("coinbase")) == 1


def test_report_offline_never_fetches(cfg: Path, fake_exchange: FakeExchange, run_cli: Run) -> None:
    data = json.loads(run_cli("report", "--offline", "--format", "json").stdout)
    assert data["price"]["kind"] == "daily_close"
    assert all(fake_exchange.requests(n) == [] for n in CORE)


def test_report_falls_back_to_stored_prices_with_a_warning(
    cfg: Path, fake_exchange: FakeExchange, run_cli: Run
) -> None:
    for name in (*CORE, "mempool", "coingecko"):
        fake_exchange.set_fault(name, status=503)
    result = run_cli("report", "--format", "json")
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["price"]["kind"] == "daily_close" and data["price"]["stale"] is True
    assert any(w.startswith("could not fetch a live price") for w in data["warnings"])


def test_report_fetch_is_bounded_by_its_timeout(
    cfg: Path, fake_exchange: FakeExchange, run_cli: Run
) -> None:
    for name in (*CORE, "mempool", "coingecko"):
        fake_exchange.set_fault(name, hang=True)
    start = time.monotonic()
    result = run_cli("report", "--format", "json")
    assert result.exit_code == 0
    assert time.monotonic() - start < 3 + 1.5  # report.fetch_timeout_s = 3


def test_sources_command_reports_health(
    cfg: Path, fake_exchange: FakeExchange, run_cli: Run
) -> None:
    run_cli("fetch")
    fake_exchange.set_fault("kraken", status=404)
    run_cli("fetch")
    data = json.loads(run_cli("sources", "--format", "json").stdout)
    by = {e["name"]: e for e in data["sources"]}
    assert (by["kraken"]["accepted"], by["kraken"]["asked"]) == (1, 2)
    assert by["kraken"]["success_rate"] == 0.5
    assert "404" in by["kraken"]["last_error"]
    assert by["coinbase"]["success_rate"] == 1.0 and by["coinbase"]["last_error"] is None
    assert by["mempool"]["asked"] == 0 and by["mempool"]["last_success"] is None
    assert by["kraken"]["base_url"] == fake_exchange.base_url("kraken")
    table = run_cli("sources").stdout
    assert "kraken last failed" in table


def test_fetch_table_names_every_source(cfg: Path, run_cli: Run) -> None:
    out = run_cli("fetch").stdout
    for name in (*CORE, "mempool", "coingecko"):
        assert name in out
    assert "Consensus $100,000.00/BTC" in out


def test_disabled_sources_are_not_asked(
    cfg: Path, fake_exchange: FakeExchange, run_cli: Run
) -> None:
    cfg.write_text(cfg.read_text() + "\n[sources.kraken]\nenabled = false\n")
    # the duplicate table is a TOML error: say so instead of guessing
    assert run_cli("fetch").exit_code == 1
    text = (
        cfg.read_text()
        .replace("[sources.kraken]\nbase_url", "[sources.kraken]\nenabled = false\nbase_url", 1)
        .rsplit("\n[sources.kraken]\nenabled = false\n", 1)[0]
    )
    cfg.write_text(text)
    assert run_cli("fetch").exit_code == 0
    assert fake_exchange.requests("kraken") == []


def test_fetch_csv_lists_every_source_including_skipped_fallbacks(cfg: Path, run_cli: Run) -> None:
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO(run_cli("fetch", "--format", "csv").stdout)))
    assert [r["source"] for r in rows] == [*CORE, "mempool", "coingecko"]
    assert {r["outcome"] for r in rows[5:]} == {"skipped"}


# --- continuity: a jump from the last consensus is held as suspect -----------------------------

ALL = (*CORE, "mempool", "coingecko")


def every_source_at(fake_exchange: FakeExchange, price: str) -> None:
    for name in ALL:
        fake_exchange.set_price(name, Decimal(price))


def test_a_unanimous_150_after_100000_is_held_and_not_stored(
    cfg: Path, fake_exchange: FakeExchange, db_url: str
) -> None:
    settings = settings_for(cfg)
    assert run_round(settings, db_url).price == Decimal("100000.00")
    every_source_at(fake_exchange, "150")  # inside [min_price, max_price], and unanimous
    rr = run_round(settings, db_url)
    assert (rr.status, rr.price, rr.sources_used) == (RoundStatus.SUSPECT, None, ())
    assert rr.held is not None and rr.held.price == Decimal("150")
    assert rr.held.reason.startswith("99.85 % below the last consensus 100000 of ")
    rounds_, quotes, consensus = rows(db_url)
    assert [r.status for r in rounds_] == ["ok", "suspect"]
    assert [c.round_id for c in consensus] == [rounds_[0].id]  # nothing stored for it
    held = [q for q in quotes if q.round_id == rounds_[1].id]
    assert {(q.outcome, q.price) for q in held} == {("accepted", Decimal("150"))}  # kept as always


def test_a_second_round_at_150_confirms_it_and_stores_both(
    cfg: Path, fake_exchange: FakeExchange, db_url: str
) -> None:
    settings = settings_for(cfg)
    run_round(settings, db_url)
    every_source_at(fake_exchange, "150")
    suspect = run_round(settings, db_url)
    confirming = run_round(settings, db_url)
    assert (confirming.status, confirming.price) == (RoundStatus.OK, Decimal("150"))
    assert confirming.confirmed_round == suspect.round_id
    rounds_, _, consensus = rows(db_url)
    assert [r.status for r in rounds_] == ["ok", "suspect", "ok"]
    stored = sorted((c.round_id, c.price, c.at) for c in consensus)
    assert [(rid, price) for rid, price, _ in stored] == [
        (rounds_[0].id, Decimal("100000")),
        (rounds_[1].id, Decimal("150")),  # the held round's own price, at its own time
        (rounds_[2].id, Decimal("150")),
    ]
    assert stored[1][2] == rounds_[1].finished_at
    sources = {c.round_id: c.sources for c in consensus}
    assert sources[rounds_[1].id] == ",".join(sorted(CORE))


def test_a_move_within_max_jump_pct_is_stored_at_once(
    cfg: Path, fake_exchange: FakeExchange, db_url: str
) -> None:
    settings = settings_for(cfg)
    run_round(settings, db_url)
    every_source_at(fake_exchange, "119000")  # 19 % up
    rr = run_round(settings, db_url)
    assert (rr.status, rr.price) == (RoundStatus.OK, Decimal("119000"))
    assert [c.price for c in rows(db_url)[2]] == [Decimal("100000"), Decimal("119000")]


def age_consensus(url: str, by: dt.timedelta) -> None:
    """Move every stored consensus back in time, as if it had been stored ``by`` earlier."""
    engine = sa.create_engine(url)
    with write_session(engine) as session:
        from sqlmodel import select

        for row in session.exec(select(ConsensusPrice)):
            row.at -= by
            session.add(row)
    engine.dispose()


def test_a_previous_consensus_older_than_the_window_does_not_hold(
    cfg: Path, fake_exchange: FakeExchange, db_url: str
) -> None:
    settings = settings_for(cfg)
    run_round(settings, db_url)
    age_consensus(db_url, dt.timedelta(seconds=settings.consensus.jump_window_s + 60))
    every_source_at(fake_exchange, "150")
    rr = run_round(settings, db_url)
    assert (rr.status, rr.price, rr.held) == (RoundStatus.OK, Decimal("150"), None)


def test_the_first_consensus_ever_is_never_suspect(
    cfg: Path, fake_exchange: FakeExchange, db_url: str
) -> None:
    every_source_at(fake_exchange, "150")
    rr = run_round(settings_for(cfg), db_url)
    assert (rr.status, rr.price) == (RoundStatus.OK, Decimal("150"))


def test_fetch_shows_a_suspect_round_and_status_counts_it_degraded(
    cfg: Path, fake_exchange: FakeExchange, run_cli: Run
) -> None:
    assert run_cli("fetch").exit_code == 0
    every_source_at(fake_exchange, "150")
    table = run_cli("fetch")
    assert table.exit_code == 1
    out = " ".join(table.stdout.split())  # the footer may wrap
    assert "Suspect price held, not stored (round 2, suspect," in out
    assert (
        "$150.00/BTC from bitfinex, bitstamp, coinbase, gemini, kraken is 99.85 % below the "
        "last consensus 100000 of " in out
    )
    assert "Held until the next round confirms it" in out
    assert "No consensus" not in out
    status = run_cli("status", "--format", "json")
    assert status.exit_code == 1
    data = json.loads(status.stdout)
    assert data["status"] == "degraded"
    assert [r["status"] for r in data["last_rounds"]] == ["suspect", "ok"]
    assert data["consensus"]["price"] == "100000.00"
    confirm = run_cli("fetch", "--format", "json")
    assert confirm.exit_code == 0
    data = json.loads(confirm.stdout)
    assert (data["status"], data["price"], data["confirmed_round"]) == ("ok", "150.00", 2)


def test_fetch_json_carries_the_held_price_and_why(
    cfg: Path, fake_exchange: FakeExchange, run_cli: Run
) -> None:
    run_cli("fetch")
    every_source_at(fake_exchange, "150")
    result = run_cli("fetch", "--format", "json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert (data["status"], data["price"], data["sources"]) == ("suspect", None, [])
    assert data["held"]["price"] == "150.00"
    assert data["held"]["sources"] == sorted(CORE)
    assert data["held"]["reason"].startswith("99.85 % below the last consensus 100000 of ")


def test_report_after_a_suspect_round_never_values_at_the_held_price(
    cfg: Path, fake_exchange: FakeExchange, run_cli: Run, db_url: str
) -> None:
    run_cli("fetch", db=db_url)
    # older than report.max_price_age_s (600 s), so the report fetches; inside the jump window
    age_consensus(db_url, dt.timedelta(minutes=20))
    every_source_at(fake_exchange, "150")
    result = run_cli("report", "--format", "json", db=db_url)
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert len(fake_exchange.requests("coinbase")) == 2  # the report did run a (suspect) round
    assert data["price"]["value"] == "100000.00" and data["price"]["kind"] == "consensus"
    assert data["price"]["stale"] is True
    assert "150" not in {h["value"] for h in data["holders"]}
    assert any("suspect" in w for w in data["warnings"])
    assert [r.status for r in rows(db_url)[0]] == ["ok", "suspect"]
    (held,) = [w for w in data["warnings"] if "suspect" in w]
    assert held.startswith("the live price $150.00 was held as suspect (")
    assert "until the next round confirms it" in held and "could not fetch" not in held


def test_the_service_logs_a_suspect_round_as_a_warning(
    cfg: Path, fake_exchange: FakeExchange, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    from tracker.service.logs import log_round

    settings = settings_for(cfg)
    run_round(settings, db_url)
    every_source_at(fake_exchange, "150")
    rr = run_round(settings, db_url)
    with caplog.at_level(logging.INFO):
        log_round(rr)
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    assert "suspect" in record.getMessage()
