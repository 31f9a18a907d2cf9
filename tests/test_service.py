"""`tracker run` as a real process against the loopback fake exchange: faults, kill -9,
SIGTERM, concurrent readers, a second instance; and the service's parts in-process."""

from __future__ import annotations

import datetime as dt
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import Result

from tests.fake_exchange import FakeExchange
from tracker import rounds
from tracker.config import load_settings
from tracker.daily import backfill
from tracker.errors import StoreError
from tracker.service.locks import SQLiteLock
from tracker.service.service import EXIT_DB_UNREACHABLE, EXIT_SCHEDULER_STALLED, Service
from tracker.store import queries
from tracker.store.engine import read_session, write_session
from tracker.store.migrate import open_database

Run = Callable[..., Result]
ROUND_LINE = re.compile(r"round (\d+) (ok|degraded|failed)")


@pytest.fixture
def service_cfg(
    tmp_path: Path, fake_exchange: FakeExchange, monkeypatch: pytest.MonkeyPatch
) -> Path:
    path = tmp_path / "service.toml"
    path.write_text(
        "[schedule]\ninterval_s = 0.2\nmax_db_failures = 3\n\n"
        "[fetch]\nretries = 0\nbackoff_s = 0.01\nround_timeout_s = 1\n\n"
        + fake_exchange.config_toml(timeout_s=0.15)
    )
    monkeypatch.setenv("TRACKER_CONFIG", str(path))
    return path


def db_path(tmp_path: Path) -> Path:
    return tmp_path / "tracker.db"


class ServiceProcess:
    def __init__(self, tmp_path: Path, *args: str) -> None:
        self.log = tmp_path / f"service-{time.monotonic_ns()}.log"
        self._err = self.log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tracker", "run", *args],
            stdout=subprocess.DEVNULL, stderr=self._err, cwd=tmp_path,
        )  # fmt: skip

    def logged_rounds(self) -> dict[int, str]:
        return {int(m[1]): m[2] for m in ROUND_LINE.finditer(self.log.read_text())}

    def wait_for_rounds(self, n: int, timeout: float = 30) -> None:
        end = time.monotonic() + timeout
        while len(self.logged_rounds()) < n:
            assert self.proc.poll() is None, self.log.read_text()
            assert time.monotonic() < end, self.log.read_text()
            time.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10) -> int:
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        finally:
            self._err.close()


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., ServiceProcess]]:
    started: list[ServiceProcess] = []

    def go(*args: str) -> ServiceProcess:
        sp = ServiceProcess(tmp_path, *args)
        started.append(sp)
        return sp

    yield go
    for sp in started:
        if sp.proc.poll() is None:
            sp.proc.kill()
            sp.proc.wait()


def db_rounds(path: Path) -> dict[int, tuple[str, int, int, int]]:
    """round id -> (status, quotes, accepted quotes, consensus rows)."""
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT r.id, r.status, "
            "(SELECT count(*) FROM source_quotes q WHERE q.round_id = r.id), "
            "(SELECT count(*) FROM source_quotes q WHERE q.round_id = r.id AND q.outcome = 'accepted'), "
            "(SELECT count(*) FROM consensus_prices c WHERE c.round_id = r.id) "
            "FROM fetch_rounds r"
        ).fetchall()
    return {r[0]: (r[1], r[2], r[3], r[4]) for r in rows}


def assert_consistent(path: Path) -> dict[int, tuple[str, int, int, int]]:
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        orphans = conn.execute(
            "SELECT count(*) FROM source_quotes q WHERE NOT EXISTS "
            "(SELECT 1 FROM fetch_rounds r WHERE r.id = q.round_id)"
        ).fetchone()[0]
        assert orphans == 0
    stored = db_rounds(path)
    for rid, (status, quotes, accepted, consensus) in stored.items():
        assert quotes >= 5, f"round {rid} lacks its quotes"
        if status == "ok":
            assert consensus == 1 and accepted >= 3, rid
        else:
            assert consensus == 0 and accepted < 3, rid
    return stored


