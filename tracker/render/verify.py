"""`tracker verify` as text, JSON, CSV or Markdown: per holder the claim, the chain's total,
their difference, the height and the explorers; with ``verbose`` every address's answer from
every explorer. Imported by the command itself (it registers its renderers on import)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tracker.chain_verdict import OK
from tracker.models import Bound
from tracker.money import sats_to_btc
from tracker.render import renders
from tracker.render.text import (
    BOUND_MARK,
    cell,
    console_text,
    csv_text,
    grouped,
    iso,
    md_row,
    plain,
    text_console,
)
from tracker.verify import CheckResult

SCHEMA = 1


@dataclass(frozen=True)
class VerifyReport:
    """The checks one `tracker verify` made."""

    checks: tuple[CheckResult, ...]
    verbose: bool = False


def _btc(sats: int | None) -> str | None:
    return None if sats is None else plain(sats_to_btc(sats))


def _signed(sats: int | None) -> str | None:
    if sats is None:
        return None
    text = plain(sats_to_btc(abs(sats))) or "0"
    return ("-" if sats < 0 else "+" if sats > 0 else "") + text


def _answers(c: CheckResult) -> Iterator[dict[str, Any]]:
    for read in c.reads:
        for a in read.answers:
            yield {
                "explorer": a.explorer,
                "address": a.address,
                "btc": _btc(a.sats),
                "height": read.height,
                "outcome": a.outcome,
                "reason": a.reason,
                "latency_ms": a.latency_ms,
                "attempts": a.attempts,
            }


def check_dict(c: CheckResult) -> dict[str, Any]:
    claim = c.claim
    return {
        "holder": c.holder,
        "name": c.name,
        "status": c.status.value,
        "btc": _btc(c.chain_sats),
        "bound": None if c.chain_bound is None else c.chain_bound.value,
        "height": c.height,
        "checked_at": iso(c.finished_at),
        "started_at": iso(c.started_at),
        "addresses": len(c.addresses),
        "explorers": list(c.explorers),
        "asked": list(c.asked),
        "claim": None
        if claim is None
        else {
            "btc": None if claim.btc is None else plain(claim.btc),
            "bound": None if claim.bound is None else claim.bound.value,
            "as_of": claim.as_of.isoformat(),
            "basis": claim.basis.value,
            "scope": claim.scope.value,
            "source": claim.source,
            "observation_id": claim.id,
        },
        "claim_difference_btc": _signed(c.difference_sats),
        "verdict": None if c.verdict is None else c.verdict.value,
        "reason": c.reason,
        "check_id": c.check_id,
        "tips": [
            {
                "explorer": r.explorer,
                "height": r.height,
                "outcome": r.outcome,
                "reason": r.reason,
                "passes": r.attempts,
                "latency_ms": r.latency_ms,
            }
            for r in c.reads
        ],
        "answers": list(_answers(c)),
    }


@renders(VerifyReport, "json")
def render_json(report: VerifyReport, **_: Any) -> str:
    doc = {"schema": SCHEMA, "checks": [check_dict(c) for c in report.checks]}
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


CSV_FIELDS = (
    "row_type", "holder", "status", "btc", "bound", "height", "claim_btc", "claim_bound",
    "claim_as_of", "claim_difference_btc", "verdict", "explorers", "addresses", "checked_at",
    "explorer", "address", "outcome", "reason",
)  # fmt: skip


@renders(VerifyReport, "csv")
def render_csv(report: VerifyReport, **_: Any) -> str:
    """One ``check`` row per holder; with verbose, an ``answer`` row per explorer and address."""
    rows: list[dict[str, Any]] = []
    for c in report.checks:
        d = check_dict(c)
        claim = d["claim"] or {}
        rows.append(
            {
                "row_type": "check",
                **{k: d[k] for k in ("holder", "status", "btc", "bound", "height")},
                "claim_btc": claim.get("btc"),
                "claim_bound": claim.get("bound"),
                "claim_as_of": claim.get("as_of"),
                "claim_difference_btc": d["claim_difference_btc"],
                "verdict": d["verdict"],
                "explorers": " ".join(c.explorers),
                "addresses": len(c.addresses),
                "checked_at": d["checked_at"],
                "reason": c.reason,
            }
        )
        if report.verbose:
            rows.extend(
                {"row_type": "answer", "holder": c.holder, **a}
                | {"btc": a["btc"], "height": a["height"]}
                for a in d["answers"]
            )
    return csv_text(CSV_FIELDS, rows, extra="ignore")


def _amount(sats: int | None, bound: Bound | None) -> str:
    if sats is None:
        return "—"
    mark = BOUND_MARK[bound] if bound else ""
    return f"{mark}{grouped(sats_to_btc(sats))}"


def _claim_text(c: CheckResult, sep: str = " ") -> str:
    claim = c.claim
    if claim is None or claim.sats is None:
        return "none"
    return f"{_amount(claim.sats, claim.bound)}{sep}({claim.as_of.isoformat()})"


def _difference(c: CheckResult) -> str:
    if c.difference_sats is None:
        return "—"
    sign = "−" if c.difference_sats < 0 else "+"
    return sign + grouped(sats_to_btc(abs(c.difference_sats)))


def _outcome(c: CheckResult, sep: str = ", ") -> str:
    if c.verdict is None:
        return c.status.value
    return f"{c.status.value}{sep}{c.verdict.value}"


def _row(c: CheckResult, sep: str = " ") -> tuple[str, ...]:
    """The check's cells; ``sep`` "\n" stacks the long ones in the table."""
    return (
        c.holder,
        _claim_text(c, sep),
        _amount(c.chain_sats, c.chain_bound),
        _difference(c),
        "—" if c.height is None else str(c.height),
        (", " if sep == " " else sep).join(c.explorers) or "—",
        _outcome(c, ", " if sep == " " else sep),
    )


