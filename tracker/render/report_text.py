"""`tracker report` as a table or Markdown (report.py: as JSON or CSV)."""

from __future__ import annotations

from decimal import Decimal

from tracker import bounds
from tracker.clock import human_age
from tracker.headline import State
from tracker.models import Bound, Claim, PriceKind, Scope
from tracker.money import quantize
from tracker.render import renders
from tracker.render.report import per_capita
from tracker.render.text import (
    BOUND_MARK,
    cell,
    console_text,
    grouped,
    iso,
    signed_money,
    signed_pct,
    text_console,
)
from tracker.report import Onchain, Report
from tracker.valuation import Valuation, unrealized_pnl

# --- human text (shared by table and Markdown) ----------------------------------------------


def price_line(report: Report) -> str:
    price = report.price
    if price is None:
        return "Price: none stored for that date"
    p = price.point
    sources = ", ".join(p.sources)
    if report.series_ends is not None:
        sources = f"{sources} series, ends {report.series_ends}"
    what = {
        PriceKind.CONSENSUS: f"consensus {iso(p.as_of)} ({sources})",
        PriceKind.DAILY_CLOSE: f"daily close {p.as_of.date()} ({sources})",
        PriceKind.WHAT_IF: "what-if price",
    }[p.kind]
    age = "" if p.kind is PriceKind.WHAT_IF else f", {human_age(price.age)} old"
    flag = ", STALE" if price.stale else ""
    return f"Price: ${grouped(p.value, 2)}/BTC, {what}{age}{flag}"


def marked(bound: Bound | None, text: str) -> str:
    """``text`` after its bound's mark (≥ ≤ ~; none for exact)."""
    return f"{BOUND_MARK[bound] if bound else ''}{text}"


_STATE_TEXT = {State.UNDISCLOSED: "undisclosed", State.NO_DATA: "no data"}


def btc_cell(v: Valuation) -> str:
    """The amount with its mark; "0 divested"; "undisclosed" or "no data", never 0."""
    if v.btc is None:
        return _STATE_TEXT[v.state]
    return "0 divested" if v.divested else marked(v.bound, grouped(v.btc))


Item = Claim | Onchain  # what is shown under a holder's row: a part, or its on-chain check


def part_btc(c: Item) -> str:
    if isinstance(c, Onchain):
        return c.status if c.btc is None else marked(c.bound, grouped(c.btc))
    if c.btc is None:
        return "undisclosed"
    return marked(c.bound, grouped(c.btc)) + (" sold" if c.btc == 0 else "")


def part_label(c: Item) -> str:
    if isinstance(c, Onchain):
        return "on chain"
    return "reserve" if c.scope is Scope.RESERVE else "part"


def part_date(c: Item) -> str:
    return (c.checked_at.date() if isinstance(c, Onchain) else c.as_of).isoformat()


def part_kind(c: Item) -> tuple[str, str]:
    """The Markdown's basis and scope cells."""
    if isinstance(c, Onchain):
        return c.status, f"{c.addresses} addresses"
    return c.basis.value, c.scope.value


def part_url(c: Item) -> str | None:
    return None if isinstance(c, Onchain) else c.url


def compact_money(value: Decimal, bound: Bound | None) -> str:
    """A signed amount in three significant figures with K, M, B or T ("+$167M"), rounded
    the way its bound allows (a floor down); the exact figure is in JSON and CSV."""
    sign = "−" if value < 0 else "+"
    size = abs(value)
    for unit, scale in (("T", 10**12), ("B", 10**9), ("M", 10**6), ("K", 10**3), ("", 1)):
        if size >= scale or scale == 1:
            scaled = value / scale
            digits = len(str(int(abs(scaled)))) if abs(scaled) >= 1 else 1
            quantum = Decimal(1).scaleb(-max(0, 3 - digits))
            way = bounds.rounding(bound or Bound.EXACT)
            shown = abs(quantize(scaled, quantum, way))
            return marked(bound, f"{sign}${shown}{unit}")
    raise AssertionError("unreachable")


