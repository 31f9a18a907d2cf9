"""Shared by the verify tests and bench: El Salvador's shipped addresses, a database holding
them, and a config pointing the explorers at the fake."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.engine import Engine
from sqlmodel import select

from tracker.chain_models import Address
from tracker.config import Settings, load_settings
from tracker.store.engine import write_session
from tracker.store.migrate import open_database
from tracker.store.queries import get_holder

LEDGER = Path(__file__).resolve().parents[1] / "tracker" / "data" / "ledger" / "addresses.csv"


def shipped_addresses(holder: str) -> list[str]:
    with LEDGER.open(encoding="utf-8", newline="") as f:
        return [row["address"] for row in csv.DictReader(f) if row["holder"] == holder]


ES = shipped_addresses("el-salvador")  # 20 addresses (the cold wallet and the split)


def write_config(path: Path, fake_toml: str, extra: str = "") -> Path:
    path.write_text(fake_toml + "\n" + extra, encoding="utf-8")
    return path


_ENGINES: list[Engine] = []  # disposed after each test (tests/conftest.py), so none leaks


def dispose_all() -> None:
    while _ENGINES:
        _ENGINES.pop().dispose()


def database_with(
    url: str, settings: Settings, book: dict[str, Sequence[str]], *, complete: bool = False
) -> Engine:
    """The database at ``url`` (created with the ledger), with ``book``'s addresses live: the
    ones the ledger's sync did not bring are added, and no other address of those holders is
    live."""
    engine = open_database(url, settings=settings).engine
    _ENGINES.append(engine)
    with write_session(engine) as session:
        for slug, addresses in book.items():
            holder = get_holder(session=session, slug=slug)
            assert holder is not None and holder.id is not None, slug
            holder.addresses_complete = complete
            session.add(holder)
            rows = session.exec(select(Address).where(Address.holder_id == holder.id)).all()
            have = {r.address: r for r in rows}
            for row in rows:
                if row.address not in addresses and row.removed_at is None:
                    from tracker.clock import utc_now

                    row.removed_at = utc_now()
                    session.add(row)
            for address in addresses:
                if address not in have:
                    session.add(Address(holder_id=holder.id, address=address, kind="official"))
                elif have[address].removed_at is not None:
                    have[address].removed_at = None
                    session.add(have[address])
    return engine


def settings_from(path: Path) -> Settings:
    return load_settings(path)


def serve_the_claims(fake_explorer: object, home: Path) -> None:
    """For a docs sample of `tracker verify`: a ./config.toml pointing the explorers at the
    fake, and the fake serving, for every holder with addresses in the default database, the
    headline claim on its first address (so every check is verified and matches)."""
    from tests.fake_explorer import FakeExplorer
    from tracker.addresses import live_addresses
    from tracker.clock import utc_today
    from tracker.config import database_url
    from tracker.holdings import load_ledgers
    from tracker.store import chain_queries
    from tracker.store.engine import read_session
    from tracker.valuation import value_holder

    assert isinstance(fake_explorer, FakeExplorer)
    config = home / "config.toml"
    config.write_text(fake_explorer.config_toml(), encoding="utf-8")
    settings = load_settings(config)
    engine = open_database(database_url(settings, None), settings=settings, create_dirs=True).engine
    with read_session(engine) as session:
        ledgers = {lg.holder.id: lg for lg in load_ledgers(session=session)}
        for holder in chain_queries.holders_with_addresses(session=session):
            assert holder.id is not None
            claim = value_holder(ledgers[holder.id], None, utc_today()).claim
            first, *_ = live_addresses(session, holder.id)
            sats = 0 if claim is None or claim.sats is None else claim.sats
            fake_explorer.set_balances({first.address: sats})