def test_twenty_rounds_under_random_faults_are_all_recorded(
    service_cfg: Path, fake_exchange: FakeExchange, start: Callable[..., ServiceProcess],
    tmp_path: Path,
) -> None:  # fmt: skip
    fake_exchange.set_chaos(0.35, seed=7)
    sp = start()
    sp.wait_for_rounds(20)
    assert sp.stop() == 0
    logged = sp.logged_rounds()
    stored = assert_consistent(db_path(tmp_path))
    assert len(stored) >= 20
    # every round is in the log with the status the database has, and the other way round
    assert logged == {rid: status for rid, (status, *_rest) in stored.items()}
    outcomes = set()
    with sqlite3.connect(db_path(tmp_path)) as conn:
        outcomes = {row[0] for row in conn.execute("SELECT DISTINCT outcome FROM source_quotes")}
    # the chaos really hit: failures of several kinds were recorded
    assert len(outcomes - {"accepted"}) >= 2, outcomes


def test_kill_9_at_random_points_never_corrupts_or_loses_an_acknowledged_round(
    service_cfg: Path, fake_exchange: FakeExchange, start: Callable[..., ServiceProcess],
    tmp_path: Path,
) -> None:  # fmt: skip
    rng = random.Random(20261125)
    fake_exchange.set_chaos(0.2, seed=3)
    service_cfg.write_text(service_cfg.read_text().replace("interval_s = 0.2", "interval_s = 0.05"))
    acknowledged: dict[int, str] = {}
    for _ in range(30):
        sp = start()
        deadline = time.monotonic() + 10
        while "service started" not in sp.log.read_text():  # wait for the interpreter
            assert time.monotonic() < deadline and sp.proc.poll() is None, sp.log.read_text()
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 0.4))
        sp.stop(signal.SIGKILL)
        acknowledged |= sp.logged_rounds()
        stored = assert_consistent(db_path(tmp_path))
        missing = set(acknowledged) - set(stored)
        assert not missing, f"acknowledged but lost: {missing}"
    assert len(acknowledged) >= 30


def test_sigterm_mid_round_exits_0_and_stores_no_partial_round(
    service_cfg: Path, fake_exchange: FakeExchange, start: Callable[..., ServiceProcess],
    tmp_path: Path,
) -> None:  # fmt: skip
    service_cfg.write_text(
        service_cfg.read_text().replace("round_timeout_s = 1", "round_timeout_s = 20")
        .replace("timeout_s = 0.15", "timeout_s = 15")
    )  # fmt: skip
    for name in ("coinbase", "kraken", "bitstamp", "gemini", "bitfinex"):
        fake_exchange.set_fault(name, delay_s=5)
    sp = start()
    deadline = time.monotonic() + 10
    while not fake_exchange.requests("coinbase"):  # the round is in flight
        assert time.monotonic() < deadline, sp.log.read_text()
        time.sleep(0.02)
    began = time.monotonic()
    assert sp.stop(signal.SIGTERM) == 0
    assert time.monotonic() - began < 10
    assert db_rounds(db_path(tmp_path)) == {}
    assert "service stopped (exit 0)" in sp.log.read_text()


def test_readers_never_see_database_is_locked(
    service_cfg: Path, start: Callable[..., ServiceProcess], run_cli: Run, tmp_path: Path
) -> None:
    service_cfg.write_text(service_cfg.read_text().replace("interval_s = 0.2", "interval_s = 0.02"))
    sp = start()
    sp.wait_for_rounds(3)
    end = time.monotonic() + 4
    reads = 0
    while time.monotonic() < end:
        result = run_cli("report", "--offline", "--format", "json")
        assert result.exit_code == 0, result.stderr
        assert "locked" not in result.stderr
        reads += 1
    assert sp.stop() == 0
    assert reads >= 10 and len(sp.logged_rounds()) >= 10


def test_a_second_instance_is_refused(
    service_cfg: Path, start: Callable[..., ServiceProcess], tmp_path: Path
) -> None:
    first = start()
    first.wait_for_rounds(1)
    second = subprocess.run(
        [sys.executable, "-m", "tracker", "run"], capture_output=True, text=True, cwd=tmp_path,
        timeout=30,
    )  # fmt: skip
    assert second.returncode == 1
    assert f"pid {first.proc.pid}" in second.stderr and "already serves" in second.stderr
    assert len(second.stderr.strip().splitlines()) == 1
    assert first.stop() == 0
    # once the first is gone, the lock is free again
    third = start()
    third.wait_for_rounds(1)
    assert third.stop() == 0


