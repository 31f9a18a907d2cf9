"""The store's tables as `db copy`, `db export` and `db import` move them: in dependency order,
read in primary-key order in bounded batches, each value in one exact form on every backend.

A table here is a *transfer* table: the model's columns, with prices as their stored integer
units and exact decimals as their stored strings (nothing is converted on the way through),
and instants as UTC-aware datetimes (SQLite keeps them naive; PostgreSQL as ``timestamptz``).
So a row read from either backend is the same tuple: `db copy` compares them as they are,
``--verify`` hashes them, and each column's JSON form (json_values.py) is the same too.
"""

from __future__ import annotations

import functools
import hashlib
import operator
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

from tracker.columns import DecimalString, ScaledPrice
from tracker.copy_results import Digest
from tracker.errors import InputError
from tracker.store.json_values import Codec, column_kind

# Columns tracker itself changes in place after a row is written (a holder's profile, a
# removal, a correction's link, an address's sync height, the rebuilt on-chain series). A
# copy brings these up to date from the source; every other column is the row's identity,
# and a row whose identity differs on the two sides is a conflict.
MUTABLE: dict[str, frozenset[str]] = {
    "holders": frozenset(
        {
            "name",
            "country_code",
            "population",
            "population_source",
            "kind",
            "population_year",
            "note",
            "origin",
            "removed_at",
            "addresses_complete",
        }
    ),
    "holding_observations": frozenset({"removed_at", "supersedes"}),
    "addresses": frozenset(
        {
            "kind",
            "label",
            "attributor",
            "source",
            "url",
            "as_of",
            "note",
            "origin",
            "recorded_at",
            "removed_at",
            "synced_height",
        }
    ),
    "onchain_daily": frozenset({"sats", "addresses"}),
}

# The order the tables move in: each after the tables its foreign keys point to (a test
# checks this against the schema), the ledger first, the big round tables in the middle.
ORDER = (
    "holders",
    "holding_observations",
    "addresses",
    "daily_prices",
    "fetch_rounds",
    "source_quotes",
    "consensus_prices",
    "verify_checks",
    "verify_answers",
    "address_txs",
    "onchain_daily",
)

Key = tuple[Any, ...]


def _transfer_type(column_type: Any) -> Any:
    if isinstance(column_type, ScaledPrice):
        return sa.BigInteger()
    if isinstance(column_type, DecimalString):
        return sa.String(64)
    return column_type


@dataclass(frozen=True)
class Spec:
    """One table as it moves: its transfer table, key, identity and JSON codecs."""

    name: str
    table: sa.Table
    key: tuple[str, ...]
    mutable: frozenset[str]
    codecs: dict[str, Codec]
    key_index: tuple[int, ...]
    defaults: dict[str, Any]  # server defaults: what a row from an older export lacks
    key_of: Callable[[Sequence[Any]], Key]  # row -> its key, a tuple

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.table.columns)

    @property
    def serial(self) -> bool:
        """An integer id its backend numbers (a PostgreSQL sequence to move on)."""
        return self.key == ("id",)

    def identity_differs(self, ours: Sequence[Any], theirs: Sequence[Any]) -> str | None:
        """The first identity column whose values differ, or None."""
        for name, a, b in zip(self.columns, ours, theirs, strict=True):
            if a != b and name not in self.mutable:
                return name
        return None

    def describe(self, key: Key) -> str:
        return f"{self.name} " + ", ".join(f"{k}={v}" for k, v in zip(self.key, key, strict=True))

    def to_json(self, row: Sequence[Any]) -> list[Any]:
        return [self.codecs[n].dump(v) for n, v in zip(self.columns, row, strict=True)]


@functools.cache
def specs() -> tuple[Spec, ...]:
    """Every table of the schema, parents before children (built once: the schema is fixed
    for the life of the process)."""
    import tracker.chain_models  # registers the on-chain tables
    import tracker.models  # noqa: F401

    tables = SQLModel.metadata.tables
    if set(tables) != set(ORDER):  # a table added to the schema must be placed in ORDER
        raise AssertionError(f"transfer.ORDER lists {sorted(ORDER)}, the schema {sorted(tables)}")
    result: list[Spec] = []
    for model_table in (tables[name] for name in ORDER):
        columns = [
            sa.Column(
                c.name,
                _transfer_type(c.type),
                primary_key=c.primary_key,
                nullable=c.nullable,
            )
            for c in model_table.columns
        ]
        table = sa.Table(model_table.name, sa.MetaData(), *columns)
        codecs = {c.name: Codec(column_kind(c.type), bool(c.nullable)) for c in model_table.columns}
        key = tuple(c.name for c in model_table.primary_key.columns)
        mutable = MUTABLE.get(model_table.name, frozenset())
        index = tuple(table.columns.keys().index(k) for k in key)
        defaults = {
            c.name: _default(c.server_default.arg)  # type: ignore[attr-defined]
            for c in model_table.columns
            if c.server_default is not None
        }
        result.append(
            Spec(model_table.name, table, key, mutable, codecs, index, defaults, _getter(index))
        )
    return tuple(result)


