"""The `tracker` command line: each command loads settings, calls one function, renders.

Heavy libraries (SQLAlchemy, httpx, APScheduler) are imported inside the commands, so
`tracker --help` stays fast.
"""

from __future__ import annotations

import datetime as dt
import sys
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

from tracker.errors import InputError, TrackerError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from tracker.config import Settings
    from tracker.db import Opened
    from tracker.models import RoundReport


class _Group(TyperGroup):
    """Errors meant for the user cross into exit codes here, once, for every command."""

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except TrackerError as e:
            typer.echo(f"tracker: error: {e}", err=True)
            raise typer.Exit(1) from None
        except typer.TyperException as e:
            if getattr(e, "exit_code", None) != 2:  # only usage errors (click's UsageError)
                raise
            where = getattr(getattr(e, "ctx", None), "command_path", None) or "tracker"
            message = e.format_message().replace("Value error, ", "")
            typer.echo(f"tracker: error: {message} (see `{where} --help`)", err=True)
            raise typer.Exit(2) from None
        except Exception as e:
            # The database failing after it was opened (locked past the busy timeout, the
            # connection lost, the disk full): the operation was rolled back; say so in a line.
            sa_exc = sys.modules.get("sqlalchemy.exc")
            if sa_exc is None or not isinstance(e, sa_exc.OperationalError):
                raise
            reason = str(e.orig).strip().splitlines()[0] if e.orig else type(e).__name__
            typer.echo(
                f"tracker: error: the database failed ({reason}); nothing was changed, try again",
                err=True,
            )
            raise typer.Exit(1) from None


app = typer.Typer(
    cls=_Group,
    help="Value and compare sovereign Bitcoin reserves, with every figure sourced.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # never print secrets (database URLs) in a traceback
    rich_markup_mode="markdown",  # help paragraphs reflow to the terminal's width
    add_completion=False,
)
holdings_app = typer.Typer(help="The holdings ledger: sourced observations per holder.")
db_app = typer.Typer(help="The database: schema upgrades and facts.")
app.add_typer(holdings_app, name="holdings")
app.add_typer(db_app, name="db")


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"


class ShortFormat(StrEnum):
    table = "table"
    json = "json"


ShortFormatOption = Annotated[
    ShortFormat, typer.Option("--format", "-f", help="table or json.", case_sensitive=False)
]

FormatOption = Annotated[
    Format, typer.Option("--format", "-f", help="Output format.", case_sensitive=False)
]


@dataclass
class Context:
    config: Path | None
    db: str | None

    def settings(self) -> Settings:
        from tracker.config import load_settings

        return load_settings(self.config)

    def open(self, settings: Settings | None = None) -> Opened:
        from tracker.config import database_url
        from tracker.db import open_database

        settings = settings or self.settings()
        url = database_url(settings, self.db)
        explicit = bool(self.db) or _env_db() or bool(settings.database.url)
        return open_database(url, settings=settings, create_dirs=not explicit)


def _env_db() -> bool:
    import os

    return bool(os.environ.get("TRACKER_DATABASE_URL"))


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def out(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


@app.callback()
def _global(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            envvar="TRACKER_CONFIG",
            help="Config file (default: ./config.toml, "
            "then the user config dir, then the packaged default).",
            show_envvar=True,
        ),
    ] = None,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            help="Database URL (env TRACKER_DATABASE_URL; default: SQLite in the user data dir).",
        ),
    ] = None,
) -> None:
    """Value and compare sovereign Bitcoin reserves, with every figure sourced.

    Example: tracker report --at 2025-04-14 --format json
    """
    ctx.obj = Context(config=config, db=db)


# --- parsing helpers ---------------------------------------------------------------------------


GENESIS = dt.date(2009, 1, 3)  # nothing about bitcoin can be valued before its first block


