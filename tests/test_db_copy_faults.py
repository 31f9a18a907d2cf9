"""`tracker db copy`, `db export` and `db import` when things go wrong (issue 12): a destination
that cannot be reached or refuses the password (never echoed), a destination made by a newer
tracker, a source that is not a tracker database, an export file with a bad line (named, and
nothing stored), and a copy killed with SIGKILL at random points again and again (the rerun
completes it, identical to the source). Every error is one line `tracker: error: ...` on
stderr and exit 1, and writes nothing.

The kill tests (and a few others: stdin, a full disk, the password never printed by a real
process) run `python -m tracker` as a real process; the rest run in-process. The kills are
seeded (random.Random), so a failure reproduces. A wrong password is tried on a fake server
(tests/fake_postgres.py): the test server trusts every login. The PostgreSQL cases skip
without TRACKER_TEST_POSTGRES_URL.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.pool import NullPool
from typer.testing import Result

from tests.fake_postgres import FakePostgres
from tracker.store import transfer

PASSWORD = "s3cret"
SOURCES = ("coinbase", "kraken", "bitstamp", "gemini", "bitfinex")
START = dt.datetime(2025, 12, 1)  # round n is n minutes later (UTC, naive as SQLite keeps it)
REPORT_AT = "2025-12-13T00:00"  # within 20,000 rounds: the report values a copied consensus


# --- helpers -------------------------------------------------------------------------------


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def tracker_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "tracker", *args]


def assert_error(result: Result | subprocess.CompletedProcess[str], *needles: str) -> str:
    """Exit 1, stdout empty, exactly one line on stderr (`tracker: error: ...`), no traceback,
    each needle in it; the line."""
    code = result.exit_code if isinstance(result, Result) else result.returncode
    stdout, stderr = result.stdout, result.stderr
    assert code == 1, (code, stdout, stderr)
    assert stdout == ""
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    line = lines[0]
    assert line.startswith("tracker: error: "), line
    assert "Traceback" not in stderr
    for needle in needles:
        assert needle in line, (needle, line)
    return line


def add_rounds(path: Path, first: int, count: int) -> None:
    """``count`` one-minute rounds with ids from ``first`` (5 quotes and a consensus each),
    straight into a tracker SQLite file, as bench/bench_growth.py's fill does."""
    fmt = "%Y-%m-%d %H:%M:%S.%f"
    rounds, quotes, consensus = [], [], []
    for rid in range(first, first + count):
        at = (START + dt.timedelta(minutes=rid)).strftime(fmt)
        rounds.append((rid, at, at, "ok", "USD"))
        price = 10_000_000_000_000 + (rid % 1000) * 100_000_000
        for s in SOURCES:
            quotes.append((rid, s, price, None, 12, 1, "accepted", None))
        consensus.append((rid, at, "USD", price, ",".join(SOURCES)))
    conn = sqlite3.connect(path)
    with conn:
        conn.executemany(
            "INSERT INTO fetch_rounds (id, started_at, finished_at, status, currency) "
            "VALUES (?,?,?,?,?)",
            rounds,
        )
        conn.executemany(
            "INSERT INTO source_quotes (round_id, source, price, quoted_at, latency_ms, "
            "attempts, outcome, reason) VALUES (?,?,?,?,?,?,?,?)",
            quotes,
        )
        conn.executemany(
            "INSERT INTO consensus_prices (round_id, at, currency, price, sources) "
            "VALUES (?,?,?,?,?)",
            consensus,
        )
    conn.close()


def make_source(path: Path, rounds: int, *, closes_since: str = "2025-06-01") -> str:
    """A tracker SQLite database (ledger, bundled closes since ``closes_since``) with
    ``rounds`` rounds; its URL. Made by a real `tracker db upgrade`."""
    url = sqlite_url(path)
    done = subprocess.run(
        tracker_cmd("--db", url, "db", "upgrade"), capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("DELETE FROM daily_prices WHERE date < ?", (closes_since,))
    conn.close()
    if rounds:
        add_rounds(path, 1, rounds)
    return url


def counts(url: str) -> dict[str, int]:
    """Rows per transfer table (no tables at all: an empty dict)."""
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            present = set(sa.inspect(conn).get_table_names())
            return {
                spec.name: int(
                    conn.execute(sa.select(sa.func.count()).select_from(spec.table)).scalar_one()
                )
                for spec in transfer.specs()
                if spec.name in present
            }
    finally:
        engine.dispose()


def revision(url: str) -> str | None:
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table("alembic_version"):
                return None
            return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()


def execute(url: str, sql: str) -> None:
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text(sql))
    finally:
        engine.dispose()


