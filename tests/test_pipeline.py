"""A whole fetch round through the real httpx stack against the loopback fake exchange."""

from __future__ import annotations

import asyncio
import json
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
from tracker.store.engine import read_session
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
