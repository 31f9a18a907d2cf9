# ruff: noqa: I001
"""The `tracker` command line: ``app`` (the Typer app, global options, the one error edge) and
one module per command group; each command loads settings, calls one function, renders."""

from __future__ import annotations

# Imported for their commands, in the order `tracker --help` lists them.
from tracker.cli import report  # noqa: F401
from tracker.cli import prices, service, daily  # noqa: F401
from tracker.cli import holders, holdings, addresses, db, config  # noqa: F401
from tracker.cli import verify  # noqa: F401
from tracker.cli import serve  # noqa: F401
from tracker.cli.app import app


def main() -> None:
    """Console entry point."""
    app()


__all__ = ["app", "main"]
