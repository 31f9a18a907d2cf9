"""Engines and sessions. Driver errors become ``StoreError`` here and nowhere else.

Every engine gets a ``handle_error`` hook, so a failure anywhere later (locked past the busy
timeout, the connection lost, a corrupt page met mid-query, a disk full) reaches the caller as
one ``StoreError`` naming the reason, never as a driver exception.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from tracker.errors import StoreError

SQLITE_BUSY_TIMEOUT_MS = 10_000
# scheme://user:password@host: whatever the rest of the string looks like
_QUERY_SECRETS = ("password", "sslpassword")
_QUERY_SECRET = re.compile(r"([?&](?:ssl)?password=)[^&\s]*", re.IGNORECASE)
_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*:?//[^/@:\s]*:)(?P<pw>[^@\s]*)@")


def redact_url(url: str) -> str:
    """The URL with any password hidden (``user:***@``, and ``?password=***`` as libpq takes
    it in the query too), even when the URL cannot be parsed."""
    try:
        parsed = sa.engine.make_url(url)
        hidden = {k: "***" for k in parsed.query if k.lower() in _QUERY_SECRETS}
        shown = parsed.update_query_dict(hidden).render_as_string(hide_password=True)
        return shown.replace("=%2A%2A%2A", "=***")
    except (sa.exc.ArgumentError, ValueError):
        return _QUERY_SECRET.sub(r"\g<1>***", _PASSWORD.sub(r"\g<head>***@", url))


def first_line(error: BaseException) -> str:
    """A driver error's first line (its ``orig`` for a SQLAlchemy wrapper)."""
    orig = getattr(error, "orig", None) or error
    lines = str(orig).strip().splitlines()
    return lines[0] if lines else type(orig).__name__


def make_engine(url: str, *, create_dirs: bool = False, one_session: bool = False) -> Engine:
    """An engine for ``url``; SQLite gets a busy timeout, foreign keys and real BEGINs.
    ``one_session``: a server database through one connection at a time, so every use is the
    same session (the service leader's, which holds its advisory lock), replaced when lost."""
    try:
        parsed = sa.engine.make_url(url)
    except (sa.exc.ArgumentError, ValueError) as e:
        why = "" if isinstance(e, sa.exc.ArgumentError) else f" ({e})"
        raise StoreError(
            f"cannot parse database URL {redact_url(url)!r}{why}: use e.g. "
            "sqlite:///path/tracker.db or postgresql+psycopg://user@host/db"
        ) from None
    if parsed.get_backend_name() == "sqlite":
        engine = _sqlite_engine(parsed, create_dirs=create_dirs)
    else:
        try:
            one = {"pool_size": 1, "max_overflow": 0} if one_session else {}
            engine = sa.create_engine(parsed, pool_pre_ping=True, **one)
        except (sa.exc.NoSuchModuleError, ImportError) as e:
            raise StoreError(f"unsupported database URL {redact_url(url)}: {e}") from None
    sa.event.listen(engine, "handle_error", _as_store_error)
    return engine


def _as_store_error(context: Any) -> None:
    """Raise a driver error again as one StoreError (SQLAlchemy lets ``handle_error`` replace
    the exception it raises). Pre-ping failures are left alone: the pool reconnects."""
    if getattr(context, "is_pre_ping", False):
        return
    if not isinstance(context.sqlalchemy_exception, sa.exc.DBAPIError):
        return  # not the driver's: a bug in a bound value, say, keeps its traceback
    reason = first_line(context.original_exception)
    if "file is not a database" in reason:
        reason += ": it is not a SQLite database"
    if "malformed" in reason:
        reason = (
            f"the file is damaged ({reason}); restore it from a backup "
            "(`sqlite3 FILE 'PRAGMA integrity_check'` lists the damage)"
        )
        message = f"the database {reason}"
    else:
        message = f"the database failed ({reason}); nothing was changed, try again"
    raise StoreError(message, reason=reason, operational=True)


def _sqlite_engine(url: sa.engine.URL, *, create_dirs: bool) -> Engine:
    if url.database in (None, "", ":memory:"):
        raise StoreError("an in-memory SQLite database keeps nothing: give a file path")
    path = Path(url.database or "")
    if create_dirs:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(
                f"cannot create the database folder {path.parent}: {e.strerror}; "
                "pass --db or set TRACKER_DATABASE_URL"
            ) from None
    elif not path.parent.is_dir():
        raise StoreError(f"cannot open database {url}: directory {path.parent} does not exist")
    engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide where transactions start, so DDL
        # (migrations) is transactional too. SQLAlchemy docs: "Serializable isolation /
        # Savepoints / Transactional DDL" for pysqlite. Nothing here writes to the file: WAL
        # is switched on once the file is known to be tracker's (store.migrate).
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # IMMEDIATE takes the write lock up front (waiting up to busy_timeout), so a writer
        # never fails half-way with "database is locked" when another writer got there first.
        mode = conn.get_execution_options().get("sqlite_begin", "")
        conn.exec_driver_sql(f"BEGIN {mode}".strip())

    return engine


@contextmanager
def write_connection(engine: Engine) -> Iterator[Connection]:
    """One write transaction: committed on success, rolled back whole on any error."""
    with engine.connect().execution_options(sqlite_begin="IMMEDIATE") as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL lock_timeout = '10s'")
        yield conn


@contextmanager
def write_session(engine: Engine) -> Iterator[Session]:
    """An ORM session inside one write transaction."""
    with write_connection(engine) as conn, Session(bind=conn) as session:
        yield session
        session.flush()


def read_session(engine: Engine) -> Session:
    return Session(engine)


def copy_rows(conn: Connection, table: sa.Table, rows: list[tuple[Any, ...]]) -> None:
    """Insert ``rows`` (tuples in the table's column order) in the connection's transaction:
    one PostgreSQL ``COPY`` through psycopg, or one executemany elsewhere."""
    columns = table.columns.keys()
    if conn.dialect.name != "postgresql":
        conn.execute(table.insert(), [dict(zip(columns, row, strict=True)) for row in rows])
        return
    import psycopg

    raw: Any = conn.connection.driver_connection
    names = ", ".join(f'"{c}"' for c in columns)
    try:
        with raw.cursor() as cur, cur.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row(row)
    except psycopg.Error as e:  # raw driver use: handle_error does not see it
        reason = first_line(e)
        raise StoreError(
            f"the database failed ({reason}); nothing was changed, try again",
            reason=reason,
            operational=True,
        ) from None