COLUMNS = ("holder", "claim", "chain", "difference", "height", "explorers", "check")


def _notes(report: VerifyReport) -> list[str]:
    notes: list[str] = []
    for c in report.checks:
        if c.reason:
            notes.append(f"{c.holder}: {c.reason}")
        if c.chain_bound is Bound.AT_LEAST:
            notes.append(
                f"{c.holder}: the chain total is at least the sum of its {len(c.addresses)} "
                "known address(es): its list may be incomplete"
            )
    return notes


def _answer_text(sats: int | None, outcome: str, reason: str | None) -> str:
    if outcome == OK and sats is not None:
        return grouped(sats_to_btc(sats))
    return f"{outcome}: {reason}" if reason else outcome


def _detail_rows(c: CheckResult) -> Iterator[tuple[str, ...]]:
    """Per address, each explorer's balance (BTC) or why it has none."""
    for address in c.addresses:
        cells = [address]
        for read in c.reads:
            found = next((a for a in read.answers if a.address == address), None)
            cells.append(
                "—" if found is None else _answer_text(found.sats, found.outcome, found.reason)
            )
        yield tuple(cells)


@renders(VerifyReport, "table")
def render_table(report: VerifyReport, *, width: int, color: bool = False, **_: Any) -> str:
    from rich.table import Table

    console = text_console(width=width, color=color)
    table = Table(
        title="Claims against the chain",
        title_justify="left",
        box=None,
        pad_edge=False,
        padding=(0, 1, 0, 0),
    )
    for name in COLUMNS:
        table.add_column(
            name,
            no_wrap=name not in ("holder", "explorers"),
            overflow="fold",
            justify="right" if name in ("chain", "difference", "height") else "left",
        )
    for c in report.checks:
        style = "" if not color else ("green" if c.ok else "red")
        cells = _row(c, "\n")
        table.add_row(*(cell(v) for v in cells[:-1]), cell(cells[-1], style))
    console.print(table)
    notes = _notes(report)
    if notes:
        console.print("")
    for note in notes:
        console.print(note)
    if report.verbose:
        for c in report.checks:
            detail = Table(title=f"{c.holder}: every address", title_justify="left")
            detail.add_column("address", overflow="fold")
            for read in c.reads:
                tip = "—" if read.height is None else str(read.height)
                detail.add_column(f"{read.explorer} ({tip})", overflow="fold")
            for row in _detail_rows(c):
                detail.add_row(*(cell(v) for v in row))
            console.print("")
            console.print(detail)
    return console_text(console)


@renders(VerifyReport, "markdown")
def render_markdown(report: VerifyReport, **_: Any) -> str:
    lines = [md_row(COLUMNS), md_row("---" for _ in COLUMNS)]
    lines.extend(md_row(_row(c)) for c in report.checks)
    notes = _notes(report)
    if notes:
        lines.append("")
        lines.extend(f"- {n}" for n in notes)
    if report.verbose:
        for c in report.checks:
            head = ["address", *(r.explorer for r in c.reads)]
            lines += ["", f"**{c.holder}**: every address", "", md_row(head)]
            lines.append(md_row("---" for _ in head))
            lines.extend(md_row(row) for row in _detail_rows(c))
    return "\n".join(lines) + "\n"


def exit_code(report: VerifyReport) -> int:
    """0 when every check is verified and none differs from its claim, else 1."""
    return 0 if all(c.ok for c in report.checks) else 1
