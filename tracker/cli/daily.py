"""The daily series: `tracker backfill` (fill it, import a CSV, cross-check) and `tracker
history` (price and holdings per day, week or month)."""

from __future__ import annotations

import datetime as dt
import sys
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tracker.cli.app import Context, DataFormat, DataFormatOption, app, out, show
from tracker.errors import Exit, InputError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from tracker.config import Settings


class IntervalChoice(StrEnum):
    day = "day"
    week = "week"
    month = "month"


@app.command()
def backfill(
    ctx: typer.Context,
    source: Annotated[
        str | None,
        typer.Option(
            "--source",
            "-s",
            help="bitstamp (default), bitfinex, coinbase or kraken; with --csv, the label "
            "stored with the rows (default csv).",
        ),
    ] = None,
    from_: Annotated[
        str | None,
        typer.Option("--from", help="First day, YYYY-MM-DD (default: the oldest it serves)."),
    ] = None,
    to: Annotated[
        str | None, typer.Option("--to", help="Last day, YYYY-MM-DD (default: yesterday).")
    ] = None,
    csv_file: Annotated[
        Path | None,
        typer.Option(
            "--csv",
            help="Import a date,open,high,low,close file (the bundled format).",
            dir_okay=False,
        ),
    ] = None,
    check: Annotated[
        str | None,
        typer.Option(
            "--check",
            help="List the days this series' close differs from --against by more than "
            "--tolerance % (an exchange's missing days are fetched first).",
        ),
    ] = None,
    against: Annotated[
        str | None,
        typer.Option(
            "--against", help="The series --check compares with (default: bitstamp, else bundled)."
        ),
    ] = None,
    tolerance: Annotated[
        str, typer.Option("--tolerance", help="Difference, in percent, --check reports.")
    ] = "1",
    fmt: DataFormatOption = DataFormat.table,
) -> None:
    """Fill the daily price history from an exchange or a CSV file, or cross-check two series.

    Asks only for the days missing from that exchange's series, page by page, pausing
    between pages and waiting out rate limits; each page is stored as it arrives, so a rerun
    adds nothing and an interrupted run resumes where it stopped. Today's candle is still
    open and is never stored. A progress bar shows on a terminal, nothing in a pipe.
    --csv FILE loads a date,open,high,low,close file, all or nothing; --check SERIES lists
    the days it is more than 1 % off another series.

    Example: tracker backfill --source bitstamp --from 2024-01-01
    """
    from tracker.clock import utc_today
    from tracker.daily import backfill as bf
    from tracker.daily import bundled
    from tracker.daily import check as cmp
    from tracker.inputs import optional_date, parse_number
    from tracker.render import render
    from tracker.sources import CANDLES

    obj: Context = ctx.obj
    settings = obj.settings()
    today = utc_today()
    start = optional_date(from_, what="--from", today=today)
    end = optional_date(to, what="--to", today=today)
    if start is not None and end is not None and start > end:
        raise InputError(f"--from {start} is after --to {end}")
    if csv_file is not None:
        if check is not None:
            raise InputError("--csv imports a file; --check compares series: use one of them")
        engine = obj.open(settings).engine
        done = bundled.import_csv(
            engine=engine, path=csv_file, source=source or "csv", start=start, end=end, today=today
        )
        show(done, fmt.value, color=False)
        return
    if check is not None and source is not None:
        raise InputError("--check names the series to fetch and check: drop --source")
    name = check or source or bf.PRIMARY
    if check is None:
        bf.daily_source(name)  # an exchange, or one line saying which ones there are
    tol = parse_number(tolerance, what="--tolerance", example="1 or 0.5", maximum=Decimal(100))
    if check is not None and against == check:
        raise InputError(f"--check {check} --against {against}: compare two different series")
    engine = obj.open(settings).engine
    if name in CANDLES:  # an exchange: fill its missing days first
        result = run_backfill(settings, engine, name, start=start, end=end, today=today)
        if check is None:
            show(result, fmt.value, color=False)
            return
        typer.echo(render(result, "table").rstrip("\n"), err=True)
    with engine.connect() as conn:
        reference = against or cmp.default_reference(conn=conn, source=name)
        checked = cmp.compare(
            conn=conn, source=name, reference=reference, start=start, end=end, tolerance_pct=tol
        )
    show(checked, fmt.value, color=False)


