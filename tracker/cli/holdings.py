"""`tracker holdings list|add|remove|sync|import|export`: the ledger of sourced
observations."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tracker.cli.app import Context, Format, FormatOption, holdings_app, out, show
from tracker.errors import InputError

if TYPE_CHECKING:
    from sqlmodel import Session

    from tracker.models import HolderLedger


@holdings_app.command("list")
def holdings_list(
    ctx: typer.Context,
    holder: Annotated[str | None, typer.Argument(help="Only this holder (slug).")] = None,
    holders: Annotated[
        list[str] | None,
        typer.Option("--holder", help="Only this holder (slug); repeat for more."),
    ] = None,
    fmt: FormatOption = Format.table,
    removed: Annotated[
        bool, typer.Option("--removed", help="Show removed observations too, marked removed.")
    ] = False,
) -> None:
    """List the ledger: holder by holder, each observation oldest first, with its id, basis,
    scope, source, link, publication date and origin; a corrected observation names the id
    of the one correcting it.

    Example: tracker holdings list --holder united-states --holder el-salvador --format csv
    """
    from tracker.models import Ledger
    from tracker.render.ledger import MarkedLedger
    from tracker.store.engine import read_session

    slugs = [*([holder] if holder else []), *(holders or [])]
    gone: frozenset[int] = frozenset()
    obj: Context = ctx.obj
    with read_session(obj.open().engine) as session:
        ledgers, gone = _chosen(session, slugs, removed=removed)
    ledger = MarkedLedger(tuple(ledgers), removed=gone) if removed else Ledger(tuple(ledgers))
    show(ledger, fmt.value, color=False)


def _chosen(
    session: Session, slugs: list[str], *, removed: bool = False
) -> tuple[list[HolderLedger], frozenset[int]]:
    """The ledgers of these holders (all when none is named), in the ledger's order, with
    their removed observations when ``removed``, and the ids of those removed."""
    from tracker.holdings import ledgers_and_removed

    ledgers, gone = ledgers_and_removed(session=session, removed=removed)
    known = {lg.holder.slug for lg in ledgers}
    for slug in slugs:
        if slug not in known:
            raise InputError(f"unknown holder {slug!r}: run `tracker holders list` to see them")
    return [lg for lg in ledgers if not slugs or lg.holder.slug in slugs], gone


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
    scope: Annotated[
        str, typer.Option(help="government (default), reserve, subset or not_sovereign.")
    ] = "government",
    url: Annotated[str | None, typer.Option(help="http(s) link to the source.")] = None,
    published: Annotated[
        str | None, typer.Option(help="The day the source appeared (YYYY-MM-DD).")
    ] = None,
    supersedes: Annotated[
        int | None,
        typer.Option(
            help="Id of the observation this one corrects (same holder; it leaves reports).",
            min=1,
            max=2**31 - 1,
        ),
    ] = None,
) -> None:
    """Add one sourced observation; existing observations are never overwritten: a
    correction is a new one with --supersedes ID.

    Example: tracker holdings add el-salvador --btc 6209 --bound exact --as-of 2025-06-16
    --basis official --source "El Salvador Bitcoin Office, 2025-06-16"
    """
    from tracker import holdings
    from tracker.clock import utc_today
    from tracker.holdings import make_claim
    from tracker.inputs import optional_date, parse_date
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
        scope=scope,
        url=url,
        published=optional_date(published, what="--published", today=today),
        supersedes=supersedes,
        today=today,
    )
    if country is not None and (len(country) != 2 or not country.isalpha()):
        raise InputError(f"--country {country!r} is not a two-letter ISO country code")
    obj: Context = ctx.obj
    with write_session(obj.open().engine) as session:
        if get_holder(session=session, slug=holder) is None and name is not None:
            holdings.upsert_holder(
                session=session,
                info=holdings.make_holder(
                    slug=holder, name=name, country_code=country, population=population,
                    today=today,
                ),
            )  # fmt: skip
        obs = holdings.add_claim(session=session, claim=claim)
        added_id = obs.id
    corrects = "" if supersedes is None else f", correcting observation {supersedes}"
    out(
        f"added observation {added_id}: {holder} as of {claim.as_of} "
        f"({claim.basis.value}){corrects}\n"
    )


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
    for conflict in result.warnings():
        typer.echo(f"tracker: warning: {conflict}", err=True)


@holdings_app.command("import")
def holdings_import(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A CSV in the shipped observations.csv columns.")],
) -> None:
    """Import observations from a CSV in the shipped observations.csv columns (optionally a
    supersedes column, the id of the stored observation a row corrects). All or nothing: a
    bad row stores nothing and names its line and column. Idempotent: a row already stored
    with the same fields counts as present.

    Example: tracker holdings import observations.csv
    """
    from tracker.clock import utc_today
    from tracker.ledger_csv import read_observations
    from tracker.ledger_io import import_claims
    from tracker.store.engine import write_session

    name = str(file)
    try:
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{name}: not UTF-8 text") from None
    except OSError as e:
        raise InputError(f"cannot read {name}: {e.strerror or e}") from None
    rows = read_observations(text, name=name, today=utc_today())
    obj: Context = ctx.obj
    with write_session(obj.open().engine) as session:
        added, present = import_claims(session=session, rows=rows, name=name)
    out(f"{added} added, {present} already present\n")


@holdings_app.command("export")
def holdings_export(
    ctx: typer.Context,
    holders: Annotated[
        list[str] | None,
        typer.Option("--holder", help="Only this holder (slug); repeat for more."),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write to this file (whole, or not at all)."),
    ] = None,
) -> None:
    """Export the live observations in the shipped observations.csv columns, which
    `tracker holdings import` reads back. To stdout, or with --output to a file written
    whole or not at all.

    Example: tracker holdings export --holder el-salvador --output el-salvador.csv
    """
    from tracker.ledger_csv import write_observations
    from tracker.ledger_io import write_atomically
    from tracker.store.engine import read_session

    obj: Context = ctx.obj
    with read_session(obj.open().engine) as session:
        ledgers, _ = _chosen(session, holders or [])
    text = write_observations(c for lg in ledgers for c in lg.claims)
    if output is None:
        out(text)
        return
    write_atomically(output, text)
    count = sum(len(lg.claims) for lg in ledgers)
    typer.echo(f"wrote {count} observation(s) to {output}", err=True)
