"""`tracker addresses list|add|remove`: each holder's address book, every address checked."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer

from tracker.cli.app import Context, Format, FormatOption, addresses_app, out, show


@addresses_app.command("list")
def addresses_list(
    ctx: typer.Context,
    holder: Annotated[
        list[str] | None,
        typer.Option("--holder", help="Only this holder's addresses (may be repeated)."),
    ] = None,
    fmt: FormatOption = Format.table,
) -> None:
    """List the addresses in use, holder by holder, oldest first: each one's id, type, kind
    (official or attributed), label, who attributes it and when, source, link and note. The
    CSV is an addresses.csv, the shipped ledger's columns.

    Example: tracker addresses list --holder el-salvador --format json
    """
    from tracker.addresses import check_address, list_addresses
    from tracker.render.addresses import AddressList, AddressRow
    from tracker.store.engine import read_session

    obj: Context = ctx.obj
    with read_session(obj.open().engine) as session:
        found = list_addresses(session, holder)
        rows = tuple(
            AddressRow(
                id=a.id or 0, holder=slug, address=a.address, type=check_address(a.address).type,
                kind=a.kind, label=a.label, attributor=a.attributor, source=a.source, url=a.url,
                as_of=a.as_of, note=a.note, origin=a.origin, recorded_at=a.recorded_at,
            )
            for slug, a in found
        )  # fmt: skip
    show(AddressList(rows), fmt.value, color=False)


@addresses_app.command("add")
def addresses_add(
    ctx: typer.Context,
    holder: Annotated[str, typer.Argument(help="Holder slug (see `tracker holders list`).")],
    address: Annotated[str, typer.Argument(help="A Bitcoin mainnet address.")],
    kind: Annotated[
        str,
        typer.Option(help="official (published by the holder) or attributed (a third party's)."),
    ],
    label: Annotated[
        str | None, typer.Option(help="What the address is, e.g. 'Cold wallet'.")
    ] = None,
    attributor: Annotated[
        str | None, typer.Option(help="Who says it is the holder's, e.g. 'Arkham Intelligence'.")
    ] = None,
    source: Annotated[str | None, typer.Option(help="Where that was said.")] = None,
    url: Annotated[str | None, typer.Option(help="An http(s) link to the source.")] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="The day the source says so (YYYY-MM-DD).")
    ] = None,
    note: Annotated[str | None, typer.Option(help="Free-text note.")] = None,
) -> None:
    """Add an address to a holder's book. The address is checked (Base58Check or bech32/
    bech32m checksum, mainnet only); one in use in any holder's book is refused; one this
    holder's book had and you removed is brought back under its old id.

    Example: tracker addresses add el-salvador 32ixEdVJWo3kmvJGMTZq5jAQVZZeuwnqzo --kind
    official --label "Cold wallet" --source "President's post" --as-of 2024-03-14
    """
    from tracker.addresses import add_address, make_entry
    from tracker.clock import utc_today
    from tracker.inputs import parse_date
    from tracker.store.engine import write_session

    today = utc_today()
    day: dt.date | None = None if as_of is None else parse_date(as_of, today=today, what="--as-of")
    entry = make_entry(
        holder=holder, address=address, kind=kind, label=label, attributor=attributor,
        source=source, url=url, as_of=day, note=note, today=today,
    )  # fmt: skip
    obj: Context = ctx.obj
    with write_session(obj.open().engine) as session:
        row = add_address(session, entry)
        text = f"added address {row.id} to {holder}: {row.address} ({entry.type}, {entry.kind})\n"
    out(text)


@addresses_app.command("remove")
def addresses_remove(
    ctx: typer.Context,
    address_id: Annotated[int, typer.Argument(metavar="ID", help="Address id (see list).")],
) -> None:
    """Remove an address from its holder's book. The row stays, marked removed: its id is
    never reused, and `holdings sync` does not bring a shipped address back.

    Example: tracker addresses remove 3
    """
    from tracker.addresses import remove_address
    from tracker.store.engine import write_session

    obj: Context = ctx.obj
    with write_session(obj.open().engine) as session:
        row = remove_address(session, address_id)
        text = f"removed address {row.id} ({row.address})\n"
    out(text)


@addresses_app.command("complete")
def addresses_complete(
    ctx: typer.Context,
    holder: Annotated[str, typer.Argument(metavar="SLUG", help="Holder slug, e.g. el-salvador.")],
    no: Annotated[
        bool, typer.Option("--no", help="Say the list may be incomplete (the default).")
    ] = False,
) -> None:
    """Say the holder publishes its full address list, so `tracker verify` counts the chain's
    total as exact (a chain total below the claim then differs) rather than at least.

    Example: tracker addresses complete el-salvador
    """
    from tracker.errors import InputError
    from tracker.store.engine import write_session
    from tracker.store.queries import get_holder

    obj: Context = ctx.obj
    with write_session(obj.open().engine) as session:
        row = get_holder(session=session, slug=holder)
        if row is None:
            raise InputError(f"unknown holder {holder!r}: see `tracker holders list`")
        row.addresses_complete = not no
        session.add(row)
    state = "may be incomplete: a chain total is at least" if no else "is complete: exact"
    out(f"{holder}: its address list {state}\n")
