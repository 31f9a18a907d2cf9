"""The holdings ledger (`tracker holdings list`) and the holders (`tracker holders list`) as a
table, JSON, CSV or Markdown."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from tracker.models import Bound, Claim, HolderInfo, Ledger
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
    "id", "holder", "btc", "bound", "as_of", "basis", "scope", "source", "url", "published",
    "note", "cost_basis_usd", "supersedes", "corrected_by", "origin",
)  # fmt: skip


@dataclass(frozen=True)
class MarkedLedger(Ledger):
    """The ledger with its removed observations among the live ones, marked
    (`holdings list --removed`)."""

    removed: frozenset[int] = frozenset()


def _removed(ledger: Ledger) -> frozenset[int]:
    return ledger.removed if isinstance(ledger, MarkedLedger) else frozenset()


def _fields(ledger: Ledger) -> tuple[str, ...]:
    return (*LEDGER_FIELDS, "removed") if isinstance(ledger, MarkedLedger) else LEDGER_FIELDS


def corrections(ledger: Ledger) -> dict[int, int]:
    """Each corrected observation's id → the id of the live one correcting it (the newest)."""
    gone = _removed(ledger)
    found: dict[int, int] = {}
    for lg in ledger.holders:
        for c in lg.claims:
            if c.supersedes is not None and c.id is not None and c.id not in gone:
                found[c.supersedes] = max(c.id, found.get(c.supersedes, 0))
    return found


def ledger_rows(ledger: Ledger) -> list[dict[str, Any]]:
    fixed, gone = corrections(ledger), _removed(ledger)
    marked = isinstance(ledger, MarkedLedger)
    return [
        {
            "id": c.id,
            "holder": lg.holder.slug,
            **claim_dict(c),
            "corrected_by": None if c.id is None else fixed.get(c.id),
            "origin": c.origin.value,
            **({"removed": c.id in gone} if marked else {}),
        }
        for lg in ledger.holders
        for c in lg.claims
    ]


def _holder_dict(h: HolderInfo) -> dict[str, Any]:
    return {
        "slug": h.slug,
        "name": h.name,
        "country_code": h.country_code,
        "kind": h.kind.value,
        "population": h.population,
        "population_year": h.population_year,
        "population_source": h.population_source,
        "note": h.note,
    }


@renders(Ledger, "json")
def render_json(ledger: Ledger, **_: Any) -> str:
    rows = ledger_rows(ledger)
    holders = [
        {
            **_holder_dict(lg.holder),
            "observations": [r for r in rows if r["holder"] == lg.holder.slug],
        }
        for lg in ledger.holders
    ]
    return json.dumps({"holders": holders}, indent=2, ensure_ascii=False) + "\n"


@renders(Ledger, "csv")
def render_csv(ledger: Ledger, **_: Any) -> str:
    rows = [  # true/false as in JSON, as the report's CSV writes them
        {k: str(v).lower() if isinstance(v, bool) else v for k, v in r.items()}
        for r in ledger_rows(ledger)
    ]
    return csv_text(_fields(ledger), rows)


@renders(Ledger, "markdown")
def render_markdown(ledger: Ledger, **_: Any) -> str:
    fields = _fields(ledger)
    lines = [md_row(fields), "|" + "---|" * len(fields)]
    rows = ledger_rows(ledger)
    lines += [md_row("" if r[k] is None else _md_value(r[k]) for k in fields) for r in rows]
    return "\n".join(lines) + "\n"


WIDE = 160  # from this many columns the ledger is a grid; below, each source goes under its row
INDENT = "    "


def _details(c: Claim, fixed: dict[int, int], gone: frozenset[int]) -> list[str]:
    """What goes under an observation's row: its source and note, then its provenance."""
    source = c.source + (f" (note: {c.note})" if c.note else "")
    facts = ["REMOVED: not used"] if c.id in gone else []
    if c.published is not None:
        facts.append(f"published {c.published.isoformat()}")
    facts.append(f"origin {c.origin.value}")
    if c.supersedes is not None:
        facts.append(f"corrects id {c.supersedes}")
    if c.id is not None and c.id in fixed:
        facts.append(f"CORRECTED by id {fixed[c.id]}: not used")
    return [source, "; ".join(facts)] + ([c.url] if c.url else [])


@renders(Ledger, "table")
def render_table(ledger: Ledger, *, width: int, **_: Any) -> str:
    """Holders in the ledger's order, each holder's claims oldest first. On a wide terminal a
    grid; on a narrower one each holder is a heading and each observation's source, dates and
    link are wrapped under its row, full width, rather than folded into a column a few words
    wide."""
    if width >= WIDE:
        return _grid(ledger, width)
    fixed, gone = corrections(ledger), _removed(ledger)
    rows = [
        (str(c.id), _amount(c.btc, c.bound), c.as_of.isoformat(), c.basis.value, c.scope.value)
        for lg in ledger.holders
        for c in lg.claims
    ]
    head = ("id", "btc", "as of", "basis", "scope")
    sizes = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(head)]
    right = {0, 1}  # ids and amounts line up on the right

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(
            c.rjust(n) if i in right else c.ljust(n)
            for i, (c, n) in enumerate(zip(cells, sizes, strict=True))
        ).rstrip()

    out = ["Holdings ledger", "", line(head), "─" * min(width, len(line(head)) + 4)]
    at = 0
    for lg in ledger.holders:
        out += textwrap.wrap(f"{lg.holder.slug} ({lg.holder.name})", width=width)
        for c in lg.claims:
            out.append(line(rows[at]))
            at += 1
            for text in _details(c, fixed, gone):
                out += textwrap.wrap(
                    text, width=width, initial_indent=INDENT, subsequent_indent=INDENT,
                    break_on_hyphens=False,
                )  # fmt: skip
    return "\n".join(out) + "\n"


