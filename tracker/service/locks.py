"""One service per database: a file lock beside a SQLite file, or leader election on a shared
PostgreSQL (a session advisory lock; the leader fetches, the others stand by).

Fencing on PostgreSQL: the advisory lock belongs to one database session, and the leader
writes through that same session (``PostgresLeader.writer``), whose every transaction first
checks that the session still holds the lock. A session advisory lock is released only when
its session ends, and a session that ends aborts its open transaction, so a write that
commits was made while its writer led: a leader whose session was terminated or lost (while
a standby takes over) cannot store the round it was fetching.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from tracker.errors import ServiceError
from tracker.service.logs import log
from tracker.store.engine import make_engine

LEADER_KEY = 0x7472_6B72  # "trkr": the advisory lock held by the leading service
# a bigint advisory key shows in pg_locks as classid (high 32 bits), objid (low), objsubid 1
_HOLDS = sa.text(
    "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
    f" AND pid = pg_backend_pid() AND classid = {LEADER_KEY >> 32}"
    f" AND objid = {LEADER_KEY & 0xFFFF_FFFF} AND objsubid = 1)"
)
_FENCED = "tracker_fenced"  # the execution option of writes that only the leader may make


class LostLeadership(Exception):
    """A fenced write found that this instance's session no longer holds the leader lock."""


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
        except OSError as e:  # a read-only folder, a full disk, a directory in the way
            raise self._unwritable(self.lock.lock_file, e) from None
        try:
            self.owner.write_text(
                f"pid {os.getpid()} on {socket.gethostname()}, since "
                f"{dt.datetime.now(dt.UTC):%Y-%m-%dT%H:%M:%SZ}\n"
            )
        except OSError as e:
            self.lock.release()
            raise self._unwritable(self.owner, e) from None

    @staticmethod
    def _unwritable(path: str | Path, e: OSError) -> ServiceError:
        return ServiceError(
            f"cannot write the service's lock file {path}: {e.strerror or e}; "
            "the folder of the database must be writable by the service"
        )

    def release(self) -> None:
        self.owner.unlink(missing_ok=True)
        self.lock.release()


class PostgresLeader:
    """Leader election on a shared PostgreSQL: a session advisory lock, held by this
    instance's one session (``session``). The leader fetches and writes through ``writer``
    (the same session, fenced); the others stand by and take over when its session ends."""

    def __init__(self, engine: Engine) -> None:
        url = engine.url.render_as_string(hide_password=False)
        self.session = make_engine(url, one_session=True)
        sa.event.listen(self.session, "begin", _fence)
        self.writer = self.session.execution_options(**{_FENCED: True})
        self.leading = False
        self.new_term = False  # led since the last ensure(): the first round waits (service)

    def acquire(self) -> None:
        self.ensure()

    def ensure(self) -> bool:
        """Lead if possible; True when this instance leads. A lost session is replaced by a
        new one, which leads only if no other instance took the lock meanwhile. StoreError
        means the database itself cannot be reached."""
        with self.session.connect() as conn:
            held = bool(conn.execute(_HOLDS).scalar())
            if not held and self.leading:
                self.lost("its database session ended")
            if not held:
                got = conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": LEADER_KEY})
                held = bool(got.scalar())
            conn.commit()
        if held and not self.leading:
            log.info("leading: this instance fetches for the shared database")
            self.new_term = True
        self.leading = held
        return held

    def lost(self, why: str) -> None:
        """Log, once, that leadership was lost (not a database failure)."""
        if self.leading:
            log.warning("lost leadership: %s; another instance may lead now", why)
        self.leading = self.new_term = False

    def holds(self) -> bool:
        """Whether this instance's session still holds the lock (StoreError: no database)."""
        with self.session.connect() as conn:
            return bool(conn.execute(_HOLDS).scalar())

    def release(self) -> None:
        self.session.dispose()  # the session ends, and the lock with it
        self.leading = self.new_term = False


def _fence(conn: sa.Connection) -> None:
    """Every transaction of ``PostgresLeader.writer`` starts by checking that its session
    holds the leader lock; it cannot lose it before the commit without aborting."""
    if conn.get_execution_options().get(_FENCED) and not conn.execute(_HOLDS).scalar():
        raise LostLeadership("the leader lock is no longer held by this instance's session")


def lock_for(engine: Engine) -> SQLiteLock | PostgresLeader:
    if engine.dialect.name == "sqlite":
        assert engine.url.database
        return SQLiteLock(Path(engine.url.database).resolve())
    return PostgresLeader(engine)
