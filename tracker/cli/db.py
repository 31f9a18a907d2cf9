"""`tracker db upgrade|info|copy|export|import`: the database's schema, facts, and its
rows moved to another database or a file."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any

import typer

from tracker.cli.app import Context, ShortFormat, ShortFormatOption, db_app, out
from tracker.errors import Exit, InputError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Create the database or migrate it to the newest schema (opening it does this too),
    and add the daily closes this version bundles that the database lacks (a database made
    by an older version keeps its closes and gains the newer ones; nothing is replaced).

    Example: tracker --db postgresql+psycopg://tracker@db/tracker db upgrade
    """
    from tracker.daily.bundled import load_bundled
    from tracker.store.engine import write_connection
    from tracker.store.migrate import SCHEMA_HEAD

    obj: Context = ctx.obj
    opened = obj.open()
    synced = opened.ledger
    if opened.created:
        out(f"created database at schema {SCHEMA_HEAD}, with bundled history and the ledger\n")
        return
    if opened.upgraded_from != SCHEMA_HEAD:
        out(f"upgraded schema {opened.upgraded_from} -> {SCHEMA_HEAD}\n")
        if synced is not None:
            out(
                f"applied the shipped ledger: {synced.added} observation(s) and "
                f"{synced.holders_added} holder(s) added, {synced.superseded} old seed(s) "
                "superseded by their sourced rows\n"
            )
            for conflict in synced.warnings():
                typer.echo(f"tracker: warning: {conflict}", err=True)
    else:
        out(f"schema is current ({SCHEMA_HEAD})\n")
    with write_connection(opened.engine) as conn:
        added = load_bundled(conn=conn)
    if added:
        out(f"added {added:,} bundled daily close(s) this version ships\n")


@db_app.command("info")
def db_info(ctx: typer.Context, fmt: ShortFormatOption = ShortFormat.table) -> None:
    """Show where the database is (password hidden), its schema and row counts.

    Example: tracker db info --format json
    """
    import json

    from tracker.store.migrate import guard, info

    obj: Context = ctx.obj
    opened = obj.open()
    facts = guard(str(opened.engine.url), lambda: info(opened.engine))
    if fmt is ShortFormat.json:
        out(json.dumps(facts, indent=2) + "\n")
        return
    for key, value in facts.items():
        if isinstance(value, dict):
            value = ", ".join(f"{k} {v}" for k, v in value.items())
        elif isinstance(value, list):
            value = " to ".join(str(v) for v in value)
        out(f"{key:18} {value}\n")


ToOption = Annotated[
    str,
    typer.Option(
        "--to",
        help="The destination's URL, e.g. postgresql+psycopg://tracker@db/tracker "
        "(an empty database, or an earlier copy of this one).",
        show_default=False,
    ),
]
FromOption = Annotated[
    str | None,
    typer.Option(
        "--from", help="The source's URL (default: the database --db or the config names)."
    ),
]
VerifyOption = Annotated[
    bool,
    typer.Option(
        "--verify",
        help="Then compare every table's row count and checksum on both sides; exit 1 "
        "naming the first that differs.",
    ),
]
BatchOption = Annotated[
    int,
    typer.Option(
        "--batch-rows", min=1, help="Rows per destination transaction.", show_default=True
    ),
]


@db_app.command("copy")
def db_copy(
    ctx: typer.Context,
    to: ToOption,
    source: FromOption = None,
    verify: VerifyOption = False,
    batch_rows: BatchOption = 20_000,
    fmt: ShortFormatOption = ShortFormat.table,
) -> None:
    """Copy every row of one tracker database into another (SQLite and PostgreSQL either
    way): the destination is migrated first, tables go parents first in batches, and a copy
    that was stopped or killed resumes where it was when run again. Nothing is copied twice.

    Example: tracker db copy --to postgresql+psycopg://tracker@db/tracker --verify
    """
    from tracker.config import database_url
    from tracker.render.copy import as_json, check_lines, table_lines
    from tracker.store.copy import copy_database, open_destination, open_source
    from tracker.store.engine import redact_url
    from tracker.store.migrate import guard

    obj: Context = ctx.obj
    src_url = source or database_url(obj.settings(), obj.db)
    src = open_source(src_url)
    obj.engines.append(src)
    dst, before = open_destination(to, source=src)
    obj.engines.append(dst)
    src_name, dst_name = redact_url(src_url), redact_url(to)
    started = time.monotonic()
    try:
        with _bars() as bars:
            results = guard(
                to, lambda: copy_database(src, dst, batch_rows=batch_rows, progress=bars)
            )
        seconds = time.monotonic() - started
        checks = None
        if verify:
            from tracker.store.copy import verify_copy

            with _bars() as bars:
                checks = guard(to, lambda: verify_copy(src, dst, progress=bars))
    except KeyboardInterrupt:
        typer.echo(
            "tracker: interrupted: the batches copied so far are kept; run it again to resume",
            err=True,
        )
        raise typer.Exit(Exit.INTERRUPTED) from None
    if fmt is ShortFormat.json:
        out(as_json(src_name, dst_name, results, checks))
    else:
        schema = "created" if before is None else f"was at {before}"
        out(f"copy {src_name} -> {dst_name} (schema {schema})\n")
        out(table_lines(results))
        copied = sum(r.copied + r.updated for r in results)
        out(f"{copied:,} row(s) written in {seconds:.1f} s\n")
        if checks is not None:
            out("verify: row counts and checksums\n" + check_lines(checks))
    differs = next((c for c in checks or [] if not c.same), None)
    if differs is not None:
        typer.echo(
            f"tracker: error: --verify: table {differs.name} differs: {differs.source.rows:,} "
            f"row(s) in the source, {differs.destination.rows:,} in the destination",
            err=True,
        )
        raise typer.Exit(Exit.ERROR)


