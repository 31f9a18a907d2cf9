"""Render a valuation report as a table, JSON, CSV or Markdown; no database, no HTTP."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Literal

from tracker.models import Bound, Claim, HolderLedger, PriceKind, RoundReport

if TYPE_CHECKING:
    from rich.console import Console

from tracker.valuation import (
    Change,
    Comparison,
    Estimate,
    PriceChoice,
    Valuation,
    unrealized_pnl,
)

BOUND_MARK = {Bound.EXACT: "", Bound.AT_LEAST: "≥", Bound.APPROXIMATE: "~"}


@dataclass(frozen=True)
class Report:
    generated_at: dt.datetime
    at: dt.datetime | None  # None means "now"
    price: PriceChoice | None
    valuations: list[Valuation]
    comparison: Comparison
    warnings: list[str] = field(default_factory=list)
    currency: str = "USD"
    changes: list[Change] = field(default_factory=list)
    estimates: dict[str, list[Estimate]] | None = None  # --all-estimates


# --- formatting helpers ---------------------------------------------------------------------


def iso(instant: dt.datetime) -> str:
    return instant.astimezone(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def plain(value: Decimal | None) -> str | None:
    """A decimal as a plain string, without exponent or trailing zeros."""
    if value is None:
        return None
    text = format(value.normalize(), "f")
    return text


def money(value: Decimal | None) -> str | None:
    """Cents always shown: values and differences are quantized to cents already."""
    return None if value is None else format(value, "f")


def price_text(value: Decimal) -> str:
    """A price with at least two decimals (84575.70, not 84575.7)."""
    exponent = value.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent >= -2:
        return format(value.quantize(Decimal("0.01")), "f")
    return plain(value) or ""


def human_age(age: dt.timedelta) -> str:
    seconds = int(age.total_seconds())
    days, rem = divmod(seconds, 86400)
    hours, rem = divmod(rem, 3600)
    minutes, secs = divmod(rem, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"


def grouped(value: Decimal, places: int | None = None) -> str:
    if places is None:
        text = plain(value) or "0"
        whole, _, frac = text.partition(".")
        return f"{int(whole):,}" + (f".{frac}" if frac else "")
    return f"{value:,.{places}f}"


# --- text outputs shared by every renderer ---------------------------------------------------


def csv_text(
    fieldnames: Sequence[str],
    rows: Iterable[Mapping[str, Any]],
    *,
    extra: Literal["raise", "ignore"] = "raise",
) -> str:
    """A CSV document: header, then ``rows``; LF line ends (``extra="ignore"`` drops keys
    that are not columns)."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fieldnames, lineterminator="\n", extrasaction=extra)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def text_console(*, width: int, color: bool = False) -> Console:
    """A Rich console that renders into a string. Markup and emoji codes are off, so names
    and sources from users or servers always print as typed."""
    from rich.console import Console

    return Console(
        file=io.StringIO(), width=width, color_system="auto" if color else None,
        force_terminal=color, highlight=False, soft_wrap=False, markup=False, emoji=False,
    )  # fmt: skip


def console_text(console: Console) -> str:
    """What ``text_console`` rendered, without Rich's trailing padding."""
    out = console.file
    assert isinstance(out, io.StringIO)
    return "\n".join(line.rstrip() for line in out.getvalue().splitlines()) + "\n"


# --- JSON -----------------------------------------------------------------------------------


