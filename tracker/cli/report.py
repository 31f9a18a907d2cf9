"""`tracker report`: value each holder's reserve and compare them (the main job)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated

import typer

from tracker.cli.app import Context, Format, FormatOption, app, show

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from tracker.config import Settings


@app.command()
def report(
    ctx: typer.Context,
    at: Annotated[
        str | None,
        typer.Option(help="Value as of a past UTC date (end of that day) or datetime."),
    ] = None,
    what_if: Annotated[
        str | None, typer.Option("--what-if", help="Value at this USD price instead.")
    ] = None,
    offline: Annotated[
        bool, typer.Option("--offline", help="Never fetch; use stored prices only.")
    ] = False,
    all_estimates: Annotated[
        bool,
        typer.Option(
            "--all-estimates",
            help="List every observation of each holder side by side, not only the one used.",
        ),
    ] = False,
    holder: Annotated[
        list[str] | None,
        typer.Option("--holder", help="Only this holder (slug); repeat for several."),
    ] = None,
    compare: Annotated[
        str | None,
        typer.Option(
            "--compare", metavar="A,B", help="Compare only these two holders (slugs), A ÷ B."
        ),
    ] = None,
    as_known_at: Annotated[
        str | None,
        typer.Option(
            "--as-known-at",
            metavar="DATE",
            help="Use only observations published by DATE (yours: recorded by then).",
        ),
    ] = None,
    fmt: FormatOption = Format.table,
) -> None:
    """Value each holder's reserve and compare them: the main job.

    Every row names its source, basis and date; the price line names its kind,
    timestamp, sources and age, and flags it when stale.

    Example: tracker report --at 2025-06-30 --as-known-at 2025-01-01
    """
    from tracker.clock import utc_now
    from tracker.inputs import parse_at, parse_date, parse_number
    from tracker.report import assemble_report
    from tracker.store.engine import read_session

    obj: Context = ctx.obj
    current = utc_now()
    instant = None if at is None else parse_at(at, current=current)
    known = (
        None
        if as_known_at is None
        else parse_date(as_known_at, today=current.date(), what="--as-known-at")
    )
    price = (
        None
        if what_if is None
        else parse_number(what_if, what="--what-if", example="100000", maximum=Decimal(10) ** 12)
    )
    settings = obj.settings()
    opened = obj.open(settings)
    notes: list[str] = []
    if not offline and price is None and (instant is None or instant.date() == current.date()):
        notes = refresh_if_stale(settings, opened.engine, current)
        current = utc_now()
        instant = None if instant is None else current
    with read_session(opened.engine) as session:
        result = assemble_report(
            session=session,
            at=instant,
            now=current,
            max_price_age=dt.timedelta(seconds=settings.report.max_price_age_s),
            what_if=price,
            warnings=notes,
            all_estimates=all_estimates,
            max_holding_age_days=settings.report.max_holding_age_days,
            only=None if not holder else tuple(holder),
            pair=None if compare is None else parse_pair(compare),
            as_known_at=known,
        )
    show(result, fmt.value)


def parse_pair(text: str) -> tuple[str, str]:
    """``A,B`` as two slugs (whether they are known is checked against the store)."""
    from tracker.errors import InputError

    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 2 or not all(parts):
        raise InputError(
            f"--compare {text!r}: give two holder slugs as A,B, e.g. united-states,el-salvador"
        )
    return parts[0], parts[1]


def refresh_if_stale(settings: Settings, engine: Engine, current: dt.datetime) -> list[str]:
    """Run one round when the newest consensus is older than report.max_price_age_s;
    return a warning when that fails (the report then uses stored prices)."""
    from collections import Counter

    from tracker.cli.prices import live_round
    from tracker.models import PriceKind
    from tracker.report import choose_price
    from tracker.store.engine import read_session

    max_age = dt.timedelta(seconds=settings.report.max_price_age_s)
    with read_session(engine) as session:
        choice = choose_price(session=session, at=current, max_age=max_age)
    if choice is not None and choice.point.kind is PriceKind.CONSENSUS and not choice.stale:
        return []
    rr = live_round(settings, engine, budget_s=settings.report.fetch_timeout_s)
    if rr.price is not None:
        return []
    if rr.held is not None:
        return [
            f"the live price ${rr.held.price:,.2f} was held as suspect ({rr.held.reason}); "
            "it is not used until the next round confirms it: using stored prices"
        ]
    counts = Counter(line.outcome.value for line in rr.lines)
    summary = ", ".join(f"{n} {outcome}" for outcome, n in counts.most_common())
    return [
        f"could not fetch a live price (round {rr.status.value}: {summary}; see `tracker "
        "sources`); using stored prices"
    ]
