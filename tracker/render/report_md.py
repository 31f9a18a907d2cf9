"""`tracker report` as Markdown, for pasting into a document: the table with its parts, the
legend, the comparison, the excluded list, the exact changes and the sources as footnotes
(report_text.py has the helpers it shares with the table)."""

from __future__ import annotations

from typing import Any

from tracker.render import renders
from tracker.render.report_text import (
    change_rows,
    comparison_lines,
    estimate_rows,
    excluded_lines,
    footnote,
    holder_cells,
    legend,
    numbered,
    part_btc,
    part_date,
    part_footnote,
    part_kind,
    part_label,
    price_line,
    title,
)
from tracker.render.text import md, md_row
from tracker.report import Report


@renders(Report, "markdown")
def render_markdown(report: Report, **_: Any) -> str:
    lines = [f"## {title(report)}", ""]
    if report.as_known_at is not None:
        lines += [f"As known on {report.as_known_at}: sources published later are left out.", ""]
    lines.append("| Holder | BTC | Basis | Scope | As of | Value (USD) | % of 21M | BTC/person |")
    lines.append("|---|---:|---|---|---|---:|---:|---:|")
    for label, v, part in numbered(report):
        if part is None:
            shown = v.shown
            basis = (
                "—" if shown is None else "undisclosed" if v.claim is None else v.claim.basis.value
            )
            scope = "—" if shown is None else shown.scope.value
            amount, value, share, person = holder_cells(v)
            as_of = "—" if shown is None else shown.as_of
            cells = (
                f"{v.holder.name} [^{label}]",
                amount,
                basis,
                scope,
                as_of,
                value,
                share,
                person,
            )
        else:
            cells = (
                f"↳ {part_label(part)} [^{label}]", part_btc(part), *part_kind(part),
                part_date(part), "", "", "",
            )  # fmt: skip
        lines.append(md_row(cells))
    lines += ["", legend(report), "", price_line(report), ""]
    lines += [f"- {line}" for line in comparison_lines(report)]
    lines.append("")
    if report.excluded:
        lines += ["Listed by other trackers, not counted here:", ""]
        lines += [f"- {md(line)}" for line, _ in excluded_lines(report)]
        lines.append("")
    header, rows = change_rows(report, exact=True)
    if rows:
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
    for label, v, part in numbered(report):
        text = footnote(v) if part is None else part_footnote(part)
        lines.append(f"[^{label}]: {md(text)}")
    return "\n".join(lines) + "\n"
