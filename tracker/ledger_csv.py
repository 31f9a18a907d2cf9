"""The ledger's CSV format, shared by the shipped ledger (``tracker/data/ledger/``), `tracker
holdings import` and `tracker holdings export`: reading checks every row and names the line and
column of the first bad one; writing gives back the same columns, so an export imports again.

holders.csv:      slug,name,country_code,kind,population,population_year,population_source,note
observations.csv: holder,as_of,btc,bound,basis,scope,source,url,published,cost_basis_usd,note
addresses.csv:    holder,address,kind,label,attributor,source,url,as_of,note
An empty field is "not given" (an empty ``btc`` is an undisclosed amount); an import may add a
``supersedes`` column (the id of the stored observation a row corrects).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from tracker.errors import InputError
from tracker.models import Claim, HolderInfo, Origin

if TYPE_CHECKING:
    from tracker.addresses import AddressEntry

HOLDER_COLUMNS = (
    "slug", "name", "country_code", "kind", "population", "population_year",
    "population_source", "note",
)  # fmt: skip
OBSERVATION_COLUMNS = (
    "holder", "as_of", "btc", "bound", "basis", "scope", "source", "url", "published",
    "cost_basis_usd", "note",
)  # fmt: skip
ADDRESS_COLUMNS = (
    "holder", "address", "kind", "label", "attributor", "source", "url", "as_of", "note",
)  # fmt: skip
OPTIONAL_COLUMNS = ("supersedes",)
SHIPPED = Path(__file__).with_name("data") / "ledger"
MAX_ROWS = 100_000
SLUG_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")


def _rows(
    text: str, name: str, columns: tuple[str, ...], optional: tuple[str, ...] = ()
) -> list[tuple[int, dict[str, str | None]]]:
    """(line number, row) for each data row; empty fields become None."""
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    try:
        header = tuple(reader.fieldnames or ())
        missing = [c for c in columns if c not in header]
        unknown = [c for c in header if c not in columns and c not in optional]
        if missing or unknown:
            what = (
                f"lacks the column {missing[0]!r}"
                if missing
                else f"has an unknown column {unknown[0]!r}"
            )
            raise InputError(f"{name}, line 1: the header {what} (expected: {','.join(columns)})")
        rows: list[tuple[int, dict[str, str | None]]] = []
        for record in reader:
            line = reader.line_num
            if None in record:
                raise InputError(f"{name}, line {line}: more fields than the header has")
            if len(rows) >= MAX_ROWS:
                raise InputError(f"{name}: more than {MAX_ROWS:,} rows")
            values = {k: (v.strip() or None) if v else None for k, v in record.items()}
            if all(v is None for v in values.values()):
                continue
            rows.append((line, values))
    except csv.Error as e:
        raise InputError(f"{name}, line {reader.line_num}: not valid CSV: {e}") from None
    return rows


@contextmanager
def _at(name: str, line: int, column: str) -> Iterator[None]:
    """Errors inside name the file, line and column."""
    try:
        yield
    except InputError as e:
        raise InputError(f"{name}, line {line}, column {column}: {e}") from None


def _integer(text: str | None, what: str) -> int | None:
    if text is None:
        return None
    if not text.isdigit():
        raise InputError(f"{what} {text!r} is not a whole number")
    return int(text)


def _date(text: str | None, what: str) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise InputError(f"{what} {text!r} is not a date: use YYYY-MM-DD") from None


def read_holders(text: str, *, name: str, today: dt.date) -> list[HolderInfo]:
    from tracker.holdings import make_holder

    holders: list[HolderInfo] = []
    seen: dict[str, int] = {}
    for line, row in _rows(text, name, HOLDER_COLUMNS):
        slug = row["slug"] or ""
        if slug in seen:
            raise InputError(
                f"{name}, line {line}, column slug: {slug!r} is on line {seen[slug]} too"
            )
        seen[slug] = line
        with _at(name, line, "population"):
            population = _integer(row["population"], "population")
        with _at(name, line, "population_year"):
            year = _integer(row["population_year"], "year")
        with _at(name, line, _blame_holder(row)):
            holders.append(
                make_holder(
                    slug=slug,
                    name=row["name"] or "",
                    country_code=row["country_code"],
                    kind=row["kind"] or "state",
                    population=population,
                    population_year=year,
                    population_source=row["population_source"],
                    note=row["note"],
                    today=today,
                )
            )
    return holders


def _blame_holder(row: dict[str, str | None]) -> str:
    from tracker.models import HolderKind

    if not SLUG_RE.fullmatch(row["slug"] or ""):
        return "slug"
    if row["kind"] is not None and row["kind"] not in {k.value for k in HolderKind}:
        return "kind"
    if row["country_code"] is not None and len(row["country_code"]) != 2:
        return "country_code"
    return "name" if not row["name"] else "population"


def read_observations(
    text: str, *, name: str, today: dt.date, origin: Origin = Origin.USER
) -> list[tuple[int, Claim]]:
    """(line, claim) for each row, every field checked by the ledger's rules."""
    from tracker.holdings import check_url, make_claim
    from tracker.inputs import check_day, check_slug, parse_btc

    claims = []
    for line, row in _rows(text, name, OBSERVATION_COLUMNS, OPTIONAL_COLUMNS):
        with _at(name, line, "holder"):
            holder = check_slug(row["holder"] or "")
        with _at(name, line, "as_of"):
            as_of = _date(row["as_of"], "as-of date")
            if as_of is None:
                raise InputError("every row needs a date")
            check_day(as_of, today=today, what="as-of date")
        with _at(name, line, "btc"):
            if row["btc"] is not None:
                parse_btc(row["btc"])
        with _at(name, line, "url"):
            if row["url"] is not None:
                check_url(row["url"])
        with _at(name, line, "published"):
            published = _date(row["published"], "publication date")
        with _at(name, line, "supersedes"):
            supersedes = _integer(row.get("supersedes"), "id")
        with _at(name, line, _blame(row)):  # the rules that span columns
            claim = make_claim(
                holder=holder,
                btc=row["btc"],
                bound=row["bound"],
                as_of=as_of,
                basis=row["basis"] or "",
                source=row["source"] or "",
                note=row["note"],
                cost_basis_usd=row["cost_basis_usd"],
                scope=row["scope"] or "government",
                url=row["url"],
                published=published,
                supersedes=supersedes,
                origin=origin,
                today=today,
            )
        claims.append((line, claim))
    return claims