@contextmanager
def _bars() -> Iterator[Any]:
    from tracker.render.progress import TableBars, rich_bar

    if not sys.stderr.isatty():
        yield TableBars(None)
        return
    with rich_bar("rows") as progress:
        yield TableBars(progress)


TableOption = Annotated[
    list[str] | None,
    typer.Option("--table", "-t", help="Only this table (repeat for more).", show_default=False),
]


OutputOption = Annotated[
    Path | None,
    typer.Option(
        "--output",
        "-o",
        help="Write to this file instead of stdout: whole or not at all (a temporary file "
        "beside it, renamed when complete).",
        show_default=False,
    ),
]


@db_app.command("export")
def db_export(ctx: typer.Context, table: TableOption = None, output: OutputOption = None) -> None:
    """Write the database as JSON lines on stdout: a header, then one object per row with
    its table, every value exact (decimals and satoshis as strings, instants in UTC).

    Example: tracker db export -o tracker-backup.jsonl
    """
    from tracker.config import database_url
    from tracker.store.copy import open_source
    from tracker.store.jsonlines import export
    from tracker.store.migrate import guard
    from tracker.store.transfer import spec_named

    obj: Context = ctx.obj
    for name in table or []:
        spec_named(name)  # an unknown name fails before anything is written
    url = database_url(obj.settings(), obj.db)
    engine = open_source(url)
    obj.engines.append(engine)
    tables = table or []
    try:
        if output is None:
            counts = guard(url, lambda: export(engine, sys.stdout, tables=tables))
            sys.stdout.flush()
        else:
            counts = _export_to(
                output, lambda f: guard(url, lambda: export(engine, f, tables=tables))
            )
    except BrokenPipeError:
        raise  # `| head`: click ends quietly
    except OSError as e:
        if output is None:  # stdout is broken: nothing more goes to it, not even at exit
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        where = "stdout" if output is None else str(output)
        raise InputError(f"cannot write the export to {where}: {e.strerror}") from None
    typer.echo(f"exported {sum(counts.values()):,} row(s) of {len(counts)} table(s)", err=True)


def _export_to(path: Path, write: Callable[[IO[str]], dict[str, int]]) -> dict[str, int]:
    """Write through a temporary file beside ``path``, renamed over it once complete."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open("w", encoding="utf-8") as f:
            counts = write(f)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return counts


@db_app.command("import")
def db_import(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="An export file; - for stdin.", show_default=False)],
) -> None:
    """Store the rows of an export, all or nothing: a bad line is named and nothing is
    stored; a row already there is skipped, so importing a file twice changes nothing.

    Example: tracker --db sqlite:///restored.db db import tracker-backup.jsonl
    """
    from tracker.config import database_url
    from tracker.render.copy import table_lines
    from tracker.store.jsonlines import import_lines
    from tracker.store.migrate import guard

    obj: Context = ctx.obj
    url = database_url(obj.settings(), obj.db)
    name = "stdin" if str(file) == "-" else str(file)
    try:
        stream = sys.stdin if str(file) == "-" else file.open(encoding="utf-8")
    except OSError as e:
        raise InputError(f"cannot read {file}: {e.strerror}") from None
    try:
        with stream:
            engine = _import_target(obj, url)  # after the file opened: a typo makes nothing
            results = guard(url, lambda: import_lines(engine, stream, name=name))
    except UnicodeDecodeError:
        raise InputError(f"{name} is not UTF-8 text: nothing was imported") from None
    out(table_lines(results, verb="imported"))


def _import_target(obj: Context, url: str) -> Engine:
    """A new or empty database gets the schema only (the file brings the rows); an existing
    one opens as every command opens it."""
    from tracker.store.engine import make_engine
    from tracker.store.migrate import current_revision, guard, migrate_schema

    engine = make_engine(url)
    obj.engines.append(engine)

    def revision() -> str | None:
        with engine.connect() as conn:
            return current_revision(conn)

    if guard(url, revision) is None:
        guard(url, lambda: migrate_schema(engine))
        return engine
    return obj.open().engine
