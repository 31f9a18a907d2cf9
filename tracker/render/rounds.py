"""A fetch round (`tracker fetch`), the price sources (`tracker sources`) and the service's
status (`tracker status`) as text, JSON, CSV or Markdown."""

from __future__ import annotations

import json
import textwrap
from typing import Any

from tracker.clock import human_age
from tracker.models import RoundReport
from tracker.money import sats_to_btc
from tracker.render import renders
from tracker.render.text import (
    cell,
    console_text,
    csv_text,
    grouped,
    iso,
    md_row,
    plain,
    price_text,
    text_console,
)
from tracker.status import Sources, SourceState, Status

NARROW = 100  # below this many columns a round's reasons go under its table

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
        "held": None
        if rr.held is None
        else {
            "price": price_text(rr.held.price),
            "sources": list(rr.held.sources),
            "reason": rr.held.reason,
        },
        "confirmed_round": rr.confirmed_round,
    }


def round_summary(rr: RoundReport) -> str:
    if rr.price is not None:
        confirms = (
            ""
            if rr.confirmed_round is None
            else f"; it confirms the price round {rr.confirmed_round} held, stored for it too"
        )
        return (
            f"Consensus ${grouped(rr.price, 2)}/BTC from {', '.join(rr.sources_used)} "
            f"(round {rr.round_id}, {rr.status.value}, {rr.duration_s:.2f} s){confirms}"
        )
    if rr.held is not None:
        return (
            f"Suspect price held, not stored (round {rr.round_id}, {rr.status.value}, "
            f"{rr.duration_s:.2f} s): ${grouped(rr.held.price, 2)}/BTC from "
            f"{', '.join(rr.held.sources)} is {rr.held.reason}.\n"
            "Held until the next round confirms it (its consensus within the limit of this "
            "price); the last consensus is unchanged."
        )
    accepted = sum(1 for line in rr.lines if line.outcome.value == "accepted")
    return (
        f"No consensus: round {rr.round_id} {rr.status.value} with {accepted} usable "
        f"quote(s) ({rr.duration_s:.2f} s); the last consensus is unchanged"
    )


ROUND_CSV_FIELDS = (
    "source", "role", "price", "quoted_at", "outcome", "reason", "latency_ms", "attempts",
)  # fmt: skip


@renders(RoundReport, "json")
def render_round_json(rr: RoundReport, **_: Any) -> str:
    return json.dumps(round_dict(rr), indent=2) + "\n"


@renders(RoundReport, "csv")
def render_round_csv(rr: RoundReport, **_: Any) -> str:
    data = round_dict(rr)
    skipped = [
        {"source": name, "role": "fallback", "outcome": "skipped", "attempts": 0}
        for name in data["skipped"]
    ]
    return csv_text(ROUND_CSV_FIELDS, [*data["quotes"], *skipped])


@renders(RoundReport, "table")
def render_round_table(rr: RoundReport, *, width: int, fmt: str = "table", **_: Any) -> str:
    data = round_dict(rr)
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
    if fmt == "table" and width < NARROW:
        # No room for a reason column: the reasons follow the table, one line per source.
        notes = [f"{r[0]}: {r[6]}" for r in rows if r[6] and r[3] not in ("accepted", "skipped")]
        if rr.skipped:
            notes.append(f"Not asked (the core quorum was met): {', '.join(rr.skipped)}")
        compact: list[tuple[str, ...]] = [
            (r[0] + (" (fallback)" if r[1] == "fallback" else ""), r[2], r[3], r[4]) for r in rows
        ]
        short = ("source", "price", "outcome", "ms")
        return _grid(short, compact, fmt, footer=[*notes, round_summary(rr)], width=width, fold="")
    return _grid(header, rows, fmt, footer=[round_summary(rr)], width=width)


@renders(RoundReport, "markdown")
def render_round_markdown(rr: RoundReport, *, width: int, **_: Any) -> str:
    return render_round_table(rr, width=width, fmt="markdown")


def _grid(
    header: tuple[str, ...],
    rows: list[tuple[str, ...]],
    fmt: str,
    *,
    footer: list[str],
    width: int,
    fold: str = "reason",
) -> str:
    """A plain table (or Markdown) with lines under it; the ``fold`` column takes the width
    the terminal leaves and wraps."""
    if fmt == "markdown":
        lines = [md_row(header), "|" + "---|" * len(header)]
        lines += [md_row(r) for r in rows]
        return "\n".join([*lines, "", *footer]) + "\n"
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for name in header:
        table.add_column(
            name, overflow="fold", ratio=1 if name == fold else None, no_wrap=name != fold
        )
    for r in rows:
        table.add_row(*map(cell, r))
    console = text_console(width=width)
    console.print(table)
    for line in footer:
        console.print(line)
    return console_text(console)


# --- source health (tracker sources) ----------------------------------------------------------