def run_backfill(
    settings: Settings,
    engine: Engine,
    source: str,
    *,
    start: dt.date | None,
    end: dt.date | None,
    today: dt.date,
) -> Any:
    """One backfill with a client built here (the CLI edge), a progress bar on a terminal."""
    import asyncio

    from tracker.daily import backfill as bf
    from tracker.render.progress import ProgressBar
    from tracker.sources.http import make_client

    where = bf.endpoint(settings, source)
    bar = ProgressBar(source, enabled=sys.stderr.isatty())

    async def go() -> bf.BackfillResult:
        async with make_client() as client:
            return await bf.backfill(
                client=client, engine=engine, source=source, start=start, end=end,
                base_url=where.base_url, timeout_s=where.timeout_s, today=today,
                on_plan=bar.plan, on_page=bar.page, on_wait=bar.wait,
            )  # fmt: skip

    with bar.running():
        try:
            return asyncio.run(go())
        except KeyboardInterrupt:
            typer.echo(
                "tracker: interrupted: the pages stored so far are kept; run it again to resume",
                err=True,
            )
            raise typer.Exit(Exit.INTERRUPTED) from None


@app.command()
def history(
    ctx: typer.Context,
    from_: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="First day, YYYY-MM-DD (default: the first observation of the holders shown, "
            "2018-01-01 in the shipped ledger, or the oldest daily close if later).",
        ),
    ] = None,
    to: Annotated[str | None, typer.Option("--to", help="Last day (default: today).")] = None,
    interval: Annotated[
        IntervalChoice, typer.Option("--interval", "-i", help="One row per day, week or month.")
    ] = IntervalChoice.month,
    holder: Annotated[
        list[str] | None,
        typer.Option("--holder", help="Only this sovereign (slug); repeat for several."),
    ] = None,
    as_known_at: Annotated[
        str | None,
        typer.Option(
            "--as-known-at",
            help="Only observations known on this day, YYYY-MM-DD: published by then "
            "(your own: recorded by then); a correction counts once it is known too.",
        ),
    ] = None,
    fmt: DataFormatOption = DataFormat.table,
    chart: Annotated[
        bool, typer.Option("--chart", help="Draw a chart in the terminal instead of the table.")
    ] = False,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output",
            "-o",
            dir_okay=False,
            help="Also write the chart to FILE.png or FILE.svg (needs the charts extra).",
        ),
    ] = None,
) -> None:
    """Show the price and each sovereign's holding and value per day, week or month.

    A period's price is its last daily close; a holding is the holder's headline at the
    period's end, with the rule of `tracker report` (the latest government figure, else the
    latest reserve one): "no data" before its first observation, "undisclosed" when a source
    gives no amount, never 0 for either. Days missing from the daily series are named.

    Example: tracker history --from 2025-01-01 --interval week --holder el-salvador --chart
    """
    from tracker.clock import utc_today
    from tracker.daily import history as timeline
    from tracker.inputs import optional_date
    from tracker.render.daily import gap_lines

    obj: Context = ctx.obj
    today = utc_today()
    start = optional_date(from_, what="--from", today=today)
    end = optional_date(to, what="--to", today=today) or today
    known_at = optional_date(as_known_at, what="--as-known-at", today=today)
    if chart and fmt is not DataFormat.table:
        raise InputError("--chart draws in the terminal, instead of the table: drop --format")
    engine = obj.open().engine
    with engine.connect() as conn:
        start = start or timeline.default_start(
            conn=conn, holders=holder or None, known_at=known_at
        )
        if start is None:
            raise InputError("no daily closes are stored: run `tracker backfill`")
        tl = timeline.build_timeline(
            conn=conn, start=start, end=end, interval=timeline.Interval(interval.value),
            holders=holder or None, known_at=known_at, today=today,
        )  # fmt: skip
    if output is not None:
        from tracker.render.charts import save_image

        save_image(tl, output)
        typer.echo(f"wrote {output}", err=True)
    if chart:
        import shutil

        from tracker.render.charts import terminal_chart

        size = shutil.get_terminal_size((100, 32))
        tty = sys.stdout.isatty()
        text = terminal_chart(tl, width=size.columns, height=max(size.lines - 4, 24), color=tty)
        out(text + "".join(f"{line}\n" for line in gap_lines(tl.missing)))
        return
    show(tl, fmt.value)
    if fmt is DataFormat.csv:
        for gap in tl.missing[:10]:
            typer.echo(f"tracker: warning: no daily close for {gap}", err=True)
