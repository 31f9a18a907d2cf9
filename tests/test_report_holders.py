"""The report per holder (issue 9, item 6): USD per person beside BTC per person, the holding's
age and its staleness, `--holder` to narrow and `--compare` to pick the pair."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, Decimal
from pathlib import Path

import pytest
from typer.testing import Result

from tests.conftest import TWO_HOLDERS

pytestmark = pytest.mark.usefixtures("two_holders")  # the five seeds' small world
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
    rows = holder_rows(run(run_cli, "-f", "csv", "--at", "2025-09-01"))
    us = rows["united-states"]
    assert (us["usd_per_capita"], us["usd_per_capita_bound"]) == ("63.62", "at_least")
    for fmt in ("table", "markdown"):
        out = " ".join(run(run_cli, "-f", fmt, "--at", "2025-09-01").split())
        assert "as of 2025-07-24, ≥$63.62 per person." in out, out
        assert "as of 2025-06-16, $107.68 per person." in out, out


# --- the holding's age ---------------------------------------------------------------------


def holder_rows(text: str) -> dict[str, dict[str, str]]:
    """The CSV's holder rows by slug (not its part, total, pair or excluded rows)."""
    rows = csv.DictReader(io.StringIO(text))
    return {r["slug"]: r for r in rows if r["row_type"] == "holder"}


def warnings(run_cli: Run, *args: str) -> list[str]:
    return json.loads(run(run_cli, "--format", "json", *args))["warnings"]  # type: ignore[no-any-return]


def test_the_holdings_age_is_measured_at_the_reports_instant(run_cli: Run) -> None:
    rows = holders(run_cli, "--at", "2025-09-01")  # U.S. as of 2025-07-24, El Salvador 06-16
    us, es = rows["united-states"], rows["el-salvador"]
    assert (us["holding_age_days"], us["holding_stale"]) == (39, False)
    assert (es["holding_age_days"], es["holding_stale"]) == (77, False)
    assert not [w for w in warnings(run_cli, "--at", "2025-09-01") if "older than" in w]
    rows = holders(run_cli, "--at", "2026-06-01")
    es, us = rows["el-salvador"], rows["united-states"]
    assert (es["holding_age_days"], es["holding_stale"]) == (350, True)
    assert (us["holding_age_days"], us["holding_stale"]) == (312, True)
    assert (
        "older than 180 days, newer figures may exist: United States (2025-07-24), "
        "El Salvador (2025-06-16)"
    ) in warnings(run_cli, "--at", "2026-06-01")


def test_the_age_limit_is_configurable_and_shown_in_csv(run_cli: Run, tmp_path: Path) -> None:
    cfg = tmp_path / "age.toml"
    cfg.write_text("[report]\nmax_holding_age_days = 60\n\n" + TWO_HOLDERS.read_text())
    done = run_cli("--config", str(cfg), "report", "--offline", "-f", "csv", "--at", "2025-09-01")
    assert done.exit_code == 0, done.stderr
    rows = holder_rows(done.stdout)
    assert (rows["united-states"]["holding_age_days"], rows["united-states"]["holding_stale"]) == (
        "39", "false",
    )  # fmt: skip
    assert (rows["el-salvador"]["holding_age_days"], rows["el-salvador"]["holding_stale"]) == (
        "77", "true",
    )  # fmt: skip
    bad = tmp_path / "bad.toml"
    bad.write_text("[report]\nmax_holding_age_days = 0\n")
    done = run_cli("--config", str(bad), "report", "--offline", "--at", "2025-09-01")
    assert done.exit_code != 0 and "max_holding_age_days" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_an_unknown_holding_has_no_age(run_cli: Run) -> None:
    for h in holders(run_cli, "--at", "2018-01-01").values():
        assert (h["holding_age_days"], h["holding_stale"]) == (None, None)


# --- --holder and --compare ----------------------------------------------------------------


