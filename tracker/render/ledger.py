"""The holdings ledger (`tracker holdings list`) as a table, JSON, CSV or Markdown."""

from __future__ import annotations

import json
from typing import Any

from tracker.models import Ledger
from tracker.render import renders
from tracker.render.report import claim_dict
from tracker.render.text import (
    BOUND_MARK,
    cell,
    console_text,
    csv_text,
    grouped,
    md_row,
    text_console,
)

LEDGER_FIELDS = (
    "id", "holder", "btc", "bound", "as_of", "basis", "source", "note", "cost_basis_usd",
)  # fmt: skip


def ledger_rows(ledger: Ledger) -> list[dict[str, Any]]:
    return [
        {"id": c.id, "holder": lg.holder.slug, **claim_dict(c)}
        for lg in ledger.holders
        for c in lg.claims
    ]


@renders(Ledger, "json")
def render_json(ledger: Ledger, **_: Any) -> str:
    rows = ledger_rows(ledger)
    holders = [
        {
            "slug": lg.holder.slug,
            "name": lg.holder.name,
            "country_code": lg.holder.country_code,
            "population": lg.holder.population,
            "population_source": lg.holder.population_source,
            "observations": [r for r in rows if r["holder"] == lg.holder.slug],
        }
        for lg in ledger.holders
    ]
    return json.dumps({"holders": holders}, indent=2, ensure_ascii=False) + "\n"


@renders(Ledger, "csv")
def render_csv(ledger: Ledger, **_: Any) -> str:
    return csv_text(LEDGER_FIELDS, ledger_rows(ledger))


@renders(Ledger, "markdown")
def render_markdown(ledger: Ledger, **_: Any) -> str:
    lines = [md_row(LEDGER_FIELDS), "|" + "---|" * len(LEDGER_FIELDS)]
    rows = ledger_rows(ledger)
    lines += [md_row("" if r[k] is None else r[k] for k in LEDGER_FIELDS) for r in rows]
    return "\n".join(lines) + "\n"


@renders(Ledger, "table")
def render_table(ledger: Ledger, *, width: int, **_: Any) -> str:
    """Holders in the ledger's order, each holder's claims oldest first; the source column
    takes what the terminal's width leaves and folds."""
    from rich.table import Table

    table = Table(title="Holdings ledger", title_justify="left", show_lines=True)
    for column in ("id", "holder", "btc", "as of", "basis"):
        table.add_column(column, overflow="fold")
    table.add_column("source", overflow="fold", ratio=1)
    for lg in ledger.holders:
        for c in lg.claims:
            mark = BOUND_MARK[c.bound] if c.bound else ""
            source = c.source + (f" (note: {c.note})" if c.note else "")
            table.add_row(*map(cell, (
                str(c.id), lg.holder.slug,
                "undisclosed" if c.btc is None else f"{mark}{grouped(c.btc)}",
                c.as_of.isoformat(), c.basis.value, source,
            )))  # fmt: skip
    console = text_console(width=width)
    console.print(table)
    return console_text(console)
