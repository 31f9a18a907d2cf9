"""Opening a database: refuse one that is not ours, migrate it to the schema this code knows,
seed it when it is new; and the facts `tracker db info` shows."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from tracker import ledger_sync
from tracker.clock import utc_today
from tracker.config import Settings
from tracker.daily import bundled
from tracker.errors import StoreError
from tracker.store.engine import make_engine, redact_url, write_connection

# The newest migration this code knows; tests check it against the Alembic scripts, so
# opening an up-to-date database never has to import Alembic.
SCHEMA_HEAD = "0004_onchain"

MIGRATIONS = Path(__file__).with_name("migrations")
_PG_MIGRATION_LOCK = 0x7472_6163  # "trac": one migrator at a time on a shared PostgreSQL

T = TypeVar("T")


def known_revisions() -> list[str]:
    """Every revision in the Alembic scripts, oldest first."""
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory(str(MIGRATIONS))
    return [s.revision for s in reversed(list(scripts.walk_revisions()))]


def current_revision(
    conn: Connection,
    *,
    what: str = "this database",
    hint: str = "point --db at a new file or a tracker database",
) -> str | None:
    """The schema revision; None for an empty database; refuses one that is not tracker's."""
    inspector = sa.inspect(conn)
    if not inspector.has_table("alembic_version"):
        if inspector.get_table_names():
            raise StoreError(f"{what} has tables but none of tracker's: {hint}")
        return None
    return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def guard(url: str, action: Callable[[], T]) -> T:
    """Run ``action``; a database failure names the database (password hidden)."""
    try:
        return action()
    except StoreError as e:
        if not e.operational:
            raise
        raise StoreError(
            f"cannot use database {redact_url(url)}: {e.reason}", reason=e.reason, operational=True
        ) from None


@dataclass(frozen=True)
class Opened:
    engine: Engine
    created: bool
    upgraded_from: str | None
    ledger: ledger_sync.SyncResult | None = None  # what applying the ledger did, if it ran


def open_database(
    url: str, *, settings: Settings, create_dirs: bool = False, today: dt.date | None = None
) -> Opened:
    """An engine on a database at the current schema; a new one gets history and seeds."""
    engine = make_engine(url, create_dirs=create_dirs)
    return guard(url, lambda: _migrate_and_seed(engine, settings=settings, today=today))


def _migrate_and_seed(engine: Engine, *, settings: Settings, today: dt.date | None) -> Opened:
    with engine.connect() as conn:
        revision = current_revision(conn)  # refuses a database that is not ours, writing nothing
    if engine.dialect.name == "sqlite":
        _use_wal(engine)
    if revision == SCHEMA_HEAD:  # the common case: one cheap query
        return Opened(engine=engine, created=False, upgraded_from=SCHEMA_HEAD)
    with write_connection(engine) as conn:
        before = _upgrade_locked(conn)
        if before == SCHEMA_HEAD:
            return Opened(engine=engine, created=False, upgraded_from=before)
        if before is None:
            bundled.load_bundled(conn=conn)
        with Session(bind=conn) as session:  # new, or upgraded: the shipped ledger, applied
            synced = ledger_sync.sync_ledger(
                session=session, settings=settings, today=today or utc_today()
            )
            session.flush()
        return Opened(engine=engine, created=before is None, upgraded_from=before, ledger=synced)


def migrate_schema(
    engine: Engine,
    *,
    what: str = "this database",
    hint: str = "point --db at a new file or a tracker database",
) -> str | None:
    """Bring the schema to the newest without adding any rows (`db copy`'s destination gets
    its rows from the source); the revision it was at, None when it was empty."""
    with engine.connect() as conn:
        revision = current_revision(conn, what=what, hint=hint)
    if revision != SCHEMA_HEAD:
        check_newer(revision, what)
        with write_connection(engine) as conn:
            revision = _upgrade_locked(conn, what=what)
    if engine.dialect.name == "sqlite":
        _use_wal(engine)
    return revision


def check_newer(revision: str | None, what: str = "the database") -> None:
    """Refuse a schema this code does not know: a newer tracker made it."""
    known = known_revisions()
    if revision is not None and revision not in known:
        raise StoreError(
            f"{what}'s schema ({revision}) is newer than this tracker knows "
            f"({known[-1]}): upgrade tracker"
        )


def _upgrade_locked(conn: Connection, *, what: str = "the database") -> str | None:
    """Under the migration lock, upgrade to the newest schema; the revision before."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
    before = current_revision(conn)  # again, under the lock: another process may have won
    if before != SCHEMA_HEAD:
        check_newer(before, what)
        _upgrade(conn)
    return before


def _use_wal(engine: Engine) -> None:
    """WAL lets readers go on while the service writes. The mode is kept in the file, so it is
    set once, outside any transaction, and only on a file known to be tracker's (or new)."""
    with engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        if raw.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            raw.execute("PRAGMA journal_mode = WAL")


def _upgrade(conn: Connection) -> None:
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, "head")


# Tables that grow with every round: counted from their ids (two primary-key seeks), so `db
# info` costs the same on a ten-year database; exact unless rows were deleted.
_ESTIMATED = ("fetch_rounds", "source_quotes", "consensus_prices")
# Tables bounded by the ledger and the calendar (a row per day and source): counted exactly.
_COUNTED = ("holders", "holding_observations", "daily_prices")


def info(engine: Engine) -> dict[str, Any]:
    """What `tracker db info` shows: where, which schema, how many rows. Constant time: the
    round tables' counts are estimates (highest id − lowest id + 1), and say so."""
    with engine.connect() as conn:
        revision = current_revision(conn)
        counts = {
            name: int(conn.execute(sa.text(f"SELECT count(*) FROM {name}")).scalar_one())
            for name in _COUNTED
        }
        for name in _ESTIMATED:
            # Two statements: SQLite answers a lone min() or max() with one index seek, but
            # scans the table for both in one SELECT.
            low = conn.execute(sa.text(f"SELECT min(id) FROM {name}")).scalar()
            high = conn.execute(sa.text(f"SELECT max(id) FROM {name}")).scalar()
            counts[name] = 0 if high is None or low is None else int(high) - int(low) + 1
        span = conn.execute(sa.text("SELECT min(date), max(date) FROM daily_prices")).one()
        result: dict[str, Any] = {
            "url": redact_url(engine.url.render_as_string(hide_password=False)),
            "backend": conn.dialect.name,
            "schema_revision": revision,
            "schema_head": SCHEMA_HEAD,
            "rows": counts,
            "rows_estimated": list(_ESTIMATED),
            "daily_prices_span": [None if d is None else str(d) for d in span],
        }
        if conn.dialect.name == "sqlite":
            result["journal_mode"] = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
            db_path = engine.url.database
            if db_path:
                result["size_bytes"] = Path(db_path).stat().st_size
    return result