def _amount(btc: Decimal | None, bound: Bound | None) -> str:
    return "undisclosed" if btc is None else f"{BOUND_MARK[bound] if bound else ''}{grouped(btc)}"


def _grid(ledger: Ledger, width: int) -> str:
    from rich.table import Table

    fixed, gone = corrections(ledger), _removed(ledger)
    table = Table(title="Holdings ledger", title_justify="left", show_lines=True)
    for column in ("id", "holder", "btc", "as of", "basis", "scope"):
        table.add_column(column, no_wrap=True)
    table.add_column("source", overflow="fold", ratio=1)
    for lg in ledger.holders:
        for c in lg.claims:
            table.add_row(*map(cell, (
                str(c.id), lg.holder.slug, _amount(c.btc, c.bound),
                c.as_of.isoformat(), c.basis.value, c.scope.value,
                "\n".join(_details(c, fixed, gone)),
            )))  # fmt: skip
    console = text_console(width=width)
    console.print(table)
    return console_text(console)


# --- holders ------------------------------------------------------------------------------


@dataclass(frozen=True)
class HolderEntry:
    holder: HolderInfo
    observations: int  # live ones
    removed: bool = False


@dataclass(frozen=True)
class HolderList:
    """The holders, as `tracker holders list` shows them."""

    entries: tuple[HolderEntry, ...]


HOLDER_FIELDS = (
    "slug", "name", "country_code", "kind", "population", "population_year",
    "population_source", "note", "observations", "removed",
)  # fmt: skip


def _entry_dict(e: HolderEntry) -> dict[str, Any]:
    return {
        "id": e.holder.id,
        **_holder_dict(e.holder),
        "observations": e.observations,
        "removed": e.removed,
    }


@renders(HolderList, "json")
def holders_json(holders: HolderList, **_: Any) -> str:
    rows = [_entry_dict(e) for e in holders.entries]
    return json.dumps({"holders": rows}, indent=2, ensure_ascii=False) + "\n"


@renders(HolderList, "csv")
def holders_csv(holders: HolderList, **_: Any) -> str:
    """A holders.csv (the shipped ledger's columns): what `holders list -f csv` gives."""
    from tracker.ledger_csv import write_holders

    return write_holders(e.holder for e in holders.entries)


@renders(HolderList, "markdown")
def holders_markdown(holders: HolderList, **_: Any) -> str:
    fields = _shown_fields(holders.entries)
    lines = [md_row(fields), "|" + "---|" * len(fields)]
    for e in holders.entries:  # no ids: the Markdown is for reading
        row = _entry_dict(e)
        lines.append(md_row("" if row[k] is None else _md_value(row[k]) for k in fields))
    return "\n".join(lines) + "\n"


def _shown_fields(entries: Sequence[HolderEntry]) -> tuple[str, ...]:
    return HOLDER_FIELDS if any(e.removed for e in entries) else HOLDER_FIELDS[:-1]


def _md_value(value: object) -> object:
    return "yes" if value is True else "" if value is False else value


@renders(HolderList, "table")
def holders_table(holders: HolderList, *, width: int, **_: Any) -> str:
    """One line per holder (slug, country, kind, population, observations), its name,
    population source and note wrapped under it: the same at any width."""
    rows = [
        (e.holder.slug, e.holder.country_code or "", e.holder.kind.value,
         "" if e.holder.population is None else f"{e.holder.population:,}", str(e.observations))
        for e in holders.entries
    ]  # fmt: skip
    head = ("slug", "cc", "kind", "population", "obs")
    sizes = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(head)]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(
            c.rjust(n) if i >= 3 else c.ljust(n)
            for i, (c, n) in enumerate(zip(cells, sizes, strict=True))
        ).rstrip()

    out = ["Holders", "", line(head), "─" * min(width, len(line(head)))]
    for e, row in zip(holders.entries, rows, strict=True):
        out.append(line(row))
        h = e.holder
        details = [("REMOVED: " if e.removed else "") + h.name]
        if h.population is not None:
            year = "" if h.population_year is None else f" ({h.population_year})"
            details.append(f"population{year}: {h.population_source or 'no source given'}")
        if h.note:
            details.append(f"note: {h.note}")
        for text in details:
            out += textwrap.wrap(
                text, width=width, initial_indent=INDENT, subsequent_indent=INDENT,
                break_on_hyphens=False,
            )  # fmt: skip
    return "\n".join(out) + "\n"
