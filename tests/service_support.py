"""Helpers for the service tests: a config for `tracker run` against the fake exchange, the
service in-process on SQLite, `tracker run` as a real process whose log the test reads, and
checks of what a SQLite database holds."""

from __future__ import annotations

import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.fake_exchange import FakeExchange
from tracker.config import load_settings
from tracker.service.locks import SQLiteLock
from tracker.service.service import Service
from tracker.store.migrate import open_database

ROUND_LINE = re.compile(r"round (\d+) (ok|degraded|failed)")
CORE = ("coinbase", "kraken", "bitstamp", "gemini", "bitfinex")


def service_toml(
    fake: FakeExchange, *, interval_s: float = 1, timeout_s: float = 0.15,
    round_timeout_s: float = 1, max_db_failures: int = 3,
) -> str:  # fmt: skip
    """A config for the service: the shortest interval allowed, no retries, short timeouts."""
    return (
        f"[schedule]\ninterval_s = {interval_s}\nmax_db_failures = {max_db_failures}\n\n"
        f"[fetch]\nretries = 0\nbackoff_s = 0.01\nround_timeout_s = {round_timeout_s}\n\n"
        + fake.config_toml(timeout_s=timeout_s)
    )


def wait_until(condition: Callable[[], object], *, timeout: float = 30, what: str = "") -> None:
    """Poll ``condition()`` until it is true; fail after a generous ``timeout``."""
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, f"timed out waiting for {what or condition}"
        time.sleep(0.02)


class TrackerProcess:
    """`tracker ARGS` as a real process in ``cwd``, its stderr in a log file (``name`` and a
    number), stopped by a signal or killed."""

    stop_timeout: float = 10

    def __init__(self, cwd: Path, *args: str, name: str, env: dict[str, str] | None = None) -> None:
        self.log = cwd / f"{name}-{time.monotonic_ns()}.log"
        self._err = self.log.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tracker", *args],
            stdout=subprocess.DEVNULL, stderr=self._err, cwd=cwd, env=env,
        )  # fmt: skip

    def text(self) -> str:
        return self.log.read_text()

    def stop(self, sig: int = signal.SIGTERM, timeout: float | None = None) -> int:
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(self.stop_timeout if timeout is None else timeout)
        finally:
            self._err.close()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._err.close()


class ServiceProcess(TrackerProcess):
    """`tracker run ARGS` in ``cwd``, its stderr in a log file."""

    def __init__(self, cwd: Path, *args: str) -> None:
        super().__init__(cwd, "run", *args, name="service")

    def logged_rounds(self) -> dict[int, str]:
        return {int(m[1]): m[2] for m in ROUND_LINE.finditer(self.text())}

    def wait_for(self, line: str, timeout: float = 30) -> None:
        end = time.monotonic() + timeout
        while line not in self.text():
            assert self.proc.poll() is None, self.text()
            assert time.monotonic() < end, self.text()
            time.sleep(0.02)

    def wait_for_rounds(self, n: int, timeout: float = 30) -> None:
        end = time.monotonic() + timeout
        while len(self.logged_rounds()) < n:
            assert self.proc.poll() is None, self.text()
            assert time.monotonic() < end, self.text()
            time.sleep(0.05)


def db_path(tmp_path: Path) -> Path:
    return tmp_path / "tracker.db"


def sqlite_service(cfg: Path, tmp_path: Path, **kwargs: object) -> Service:
    """The service in-process, on the test's SQLite database."""
    settings = load_settings(cfg)
    engine = open_database(f"sqlite:///{db_path(tmp_path)}", settings=settings).engine
    return Service(settings=settings, engine=engine, lock=SQLiteLock(db_path(tmp_path)), **kwargs)  # type: ignore[arg-type]


@contextmanager
def io_loop(service: Service) -> Iterator[Service]:
    """The service's event loop and client, for driving its jobs without the scheduler."""
    service._start_loop()
    try:
        yield service
    finally:
        service._stop_loop()


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


@pytest.fixture
def service_cfg(
    tmp_path: Path, fake_exchange: FakeExchange, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """A config pointing every source at the fake exchange, in force through TRACKER_CONFIG."""
    path = tmp_path / "service.toml"
    path.write_text(service_toml(fake_exchange))
    monkeypatch.setenv("TRACKER_CONFIG", str(path))
    return path