def to_dict(report: Report) -> dict[str, Any]:
    """The stable JSON shape of DESIGN.md: decimals as strings, instants ISO 8601 with Z."""
    price = report.price
    return {
        "generated_at": iso(report.generated_at),
        "at": None if report.at is None else iso(report.at),
        "currency": report.currency,
        "price": None
        if price is None
        else {
            "value": price_text(price.point.value),
            "as_of": iso(price.point.as_of),
            "kind": price.point.kind.value,
            "sources": list(price.point.sources),
            "age_seconds": int(price.age.total_seconds()),
            "stale": price.stale,
        },
        "holders": [_holder_dict(v, report) for v in report.valuations],
        "comparison": {
            "total_btc": plain(report.comparison.total_btc),
            "total_value": money(report.comparison.total_value),
            "pairs": [
                {
                    "a": p.a,
                    "b": p.b,
                    "btc_ratio": None if p.btc_ratio is None else format(p.btc_ratio, "f"),
                    "value_difference": money(p.value_difference),
                }
                for p in report.comparison.pairs
            ],
        },
        "changes": {c.label: _change_dict(c) for c in report.changes},
        "warnings": list(report.warnings),
    }


def _pct(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def _change_dict(c: Change) -> dict[str, Any]:
    then = c.price_then
    return {
        "since": iso(c.since),
        "price": None if then is None else price_text(then.point.value),
        "price_kind": None if then is None else then.point.kind.value,
        "price_as_of": None if then is None else iso(then.point.as_of),
        "price_change": plain(c.price_change),
        "price_change_pct": _pct(c.price_change_pct),
        "holders": {
            slug: {
                "value": money(h.value_then),
                "value_change": money(h.value_change),
                "value_change_pct": _pct(h.value_change_pct),
            }
            for slug, h in c.holders.items()
        },
    }


def claim_dict(c: Claim) -> dict[str, Any]:
    """One observation as JSON/CSV fields (decimals as strings)."""
    return {
        "btc": plain(c.btc),
        "bound": None if c.bound is None else c.bound.value,
        "as_of": c.as_of.isoformat(),
        "basis": c.basis.value,
        "source": c.source,
        "note": c.note,
        "cost_basis_usd": plain(c.cost_basis_usd),
    }


def _estimate_dict(e: Estimate) -> dict[str, Any]:
    return {**claim_dict(e.claim), "value": money(e.value), "used": e.used}


def _holder_dict(v: Valuation, report: Report) -> dict[str, Any]:
    shown = v.shown
    extra: dict[str, Any] = {}
    if report.estimates is not None:
        extra["estimates"] = [_estimate_dict(e) for e in report.estimates.get(v.holder.slug, [])]
    cost = None if v.claim is None else v.claim.cost_basis_usd
    return {
        "slug": v.holder.slug,
        "name": v.holder.name,
        "btc": plain(v.btc),
        "bound": None if v.claim is None or v.claim.bound is None else v.claim.bound.value,
        "holding_as_of": None if shown is None else shown.as_of.isoformat(),
        "basis": "undisclosed" if v.claim is None else v.claim.basis.value,
        "source": None if shown is None else shown.source,
        "value": money(v.value),
        "share_of_supply_pct": None
        if v.share_of_supply_pct is None
        else format(v.share_of_supply_pct, "f"),
        "btc_per_capita": None if v.btc_per_capita is None else format(v.btc_per_capita, "f"),
        "cost_basis_usd": plain(cost),
        "unrealized_pnl": money(unrealized_pnl(v)),
        **extra,
    }


def render_json(report: Report) -> str:
    return json.dumps(to_dict(report), indent=2, ensure_ascii=False) + "\n"


# --- CSV ------------------------------------------------------------------------------------

CSV_FIELDS = (
    "slug", "name", "btc", "bound", "holding_as_of", "basis", "source", "value",
    "share_of_supply_pct", "btc_per_capita", "cost_basis_usd", "unrealized_pnl", "price",
    "price_kind", "price_as_of", "price_stale", "at", "generated_at",
)  # fmt: skip
CHANGE_LABELS = ("24h", "7d", "30d", "1y")


def render_csv(report: Report) -> str:
    data = to_dict(report)
    labels = [label for label in CHANGE_LABELS if label in data["changes"]]
    change_fields = [
        f"{k}_{label}"
        for label in labels
        for k in ("value_change", "value_change_pct", "price_change_pct")
    ]
    price = data["price"] or {}
    rows = []
    for holder in data["holders"]:
        changes = {}
        for label in labels:
            c = data["changes"][label]
            mine = c["holders"].get(holder["slug"], {})
            changes[f"value_change_{label}"] = mine.get("value_change")
            changes[f"value_change_pct_{label}"] = mine.get("value_change_pct")
            changes[f"price_change_pct_{label}"] = c["price_change_pct"]
        rows.append(
            {
                **holder,
                **changes,
                "price": price.get("value"),
                "price_kind": price.get("kind"),
                "price_as_of": price.get("as_of"),
                "price_stale": None if not price else str(price["stale"]).lower(),  # as in JSON
                "at": data["at"] or data["generated_at"],
                "generated_at": data["generated_at"],
            }
        )
    return csv_text([*CSV_FIELDS, *change_fields], rows, extra="ignore")


# --- human text (shared by table and Markdown) ----------------------------------------------


def price_line(report: Report) -> str:
    price = report.price
    if price is None:
        return "Price: none stored for that date"
    p = price.point
    what = {
        PriceKind.CONSENSUS: f"consensus {iso(p.as_of)} ({', '.join(p.sources)})",
        PriceKind.DAILY_CLOSE: f"daily close {p.as_of.date()} ({', '.join(p.sources)})",
        PriceKind.WHAT_IF: "what-if price",
    }[p.kind]
    age = "" if p.kind is PriceKind.WHAT_IF else f", {human_age(price.age)} old"
    flag = ", STALE" if price.stale else ""
    return f"Price: ${grouped(p.value, 2)}/BTC, {what}{age}{flag}"


def btc_cell(v: Valuation) -> str:
    if v.claim is None or v.btc is None:
        return "undisclosed"
    mark = BOUND_MARK[v.claim.bound] if v.claim.bound else ""
    return f"{mark}{grouped(v.btc)}"


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
    return f"{v.holder.name}: {basis}{bound}, as of {shown.as_of}. {shown.source}{note}{cost}"


def signed_money(value: Decimal, places: int = 2) -> str:
    sign = "+" if value >= 0 else "−"
    return f"{sign}${grouped(abs(value), places)}"


def signed_pct(value: Decimal | None) -> str:
    return "—" if value is None else f"{'+' if value >= 0 else '−'}{abs(value)} %"


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
                cells.append(
                    f"{signed_money(hc.value_change, 0)} ({signed_pct(hc.value_change_pct)})"
                )
        rows.append(cells)
    return header, rows


def estimate_rows(report: Report) -> list[tuple[str, str, str, str, str, str]]:
    """(holder, amount, value, basis, as of, source) for every claim, newest first."""
    rows = []
    for v in report.valuations:
        for e in (report.estimates or {}).get(v.holder.slug, []):
            c = e.claim
            mark = BOUND_MARK[c.bound] if c.bound else ""
            amount = "undisclosed" if c.btc is None else f"{mark}{grouped(c.btc)}"
            value = "—" if e.value is None else grouped(e.value, 2)
            name = v.holder.name + (" *" if e.used else "")
            rows.append((name, amount, value, c.basis.value, c.as_of.isoformat(), c.source))
    return rows


def comparison_lines(report: Report) -> list[str]:
    c = report.comparison
    lines = []
    if c.total_btc:
        share = c.total_btc / 21_000_000 * 100
        value = "" if c.total_value is None else f" = ${grouped(c.total_value, 2)}"
        lines.append(
            f"Total: {grouped(c.total_btc)} BTC{value} ({share:.4f} % of the 21,000,000 BTC supply)"
        )
    names = {v.holder.slug: v.holder.name for v in report.valuations}
    for p in c.pairs:
        ratio = "" if p.btc_ratio is None else f"{p.btc_ratio}× the BTC of {names[p.b]}"
        diff = "" if p.value_difference is None else f", ${grouped(p.value_difference, 2)} more"
        lines.append(f"{names[p.a]} holds {ratio}{diff}")
    return lines


def title(report: Report) -> str:
    when = "now" if report.at is None else f"at {iso(report.at)}"
    return f"Sovereign Bitcoin reserves, {when}"


def render_table(report: Report, *, width: int | None = None, color: bool = False) -> str:
    from rich import box
    from rich.padding import Padding
    from rich.table import Table
    from rich.text import Text

    table = Table(box=box.SIMPLE_HEAD, title=title(report), title_justify="left", pad_edge=False)
    table.add_column("Holder", no_wrap=True)
    table.add_column("BTC", justify="right", no_wrap=True)
    table.add_column("Value (USD)", justify="right", no_wrap=True)
    table.add_column("% of 21M", justify="right")
    table.add_column("BTC/person", justify="right")
    for n, v in enumerate(report.valuations, start=1):
        table.add_row(
            *map(
                Text,
                (
                    f"{v.holder.name} [{n}]",
                    btc_cell(v),
                    "—" if v.value is None else grouped(v.value, 2),
                    "—" if v.share_of_supply_pct is None else str(v.share_of_supply_pct),
                    "—" if v.btc_per_capita is None else str(v.btc_per_capita),
                ),
            )
        )
    console = text_console(width=width or 80, color=color)
    console.print(table)
    console.print(price_line(report), style="bold" if report.price else None, markup=False)
    for line in comparison_lines(report):
        console.print(line, markup=False)
    header, rows = change_rows(report)
    if rows and len(header) > 2:
        changes = Table(box=box.SIMPLE_HEAD, pad_edge=False, title="Change", title_justify="left")
        for i, name in enumerate(header):
            changes.add_column(Text(name), justify="left" if i == 0 else "right", no_wrap=True)
        for row in rows:
            changes.add_row(*map(Text, row))
        console.print(changes)
    if report.estimates is not None:
        console.print("All estimates, valued at the same price (* the one used):")
        for name, amount, value, basis, as_of, source in estimate_rows(report):
            console.print(
                f"  {name:<17} {amount:>11} {value:>18}  {basis:<11} {as_of}", markup=False
            )
            console.print(Padding(Text(source, style="dim"), (0, 0, 0, 6)))
    console.print("≥ at least, ~ approximate. Sources:", style="dim")
    for n, v in enumerate(report.valuations, start=1):
        console.print(f"[{n}] {footnote(v)}", style="dim", markup=False)
    for warning in report.warnings:
        console.print(f"warning: {warning}", style="yellow", markup=False)
    return console_text(console)


def md(cell: object) -> str:
    """A Markdown table cell: pipes escaped, line breaks folded."""
    return " ".join(str(cell).replace("|", "\\|").split())


def md_row(cells: Iterable[object]) -> str:
    return "| " + " | ".join(md(c) for c in cells) + " |"


def render_markdown(report: Report) -> str:
    lines = [f"## {title(report)}", ""]
    lines.append("| Holder | BTC | Basis | As of | Value (USD) | % of 21M | BTC/person |")
    lines.append("|---|---:|---|---|---:|---:|---:|")
    for n, v in enumerate(report.valuations, start=1):
        shown = v.shown
        basis = "undisclosed" if v.claim is None else v.claim.basis.value
        lines.append(
            md_row(
                (
                    f"{v.holder.name} [^{n}]", btc_cell(v), basis,
                    "—" if shown is None else shown.as_of,
                    "—" if v.value is None else grouped(v.value, 2),
                    "—" if v.share_of_supply_pct is None else v.share_of_supply_pct,
                    "—" if v.btc_per_capita is None else v.btc_per_capita,
                )
            )
        )  # fmt: skip
    lines += ["", price_line(report), ""]
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


RENDERERS = {"json": render_json, "csv": render_csv, "markdown": render_markdown}


def render(report: Report, fmt: str, *, color: bool = False, width: int | None = None) -> str:
    if fmt == "table":
        return render_table(report, color=color, width=width)
    return RENDERERS[fmt](report)


# --- the ledger (tracker holdings list) ------------------------------------------------------

LEDGER_FIELDS = (
    "id", "holder", "btc", "bound", "as_of", "basis", "source", "note", "cost_basis_usd",
)  # fmt: skip


def ledger_rows(ledgers: list[HolderLedger]) -> list[dict[str, Any]]:
    return [
        {"id": c.id, "holder": lg.holder.slug, **claim_dict(c)} for lg in ledgers for c in lg.claims
    ]


def render_ledger(ledgers: list[HolderLedger], fmt: str) -> str:
    rows = ledger_rows(ledgers)
    if fmt == "json":
        holders = [
            {
                "slug": lg.holder.slug,
                "name": lg.holder.name,
                "country_code": lg.holder.country_code,
                "population": lg.holder.population,
                "population_source": lg.holder.population_source,
                "observations": [r for r in rows if r["holder"] == lg.holder.slug],
            }
            for lg in ledgers
        ]
        return json.dumps({"holders": holders}, indent=2, ensure_ascii=False) + "\n"
    if fmt == "csv":
        return csv_text(LEDGER_FIELDS, rows)
    if fmt == "markdown":
        lines = [md_row(LEDGER_FIELDS), "|" + "---|" * len(LEDGER_FIELDS)]
        lines += [md_row("" if r[k] is None else r[k] for k in LEDGER_FIELDS) for r in rows]
        return "\n".join(lines) + "\n"
    from rich.table import Table
    from rich.text import Text

    table = Table(title="Holdings ledger", title_justify="left", show_lines=True)
    for column in ("id", "holder", "btc", "as of", "basis", "source"):
        table.add_column(column, overflow="fold")
    for lg in ledgers:
        for c in lg.claims:
            mark = BOUND_MARK[c.bound] if c.bound else ""
            source = c.source + (f" (note: {c.note})" if c.note else "")
            table.add_row(*map(Text, (
                str(c.id), lg.holder.slug,
                "undisclosed" if c.btc is None else f"{mark}{grouped(c.btc)}",
                c.as_of.isoformat(), c.basis.value, source,
            )))  # fmt: skip
    console = text_console(width=100)
    console.print(table)
    return console_text(console)


# --- a fetch round (tracker fetch) ------------------------------------------------------------


def round_dict(rr: RoundReport) -> dict[str, Any]:
    return {
        "round_id": rr.round_id,
        "status": rr.status.value,
        "price": None if rr.price is None else price_text(rr.price),
        "sources": list(rr.sources_used),
        "started_at": iso(rr.started_at),
        "finished_at": iso(rr.finished_at),
        "duration_ms": round(rr.duration_s * 1000),
        "quotes": [
            {
                "source": line.source,
                "role": line.role,
                "price": None if line.price is None else plain(line.price),
                "quoted_at": None if line.quoted_at is None else iso(line.quoted_at),
                "outcome": line.outcome.value,
                "reason": line.reason,
                "latency_ms": line.latency_ms,
                "attempts": line.attempts,
            }
            for line in rr.lines
        ],
        "skipped": list(rr.skipped),
    }


def round_summary(rr: RoundReport) -> str:
    if rr.price is not None:
        return (
            f"Consensus ${grouped(rr.price, 2)}/BTC from {', '.join(rr.sources_used)} "
            f"(round {rr.round_id}, {rr.status.value}, {rr.duration_s:.2f} s)"
        )
    accepted = sum(1 for line in rr.lines if line.outcome.value == "accepted")
    return (
        f"No consensus: round {rr.round_id} {rr.status.value} with {accepted} usable "
        f"quote(s) ({rr.duration_s:.2f} s); the last consensus is unchanged"
    )


ROUND_CSV_FIELDS = (
    "source", "role", "price", "quoted_at", "outcome", "reason", "latency_ms", "attempts",
)  # fmt: skip


def render_round(rr: RoundReport, fmt: str) -> str:
    data = round_dict(rr)
    if fmt == "json":
        return json.dumps(data, indent=2) + "\n"
    if fmt == "csv":
        skipped = [
            {"source": name, "role": "fallback", "outcome": "skipped", "attempts": 0}
            for name in data["skipped"]
        ]
        return csv_text(ROUND_CSV_FIELDS, [*data["quotes"], *skipped])
    header = ("source", "role", "price", "outcome", "ms", "tries", "reason")
    rows: list[tuple[str, ...]] = [
        (
            q["source"], q["role"], q["price"] or "—", q["outcome"],
            "" if q["latency_ms"] is None else str(q["latency_ms"]), str(q["attempts"]),
            q["reason"] or "",
        )
        for q in data["quotes"]
    ]  # fmt: skip
    rows += [(name, "fallback", "—", "skipped", "", "0", "core quorum met") for name in rr.skipped]
    return _grid(header, rows, fmt, footer=[round_summary(rr)])


def _grid(
    header: tuple[str, ...], rows: list[tuple[str, ...]], fmt: str, *, footer: list[str]
) -> str:
    if fmt == "markdown":
        lines = [md_row(header), "|" + "---|" * len(header)]
        lines += [md_row(r) for r in rows]
        return "\n".join([*lines, "", *footer]) + "\n"
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for name in header:
        table.add_column(name, overflow="fold")
    for r in rows:
        table.add_row(*map(Text, r))
    console = text_console(width=110)
    console.print(table)
    for line in footer:
        console.print(line)
    return console_text(console)


# --- source health (tracker sources) ----------------------------------------------------------


def render_sources(entries: list[dict[str, Any]], fmt: str) -> str:
    if fmt == "json":
        return json.dumps({"sources": entries}, indent=2) + "\n"
    if fmt == "csv":
        return csv_text(list(entries[0]), entries)
    header = ("source", "enabled", "ok/asked", "last success", "base_url")
    rows: list[tuple[str, ...]] = [
        (
            e["name"] + (" (fallback)" if e["role"] == "fallback" else ""),
            "yes" if e["enabled"] else "no", f"{e['accepted']}/{e['asked']}",
            e["last_success"] or "never", e["base_url"],
        )
        for e in entries
    ]  # fmt: skip
    errors = [
        f"{e['name']} last failed at {e['last_error_at']}: {e['last_error']}"
        for e in entries
        if e["last_error"]
    ]
    footer = ["ok/asked: accepted answers over each source's last 100 rounds", *errors]
    return _grid(header, rows, fmt, footer=footer)


# --- service status (tracker status) ----------------------------------------------------------


def render_status(data: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(data, indent=2) + "\n"
    lines = [f"Status: {data['status'].upper()} (checked {data['checked_at']})"]
    c = data["consensus"]
    if c is None:
        lines.append("Consensus: none stored yet")
    else:
        age = human_age(dt.timedelta(seconds=c["age_seconds"]))
        lines.append(
            f"Consensus: ${grouped(Decimal(c['price']), 2)}/BTC at {c['at']} from "
            f"{', '.join(c['sources'])}, {age} old (fresh up to {c['max_age_seconds']} s)"
        )
    lines.append(f"Database: {data['database']['url']} (schema {data['database']['schema']})")
    lines.append(f"Daily prices: newest close {data['daily_prices']['newest'] or 'none'}")
    gaps = data["daily_prices"]["gaps"]
    if gaps:
        lines.append(
            f"  missing since {data['daily_prices']['gaps_checked_since']}: {', '.join(gaps)}"
            " (run `tracker backfill`)"
        )
    if data["last_rounds"]:
        lines.append("Last rounds: " + ", ".join(
            f"{r['round_id']} {r['status']}" for r in data["last_rounds"]
        ))  # fmt: skip
    lines.append("Sources (accepted/asked over their last 100 rounds):")
    for s in data["sources"]:
        last = s["last_success"] or "never"
        err = f"; last error {s['last_error']}" if s["last_error"] else ""
        lines.append(f"  {s['name']:<10} {s['accepted']}/{s['asked']}, last success {last}{err}")
    return "\n".join(lines) + "\n"
