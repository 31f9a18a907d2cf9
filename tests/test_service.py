"""`tracker run` as a real process against the loopback fake exchange: kill -9, SIGTERM, a
second instance, an unwritable lock, metrics; and rounds under faults. The service's parts
in-process: test_service_parts.py; several services on PostgreSQL: test_service_pg.py."""

from __future__ import annotations

import json
import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import Result

from tests.fake_exchange import FakeExchange
from tests.service_support import (
    CORE,
    ROUND_LINE,
    ServiceProcess,
    assert_consistent,
    db_path,
    db_rounds,
    io_loop,
    service_toml,
    sqlite_service,
    wait_until,
)
from tracker.errors import ServiceError
from tracker.service.locks import SQLiteLock

Run = Callable[..., Result]



@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., ServiceProcess]]:
    started: list[ServiceProcess] = []

    def go(*args: str) -> ServiceProcess:
        sp = ServiceProcess(tmp_path, *args)
        started.append(sp)
        return sp

    yield go
    for sp in started:
        sp.kill()


def test_twenty_rounds_under_random_faults_are_all_recorded(
    service_cfg: Path, fake_exchange: FakeExchange, tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    fake_exchange.set_chaos(0.35, seed=7)
    service = sqlite_service(service_cfg, tmp_path)
    with caplog.at_level("INFO", logger="tracker.service"), io_loop(service):
        reports = [service.fetch_job() for _ in range(20)]
    assert None not in reports and service.db_failures == 0
    logged = {int(m[1]): m[2] for m in ROUND_LINE.finditer(caplog.text)}
    stored = assert_consistent(db_path(tmp_path))
    assert len(stored) == 20
    # every round is in the log with the status the database has, and the other way round
    assert logged == {rid: status for rid, (status, *_rest) in stored.items()}
    with sqlite3.connect(db_path(tmp_path)) as conn:
        outcomes = {row[0] for row in conn.execute("SELECT DISTINCT outcome FROM source_quotes")}
    # the chaos really hit: failures of several kinds were recorded
    assert len(outcomes - {"accepted"}) >= 2, outcomes


def test_kill_9_at_random_points_never_corrupts_or_loses_an_acknowledged_round(
    service_cfg: Path, fake_exchange: FakeExchange, start: Callable[..., ServiceProcess],
    tmp_path: Path,
) -> None:  # fmt: skip
    """The first round starts as the scheduler does; the kill lands before, during or
    after it (its fetch, its write, the log line)."""
    rng = random.Random(20261125)
    fake_exchange.set_chaos(0.2, seed=3)
    acknowledged: dict[int, str] = {}
    for i in range(30):
        sp = start()
        sp.wait_for("service started", timeout=15)  # the interpreter is up
        if i % 5 == 0:  # and now and then once a round was acknowledged, whatever the load
            sp.wait_for_rounds(1)
        time.sleep(rng.uniform(0.0, 0.2))
        sp.stop(signal.SIGKILL)
        acknowledged |= sp.logged_rounds()
        stored = assert_consistent(db_path(tmp_path))
        missing = set(acknowledged) - set(stored)
        assert not missing, f"acknowledged but lost: {missing}"
    assert len(acknowledged) >= 6  # so the check above had rounds to check


def test_sigterm_mid_round_exits_0_and_stores_no_partial_round(
    service_cfg: Path, fake_exchange: FakeExchange, start: Callable[..., ServiceProcess],
    tmp_path: Path,
) -> None:  # fmt: skip
    service_cfg.write_text(service_toml(fake_exchange, timeout_s=15, round_timeout_s=20))
    for name in CORE:
        fake_exchange.set_fault(name, delay_s=5)
    sp = start()
    wait_until(lambda: fake_exchange.requests("coinbase"), what="the round in flight")
    assert sp.stop(signal.SIGTERM, timeout=10) == 0  # the contract: within 10 s
    assert db_rounds(db_path(tmp_path)) == {}
    assert "service stopped (exit 0)" in sp.text()


def test_readers_never_see_database_is_locked(
    service_cfg: Path, run_cli: Run, tmp_path: Path
) -> None:
    """Rounds written back to back (the service's fetch job in a thread, as fast as it
    goes) while `tracker report` reads: no reader waits out the lock or fails."""
    service = sqlite_service(service_cfg, tmp_path)
    done = threading.Event()
    results: list[object] = []

    def write() -> None:
        while not done.is_set():
            results.append(service.fetch_job())

    with io_loop(service):
        writer = threading.Thread(target=write)
        writer.start()
        try:
            reads = 0
            end = time.monotonic() + 120
            while reads < 15 or len(results) < 30:
                assert time.monotonic() < end, (reads, len(results))
                result = run_cli("report", "--offline", "--format", "json")
                assert result.exit_code == 0, result.stderr
                assert "locked" not in result.stderr
                reads += 1
        finally:
            done.set()
            writer.join(30)
    assert None not in results and service.db_failures == 0


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


def test_an_unwritable_lock_file_is_one_line_and_exit_1(service_cfg: Path, tmp_path: Path) -> None:
    (tmp_path / "tracker.db.lock").mkdir()  # a directory in the lock file's way (we run as root)
    result = subprocess.run(
        [sys.executable, "-m", "tracker", "run"], capture_output=True, text=True, cwd=tmp_path,
        timeout=30,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert result.stderr.startswith("tracker: error: cannot write the service's lock file")
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_an_unwritable_owner_file_is_refused_and_frees_the_lock(tmp_path: Path) -> None:
    db = db_path(tmp_path)
    Path(f"{db}.service").mkdir()
    with pytest.raises(ServiceError, match=r"cannot write the service's lock file .*\.service"):
        SQLiteLock(db).acquire()
    from filelock import FileLock

    FileLock(f"{db}.lock").acquire(timeout=0)  # nobody holds it


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
    events = [json.loads(line) for line in bad.stderr.splitlines()]
    logged = [e for e in events if e.get("event") == "round"]
    assert logged and logged[0]["status"] == "degraded" and logged[0]["price"] is None


def test_run_help_lists_every_exit_code(run_cli: Run) -> None:
    text = " ".join(run_cli("run", "--help").stdout.split())
    assert re.search(r"\b0\b[^.;]*SIGTERM", text), text
    assert re.search(r"\b1\b[^.;]*another", text), text
    assert re.search(r"\b3\b[^.;]*database", text), text
    assert re.search(r"\b4\b[^.;]*stall", text), text


def test_metrics_are_served(
    service_cfg: Path, start: Callable[..., ServiceProcess], tmp_path: Path
) -> None:
    import socket

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sp = start("--metrics-port", str(port))
    sp.wait_for_rounds(1)
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    assert sp.stop() == 0
    assert re.search(r"^tracker_consensus_price_usd 100000\.0$", text, re.M), text
    assert re.search(r'^tracker_rounds_total\{status="ok"\} [1-9]', text, re.M)
    assert 'tracker_source_outcomes_total{outcome="accepted",source="kraken"}' in text
    assert "tracker_source_latency_seconds_bucket" in text
    assert "tracker_consensus_timestamp_seconds" in text
