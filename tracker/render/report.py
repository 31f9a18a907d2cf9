"""`tracker report` as JSON or CSV (report_text.py: as a table or Markdown)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from tracker.headline import Excluded
from tracker.models import Bound, Claim
from tracker.render import renders
from tracker.render.text import (
    cents,
    csv_text,
    iso,
    plain,
    price_text,
)
from tracker.report import Onchain, Report
from tracker.valuation import Change, Estimate, Valuation, unrealized_pnl

# --- JSON -----------------------------------------------------------------------------------


def to_dict(report: Report) -> dict[str, Any]:
    """The stable JSON shape of DESIGN.md: decimals as strings, instants ISO 8601 with Z."""
    price = report.price
    return {
        "schema_version": report.schema_version,
        "generated_at": iso(report.generated_at),
        "at": None if report.at is None else iso(report.at),
        "as_known_at": None if report.as_known_at is None else report.as_known_at.isoformat(),
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
            "series_ends": None if report.series_ends is None else report.series_ends.isoformat(),
        },
        "holders": [_holder_dict(v, report) for v in report.valuations],
        "comparison": {
            "total_btc": plain(report.comparison.total_btc),
            "total_value": cents(report.comparison.total_value),
            "total_bound": report.comparison.total_bound.value,  # of both totals
            "holders_counted": sum(v.btc is not None for v in report.valuations),
            "total_share_pct": format(report.comparison.total_share_pct, "f"),
            "pairs": [
                {
                    "a": p.a,
                    "b": p.b,
                    "btc_ratio": None if p.btc_ratio is None else format(p.btc_ratio, "f"),
                    "btc_ratio_bound": _bound(p.btc_ratio_bound),
                    "value_difference": cents(p.value_difference),
                    "value_difference_bound": _bound(p.value_difference_bound),
                }
                for p in report.comparison.pairs
            ],
        },
        "excluded": [_excluded_dict(e) for e in report.excluded],
        "changes": {c.label: _change_dict(c) for c in report.changes},
        "warnings": list(report.warnings),
    }


def _excluded_dict(e: Excluded) -> dict[str, Any]:
    c = e.claim
    return {
        "slug": e.slug,
        "name": e.name,
        "btc": plain(c.btc),
        "bound": _bound(c.bound),
        "as_of": c.as_of.isoformat(),
        "basis": c.basis.value,
        "scope": c.scope.value,
        "source": c.source,
        "url": c.url,
        "reason": e.reason,
    }


def part_dict(c: Claim) -> dict[str, Any]:
    """A reserve or subset figure shown with a holder's headline (never added to it)."""
    return {
        "scope": c.scope.value,
        "btc": plain(c.btc),
        "bound": _bound(c.bound),
        "basis": c.basis.value,
        "as_of": c.as_of.isoformat(),
        "source": c.source,
        "url": c.url,
        "published": None if c.published is None else c.published.isoformat(),
        "note": c.note,
    }


def _bound(bound: Bound | None) -> str | None:
    return None if bound is None else bound.value


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
                "value": cents(h.value_then),
                "value_change": cents(h.value_change),
                "value_change_bound": _bound(h.value_change_bound),
                "value_change_pct": _pct(h.value_change_pct),
                "value_change_pct_bound": _bound(h.value_change_pct_bound),
            }
            for slug, h in c.holders.items()
        },
    }


def claim_dict(c: Claim) -> dict[str, Any]:
    """One observation as JSON/CSV fields (decimals as strings)."""
    return {
        "id": c.id,
        "btc": plain(c.btc),
        "bound": None if c.bound is None else c.bound.value,
        "as_of": c.as_of.isoformat(),
        "basis": c.basis.value,
        "scope": c.scope.value,
        "source": c.source,
        "url": c.url,
        "published": None if c.published is None else c.published.isoformat(),
        "supersedes": c.supersedes,
        "note": c.note,
        "cost_basis_usd": plain(c.cost_basis_usd),
    }


def _estimate_dict(e: Estimate) -> dict[str, Any]:
    return {**claim_dict(e.claim), "value": cents(e.value), "used": e.used}


def _holder_dict(v: Valuation, report: Report) -> dict[str, Any]:
    shown = v.shown
    extra: dict[str, Any] = {}
    if report.estimates is not None:
        extra["estimates"] = [_estimate_dict(e) for e in report.estimates.get(v.holder.slug, [])]
    cost = None if v.claim is None else v.claim.cost_basis_usd
    return {
        "slug": v.holder.slug,
        "name": v.holder.name,
        "kind": v.holder.kind.value,
        "state": v.state.value,
        "divested": v.divested,
        "btc": plain(v.btc),
        "bound": None if v.claim is None or v.claim.bound is None else v.claim.bound.value,
        "holding_as_of": None if shown is None else shown.as_of.isoformat(),
        "holding_age_days": v.holding_age_days,
        "holding_stale": report.holding_stale(v),
        "basis": None
        if shown is None
        else "undisclosed"
        if v.claim is None
        else v.claim.basis.value,
        "scope": None if shown is None else shown.scope.value,
        "source": None if shown is None else shown.source,
        "url": None if shown is None else shown.url,
        "published": None
        if shown is None or shown.published is None
        else shown.published.isoformat(),
        "note": None if shown is None else shown.note,
        "value": cents(v.value),
        "share_of_supply_pct": None
        if v.share_of_supply_pct is None
        else format(v.share_of_supply_pct, "f"),
        "share_of_supply_bound": _bound(v.share_of_supply_bound),
        "btc_per_capita": per_capita(v.btc_per_capita),
        "btc_per_capita_bound": _bound(v.btc_per_capita_bound),
        "usd_per_capita": cents(v.usd_per_capita),
        "usd_per_capita_bound": _bound(v.usd_per_capita_bound),
        "cost_basis_usd": plain(cost),
        "unrealized_pnl": cents(unrealized_pnl(v)),
        "population": v.holder.population,
        "population_year": v.holder.population_year,
        "parts": [part_dict(c) for c in v.parts],
        "onchain": onchain_dict(report.onchain.get(v.holder.slug)),
        **extra,
    }