@pytest.fixture
def bhutan(run_cli: Run, two_holders: Path) -> None:
    """A third holder, between the other two: about 10,000 BTC."""
    result = run_cli(
        "holdings", "add", "bhutan", "--name", "Bhutan", "--population", "790000",
        "--btc", "10000", "--bound", "approximate", "--as-of", "2025-05-01",
        "--basis", "estimate", "--source", "Arkham Intelligence, 2025-05-01",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr


def report(run_cli: Run, *args: str) -> dict:  # type: ignore[type-arg]
    return json.loads(run(run_cli, "--format", "json", "--at", "2025-09-01", *args))  # type: ignore[no-any-return]


@pytest.mark.usefixtures("bhutan")
def test_the_default_pair_is_the_us_over_el_salvador_or_the_only_two(run_cli: Run) -> None:
    pairs = [(p["a"], p["b"]) for p in report(run_cli)["comparison"]["pairs"]]
    assert pairs == [("united-states", "el-salvador")]  # not every pair of three holders
    two = report(run_cli, "--holder", "el-salvador", "--holder", "bhutan")
    assert [(p["a"], p["b"]) for p in two["comparison"]["pairs"]] == [("bhutan", "el-salvador")]
    three = report(
        run_cli, "--holder", "el-salvador", "--holder", "bhutan", "--holder", "united-states"
    )
    assert [(p["a"], p["b"]) for p in three["comparison"]["pairs"]] == pairs


@pytest.mark.usefixtures("bhutan")
def test_holder_narrows_the_rows_the_totals_and_the_pairs(run_cli: Run) -> None:
    data = report(run_cli, "--holder", "el-salvador", "--holder", "bhutan")
    assert [h["slug"] for h in data["holders"]] == ["bhutan", "el-salvador"]
    comp = data["comparison"]
    assert (comp["total_btc"], comp["total_bound"]) == ("16209", "approximate")
    assert [(p["a"], p["b"]) for p in comp["pairs"]] == [("bhutan", "el-salvador")]


@pytest.mark.usefixtures("bhutan")
def test_compare_picks_one_pair_in_the_order_given(run_cli: Run) -> None:
    (pair,) = report(run_cli, "--compare", "el-salvador,united-states")["comparison"]["pairs"]
    assert (pair["a"], pair["b"]) == ("el-salvador", "united-states")
    assert pair["btc_ratio"] == "0.04"  # 6,209 ÷ at least 198,012: at most 0.0314 → 0.04
    assert pair["btc_ratio_bound"] == "at_most"
    out = " ".join(run(run_cli, "--at", "2025-09-01", "--compare", "bhutan,el-salvador").split())
    assert "Bhutan holds ~1.61× the BTC of El Salvador" in out
    assert "United States holds" not in out
    data = json.loads(
        run(run_cli, "-f", "json", "--at", "2024-06-01", "--compare", "bhutan,el-salvador")
    )
    assert data["comparison"]["pairs"] == []
    assert "no comparison of bhutan with el-salvador: an amount is not known" in data["warnings"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--holder", "atlantis"), "--holder: unknown holder 'atlantis' (known: "),
        (("--compare", "atlantis,el-salvador"), "--compare: unknown holder 'atlantis' (known: "),
        (("--compare", "el-salvador"), "--compare 'el-salvador': give two holder slugs as A,B"),
        (("--compare", "el-salvador,el-salvador"), "--compare: give two different holders"),
        (
            ("--holder", "el-salvador", "--compare", "united-states,el-salvador"),
            "--compare: both holders must be among those given with --holder",
        ),
    ],
)
def test_bad_holder_or_pair_is_one_line_and_exit_1(
    run_cli: Run, args: tuple[str, ...], message: str
) -> None:
    done = run_cli("report", "--offline", "--at", "2025-09-01", *args)
    assert done.exit_code == 1, done.stdout
    assert done.stdout == ""
    (line,) = done.stderr.strip().splitlines()
    assert message in line, line
    if "known: " in message:
        assert "el-salvador" in line and "united-states" in line


# --- CSV: the total and the pairs ----------------------------------------------------------


@pytest.mark.usefixtures("bhutan")
def test_csv_has_a_total_row_and_a_row_per_pair_as_the_json(run_cli: Run) -> None:
    data = report(run_cli)
    out = run(run_cli, "-f", "csv", "--at", "2025-09-01")
    rows = list(csv.DictReader(io.StringIO(out)))
    expected = [t for h in data["holders"] for t in ["holder"] + ["part"] * len(h["parts"])]
    assert [r["row_type"] for r in rows] == [*expected, "total", "pair"]
    assert len(data["holders"]) == 3 and "part" in expected  # the U.S. reserve, undisclosed
    holder_rows = [r for r in rows if r["row_type"] == "holder"]
    assert [r["slug"] for r in holder_rows] == [h["slug"] for h in data["holders"]]
    assert all(r["total_btc"] == "" and r["pair_a"] == "" for r in holder_rows)
    (total,) = (r for r in rows if r["row_type"] == "total")
    comp = data["comparison"]
    assert (total["total_btc"], total["total_value"], total["total_bound"]) == (
        comp["total_btc"], comp["total_value"], comp["total_bound"],
    )  # fmt: skip
    assert (total["holders_counted"], comp["holders_counted"]) == ("3", 3)
    assert total["total_share_pct"] == "1.0201"  # ~214,221 BTC of 21,000,000: 1.02010 %
    assert (total["slug"], total["btc"], total["price"]) == ("", "", data["price"]["value"])
    pairs = [r for r in rows if r["row_type"] == "pair"]
    for row, pair in zip(pairs, comp["pairs"], strict=True):
        assert (row["pair_a"], row["pair_b"]) == (pair["a"], pair["b"])
        for key in ("btc_ratio", "btc_ratio_bound", "value_difference", "value_difference_bound"):
            assert row[key] == (pair[key] or ""), key
    narrowed = run(run_cli, "-f", "csv", "--at", "2025-09-01", "--compare", "bhutan,el-salvador")
    kinds = [r["row_type"] for r in csv.DictReader(io.StringIO(narrowed))]
    assert kinds == [*expected, "total", "pair"]
