"""`tracker verify`: check each holder's claim against the chain, from every enabled
explorer, and store the check."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from tracker.cli.app import Context, Format, FormatOption, app, show
from tracker.errors import Exit

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from tracker.config import Settings


@app.command("verify")
def verify(
    ctx: typer.Context,
    holder: Annotated[
        list[str] | None,
        typer.Option("--holder", help="Check only this holder (slug); repeat for more."),
    ] = None,
    fmt: FormatOption = Format.table,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Every address's answer from every explorer.")
    ] = False,
    history: Annotated[
        bool,
        typer.Option(
            "--history",
            help="Instead of a check: rebuild each address's balance per day from its "
            "transactions and store each holder's daily on-chain series (`tracker history` "
            "shows it); resumable, a progress bar on a terminal.",
        ),
    ] = False,
) -> None:
    """Check each holder with addresses against the chain: every enabled explorer reads the
    tip, every address's confirmed balance, then the tip again; the check is verified when
    verify.min_explorers agree on every address at one height, and its total is compared with
    the holder's headline claim (matches within verify.tolerance_btc, else differs). Every
    check is stored with every explorer's answer.

    Exit 0 when every check is verified and matches, 1 when any differs, disagrees or is
    unverified, 2 when no holder (of those asked) has addresses.

    Example: tracker verify --holder el-salvador --format json
    """
    from tracker.render.verify import VerifyReport, exit_code
    from tracker.verify import run_checks

    obj: Context = ctx.obj
    settings = obj.settings()
    opened = obj.open(settings)
    if history:
        _history(settings, opened.engine, holder or None, fmt.value)
        return
    results = run_checks(settings, opened.engine, holder or None)
    if not results:
        which = ", ".join(holder) if holder else "any holder"
        typer.echo(
            f"tracker: error: no addresses to check for {which}: see `tracker addresses list`",
            err=True,
        )
        raise typer.Exit(Exit.USAGE)
    report = VerifyReport(tuple(results), verbose=verbose)
    show(report, fmt.value)
    raise typer.Exit(exit_code(report))


def _history(settings: Settings, engine: Engine, holders: list[str] | None, fmt: str) -> None:
    """`tracker verify --history` (onchain_history.py): exit 0 when every holder asked was
    rebuilt, 1 when an explorer failed (what was stored is kept), 2 when none has addresses."""
    import sys

    from tracker.errors import InputError
    from tracker.onchain_history import rebuild_onchain_history
    from tracker.render.onchain import HistoryProgress

    if fmt not in ("table", "json", "csv"):
        raise InputError(f"--history --format {fmt}: use table, json or csv")
    bar = HistoryProgress(enabled=sys.stderr.isatty())
    with bar.running():
        try:
            run = rebuild_onchain_history(settings, engine, holders, bar)
        except KeyboardInterrupt:
            typer.echo(
                "tracker: interrupted: the transactions stored so far are kept; "
                "run it again to resume",
                err=True,
            )
            raise typer.Exit(Exit.INTERRUPTED) from None
    if run.explorer is None and run.ok:
        typer.echo(
            "tracker: error: no holder has addresses: see `tracker addresses list`", err=True
        )
        raise typer.Exit(Exit.USAGE)
    show(run, fmt)
    if run.error is not None:
        typer.echo(f"tracker: error: {run.error}", err=True)
        raise typer.Exit(Exit.ERROR)
