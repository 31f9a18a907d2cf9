"""`tracker holders list|add|remove`: who the ledger's observations are about."""

from __future__ import annotations

from typing import Annotated

import typer

from tracker.cli.app import Context, Format, FormatOption, holders_app, out, show
from tracker.errors import InputError


@holders_app.command("list")
def holders_list(
    ctx: typer.Context,
    fmt: FormatOption = Format.table,
    removed: Annotated[
        bool, typer.Option("--removed", help="Show removed holders too, marked removed.")
    ] = False,
) -> None:
    """List every holder: slug, name, kind, country, population (its year and source), note,
    and how many observations it has. The CSV is a holders.csv, the shipped ledger's columns.

    Example: tracker holders list --format csv
    """
    from tracker.ledger_io import holder_counts
    from tracker.render.ledger import HolderEntry, HolderList
    from tracker.store.engine import read_session

    if removed and fmt is Format.csv:
        raise InputError(
            "--removed: the CSV is a holders.csv of the holders in use; use --format json, "
            "markdown or table to see removed ones"
        )
    obj: Context = ctx.obj
    with read_session(obj.open().engine) as session:
        rows = holder_counts(session=session, removed=removed)
    entries = tuple(HolderEntry(info, n, gone) for info, n, gone in rows)
    show(HolderList(entries), fmt.value, color=False)


@holders_app.command("add")
def holders_add(
    ctx: typer.Context,
    slug: Annotated[str, typer.Argument(help="Holder slug: lowercase letters, digits, dashes.")],
    name: Annotated[str, typer.Option(help="Display name, e.g. 'El Salvador'.")],
    country: Annotated[
        str | None, typer.Option(help="Two-letter ISO country code, e.g. SV.")
    ] = None,
    kind: Annotated[
        str, typer.Option(help="state (counted) or state_linked (listed apart, never counted).")
    ] = "state",
    population: Annotated[
        int | None, typer.Option(help="Population, for BTC per person.", min=1, max=10**10)
    ] = None,
    population_year: Annotated[
        int | None, typer.Option("--population-year", help="The year the population is of.")
    ] = None,
    population_source: Annotated[
        str | None, typer.Option("--population-source", help="Where the population is from.")
    ] = None,
    note: Annotated[str | None, typer.Option(help="Free-text note.")] = None,
) -> None:
    """Add a holder; a removed one is brought back under its old id (its observations stay
    removed). An existing holder is refused: the ledger never overwrites silently.

    Example: tracker holders add atlantis --name Atlantis --country AQ --population 1000
    --population-year 2024 --population-source "Census 2024"
    """
    from tracker import holdings
    from tracker.clock import utc_today
    from tracker.store.engine import write_session
    from tracker.store.queries import get_holder

    info = holdings.make_holder(
        slug=slug,
        name=name,
        country_code=country,
        kind=kind,
        population=population,
        population_year=population_year,
        population_source=population_source,
        note=note,
        today=utc_today(),
    )
    obj: Context = ctx.obj
    with write_session(obj.open().engine) as session:
        existing = get_holder(session=session, slug=slug, removed=True)
        if existing is not None and existing.removed_at is None:
            raise InputError(
                f"holder {slug} exists already (id {existing.id}): see `tracker holders list`"
            )
        back = existing is not None
        holder = holdings.upsert_holder(session=session, info=info)
        text = (
            f"brought back holder {slug} (id {holder.id}); its removed observations stay removed\n"
            if back
            else f"added holder {slug} (id {holder.id}): {info.name}, {info.kind.value}\n"
        )
    out(text)


@holders_app.command("remove")
def holders_remove(
    ctx: typer.Context,
    slug: Annotated[str, typer.Argument(help="Holder slug (see `tracker holders list`).")],
    with_observations: Annotated[
        bool,
        typer.Option("--with-observations", help="Remove its observations with it."),
    ] = False,
) -> None:
    """Remove a holder. Refused while it has observations, unless --with-observations
    removes them too. The rows stay, marked removed: ids are never reused, and
    `holdings sync` does not bring them back.

    Example: tracker holders remove atlantis --with-observations
    """
    from tracker.holdings import remove_holder
    from tracker.store.engine import write_session

    obj: Context = ctx.obj
    with write_session(obj.open().engine) as session:
        holder, n = remove_holder(session=session, slug=slug, with_observations=with_observations)
        text = f"removed holder {holder.slug} (id {holder.id})"
    out(f"{text} and {n} observation(s)\n" if n else f"{text}\n")
