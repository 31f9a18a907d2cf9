"""`tracker verify`: check each holder's claim against the chain, from every enabled
explorer, and store the check."""

from __future__ import annotations

from typing import Annotated

import typer

from tracker.cli.app import Context, Format, FormatOption, app, show
from tracker.errors import Exit


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
