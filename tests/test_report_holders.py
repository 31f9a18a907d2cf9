"""The report per holder (issue 9, item 6): USD per person beside BTC per person, the holding's
age and its staleness, `--holder` to narrow and `--compare` to pick the pair."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, Decimal

from typer.testing import Result

Run = Callable[..., Result]
CENT = Decimal("0.01")
POPULATION = {"united-states": 340_000_000, "el-salvador": 6_300_000}  # the shipped seeds


def run(run_cli: Run, *args: str) -> str:
    result = run_cli("report", "--offline", *args)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def holders(run_cli: Run, *args: str) -> dict[str, dict]:  # type: ignore[type-arg]
    data = json.loads(run(run_cli, "--format", "json", *args))
    return {h["slug"]: h for h in data["holders"]}


def test_usd_per_person_is_value_over_population_rounded_as_its_bound_allows(
    run_cli: Run,
) -> None:
    rows = holders(run_cli, "--at", "2025-09-01")  # U.S. at least 198,012; El Salvador exact
    us, es = rows["united-states"], rows["el-salvador"]
    # 21,634,054,515.36 / 340,000,000 = 63.6295…: half-even would claim ≥63.63, more than known
    assert (us["usd_per_capita"], us["usd_per_capita_bound"]) == ("63.62", "at_least")
    assert (es["usd_per_capita"], es["usd_per_capita_bound"]) == ("107.68", "exact")
    for slug, h in rows.items():
        exact = Decimal(h["btc"]) * Decimal(json.loads(run(
            run_cli, "--format", "json", "--at", "2025-09-01"))["price"]["value"]
        ) / POPULATION[slug]  # fmt: skip
        way = ROUND_FLOOR if h["bound"] == "at_least" else ROUND_HALF_EVEN
        assert Decimal(h["usd_per_capita"]) == exact.quantize(CENT, rounding=way)


def test_usd_per_person_is_null_without_a_value(run_cli: Run) -> None:
    rows = holders(run_cli, "--at", "2024-06-01")  # nothing known yet
    for h in rows.values():
        assert (h["usd_per_capita"], h["usd_per_capita_bound"]) == (None, None)


def test_csv_and_footnotes_show_usd_per_person(run_cli: Run) -> None:
    rows = {r["slug"]: r for r in csv.DictReader(io.StringIO(run(
        run_cli, "-f", "csv", "--at", "2025-09-01")))}  # fmt: skip
    us = rows["united-states"]
    assert (us["usd_per_capita"], us["usd_per_capita_bound"]) == ("63.62", "at_least")
    for fmt in ("table", "markdown"):
        out = " ".join(run(run_cli, "-f", fmt, "--at", "2025-09-01").split())
        assert "as of 2025-07-24, ≥$63.62 per person." in out, out
        assert "as of 2025-06-16, $107.68 per person." in out, out
