"""`tracker holdings list|add|remove|sync`: the ledger of sourced observations."""

from __future__ import annotations

from typing import Annotated

import typer

from tracker.cli.app import Context, Format, FormatOption, holdings_app, out, show
from tracker.errors import InputError


@holdings_app.command("list")
def holdings_list(
    ctx: typer.Context,
    holder: Annotated[str | None, typer.Argument(help="Only this holder (slug).")] = None,
    fmt: FormatOption = Format.table,
) -> None:
    """List the ledger: holder by holder, each observation oldest first, with its id, basis
    and source.

    Example: tracker holdings list united-states --format csv
    """
    from tracker.holdings import load_ledgers
    from tracker.models import Ledger
    from tracker.store.engine import read_session

    obj: Context = ctx.obj
    with read_session(obj.open().engine) as session:
        ledgers = load_ledgers(session=session)
    if holder is not None:
        ledgers = [lg for lg in ledgers if lg.holder.slug == holder]
        if not ledgers:
            raise InputError(f"unknown holder {holder!r}: run `tracker holdings list` to see them")
    show(Ledger(tuple(ledgers)), fmt.value, color=False)


@holdings_app.command("add")
def holdings_add(
    ctx: typer.Context,
    holder: Annotated[str, typer.Argument(help="Holder slug, e.g. el-salvador.")],
    as_of: Annotated[str, typer.Option("--as-of", help="Date the figure describes (YYYY-MM-DD).")],
    basis: Annotated[str, typer.Option(help="official, reported, estimate or undisclosed.")],
    source: Annotated[str, typer.Option(help="Title or URL of the source, and its date.")],
    btc: Annotated[
        str | None, typer.Option(help="Exact BTC amount (up to 8 decimals); omit if undisclosed.")
    ] = None,
    bound: Annotated[
        str | None, typer.Option(help="exact (default), at_least or approximate.")
    ] = None,
    note: Annotated[str | None, typer.Option(help="Free-text note.")] = None,
    cost_basis_usd: Annotated[
        str | None, typer.Option("--cost-basis-usd", help="What the holding cost, in USD.")
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="Create the holder with this display name if it is new.")
    ] = None,
    country: Annotated[str | None, typer.Option(help="ISO country code of a new holder.")] = None,
    population: Annotated[
        int | None,
        typer.Option(help="Population of a new holder (for BTC per person).", min=1, max=10**10),
    ] = None,
) -> None:
    """Add one sourced observation; existing observations are never overwritten.

    Example: tracker holdings add el-salvador --btc 6209 --bound exact --as-of 2025-06-16
    --basis official --source "El Salvador Bitcoin Office, 2025-06-16"
    """
    from tracker import holdings
    from tracker.clock import utc_today
    from tracker.holdings import make_claim
    from tracker.inputs import parse_date
    from tracker.models import HolderInfo
    from tracker.store.engine import write_session
    from tracker.store.queries import get_holder

    today = utc_today()
    claim = make_claim(
        holder=holder,
        btc=btc,
        bound=bound,
        as_of=parse_date(as_of, today=today, what="--as-of"),
        basis=basis,
        source=source,
        note=note,
        cost_basis_usd=cost_basis_usd,
        today=today,
    )
    if country is not None and (len(country) != 2 or not country.isalpha()):
        raise InputError(f"--country {country!r} is not a two-letter ISO country code")
    obj: Context = ctx.obj
    with write_session(obj.open().engine) as session:
        if get_holder(session=session, slug=holder) is None and name is not None:
            holdings.upsert_holder(
                session=session,
                info=HolderInfo(
                    slug=holder,
                    name=name,
                    country_code=None if country is None else country.upper(),
                    population=population,
                ),
            )
        obs = holdings.add_claim(session=session, claim=claim)
        added_id = obs.id
    out(f"added observation {added_id}: {holder} as of {claim.as_of} ({claim.basis.value})\n")


@holdings_app.command("remove")
def holdings_remove(
    ctx: typer.Context,
    observation_id: Annotated[
        int, typer.Argument(help="Observation id (see `holdings list`).", min=1, max=2**31 - 1)
    ],
) -> None:
    """Remove one observation by id (the only way an observation leaves the ledger).

    Example: tracker holdings remove 6
    """
    from tracker.holdings import remove_observation
    from tracker.store.engine import write_session

    obj: Context = ctx.obj
    with write_session(obj.open().engine) as session:
        obs = remove_observation(session=session, observation_id=observation_id)
        text = f"removed observation {obs.id} (as of {obs.as_of}, {obs.basis}: {obs.source})\n"
    out(text)


@holdings_app.command("sync")
def holdings_sync(ctx: typer.Context) -> None:
    """Re-apply the shipped ledger, then the config's own holders and observations;
    idempotent: it never deletes, never overwrites, never brings back what you removed, and
    names each conflict on stderr.

    Example: tracker holdings sync
    """
    from tracker.clock import utc_today
    from tracker.ledger_sync import sync_ledger
    from tracker.store.engine import write_session

    obj: Context = ctx.obj
    settings = obj.settings()
    with write_session(obj.open(settings).engine) as session:
        result = sync_ledger(session=session, settings=settings, today=utc_today())
    superseded = f", {result.superseded} old seeds superseded" if result.superseded else ""
    out(
        f"{result.added} added, {result.present} already present, "
        f"{result.holders_added} holders added{superseded}\n"
    )
    for conflict in result.conflicts:
        typer.echo(f"tracker: warning: {conflict}", err=True)