def holder_cells(v: Valuation) -> tuple[str, str, str, str]:
    """BTC, value, share of supply and BTC per person, each marked with the holder's bound."""
    share, person = v.share_of_supply_pct, per_capita(v.btc_per_capita)
    return (
        btc_cell(v),
        "—" if v.value is None else marked(v.bound, grouped(v.value, 2)),
        "—" if share is None else marked(v.share_of_supply_bound, str(share)),
        "—" if person is None else marked(v.btc_per_capita_bound, person),
    )


_MEANING = {
    Bound.AT_LEAST: "≥ at least",
    Bound.AT_MOST: "≤ at most",
    Bound.APPROXIMATE: "~ approximate",
}


def legend(report: Report) -> str:
    """What the marks mean: ≥ and ~ always (the reader learns them once), ≤ when it is used."""
    c = report.comparison
    used = {c.total_bound, *(v.bound for v in report.valuations)}
    used |= {b for p in c.pairs for b in (p.btc_ratio_bound, p.value_difference_bound)}
    used |= {
        b
        for ch in report.changes
        for h in ch.holders.values()
        for b in (h.value_change_bound, h.value_change_pct_bound)
    }
    shown = [Bound.AT_LEAST, *([Bound.AT_MOST] if Bound.AT_MOST in used else []), Bound.APPROXIMATE]
    return ", ".join(_MEANING[b] for b in shown) + "."


def cited(c: Claim, *, url: bool = True, note: bool = True) -> str:
    """Where a figure comes from: the source, when it appeared, its note and its link (the
    table prints the link on a line of its own, unbroken, so it can be copied)."""
    published = f" Published {c.published}." if c.published and c.published != c.as_of else ""
    noted = f" Note: {c.note}" if c.note and note else ""
    end = "" if c.source.endswith((".", "!", "?")) else "."
    link = f" {c.url}" if c.url and url else ""
    return f"{c.source}{end}{published}{noted}{link}"


def footnote(v: Valuation, *, url: bool = True) -> str:
    shown = v.shown
    if shown is None:
        return f"{v.holder.name}: no data: no observation on or before this date"
    bound = "" if v.claim is None or v.claim.bound is None else f", {v.claim.bound.value}"
    basis = "undisclosed" if v.claim is None else v.claim.basis.value
    scope = "" if shown.scope is Scope.GOVERNMENT else f", scope {shown.scope.value}"
    pnl = unrealized_pnl(v)
    cost = "" if v.claim is None or v.claim.cost_basis_usd is None else (
        f" Cost basis ${grouped(v.claim.cost_basis_usd, 2)}"
        + ("" if pnl is None else f", unrealized P&L {signed_money(pnl)}") + "."
    )  # fmt: skip
    person = "" if v.usd_per_capita is None else (
        f", {marked(v.usd_per_capita_bound, '$')}{grouped(v.usd_per_capita, 2)} per person"
    )  # fmt: skip
    where = f"{basis}{bound}{scope}, as of {shown.as_of}{person}"
    return f"{v.holder.name}: {where}.{cost} {cited(shown, url=url)}"


def chain_footnote(c: Onchain) -> str:
    """What the check says: who agreed at which height, how sure the total is, the verdict."""
    who = ", ".join(c.explorers) or "no explorers agreeing"
    sure = (
        "the holder's full list: exact"
        if c.bound is Bound.EXACT
        else "a list that may be incomplete: at least"
    )
    verdict = {
        "matches": f"matches the claim ({c.claim_difference_btc:+} BTC)",
        "differs": f"DIFFERS from the claim by {c.claim_difference_btc:+} BTC",
        "inconclusive": (
            f"{c.claim_difference_btc:+} BTC from the claim, the addresses not known may hold "
            "the rest"
        ),
    }.get(c.verdict or "", "nothing to compare it with")
    why = f" ({c.reason})" if c.reason and c.status != "verified" else ""
    return (
        f"on chain, {c.status}{why}: {who} at height {c.height}, {iso(c.checked_at)}; "
        f"{c.addresses} addresses, {sure}; {verdict}."
    )


