"""A broken environment gets one line and a non-zero exit, never a traceback, and nothing of
the user's is written or echoed: damaged files, unusable homes, bad URLs, passwords."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from tracker.errors import StoreError
from tracker.store.engine import make_engine, redact_url

Run = Callable[..., Result]


def one_line(result: Result, code: int = 1) -> str:
    assert result.exit_code == code, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tracker: error: "), result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    return lines[0]


def _damage_table(path: Path, table: str) -> None:
    """Overwrite the root pages of ``table`` and its indexes: the file opens, and the first
    query that reads the table fails."""
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        roots = db.execute(
            "SELECT rootpage FROM sqlite_master WHERE tbl_name = ? AND rootpage > 0", (table,)
        ).fetchall()
        size = db.execute("PRAGMA page_size").fetchone()[0]
    assert roots
    with path.open("r+b") as f:
        for (root,) in roots:
            f.seek((root - 1) * size)
            f.write(b"\xa5" * size)


@pytest.mark.parametrize(
    "command", [["report", "--offline", "--at", "2024-06-01"], ["status"], ["db", "info"]]
)
def test_a_page_damaged_mid_query_is_one_line(
    run_cli: Run, tmp_path: Path, command: list[str]
) -> None:
    path = tmp_path / "damaged.db"
    assert run_cli("--db", f"sqlite:///{path}", "db", "upgrade").exit_code == 0
    _damage_table(path, "daily_prices")
    line = one_line(run_cli("--db", f"sqlite:///{path}", *command))
    assert "file is damaged (database disk image is malformed)" in line and "backup" in line


def test_a_file_that_is_not_ours_is_refused_and_left_byte_for_byte(
    run_cli: Run, tmp_path: Path
) -> None:
    """Refusing someone else's SQLite file must not switch its journal to WAL (or write
    anything else) first."""
    path = tmp_path / "theirs.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
        db.execute("INSERT INTO customers (name) VALUES ('ada')")
    before = path.read_bytes()
    assert "none of tracker's" in one_line(run_cli("--db", f"sqlite:///{path}", "report"))
    assert path.read_bytes() == before
    assert not Path(f"{path}-wal").exists()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "delete"


def test_a_new_database_is_in_wal_mode(run_cli: Run, tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    assert run_cli("--db", f"sqlite:///{path}", "db", "upgrade").exit_code == 0
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg//user:s3cret@host/db",  # a colon missing: unparsable
        "postgresql+psycopg://user:s3cret@host:port/db",  # a port that is not a number
        "postgresql+psycopg://user:s3cret@127.0.0.1:1/db",  # parsable, nobody listening
        "nosuchdriver://user:s3cret@host/db",
    ],
)
def test_a_password_is_never_echoed_whatever_the_url(run_cli: Run, url: str) -> None:
    line = one_line(run_cli("--db", url, "report", "--offline"))
    assert "s3cret" not in line and "user" in line


def test_a_non_numeric_port_is_one_line(run_cli: Run) -> None:
    line = one_line(run_cli("--db", "postgresql+psycopg://u@h:abc/db", "status"))
    assert "cannot parse database URL" in line


def test_redaction_without_a_parser() -> None:
    assert redact_url("postgresql+psycopg//u:pw@h/d") == "postgresql+psycopg//u:***@h/d"
    assert redact_url("x://u:p@h:port/db").count("***") == 1
    with pytest.raises(StoreError) as caught:
        make_engine("postgresql+psycopg//u:hunter2@h/d")
    assert "hunter2" not in str(caught.value)


def test_db_info_and_status_hide_a_password_on_sqlite_runs_too(
    run_cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without PostgreSQL: a URL with a password whose server is not there is refused, and
    the refusal names the URL with the password hidden."""
    url = "postgresql+psycopg://tracker:hunter2@127.0.0.1:1/tracker"
    for command in (["db", "info"], ["status"], ["config", "show"]):
        done = run_cli("--db", url, *command)
        assert "hunter2" not in done.stdout + done.stderr, command
        if command[0] != "config":
            assert "tracker:***@127.0.0.1:1" in one_line(done, code=1)
    shown = run_cli("--db", url, "config", "show").stdout
    assert "postgresql+psycopg://tracker:***@127.0.0.1:1/tracker" in shown


def _home_env(home: str | None, tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TRACKER_", "XDG_"))}
    env.pop("HOME", None)
    if home is not None:
        env["HOME"] = home
    return env


@pytest.mark.parametrize("home", ["file", "missing-and-uncreatable"])
def test_an_unusable_home_without_a_database_url_is_one_line(tmp_path: Path, home: str) -> None:
    """HOME (where the default database lives) is a file, or lies under one: nothing can be
    created there, and the user is told to pass --db."""
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    where = str(blocker) if home == "file" else str(blocker / "home")
    done = subprocess.run(
        [sys.executable, "-m", "tracker", "report", "--offline"],
        capture_output=True, text=True, cwd=tmp_path, env=_home_env(where, tmp_path),
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "cannot create the database folder" in lines[0], done.stderr
    assert "--db" in lines[0]