def source_dict(s: SourceState) -> dict[str, Any]:
    h = s.health
    return {
        "name": s.name,
        "role": s.role,
        "enabled": s.enabled,
        "base_url": s.base_url,
        "timeout_s": s.timeout_s,
        "last_success": None if h.last_success is None else iso(h.last_success),
        "asked": h.asked,
        "accepted": h.accepted,
        "success_rate": None if not h.asked else round(h.accepted / h.asked, 4),
        "last_error_at": None if h.last_error_at is None else iso(h.last_error_at),
        "last_error": h.last_error,
    }


@renders(Sources, "json")
def render_sources_json(sources: Sources, **_: Any) -> str:
    return json.dumps({"sources": [source_dict(s) for s in sources.entries]}, indent=2) + "\n"


@renders(Sources, "csv")
def render_sources_csv(sources: Sources, **_: Any) -> str:
    entries = [source_dict(s) for s in sources.entries]
    return csv_text(list(entries[0]), entries)


@renders(Sources, "table")
def render_sources_table(sources: Sources, *, width: int, fmt: str = "table", **_: Any) -> str:
    entries = [source_dict(s) for s in sources.entries]
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
    return _grid(header, rows, fmt, footer=footer, width=width, fold="base_url")


@renders(Sources, "markdown")
def render_sources_markdown(sources: Sources, *, width: int, **_: Any) -> str:
    return render_sources_table(sources, width=width, fmt="markdown")


# --- service status (tracker status) ----------------------------------------------------------


def status_dict(status: Status) -> dict[str, Any]:
    c = status.consensus
    return {
        "status": status.state,
        "checked_at": iso(status.checked_at),
        "consensus": None
        if c is None
        else {
            "price": price_text(c.price),
            "at": iso(c.at),
            "sources": list(c.sources),
            "age_seconds": int(c.age.total_seconds()),
            "max_age_seconds": int(c.max_age.total_seconds()),
        },
        "last_rounds": [
            {
                "round_id": r.id,
                "started_at": iso(r.started_at),
                "status": r.status,
                "duration_ms": round((r.finished_at - r.started_at).total_seconds() * 1000),
            }
            for r in status.last_rounds
        ],
        "sources": [
            {
                "name": h.source,
                "asked": h.asked,
                "accepted": h.accepted,
                "last_success": None if h.last_success is None else iso(h.last_success),
                "last_error": h.last_error,
            }
            for h in status.sources
        ],
        "daily_prices": {
            "newest": None if status.newest_daily is None else status.newest_daily.isoformat(),
            "gaps": [str(gap) for gap in status.gaps],
            "gaps_checked_since": status.gaps_since.isoformat(),
        },
        "database": {"url": status.database_url, "schema": status.schema},
        "checks": [
            {
                "holder": c.holder,
                "status": c.status,
                "verdict": c.verdict,
                "height": c.height,
                "btc": plain(None if c.chain_sats is None else sats_to_btc(c.chain_sats)),
                "claim_difference_btc": plain(
                    None if c.difference_sats is None else sats_to_btc(c.difference_sats)
                ),
                "checked_at": iso(c.finished_at),
                "age_seconds": int(c.age.total_seconds()),
            }
            for c in status.checks
        ],
    }


@renders(Status, "json")
def render_status_json(status: Status, **_: Any) -> str:
    return json.dumps(status_dict(status), indent=2) + "\n"


@renders(Status, "table")
def render_status_table(status: Status, *, width: int, **_: Any) -> str:
    data = status_dict(status)
    lines = [f"Status: {data['status'].upper()} (checked {data['checked_at']})"]
    c = status.consensus
    if c is None:
        lines.append("Consensus: none stored yet")
    else:
        lines.append(
            f"Consensus: ${grouped(c.price, 2)}/BTC at {iso(c.at)} from "
            f"{', '.join(c.sources)}, {human_age(c.age)} old "
            f"(fresh up to {int(c.max_age.total_seconds())} s)"
        )
    lines.append(f"Database (schema {status.schema}): {status.database_url}")
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
    if status.checks:
        lines.append("On-chain checks (newest per holder; `tracker verify`):")
    for chk in status.checks:
        verdict = "" if chk.verdict is None else f", {chk.verdict}"
        at = "" if chk.height is None else f" at height {chk.height}"
        ago = f"{human_age(chk.age)} ago ({iso(chk.finished_at)})"
        lines.append(f"  {chk.name}: {chk.status}{verdict}{at}, {ago}")
    return "".join(_wrapped(line, width) for line in lines)


def _wrapped(line: str, width: int) -> str:
    """A status line folded to ``width``, its continuation indented under its text; a word
    longer than the width (a database URL) is kept whole, on a line of its own."""
    lead = len(line) - len(line.lstrip(" "))
    rest = " " * (lead + 2)
    return (
        "\n".join(
            textwrap.wrap(
                line, width, subsequent_indent=rest, break_on_hyphens=False, break_long_words=False
            )
        )
        + "\n"
    )
