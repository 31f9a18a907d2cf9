"""On-chain history, the store: which holders and addresses a run reads, each address's
transactions (``address_txs``, insert-ignore on (address_id, txid)) with the height it is synced
to, and each holder's daily series (``onchain_daily``) rebuilt whole from them in one
transaction. onchain_history.py fetches; onchain_series.py computes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from tracker.chain_models import Address, AddressTx, OnchainDaily
from tracker.errors import InputError
from tracker.models import Holder
from tracker.onchain_series import DayBalance, TxEffect, holder_series
from tracker.store.engine import write_connection


@dataclass(frozen=True)
class Target:
    holder_id: int
    slug: str
    addresses: tuple[tuple[int, str, int | None], ...]  # id, address, synced_height


def _table(model: Any) -> Any:
    return model.__table__


def _insert_ignore(conn: Connection, table: Any) -> Any:
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing()
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table).on_conflict_do_nothing()


def targets(engine: Engine, slugs: Sequence[str] | None) -> list[Target]:
    """The live holders with live addresses, by id; or those of ``slugs`` (each a live holder)
    that have addresses, in the order given. A holder with a stored series but no live address
    left is included with no address: its series is then cleared, never left stale."""
    holders, addresses = _table(Holder), _table(Address)
    with engine.connect() as conn:
        live = {
            r.slug: r.id
            for r in conn.execute(
                sa.select(holders.c.id, holders.c.slug).where(holders.c.removed_at.is_(None))
            )
        }
        rows = conn.execute(
            sa.select(
                addresses.c.holder_id,
                addresses.c.id,
                addresses.c.address,
                addresses.c.synced_height,
            )
            .where(addresses.c.removed_at.is_(None))
            .order_by(addresses.c.holder_id, addresses.c.id)
        ).all()
        daily = _table(OnchainDaily)
        stale = set(conn.execute(sa.select(daily.c.holder_id).distinct()).scalars())
    books: dict[int, list[tuple[int, str, int | None]]] = {i: [] for i in stale}
    for r in rows:
        books.setdefault(r.holder_id, []).append((r.id, r.address, r.synced_height))
    slug_of = {i: s for s, i in live.items()}
    if slugs is None:
        return [Target(i, slug_of[i], tuple(b)) for i, b in sorted(books.items()) if i in slug_of]
    chosen = []
    for slug in dict.fromkeys(slugs):
        if slug not in live:
            raise InputError(f"--holder: unknown holder {slug!r}")
        if live[slug] in books:  # a holder without addresses has nothing to rebuild
            chosen.append(Target(live[slug], slug, tuple(books[live[slug]])))
    return chosen


def store_txs(
    engine: Engine, address_id: int, effects: Sequence[TxEffect], synced: int | None
) -> int:
    """Insert the transactions (ignoring those stored); with ``synced``, mark the address
    synced to that height in the same transaction. Returns the rows added."""
    table = _table(AddressTx)
    with write_connection(engine) as conn:
        added = 0
        if effects:
            rows = [
                {
                    "address_id": address_id,
                    "txid": e.txid,
                    "height": e.height,
                    "time": e.time,
                    "value_sats": e.value_sats,
                }
                for e in effects
            ]
            insert = _insert_ignore(conn, table).returning(table.c.txid)
            added = len(conn.execute(insert, rows).all())
        if synced is not None:
            addresses = _table(Address)
            conn.execute(
                addresses.update().where(addresses.c.id == address_id).values(synced_height=synced)
            )
    return added


def store_series(engine: Engine, holder_id: int, last_day: dt.date) -> list[DayBalance]:
    """Rebuild the holder's daily series from the stored transactions of its live addresses,
    replacing the stored one whole, in one transaction."""
    txs, addresses, daily = _table(AddressTx), _table(Address), _table(OnchainDaily)
    with write_connection(engine) as conn:
        rows = conn.execute(
            sa.select(addresses.c.address, txs.c.txid, txs.c.height, txs.c.time, txs.c.value_sats)
            .join(txs, txs.c.address_id == addresses.c.id)
            .where(addresses.c.holder_id == holder_id, addresses.c.removed_at.is_(None))
        ).all()
        per_address: dict[str, list[TxEffect]] = {}
        for r in rows:
            effect = TxEffect(r.txid, r.height, r.time, r.value_sats)
            per_address.setdefault(r.address, []).append(effect)
        series = holder_series(per_address, last_day=last_day)
        conn.execute(daily.delete().where(daily.c.holder_id == holder_id))
        if series:
            conn.execute(
                daily.insert(),
                [
                    {
                        "holder_id": holder_id,
                        "date": d.day,
                        "sats": d.sats,
                        "addresses": d.addresses,
                    }
                    for d in series
                ],
            )
    return series