def part_footnote(c: Item, *, url: bool = True) -> str:
    if isinstance(c, Onchain):
        return chain_footnote(c)
    bound = "" if c.bound is None else f", {c.bound.value}"
    return f"{c.scope.value}, {c.basis.value}{bound}, as of {c.as_of}. {cited(c, url=url)}"


def numbered(report: Report) -> list[tuple[str, Valuation, Item | None]]:
    """Footnote labels: [1] for a holder, [1a] [1b] for its parts and its on-chain check,
    in table order."""
    rows: list[tuple[str, Valuation, Item | None]] = []
    for n, v in enumerate(report.valuations, start=1):
        rows.append((str(n), v, None))
        check = report.onchain.get(v.holder.slug)
        items: list[Item] = [*v.parts[:25], *([] if check is None else [check])]
        rows += [(f"{n}{chr(97 + i)}", v, c) for i, c in enumerate(items)]
    return rows


def excluded_lines(report: Report, *, url: bool = True) -> list[tuple[str, str | None]]:
    """Figures other trackers count as a state's, why they are not counted here, and the
    link (its own item, for the table to print unbroken)."""
    lines = []
    for e in report.excluded:
        c = e.claim
        amount = marked(c.bound, grouped(c.btc)) if c.btc is not None else "undisclosed"
        source = cited(c, url=url, note=not c.note or c.note not in e.reason)
        lines.append((f"{e.name}: {amount} BTC as of {c.as_of}; {e.reason}. {source}", c.url))
    return lines


def change_rows(report: Report, *, exact: bool) -> tuple[list[str], list[list[str]]]:
    """The changes block, one row for the price and one per valued holder, one column per
    horizon; a cell is the value's change, compact in the table, exact with its percent in
    Markdown. Horizons whose price is unknown (stale) are left out, not shown as 0."""
    shown = [
        c
        for c in report.changes
        if c.price_change_pct is not None
        or any(h.value_change is not None for h in c.holders.values())
    ]
    if not shown:
        return [], []
    header = ["Change", *(c.label for c in shown)]
    rows = [["Price", *(signed_pct(c.price_change_pct) for c in shown)]]
    for v in report.valuations:
        if v.value is None or v.divested:
            continue
        cells = [v.holder.name]
        for c in shown:
            hc = c.holders.get(v.holder.slug)
            if hc is None or hc.value_change is None:
                cells.append("—")
            elif exact:
                money = marked(hc.value_change_bound, signed_money(hc.value_change, 0))
                pct = marked(hc.value_change_pct_bound, signed_pct(hc.value_change_pct))
                cells.append(f"{money} ({pct})")
            else:
                cells.append(compact_money(hc.value_change, hc.value_change_bound))
        rows.append(cells)
    return header, rows


def estimate_rows(report: Report) -> list[tuple[str, str, str, str, str, str]]:
    """(holder, amount, value, basis, as of, source) for every claim, newest first."""
    rows = []
    for v in report.valuations:
        for e in (report.estimates or {}).get(v.holder.slug, []):
            c = e.claim
            amount = "undisclosed" if c.btc is None else marked(c.bound, grouped(c.btc))
            value = "—" if e.value is None else marked(c.bound, grouped(e.value, 2))
            name = v.holder.name + (" *" if e.used else "")
            rows.append((name, amount, value, c.basis.value, c.as_of.isoformat(), c.source))
    return rows


def comparison_lines(report: Report) -> list[str]:
    """The total, then each pair; a holder with 0 BTC (divested) "holds none"."""
    c = report.comparison
    lines = []
    if any(v.btc is not None for v in report.valuations):
        share = marked(c.total_bound, str(c.total_share_pct))
        value = "" if c.total_value is None else f" = {marked(c.total_bound, '$')}"
        value += "" if c.total_value is None else grouped(c.total_value, 2)
        total = marked(c.total_bound, grouped(c.total_btc))
        lines.append(f"Total: {total} BTC{value} ({share} % of the 21,000,000 BTC supply)")
    held = {v.holder.slug: v for v in report.valuations}
    for p in c.pairs:
        a, b = held[p.a], held[p.b]
        more = (
            None
            if p.value_difference is None
            else f"{marked(p.value_difference_bound, '$')}{grouped(p.value_difference, 2)} more"
        )
        if p.btc_ratio is not None:
            times = marked(p.btc_ratio_bound, f"{p.btc_ratio}×")
            ratio = f"{a.holder.name} holds {times} the BTC of {b.holder.name}"
            lines.append(ratio if more is None else f"{ratio}, {more}")
        elif a.btc == 0:  # the larger holds none: so do both
            lines.append(f"{a.holder.name} and {b.holder.name} hold none")
        else:  # b holds none: a ratio has no meaning
            line = f"{a.holder.name} holds {btc_cell(a)} BTC; {b.holder.name} holds none"
            lines.append(line if more is None else f"{line} ({more})")
    return lines


