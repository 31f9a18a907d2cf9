"""`tracker report` as a table or Markdown (report.py: as JSON or CSV)."""

from __future__ import annotations

from typing import Any

from tracker.clock import human_age
from tracker.models import Bound, PriceKind
from tracker.render import renders
from tracker.render.report import per_capita
from tracker.render.text import (
    BOUND_MARK,
    cell,
    console_text,
    grouped,
    iso,
    md,
    md_row,
    signed_money,
    signed_pct,
    text_console,
)
from tracker.report import Report
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


def btc_cell(v: Valuation) -> str:
    return "undisclosed" if v.btc is None else marked(v.bound, grouped(v.btc))


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


def footnote(v: Valuation) -> str:
    shown = v.shown
    if shown is None:
        return f"{v.holder.name}: no observation on or before this date"
    bound = "" if v.claim is None or v.claim.bound is None else f", {v.claim.bound.value}"
    basis = "undisclosed" if v.claim is None else v.claim.basis.value
    note = f" (note: {shown.note})" if shown.note else ""
    pnl = unrealized_pnl(v)
    cost = "" if v.claim is None or v.claim.cost_basis_usd is None else (
        f" Cost basis ${grouped(v.claim.cost_basis_usd, 2)}"
        + ("" if pnl is None else f", unrealized P&L {signed_money(pnl)}") + "."
    )  # fmt: skip
    person = "" if v.usd_per_capita is None else (
        f", {marked(v.usd_per_capita_bound, '$')}{grouped(v.usd_per_capita, 2)} per person"
    )  # fmt: skip
    where = f"{basis}{bound}, as of {shown.as_of}{person}"
    return f"{v.holder.name}: {where}. {shown.source}{note}{cost}"


def change_rows(report: Report) -> tuple[list[str], list[list[str]]]:
    """Rows of the changes block: since, price change, each holder's value change."""
    names = [v.holder for v in report.valuations if v.value is not None]
    header = ["Since", "Price", *(h.name for h in names)]
    rows = []
    for c in report.changes:
        if c.price_change_pct is None and all(h.value_change is None for h in c.holders.values()):
            continue  # unknown (a stale price): say nothing rather than a row of dashes
        cells = [c.label, signed_pct(c.price_change_pct)]
        for h in names:
            hc = c.holders.get(h.slug)
            if hc is None or hc.value_change is None:
                cells.append("—")
            else:
                money = marked(hc.value_change_bound, signed_money(hc.value_change, 0))
                pct = marked(hc.value_change_pct_bound, signed_pct(hc.value_change_pct))
                cells.append(f"{money} ({pct})")
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
    return f"Sovereign Bitcoin reserves, {when}"


@renders(Report, "table")
def render_table(report: Report, *, width: int, color: bool = False) -> str:
    from rich import box
    from rich.padding import Padding
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, title=title(report), title_justify="left", pad_edge=False)
    table.add_column("Holder", no_wrap=True)
    table.add_column("BTC", justify="right", no_wrap=True)
    table.add_column("Value (USD)", justify="right", no_wrap=True)
    table.add_column("% of 21M", justify="right")
    table.add_column("BTC/person", justify="right")
    for n, v in enumerate(report.valuations, start=1):
        table.add_row(
            *map(
                cell,
                (f"{v.holder.name} [{n}]", *holder_cells(v)),
            )
        )
    console = text_console(width=width, color=color)
    console.print(table)
    console.print(price_line(report), style="bold" if report.price else None, markup=False)
    for line in comparison_lines(report):
        console.print(line, markup=False)
    header, rows = change_rows(report)
    if rows and len(header) > 2:
        # the blank line goes before the title, none between the title and the header
        changes = Table(
            box=box.SIMPLE_HEAD, show_edge=False, title="Change",
            title_justify="left",
        )  # fmt: skip
        for i, name in enumerate(header):
            changes.add_column(cell(name), justify="left" if i == 0 else "right", no_wrap=True)
        for row in rows:
            changes.add_row(*map(cell, row))
        console.print()
        console.print(changes)
        console.print()
    if report.estimates is not None:
        console.print("All estimates, valued at the same price (* the one used):")
        for name, amount, value, basis, as_of, source in estimate_rows(report):
            console.print(
                f"  {name:<17} {amount:>11} {value:>18}  {basis:<11} {as_of}", markup=False
            )
            console.print(Padding(cell(source, style="dim"), (0, 0, 0, 6)))
    console.print(f"{legend(report)} Sources:", style="dim")
    for n, v in enumerate(report.valuations, start=1):
        console.print(f"[{n}] {footnote(v)}", style="dim", markup=False)
    for warning in report.warnings:
        console.print(f"warning: {warning}", style="yellow", markup=False)
    return console_text(console)


@renders(Report, "markdown")
def render_markdown(report: Report, **_: Any) -> str:
    lines = [f"## {title(report)}", ""]
    lines.append("| Holder | BTC | Basis | As of | Value (USD) | % of 21M | BTC/person |")
    lines.append("|---|---:|---|---|---:|---:|---:|")
    for n, v in enumerate(report.valuations, start=1):
        shown = v.shown
        basis = "undisclosed" if v.claim is None else v.claim.basis.value
        amount, value, share, person = holder_cells(v)
        as_of = "—" if shown is None else shown.as_of
        lines.append(
            md_row((f"{v.holder.name} [^{n}]", amount, basis, as_of, value, share, person))
        )
    lines += ["", legend(report), "", price_line(report), ""]
    lines += [f"- {line}" for line in comparison_lines(report)]
    lines.append("")
    header, rows = change_rows(report)
    if rows and len(header) > 2:
        lines += [md_row(header), "|---|" + "---:|" * (len(header) - 1)]
        lines += [md_row(r) for r in rows]
        lines.append("")
    if report.estimates is not None:
        lines += ["All estimates, valued at the same price (* the one used):", ""]
        lines += [
            "| Holder | BTC | Value (USD) | Basis | As of | Source |",
            "|---|---:|---:|---|---|---|",
        ]
        lines += [md_row(r) for r in estimate_rows(report)]
        lines.append("")
    lines += [f"> **Warning:** {w}" for w in report.warnings]
    if report.warnings:
        lines.append("")
    lines += [f"[^{n}]: {md(footnote(v))}" for n, v in enumerate(report.valuations, start=1)]
    return "\n".join(lines) + "\n"
