"""Shared fixtures: every test gets its own config and database paths, and no internet.

PostgreSQL tests run when TRACKER_TEST_POSTGRES_URL names a server (e.g.
postgresql+psycopg://postgres@127.0.0.1:5432/postgres); each test creates and drops its own
database there, so a run leaves nothing behind.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

pytest_plugins = ["tests.fake_exchange"]

PG_ENV = "TRACKER_TEST_POSTGRES_URL"


@pytest.fixture(autouse=True)
def _isolate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Point config and database at tmp paths so no test reads a developer's own files."""
    monkeypatch.delenv("TRACKER_CONFIG", raising=False)
    monkeypatch.setenv("TRACKER_DATABASE_URL", f"sqlite:///{tmp_path / 'tracker.db'}")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg-config"))
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.chdir(tmp_path)
    yield


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