def parse_at(text: str, *, current: dt.datetime) -> dt.datetime:
    """A date (the end of that UTC day) or an ISO datetime (UTC when no offset is given)."""
    from tracker.valuation import end_of_day

    text = text.strip()
    try:
        try:
            day = dt.date.fromisoformat(text)  # 2025-04-14 or 20250414
        except ValueError:
            parsed = dt.datetime.fromisoformat(text)
            instant = parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed
            instant = instant.astimezone(dt.UTC)
        else:
            instant = current if day == current.date() else end_of_day(day)  # today: now
    except ValueError:
        raise InputError(
            f"--at {text!r} is not a date or datetime: use YYYY-MM-DD or YYYY-MM-DDTHH:MM[:SS]Z"
        ) from None
    except OverflowError:
        raise InputError(f"--at {text!r} is out of range") from None
    if instant > current:
        raise InputError(f"--at {text} is in the future (now is {current:%Y-%m-%dT%H:%M:%SZ})")
    if instant.date() < GENESIS:
        raise InputError(f"--at {text} is before bitcoin's first block ({GENESIS})")
    return instant


# --- report ------------------------------------------------------------------------------------


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
    fmt: FormatOption = Format.table,
) -> None:
    """Value each holder's reserve and compare them: the main job.

    Every row names its source, basis and date; the price line names its kind,
    timestamp, sources and age, and flags it when stale.

    Example: tracker report --at 2025-04-14 --format json
    """
    from tracker.holdings import parse_number
    from tracker.report import render
    from tracker.reporting import assemble_report
    from tracker.store import read_session

    obj: Context = ctx.obj
    current = now()
    instant = None if at is None else parse_at(at, current=current)
    price = (
        None
        if what_if is None
        else parse_number(what_if, what="--what-if", example="100000", maximum=Decimal(10) ** 12)
    )
    settings = obj.settings()
    opened = obj.open(settings)
    notes: list[str] = []
    if not offline and instant is None and price is None:
        notes = refresh_if_stale(settings, opened.engine, current)
        current = now()
    with read_session(opened.engine) as session:
        result = assemble_report(
            session=session,
            at=instant,
            now=current,
            max_price_age=dt.timedelta(seconds=settings.report.max_price_age_s),
            what_if=price,
            warnings=notes,
            all_estimates=all_estimates,
        )
    out(render(result, fmt.value, color=fmt is Format.table and sys.stdout.isatty()))


def live_round(settings: Settings, engine: Engine, *, budget_s: float | None = None) -> RoundReport:
    """One fetch round with a client built here (the CLI edge)."""
    import asyncio

    from tracker.pipeline import run_once
    from tracker.sources._http import make_client

    async def go() -> RoundReport:
        async with make_client() as client:
            return await run_once(
                client=client, engine=engine, settings=settings, budget_s=budget_s
            )

    return asyncio.run(go())


def refresh_if_stale(settings: Settings, engine: Engine, current: dt.datetime) -> list[str]:
    """Run one round when the newest consensus is older than report.max_price_age_s;
    return a warning when that fails (the report then uses stored prices)."""
    from collections import Counter

    from tracker.models import PriceKind
    from tracker.reporting import choose_price
    from tracker.store import read_session

    max_age = dt.timedelta(seconds=settings.report.max_price_age_s)
    with read_session(engine) as session:
        choice = choose_price(session=session, at=current, max_age=max_age)
    if choice is not None and choice.point.kind is PriceKind.CONSENSUS and not choice.stale:
        return []
    rr = live_round(settings, engine, budget_s=settings.report.fetch_timeout_s)
    if rr.price is not None:
        return []
    counts = Counter(line.outcome.value for line in rr.lines)
    summary = ", ".join(f"{n} {outcome}" for outcome, n in counts.most_common())
    return [
        f"could not fetch a live price (round {rr.status.value}: {summary}; see `tracker "
        "sources`); using stored prices"
    ]


# --- fetch and sources ---------------------------------------------------------------------


@app.command()
def fetch(ctx: typer.Context, fmt: FormatOption = Format.table) -> None:
    """Run one fetch round now: ask every enabled source, store the consensus.

    Prints each source's price, latency and outcome, then the consensus. Exit 0 when a
    consensus was stored, 1 when the round was degraded or failed.

    Example: tracker fetch --format json
    """
    from tracker.report import render_round

    obj: Context = ctx.obj
    settings = obj.settings()
    rr = live_round(settings, obj.open(settings).engine)
    out(render_round(rr, fmt.value))
    if rr.price is None:
        raise typer.Exit(1)


