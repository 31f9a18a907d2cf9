"""Every derived figure of the report carries its bound, in every format (DESIGN.md, "Bounds of
derived figures"): the seeds' "about 198,000" and "at least 6,100" make the total, the ratio and
the difference approximate, never exact."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path

import pytest
from typer.testing import Result

pytestmark = pytest.mark.usefixtures("two_holders")  # the five seeds' small world
Run = Callable[..., Result]
CENT = Decimal("0.01")
AT = ("--at", "2025-04-14")  # the U.S. about 198,000 BTC; El Salvador at least 6,100


def holder_rows(text: str) -> dict[str, dict[str, str]]:
    """The CSV's holder rows by slug (not its part, total, pair or excluded rows)."""
    rows = csv.DictReader(io.StringIO(text))
    return {r["slug"]: r for r in rows if r["row_type"] == "holder"}


def run(run_cli: Run, *args: str) -> str:
    result = run_cli("report", "--offline", *args)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def report(run_cli: Run, *args: str) -> dict:  # type: ignore[type-arg]
    return json.loads(run(run_cli, "--format", "json", *args))  # type: ignore[no-any-return]


@pytest.fixture
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # the total's line on one line


@pytest.fixture
def us_exact(run_cli: Run, two_holders: Path) -> None:
    """An exact U.S. figure beside El Salvador's at-least one: the ratio is at most."""
    added = run_cli(
        "holdings", "add", "united-states", "--btc", "198000", "--bound", "exact",
        "--as-of", "2025-04-10", "--basis", "official", "--source", "Treasury audit",
    )  # fmt: skip
    assert added.exit_code == 0, added.stderr


def test_json_carries_a_bound_beside_each_derived_number(run_cli: Run) -> None:
    data = report(run_cli, *AT)
    comp = data["comparison"]
    assert comp["total_bound"] == "approximate"  # was shown as an exact 204,100
    (pair,) = comp["pairs"]
    assert (pair["btc_ratio_bound"], pair["value_difference_bound"]) == ("approximate",) * 2
    holders = {h["slug"]: h for h in data["holders"]}
    for slug, bound in (("united-states", "approximate"), ("el-salvador", "at_least")):
        h = holders[slug]
        assert h["bound"] == bound
        assert (h["share_of_supply_bound"], h["btc_per_capita_bound"]) == (bound, bound)
    # the marks change no number: every value is still btc × price, the total their sum
    price = Decimal(data["price"]["value"])
    for h in data["holders"]:
        assert Decimal(h["value"]) == (Decimal(h["btc"]) * price).quantize(CENT)
    assert Decimal(comp["total_value"]) == sum(Decimal(h["value"]) for h in data["holders"])
    assert Decimal(comp["total_btc"]) == sum(Decimal(h["btc"]) for h in data["holders"])


@pytest.mark.usefixtures("us_exact")
def test_an_exact_figure_over_an_at_least_one_gives_at_most(run_cli: Run) -> None:
    comp = report(run_cli, *AT)["comparison"]
    assert comp["total_bound"] == "at_least"
    (pair,) = comp["pairs"]
    assert (pair["btc_ratio_bound"], pair["value_difference_bound"]) == ("at_most", "at_most")


def test_bounds_are_null_beside_figures_that_are_null(run_cli: Run) -> None:
    data = report(run_cli, "--at", "2024-06-01")  # nothing known yet
    for h in data["holders"]:
        assert (h["share_of_supply_bound"], h["btc_per_capita_bound"]) == (None, None)
    assert data["comparison"]["total_bound"] == "exact"  # the empty sum: 0, exactly


def test_csv_has_the_bound_columns_of_the_json(run_cli: Run) -> None:
    data = {h["slug"]: h for h in report(run_cli, *AT)["holders"]}
    rows = holder_rows(run(run_cli, "-f", "csv", *AT))
    for slug, row in rows.items():
        for key in ("bound", "share_of_supply_bound", "btc_per_capita_bound"):
            assert row[key] == data[slug][key], (slug, key)
    assert rows["el-salvador"]["share_of_supply_bound"] == "at_least"


