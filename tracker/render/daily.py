"""The daily series' outputs: `tracker history` (a Timeline), what a backfill or a CSV import
did, and a `--check` of two series; as a table, JSON or CSV."""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Decimal
from typing import TYPE_CHECKING, Any

from tracker.clock import DAY
from tracker.daily import daily_preference
from tracker.daily.backfill import PRIMARY, BackfillResult
from tracker.daily.bundled import CsvResult
from tracker.daily.check import PCT_QUANTUM, CheckResult
from tracker.daily.history import Holding, Interval, Timeline
from tracker.headline import State
from tracker.models import Gap
from tracker.render import renders
from tracker.render.onchain import ONCHAIN_NOTE, onchain_dict, onchain_text, onchain_value_text
from tracker.render.text import (
    BOUND_MARK,
    cell,
    console_text,
    csv_text,
    grouped,
    plain,
    price_text,
    text_console,
)

if TYPE_CHECKING:
    from rich.table import Table

# --- tracker history ----------------------------------------------------------------------------

CSV_FIELDS = (
    "period", "start", "end", "close_date", "close", "close_source",
    "holder", "btc", "bound", "basis", "holding_as_of", "value", "state", "scope",
)  # fmt: skip
# with a holder's on-chain series shown (tl.onchain), these follow
ONCHAIN_CSV_FIELDS = ("onchain_btc", "onchain_bound", "onchain_as_of", "onchain_value")
INTERVAL_WORD = {Interval.DAY: "daily", Interval.WEEK: "weekly", Interval.MONTH: "monthly"}


def _holding_dict(h: Holding, onchain: tuple[str, ...] = ()) -> dict[str, Any]:
    chain = {"onchain": onchain_dict(h)} if h.slug in onchain else {}
    return {
        "slug": h.slug,
        "btc": plain(h.btc),
        "bound": None if h.bound is None else h.bound.value,
        "basis": None if h.basis is None else h.basis.value,
        "holding_as_of": None if h.as_of is None else h.as_of.isoformat(),
        "value": None if h.value is None else format(h.value, "f"),
        "state": h.state.value,
        "scope": None if h.scope is None else h.scope.value,
        **chain,
    }


def to_dict(tl: Timeline) -> dict[str, Any]:
    """Decimals as strings, dates as YYYY-MM-DD; a holding without an amount (state
    ``undisclosed`` or ``no_data``) has null btc and value, never 0. A holder with an on-chain
    series in the range has an ``onchain`` object in each holding (null for a period without
    a stored day)."""
    return {
        "interval": tl.interval.value,
        "from": tl.start.isoformat(),
        "to": tl.end.isoformat(),
        "as_known_at": None if tl.known_at is None else tl.known_at.isoformat(),
        "currency": tl.currency,
        "holders": [{"slug": h.slug, "name": h.name} for h in tl.holders],
        "periods": [
            {
                "period": p.label,
                "start": p.start.isoformat(),
                "end": p.end.isoformat(),
                "close": price_text(p.close),
                "close_date": p.close_date.isoformat(),
                "close_source": p.close_source,
                "holdings": [_holding_dict(h, tl.onchain) for h in p.holdings],
            }
            for p in tl.periods
        ],
        "bundled_series_ends": None if tl.bundled_ends is None else tl.bundled_ends.isoformat(),
        "missing_days": [
            {"from": g.first.isoformat(), "to": g.last.isoformat(), "days": g.days}
            for g in tl.missing
        ],
    }


@renders(Timeline, "json")
def render_json(tl: Timeline, **_: Any) -> str:
    return json.dumps(to_dict(tl), indent=2, ensure_ascii=False) + "\n"