@app.command()
def sources(ctx: typer.Context, fmt: FormatOption = Format.table) -> None:
    """List the price sources: role, base URL, last success, success rate, last error.

    Example: tracker sources --format json
    """
    from tracker.report import iso, render_sources
    from tracker.sources import REGISTRY
    from tracker.store import read_session, source_health

    obj: Context = ctx.obj
    settings = obj.settings()
    entries = []
    with read_session(obj.open(settings).engine) as session:
        for name, src in REGISTRY.items():
            health = source_health(session=session, source=name)
            cfg = settings.sources[name]
            entries.append(
                {
                    "name": name,
                    "role": src.role,
                    "enabled": cfg.enabled,
                    "base_url": cfg.base_url,
                    "timeout_s": cfg.timeout_s,
                    "last_success": None
                    if health.last_success is None
                    else iso(health.last_success),
                    "asked": health.asked,
                    "accepted": health.accepted,
                    "success_rate": None
                    if not health.asked
                    else round(health.accepted / health.asked, 4),
                    "last_error_at": None
                    if health.last_error_at is None
                    else iso(health.last_error_at),
                    "last_error": health.last_error,
                }
            )
    out(render_sources(entries, fmt.value))


# --- the service ---------------------------------------------------------------------------


class LogFormat(StrEnum):
    text = "text"
    json = "json"


@app.command()
def run(
    ctx: typer.Context,
    once: Annotated[
        bool, typer.Option("--once", help="Run one round and exit (like fetch).")
    ] = False,
    metrics_port: Annotated[
        int | None,
        typer.Option(
            "--metrics-port", help="Serve Prometheus metrics on this port.", min=1, max=65535
        ),
    ] = None,
    metrics_addr: Annotated[
        str, typer.Option("--metrics-addr", help="Address for the metrics server.")
    ] = "127.0.0.1",
    log_format: Annotated[
        LogFormat, typer.Option("--log-format", help="text, or json for log collectors.")
    ] = LogFormat.text,
) -> None:
    """Run the background service: a fetch round every schedule.interval_s seconds and
    yesterday's daily close shortly after 00:00 UTC. One log line per round on stderr.

    One service per database (a second one exits 1 naming the first). SIGTERM or SIGINT
    ends the round in flight and exits 0. Exit 3: the database stayed unreachable.

    Example: tracker run --metrics-port 9108 --log-format json
    """
    from tracker.scheduler import Metrics, Service, lock_for, setup_logging

    obj: Context = ctx.obj
    settings = obj.settings()
    engine = obj.open(settings).engine
    setup_logging(log_format.value)
    metrics = None
    if metrics_port is not None:
        metrics = Metrics.create()
        try:
            metrics.serve(metrics_port, metrics_addr)
        except OSError as e:
            raise InputError(
                f"cannot serve metrics on {metrics_addr}:{metrics_port}: {e.strerror}"
            ) from None
    service = Service(settings=settings, engine=engine, lock=lock_for(engine), metrics=metrics)
    code = service.run_once() if once else service.run()
    raise typer.Exit(code)


@app.command()
def status(ctx: typer.Context, fmt: ShortFormatOption = ShortFormat.table) -> None:
    """Show freshness, the last rounds, per-source health and the database.

    Exit 0 when the price is fresh, 1 when stale or the last round was degraded, 2 when
    nothing was ever fetched: usable from cron or a monitoring check.

    Example: tracker status --format json
    """
    from tracker.report import render_status
    from tracker.reporting import gather_status
    from tracker.sources import REGISTRY
    from tracker.store import SCHEMA_HEAD, read_session

    obj: Context = ctx.obj
    settings = obj.settings()
    engine = obj.open(settings).engine
    with read_session(engine) as session:
        data = gather_status(
            session=session,
            now=now(),
            max_price_age=dt.timedelta(seconds=settings.report.max_price_age_s),
            source_names=list(REGISTRY),
        )
    data["database"] = {
        "url": engine.url.render_as_string(hide_password=True),
        "schema": SCHEMA_HEAD,
    }
    out(render_status(data, fmt.value))
    raise typer.Exit({"fresh": 0, "stale": 1, "degraded": 1, "never": 2}[data["status"]])