def title(report: Report) -> str:
    when = "now" if report.at is None else f"at {iso(report.at)}"
    known = "" if report.as_known_at is None else f", as known on {report.as_known_at}"
    return f"Sovereign Bitcoin reserves, {when}{known}"


WIDE = 110  # from this width the table has room for share of supply and BTC per person


@renders(Report, "table")
def render_table(report: Report, *, width: int, color: bool = False) -> str:
    from rich import box
    from rich.padding import Padding
    from rich.table import Table

    wide = width >= WIDE
    table = Table(box=box.SIMPLE_HEAD, title=title(report), title_justify="left", pad_edge=False)
    table.add_column("Holder", max_width=max(16, width - 50), overflow="fold")
    table.add_column("BTC", justify="right", no_wrap=True)
    table.add_column("Value (USD)", justify="right", no_wrap=True)
    table.add_column("As of", no_wrap=True)
    if wide:
        table.add_column("% of 21M", justify="right", no_wrap=True)
        table.add_column("BTC/person", justify="right", no_wrap=True)
    for label, v, part in numbered(report):
        if part is None:
            btc, value, share, person = holder_cells(v)
            as_of = "" if v.shown is None else v.shown.as_of.isoformat()
            cells = [f"{v.holder.name} [{label}]", btc, value, as_of]
            table.add_row(*map(cell, cells + ([share, person] if wide else [])))
        else:
            cells = [f"  ↳ {part_label(part)} [{label}]", part_btc(part), "", part_date(part)]
            table.add_row(*(cell(c, style="dim") for c in cells + (["", ""] if wide else [])))
    console = text_console(width=width, color=color)
    console.print(table)
    console.print(price_line(report), style="bold" if report.price else None, markup=False)
    for line in comparison_lines(report):
        console.print(line, markup=False)
    if report.excluded:
        console.print()
        console.print("Listed by other trackers, not counted here:", markup=False)
        for line, url in excluded_lines(report, url=False):
            console.print(Padding(cell(line), (0, 0, 0, 2)))
            if url:
                console.print(Padding(cell(url, style="dim"), (0, 0, 0, 4)))
    header, rows = change_rows(report, exact=False)
    if rows:
        changes = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        for i, name in enumerate(header):
            changes.add_column(cell(name), justify="left" if i == 0 else "right", no_wrap=i > 0)
        for row in rows:
            changes.add_row(*map(cell, row))
        console.print()
        console.print(changes)
    if report.estimates is not None:
        console.print("All estimates, valued at the same price (* the one used):")
        for name, amount, value, basis, as_of, source in estimate_rows(report):
            console.print(
                f"  {name:<17} {amount:>11} {value:>18}  {basis:<11} {as_of}", markup=False
            )
            console.print(Padding(cell(source, style="dim"), (0, 0, 0, 6)))
    console.print()
    console.print(f"{legend(report)} Sources:", style="dim")
    for label, v, part in numbered(report):
        text = footnote(v, url=False) if part is None else part_footnote(part, url=False)
        console.print(f"[{label}] {text}", style="dim", markup=False)
        link = (v.shown and v.shown.url) if part is None else part_url(part)
        if link:  # on a line of its own: one break at most, mid-link
            console.print(Padding(cell(link, style="dim"), (0, 0, 0, 4)))
    for warning in report.warnings:
        console.print(f"warning: {warning}", style="yellow", markup=False)
    return console_text(console)
