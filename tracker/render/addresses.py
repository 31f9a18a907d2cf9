"""The address books (`tracker addresses list`) as a table, JSON, CSV or Markdown."""

from __future__ import annotations

import datetime as dt
import json
import textwrap
from dataclasses import asdict, dataclass
from typing import Any

from tracker.render import renders
from tracker.render.text import iso, md_row


@dataclass(frozen=True)
class AddressRow:
    id: int
    holder: str
    address: str
    type: str  # p2pkh, p2sh, p2wpkh, p2wsh, p2tr or witness_vN
    kind: str  # official or attributed
    label: str | None
    attributor: str | None
    source: str | None
    url: str | None
    as_of: dt.date | None
    note: str | None
    origin: str
    recorded_at: dt.datetime


@dataclass(frozen=True)
class AddressList:
    """The addresses in use, holder by holder, as `tracker addresses list` shows them."""

    rows: tuple[AddressRow, ...]


def _dict(row: AddressRow) -> dict[str, Any]:
    d = asdict(row)
    d["as_of"] = None if row.as_of is None else row.as_of.isoformat()
    d["recorded_at"] = iso(row.recorded_at)
    return d


@renders(AddressList, "json")
def addresses_json(book: AddressList, **_: Any) -> str:
    rows = [_dict(r) for r in book.rows]
    return json.dumps({"addresses": rows}, indent=2, ensure_ascii=False) + "\n"


@renders(AddressList, "csv")
def addresses_csv(book: AddressList, **_: Any) -> str:
    """An addresses.csv (the shipped ledger's columns)."""
    from tracker.addresses import AddressEntry
    from tracker.ledger_csv import write_addresses

    return write_addresses(
        AddressEntry(
            holder=r.holder, address=r.address, type=r.type, kind=r.kind, label=r.label,
            attributor=r.attributor, source=r.source, url=r.url, as_of=r.as_of, note=r.note,
        )
        for r in book.rows
    )  # fmt: skip


MD_FIELDS = ("id", "holder", "address", "type", "kind", "label", "attributor", "source", "url",
             "as_of", "note", "origin")  # fmt: skip


@renders(AddressList, "markdown")
def addresses_markdown(book: AddressList, **_: Any) -> str:
    lines = [md_row(MD_FIELDS), "|" + "---|" * len(MD_FIELDS)]
    for r in book.rows:
        d = _dict(r)
        lines.append(md_row("" if d[k] is None else d[k] for k in MD_FIELDS))
    return "\n".join(lines) + "\n"


def _details(r: AddressRow) -> list[str]:
    """What goes under an address: what it is, who says so and when, the source, the note."""
    head = f"{r.kind}, {r.type}" + (f": {r.label}" if r.label else "")
    said = [f"by {r.attributor}"] if r.attributor else []
    said.append(f"as of {r.as_of.isoformat()}" if r.as_of else "date not given")
    said.append(f"origin {r.origin}")
    lines = [head, "; ".join(said)]
    if r.source:
        lines.append(f"source: {r.source}")
    if r.url:
        lines.append(r.url)
    if r.note:
        lines.append(f"note: {r.note}")
    return lines


@renders(AddressList, "table")
def addresses_table(book: AddressList, *, width: int, **_: Any) -> str:
    """Each holder a heading, each address a line (id, address), what is known of it wrapped
    under it: the same at any width, long addresses and links broken to fit."""
    size = max([2, *(len(str(r.id)) for r in book.rows)])
    out = ["Addresses", ""]
    if not book.rows:
        return "\n".join([*out, "No addresses."]) + "\n"
    holder, pad = None, " " * (size + 2)
    for r in book.rows:
        if r.holder != holder:
            holder = r.holder
            out += textwrap.wrap(holder, width=width)
        out += textwrap.wrap(
            f"{str(r.id).rjust(size)}  {r.address}", width=width, subsequent_indent=pad
        )
        for text in _details(r):
            out += textwrap.wrap(
                text, width=width, initial_indent=pad, subsequent_indent=pad,
                break_on_hyphens=False,
            )  # fmt: skip
    return "\n".join(out) + "\n"
