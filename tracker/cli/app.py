"""The Typer app, its global options and the one error edge: every ``TrackerError`` becomes one
line on stderr and ``Exit.ERROR``, every usage error one line and ``Exit.USAGE``, here and
nowhere else. Commands live in the modules beside this one, one per command group.

Heavy libraries (SQLAlchemy, httpx, APScheduler) are imported inside the commands, so
`tracker --help` stays fast.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

from tracker import __version__
from tracker.errors import Exit, TrackerError

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from tracker.config import Settings
    from tracker.store.migrate import Opened


class _Group(TyperGroup):
    """Errors meant for the user cross into exit codes here, once, for every command."""

    def make_context(
        self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any
    ) -> Any:
        """The root's own options are parsed here, before any command is invoked."""
        try:
            return super().make_context(info_name, args, parent=parent, **extra)
        except typer.TyperException as e:
            _usage_error(e)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except TrackerError as e:
            typer.echo(f"tracker: error: {_one_line(str(e))}", err=True)
            raise typer.Exit(Exit.ERROR) from None
        except typer.TyperException as e:
            _usage_error(e)


def _usage_error(e: Exception) -> NoReturn:
    """A usage error (click's UsageError) as one line and Exit.USAGE; anything else goes on."""
    if getattr(e, "exit_code", None) != Exit.USAGE or not hasattr(e, "format_message"):
        raise e
    where = getattr(getattr(e, "ctx", None), "command_path", None) or "tracker"
    message = e.format_message().replace("Value error, ", "")
    typer.echo(f"tracker: error: {_one_line(message)} (see `{where} --help`)", err=True)
    raise typer.Exit(Exit.USAGE) from None


def _one_line(text: str) -> str:
    from tracker.render.text import clean

    return clean(" ".join(text.split()))


app = typer.Typer(
    cls=_Group,
    help="Value and compare sovereign Bitcoin reserves, with every figure sourced.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # never print secrets (database URLs) in a traceback
    rich_markup_mode=None,  # plain help: Rich's markdown mode imports markdown-it on every --help
    add_completion=True,
)
holdings_app = typer.Typer(help="The holdings ledger: sourced observations per holder.")
holders_app = typer.Typer(help="The holders: who the ledger's observations are about.")
db_app = typer.Typer(
    help="The database: schema upgrades, facts, and its rows copied, exported and imported."
)
config_app = typer.Typer(help="The configuration: what is in force and where it came from.")
addresses_app = typer.Typer(help="The address books: each holder's Bitcoin addresses, checked.")
app.add_typer(holders_app, name="holders")
app.add_typer(holdings_app, name="holdings")
app.add_typer(addresses_app, name="addresses")
app.add_typer(db_app, name="db")
app.add_typer(config_app, name="config")


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"
    markdown = "markdown"


class ShortFormat(StrEnum):
    table = "table"
    json = "json"


class DataFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


FormatOption = Annotated[
    Format, typer.Option("--format", "-f", help="Output format.", case_sensitive=False)
]
ShortFormatOption = Annotated[
    ShortFormat, typer.Option("--format", "-f", help="table or json.", case_sensitive=False)
]
DataFormatOption = Annotated[
    DataFormat, typer.Option("--format", "-f", help="Output format.", case_sensitive=False)
]


@dataclass
class Context:
    """What the global options chose; commands ask it for settings and the database."""

    config: Path | None
    db: str | None
    engines: list[Engine] = field(default_factory=list)

    def settings(self) -> Settings:
        from tracker.config import load_settings

        return load_settings(self.config)

    def open(self, settings: Settings | None = None) -> Opened:
        import os

        from tracker.config import database_url
        from tracker.store.migrate import open_database

        settings = settings or self.settings()
        url = database_url(settings, self.db)
        explicit = bool(self.db or os.environ.get("TRACKER_DATABASE_URL") or settings.database.url)
        opened = open_database(url, settings=settings, create_dirs=not explicit)
        self.engines.append(opened.engine)
        return opened

    def close(self) -> None:
        """Dispose of the engines the command opened: their connections close with the
        command (an in-process caller, a test, keeps none open)."""
        while self.engines:
            self.engines.pop().dispose()


def out(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def show(result: Any, fmt: str, *, color: bool | None = None) -> None:
    """Print ``result`` rendered as ``fmt`` (colour on a terminal, for tables)."""
    from tracker.render import render

    if color is None:
        color = fmt == "table" and sys.stdout.isatty()
    out(render(result, fmt, color=color))


def _version(value: bool) -> None:
    if value:
        typer.echo(f"tracker {__version__}")
        raise typer.Exit()


@app.callback()
def _global(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            envvar="TRACKER_CONFIG",
            help="Config file (default: ./config.toml when it is tracker's, "
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
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Value and compare sovereign Bitcoin reserves, with every figure sourced.

    Example: tracker report --at 2025-04-14 --format json
    """
    ctx.obj = Context(config=config, db=db)
    ctx.call_on_close(ctx.obj.close)