def _blame(row: dict[str, str | None]) -> str:
    """The column a rule spanning several columns names: the first whose value is unusual."""
    from tracker.models import Basis, Scope

    if row["basis"] not in {b.value for b in Basis}:
        return "basis"
    if row["scope"] is not None and row["scope"] not in {s.value for s in Scope}:
        return "scope"
    if row["bound"] is not None and row["bound"] not in {"exact", "at_least", "approximate"}:
        return "bound"
    if row["source"] is None:
        return "source"
    if row["published"] is not None and row["published"] < (row["as_of"] or ""):
        return "published"
    if row["cost_basis_usd"] is not None:
        return "cost_basis_usd"
    return "btc" if row["basis"] != "undisclosed" or row["btc"] is not None else "bound"


def shipped_text(filename: str) -> str:
    return (SHIPPED / filename).read_text(encoding="utf-8")


def write_holders(holders: Iterable[HolderInfo]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(HOLDER_COLUMNS)
    for h in holders:
        writer.writerow(
            [h.slug, h.name, h.country_code or "", h.kind.value, h.population or "",
             h.population_year or "", h.population_source or "", h.note or ""]
        )  # fmt: skip
    return buf.getvalue()


def write_observations(claims: Iterable[Claim]) -> str:
    """The observations in the shipped columns: what `holdings import` reads back."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(OBSERVATION_COLUMNS)
    for c in claims:
        row = [
            c.holder, c.as_of.isoformat(), "" if c.btc is None else str(c.btc),
            "" if c.bound is None else c.bound.value, c.basis.value, c.scope.value, c.source,
            c.url or "", "" if c.published is None else c.published.isoformat(),
            "" if c.cost_basis_usd is None else str(c.cost_basis_usd), c.note or "",
        ]  # fmt: skip
        writer.writerow(row)
    return buf.getvalue()


def read_addresses(text: str, *, name: str, today: dt.date) -> list[tuple[int, AddressEntry]]:
    """(line, entry) for each row of an addresses.csv, every address's checksum checked."""
    from tracker.addresses import KINDS, check_address, make_entry
    from tracker.holdings import check_url
    from tracker.inputs import check_day, check_slug, check_text

    entries: list[tuple[int, AddressEntry]] = []
    seen: dict[tuple[str, str], int] = {}
    for line, row in _rows(text, name, ADDRESS_COLUMNS):
        with _at(name, line, "holder"):
            check_slug(row["holder"] or "")
        with _at(name, line, "address"):
            check_address(row["address"] or "")
        with _at(name, line, "kind"):
            if row["kind"] not in KINDS:
                raise InputError(f"kind {row['kind']!r} is not one of: {', '.join(KINDS)}")
        with _at(name, line, "url"):
            if row["url"] is not None:
                check_url(row["url"])
        with _at(name, line, "as_of"):
            as_of = _date(row["as_of"], "as-of date")
            if as_of is not None:
                check_day(as_of, today=today, what="as-of date")
        for column in ("label", "attributor", "source", "note"):
            with _at(name, line, column):
                check_text(row[column] or "", what=f"the {column}")
        entry = make_entry(
            holder=row["holder"] or "", address=row["address"] or "", kind=row["kind"] or "",
            label=row["label"], attributor=row["attributor"], source=row["source"],
            url=row["url"], as_of=as_of, note=row["note"], today=today,
        )  # fmt: skip
        key = (entry.holder, entry.address)
        if key in seen:
            raise InputError(
                f"{name}, line {line}, column address: {entry.address} is on line {seen[key]} too"
            )
        seen[key] = line
        entries.append((line, entry))
    return entries


def write_addresses(entries: Iterable[AddressEntry]) -> str:
    """An addresses.csv of ``entries``: what `read_addresses` reads back."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(ADDRESS_COLUMNS)
    for e in entries:
        writer.writerow(
            [e.holder, e.address, e.kind, e.label or "", e.attributor or "", e.source or "",
             e.url or "", "" if e.as_of is None else e.as_of.isoformat(), e.note or ""]
        )  # fmt: skip
    return buf.getvalue()