def _getter(index: tuple[int, ...]) -> Callable[[Sequence[Any]], Key]:
    getter = operator.itemgetter(*index)
    if len(index) == 1:
        return lambda row: (getter(row),)
    return getter


def _default(arg: Any) -> Any:
    if isinstance(arg, str):
        return arg
    if isinstance(arg, sa.sql.elements.False_):
        return False
    if isinstance(arg, sa.sql.elements.True_):
        return True
    raise TypeError(f"no transfer form for server default {arg!r}")


def spec_named(name: str) -> Spec:
    for spec in specs():
        if spec.name == name:
            return spec
    raise InputError(f"no table {name!r}: the tables are {', '.join(ORDER)}")


def _key_exprs(conn: Connection, spec: Spec) -> list[Any]:
    """The key's columns, compared and sorted byte-wise on both backends (PostgreSQL's
    default collation may order text otherwise than SQLite does)."""
    exprs: list[Any] = []
    for name in spec.key:
        col = spec.table.c[name]
        if conn.dialect.name == "postgresql" and isinstance(col.type, sa.String):
            exprs.append(col.collate("C"))
        else:
            exprs.append(col)
    return exprs


def _after(exprs: list[Any], key: Key) -> Any:
    if len(exprs) == 1:
        return exprs[0] > key[0]
    return sa.tuple_(*exprs) > sa.tuple_(*[sa.literal(v) for v in key])


def _at_most(exprs: list[Any], key: Key) -> Any:
    if len(exprs) == 1:
        return exprs[0] <= key[0]
    return sa.tuple_(*exprs) <= sa.tuple_(*[sa.literal(v) for v in key])


def read_batch(
    conn: Connection, spec: Spec, *, after: Key | None, size: int
) -> list[tuple[Any, ...]]:
    """Up to ``size`` rows in key order, after ``after`` (from the start when None)."""
    exprs = _key_exprs(conn, spec)
    query = sa.select(spec.table).order_by(*exprs).limit(size)
    if after is not None:
        query = query.where(_after(exprs, after))
    return [tuple(r) for r in conn.execute(query).all()]


def read_range(
    conn: Connection, spec: Spec, *, after: Key | None, upto: Key | None
) -> list[tuple[Any, ...]]:
    """Every row with a key in (after, upto]; unbounded on a side given None."""
    exprs = _key_exprs(conn, spec)
    query = sa.select(spec.table).order_by(*exprs)
    if after is not None:
        query = query.where(_after(exprs, after))
    if upto is not None:
        query = query.where(_at_most(exprs, upto))
    return [tuple(r) for r in conn.execute(query).all()]


def last_key(conn: Connection, spec: Spec) -> Key | None:
    exprs = _key_exprs(conn, spec)
    cols = [spec.table.c[k] for k in spec.key]
    row = conn.execute(sa.select(*cols).order_by(*[e.desc() for e in exprs]).limit(1)).first()
    return None if row is None else tuple(row)


def count(conn: Connection, spec: Spec, *, after: Key | None = None) -> int:
    """The rows (with a key after ``after``, when given)."""
    query = sa.select(sa.func.count()).select_from(spec.table)
    if after is not None:
        query = query.where(_after(_key_exprs(conn, spec), after))
    return int(conn.execute(query).scalar_one())


def walk(conn: Connection, spec: Spec, *, size: int) -> Iterator[list[tuple[Any, ...]]]:
    """Every row, in key order, a batch at a time (memory bounded by ``size``)."""
    after: Key | None = None
    while True:
        batch = read_batch(conn, spec, after=after, size=size)
        if not batch:
            return
        yield batch
        after = spec.key_of(batch[-1])


_MOD = 1 << 128


def digest(
    conn: Connection,
    spec: Spec,
    *,
    size: int = 20_000,
    on_batch: Callable[[int], None] = lambda rows: None,
) -> Digest:
    """The table's row count and checksum. A row's bytes are the ``repr`` of its transfer
    values: ints, strings, bools, dates and UTC datetimes (tzinfo ``datetime.UTC`` on both
    backends), so equal rows give equal bytes on SQLite and PostgreSQL."""
    rows = total = 0
    blake = hashlib.blake2b
    for batch in walk(conn, spec, size=size):
        for row in batch:
            total += int.from_bytes(blake(repr(row).encode(), digest_size=16).digest())
        rows += len(batch)
        on_batch(len(batch))
    return Digest(rows, total % _MOD)