@pytest.mark.parametrize("fmt", ["table", "markdown"])
@pytest.mark.usefixtures("wide")
def test_human_formats_mark_the_total_the_ratio_and_the_difference(run_cli: Run, fmt: str) -> None:
    out = run(run_cli, "-f", fmt, *AT)
    assert "Total: ~204,100 BTC = ~$17,261,910,575.00 (~0.9719 % of the" in out
    assert "United States holds ~32.46× the BTC of El Salvador, ~$16,230,086,425.00 more" in out
    us = next(line for line in out.splitlines() if line.lstrip("| ").startswith("United States"))
    es = next(line for line in out.splitlines() if line.lstrip("| ").startswith("El Salvador"))
    for cell in ("~198,000", "~16,745,998,500.00", "~0.9429", "~0.00058235"):
        assert cell in us.split(), us
    for cell in ("≥6,100", "≥515,912,075.00", "≥0.0290", "≥0.00096825"):
        assert cell in es.replace("|", " ").split(), es
    legend = [line for line in out.splitlines() if line.startswith("≥ at least")]
    assert legend and "≤" not in legend[0], out  # Markdown has the table's legend too


@pytest.mark.parametrize("fmt", ["table", "markdown"])
@pytest.mark.usefixtures("wide", "us_exact")
def test_an_at_most_ratio_is_marked_and_explained(run_cli: Run, fmt: str) -> None:
    out = run(run_cli, "-f", fmt, *AT)
    assert "Total: ≥204,100 BTC = ≥$" in out
    assert "United States holds ≤32.46× the BTC of El Salvador, ≤$" in out
    assert "≥ at least, ≤ at most, ~ approximate." in out


@pytest.mark.usefixtures("wide")
def test_exact_figures_are_shown_without_marks(run_cli: Run) -> None:
    added = run_cli(
        "holdings", "add", "united-states", "--btc", "200000", "--as-of", "2025-06-17",
        "--basis", "official", "--source", "Treasury audit",
    )  # fmt: skip
    assert added.exit_code == 0, added.stderr
    at = ("--at", "2025-06-20")  # El Salvador: 6,209 exact (official, 2025-06-16)
    assert report(run_cli, *at)["comparison"]["total_bound"] == "exact"
    out = run(run_cli, "-f", "table", *at)
    assert "Total: 206,209 BTC = $" in out and "holds 32.21× the BTC of El Salvador, $" in out


@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_each_estimates_value_carries_its_claims_bound(run_cli: Run, fmt: str) -> None:
    out = run(run_cli, "-f", fmt, "--all-estimates", *AT)
    block = out[out.index("All estimates") :]
    assert "~16,745,998,500.00" in block and "≥515,912,075.00" in block


def test_changes_carry_bounds_one_holding_or_two(run_cli: Run) -> None:
    # 2025-06-20: El Salvador 6,209 exact since 2025-06-16; 7 days before, at least 6,100
    changes = report(run_cli, "--at", "2025-06-20")["changes"]
    es_24h = changes["24h"]["holders"]["el-salvador"]
    assert (es_24h["value_change_bound"], es_24h["value_change_pct_bound"]) == ("exact", "exact")
    es_7d = changes["7d"]["holders"][
        "el-salvador"
    ]  # the old value was a floor: the change a ceiling
    assert (es_7d["value_change_bound"], es_7d["value_change_pct_bound"]) == ("at_most",) * 2
    us_24h = changes["24h"]["holders"]["united-states"]  # about 198,000 BTC at two prices
    assert (us_24h["value_change_bound"], us_24h["value_change_pct_bound"]) == (
        "approximate",
        "exact",  # the percent is the price's, whatever the amount
    )
    assert changes["1y"]["holders"]["el-salvador"]["value_change_bound"] is None
    rows = holder_rows(run(run_cli, "-f", "csv", "--at", "2025-06-20"))
    assert rows["el-salvador"]["value_change_bound_7d"] == "at_most"
    assert rows["el-salvador"]["value_change_pct_bound_7d"] == "at_most"


@pytest.mark.parametrize("fmt", ["table", "markdown"])
@pytest.mark.usefixtures("wide")
def test_human_formats_mark_the_changes(run_cli: Run, fmt: str) -> None:
    out = run(run_cli, "-f", fmt, "--at", "2025-06-20")
    es = report(run_cli, "--at", "2025-06-20")["changes"]["7d"]["holders"]["el-salvador"]
    if fmt == "markdown":  # exact, with its percent
        money = f"{abs(Decimal(es['value_change'])):,.0f}"
        assert f"≤−${money} (≤−{abs(Decimal(es['value_change_pct']))} %)" in out
    else:  # three significant figures, rounded toward what the bound allows (a ceiling up)
        millions = abs(Decimal(es["value_change"])) / 10**6
        assert 1 <= millions < 10
        assert f"≤−${millions.quantize(Decimal('0.01'), ROUND_FLOOR)}M" in out
    assert "≥ at least, ≤ at most, ~ approximate." in out
