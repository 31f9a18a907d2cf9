"""What each page shows, as plain values for its template: built from the CLI's own results
(the ``Report`` of `tracker report`, the ``Timeline`` of `tracker history`, the ledger, the
address book, the checks of `tracker verify`, ``Sources`` and ``Status``) with the CLI's own
text helpers (render/report_text.py: the marks ≥ ≤ ~, "0 divested", "undisclosed", the price
line, the comparison, the footnotes). Nothing here decides a figure; it only lays them out.
Every string is escaped by the templates (autoescape), never here."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from sqlmodel import Session

from tracker.daily import history
from tracker.errors import InputError
from tracker.headline import State
from tracker.models import Claim, HolderLedger, Ledger
from tracker.money import sats_to_btc
from tracker.render.ledger import corrections
from tracker.render.report_text import (
    chain_footnote,
    change_rows,
    comparison_lines,
    excluded_lines,
    footnote,
    holder_cells,
    legend,
    numbered,
    part_btc,
    part_date,
    part_footnote,
    part_label,
    part_url,
    price_line,
)
from tracker.render.text import BOUND_MARK, grouped
from tracker.report import Onchain, Report
from tracker.valuation import Valuation
from tracker.web.svg import Chart, history_chart

STATE_TEXT = {State.VALUED: "valued", State.UNDISCLOSED: "undisclosed", State.NO_DATA: "no data"}


def safe_url(url: str | None) -> str | None:
    """A link only to http(s) with a host: anything else (javascript:, data:) is no link."""
    if not url:
        return None
    parts = urlsplit(url.strip())
    return url.strip() if parts.scheme in ("http", "https") and parts.netloc else None


def state_of(v: Valuation) -> tuple[str, str]:
    """(css class, words): valued, divested, undisclosed or no data."""
    if v.divested:
        return "divested", "divested"
    return v.state.value, STATE_TEXT[v.state]


# --- / ----------------------------------------------------------------------------------------


def overview(report: Report) -> dict[str, Any]:
    """The report as the table, price, totals, excluded list, changes and footnotes show it."""
    rows: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    for label, v, part in numbered(report):
        if part is None:
            btc, value, share, person = holder_cells(v)
            css, words = state_of(v)
            rows.append({
                "label": label, "slug": v.holder.slug, "name": v.holder.name, "btc": btc,
                "value": value, "share": share, "person": person, "state": css,
                "state_text": words, "as_of": "" if v.shown is None else v.shown.as_of.isoformat(),
                "parts": [],
            })  # fmt: skip
            link = None if v.shown is None else v.shown.url
            notes.append({"label": label, "text": footnote(v, url=False), "url": safe_url(link)})
        else:
            rows[-1]["parts"].append({
                "label": label, "kind": part_label(part), "btc": part_btc(part),
                "date": part_date(part),
            })  # fmt: skip
            text = part_footnote(part, url=False)
            notes.append({"label": label, "text": text, "url": safe_url(part_url(part))})
    header, change = change_rows(report, exact=False)
    return {
        "rows": rows,
        "footnotes": notes,
        "price": price_of(report),
        "legend": legend(report),
        "comparison": comparison_lines(report),
        "excluded": excluded(report),
        "changes": {"header": header, "rows": change},
        "warnings": list(report.warnings),
    }


def excluded(report: Report) -> list[dict[str, Any]]:
    """Who other trackers count and this one does not, why, and the link."""
    lines = excluded_lines(report, url=False)
    return [
        {"slug": e.slug, "name": e.name, "text": line.removeprefix(f"{e.name}: "),
         "url": safe_url(url)}
        for e, (line, url) in zip(report.excluded, lines, strict=True)
    ]  # fmt: skip


def price_of(report: Report) -> dict[str, Any]:
    """The CLI's price line, with its STALE flag apart so the page can mark it."""
    line = price_line(report)
    stale = report.price is not None and report.price.stale
    return {"line": line.removesuffix(", STALE") if stale else line, "stale": stale}


# --- charts -----------------------------------------------------------------------------------


def interval_for(start: dt.date, end: dt.date) -> history.Interval:
    """Months over years, weeks over months, days over weeks: a few hundred points at most."""
    days = (end - start).days
    if days > 2 * 366:
        return history.Interval.MONTH
    return history.Interval.WEEK if days > 120 else history.Interval.DAY


