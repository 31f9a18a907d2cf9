"""`tracker config show`: the settings in force, and where each came from."""

from __future__ import annotations

import typer

from tracker.cli.app import Context, ShortFormat, ShortFormatOption, config_app, out


@config_app.command("show")
def config_show(ctx: typer.Context, fmt: ShortFormatOption = ShortFormat.table) -> None:
    """Print the settings in force and where each came from (the file, or the default).

    Example: tracker config show --format json
    """
    import json

    from tracker.config import describe

    obj: Context = ctx.obj
    settings = obj.settings()
    facts = describe(settings, db=obj.db)
    if fmt is ShortFormat.json:
        out(json.dumps(facts, indent=2, default=str) + "\n")
        return
    out(f"# config file: {facts['file']} ({facts['why']})\n")
    for key, entry in facts["settings"].items():
        value = "null" if entry["value"] is None else json.dumps(entry["value"])
        out(f"{key} = {value}  # {entry['origin']}\n")
