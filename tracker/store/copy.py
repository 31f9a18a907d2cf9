"""`tracker db copy`: every row of one tracker database into another, resumably.

The source is read in one snapshot (SQLite: one read transaction; PostgreSQL: REPEATABLE
READ), so a service still writing to it cannot hand the copy a quote whose round it missed.
The destination is migrated to the schema first (no rows added), then checked against the
source wherever it already holds rows: a row whose identity differs is a conflict, refused
before anything is written. Then each table is copied in key order, a batch per
destination transaction, so a copy killed at any point has stored whole batches only and
the next run takes up where it stopped: a row already there is skipped, a row the source has
changed in place since (``transfer.MUTABLE``) is updated, a row missing is inserted (a
PostgreSQL ``COPY``). The unique keys decide what is "there", so nothing is ever stored twice.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from tracker.copy_results import TableCheck, TableCopy
from tracker.errors import InputError, StoreError
from tracker.store import transfer
from tracker.store.engine import make_engine, redact_url, write_connection
from tracker.store.merge import diff, move_sequence
from tracker.store.migrate import SCHEMA_HEAD, check_newer, current_revision, guard, migrate_schema
from tracker.store.transfer import Key, Spec

BATCH_ROWS = 20_000
_UNTOUCHED = (
    "nothing was written: copy into an empty database (new, not yet opened by tracker) "
    "or into an earlier copy of this source"
)
_STOPPED = "the copy stopped there (it changed during the copy: write nothing else to it)"


class Progress(Protocol):
    def table(self, name: str, rows: int) -> None: ...

    def advance(self, rows: int) -> None: ...


class _Quiet:
    def table(self, name: str, rows: int) -> None:
        pass

    def advance(self, rows: int) -> None:
        pass


@dataclass
class _Plan:
    """What the check found in one table of the destination."""

    last: Key | None  # the destination's highest key, None when the table is empty
    work: bool = False  # some row up to ``last`` is missing or out of date
    present: int = 0
    only_in_destination: int = 0


# --- opening the two sides -----------------------------------------------------------------


def open_source(url: str) -> Engine:
    """An engine on an existing tracker database at this code's schema; nothing is written
    to it (an older one must be upgraded first, by the tracker that uses it)."""
    engine = _engine(url, must_exist=True)

    def check() -> None:
        with engine.connect() as conn:
            revision = current_revision(
                conn, what="the source", hint="give --from a tracker database"
            )
        if revision is None:
            raise StoreError(f"the source {redact_url(url)} is empty: not a tracker database")
        check_newer(revision, "the source")
        if revision != SCHEMA_HEAD:
            raise StoreError(
                f"the source's schema ({revision}) is older than this tracker's "
                f"({SCHEMA_HEAD}): run `tracker --db SOURCE db upgrade` first"
            )

    guard(url, check)
    return engine


def open_destination(url: str, *, source: Engine | None = None) -> tuple[Engine, str | None]:
    """An engine on the destination, migrated to this code's schema; and the revision it was
    at (None: it was empty). One that is ``source`` itself is refused before anything."""
    engine = _engine(url, must_exist=False)
    if source is not None and guard(url, lambda: same_database(source, engine)):
        engine.dispose()
        raise InputError("the source and the destination are the same database")
    hint = "give --to an empty database or an earlier copy"
    return engine, guard(url, lambda: migrate_schema(engine, what="the destination", hint=hint))


def _engine(url: str, *, must_exist: bool) -> Engine:
    if must_exist:  # never let SQLite create the file it was asked to read
        try:
            parsed = sa.engine.make_url(url)
        except (sa.exc.ArgumentError, ValueError):
            parsed = None  # make_engine says what is wrong with it
        if parsed is not None and parsed.get_backend_name() == "sqlite":
            path = Path(parsed.database or "")
            if parsed.database not in (None, "", ":memory:") and not path.is_file():
                raise StoreError(f"no database at {path}: give an existing file")
    return make_engine(url)


def same_database(a: Engine, b: Engine) -> bool:
    """Whether the two engines reach one database, however their URLs spell it (a SQLite
    file by its resolved path; a PostgreSQL database by its server's system identifier and
    its name, asked of the server)."""
    if a.dialect.name != b.dialect.name:
        return False
    if a.dialect.name == "sqlite":
        return Path(a.url.database or "").resolve() == Path(b.url.database or "").resolve()
    return _server_identity(a) == _server_identity(b)


def _server_identity(engine: Engine) -> tuple[object, ...]:
    query = "SELECT current_database(), inet_server_port(), "
    with engine.connect() as conn:
        try:
            with conn.begin_nested():
                return tuple(
                    conn.exec_driver_sql(
                        query + "(SELECT system_identifier FROM pg_control_system())"
                    ).one()
                )
        except StoreError:  # pg_control_system() withheld: the server's start instead
            return tuple(conn.exec_driver_sql(query + "pg_postmaster_start_time()").one())


@contextmanager
def snapshot(engine: Engine) -> Iterator[Connection]:
    """One read-only view of the database for the whole copy."""
    conn = engine.connect()
    if engine.dialect.name == "postgresql":
        conn = conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
    try:
        with conn.begin():
            yield conn
    finally:
        conn.close()


# --- the copy ------------------------------------------------------------------------------


def copy_database(
    source: Engine,
    destination: Engine,
    *,
    batch_rows: int = BATCH_ROWS,
    progress: Progress | None = None,
) -> list[TableCopy]:
    """Copy every table; see the module's docstring. Raises StoreError on a conflict (before
    anything is written) or a failure (whole batches stored, the rest on the next run)."""
    progress = progress or _Quiet()
    specs = transfer.specs()
    results = []
    with snapshot(source) as src:
        with destination.connect() as dst:
            plans = [_check(src, dst, spec, batch_rows, progress) for spec in specs]
        for spec, plan in zip(specs, plans, strict=True):
            result = TableCopy(spec.name, source_rows=transfer.count(src, spec))
            progress.table(spec.name, result.source_rows)
            _copy_table(src, destination, spec, plan, result, batch_rows, progress)
            results.append(result)
    return results


def _check(
    src: Connection, dst: Connection, spec: Spec, batch_rows: int, progress: Progress
) -> _Plan:
    """Compare the source with the rows the destination already holds (up to its highest
    key); a conflict raises here, before anything is written. The destination's rows are
    read in a thread while the source's next batch is read here."""
    plan = _Plan(last=transfer.last_key(dst, spec))
    if plan.last is None:
        return plan
    progress.table(f"check {spec.name}", transfer.count(dst, spec))
    after: Key | None = None
    batch = transfer.read_batch(src, spec, after=None, size=batch_rows)
    with ThreadPoolExecutor(1, thread_name_prefix="db copy check") as pool:
        while batch:
            upto = min(spec.key_of(batch[-1]), plan.last)
            reading = pool.submit(transfer.read_range, dst, spec, after=after, upto=upto)
            following = (
                []
                if upto == plan.last
                else transfer.read_batch(src, spec, after=upto, size=batch_rows)
            )
            theirs = reading.result()
            found = diff(spec, batch, theirs, upto)
            found.raise_conflict(source="the source", after=_UNTOUCHED)
            plan.work = plan.work or bool(found.inserts or found.updates)
            plan.present += found.present
            plan.only_in_destination += found.only_in_destination
            progress.advance(len(theirs))
            if upto == plan.last:
                return plan
            after, batch = upto, following
    # the source has no more: the rest is the destination's own
    plan.only_in_destination += transfer.count(dst, spec, after=after)
    return plan