def closed_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


def clone(url: str, path: Path) -> str:
    """A copy of a SQLite database (sqlite3's backup: whole, even in WAL mode); its URL."""
    src, dst = sqlite3.connect(url.removeprefix("sqlite:///")), sqlite3.connect(path)
    src.backup(dst)
    src.close()
    dst.close()
    return sqlite_url(path)


@pytest.fixture
def source(world: dict[str, Any], tmp_path: Path) -> str:
    """A tracker database with the ledger, closes since 2025-06 and 20 rounds."""
    return clone(world["before"], tmp_path / "source.db")


# --- 1, 2: a destination that cannot be reached, a password refused --------------------------


def test_unreachable_destination_is_named_with_the_password_hidden(
    run_cli: Callable[..., Result], source: str
) -> None:
    port = closed_port()
    to = f"postgresql+psycopg://u:{PASSWORD}@127.0.0.1:{port}/x?connect_timeout=3"
    started = time.monotonic()
    result = run_cli("db", "copy", "--from", source, "--to", to)
    elapsed = time.monotonic() - started
    line = assert_error(result, f"postgresql+psycopg://u:***@127.0.0.1:{port}/x", "refused")
    assert PASSWORD not in result.stdout + result.stderr, line
    assert elapsed < 5, elapsed


def test_unreachable_destination_from_a_real_process_never_echoes_the_password(
    source: str,
) -> None:
    """The same through the console entry point, so nothing is printed outside the CLI
    runner's capture either (a traceback or a log line would be here)."""
    port = closed_port()
    to = f"postgresql+psycopg://u:{PASSWORD}@127.0.0.1:{port}/x?connect_timeout=3"
    done = subprocess.run(
        tracker_cmd("db", "copy", "--from", source, "--to", to),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert_error(done, "u:***@127.0.0.1")
    assert PASSWORD not in done.stdout + done.stderr


def test_a_sqlite_destination_in_a_missing_folder_is_refused_and_not_made(
    run_cli: Callable[..., Result], source: str, tmp_path: Path
) -> None:
    to = tmp_path / "no-such-folder" / "copy.db"
    assert_error(run_cli("db", "copy", "--from", source, "--to", sqlite_url(to)), "does not exist")
    assert not to.parent.exists()


@pytest.mark.parametrize("command", ["copy", "export", "import"])
def test_wrong_password_is_refused_and_never_echoed(
    run_cli: Callable[..., Result], source: str, tmp_path: Path, command: str
) -> None:
    with FakePostgres(user="u") as fake:
        url = fake.database_url(PASSWORD)
        if command == "copy":
            result = run_cli("db", "copy", "--from", source, "--to", url)
        elif command == "export":
            result = run_cli("--db", url, "db", "export")
        else:
            file = tmp_path / "rows.jsonl"
            file.write_text('{"tracker_export": 1, "schema": "0004_onchain"}\n')
            result = run_cli("--db", url, "db", "import", str(file))
        line = assert_error(result, "password authentication failed", "u:***@127.0.0.1")
        assert PASSWORD not in result.stdout + result.stderr, line
        # the password reached the server and was refused there (not a failure before it)
        assert fake.passwords and set(fake.passwords) == {PASSWORD}
        assert fake.startups[0]["user"] == "u"


# --- 3: a destination made by a newer tracker ---------------------------------------------------


def test_a_destination_with_a_newer_schema_is_refused_and_untouched(
    run_cli: Callable[..., Result], source: str, db_url: str
) -> None:
    assert run_cli("--db", db_url, "db", "upgrade").exit_code == 0
    execute(db_url, "UPDATE alembic_version SET version_num = '9999_future'")
    before = counts(db_url)
    assert before["holders"] > 0  # a real database, not an empty one
    result = run_cli("db", "copy", "--from", source, "--to", db_url)
    assert_error(result, "9999_future", "newer")
    assert counts(db_url) == before
    assert revision(db_url) == "9999_future"


def test_a_source_with_a_newer_schema_is_refused(
    run_cli: Callable[..., Result], source: str, tmp_path: Path
) -> None:
    execute(source, "UPDATE alembic_version SET version_num = '9999_future'")
    to = tmp_path / "copy.db"
    assert_error(
        run_cli("db", "copy", "--from", source, "--to", sqlite_url(to)),
        "source",
        "9999_future",
        "newer",
    )
    assert not to.exists()
    assert_error(run_cli("--db", source, "db", "export"), "9999_future", "newer")


def test_an_export_from_a_newer_schema_is_refused(
    run_cli: Callable[..., Result], db_url: str, tmp_path: Path
) -> None:
    file = tmp_path / "future.jsonl"
    file.write_text(
        json.dumps({"tracker_export": 1, "schema": "9999_future", "tables": ["holders"]})
        + "\n"
        + json.dumps({"table": "holders", "id": 1, "slug": "x", "name": "X"})
        + "\n"
    )
    assert_error(run_cli("--db", db_url, "db", "import", str(file)), "9999_future", "newer")
    assert not any(counts(db_url).values())


# --- 4: a source that is not a tracker database -------------------------------------------------


def _copy_refused(run_cli: Callable[..., Result], src: str, tmp_path: Path, *needles: str) -> str:
    to = tmp_path / "copy.db"
    line = assert_error(run_cli("db", "copy", "--from", src, "--to", sqlite_url(to)), *needles)
    assert not to.exists(), "the destination was made for a source that was refused"
    return line


def test_a_source_with_other_tables_is_refused_and_untouched(
    run_cli: Callable[..., Result], tmp_path: Path
) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        conn.execute("INSERT INTO notes (body) VALUES ('keep me')")
    conn.close()
    data = path.read_bytes()
    _copy_refused(run_cli, sqlite_url(path), tmp_path, "none of tracker's")
    assert path.read_bytes() == data
    assert_error(run_cli("--db", sqlite_url(path), "db", "export"), "none of tracker's")
    assert path.read_bytes() == data


def test_an_empty_sqlite_file_is_not_a_source(
    run_cli: Callable[..., Result], tmp_path: Path
) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    _copy_refused(run_cli, sqlite_url(path), tmp_path, "empty", "not a tracker database")
    assert path.stat().st_size == 0
    assert_error(run_cli("--db", sqlite_url(path), "db", "export"), "not a tracker database")
    assert path.stat().st_size == 0


def test_an_empty_postgres_database_is_not_a_source(
    run_cli: Callable[..., Result], pg_url: str, tmp_path: Path
) -> None:
    _copy_refused(run_cli, pg_url, tmp_path, "empty", "not a tracker database")
    assert revision(pg_url) is None and counts(pg_url) == {}


def test_a_missing_source_is_refused_and_not_created(
    run_cli: Callable[..., Result], tmp_path: Path
) -> None:
    path = tmp_path / "nowhere.db"
    _copy_refused(run_cli, sqlite_url(path), tmp_path, str(path))
    assert not path.exists()
    assert_error(run_cli("--db", sqlite_url(path), "db", "export"), str(path))
    assert not path.exists()


def test_a_source_that_is_not_sqlite_is_refused_and_untouched(
    run_cli: Callable[..., Result], tmp_path: Path
) -> None:
    path = tmp_path / "notes.db"
    path.write_text("these are my notes, not a database\n" * 50)
    data = path.read_bytes()
    _copy_refused(run_cli, sqlite_url(path), tmp_path, "not a SQLite database")
    assert path.read_bytes() == data
    assert not list(tmp_path.glob("notes.db-*"))  # no journal or WAL left beside it


def test_a_source_at_an_older_schema_is_refused_with_the_upgrade_hint(
    run_cli: Callable[..., Result], source: str, tmp_path: Path
) -> None:
    from alembic import command
    from alembic.config import Config

    from tracker.store.migrate import MIGRATIONS, SCHEMA_HEAD, known_revisions

    older = known_revisions()[-2]
    engine = sa.create_engine(source, poolclass=NullPool)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, older)
    engine.dispose()
    before = counts(source)
    line = _copy_refused(run_cli, source, tmp_path, older, SCHEMA_HEAD, "db upgrade")
    assert "older" in line
    assert revision(source) == older  # the copy did not upgrade it
    assert counts(source) == before


