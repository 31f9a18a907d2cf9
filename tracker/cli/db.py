"""`tracker db upgrade|info`: the database's schema and facts."""

from __future__ import annotations

import typer

from tracker.cli.app import Context, ShortFormat, ShortFormatOption, db_app, out


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