@renders(Timeline, "csv")
def render_csv(tl: Timeline, **_: Any) -> str:
    """One line per period and holder (one per period when no holder is chosen); the on-chain
    columns follow when a holder shown has an on-chain series."""
    rows = []
    fields = CSV_FIELDS + (ONCHAIN_CSV_FIELDS if tl.onchain else ())
    for p in to_dict(tl)["periods"]:
        base = {k: p[k] for k in ("period", "start", "end", "close_date", "close", "close_source")}
        for h in p["holdings"] or [{}]:
            chain = {f"onchain_{k}": v for k, v in (h.get("onchain") or {}).items()}
            row = {**base, "holder": h.get("slug"), **{k: h.get(k) for k in CSV_FIELDS[7:]}}
            rows.append(row | {k: chain.get(k) for k in fields[len(CSV_FIELDS) :]})
    return csv_text(fields, rows)


NO_AMOUNT = {State.UNDISCLOSED: "undisclosed", State.NO_DATA: "no data"}


def btc_text(h: Holding) -> str:
    if h.btc is None:
        return NO_AMOUNT.get(h.state, "no data")
    return f"{BOUND_MARK[h.bound] if h.bound else ''}{grouped(h.btc)}"


def value_text(h: Holding) -> str:
    """The value at the period's close, marked with its holding's bound (an exact price times
    an at-least amount is at least that value)."""
    if h.value is None:
        return "—"
    return f"{BOUND_MARK[h.bound] if h.bound else ''}{grouped(h.value, 2)}"


def title(tl: Timeline) -> str:
    known = "" if tl.known_at is None else f", as known on {tl.known_at}"
    return (
        f"BTC/{tl.currency} {INTERVAL_WORD[tl.interval]} close and holdings, {tl.start} to {tl.end}"
        + known
    )


def gap_lines(gaps: Sequence[Gap], *, limit: int = 10) -> list[str]:
    """Lines naming the missing days (the first ``limit`` runs, then a count of the rest)."""
    if not gaps:
        return []
    total = sum(g.days for g in gaps)
    lines = [f"Missing days in the daily series: {total:,} in {len(gaps):,} run(s)"]
    lines += [f"  {g}" for g in gaps[:limit]]
    if len(gaps) > limit:
        lines.append(f"  … and {len(gaps) - limit:,} more run(s): see --format json")
    return lines


def _wide_table(tl: Timeline) -> Table:
    """A row per period, two columns per holder."""
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column(cell("Period"), no_wrap=True)
    table.add_column(cell(f"Close ({tl.currency})"), justify="right", no_wrap=True)
    for h in tl.holders:
        table.add_column(cell(f"{h.name}\nBTC"), justify="right", no_wrap=True)
        table.add_column(cell(f"{h.name}\nvalue ({tl.currency})"), justify="right", no_wrap=True)
        if h.slug in tl.onchain:
            table.add_column(cell(f"{h.name}\non-chain BTC"), justify="right", no_wrap=True)
    for p in tl.periods:
        cells = [p.label, grouped(p.close, 2)]
        for held in p.holdings:
            cells += [btc_text(held), value_text(held)]
            cells += [onchain_text(held)] if held.slug in tl.onchain else []
        table.add_row(*map(cell, cells))
    return table


def _long_table(tl: Timeline) -> Table:
    """A row per period and holder: what fits a narrow terminal whatever the holders."""
    from rich import box
    from rich.table import Table

    names = {h.slug: h.name for h in tl.holders}
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column(cell("Period"), no_wrap=True)
    table.add_column(cell(f"Close ({tl.currency})"), justify="right", no_wrap=True)
    table.add_column(cell("Holder"), overflow="fold", ratio=1)
    table.add_column(cell("BTC"), justify="right", no_wrap=True)
    table.add_column(cell(f"Value ({tl.currency})"), justify="right", no_wrap=True)
    for p in tl.periods:
        first = True
        for held in p.holdings or (None,):
            head = [p.label, grouped(p.close, 2)] if first else ["", ""]
            first = False
            if held is None:
                table.add_row(*map(cell, [*head, "", "", ""]))
                continue
            value = value_text(held)
            table.add_row(*map(cell, [*head, names[held.slug], btc_text(held), value]))
            if held.onchain_sats is not None:  # its on-chain balance on a line of its own, under it
                chain = onchain_value_text(held)
                table.add_row(*map(cell, ["", "", "  on-chain", onchain_text(held), chain]))
    return table


