"""Live prices: `tracker fetch` (one round now) and `tracker sources` (each source's health)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from tracker.cli.app import Context, Format, FormatOption, app, show
from tracker.errors import Exit

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from tracker.config import Settings
    from tracker.models import RoundReport


@app.command()
def fetch(ctx: typer.Context, fmt: FormatOption = Format.table) -> None:
    """Run one fetch round now: ask every enabled source, store the consensus.

    Prints each source's price, latency and outcome, then the consensus. Exit 0 when a
    consensus was stored, 1 when the round was degraded or failed.

    Example: tracker fetch --format json
    """
    obj: Context = ctx.obj
    settings = obj.settings()
    rr = live_round(settings, obj.open(settings).engine)
    show(rr, fmt.value, color=False)
    if rr.price is None:
        raise typer.Exit(Exit.ERROR)


@app.command()
def sources(ctx: typer.Context, fmt: FormatOption = Format.table) -> None:
    """List the price sources: role, base URL, last success, success rate, last error.

    Example: tracker sources --format json
    """
    from tracker.status import gather_sources
    from tracker.store.engine import read_session

    obj: Context = ctx.obj
    settings = obj.settings()
    with read_session(obj.open(settings).engine) as session:
        found = gather_sources(session=session, settings=settings)
    show(found, fmt.value, color=False)


def live_round(settings: Settings, engine: Engine, *, budget_s: float | None = None) -> RoundReport:
    """One fetch round with a client built here (the CLI edge)."""
    import asyncio

    from tracker.rounds import run_once
    from tracker.sources.http import make_client

    async def go() -> RoundReport:
        async with make_client() as client:
            return await run_once(
                client=client, engine=engine, settings=settings, budget_s=budget_s
            )

    return asyncio.run(go())
