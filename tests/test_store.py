"""The schema, the engine settings and exact round trips, on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from tests.helpers import bundled_rows
from tracker.config import Settings
from tracker.errors import StoreError
from tracker.models import ConsensusPrice, DailyPrice, FetchRound, Observation
from tracker.store import queries
from tracker.store.engine import (
    SQLITE_BUSY_TIMEOUT_MS,
    make_engine,
    read_session,
    redact_url,
    write_connection,
    write_session,
)
from tracker.store.migrate import SCHEMA_HEAD, known_revisions, open_database


def test_schema_head_constant_matches_the_migrations() -> None:
    assert known_revisions()[-1] == SCHEMA_HEAD


def test_migrations_from_empty_build_exactly_the_models(db_url: str) -> None:
    opened = open_database(db_url, settings=Settings())
    assert opened.created
    with opened.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == []
    opened.engine.dispose()


def test_downgrade_to_base_and_up_again(db_url: str) -> None:
    from alembic import command
    from alembic.config import Config

    from tracker.store.migrate import MIGRATIONS

    engine = open_database(db_url, settings=Settings()).engine
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert sa.inspect(engine).get_table_names() == ["alembic_version"]
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    assert "daily_prices" in sa.inspect(engine).get_table_names()
    engine.dispose()


def test_sqlite_runs_in_wal_with_foreign_keys_and_busy_timeout(tmp_path: Path) -> None:
    engine = open_database(f"sqlite:///{tmp_path / 'a.db'}", settings=Settings()).engine
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == SQLITE_BUSY_TIMEOUT_MS


def test_new_database_gets_bundled_history_and_seeds(db_url: str) -> None:
    engine = open_database(db_url, settings=_seeded()).engine
    with engine.connect() as conn:
        assert queries.count_daily_prices(conn=conn, source="bundled") == len(bundled_rows())
        first = conn.execute(sa.select(sa.func.min(DailyPrice.date))).scalar()  # type: ignore[arg-type]
    assert first == dt.date(2014, 3, 1)
    with read_session(engine) as session:  # the shipped ledger: 17 holders, 45 observations
        assert len(queries.list_observations(session=session)) == SHIPPED_OBSERVATIONS == 45
        assert len(queries.list_holders(session=session)) == 17
    # opening again adds nothing
    open_database(db_url, settings=_seeded())
    with read_session(engine) as session:
        assert len(queries.list_observations(session=session)) == 45
    engine.dispose()


def test_prices_sats_and_instants_round_trip_exactly(db_url: str) -> None:
    engine = open_database(db_url, settings=Settings()).engine
    price = Decimal("123456.78901234")
    at = dt.datetime(2025, 4, 14, 23, 59, 59, 123456, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    with write_session(engine) as session:
        rnd = queries.insert_round(
            session=session,
            fetch_round=FetchRound(started_at=at, finished_at=at, status="ok"),
            quotes=[],
            consensus=ConsensusPrice(round_id=0, at=at, price=price, sources="a,b,c"),
        )
        round_id = rnd.id
    with read_session(engine) as session:
        got = queries.latest_consensus(session=session, at=at + dt.timedelta(seconds=1))
        assert got is not None and got.round_id == round_id
        assert got.price == price
        assert got.at == at and got.at.tzinfo is not None and got.at.utcoffset() == dt.timedelta(0)
        assert queries.latest_consensus(session=session, at=at - dt.timedelta(seconds=1)) is None
    engine.dispose()


def test_a_naive_datetime_is_refused(tmp_path: Path) -> None:
    engine = open_database(f"sqlite:///{tmp_path / 'n.db'}", settings=Settings()).engine
    with pytest.raises(sa.exc.StatementError), write_session(engine) as session:
        session.add(
            FetchRound(
                started_at=dt.datetime(2025, 1, 1), finished_at=dt.datetime(2025, 1, 1), status="ok"
            )
        )
        session.flush()


def test_sats_hold_the_whole_supply_exactly(tmp_path: Path) -> None:
    engine = open_database(f"sqlite:///{tmp_path / 's.db'}", settings=_seeded()).engine
    with write_session(engine) as session:
        obs = session.get(Observation, 1)
        assert obs is not None
        obs.sats = 21_000_000 * 100_000_000 - 1
        session.add(obs)
    with read_session(engine) as session:
        obs = session.get(Observation, 1)
        assert obs is not None and obs.sats == 2_099_999_999_999_999


def test_daily_close_prefers_an_exchange_series_to_the_bundled_index(tmp_path: Path) -> None:
    engine = open_database(f"sqlite:///{tmp_path / 'p.db'}", settings=Settings()).engine
    day = dt.date(2025, 4, 14)
    with write_connection(engine) as conn:
        added = queries.insert_daily_prices(
            conn=conn,
            rows=[{"currency": "USD", "date": day, "source": "bitstamp", "open": None,
                   "high": None, "low": None, "close": Decimal("84665")}],
        )  # fmt: skip
    assert added == 1
    with read_session(engine) as session:
        row = queries.latest_daily_close(session=session, on_or_before=day)
    assert row is not None and (row.source, row.close) == ("bitstamp", Decimal("84665"))


def test_bulk_insert_is_idempotent(tmp_path: Path) -> None:
    from tracker.daily.bundled import load_bundled

    engine = open_database(f"sqlite:///{tmp_path / 'i.db'}", settings=Settings()).engine
    with write_connection(engine) as conn:
        assert load_bundled(conn=conn) == 0


def test_redact_hides_the_password() -> None:
    assert "s3cret" not in redact_url("postgresql+psycopg://u:s3cret@h/db")


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("nonsense", "cannot parse database URL"),
        ("nosuchdriver://x/y", "unsupported database URL"),
        ("sqlite:////no/such/dir/t.db", "does not exist"),
        ("sqlite://", "in-memory"),
        ("postgresql+psycopg://postgres@127.0.0.1:1/none", "cannot use database"),
    ],
)
def test_unusable_urls_raise_store_errors(url: str, needle: str) -> None:
    with pytest.raises(StoreError, match=needle):
        open_database(url, settings=Settings())


def test_a_file_that_is_not_a_database(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"these are my notes, not a database" * 100)
    with pytest.raises(StoreError, match="not a SQLite database"):
        open_database(f"sqlite:///{path}", settings=Settings())
    assert path.read_bytes().startswith(b"these are my notes")


def test_someone_elses_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE customers (id INTEGER)")
    with pytest.raises(StoreError, match="none of tracker's"):
        open_database(f"sqlite:///{path}", settings=Settings())


def test_a_schema_newer_than_the_code_is_refused(db_url: str) -> None:
    engine = open_database(db_url, settings=Settings()).engine
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999_future'")
    with pytest.raises(StoreError, match="newer than this tracker knows"):
        open_database(db_url, settings=Settings())
    engine.dispose()


def _seeded() -> Settings:
    from tracker.config import load_settings, packaged_config_path

    return load_settings(packaged_config_path())


def test_upgrading_a_populated_database_keeps_its_data(db_url: str) -> None:
    from alembic import command
    from alembic.config import Config

    from tracker.store.migrate import MIGRATIONS

    engine = make_engine(db_url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001_initial")
        conn.exec_driver_sql(
            "INSERT INTO daily_prices (currency, date, source, close) "
            "VALUES ('USD', '2025-04-14', 'bitstamp', 8466500000000)"
        )
    opened = open_database(db_url, settings=Settings())
    assert opened.upgraded_from == "0001_initial" and not opened.created
    indexes = {ix["name"] for ix in sa.inspect(opened.engine).get_indexes("source_quotes")}
    assert "ix_source_quotes_source_outcome_round" in indexes
    with read_session(opened.engine) as session:
        row = queries.latest_daily_close(session=session, on_or_before=dt.date(2025, 4, 14))
    assert row is not None and row.close == Decimal("84665")
    opened.engine.dispose()
    engine.dispose()


SHIPPED_OBSERVATIONS = (
    sum(
        1
        for _ in (
            Path(__file__).parents[1] / "tracker" / "data" / "ledger" / "observations.csv"
        ).open()
    )
    - 1
)


def test_upgrading_0002_keeps_user_rows_and_supersedes_the_old_seeds(db_url: str) -> None:
    """A database of schema 0002 with the five config seeds and a user's own observation:
    after the upgrade the user's row is intact, each seed is superseded by its sourced row
    (kept, out of reports), and the shipped ledger is there."""
    import tomllib

    from alembic import command
    from alembic.config import Config

    from tests.conftest import TWO_HOLDERS
    from tracker.holdings import load_ledgers
    from tracker.store.migrate import MIGRATIONS
    from tracker.valuation import value_all

    seeds = tomllib.loads(TWO_HOLDERS.read_text())["holdings"]
    engine = make_engine(db_url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0002_source_outcome_index")
        ids = {}
        for slug in ("el-salvador", "united-states"):
            conn.execute(sa.text("INSERT INTO holders (slug, name) VALUES (:s, :s)"), {"s": slug})
            ids[slug] = conn.execute(
                sa.text("SELECT id FROM holders WHERE slug = :s"), {"s": slug}
            ).scalar_one()
        rows = [
            *seeds,
            {
                "holder": "el-salvador",
                "btc": "6300.5",
                "bound": "exact",
                "as_of": dt.date(2025, 9, 1),
                "basis": "official",
                "source": "mine",
            },
        ]
        for row in rows:
            conn.execute(
                sa.text(
                    "INSERT INTO holding_observations (holder_id, sats, bound, as_of, basis, "
                    "source, recorded_at) VALUES (:h, :sats, :bound, :as_of, :basis, :source, "
                    ":at)"
                ),
                {
                    "h": ids[row["holder"]],
                    "sats": None if "btc" not in row else int(Decimal(row["btc"]) * 10**8),
                    "bound": row.get("bound"), "as_of": row["as_of"], "basis": row["basis"],
                    "source": row["source"], "at": dt.datetime(2025, 10, 1, tzinfo=dt.UTC),
                },
            )  # fmt: skip
    opened = open_database(db_url, settings=Settings())
    assert opened.upgraded_from == "0002_source_outcome_index"
    assert opened.ledger is not None and opened.ledger.superseded == 5
    assert opened.ledger.conflicts == []
    with read_session(opened.engine) as session:
        every = queries.list_observations(session=session)
        assert len(every) == 45 + 6
        mine = [o for o in every if o.source == "mine"]
        assert [(o.sats, o.origin, o.scope) for o in mine] == [(630050000000, "user", "government")]
        old = [o for o in every if o.origin == "seed"]
        corrected = {o.supersedes: o for o in every if o.supersedes is not None}
        assert len(old) == 5 and all(o.id in corrected for o in old)
        for seed in old:  # each superseded by the shipped row of its holder, date and scope
            new = corrected[seed.id]
            assert new.origin == "ledger" and new.holder_id == seed.holder_id
            assert new.scope == seed.scope
        ledgers = load_ledgers(session=session)
        holders = {h.slug: h for h in queries.list_holders(session=session)}
    assert holders["el-salvador"].population == 6338193  # the shipped figure, World Bank 2024
    on = {v.holder.slug: v for v in value_all(ledgers, None, dt.date(2025, 6, 20))}
    es = on["el-salvador"].claim
    assert es is not None and es.btc == 6209 and es.url and es.origin.value == "ledger"
    assert es.bound is not None and es.bound.value == "approximate"  # not the seed's "exact"
    late = {v.holder.slug: v for v in value_all(ledgers, None, dt.date(2025, 9, 2))}
    assert late["el-salvador"].btc == Decimal("6300.5")  # the user's own, newest
    again = open_database(db_url, settings=Settings())
    assert again.ledger is None  # at head: nothing re-applied on open
    opened.engine.dispose()
    engine.dispose()