def onchain_dict(check: Onchain | None) -> dict[str, Any] | None:
    """DESIGN.md's ``onchain`` object: the newest recent check of the claim against the chain."""
    if check is None:
        return None
    return {
        "btc": plain(check.btc),
        "bound": _bound(check.bound),
        "height": check.height,
        "checked_at": iso(check.checked_at),
        "addresses": check.addresses,
        "explorers": list(check.explorers),
        "status": check.status,
        "claim_difference_btc": None
        if check.claim_difference_btc is None
        else format(check.claim_difference_btc, "f"),
        "verdict": check.verdict,
    }


@renders(Report, "json")
def render_json(report: Report, **_: Any) -> str:
    return json.dumps(to_dict(report), indent=2, ensure_ascii=False) + "\n"


# --- CSV ------------------------------------------------------------------------------------

CSV_FIELDS = (
    "row_type", "slug", "name", "btc", "bound", "holding_as_of", "holding_age_days",
    "holding_stale", "basis", "source", "value", "state", "kind", "scope", "url", "published",
    "share_of_supply_pct", "share_of_supply_bound", "btc_per_capita", "btc_per_capita_bound",
    "usd_per_capita", "usd_per_capita_bound", "cost_basis_usd", "unrealized_pnl", "price",
    "price_kind", "price_as_of", "price_stale", "price_series_ends", "at", "generated_at",
)  # fmt: skip
SUMMARY_FIELDS = (  # the total row's and the pair rows' own columns, after the changes
    "holders_counted", "total_btc", "total_value", "total_bound", "total_share_pct",
    "pair_a", "pair_b", "btc_ratio", "btc_ratio_bound", "value_difference",
    "value_difference_bound", "reason", "note", "onchain_btc", "onchain_bound", "onchain_height",
    "onchain_checked_at", "onchain_status", "onchain_verdict", "onchain_claim_difference_btc",
)  # fmt: skip
CHANGE_LABELS = ("24h", "7d", "30d", "1y")


@renders(Report, "csv")
def render_csv(report: Report, **_: Any) -> str:
    data = to_dict(report)
    labels = [label for label in CHANGE_LABELS if label in data["changes"]]
    change_fields = [
        f"{k}_{label}"
        for label in labels
        for k in (
            "value_change",
            "value_change_bound",
            "value_change_pct",
            "value_change_pct_bound",
            "price_change_pct",
        )
    ]
    price = data["price"] or {}
    common = {
        "price": price.get("value"),
        "price_kind": price.get("kind"),
        "price_as_of": price.get("as_of"),
        "price_stale": None if not price else str(price["stale"]).lower(),  # as in JSON
        "price_series_ends": price.get("series_ends"),
        "at": data["at"] or data["generated_at"],
        "generated_at": data["generated_at"],
    }
    rows = []
    for holder in data["holders"]:
        stale = holder["holding_stale"]
        holder = {**holder, "holding_stale": None if stale is None else str(stale).lower()}
        changes = {}
        for label in labels:
            c = data["changes"][label]
            mine = c["holders"].get(holder["slug"], {})
            changes[f"value_change_{label}"] = mine.get("value_change")
            changes[f"value_change_pct_{label}"] = mine.get("value_change_pct")
            changes[f"value_change_bound_{label}"] = mine.get("value_change_bound")
            changes[f"value_change_pct_bound_{label}"] = mine.get("value_change_pct_bound")
            changes[f"price_change_pct_{label}"] = c["price_change_pct"]
        chain = {f"onchain_{k}": v for k, v in (holder["onchain"] or {}).items()}
        rows.append({"row_type": "holder", **holder, **changes, **chain, **common})
        for part in holder["parts"]:  # each part after its holder, its own figure
            rows.append(
                {
                    "row_type": "part", "slug": holder["slug"], "name": holder["name"],
                    **part, "holding_as_of": part["as_of"], **common,
                }
            )  # fmt: skip
    comp = data["comparison"]
    rows.append(
        {
            "row_type": "total",
            **{k: comp[k] for k in ("holders_counted", "total_btc", "total_value", "total_bound")},
            "total_share_pct": format(report.comparison.total_share_pct, "f"),
            **common,
        }
    )
    for pair in comp["pairs"]:
        rows.append(
            {"row_type": "pair", "pair_a": pair["a"], "pair_b": pair["b"], **pair, **common}
        )
    for ex in data["excluded"]:  # listed by other trackers, not counted
        rows.append({"row_type": "excluded", **ex, "holding_as_of": ex["as_of"], **common})
    return csv_text([*CSV_FIELDS, *change_fields, *SUMMARY_FIELDS], rows, extra="ignore")


def per_capita(value: Decimal | None) -> str | None:
    """BTC per person to the satoshi; 0 (a holder that holds none) as plain 0, not 0E-8."""
    if value is None:
        return None
    return "0" if value == 0 else format(value, "f")
