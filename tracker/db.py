"""Opening a database: migrate it to the schema this code knows, and seed it when it is new."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session

from tracker import history, holdings, store
from tracker.config import Settings
from tracker.errors import StoreError

MIGRATIONS = Path(__file__).with_name("migrations")
_PG_MIGRATION_LOCK = 0x7472_6163  # "trac": one migrator at a time on a shared PostgreSQL

T = TypeVar("T")


def known_revisions() -> list[str]:
    """Every revision in the Alembic scripts, oldest first."""
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory(str(MIGRATIONS))
    return [s.revision for s in reversed(list(scripts.walk_revisions()))]


def current_revision(conn: Connection) -> str | None:
    inspector = sa.inspect(conn)
    if not inspector.has_table("alembic_version"):
        if inspector.get_table_names():
            raise StoreError(
                "this database has tables but none of tracker's: point --db at a new file "
                "or a tracker database"
            )
        return None
    return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def guard(url: str, action: Callable[[], T]) -> T:
    """Run ``action``, turning driver errors into one StoreError naming the database."""
    try:
        return action()
    except sa.exc.DBAPIError as e:
        reason = str(e.orig).strip().splitlines()[0] if e.orig else str(e)
        hint = ""
        if "file is not a database" in reason:
            hint = ": it is not a SQLite database"
        raise StoreError(f"cannot use database {store.redact_url(url)}: {reason}{hint}") from None


@dataclass(frozen=True)
class Opened:
    engine: Engine
    created: bool
    upgraded_from: str | None


def open_database(
    url: str, *, settings: Settings, create_dirs: bool = False, today: dt.date | None = None
) -> Opened:
    """An engine on a database at the current schema; a new one gets history and seeds."""
    engine = store.make_engine(url, create_dirs=create_dirs)
    return guard(url, lambda: _migrate_and_seed(engine, settings=settings, today=today))


def _migrate_and_seed(engine: Engine, *, settings: Settings, today: dt.date | None) -> Opened:
    with engine.connect() as conn:
        if current_revision(conn) == store.SCHEMA_HEAD:  # the common case: one cheap query
            return Opened(engine=engine, created=False, upgraded_from=store.SCHEMA_HEAD)
    with store.write_connection(engine) as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
        before = current_revision(conn)  # again, under the lock: another process may have won
        if before == store.SCHEMA_HEAD:
            return Opened(engine=engine, created=False, upgraded_from=before)
        known = known_revisions()
        if before is not None and before not in known:
            raise StoreError(
                f"the database schema ({before}) is newer than this tracker knows "
                f"({known[-1]}): upgrade tracker"
            )
        _upgrade(conn)
        if before is None:
            today = today or dt.datetime.now(dt.UTC).date()
            history.load_bundled(conn=conn)
            with Session(bind=conn) as session:
                holdings.sync_seeds(session=session, settings=settings, today=today)
                session.flush()
        return Opened(engine=engine, created=before is None, upgraded_from=before)


def _upgrade(conn: Connection) -> None:
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, "head")


def info(engine: Engine) -> dict[str, Any]:
    """What `tracker db info` shows: where, which schema, how many rows."""
    url = engine.url.render_as_string(hide_password=True)
    with engine.connect() as conn:
        revision = current_revision(conn)
        counts = {
            name: int(conn.execute(sa.text(f"SELECT count(*) FROM {name}")).scalar_one())
            for name in (
                "holders",
                "holding_observations",
                "daily_prices",
                "fetch_rounds",
                "source_quotes",
                "consensus_prices",
            )
        }
        span = conn.execute(sa.text("SELECT min(date), max(date) FROM daily_prices")).one()
        result: dict[str, Any] = {
            "url": url,
            "backend": conn.dialect.name,
            "schema_revision": revision,
            "schema_head": store.SCHEMA_HEAD,
            "rows": counts,
            "daily_prices_span": [None if d is None else str(d) for d in span],
        }
        if conn.dialect.name == "sqlite":
            result["journal_mode"] = conn.exec_driver_sql("PRAGMA journal_mode").scalar()
            db_path = engine.url.database
            if db_path:
                result["size_bytes"] = Path(db_path).stat().st_size
    return result
