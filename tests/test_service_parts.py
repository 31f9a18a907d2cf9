"""The service's parts in-process on SQLite, without waiting on its scheduler: failure
counting, the watchdog, shutdown during a write, the event loop and the lock however a run
ends, the daily job, and `tracker status`."""

from __future__ import annotations

import datetime as dt
import gc
import json
import threading
import time
import warnings
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import Result

from tests.fake_exchange import FakeExchange
from tests.service_support import (
    db_path,
    db_rounds,
    io_loop,
    service_toml,
    sqlite_service,
    wait_until,
)
from tracker import rounds
from tracker.config import load_settings
from tracker.daily import backfill
from tracker.errors import Exit, StoreError
from tracker.service.locks import SQLiteLock
from tracker.store import queries
from tracker.store.engine import read_session, write_session
from tracker.store.migrate import open_database

Run = Callable[..., Result]



def _locked(*args: object, **kwargs: object) -> int:
    raise StoreError("database is locked", reason="database is locked", operational=True)


def test_an_unreachable_database_makes_the_service_exit_for_a_restart(
    service_cfg: Path, fake_exchange: FakeExchange, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setattr(rounds, "save_round", _locked)
    service = sqlite_service(service_cfg, tmp_path)
    assert service.settings.schedule.max_db_failures == 3
    with io_loop(service):
        for failures in (1, 2):
            assert service.fetch_job() is None
            assert (service.db_failures, service.exit_code) == (failures, Exit.OK)
        service.fetch_job()
    assert (service.db_failures, service.exit_code) == (3, Exit.DB_UNREACHABLE)
    # and run() ends with that status (one failure is enough here)
    service_cfg.write_text(service_toml(fake_exchange, max_db_failures=1))
    assert sqlite_service(service_cfg, tmp_path).run() == Exit.DB_UNREACHABLE
    assert not Path(f"{db_path(tmp_path)}.service").exists()  # the lock was released


def test_one_good_round_resets_the_failure_count(
    service_cfg: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = rounds.save_round
    script = iter([True, True, False, True, True, False, True, True, False])  # fail, fail, ok ...

    def flaky(*args: object, **kwargs: object) -> int:
        if next(script, False):
            return _locked()
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(rounds, "save_round", flaky)
    service = sqlite_service(service_cfg, tmp_path)
    with io_loop(service):
        for _ in range(9):
            service.fetch_job()
            assert service.exit_code == 0
        assert service.db_failures == 0


def test_the_watchdog_limit(service_cfg: Path, tmp_path: Path) -> None:
    """No round started for max(3 x interval, interval + round_timeout) + slack: stalled."""
    now = [100.0]
    service = sqlite_service(service_cfg, tmp_path, clock=lambda: now[0], watchdog_slack_s=0.5)
    assert service.last_tick == 100.0
    now[0] += 3.5  # max(3 x 1, 1 + 1) + 0.5
    assert not service.watchdog_check() and service.exit_code == Exit.OK
    now[0] += 0.01
    assert service.watchdog_check() and service.exit_code == Exit.STALLED


@pytest.mark.timeout(60)
def test_the_watchdog_stops_a_stalled_scheduler(
    service_cfg: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scheduler that says it is running but runs no job (APScheduler 3 can do that):
    the watchdog, in its own thread, ends the service with a non-zero exit. The service's
    clock jumps an hour once the scheduler stalls, so no test waits for the real limit."""
    from apscheduler.schedulers.base import BaseScheduler

    real = BaseScheduler._process_jobs
    runs: list[int] = []
    offset = [0.0]

    def stalls_after_one(self: BaseScheduler) -> float:
        if not runs:
            runs.append(1)
            return real(self)  # type: ignore[no-any-return]
        offset[0] = 3600.0  # "nothing due for an hour", forever; and an hour passes
        return 3600.0

    monkeypatch.setattr(BaseScheduler, "_process_jobs", stalls_after_one)
    service = sqlite_service(service_cfg, tmp_path, clock=lambda: time.monotonic() + offset[0])
    assert service.run() == Exit.STALLED
    assert runs and not Path(f"{db_path(tmp_path)}.service").exists()


def test_a_failing_scheduler_is_not_swallowed(
    service_cfg: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from apscheduler.schedulers.base import BaseScheduler

    def broken(self: BaseScheduler) -> float:
        raise RuntimeError("job store unavailable")

    monkeypatch.setattr(BaseScheduler, "_process_jobs", broken)
    service = sqlite_service(service_cfg, tmp_path)
    assert service.run() == Exit.STALLED
    assert not Path(f"{db_path(tmp_path)}.service").exists()  # the lock was released


def _no_io_thread() -> bool:
    return not any(t.name == "tracker-io" for t in threading.enumerate())


def test_the_service_closes_its_event_loop(service_cfg: Path, tmp_path: Path) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        service = sqlite_service(service_cfg, tmp_path)
        assert service.run_once() == Exit.OK
        del service
        gc.collect()
    leaks = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert leaks == []
    wait_until(_no_io_thread, timeout=10, what="the io thread to end")


@pytest.mark.parametrize("how", ["run_once", "run"])
def test_a_client_that_cannot_be_built_leaves_nothing_held(
    service_cfg: Path, tmp_path: Path, how: str
) -> None:
    def no_client() -> object:
        raise OSError("cannot read the CA bundle")

    service = sqlite_service(service_cfg, tmp_path, _client_factory=no_client)
    with pytest.raises(OSError, match="CA bundle"):
        getattr(service, how)()
    assert not Path(f"{db_path(tmp_path)}.service").exists()
    lock = SQLiteLock(db_path(tmp_path))
    lock.acquire()  # free again
    lock.release()
    wait_until(_no_io_thread, timeout=10, what="the io thread to end")


def test_a_stop_during_the_write_waits_for_it_and_logs_the_truth(
    service_cfg: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    service = sqlite_service(service_cfg, tmp_path)
    real = rounds.save_round
    writing, stopped = threading.Event(), threading.Event()
    finished: list[bool] = []

    def save_after_the_stop(*args: object, **kwargs: object) -> int:
        writing.set()
        assert stopped.wait(30)  # the stop arrives while the round is being written
        rid = real(*args, **kwargs)  # type: ignore[arg-type]
        finished.append(True)
        return rid

    def stop_once_writing() -> None:
        assert writing.wait(30)
        service.stop()
        stopped.set()

    monkeypatch.setattr(rounds, "save_round", save_after_the_stop)
    threading.Thread(target=stop_once_writing, daemon=True).start()
    with caplog.at_level("INFO", logger="tracker.service"):
        assert service.run() == 0
    assert finished == [True]  # run() returned after the write, not before
    stored = db_rounds(db_path(tmp_path))
    assert len(stored) == 1
    rid = next(iter(stored))
    assert f"round {rid} ok" in caplog.text and "cancelled" not in caplog.text
    assert not Path(f"{db_path(tmp_path)}.service").exists()


# --- the daily job --------------------------------------------------------------------------


def test_daily_close_from_the_days_consensus(tmp_path: Path) -> None:
    from tracker.models import ConsensusPrice, FetchRound

    settings = load_settings(None)
    engine = open_database(f"sqlite:///{db_path(tmp_path)}", settings=settings).engine
    day = dt.date(2026, 11, 24)
    prices = [Decimal("90000"), Decimal("91000.5"), Decimal("89000"), Decimal("90500.25")]
    with write_session(engine) as session:
        for i, p in enumerate(prices):
            at = dt.datetime(2026, 11, 24, 1 + i * 5, tzinfo=dt.UTC)
            queries.insert_round(session=session, fetch_round=FetchRound(started_at=at, finished_at=at, status="ok"),
                               quotes=[], consensus=ConsensusPrice(round_id=0, at=at, price=p, sources="a,b,c"))  # fmt: skip
    assert backfill.store_daily_close(engine=engine, day=day) == "consensus"
    with read_session(engine) as session:
        row = queries.latest_daily_close(session=session, on_or_before=day)
    assert row is not None and row.date == day
    assert (row.open, row.high, row.low, row.close) == (
        prices[0],
        max(prices),
        min(prices),
        prices[-1],
    )
    # again: already there, nothing added
    assert backfill.store_daily_close(engine=engine, day=day) == "consensus"
    assert backfill.store_daily_close(engine=engine, day=dt.date(2026, 11, 23)) is None
    # a bundled day keeps its bundled close
    assert backfill.store_daily_close(engine=engine, day=dt.date(2025, 4, 14)) == "bundled"


def test_the_daily_job_stores_yesterdays_exchange_close(
    service_cfg: Path, fake_exchange: FakeExchange, tmp_path: Path
) -> None:
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    fake_exchange.set_daily("bitstamp", {yesterday: Decimal("87654.32")})
    service = sqlite_service(service_cfg, tmp_path)
    with io_loop(service):
        service.daily_job()
    with read_session(service.engine) as session:
        row = queries.latest_daily_close(session=session, on_or_before=yesterday)
    assert row is not None and (row.date, row.source, row.close) == (
        yesterday,
        "bitstamp",
        Decimal("87654.32"),
    )


def test_the_daily_job_falls_back_to_the_days_consensus(
    service_cfg: Path, fake_exchange: FakeExchange, tmp_path: Path
) -> None:
    from tracker.models import ConsensusPrice, FetchRound

    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    fake_exchange.set_fault("bitstamp", status=503)
    service = sqlite_service(service_cfg, tmp_path)
    at = dt.datetime.combine(yesterday, dt.time(12), tzinfo=dt.UTC)
    with write_session(service.engine) as session:
        queries.insert_round(session=session, fetch_round=FetchRound(started_at=at, finished_at=at, status="ok"),
                           quotes=[], consensus=ConsensusPrice(round_id=0, at=at, price=Decimal("86000"), sources="a,b,c"))  # fmt: skip
    with io_loop(service):
        service.daily_job()
    with read_session(service.engine) as session:
        row = queries.latest_daily_close(session=session, on_or_before=yesterday)
    assert row is not None and (row.source, row.close) == ("consensus", Decimal("86000"))


# --- status ---------------------------------------------------------------------------------


def test_status_exit_codes(service_cfg: Path, fake_exchange: FakeExchange, run_cli: Run) -> None:
    assert run_cli("status").exit_code == 2
    assert run_cli("fetch").exit_code == 0
    fresh = run_cli("status", "--format", "json")
    assert fresh.exit_code == 0
    data = json.loads(fresh.stdout)
    assert data["status"] == "fresh" and data["consensus"]["price"] == "100000.00"
    assert data["database"]["url"].startswith("sqlite:")
    for name in ("kraken", "bitstamp", "gemini", "mempool", "coingecko"):
        fake_exchange.set_fault(name, status=503)
    run_cli("fetch")
    degraded = run_cli("status")
    assert degraded.exit_code == 1 and "DEGRADED" in degraded.stdout
    fake_exchange.clear_faults()
    run_cli("fetch")
    service_cfg.write_text(service_cfg.read_text() + "\n[report]\nmax_price_age_s = 0.001\n")
    time.sleep(0.01)  # older than 1 ms, however fast the machine
    stale = run_cli("status")
    assert stale.exit_code == 1 and "STALE" in stale.stdout


def test_status_hides_a_password_in_the_database_url(
    run_cli: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite URLs carry no password, so the database status opens is given one in its URL,
    as a server's would have: status names the database with the password hidden."""
    from tracker.store import migrate

    real = migrate.open_database

    def with_a_password(url: str, **kwargs: object) -> migrate.Opened:
        opened = real(url, **kwargs)  # type: ignore[arg-type]
        opened.engine.url = opened.engine.url.set(username="svc", password="hunter2")
        return opened

    monkeypatch.setattr(migrate, "open_database", with_a_password)
    for fmt in ("json", "table"):
        result = run_cli("status", "--format", fmt)
        assert "svc:" in result.stdout and "hunter2" not in result.stdout + result.stderr


def test_status_hides_the_database_password(run_cli: Run, pg_url: str) -> None:
    url = sa.engine.make_url(pg_url).set(password="hunter2").render_as_string(hide_password=False)
    result = run_cli("--db", url, "status", "--format", "json")
    assert "hunter2" not in result.stdout + result.stderr
    assert json.loads(result.stdout)["database"]["url"].startswith("postgresql+psycopg://")


def test_status_names_gaps_in_the_daily_series(run_cli: Run) -> None:
    data = json.loads(run_cli("status", "--format", "json").stdout)
    today = dt.datetime.now(dt.UTC).date()
    from tracker.daily.bundled import bundled_rows

    newest_bundled = max(row["date"] for row in bundled_rows())
    first_missing = max(newest_bundled + dt.timedelta(days=1), today - dt.timedelta(days=365))
    last_missing = today - dt.timedelta(days=1)
    days = (last_missing - first_missing).days + 1
    assert data["daily_prices"]["newest"] == newest_bundled.isoformat()
    if days > 0:
        unit = "day" if days == 1 else "days"
        assert data["daily_prices"]["gaps"] == [
            f"{first_missing} to {last_missing} ({days} {unit})"
        ] or (days == 1 and data["daily_prices"]["gaps"] == [f"{first_missing} ({days} day)"])
