"""The holdings ledger (`tracker holdings list`) as a table, JSON, CSV or Markdown."""

from __future__ import annotations

import json
import textwrap
from decimal import Decimal
from typing import Any

from tracker.models import Bound, Ledger
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


WIDE = 120  # from this many columns the ledger is a grid; below, each source goes under its row


@renders(Ledger, "table")
def render_table(ledger: Ledger, *, width: int, **_: Any) -> str:
    """Holders in the ledger's order, each holder's claims oldest first. On a wide terminal a
    grid; on a narrower one each observation's source is wrapped under its row, full width,
    rather than folded into a column a few words wide."""
    if width >= WIDE:
        return _grid(ledger, width)
    rows = [
        (str(c.id), lg.holder.slug, _amount(c.btc, c.bound), c.as_of.isoformat(), c.basis.value,
         c.source + (f" (note: {c.note})" if c.note else ""))
        for lg in ledger.holders
        for c in lg.claims
    ]  # fmt: skip
    head = ("id", "holder", "btc", "as of", "basis")
    sizes = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(head)]
    right = {0, 2}  # ids and amounts line up on the right

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(
            c.rjust(n) if i in right else c.ljust(n)
            for i, (c, n) in enumerate(zip(cells, sizes, strict=True))
        ).rstrip()

    indent = " " * (sizes[0] + 2)
    out = ["Holdings ledger", "", line(head), "─" * min(width, len(line(head)) + 8)]
    for r in rows:
        out.append(line(r[:5]))
        out += textwrap.wrap(r[5], width=width, initial_indent=indent, subsequent_indent=indent)
    return "\n".join(out) + "\n"


def _amount(btc: Decimal | None, bound: Bound | None) -> str:
    return "undisclosed" if btc is None else f"{BOUND_MARK[bound] if bound else ''}{grouped(btc)}"


def _grid(ledger: Ledger, width: int) -> str:
    from rich.table import Table

    table = Table(title="Holdings ledger", title_justify="left", show_lines=True)
    for column in ("id", "holder", "btc", "as of", "basis"):
        table.add_column(column, no_wrap=True)
    table.add_column("source", overflow="fold", ratio=1)
    for lg in ledger.holders:
        for c in lg.claims:
            source = c.source + (f" (note: {c.note})" if c.note else "")
            table.add_row(*map(cell, (
                str(c.id), lg.holder.slug, _amount(c.btc, c.bound),
                c.as_of.isoformat(), c.basis.value, source,
            )))  # fmt: skip
    console = text_console(width=width)
    console.print(table)
    return console_text(console)