@renders(Timeline, "table")
def render_table(tl: Timeline, *, width: int, color: bool = False) -> str:
    """The history as a text table: a column pair per holder when that fits the width, else a
    row per period and holder. Every cell and heading goes to Rich as text, never as markup: a
    holder's name such as "Bhutan [via Druk Holding]" is shown as typed."""
    from rich.measure import Measurement

    console = text_console(width=width, color=color)
    table = _wide_table(tl)
    if Measurement.get(console, console.options.update_width(100_000), table).maximum > width:
        table = _long_table(tl)
    console.print(cell(title(tl)))  # above the table, not as its title: never wrapped
    console.print(table)
    if not tl.periods:
        console.print(cell("No daily closes in this range: run `tracker backfill`."))
    sources = sorted({p.close_source for p in tl.periods}, key=daily_preference)
    ends = "" if tl.bundled_ends is None else f"; the bundled series ends {tl.bundled_ends}"
    notes = [
        "Close: the last daily close of each period"
        + (f" (from {', '.join(sources)}{ends})" if sources else "")
        + "; holdings as of each period's end (the government figure, else the reserve one).",
        "≥ at least, ~ approximate; undisclosed: no amount published by then; no data: no "
        "observation by then (neither is zero).",
        *([ONCHAIN_NOTE] if tl.onchain else []),
        *gap_lines(tl.missing),
    ]
    for line in notes:
        console.print(cell(line, style="dim"))
    return console_text(console)


# --- what a backfill or a CSV import did ---------------------------------------------------------


def _gap_dict(gap: Gap) -> dict[str, Any]:
    return {"from": gap.first.isoformat(), "to": gap.last.isoformat(), "days": gap.days}


def backfill_dict(self: BackfillResult) -> dict[str, Any]:
    gap = self.unreachable
    return {
        "source": self.source,
        "from": self.start.isoformat(),
        "to": self.end.isoformat(),
        "missing_before": self.missing_before,
        "requests": self.requests,
        "received": self.received,
        "added": self.added,
        "missing_after": [_gap_dict(g) for g in self.missing_after],
        "unreachable": None if gap is None else _gap_dict(gap),
    }


def backfill_lines(self: BackfillResult) -> list[str]:
    head = f"{self.source}: {self.start} to {self.end}"
    if self.start > self.end:
        lines = [
            f"{self.source}: its daily candles start {self.start}, after {self.end}: "
            "nothing to ask for"
        ]
    elif not self.missing_before:
        lines = [f"{head}: nothing missing, nothing asked"]
    else:
        lines = [
            f"{head}: {self.missing_before:,} missing day(s), {self.requests:,} request(s), "
            f"{self.received:,} candle(s) received, {self.added:,} added"
        ]
    if self.unreachable is not None:
        other = "" if self.source == PRIMARY else f" (try --source {PRIMARY})"
        lines.append(
            f"  {self.source} has no daily candles before "
            f"{self.unreachable.last + DAY}: {self.unreachable} cannot come from it{other}"
        )
    if self.missing_after:
        total = sum(g.days for g in self.missing_after)
        lines.append(f"  {self.source} served nothing for {total:,} day(s):")
        lines += [f"    {g}" for g in self.missing_after[:10]]
        if len(self.missing_after) > 10:
            lines.append(f"    … and {len(self.missing_after) - 10:,} more run(s)")
    return lines


def csv_result_dict(result: CsvResult) -> dict[str, Any]:
    return {
        "file": str(result.path),
        "source": result.source,
        "read": result.read,
        "added": result.added,
        "skipped_open": result.skipped_open,
        "skipped_range": result.skipped_range,
    }