def _copy_table(
    src: Connection,
    destination: Engine,
    spec: Spec,
    plan: _Plan,
    result: TableCopy,
    batch_rows: int,
    progress: Progress,
) -> None:
    """Read the source's batches here and write them in a thread of their own, so reading
    the next batch overlaps the destination's work on this one (at most two batches wait:
    memory stays flat). Each batch is one destination transaction."""
    after: Key | None = None
    if plan.last is not None and not plan.work:  # all there up to its last key: go on from it
        after = plan.last
        result.present, result.only_in_destination = plan.present, plan.only_in_destination
        progress.advance(plan.present)
    batches: queue.Queue[tuple[Key | None, list[tuple[Any, ...]]] | None] = queue.Queue(2)
    stop = threading.Event()
    failed: list[BaseException] = []

    def write() -> None:
        try:
            while (item := batches.get()) is not None and not stop.is_set():
                start, batch = item
                upto = spec.key_of(batch[-1])
                with write_connection(destination) as dst:
                    theirs = transfer.read_range(dst, spec, after=start, upto=upto)
                    found = diff(spec, batch, theirs, upto)
                    found.raise_conflict(source="the source", after=_STOPPED)
                    found.apply(dst, result)
                progress.advance(len(batch))
        except BaseException as e:  # handed to the reading thread, which raises it
            failed.append(e)
            stop.set()

    writer = threading.Thread(target=write, name=f"db copy: {spec.name}", daemon=True)
    writer.start()
    try:
        while not stop.is_set():
            batch = transfer.read_batch(src, spec, after=after, size=batch_rows)
            if not batch:
                break
            _hand_over(batches, (after, batch), stop)
            after = spec.key_of(batch[-1])
    except BaseException:
        stop.set()  # Ctrl-C or a failed read: the writer ends after the batch it is on
        raise
    finally:
        _hand_over(batches, None, stop)
        writer.join()
    if failed:
        raise failed[0]
    with write_connection(destination) as dst:
        if plan.work and plan.last is not None:  # what it holds past the source's last key
            result.only_in_destination += transfer.count(dst, spec, after=after)
        move_sequence(dst, spec)


def _hand_over(batches: queue.Queue[Any], item: Any, stop: threading.Event) -> None:
    """Queue ``item`` for the writer, unless it has stopped (then nobody would take it)."""
    while True:
        try:
            batches.put(item, timeout=0.1)
            return
        except queue.Full:
            if stop.is_set():
                return


# --- --verify ------------------------------------------------------------------------------


def verify_copy(
    source: Engine, destination: Engine, *, progress: Progress | None = None
) -> list[TableCheck]:
    """Row counts and order-independent checksums of every table, on both sides."""
    progress = progress or _Quiet()
    checks = []
    pool = ThreadPoolExecutor(1, thread_name_prefix="db copy verify")
    with snapshot(source) as src, snapshot(destination) as dst, pool:
        for spec in transfer.specs():  # the two sides at once, one in a thread
            rows = transfer.count(src, spec) + transfer.count(dst, spec)
            progress.table(f"verify {spec.name}", rows)
            reading = pool.submit(transfer.digest, dst, spec, on_batch=progress.advance)
            ours = transfer.digest(src, spec, on_batch=progress.advance)
            checks.append(TableCheck(spec.name, ours, reading.result()))
    return checks