def chart(tl: history.Timeline) -> tuple[Chart, str]:
    """The chart of a `tracker history` timeline and its caption."""
    every = tl.interval.value
    caption = (
        f"One point per {every} from {tl.start} to {tl.end} (the last daily close of each), "
        "log scale" + ("" if tl.known_at is None else f", as known on {tl.known_at}") + "."
    )
    return history_chart(tl, caption=f"Value of each holding, one point per {every}"), caption


# --- /holders/{slug} --------------------------------------------------------------------------


def marked_amount(c: Claim) -> str:
    if c.btc is None:
        return "undisclosed"
    return f"{BOUND_MARK[c.bound] if c.bound else ''}{grouped(c.btc)}"


def ledger_rows(lg: HolderLedger) -> list[dict[str, Any]]:
    """Every live observation, oldest first, with what corrects it and what it corrects."""
    fixed = corrections(Ledger((lg,)))
    return [
        {
            "id": c.id, "btc": marked_amount(c), "scope": c.scope.value, "basis": c.basis.value,
            "bound": "" if c.bound is None else c.bound.value, "as_of": c.as_of.isoformat(),
            "published": "" if c.published is None else c.published.isoformat(),
            "source": c.source, "note": c.note, "url": safe_url(c.url),
            "corrected_by": None if c.id is None else fixed.get(c.id),
            "supersedes": c.supersedes,
        }
        for c in lg.claims
    ]  # fmt: skip


def standing(report: Report, slug: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The holder's row of the report (None when it is not a sovereign) and its parts, with
    its on-chain check last as the report shows it."""
    v = next((v for v in report.valuations if v.holder.slug == slug), None)
    if v is None:
        return None, []
    btc, value, _, _ = holder_cells(v)
    css, words = state_of(v)
    row = {
        "btc": btc, "value": value, "state": css, "state_text": words,
        "footnote": footnote(v, url=False).removeprefix(f"{v.holder.name}: "),
        "url": safe_url(None if v.shown is None else v.shown.url),
    }  # fmt: skip
    items: list[Claim | Onchain] = list(v.parts)
    check = report.onchain.get(slug)
    if check is not None:
        items.append(check)
    parts = [
        {"kind": part_label(p), "btc": part_btc(p), "text": part_footnote(p, url=False),
         "url": safe_url(part_url(p))}
        for p in items
    ]  # fmt: skip
    return row, parts


def excluded_reason(report: Report, slug: str) -> str | None:
    for e, (line, _) in zip(report.excluded, excluded_lines(report, url=False), strict=True):
        if e.slug == slug:
            return line.removeprefix(f"{e.name}: ")
    return None


def address_rows(session: Session, slug: str) -> list[dict[str, Any]]:
    """The holder's addresses in use (`tracker addresses list --holder SLUG`)."""
    from tracker.addresses import check_address, list_addresses

    rows = []
    for _, a in list_addresses(session, [slug]):
        try:
            kind = check_address(a.address).type
        except InputError:
            kind = "?"
        rows.append({
            "address": a.address, "kind": a.kind, "type": kind, "label": a.label or "",
            "attributor": a.attributor or "", "as_of": "" if a.as_of is None else a.as_of,
            "source": a.source or "", "url": safe_url(a.url),
        })  # fmt: skip
    return rows


def last_check(session: Session, holder_id: int) -> dict[str, Any] | None:
    """The holder's newest check against the chain, with each explorer's answers."""
    from tracker.store.chain_queries import check_answers, latest_checks

    row = latest_checks(session=session).get(holder_id)
    if row is None or row.id is None:
        return None
    answers = [
        {"explorer": a.explorer, "address": a.address or "(chain tip)",
         "btc": "" if a.sats is None else grouped(sats_to_btc(a.sats)),
         "height": "" if a.height is None else a.height,
         "outcome": a.outcome + (f": {a.reason}" if a.reason else "")}
        for a in check_answers(session=session, check_id=row.id)
    ]  # fmt: skip
    return {"summary": chain_footnote(Onchain.of(row)), "answers": answers}


def population_text(population: int, year: int | None, source: str | None) -> str:
    text = f"{grouped(Decimal(population))}" + ("" if year is None else f" ({year})")
    return text + ("" if not source else f": {source}")