def test_run_once_exits_like_fetch(
    service_cfg: Path, fake_exchange: FakeExchange, tmp_path: Path
) -> None:
    ok = subprocess.run([sys.executable, "-m", "tracker", "run", "--once"], cwd=tmp_path,
                        capture_output=True, text=True, timeout=30)  # fmt: skip
    assert ok.returncode == 0 and ROUND_LINE.search(ok.stderr)
    for name in ("kraken", "bitstamp", "gemini", "mempool", "coingecko"):
        fake_exchange.set_fault(name, status=503)
    bad = subprocess.run([sys.executable, "-m", "tracker", "run", "--once", "--log-format", "json"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=30)  # fmt: skip
    assert bad.returncode == 1
    import json

    events = [json.loads(line) for line in bad.stderr.splitlines()]
    rounds = [e for e in events if e.get("event") == "round"]
    assert rounds and rounds[0]["status"] == "degraded" and rounds[0]["price"] is None


def test_metrics_are_served(
    service_cfg: Path, start: Callable[..., ServiceProcess], tmp_path: Path
) -> None:
    import socket

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sp = start("--metrics-port", str(port))
    sp.wait_for_rounds(2)
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    assert sp.stop() == 0
    assert re.search(r"^tracker_consensus_price_usd 100000\.0$", text, re.M), text
    assert re.search(r'^tracker_rounds_total\{status="ok"\} [1-9]', text, re.M)
    assert 'tracker_source_outcomes_total{outcome="accepted",source="kraken"}' in text
    assert "tracker_source_latency_seconds_bucket" in text
    assert "tracker_consensus_timestamp_seconds" in text


# --- in-process: the parts ----------------------------------------------------------------


def test_an_unreachable_database_makes_the_service_exit_for_a_restart(
    service_cfg: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_settings(service_cfg)
    engine = open_database(f"sqlite:///{db_path(tmp_path)}", settings=settings).engine
    calls = []

    def locked(*args: object, **kwargs: object) -> int:
        calls.append(1)
        raise StoreError("database is locked", reason="database is locked", operational=True)

    monkeypatch.setattr(rounds, "save_round", locked)
    service = Service(settings=settings, engine=engine, lock=SQLiteLock(db_path(tmp_path)))
    began = time.monotonic()
    assert service.run() == EXIT_DB_UNREACHABLE
    assert len(calls) == settings.schedule.max_db_failures == 3
    assert time.monotonic() - began < 5


def test_one_good_round_resets_the_failure_count(
    service_cfg: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_settings(service_cfg)
    engine = open_database(f"sqlite:///{db_path(tmp_path)}", settings=settings).engine
    real = rounds.save_round
    script = iter([True, True, False, True, True, False, True, True, False])  # fail, fail, ok ...

    def flaky(*args: object, **kwargs: object) -> int:
        if next(script, False):
            raise StoreError("database is locked", reason="database is locked", operational=True)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(rounds, "save_round", flaky)
    service = Service(settings=settings, engine=engine, lock=SQLiteLock(db_path(tmp_path)))
    service._start_loop()
    try:
        for _ in range(9):
            service.fetch_job()
            assert service.exit_code == 0
        assert service.db_failures == 0
    finally:
        service._stop_loop()


def test_the_watchdog_stops_a_stalled_scheduler(
    service_cfg: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A scheduler that says it is running but runs no job (APScheduler 3 can do that):
    the watchdog, in its own thread, ends the service with a non-zero exit."""
    from apscheduler.schedulers.base import BaseScheduler

    runs = []
    real = BaseScheduler._process_jobs

    def stalls_after_one(self: BaseScheduler) -> float:
        if not runs:
            runs.append(1)
            return real(self)  # type: ignore[no-any-return]
        return 3600.0  # "nothing due for an hour", forever

    monkeypatch.setattr(BaseScheduler, "_process_jobs", stalls_after_one)
    settings = load_settings(service_cfg)
    engine = open_database(f"sqlite:///{db_path(tmp_path)}", settings=settings).engine
    service = Service(settings=settings, engine=engine, lock=SQLiteLock(db_path(tmp_path)),
                      watchdog_slack_s=0.5)  # fmt: skip
    began = time.monotonic()
    assert service.run() == EXIT_SCHEDULER_STALLED
    # limit: max(3 x 0.2, 0.2 + round_timeout 1) + 0.5 slack = 1.7 s, checked every 0.2 s
    assert time.monotonic() - began < 1.7 + 3


def test_a_failing_scheduler_is_not_swallowed(
    service_cfg: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from apscheduler.schedulers.base import BaseScheduler

    def broken(self: BaseScheduler) -> float:
        raise RuntimeError("job store unavailable")

    monkeypatch.setattr(BaseScheduler, "_process_jobs", broken)
    settings = load_settings(service_cfg)
    engine = open_database(f"sqlite:///{db_path(tmp_path)}", settings=settings).engine
    service = Service(settings=settings, engine=engine, lock=SQLiteLock(db_path(tmp_path)))
    assert service.run() == EXIT_SCHEDULER_STALLED
    assert not Path(f"{db_path(tmp_path)}.service").exists()  # the lock was released


def test_daily_close_from_the_days_consensus(tmp_path: Path) -> None:
    settings = load_settings(None)
    engine = open_database(f"sqlite:///{db_path(tmp_path)}", settings=settings).engine
    day = dt.date(2026, 11, 24)
    prices = [Decimal("90000"), Decimal("91000.5"), Decimal("89000"), Decimal("90500.25")]
    with write_session(engine) as session:
        for i, p in enumerate(prices):
            at = dt.datetime(2026, 11, 24, 1 + i * 5, tzinfo=dt.UTC)
            from tracker.models import ConsensusPrice, FetchRound

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


def test_status_exit_codes(service_cfg: Path, fake_exchange: FakeExchange, run_cli: Run) -> None:
    assert run_cli("status").exit_code == 2
    assert run_cli("fetch").exit_code == 0
    fresh = run_cli("status", "--format", "json")
    assert fresh.exit_code == 0
    import json

    data = json.loads(fresh.stdout)
    assert data["status"] == "fresh" and data["consensus"]["price"] == "100000.00"
    assert "password" not in fresh.stdout and data["database"]["url"].startswith("sqlite:")
    for name in ("kraken", "bitstamp", "gemini", "mempool", "coingecko"):
        fake_exchange.set_fault(name, status=503)
    run_cli("fetch")
    degraded = run_cli("status")
    assert degraded.exit_code == 1 and "DEGRADED" in degraded.stdout
    fake_exchange.clear_faults()
    run_cli("fetch")
    service_cfg.write_text(service_cfg.read_text() + "\n[report]\nmax_price_age_s = 0.001\n")
    time.sleep(0.01)
    stale = run_cli("status")
    assert stale.exit_code == 1 and "STALE" in stale.stdout


def test_the_systemd_unit_restarts_on_failure() -> None:
    unit = (Path(__file__).resolve().parents[1] / "deploy" / "tracker.service").read_text()
    assert "Restart=on-failure" in unit and "TimeoutStopSec=" in unit
    assert re.search(r"^ExecStart=.*tracker .*run", unit, re.M)
    assert os.sep  # keeps the import used on every platform


def test_postgres_services_elect_one_leader_and_fail_over(
    service_cfg: Path, pg_url: str, start: Callable[..., ServiceProcess],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    monkeypatch.setenv("TRACKER_DATABASE_URL", pg_url)
    a = start()
    a.wait_for_rounds(2)
    b = start()
    deadline = time.monotonic() + 15
    while "standby" not in b.log.read_text():
        assert time.monotonic() < deadline, b.log.read_text()
        time.sleep(0.05)
    assert b.logged_rounds() == {}  # the standby does not fetch
    a.stop(signal.SIGKILL)  # the leader dies; its session ends and frees the lock
    b.wait_for_rounds(2, timeout=20)
    assert "leading" in b.log.read_text()
    assert b.stop() == 0
    engine = sa.create_engine(pg_url)
    with engine.connect() as conn:
        ids = [r[0] for r in conn.execute(sa.text("SELECT id FROM fetch_rounds ORDER BY id"))]
        orphans = conn.execute(sa.text(
            "SELECT count(*) FROM fetch_rounds r WHERE NOT EXISTS "
            "(SELECT 1 FROM source_quotes q WHERE q.round_id = r.id)"
        )).scalar()  # fmt: skip
    engine.dispose()
    assert orphans == 0
    assert set(a.logged_rounds()) | set(b.logged_rounds()) <= set(ids)


def run_daily_job(service: Service) -> None:
    service._start_loop()
    try:
        service.daily_job()
    finally:
        service._stop_loop()


def _service(cfg: Path, tmp_path: Path) -> Service:
    settings = load_settings(cfg)
    engine = open_database(f"sqlite:///{db_path(tmp_path)}", settings=settings).engine
    return Service(settings=settings, engine=engine, lock=SQLiteLock(db_path(tmp_path)))


def test_the_daily_job_stores_yesterdays_exchange_close(
    service_cfg: Path, fake_exchange: FakeExchange, tmp_path: Path
) -> None:
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    fake_exchange.set_daily("bitstamp", {yesterday: Decimal("87654.32")})
    service = _service(service_cfg, tmp_path)
    run_daily_job(service)
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
    service = _service(service_cfg, tmp_path)
    at = dt.datetime.combine(yesterday, dt.time(12), tzinfo=dt.UTC)
    with write_session(service.engine) as session:
        queries.insert_round(session=session, fetch_round=FetchRound(started_at=at, finished_at=at, status="ok"),
                           quotes=[], consensus=ConsensusPrice(round_id=0, at=at, price=Decimal("86000"), sources="a,b,c"))  # fmt: skip
    run_daily_job(service)
    with read_session(service.engine) as session:
        row = queries.latest_daily_close(session=session, on_or_before=yesterday)
    assert row is not None and (row.source, row.close) == ("consensus", Decimal("86000"))


def test_status_names_gaps_in_the_daily_series(run_cli: Run) -> None:
    import json

    data = json.loads(run_cli("status", "--format", "json").stdout)
    today = dt.datetime.now(dt.UTC).date()
    newest_bundled = dt.date(2026, 1, 13)
    first_missing = max(newest_bundled + dt.timedelta(days=1), today - dt.timedelta(days=365))
    last_missing = today - dt.timedelta(days=1)
    days = (last_missing - first_missing).days + 1
    assert data["daily_prices"]["newest"] == newest_bundled.isoformat()
    if days > 0:
        unit = "day" if days == 1 else "days"
        assert data["daily_prices"]["gaps"] == [
            f"{first_missing} to {last_missing} ({days} {unit})"
        ] or (days == 1 and data["daily_prices"]["gaps"] == [f"{first_missing} ({days} day)"])


def test_status_hides_the_database_password(run_cli: Run, pg_url: str) -> None:
    import json

    url = sa.engine.make_url(pg_url).set(password="hunter2").render_as_string(hide_password=False)
    result = run_cli("--db", url, "status", "--format", "json")
    assert "hunter2" not in result.stdout + result.stderr
    assert json.loads(result.stdout)["database"]["url"].startswith("postgresql+psycopg://")


def test_a_stop_during_the_write_waits_for_it_and_logs_the_truth(
    service_cfg: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    import threading

    settings = load_settings(service_cfg)
    engine = open_database(f"sqlite:///{db_path(tmp_path)}", settings=settings).engine
    service = Service(settings=settings, engine=engine, lock=SQLiteLock(db_path(tmp_path)))
    real = rounds.save_round
    writing = threading.Event()
    finished_at: list[float] = []

    def slow_save(*args: object, **kwargs: object) -> int:
        writing.set()
        time.sleep(1.0)
        rid = real(*args, **kwargs)  # type: ignore[arg-type]
        finished_at.append(time.monotonic())
        return rid

    monkeypatch.setattr(rounds, "save_round", slow_save)
    threading.Thread(target=lambda: (writing.wait(10), service.stop()), daemon=True).start()
    with caplog.at_level("INFO", logger="tracker.service"):
        assert service.run() == 0
    returned_at = time.monotonic()
    stored = db_rounds(db_path(tmp_path))
    assert len(stored) == 1 and finished_at and finished_at[0] <= returned_at
    rid = next(iter(stored))
    assert f"round {rid} ok" in caplog.text and "cancelled" not in caplog.text
    assert not Path(f"{db_path(tmp_path)}.service").exists()
