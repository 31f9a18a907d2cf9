"""Rows merged into a database that may hold some of them already (`db copy`, `db import`):
a row missing is inserted, a row there and equal is skipped, a row whose mutable columns
changed (``transfer.MUTABLE``) is updated, a row whose identity differs is a conflict. The
unique keys decide what is "there", so nothing is ever stored twice."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tracker.copy_results import TableCopy
from tracker.errors import StoreError
from tracker.store.engine import copy_rows
from tracker.store.transfer import Key, Spec

Row = tuple[Any, ...]


@dataclass
class Diff:
    """One batch of the source against the destination's rows in the same key range."""

    spec: Spec
    inserts: list[Row] = field(default_factory=list)
    updates: list[Row] = field(default_factory=list)
    present: int = 0
    only_in_destination: int = 0
    conflict: tuple[Key, str, Any, Any] | None = None  # key, column, theirs, ours

    def raise_conflict(self, *, source: str, after: str) -> None:
        """A StoreError naming the first conflicting key, if there is one."""
        if self.conflict is None:
            return
        key, column, theirs, ours = self.conflict
        raise StoreError(
            f"the destination already holds other data: {self.spec.describe(key)} has "
            f"{column} {_short(theirs)} there and {_short(ours)} in {source}; {after}"
        )

    def apply(self, conn: Connection, into: TableCopy) -> None:
        if self.inserts:
            copy_rows(conn, self.spec.table, self.inserts)
        if self.updates:
            update_rows(conn, self.spec, self.updates)
        into.copied += len(self.inserts)
        into.updated += len(self.updates)
        into.present += self.present
        into.only_in_destination += self.only_in_destination


def _short(value: Any) -> str:
    text = value.isoformat() if hasattr(value, "isoformat") else repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def diff(spec: Spec, batch: list[Row], theirs: list[Row], upto: Key) -> Diff:
    """The source's rows (in key order) up to ``upto`` against ``theirs``, the destination's
    rows in the same range; stops at the first conflict."""
    result = Diff(spec)
    if not theirs and batch and spec.key_of(batch[-1]) <= upto:  # the common case: all new
        result.inserts = list(batch)
        return result
    there = {spec.key_of(row): row for row in theirs}
    for row in batch:
        key = spec.key_of(row)
        if key > upto:
            break
        other = there.pop(key, None)
        if other is None:
            result.inserts.append(row)
        elif other == row:
            result.present += 1
        else:
            column = spec.identity_differs(row, other)
            if column is not None:
                i = spec.columns.index(column)
                result.conflict = (key, column, other[i], row[i])
                return result
            result.updates.append(row)
    result.only_in_destination = len(there)
    return result


def update_rows(conn: Connection, spec: Spec, rows: list[Row]) -> None:
    """Set every non-key column of the rows with these keys (one executemany)."""
    table = spec.table
    where = [table.c[k] == sa.bindparam(f"k_{k}") for k in spec.key]
    values: dict[str, Any] = {c: sa.bindparam(f"v_{c}") for c in spec.columns if c not in spec.key}
    names = [f"k_{c}" if c in spec.key else f"v_{c}" for c in spec.columns]
    params = [dict(zip(names, row, strict=True)) for row in rows]
    conn.execute(table.update().where(*where).values(values), params)


def move_sequence(conn: Connection, spec: Spec) -> None:
    """PostgreSQL: the id sequence goes on above the highest id stored, so the next insert
    never collides with a copied row. (SQLite numbers a new row max(id) + 1 by itself.)"""
    if conn.dialect.name != "postgresql" or not spec.serial:
        return
    conn.execute(
        sa.text(
            f"SELECT setval(pg_get_serial_sequence('{spec.name}', 'id'), "
            f'COALESCE(max(id), 0) + 1, false) FROM "{spec.name}"'
        )
    )
