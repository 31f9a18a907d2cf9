"""What `tracker db copy` and `db import` print: a line per table, and --verify's verdicts."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tracker.copy_results import TableCheck, TableCopy


def table_lines(results: list[TableCopy], *, verb: str = "copied") -> str:
    """``holders   13 rows: 13 copied, 0 already there`` (and updated / only-in-destination
    counts when there are any)."""
    width = max((len(r.name) for r in results), default=0)
    lines = []
    for r in results:
        parts = [f"{r.copied:,} {verb}", f"{r.present:,} already there"]
        if r.updated:
            parts.append(f"{r.updated:,} updated")
        if r.only_in_destination:
            parts.append(f"{r.only_in_destination:,} only in the destination")
        lines.append(f"{r.name:{width}}  {r.source_rows:>11,} rows: " + ", ".join(parts))
    return "".join(line + "\n" for line in lines)


def check_lines(checks: list[TableCheck]) -> str:
    width = max((len(c.name) for c in checks), default=0)
    lines = []
    for c in checks:
        if c.same:
            lines.append(f"{c.name:{width}}  {c.source.rows:>11,} rows  {c.source.hex[:16]}  same")
        else:
            lines.append(
                f"{c.name:{width}}  {c.source.rows:>11,} rows  {c.source.hex[:16]}  DIFFERS: "
                f"{c.destination.rows:,} rows, {c.destination.hex[:16]} in the destination"
            )
    return "".join(line + "\n" for line in lines)


def as_json(
    source: str, destination: str, results: list[TableCopy], checks: list[TableCheck] | None
) -> str:
    doc: dict[str, Any] = {
        "source": source,
        "destination": destination,
        "tables": [
            {
                "table": r.name,
                "source_rows": r.source_rows,
                "copied": r.copied,
                "already_there": r.present,
                "updated": r.updated,
                "only_in_destination": r.only_in_destination,
            }
            for r in results
        ],
    }
    if checks is not None:
        doc["verify"] = [
            {
                "table": c.name,
                "same": c.same,
                "source": {"rows": c.source.rows, "checksum": c.source.hex},
                "destination": {"rows": c.destination.rows, "checksum": c.destination.hex},
            }
            for c in checks
        ]
    return json.dumps(doc, indent=2) + "\n"
