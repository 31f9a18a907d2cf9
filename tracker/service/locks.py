"""One service per database: a file lock beside a SQLite file, or leader election on a shared
PostgreSQL (a session advisory lock; the leader fetches, the others stand by)."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import socket
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tracker.errors import ServiceError, StoreError
from tracker.service.logs import log

_PG_LEADER_KEY = 0x7472_6B72  # "trkr": the advisory lock held by the leading service


class SQLiteLock:
    """A file lock beside the database; a sidecar file names the process that holds it."""

    def __init__(self, db_path: Path) -> None:
        from filelock import FileLock

        self.db_path = db_path
        self.lock = FileLock(f"{db_path}.lock")
        self.owner = Path(f"{db_path}.service")

    def acquire(self) -> None:
        from filelock import Timeout

        try:
            self.lock.acquire(timeout=0)
        except Timeout:
            holder = self.owner.read_text().strip() if self.owner.exists() else "another process"
            raise ServiceError(
                f"another `tracker run` ({holder}) already serves {self.db_path}; stop it first"
            ) from None
        self.owner.write_text(
            f"pid {os.getpid()} on {socket.gethostname()}, since "
            f"{dt.datetime.now(dt.UTC):%Y-%m-%dT%H:%M:%SZ}\n"
        )

    def release(self) -> None:
        self.owner.unlink(missing_ok=True)
        self.lock.release()


class PostgresLeader:
    """Leader election on a shared PostgreSQL: a session advisory lock on a dedicated
    connection. The leader fetches; others stand by and take over when its session ends."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.conn: sa.Connection | None = None
        self.leading = False

    def acquire(self) -> None:
        self.ensure()

    def ensure(self) -> bool:
        try:
            if self.conn is None:
                self.conn = self.engine.connect()
            if not self.leading:
                got = self.conn.execute(
                    sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": _PG_LEADER_KEY}
                ).scalar()
                self.conn.commit()
                self.leading = bool(got)
                if self.leading:
                    log.info("leading: this instance fetches for the shared database")
            else:
                self.conn.execute(sa.text("SELECT 1"))
                self.conn.commit()
        except StoreError:
            self._drop()
            raise
        return self.leading

    def _drop(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.invalidate()
                self.conn.close()
        self.conn, self.leading = None, False

    def release(self) -> None:
        self._drop()


def lock_for(engine: Engine) -> SQLiteLock | PostgresLeader:
    if engine.dialect.name == "sqlite":
        assert engine.url.database
        return SQLiteLock(Path(engine.url.database).resolve())
    return PostgresLeader(engine)
