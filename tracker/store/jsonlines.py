"""`tracker db export` and `db import`: the store as JSON lines, one row an object.

The first line says what the file is (``{"tracker_export": 1, "schema": ..., ...}``); each
row after it is ``{"table": NAME, COLUMN: VALUE, ...}`` with every value exact (see
``transfer``: prices and decimals as decimal strings, 64-bit integers as strings, dates and
UTC instants in ISO 8601). Tables come parents first, rows in key order.

An import runs in one transaction: a bad line is named and nothing is stored. It merges
like `db copy`: a row already there is skipped (so importing a file twice changes nothing),
a row whose mutable columns changed is updated, a row whose identity differs is refused.
A column the file lacks (an export from an older schema) takes the column's default.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlmodel import SQLModel

from tracker.clock import utc_now
from tracker.copy_results import TableCopy
from tracker.errors import InputError, StoreError
from tracker.store import transfer
from tracker.store.copy import snapshot
from tracker.store.engine import write_connection
from tracker.store.merge import diff, move_sequence
from tracker.store.migrate import SCHEMA_HEAD, known_revisions
from tracker.store.transfer import Spec

FORMAT = 1
IMPORT_BATCH = 2_000  # rows per lookup of what is there (a composite key: 3 bound values each)
EXPORT_BATCH = 5_000


def export(engine: Engine, out: IO[str], *, tables: Iterable[str] = ()) -> dict[str, int]:
    """Write the header and every row of ``tables`` (all when empty); rows per table."""
    wanted = set(tables)
    specs = [s for s in transfer.specs() if not wanted or s.name in wanted]
    header = {
        "tracker_export": FORMAT,
        "schema": SCHEMA_HEAD,
        "exported_at": utc_now().isoformat(),
        "tables": [s.name for s in specs],
    }
    out.write(json.dumps(header) + "\n")
    counts = {}
    with snapshot(engine) as conn:
        for spec in specs:
            counts[spec.name] = 0
            for batch in transfer.walk(conn, spec, size=EXPORT_BATCH):
                lines = []
                for row in batch:
                    obj: dict[str, Any] = {"table": spec.name}
                    obj.update(zip(spec.columns, spec.to_json(row), strict=True))
                    lines.append(json.dumps(obj, ensure_ascii=False))
                out.write("\n".join(lines) + "\n")
                counts[spec.name] += len(batch)
    return counts


@dataclass
class _Pending:
    spec: Spec
    rows: list[tuple[Any, ...]] = field(default_factory=list)
    lines: list[int] = field(default_factory=list)


def import_lines(engine: Engine, lines: Iterable[str], *, name: str) -> list[TableCopy]:
    """Store the rows of an export, all or nothing; what each table gained."""
    by_name = {s.name: s for s in transfer.specs()}
    rank_of = {name: i for i, name in enumerate(transfer.ORDER)}
    results: dict[str, TableCopy] = {}
    with write_connection(engine) as conn:
        if conn.dialect.name == "sqlite":  # a correction may precede what it corrects
            conn.exec_driver_sql("PRAGMA defer_foreign_keys = ON")
        pending: _Pending | None = None
        rank = -1
        for number, obj in _objects(lines, name):
            table = obj.pop("table", None)
            if table is None and number == 1 and "tracker_export" in obj:
                _check_header(obj, name)
                continue
            spec = by_name.get(table) if isinstance(table, str) else None
            if spec is None:
                raise InputError(f"{name} line {number}: no table {table!r}; nothing was imported")
            if rank_of[spec.name] < rank:
                raise InputError(
                    f"{name} line {number}: a {spec.name} row after rows of a table that "
                    f"depends on it ({transfer.ORDER[rank]}); nothing was imported"
                )
            rank = rank_of[spec.name]
            if pending is None or pending.spec is not spec or len(pending.rows) >= IMPORT_BATCH:
                if pending is not None:
                    _store(conn, pending, results, name)
                pending = _Pending(spec)
            pending.rows.append(_row(spec, obj, name, number))
            pending.lines.append(number)
        if pending is not None:
            _store(conn, pending, results, name)
        for table_name in results:
            move_sequence(conn, by_name[table_name])
    return [results[n] for n in transfer.ORDER if n in results]


def _objects(lines: Iterable[str], name: str) -> Iterator[tuple[int, dict[str, Any]]]:
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise InputError(
                f"{name} line {number}: not JSON ({e.msg}); nothing was imported"
            ) from None
        if not isinstance(obj, dict):
            raise InputError(f"{name} line {number}: not a JSON object; nothing was imported")
        yield number, obj


def _check_header(obj: dict[str, Any], name: str) -> None:
    schema = obj.get("schema")
    if obj.get("tracker_export") != FORMAT:
        raise InputError(f"{name}: export format {obj.get('tracker_export')!r} is not {FORMAT}")
    if schema not in known_revisions():
        raise StoreError(
            f"{name} was exported at schema {schema!r}, newer than this tracker knows "
            f"({SCHEMA_HEAD}): upgrade tracker"
        )


def _row(spec: Spec, obj: dict[str, Any], name: str, number: int) -> tuple[Any, ...]:
    unknown = set(obj) - set(spec.columns)
    if unknown:
        raise InputError(
            f"{name} line {number}: {spec.name} has no column {sorted(unknown)[0]!r}; "
            "nothing was imported"
        )
    values = []
    for column in spec.columns:
        codec = spec.codecs[column]
        try:
            if column in obj:
                values.append(codec.load(obj[column]))
            elif column in spec.defaults:
                values.append(spec.defaults[column])
            elif codec.nullable:
                values.append(None)
            else:
                raise ValueError("missing")
        except ValueError as e:
            raise InputError(
                f"{name} line {number}: {spec.name}.{column}: {e}; nothing was imported"
            ) from None
    return tuple(values)


def _store(conn: Connection, pending: _Pending, results: dict[str, TableCopy], name: str) -> None:
    spec = pending.spec
    result = results.setdefault(spec.name, TableCopy(spec.name))
    result.source_rows += len(pending.rows)
    fresh: dict[transfer.Key, tuple[Any, ...]] = {}
    for row, number in zip(pending.rows, pending.lines, strict=True):
        key = spec.key_of(row)
        seen = fresh.get(key)
        if seen is not None and seen != row:
            raise InputError(
                f"{name} line {number}: {spec.describe(key)} appears twice with different "
                "values; nothing was imported"
            )
        fresh[key] = row
    result.present += len(pending.rows) - len(fresh)  # a line repeated
    keys = sorted(fresh)
    found = diff(spec, [fresh[k] for k in keys], _existing(conn, spec, keys), keys[-1])
    found.only_in_destination = 0  # the file is not the whole table: nothing to say
    found.raise_conflict(source=name, after="nothing was imported")
    _check_parents(conn, pending, name)
    found.apply(conn, result)


def _check_parents(conn: Connection, pending: _Pending, name: str) -> None:
    """Each row's foreign keys point at rows stored (earlier in this import, or before it)
    or in this batch: else the first orphan is named by its line, before the database would
    refuse it without one."""
    spec = pending.spec
    for fk in SQLModel.metadata.tables[spec.name].foreign_keys:
        column, parent, target = fk.parent.name, fk.column.table.name, fk.column.name
        i = spec.columns.index(column)
        wanted = {row[i] for row in pending.rows if row[i] is not None}
        if parent == spec.name:  # a correction may point at a row of the same batch
            wanted -= {row[spec.columns.index(target)] for row in pending.rows}
        if not wanted:
            continue
        table = sa.table(parent, sa.column(target))
        there = set(
            conn.execute(sa.select(table.c[target]).where(table.c[target].in_(wanted))).scalars()
        )
        for row, number in zip(pending.rows, pending.lines, strict=True):
            if row[i] in wanted - there:
                raise InputError(
                    f"{name} line {number}: {spec.name}.{column} = {row[i]}, but there is no "
                    f"{parent} row with {target} {row[i]}; nothing was imported"
                )


def _existing(conn: Connection, spec: Spec, keys: list[transfer.Key]) -> list[tuple[Any, ...]]:
    cols = [spec.table.c[k] for k in spec.key]
    one = len(cols) == 1
    where = cols[0].in_([k[0] for k in keys]) if one else sa.tuple_(*cols).in_(keys)
    rows = conn.execute(sa.select(spec.table).where(where))
    return [tuple(r) for r in rows]
