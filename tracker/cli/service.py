"""The service: `tracker run` (the scheduler) and `tracker status` (freshness and health)."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Annotated

import typer

from tracker.cli.app import Context, ShortFormat, ShortFormatOption, app, show
from tracker.errors import InputError


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

    One service per database: on SQLite a second one exits 1 naming the first; on
    PostgreSQL several elect one leader, and the others stand by to take over.

    Exit status: 0 stopped by SIGTERM or SIGINT (the round in flight ends first), or with
    --once a round that stored a consensus; 1 another instance serves the database (or it
    cannot be locked), or with --once a degraded round; 3 the database stayed unreachable
    for schedule.max_db_failures rounds; 4 the scheduler stalled or failed. Restart it on 3
    and 4 (the systemd unit does).

    Example: tracker run --metrics-port 9108 --log-format json
    """
    from tracker.service.locks import lock_for
    from tracker.service.logs import setup_logging
    from tracker.service.metrics import Metrics
    from tracker.service.service import Service

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
    from tracker.clock import utc_now
    from tracker.sources import SPOT
    from tracker.status import gather_status
    from tracker.store.engine import read_session, redact_url
    from tracker.store.migrate import SCHEMA_HEAD

    obj: Context = ctx.obj
    settings = obj.settings()
    engine = obj.open(settings).engine
    with read_session(engine) as session:
        result = gather_status(
            session=session,
            now=utc_now(),
            max_price_age=dt.timedelta(seconds=settings.report.max_price_age_s),
            source_names=list(SPOT),
            database_url=redact_url(engine.url.render_as_string(hide_password=False)),
            schema=SCHEMA_HEAD,
        )
    show(result, fmt.value, color=False)
    raise typer.Exit(result.exit_code)