# --- daily history: backfill and history -------------------------------------------------------


class DataFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


DataFormatOption = Annotated[
    DataFormat, typer.Option("--format", "-f", help="Output format.", case_sensitive=False)
]


class IntervalChoice(StrEnum):
    day = "day"
    week = "week"
    month = "month"


def day_option(text: str | None, *, what: str, today: dt.date) -> dt.date | None:
    from tracker.holdings import parse_date

    return None if text is None else parse_date(text, today=today, what=what)


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
    from tracker import backfill as bf

    obj: Context = ctx.obj
    settings = obj.settings()
    today = now().date()
    start = day_option(from_, what="--from", today=today)
    end = day_option(to, what="--to", today=today)
    if start is not None and end is not None and start > end:
        raise InputError(f"--from {start} is after --to {end}")
    if csv_file is not None:
        if check is not None:
            raise InputError("--csv imports a file; --check compares series: use one of them")
        engine = obj.open(settings).engine
        done = bf.import_csv(
            engine=engine, path=csv_file, source=source or "csv", start=start, end=end, today=today
        )
        out(bf.render_summary(done, fmt.value))
        return
    if check is not None and source is not None:
        raise InputError("--check names the series to fetch and check: drop --source")
    name = check or source or bf.PRIMARY
    if check is None:
        bf.daily_source(name)  # an exchange, or one line saying which ones there are
    from tracker.holdings import parse_number

    tol = parse_number(tolerance, what="--tolerance", example="1 or 0.5", maximum=Decimal(100))
    if check is not None and against == check:
        raise InputError(f"--check {check} --against {against}: compare two different series")
    engine = obj.open(settings).engine
    if name in bf.SOURCES:  # an exchange: fill its missing days first
        result = run_backfill(settings, engine, name, start=start, end=end, today=today)
        if check is None:
            out(bf.render_summary(result, fmt.value))
            return
        for line in result.lines():
            typer.echo(line, err=True)
    with engine.connect() as conn:
        reference = against or bf.default_reference(conn=conn, source=name)
        checked = bf.compare(
            conn=conn, source=name, reference=reference, start=start, end=end, tolerance_pct=tol
        )
    out(bf.render_check(checked, fmt.value))


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

    from tracker import backfill as bf
    from tracker.sources._http import make_client

    where = bf.endpoint(settings, source)
    bar = bf.ProgressBar(source, enabled=sys.stderr.isatty())

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
            raise typer.Exit(130) from None


