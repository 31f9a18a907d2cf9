"""Several services on one PostgreSQL: one leader (a session advisory lock), standbys that
neither fetch nor run the daily close, failover when the leader dies, and fencing: a leader
whose database session ends mid-round stores nothing, and its successor waits an interval."""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.fake_exchange import FakeExchange
from tests.service_support import CORE, ServiceProcess, service_toml, wait_until
from tracker import rounds
from tracker.config import load_settings
from tracker.errors import Exit
from tracker.models import RoundReport
from tracker.service.locks import PostgresLeader
from tracker.service.service import Service
from tracker.store import queries
from tracker.store.engine import read_session
from tracker.store.migrate import open_database

LEADER_KEY = 0x7472_6B72  # "trkr", tracker.service.locks.LEADER_KEY: asserted below


@pytest.fixture
def pg_cfg(
    tmp_path: Path, fake_exchange: FakeExchange, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> Path:
    path = tmp_path / "service.toml"
    path.write_text(service_toml(fake_exchange, timeout_s=2, round_timeout_s=3))
    monkeypatch.setenv("TRACKER_CONFIG", str(path))
    monkeypatch.setenv("TRACKER_DATABASE_URL", pg_url)
    return path


@pytest.fixture
def admin(pg_url: str) -> Iterator[sa.Engine]:
    engine = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


@pytest.fixture
def services(pg_cfg: Path, pg_url: str) -> Iterator[Callable[[], Service]]:
    """In-process services on the test database, each with its own engine and leader lock."""
    with contextlib.ExitStack() as stack:

        def make() -> Service:
            settings = load_settings(pg_cfg)
            engine = open_database(pg_url, settings=settings).engine
            stack.callback(engine.dispose)
            service = Service(settings=settings, engine=engine, lock=PostgresLeader(engine))
            stack.callback(service.lock.release)
            service._start_loop()
            stack.callback(service._stop_loop)
            return service

        yield make


def leader_pid(admin: sa.Engine) -> int | None:
    with admin.connect() as conn:
        return conn.execute(
            sa.text(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND objid = :key AND database = "
                "(SELECT oid FROM pg_database WHERE datname = current_database())"
            ),
            {"key": LEADER_KEY},
        ).scalar()


def terminate_leader(admin: sa.Engine) -> None:
    pid = leader_pid(admin)
    assert pid is not None
    with admin.connect() as conn:
        assert conn.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar()


def stored_starts(admin: sa.Engine) -> dict[int, dt.datetime]:
    with admin.connect() as conn:
        rows = conn.execute(sa.text("SELECT id, started_at FROM fetch_rounds ORDER BY started_at"))
        return {r[0]: r[1] for r in rows}


def test_the_leader_key_is_the_one_these_tests_look_for() -> None:
    from tracker.service import locks

    assert locks.LEADER_KEY == LEADER_KEY


def test_postgres_services_elect_one_leader_and_fail_over(
    pg_cfg: Path, pg_url: str, tmp_path: Path
) -> None:
    started = []
    try:
        a = ServiceProcess(tmp_path)
        started.append(a)
        a.wait_for_rounds(1)
        b = ServiceProcess(tmp_path)
        started.append(b)
        b.wait_for("standby", timeout=15)
        assert b.logged_rounds() == {}  # the standby does not fetch
        a.stop(signal.SIGKILL)  # the leader dies; its session ends and frees the lock
        b.wait_for_rounds(1, timeout=20)
        assert "leading" in b.text()
        assert b.stop() == 0
    finally:
        for sp in started:
            sp.kill()
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


def test_a_standby_does_not_run_the_daily_close(
    services: Callable[[], Service], fake_exchange: FakeExchange, admin: sa.Engine
) -> None:
    from decimal import Decimal

    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    fake_exchange.set_daily("bitstamp", {yesterday: Decimal("87654.32")})
    leader, standby = services(), services()
    assert leader.lock.ensure() and not standby.lock.ensure()

    def closes() -> list[tuple[str, Decimal]]:
        with read_session(admin) as session:
            row = queries.latest_daily_close(session=session, on_or_before=yesterday)
        return [] if row is None or row.date != yesterday else [(row.source, row.close)]

    standby.daily_job()
    assert closes() == [] and fake_exchange.requests("bitstamp") == []
    leader.daily_job()
    assert closes() == [("bitstamp", Decimal("87654.32"))]


def until_stored(service: Service, timeout: float = 10) -> RoundReport:
    """Run the service's fetch job the way its scheduler would, until it stores a round."""
    end = time.monotonic() + timeout
    while (rr := service.fetch_job()) is None:
        assert time.monotonic() < end, "no round stored"
        time.sleep(0.05)
    return rr


@pytest.mark.timeout(120)
def test_a_leader_whose_session_ends_mid_round_stores_nothing(
    services: Callable[[], Service], fake_exchange: FakeExchange, admin: sa.Engine,
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """Ten times: the leader stores a round, then its next round is slow on the exchange
    while another connection terminates its database session. A standby takes over, and
    only then does the old leader try to store its round (held until then, so every try is
    the worst case). It must store nothing, and no round may follow another by less than
    the interval (the new leader's first round waits for it)."""
    a, b = services(), services()
    interval = a.settings.schedule.interval_s
    assert a.lock.ensure() and not b.lock.ensure()
    stored: list[RoundReport] = []

    real_store = rounds.store_round
    holding: dict[str, threading.Event] = {}

    def store_when_released(engine: sa.Engine, collected: rounds.Collected) -> RoundReport:
        if threading.current_thread().name == "old-leader":  # deterministic: after takeover
            holding["writing"].set()
            assert holding["release"].wait(30)
        return real_store(engine, collected)

    monkeypatch.setattr(rounds, "store_round", store_when_released)

    def fail_over(leader: Service, standby: Service) -> None:
        fake_exchange.clear_faults()
        stored.append(until_stored(leader))
        for name in CORE:  # the next round is still fetching when its session is ended
            fake_exchange.set_fault(name, delay_s=0.3)
        asked = len(fake_exchange.requests("coinbase"))
        holding.update(writing=threading.Event(), release=threading.Event())
        fenced: list[RoundReport | None] = []
        writer = threading.Thread(
            target=lambda: fenced.append(leader.fetch_job()), name="old-leader"
        )
        writer.start()
        wait_until(lambda: len(fake_exchange.requests("coinbase")) > asked, what="a round")
        terminate_leader(admin)
        deadline = time.monotonic() + 10
        while not standby.lock.leading:  # the standby's scheduler ticks until it leads
            assert time.monotonic() < deadline, "the standby never took over"
            if (rr := standby.fetch_job()) is not None:
                stored.append(rr)
            time.sleep(0.02)
        assert holding["writing"].wait(30)  # the old leader fetched its round: it may write now
        holding["release"].set()
        writer.join(30)
        assert fenced == [None], "the old leader stored its round after losing the lock"

    with caplog.at_level("INFO", logger="tracker.service"):
        for _ in range(5):
            fail_over(a, b)
            fail_over(b, a)
    starts = stored_starts(admin)
    assert sorted(starts) == sorted(rr.round_id for rr in stored)  # nothing else was stored
    gaps = [(y - x).total_seconds() for x, y in itertools.pairwise(starts.values())]
    assert min(gaps) >= interval, gaps
    assert a.db_failures == b.db_failures == 0 and a.exit_code == b.exit_code == Exit.OK
    assert "lost leadership" in caplog.text and "database unavailable" not in caplog.text


def test_a_session_lost_between_rounds_is_lost_leadership_not_a_database_failure(
    services: Callable[[], Service], admin: sa.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    leader, standby = services(), services()
    assert until_stored(leader) is not None and not standby.lock.ensure()
    terminate_leader(admin)
    wait_until(lambda: standby.lock.ensure(), what="the standby to take over")
    with caplog.at_level("INFO", logger="tracker.service"):
        assert leader.fetch_job() is None
    assert leader.db_failures == 0 and leader.exit_code == Exit.OK
    assert "lost leadership" in caplog.text and "database unavailable" not in caplog.text
