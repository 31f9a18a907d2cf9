"""`tracker serve`: the read-only web view and JSON API (tracker/web/), served by uvicorn."""

from __future__ import annotations

from typing import Annotated

import typer

from tracker.cli.app import Context, app
from tracker.errors import Exit, InputError


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (loopback unless told).")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", help="Port to listen on.", min=1, max=65535)
    ] = 8000,
) -> None:
    """Serve the web view and the JSON API: the report, each holder's ledger, the sources and
    the method as pages, and /api/report (the JSON of `tracker report --offline`), history,
    holders and status. Read-only, from the stored data only: it never fetches, and runs
    beside `tracker run` on the same database. Ctrl-C stops it.

    Example: tracker serve --port 8000   (then open http://127.0.0.1:8000/)
    """
    import signal
    import socket

    import uvicorn

    from tracker.web.app import create_app

    obj: Context = ctx.obj
    settings = obj.settings()
    engine = obj.open(settings).engine
    if not is_loopback(host):
        typer.echo(
            f"tracker: warning: serving on {host}:{port}, reachable from other machines; "
            "the view is read-only, but put a proxy with TLS in front of it",
            err=True,
        )
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except (OSError, OverflowError) as e:
        sock.close()
        reason = getattr(e, "strerror", None) or str(e)
        raise InputError(f"cannot serve on {host}:{port}: {reason}") from None
    config = uvicorn.Config(
        create_app(settings, engine),
        log_level="info",
        server_header=False,  # no software banner
        proxy_headers=False,  # no client may claim another address
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    shown = f"[{host}]" if ":" in host else host
    typer.echo(f"tracker: serving on http://{shown}:{port}/ (Ctrl-C stops it)", err=True)
    # uvicorn re-raises the signal that stopped it once it has shut down: SIGTERM (systemd's
    # stop) then ends here, exit 0; SIGINT (Ctrl-C) is a KeyboardInterrupt, exit 130.
    previous = signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        typer.echo("tracker: interrupted: the server stopped", err=True)
        raise typer.Exit(Exit.INTERRUPTED) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
        sock.close()


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1 or localhost."""
    import ipaddress

    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