@app.command()
def history(
    ctx: typer.Context,
    from_: Annotated[
        str | None,
        typer.Option("--from", help="First day, YYYY-MM-DD (default: the oldest daily close)."),
    ] = None,
    to: Annotated[str | None, typer.Option("--to", help="Last day (default: today).")] = None,
    interval: Annotated[
        IntervalChoice, typer.Option("--interval", "-i", help="One row per day, week or month.")
    ] = IntervalChoice.month,
    holder: Annotated[
        list[str] | None,
        typer.Option("--holder", help="Only this holder (slug); repeat for several."),
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
    """Show the price and each holder's holding and value per day, week or month.

    A period's price is its last daily close; holdings follow the ledger as of the period's
    end, with the rule of `tracker report`. Days missing from the daily series are named.

    Example: tracker history --from 2025-01-01 --interval week --holder el-salvador --chart
    """
    from tracker import timeline
    from tracker.store import daily_span

    obj: Context = ctx.obj
    today = now().date()
    start = day_option(from_, what="--from", today=today)
    end = day_option(to, what="--to", today=today) or today
    if chart and fmt is not DataFormat.table:
        raise InputError("--chart draws in the terminal, instead of the table: drop --format")
    engine = obj.open().engine
    with engine.connect() as conn:
        start = start or daily_span(conn=conn)[0]
        if start is None:
            raise InputError("no daily closes are stored: run `tracker backfill`")
        tl = timeline.build_timeline(
            conn=conn, start=start, end=end, interval=timeline.Interval(interval.value),
            holders=holder or None, today=today,
        )  # fmt: skip
    if output is not None:
        from tracker.charts import save_image

        save_image(tl, output)
        typer.echo(f"wrote {output}", err=True)
    if chart:
        import shutil

        from tracker.charts import terminal_chart

        size = shutil.get_terminal_size((100, 32))
        tty = sys.stdout.isatty()
        text = terminal_chart(tl, width=size.columns, height=max(size.lines - 4, 24), color=tty)
        out(text + "".join(f"{line}\n" for line in timeline.gap_lines(tl.missing)))
        return
    out(timeline.render(tl, fmt.value, color=fmt is DataFormat.table and sys.stdout.isatty()))
    if fmt is DataFormat.csv:
        for gap in tl.missing[:10]:
            typer.echo(f"tracker: warning: no daily close for {gap}", err=True)


# --- holdings ----------------------------------------------------------------------------------


@holdings_app.command("list")
def holdings_list(
    ctx: typer.Context,
    holder: Annotated[str | None, typer.Argument(help="Only this holder (slug).")] = None,
    fmt: FormatOption = Format.table,
) -> None:
    """List every observation in the ledger, oldest first, with its id, basis and source.

    Example: tracker holdings list united-states --format csv
    """
    from tracker.holdings import load_ledgers
    from tracker.report import render_ledger
    from tracker.store import read_session

    obj: Context = ctx.obj
    with read_session(obj.open().engine) as session:
        ledgers = load_ledgers(session=session)
    if holder is not None:
        ledgers = [lg for lg in ledgers if lg.holder.slug == holder]
        if not ledgers:
            raise InputError(f"unknown holder {holder!r}: run `tracker holdings list` to see them")
    out(render_ledger(ledgers, fmt.value))


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
    from tracker.holdings import make_claim, parse_date
    from tracker.models import HolderInfo
    from tracker.store import get_holder, write_session

    today = now().date()
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
    from tracker.store import write_session

    obj: Context = ctx.obj
    with write_session(obj.open().engine) as session:
        obs = remove_observation(session=session, observation_id=observation_id)
        text = f"removed observation {obs.id} (as of {obs.as_of}, {obs.basis}: {obs.source})\n"
    out(text)


@holdings_app.command("sync")
def holdings_sync(ctx: typer.Context) -> None:
    """Re-apply the holders and seed observations of the config; idempotent, never deletes.

    Example: tracker --config config.toml holdings sync
    """
    from tracker.holdings import sync_seeds
    from tracker.store import write_session

    obj: Context = ctx.obj
    settings = obj.settings()
    with write_session(obj.open(settings).engine) as session:
        result = sync_seeds(session=session, settings=settings, today=now().date())
    out(f"{result.added} added, {result.present} already present\n")
    for conflict in result.conflicts:
        typer.echo(f"tracker: warning: {conflict}", err=True)


# --- db ----------------------------------------------------------------------------------------


@db_app.command("upgrade")
def db_upgrade(ctx: typer.Context) -> None:
    """Create the database or migrate it to the newest schema (opening it does this too).

    Example: tracker --db postgresql+psycopg://tracker@db/tracker db upgrade
    """
    from tracker.store import SCHEMA_HEAD

    obj: Context = ctx.obj
    opened = obj.open()
    if opened.created:
        out(f"created database at schema {SCHEMA_HEAD}, with bundled history and seeds\n")
    elif opened.upgraded_from != SCHEMA_HEAD:
        out(f"upgraded schema {opened.upgraded_from} -> {SCHEMA_HEAD}\n")
    else:
        out(f"schema is current ({SCHEMA_HEAD})\n")


@db_app.command("info")
def db_info(ctx: typer.Context, fmt: ShortFormatOption = ShortFormat.table) -> None:
    """Show where the database is (password hidden), its schema and row counts.

    Example: tracker db info --format json
    """
    import json

    from tracker.db import guard, info

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


def main() -> None:
    """Console entry point."""
    app()
