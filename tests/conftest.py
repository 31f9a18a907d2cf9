"""Shared fixtures: every test gets its own config and database paths, and no internet.

No internet, loudly: pytest-socket (``--allow-hosts`` in pyproject.toml) blocks connections
beyond loopback, but its error is a RuntimeError that tracker's HTTP client reports as an
ordinary ``invalid`` source outcome, so a test that went online by mistake would pass. The
``_no_network`` guard records every blocked attempt, refuses DNS lookups of other names (which
pytest-socket lets through), and fails the test naming the host. A test about the block itself
takes ``blocked_network`` and clears what it expected.

PostgreSQL tests run when TRACKER_TEST_POSTGRES_URL names a server (e.g.
postgresql+psycopg://postgres@127.0.0.1:5432/postgres); each test creates and drops its own
database there, so a run leaves nothing behind.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import sys
import uuid
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_socket
from typer.testing import CliRunner, Result

pytest_plugins = ["tests.fake_exchange", "tests.fake_explorer", "tests.service_support"]

PG_ENV = "TRACKER_TEST_POSTGRES_URL"
_BLOCKED = pytest.StashKey[list[str]]()
_REPORTED = pytest.StashKey[int]()


def _allowed_hosts(item: pytest.Item) -> set[str] | None:
    """The hosts this test may resolve, or None when the test may use the network."""
    if item.get_closest_marker("enable_socket") or item.config.getoption("--force-enable-socket"):
        return None
    marker = item.get_closest_marker("allow_hosts")
    hosts = marker.args[0] if marker else item.config.getoption("--allow-hosts") or ""
    names = hosts.split(",") if isinstance(hosts, str) else list(hosts)
    return {h.strip() for h in names if h.strip()}


@pytest.fixture(autouse=True)
def _no_network(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Record every connection pytest-socket blocks, and block DNS lookups of other hosts."""
    seen: list[str] = []
    request.node.stash[_BLOCKED] = seen
    for cls in (pytest_socket.SocketBlockedError, pytest_socket.SocketConnectBlockedError):

        def record(self: Exception, *args: Any, _init: Any = cls.__init__, **kw: Any) -> None:
            _init(self, *args, **kw)
            host = getattr(self, "_host", None)  # set by SocketConnectBlockedError
            seen.append(str(self) if host is None else f"connect to {host}")

        monkeypatch.setattr(cls, "__init__", record)
    allowed = _allowed_hosts(request.node)
    if allowed is None:
        return
    resolve = socket.getaddrinfo

    def guarded_getaddrinfo(host: Any, *args: Any, **kw: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if not name or name in allowed or _is_address(name):
            return resolve(host, *args, **kw)  # no lookup leaves the machine
        raise pytest_socket.SocketBlockedError(f"resolve {name!r}")

    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)


@pytest.fixture
def blocked_network(request: pytest.FixtureRequest) -> list[str]:
    """The blocked attempts seen so far in this test (a test expecting one clears it)."""
    seen: list[str] = request.node.stash[_BLOCKED]
    return seen


def _is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        return False
    return True


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A phase that passed after a blocked network attempt fails, naming what it tried."""
    report = yield
    seen = item.stash.get(_BLOCKED, [])
    done = item.stash.get(_REPORTED, 0)
    if len(seen) > done:
        item.stash[_REPORTED] = len(seen)
    if report.passed and len(seen) > done:
        tried = ", ".join(dict.fromkeys(seen[done:]))
        report.outcome = "failed"
        report.longrepr = (
            f"tried to reach the network: {tried}\n(pytest-socket blocked it, and the code "
            "under test swallowed the error; tests must use the loopback fake exchange)"
        )
    return report


@pytest.fixture(autouse=True)
def _isolate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Point config and database at tmp paths so no test reads a developer's own files, and
    undo the logging set-up of an in-process `tracker run` (root handlers and levels), so no
    test sees another's log configuration."""
    import logging

    monkeypatch.delenv("TRACKER_CONFIG", raising=False)
    monkeypatch.setenv("TRACKER_DATABASE_URL", f"sqlite:///{tmp_path / 'tracker.db'}")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.chdir(tmp_path)
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    levels = {n: logging.getLogger(n).level for n in ("apscheduler", "httpx", "tracker.service")}
    yield
    support = sys.modules.get("tests.verify_support")
    if support is not None:  # the engines its database_with made: none left open
        support.dispose_all()
    root.handlers[:], root.level = saved[0], saved[1]
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def _pg_admin_url() -> str | None:
    return os.environ.get(PG_ENV) or None


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A new, empty PostgreSQL database for this test, dropped afterwards."""
    admin = _pg_admin_url()
    if admin is None:
        pytest.skip(f"{PG_ENV} is not set")
    import sqlalchemy as sa

    name = f"tracker_test_{uuid.uuid4().hex[:12]}"
    admin_engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
    with admin_engine.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.engine.make_url(admin).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin_engine.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin_engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The same test on SQLite and, when configured, on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'param.db'}"
    url: str = request.getfixturevalue("pg_url")
    return url


@pytest.fixture
def run_cli(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """Invoke `tracker ARGS...` in-process; returns Click's Result (stdout, stderr, exit_code)."""
    from tracker.cli import app

    def invoke(*args: str, db: str | None = None) -> Result:
        if db is not None:
            monkeypatch.setenv("TRACKER_DATABASE_URL", db)
        return CliRunner().invoke(app, list(args), catch_exceptions=False)

    return invoke


TWO_HOLDERS = Path(__file__).with_name("data") / "two_holders.toml"


@pytest.fixture
def two_holders(monkeypatch: pytest.MonkeyPatch) -> Path:
    """The small, fixed world of the rules' tests: El Salvador and the U.S. with the five
    observations tracker seeded before the sovereign ledger shipped (tests/data)."""
    monkeypatch.setenv("TRACKER_CONFIG", str(TWO_HOLDERS))
    return TWO_HOLDERS