def csv_result_lines(result: CsvResult) -> list[str]:
    already = result.read - result.added - result.skipped_open - result.skipped_range
    lines = [
        f"{result.path}: {result.read:,} row(s) read, {result.added:,} added as source "
        f"{result.source!r}, {already:,} already stored"
    ]
    if result.skipped_range:
        lines.append(f"  {result.skipped_range:,} row(s) outside --from/--to skipped")
    if result.skipped_open:
        lines.append(f"  {result.skipped_open:,} row(s) dated today or later skipped (not final)")
    return lines


def _flat_csv(data: dict[str, Any]) -> str:
    flat = {k: v if isinstance(v, str | int | None) else json.dumps(v) for k, v in data.items()}
    return csv_text(list(flat), [flat])


@renders(BackfillResult, "json")
def render_backfill_json(result: BackfillResult, **_: Any) -> str:
    return json.dumps(backfill_dict(result), indent=2) + "\n"


@renders(BackfillResult, "csv")
def render_backfill_csv(result: BackfillResult, **_: Any) -> str:
    return _flat_csv(backfill_dict(result))


@renders(BackfillResult, "table")
def render_backfill_text(result: BackfillResult, **_: Any) -> str:
    return "\n".join(backfill_lines(result)) + "\n"


@renders(CsvResult, "json")
def render_csv_result_json(result: CsvResult, **_: Any) -> str:
    return json.dumps(csv_result_dict(result), indent=2) + "\n"


@renders(CsvResult, "csv")
def render_csv_result_csv(result: CsvResult, **_: Any) -> str:
    return _flat_csv(csv_result_dict(result))


@renders(CsvResult, "table")
def render_csv_result_text(result: CsvResult, **_: Any) -> str:
    return "\n".join(csv_result_lines(result)) + "\n"


# --- two series compared (tracker backfill --check) ---------------------------------------------


def _pct_text(value: Decimal) -> str:
    return f"{value.quantize(PCT_QUANTUM, rounding=ROUND_HALF_EVEN):+}"


def _render_check(result: CheckResult, fmt: str) -> str:
    rows = [
        {
            "date": d.day.isoformat(),
            result.source: price_text(d.close),
            result.reference: price_text(d.reference_close),
            "difference_pct": _pct_text(d.pct),
        }
        for d in result.differences
    ]
    if fmt == "json":
        data = {
            "source": result.source,
            "reference": result.reference,
            "overlap_days": result.overlap,
            "from": None if result.first is None else result.first.isoformat(),
            "to": None if result.last is None else result.last.isoformat(),
            "tolerance_pct": format(result.tolerance_pct, "f"),
            "differences": rows,
        }
        return json.dumps(data, indent=2) + "\n"
    if fmt == "csv":
        return csv_text(["date", result.source, result.reference, "difference_pct"], rows)
    vs = f"{result.source} against {result.reference}"
    if not result.overlap:
        return f"{vs}: no day in common to compare\n"
    lines = [
        f"{vs}: {result.overlap:,} day(s) in common, {result.first} to {result.last}; "
        f"{len(rows):,} differ by more than {result.tolerance_pct} %"
    ]
    if rows:
        width = max(len(r[result.source]) for r in rows) + 2
        ref_width = max(len(r[result.reference]) for r in rows) + 2
        lines.append(
            f"  {'date':<10}  {result.source:>{width}}  {result.reference:>{ref_width}}  difference"
        )
        lines += [
            f"  {r['date']:<10}  {r[result.source]:>{width}}  {r[result.reference]:>{ref_width}}"
            f"  {r['difference_pct']:>8} %"
            for r in rows
        ]
    return "\n".join(lines) + "\n"


@renders(CheckResult, "json")
def render_check_json(result: CheckResult, **_: Any) -> str:
    return _render_check(result, "json")


@renders(CheckResult, "csv")
def render_check_csv(result: CheckResult, **_: Any) -> str:
    return _render_check(result, "csv")


@renders(CheckResult, "table")
def render_check_text(result: CheckResult, **_: Any) -> str:
    return _render_check(result, "table")
