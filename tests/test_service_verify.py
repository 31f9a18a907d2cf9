"""The service's on-chain check job (`tracker run`, every verify.interval_s): it stores a
check per holder with addresses; on PostgreSQL only the leader runs it; a failure is logged
and the service goes on."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.fake_exchange import FakeExchange
from tests.fake_explorer import FakeExplorer
from tests.service_support import service_toml, sqlite_service
from tests.test_verify import split
from tests.verify_support import ES, database_with
from tracker.config import load_settings
from tracker.service.locks import PostgresLeader
from tracker.service.service import Service
from tracker.service.verify_job import verify_job
from tracker.store.engine import read_session
from tracker.store.migrate import open_database
from tracker.verify import latest_checks

BOOK = {"el-salvador": ES, "united-states": [], "germany": []}


@pytest.fixture
def cfg(
    tmp_path: Path,
    fake_exchange: FakeExchange,
    fake_explorer: FakeExplorer,
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    path = tmp_path / "service.toml"
    path.write_text(service_toml(fake_exchange) + "\n" + fake_explorer.config_toml())
    monkeypatch.setenv("TRACKER_CONFIG", str(path))
    fake_explorer.set_balances(split(7474_37000000, ES))
    fake_explorer.set_tip(925_000)
    return path


def checked_holders(engine: sa.Engine) -> set[int]:
    with read_session(engine) as session:
        return set(latest_checks(session))


def test_the_job_stores_a_check_for_each_holder_with_addresses(cfg: Path, tmp_path: Path) -> None:
    service = sqlite_service(cfg, tmp_path)
    database_with(str(service.engine.url), service.settings, BOOK)
    assert checked_holders(service.engine) == set()
    verify_job(service)
    assert len(checked_holders(service.engine)) == 1


def test_a_failing_check_is_logged_and_the_job_returns(
    cfg: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = sqlite_service(cfg, tmp_path)

    def broken(*_: object, **__: object) -> list[object]:
        raise RuntimeError("boom")

    monkeypatch.setattr("tracker.verify.run_checks", broken)
    with caplog.at_level(logging.ERROR, logger="tracker"):
        verify_job(service)  # no exception escapes into the scheduler
    assert "on-chain checks failed" in caplog.text


@pytest.fixture
def services(cfg: Path, pg_url: str) -> Iterator[Callable[[], Service]]:
    with contextlib.ExitStack() as stack:

        def make() -> Service:
            settings = load_settings(cfg)
            engine = open_database(pg_url, settings=settings).engine
            stack.callback(engine.dispose)
            service = Service(settings=settings, engine=engine, lock=PostgresLeader(engine))
            stack.callback(service.lock.release)
            return service

        yield make


def test_on_postgresql_only_the_leader_checks(
    services: Callable[[], Service], pg_url: str, fake_explorer: FakeExplorer
) -> None:
    leader, standby = services(), services()
    database_with(pg_url, leader.settings, BOOK)
    assert leader.lock.ensure() and not standby.lock.ensure()
    verify_job(standby)
    assert checked_holders(leader.engine) == set()
    assert fake_explorer.requests("mempool") == []
    verify_job(leader)
    assert len(checked_holders(leader.engine)) == 1


@pytest.mark.timeout(60)
def test_the_scheduler_checks_every_verify_interval(cfg: Path, tmp_path: Path) -> None:
    import datetime as dt
    import threading

    from tests.service_support import wait_until
    from tracker.service.service import VERIFY_FIRST_AFTER_S

    cfg.write_text(cfg.read_text().replace("[verify]\n", "[verify]\ninterval_s = 600\n"))
    service = sqlite_service(cfg, tmp_path)
    seen: dict[str, object] = {}

    def look_then_stop() -> None:  # the service runs in the main thread (it sets signals)
        try:
            wait_until(lambda: service._scheduler is not None and service._scheduler.running)
            job = service._scheduler.get_job("verify")
            seen["interval"] = job.trigger.interval
            seen["first"] = job.next_run_time - dt.datetime.now(dt.UTC)
        finally:
            service.stop(0)

    threading.Thread(target=look_then_stop, daemon=True).start()
    assert service.run() == 0
    assert seen["interval"] == dt.timedelta(seconds=600)
    first = seen["first"]
    assert isinstance(first, dt.timedelta)
    assert dt.timedelta(seconds=VERIFY_FIRST_AFTER_S - 10) <= first
    assert first <= dt.timedelta(seconds=VERIFY_FIRST_AFTER_S)