# --- 5: an export file with a bad line -----------------------------------------------------------


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``before.db`` (20 rounds), ``after.db`` (the same and 20 more), and the export of
    ``after.db`` as lines; made once, read only."""
    home = tmp_path_factory.mktemp("world")
    saved = {k: os.environ.get(k) for k in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "TRACKER_CONFIG")}
    os.environ.update(XDG_DATA_HOME=str(home / "data"), XDG_CONFIG_HOME=str(home / "config"))
    os.environ.pop("TRACKER_CONFIG", None)
    try:
        before = home / "before.db"
        make_source(before, rounds=20)
        after = home / "after.db"
        clone(sqlite_url(before), after)
        add_rounds(after, 21, 20)
        done = subprocess.run(
            tracker_cmd("--db", sqlite_url(after), "db", "export"),
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    lines = done.stdout.splitlines()
    return {"before": sqlite_url(before), "after": sqlite_url(after), "lines": lines}


def _find(lines: list[str], table: str, last: bool = False) -> int:
    """The 0-based index of the first (or last) row of ``table``."""
    hits = [i for i, line in enumerate(lines) if line.startswith(f'{{"table": "{table}"')]
    assert hits, table
    return hits[-1] if last else hits[0]


def _edit(lines: list[str], index: int, change: Callable[[dict[str, Any]], None]) -> None:
    obj = json.loads(lines[index])
    change(obj)
    lines[index] = json.dumps(obj)


Corruption = Callable[[list[str]], tuple[int, str]]  # edits in place; (line number, fragment)


def _not_json(lines: list[str]) -> tuple[int, str]:
    i = len(lines) - 1
    lines[i] = lines[i][:-7]
    return i + 1, "not JSON"


def _not_an_object(lines: list[str]) -> tuple[int, str]:
    i = _find(lines, "daily_prices")
    lines[i] = "[1, 2, 3]"
    return i + 1, "not a JSON object"


def _set(table: str, column: str, value: Any, *, first: bool = False) -> Corruption:
    """Give ``column`` of the last (or first) ``table`` row a bad value; ``table`` itself, a
    new column, or a missing one (``value`` is ``_DROP``) are set the same way."""

    def corrupt(lines: list[str]) -> tuple[int, str]:
        i = _find(lines, table, last=not first)
        obj = json.loads(lines[i])
        if value is _DROP:
            obj.pop(column)
        else:
            obj[column] = value
        lines[i] = json.dumps(obj)
        if column == "table":
            return i + 1, f"no table {value!r}"
        return i + 1, f"no column {column!r}" if column == "colour" else f"{table}.{column}"

    return corrupt


_DROP = object()


def _parent_after_children(lines: list[str]) -> tuple[int, str]:
    holder = json.loads(lines[_find(lines, "holders")])
    holder.update(id=999, slug="late-holder", name="Late Holder")
    lines.append(json.dumps(holder))
    return len(lines), "a holders row after rows of a table that depends on it"


def _twice_with_different_values(lines: list[str]) -> tuple[int, str]:
    i = _find(lines, "fetch_rounds", last=True)
    twin = json.loads(lines[i])
    twin["status"] = "failed"
    lines.insert(i + 1, json.dumps(twin))
    return i + 2, "appears twice with different values"


CORRUPTIONS: dict[str, Corruption] = {
    "not-json": _not_json,
    "not-an-object": _not_an_object,
    "unknown-table": _set("consensus_prices", "table", "no_such_table"),
    "unknown-column": _set("source_quotes", "colour", "red"),
    "price-9-decimals": _set("consensus_prices", "price", "100000.123456789"),
    "naive-instant": _set("fetch_rounds", "started_at", "2025-12-31T10:00:00"),
    "sats-not-integer": _set("holding_observations", "sats", "12.5"),
    "sats-a-float": _set("holding_observations", "sats", 1.5, first=True),
    "null-where-required": _set("fetch_rounds", "status", None),
    "missing-column": _set("holders", "slug", _DROP),
    "impossible-date": _set("daily_prices", "date", "2025-02-30"),
    "parent-after-children": _parent_after_children,
    "twice-different": _twice_with_different_values,
}


def _fresh(db_url: str, tmp_path: Path, n: int) -> str:
    """An empty database: a new file, or the PostgreSQL database emptied of every table."""
    if db_url.startswith("sqlite"):
        return sqlite_url(tmp_path / f"fresh-{n}.db")
    execute(db_url, "DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    assert revision(db_url) is None
    return db_url


@pytest.mark.parametrize("target", ["fresh", "earlier-copy"])
def test_a_bad_line_is_named_and_nothing_is_stored(
    run_cli: Callable[..., Result],
    world: dict[str, Any],
    db_url: str,
    tmp_path: Path,
    target: str,
) -> None:
    """Each corruption of the export in turn, into an empty database and into one holding an
    earlier copy (the file would add 20 rounds): one line names the file and line, and not a
    row is stored. (One target for every corruption: a refused import leaves it as it was.)"""
    if target == "earlier-copy":
        done = run_cli("db", "copy", "--from", world["before"], "--to", db_url)
        assert done.exit_code == 0, done.stderr
        before = counts(db_url)
        assert before["fetch_rounds"] == 20
    problems = []
    for n, (name, corrupt) in enumerate(CORRUPTIONS.items()):
        url = _fresh(db_url, tmp_path, n) if target == "fresh" else db_url
        lines = list(world["lines"])
        number, fragment = corrupt(lines)
        file = tmp_path / f"{name}.jsonl"
        file.write_text("\n".join(lines) + "\n", encoding="utf-8")
        try:
            line = assert_error(
                run_cli("--db", url, "db", "import", str(file)),
                fragment,
                "nothing was imported",
            )
            assert line.startswith(f"tracker: error: {file} line {number}: "), line
            after = counts(url)
            if target == "fresh":
                assert after and not any(after.values()), after  # the schema, no row at all
            else:
                assert after == before, after
        except AssertionError as e:
            problems.append(f"{name}: {e}")
    assert not problems, "\n".join(problems)


def test_the_uncorrupted_file_does_store_rows(
    run_cli: Callable[..., Result], world: dict[str, Any], db_url: str, tmp_path: Path
) -> None:
    """The control of the test above: the same file, unbroken, imports into the same kinds of
    target (so "nothing stored" there is the refusal's doing)."""
    done = run_cli("db", "copy", "--from", world["before"], "--to", db_url)
    assert done.exit_code == 0, done.stderr
    assert counts(db_url)["fetch_rounds"] == 20
    file = tmp_path / "export.jsonl"
    file.write_text("\n".join(world["lines"]) + "\n", encoding="utf-8")
    result = run_cli("--db", db_url, "db", "import", str(file))
    assert result.exit_code == 0, result.stderr
    assert counts(db_url) == counts(world["after"])


def test_a_row_whose_parent_is_missing_is_named_by_its_line_and_stores_nothing(
    run_cli: Callable[..., Result], world: dict[str, Any], db_url: str, tmp_path: Path
) -> None:
    lines = list(world["lines"])
    i = _find(lines, "holding_observations", last=True)
    _edit(lines, i, lambda o: o.update(holder_id=999))
    file = tmp_path / "orphan.jsonl"
    file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run_cli("--db", db_url, "db", "import", str(file))
    assert_error(result, f"{file} line {i + 1}: ", "no holders row with id 999", "nothing was")
    after = counts(db_url)
    assert after and not any(after.values()), after


def test_a_file_that_is_not_utf8_stores_nothing(
    run_cli: Callable[..., Result], world: dict[str, Any], db_url: str, tmp_path: Path
) -> None:
    file = tmp_path / "latin1.jsonl"
    body = "\n".join(world["lines"]) + "\n"
    file.write_bytes(
        body.encode() + '{"table": "holders", "name": "Espa\xf1a"}\n'.encode("latin-1")
    )
    assert_error(run_cli("--db", db_url, "db", "import", str(file)), "not UTF-8", str(file))
    assert not any(counts(db_url).values())


def test_an_unknown_export_format_stores_nothing(
    run_cli: Callable[..., Result], world: dict[str, Any], db_url: str, tmp_path: Path
) -> None:
    lines = list(world["lines"])
    _edit(lines, 0, lambda o: o.update(tracker_export=2))
    file = tmp_path / "v2.jsonl"
    file.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert_error(run_cli("--db", db_url, "db", "import", str(file)), "export format 2")
    assert not any(counts(db_url).values())


def test_an_import_into_a_database_that_is_not_trackers_is_refused_and_untouched(
    run_cli: Callable[..., Result], world: dict[str, Any], db_url: str, tmp_path: Path
) -> None:
    file = tmp_path / "export.jsonl"
    file.write_text("\n".join(world["lines"]) + "\n", encoding="utf-8")
    execute(db_url, "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    assert_error(run_cli("--db", db_url, "db", "import", str(file)), "none of tracker's")
    assert revision(db_url) is None and counts(db_url) == {}
    notes = tmp_path / "notes.db"
    notes.write_text("not a database\n")
    assert_error(
        run_cli("--db", sqlite_url(notes), "db", "import", str(file)), "not a SQLite database"
    )
    assert notes.read_text() == "not a database\n"


def test_an_import_into_a_newer_schema_is_refused_and_untouched(
    run_cli: Callable[..., Result], world: dict[str, Any], db_url: str, tmp_path: Path
) -> None:
    assert run_cli("db", "copy", "--from", world["before"], "--to", db_url).exit_code == 0
    execute(db_url, "UPDATE alembic_version SET version_num = '9999_future'")
    before = counts(db_url)
    file = tmp_path / "export.jsonl"
    file.write_text("\n".join(world["lines"]) + "\n", encoding="utf-8")  # 20 rounds more
    assert_error(run_cli("--db", db_url, "db", "import", str(file)), "9999_future", "newer")
    assert counts(db_url) == before


def test_a_missing_import_file_creates_no_database(
    run_cli: Callable[..., Result], tmp_path: Path
) -> None:
    target = tmp_path / "restored.db"
    missing = tmp_path / "missing.jsonl"
    assert_error(
        run_cli("--db", sqlite_url(target), "db", "import", str(missing)),
        "cannot read",
        str(missing),
    )
    assert not target.exists()


# --- 7: odd arguments ----------------------------------------------------------------------------


def test_the_same_sqlite_file_spelled_differently_is_refused(
    run_cli: Callable[..., Result], source: str, tmp_path: Path
) -> None:
    path = tmp_path / "source.db"
    link = tmp_path / "link.db"
    link.symlink_to(path)
    before = counts(source)
    for to in (f"sqlite:///{tmp_path}/./source.db", sqlite_url(link)):
        assert_error(run_cli("db", "copy", "--from", source, "--to", to), "same database")
    assert counts(source) == before


@pytest.mark.parametrize(
    ("to", "fragment"),
    [
        (f"postgresql+psycopg://u:{PASSWORD}@127.0.0.1:notaport/x", "cannot parse database URL"),
        ("not a url", "cannot parse database URL"),
        (f"nosuchdb://u:{PASSWORD}@127.0.0.1/x", "unsupported database URL"),
        ("sqlite://", "in-memory"),
    ],
)
def test_a_destination_url_that_cannot_be_used_is_refused(
    run_cli: Callable[..., Result], source: str, to: str, fragment: str
) -> None:
    result = run_cli("db", "copy", "--from", source, "--to", to)
    assert_error(result, fragment)
    assert PASSWORD not in result.stdout + result.stderr


def test_the_same_postgres_database_spelled_differently_is_refused(
    run_cli: Callable[..., Result], world: dict[str, Any], pg_url: str
) -> None:
    if "@127.0.0.1:5432/" not in pg_url:
        pytest.skip("needs the server named as 127.0.0.1:5432")
    assert run_cli("db", "copy", "--from", world["before"], "--to", pg_url).exit_code == 0
    bare = pg_url.replace("@127.0.0.1:5432/", "@127.0.0.1/")
    result = run_cli("db", "copy", "--from", pg_url, "--to", bare)
    assert_error(result, "same database")


def test_a_password_given_as_a_query_parameter_is_never_echoed(
    run_cli: Callable[..., Result], source: str
) -> None:
    to = f"postgresql+psycopg://u@127.0.0.1:{closed_port()}/x?password={PASSWORD}"
    result = run_cli("db", "copy", "--from", source, "--to", to)
    assert_error(result, "refused")
    assert PASSWORD not in result.stdout + result.stderr


def test_a_missing_postgres_source_is_refused_and_not_created(
    run_cli: Callable[..., Result], pg_url: str, tmp_path: Path
) -> None:
    missing = f"tracker_test_missing_{os.getpid()}"
    src = sa.engine.make_url(pg_url).set(database=missing).render_as_string(hide_password=False)
    _copy_refused(run_cli, src, tmp_path, missing, "does not exist")
    engine = sa.create_engine(pg_url, poolclass=NullPool)
    with engine.connect() as conn:
        names = conn.execute(sa.text("SELECT datname FROM pg_database")).scalars().all()
    engine.dispose()
    assert missing not in names


def test_a_bad_line_on_stdin_is_named_and_nothing_is_stored(
    world: dict[str, Any], tmp_path: Path
) -> None:
    lines = list(world["lines"])
    number, fragment = CORRUPTIONS["naive-instant"](lines)
    target = sqlite_url(tmp_path / "restored.db")
    done = subprocess.run(
        tracker_cmd("--db", target, "db", "import", "-"),
        input="\n".join(lines) + "\n",
        capture_output=True,
        text=True,
        check=False,
    )
    line = assert_error(done, fragment, "nothing was imported")
    assert line.startswith(f"tracker: error: stdin line {number}: "), line
    assert not any(counts(target).values())


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
def test_an_export_to_a_full_disk_is_one_error_line(source: str) -> None:
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            tracker_cmd("--db", source, "db", "export"),
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("tracker: error: "), done.stderr
    assert "No space left" in lines[0]


# --- 6: killed with SIGKILL at random points, then completed -------------------------------------


def _copy_process(src: str, dst: str, *extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        tracker_cmd("db", "copy", "--from", src, "--to", dst, *extra),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


class Rows:
    """How many rows a destination holds, cheaply enough to poll (-1: no schema yet)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = sa.create_engine(url, poolclass=NullPool)
        names = [spec.name for spec in transfer.specs()]
        self.query = sa.text("SELECT " + " + ".join(f"(SELECT count(*) FROM {n})" for n in names))

    def __call__(self) -> int:
        if self.url.startswith("sqlite") and not Path(self.url.removeprefix("sqlite:///")).exists():
            return -1  # (connecting would create the file)
        with self.engine.connect() as conn:
            if not sa.inspect(conn).has_table("alembic_version"):
                return -1
            if conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() is None:
                return -1  # the migration has not committed yet
            return int(conn.execute(self.query).scalar_one())


def kill_repeatedly(src: str, dst: str, kills: int, seed: int) -> list[str]:
    """Start the copy ``kills`` times, each SIGKILLed at a seeded random point: a quarter
    early (after 0.05 to 0.6 s: start-up, the migration, the check), the rest once the
    destination has gained a random share (up to an eighth) of the rows still missing, plus
    up to 0.03 s. Which kill is early is the seed's choice; a late kill lands mid-copy.
    What each kill interrupted, by what the destination holds after it: ``no-schema`` (not
    even the migration was committed), ``before-rows`` (no row added), ``mid-copy`` (rows
    added, not all), ``after-rows`` (all there), ``finished`` (the run ended first)."""
    rng = random.Random(seed)
    total = sum(counts(src).values())
    rows = Rows(dst)
    held = rows()
    seen = []
    try:
        for _ in range(kills):
            early = rng.random() < 0.25
            delay = rng.uniform(0.05, 0.6)
            target = max(held, 0) + rng.randint(1, max(1, (total - max(held, 0)) // 8))
            late = rng.uniform(0, 0.03)
            proc = _copy_process(src, dst, "--batch-rows", "500")
            deadline = time.monotonic() + 60
            if early:
                time.sleep(delay)
            else:
                while proc.poll() is None and rows() < target and time.monotonic() < deadline:
                    time.sleep(0.01)
                time.sleep(late)
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            proc.wait()
            assert proc.stderr is not None
            stderr = proc.stderr.read()
            proc.stderr.close()
            now = rows()
            assert now >= held, (now, held)  # a kill never loses a stored batch
            if proc.returncode == 0:
                seen.append("finished")
            else:
                assert proc.returncode == -signal.SIGKILL, (proc.returncode, stderr)
                if now == total:
                    seen.append("after-rows")  # the sequences, the summary
                else:
                    seen.append(
                        "no-schema"
                        if now == -1
                        else "before-rows"
                        if now == max(held, 0)
                        else "mid-copy"
                    )
            held = now
            print(f"kill {'early' if early else 'late'}: {seen[-1]}, {now:,} of {total:,} rows")
    finally:
        rows.engine.dispose()
    return seen


def _report(url: str) -> dict[str, Any]:
    done = subprocess.run(
        tracker_cmd("--db", url, "report", "--format", "json", "--offline", "--at", REPORT_AT),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    report.pop("generated_at")
    return report


def _distinct_natural_keys(url: str) -> tuple[int, int]:
    engine = sa.create_engine(url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            quotes = conn.execute(
                sa.text(
                    "SELECT count(*) FROM (SELECT DISTINCT round_id, source FROM source_quotes) q"
                )
            ).scalar_one()
            started = conn.execute(
                sa.text("SELECT count(*) FROM (SELECT DISTINCT started_at FROM fetch_rounds) r")
            ).scalar_one()
    finally:
        engine.dispose()
    return int(quotes), int(started)


def finish_and_compare(src: str, dst: str) -> None:
    done = subprocess.run(
        tracker_cmd("db", "copy", "--from", src, "--to", dst, "--verify", "--batch-rows", "500"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "differs" not in done.stdout
    assert counts(dst) == counts(src)
    n = counts(src)
    assert _distinct_natural_keys(dst) == (n["source_quotes"], n["fetch_rounds"])
    assert _report(dst) == _report(src)


def bigger(world: dict[str, Any], path: Path, rounds: int) -> str:
    """The source database grown to ``rounds`` rounds (5 quotes and a consensus each)."""
    url = clone(world["before"], path)
    add_rounds(path, 21, rounds - 20)
    return url


def test_a_copy_to_postgres_killed_20_times_at_random_then_rerun_is_identical(
    world: dict[str, Any], pg_url: str, tmp_path: Path
) -> None:
    big_source = bigger(world, tmp_path / "big.db", 20_000)
    started = time.monotonic()
    phases = kill_repeatedly(big_source, pg_url, kills=20, seed=12)
    killed = time.monotonic() - started
    # the kills landed at different points: before a row was written, and part-way through
    assert phases.count("no-schema") + phases.count("before-rows") >= 1, phases
    assert phases.count("mid-copy") >= 10, phases
    finish_and_compare(big_source, pg_url)
    print(f"phases {phases}; kills {killed:.1f} s, total {time.monotonic() - started:.1f} s")


def test_a_copy_to_sqlite_killed_at_random_then_rerun_is_identical(
    world: dict[str, Any], pg_url: str, tmp_path: Path
) -> None:
    done = subprocess.run(
        tracker_cmd(
            "db", "copy", "--from", bigger(world, tmp_path / "big.db", 10_000), "--to", pg_url
        ),
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    dst = sqlite_url(tmp_path / "copy.db")
    started = time.monotonic()
    phases = kill_repeatedly(pg_url, dst, kills=5, seed=5)
    killed = time.monotonic() - started
    assert phases.count("mid-copy") >= 3, phases
    finish_and_compare(pg_url, dst)
    print(f"phases {phases}; kills {killed:.1f} s, total {time.monotonic() - started:.1f} s")


def _reset(url: str) -> None:
    """Make the target empty again: no file, or no table."""
    if url.startswith("sqlite"):
        path = Path(url.removeprefix("sqlite:///"))
        for extra in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{extra}").unlink(missing_ok=True)
    else:
        execute(url, "DROP SCHEMA public CASCADE; CREATE SCHEMA public")


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_an_import_killed_part_way_stores_nothing(
    world: dict[str, Any], tmp_path: Path, request: pytest.FixtureRequest, backend: str
) -> None:
    """`db import` is one transaction: killed at random points while it stores rows (between
    35% and 85% of the time a whole import takes here), it leaves no row behind (the schema a
    fresh target gets first may be there); the next import stores it all."""
    big = bigger(world, tmp_path / "big.db", 8_000)
    file = tmp_path / "big.jsonl"
    with file.open("w") as out:
        done = subprocess.run(
            tracker_cmd("--db", big, "db", "export"),
            stdout=out,
            stderr=subprocess.PIPE,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    target = (
        sqlite_url(tmp_path / "restored.db")
        if backend == "sqlite"
        else str(request.getfixturevalue("pg_url"))
    )
    command = tracker_cmd("--db", target, "db", "import", str(file))
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    whole = time.monotonic() - started
    assert done.returncode == 0, done.stderr
    assert counts(target) == counts(big)
    _reset(target)
    rng = random.Random(7)
    for _ in range(3):
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            proc.wait(timeout=rng.uniform(0.35, 0.85) * whole)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
        assert proc.returncode == -signal.SIGKILL, "the import ended before its kill"
        assert not any(counts(target).values())
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert counts(target) == counts(big)
