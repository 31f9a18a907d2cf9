"""Report additions: changes over time, unrealized P&L, competing estimates side by side."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
from collections.abc import Callable
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

import pytest
from typer.testing import Result

from tests.fake_exchange import FakeExchange
from tests.helpers import bundled_close, bundled_last_day, store_closes, store_consensus

Run = Callable[..., Result]
CENT = Decimal("0.01")
DAY = dt.timedelta(days=1)
CORE = ("coinbase", "kraken", "bitstamp", "gemini", "bitfinex")


pytestmark = pytest.mark.usefixtures("two_holders")  # the five seeds' small world

def pct(old: Decimal, new: Decimal) -> str:
    return str(((new - old) / old * 100).quantize(CENT, rounding=ROUND_HALF_EVEN))


def report(run_cli: Run, *args: str) -> dict:  # type: ignore[type-arg]
    result = run_cli("report", "--offline", "--format", "json", *args)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def test_changes_over_each_horizon_recompute_from_the_daily_closes(run_cli: Run) -> None:
    data = report(run_cli, "--at", "2025-09-01")
    now = bundled_close("2025-09-01")
    expected_days = {
        "24h": "2025-08-31",
        "7d": "2025-08-25",
        "30d": "2025-08-02",
        "1y": "2024-09-01",
    }
    assert list(data["changes"]) == list(expected_days)
    for label, day in expected_days.items():
        c = data["changes"][label]
        then = bundled_close(day)
        assert c["price"] == f"{then:.2f}" or Decimal(c["price"]) == then, label
        assert c["price_change_pct"] == pct(then, now), label
        assert Decimal(c["price_change"]) == now - then
    # 24h: both sides hold the 2025-06-16 figure (6209 BTC), so value moves with the price
    es = data["changes"]["24h"]["holders"]["el-salvador"]
    then_value = (Decimal(6209) * bundled_close("2025-08-31")).quantize(CENT)
    assert Decimal(es["value"]) == then_value
    now_value = {h["slug"]: Decimal(h["value"]) for h in data["holders"]}["el-salvador"]
    assert Decimal(es["value_change"]) == now_value - then_value
    # 1y: nothing was disclosed a year before, so there is no change to show, not a zero
    assert data["changes"]["1y"]["holders"]["el-salvador"] == {
        "value": None, "value_change": None, "value_change_pct": None,
        "value_change_bound": None, "value_change_pct_bound": None,
    }  # fmt: skip


def test_a_change_spanning_a_new_observation_uses_each_dates_holding(run_cli: Run) -> None:
    # 2025-06-16: 6209 BTC (official); 7 days before: 6100 BTC (reported, 2025-04-01)
    data = report(run_cli, "--at", "2025-06-20")
    es = data["changes"]["7d"]["holders"]["el-salvador"]
    assert Decimal(es["value"]) == (Decimal(6100) * bundled_close("2025-06-13")).quantize(CENT)


def test_what_if_has_no_changes(run_cli: Run) -> None:
    assert report(run_cli, "--what-if", "150000")["changes"] == {}


def test_unrealized_profit_and_loss_from_the_cost_basis(run_cli: Run) -> None:
    added = run_cli(
        "holdings", "add", "el-salvador", "--btc", "6300", "--as-of", "2025-09-01",
        "--basis", "official", "--source", "Bitcoin Office", "--cost-basis-usd", "350000000.005",
    )  # fmt: skip
    assert added.exit_code == 0, added.stderr
    data = report(run_cli, "--at", "2025-09-02")
    es = {h["slug"]: h for h in data["holders"]}["el-salvador"]
    value = (Decimal(6300) * bundled_close("2025-09-02")).quantize(CENT)
    assert es["cost_basis_usd"] == "350000000.005"
    assert Decimal(es["unrealized_pnl"]) == value - Decimal(
        "350000000.00"
    )  # cost to the cent, half-even
    us = {h["slug"]: h for h in data["holders"]}["united-states"]
    assert us["unrealized_pnl"] is None and us["cost_basis_usd"] is None
    table = run_cli("report", "--offline", "--at", "2025-09-02").stdout
    assert "unrealized P&L +$" in table.replace("\n", " ")


def test_all_estimates_lists_every_claim_valued_at_the_same_price(run_cli: Run) -> None:
    data = report(run_cli, "--at", "2025-09-01", "--all-estimates")
    price = Decimal(data["price"]["value"])
    us = {h["slug"]: h for h in data["holders"]}["united-states"]
    est = us["estimates"]
    assert [e["as_of"] for e in est] == ["2025-07-24", "2025-04-01", "2025-03-07"]
    assert [e["used"] for e in est] == [True, False, False]
    assert est[1]["btc"] is None and est[1]["value"] is None and est[1]["basis"] == "undisclosed"
    for e in est:
        if e["btc"] is not None:
            assert Decimal(e["value"]) == (Decimal(e["btc"]) * price).quantize(CENT)
    # a date between the two U.S. estimates lists only what was known then
    early = report(run_cli, "--at", "2025-03-31", "--all-estimates")
    us_early = {h["slug"]: h for h in early["holders"]}["united-states"]["estimates"]
    assert [e["as_of"] for e in us_early] == ["2025-03-07"]
    assert "estimates" not in {h["slug"]: h for h in report(run_cli)["holders"]}["united-states"]


@pytest.mark.parametrize("fmt", ["table", "markdown"])
def test_human_formats_show_changes_and_estimates(run_cli: Run, fmt: str) -> None:
    out = run_cli("report", "--offline", "-f", fmt, "--at", "2025-09-01", "--all-estimates").stdout
    data = report(run_cli, "--at", "2025-09-01")
    assert data["changes"]["7d"]["price_change_pct"].lstrip("-") in out
    assert "All estimates" in out and "Arkham Intelligence attribution" in out


def test_csv_carries_the_changes(run_cli: Run) -> None:
    data = report(run_cli, "--at", "2025-09-01")
    out = run_cli("report", "--offline", "-f", "csv", "--at", "2025-09-01").stdout
    rows = {r["slug"]: r for r in csv.DictReader(io.StringIO(out))}
    es = rows["el-salvador"]
    assert (
        es["value_change_pct_30d"]
        == data["changes"]["30d"]["holders"]["el-salvador"]["value_change_pct"]
    )
    assert es["price_change_pct_24h"] == data["changes"]["24h"]["price_change_pct"]


def test_changes_are_unknown_not_zero_when_the_price_is_stale(run_cli: Run) -> None:
    # "now": the newest stored close is months old, so 24h ago resolves to the same close
    data = report(run_cli)
    assert data["price"]["stale"] is True
    for label in ("24h", "7d", "30d"):
        c = data["changes"][label]
        assert c["price_change_pct"] is None and c["price_change"] is None, label
        assert all(h["value_change"] is None for h in c["holders"].values()), label
    assert "+0.00 %" not in run_cli("report", "--offline").stdout


@pytest.mark.parametrize("name", ["Bad [/] name", "Bhutan [via Druk Holding]", "[bold]X[/bold]"])
def test_names_and_sources_are_shown_literally(run_cli: Run, name: str) -> None:
    added = run_cli(
        "holdings", "add", "odd", "--name", name, "--btc", "5", "--as-of", "2025-01-05",
        "--basis", "official", "--source", "Reuters | [source] 2025",
    )  # fmt: skip
    assert added.exit_code == 0, added.stderr
    for fmt in ("table", "markdown"):
        result = run_cli("report", "--offline", "--at", "2025-02-01", "--all-estimates", "-f", fmt)
        assert result.exit_code == 0, result.stderr
        assert f"{name} [" in result.stdout  # the name, then its footnote mark
        assert "[source] 2025" in result.stdout
    listed = run_cli("holdings", "list")
    assert listed.exit_code == 0 and "[source]" in listed.stdout
    # Markdown: the pipe in the source is escaped, so every row keeps its column count
    import re

    md = run_cli(
        "report", "--offline", "--at", "2025-02-01", "--all-estimates", "-f", "markdown"
    ).stdout
    for table in md.split("\n\n"):
        rows = [line for line in table.splitlines() if line.startswith("|")]
        counts = {len(re.findall(r"(?<!\\)\|", line)) for line in rows}
        assert len(counts) <= 1, table
    ledger = run_cli("holdings", "list", "-f", "markdown").stdout.splitlines()
    assert (
        len({len(re.findall(r"(?<!\\)\|", line)) for line in ledger if line.startswith("|")}) == 1
    )


def test_an_instant_inside_a_day_does_not_use_that_days_close(run_cli: Run) -> None:
    early = report(run_cli, "--at", "2025-04-14T00:30:00Z")
    assert early["price"]["value"] == str(bundled_close("2025-04-13"))
    assert early["price"]["as_of"] == "2025-04-13T00:00:00Z"
    end = report(run_cli, "--at", "2025-04-14")  # the last second of the day: its close is known
    assert end["price"]["value"] == str(bundled_close("2025-04-14"))


def when(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def test_a_report_now_shows_changes_from_a_fresh_consensus_to_past_closes(run_cli: Run) -> None:
    # A live price now, daily closes in the past: each past date's close is the right price
    # for that date, even though it is far older than the 600 s a live price may be.
    assert run_cli("db", "upgrade").exit_code == 0
    url = os.environ["TRACKER_DATABASE_URL"]
    today = dt.datetime.now(dt.UTC).date()
    closes = {today - n * DAY: Decimal(60000 + 10 * n) + Decimal("0.25") for n in range(1, 400)}
    store_closes(url, closes, source="bitstamp")
    live = Decimal("90000.50")
    store_consensus(url, dt.datetime.now(dt.UTC) - dt.timedelta(seconds=30), live)

    data = report(run_cli)
    assert data["price"]["kind"] == "consensus" and data["price"]["stale"] is False
    now_value = {h["slug"]: Decimal(h["value"]) for h in data["holders"]}["el-salvador"]
    assert now_value == (6209 * live).quantize(CENT)
    assert list(data["changes"]) == ["24h", "7d", "30d", "1y"]
    for label, c in data["changes"].items():
        since = when(c["since"])
        # a close is the price at the midnight that ends its day: the one nearest to `since`
        day = since.date() if since.hour >= 12 else since.date() - DAY
        then = closes[day]
        assert c["price_change_pct"] == pct(then, live), label
        assert (c["price_kind"], c["price_as_of"]) == ("daily_close", f"{day}T00:00:00Z"), label
        assert Decimal(c["price"]) == then and Decimal(c["price_change"]) == live - then, label
        es = c["holders"]["el-salvador"]  # 6209 BTC on both sides (official, 2025-06-16)
        then_value = (6209 * then).quantize(CENT)
        assert Decimal(es["value"]) == then_value, label
        assert Decimal(es["value_change"]) == now_value - then_value, label
    table = run_cli("report", "--offline").stdout
    assert "Change" in table and f"{pct(closes[today - DAY], live)} %" in table.replace("+", "")


@pytest.fixture
def exchange_cfg(
    tmp_path: Path,
    fake_exchange: FakeExchange,
    monkeypatch: pytest.MonkeyPatch,
    two_holders: Path,
) -> None:
    """Every price source at the loopback fake, with a short fetch budget."""
    path = tmp_path / "config.toml"
    path.write_text(
        "[fetch]\nretries = 1\nbackoff_s = 0.01\n\n[report]\nfetch_timeout_s = 3\n\n"
        + fake_exchange.config_toml(timeout_s=1)
    )
    monkeypatch.setenv("TRACKER_CONFIG", str(path))


@pytest.mark.usefixtures("exchange_cfg")
def test_report_at_today_refreshes_a_stale_price_first(
    run_cli: Run, fake_exchange: FakeExchange
) -> None:
    for name in CORE:
        fake_exchange.set_price(name, Decimal("101234.56"))
    today = dt.datetime.now(dt.UTC).date().isoformat()
    offline = report(run_cli, "--at", today)  # --offline: stored prices only
    assert offline["price"]["kind"] == "daily_close" and offline["price"]["stale"] is True
    assert all(fake_exchange.requests(name) == [] for name in CORE)

    result = run_cli("report", "--at", today, "--format", "json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert [len(fake_exchange.requests(name)) for name in CORE] == [1] * len(CORE)
    assert data["price"]["kind"] == "consensus" and data["price"]["stale"] is False
    assert data["price"]["value"] == "101234.56" and data["at"].startswith(today)
    es = {h["slug"]: h for h in data["holders"]}["el-salvador"]
    assert Decimal(es["value"]) == (Decimal(es["btc"]) * Decimal("101234.56")).quantize(CENT)


# --- a holder with 0 BTC (divested) is shown as 0, never as undisclosed ----------------------


@pytest.fixture
def divested(run_cli: Run, two_holders: Path) -> None:
    added = run_cli(
        "holdings", "add", "united-states", "--btc", "0", "--as-of", "2025-09-01",
        "--basis", "official", "--source", "Treasury: all sold",
    )  # fmt: skip
    assert added.exit_code == 0, added.stderr


@pytest.mark.usefixtures("divested")
def test_a_holder_with_0_btc_in_json(run_cli: Run) -> None:
    data = report(run_cli, "--at", "2025-09-02")
    us = {h["slug"]: h for h in data["holders"]}["united-states"]
    assert (us["btc"], us["value"], us["btc_per_capita"]) == ("0", "0.00", "0")
    assert us["basis"] == "official" and us["bound"] == "exact"
    es = {h["slug"]: h for h in data["holders"]}["el-salvador"]
    assert data["comparison"]["pairs"] == [
        {"a": "el-salvador", "b": "united-states", "btc_ratio": None, "btc_ratio_bound": None,
         "value_difference": es["value"], "value_difference_bound": "exact"}
    ]  # fmt: skip
    assert data["comparison"]["total_btc"] == "6209"
    assert not any("United States" in w for w in data["warnings"])  # not "undisclosed"


@pytest.mark.usefixtures("divested")
def test_a_holder_with_0_btc_in_csv(run_cli: Run) -> None:
    out = run_cli("report", "--offline", "-f", "csv", "--at", "2025-09-02").stdout
    rows = [r for r in csv.DictReader(io.StringIO(out)) if r["row_type"] == "holder"]
    us = {r["slug"]: r for r in rows}["united-states"]
    assert (us["btc"], us["value"], us["btc_per_capita"]) == ("0", "0.00", "0")


@pytest.mark.parametrize("fmt", ["table", "markdown"])
@pytest.mark.usefixtures("divested")
def test_a_holder_with_0_btc_in_human_formats(run_cli: Run, fmt: str) -> None:
    out = run_cli("report", "--offline", "-f", fmt, "--at", "2025-09-02").stdout
    data = report(run_cli, "--at", "2025-09-02")
    es_value = {h["slug"]: h for h in data["holders"]}["el-salvador"]["value"]
    diff = f"{Decimal(es_value):,.2f}"
    assert f"El Salvador holds 6,209 BTC; United States holds none (${diff} more)" in out
    row = next(line for line in out.splitlines() if line.lstrip("| ").startswith("United States"))
    cells = row.replace("|", " ").split()[3:]  # after "United States [2]"
    shown = {  # "0 divested": a source says it holds none, never "undisclosed"
        "table": ["0", "divested", "0.00", "2025-09-01"],  # BTC, value, as of (80 columns)
        "markdown": [
            "0", "divested", "official", "government", "2025-09-01", "0.00", "0.0000", "0",
        ],  # BTC, basis, scope, as of, value, % of 21M, BTC/person
    }  # fmt: skip
    assert cells == shown[fmt], row
    assert "0E-8" not in out and "undisclosed" not in row and "holds ," not in out


def test_two_holders_with_0_btc_read_right(run_cli: Run) -> None:
    for slug in ("united-states", "el-salvador"):
        added = run_cli(
            "holdings", "add", slug, "--btc", "0", "--as-of", "2025-09-01",
            "--basis", "official", "--source", "all sold",
        )  # fmt: skip
        assert added.exit_code == 0, added.stderr
    out = run_cli("report", "--offline", "--at", "2025-09-02").stdout
    assert "El Salvador and United States hold none" in out
    assert "Total: 0 BTC = $0.00" in out


def test_the_change_table_has_a_row_per_holder_after_a_blank_line(run_cli: Run) -> None:
    lines = run_cli("report", "--offline", "--at", "2025-09-01").stdout.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("Change "))
    assert lines[head - 1] == "" and lines[head - 2].startswith("United States holds")
    assert lines[head].split() == ["Change", "24h", "7d", "30d", "1y"]
    assert lines[head + 1].strip().startswith("─")
    rows = [line.split()[0] for line in lines[head + 2 : head + 5]]
    assert rows == ["Price", "United", "El"]  # the price, then each valued holder


# --- where the bundled series ends --------------------------------------------------------------


def test_a_bundled_close_names_where_the_bundled_series_ends(run_cli: Run) -> None:
    end = bundled_last_day()
    data = report(run_cli, "--at", "2025-04-14")
    assert data["price"]["sources"] == ["bundled"] and data["price"]["series_ends"] == str(end)
    assert not any("bundled" in w for w in data["warnings"])  # 2025-04-14 is within it
    for fmt in ("table", "markdown"):
        out = run_cli("report", "--offline", "-f", fmt, "--at", "2025-04-14").stdout
        assert f"(bundled series, ends {end})" in " ".join(out.split()), fmt
    out = run_cli("report", "--offline", "-f", "csv", "--at", "2025-04-14").stdout
    assert {r["price_series_ends"] for r in csv.DictReader(io.StringIO(out))} == {str(end)}


def test_a_report_after_the_bundled_series_says_it_ends_before(run_cli: Run) -> None:
    end = bundled_last_day()
    warning = f"the bundled daily series ends on {end}, before {end + DAY}"
    after = report(run_cli, "--at", str(end + DAY))
    assert after["price"]["as_of"] == f"{end}T00:00:00Z"
    assert after["price"]["series_ends"] == str(end)
    assert any(w.startswith(warning) for w in after["warnings"]), after["warnings"]
    within = report(run_cli, "--at", str(end))["warnings"]
    assert not any("bundled daily series" in w for w in within)
    now = report(run_cli)  # the first offline report: the newest bundled close, and why
    assert now["price"]["as_of"] == f"{end}T00:00:00Z"
    assert any(w.startswith(f"the bundled daily series ends on {end}") for w in now["warnings"])


def test_other_prices_name_no_bundled_end(run_cli: Run) -> None:
    assert run_cli("db", "upgrade").exit_code == 0
    url = os.environ["TRACKER_DATABASE_URL"]
    end = bundled_last_day()
    store_closes(url, {end + DAY: Decimal("80000.5")}, source="bitstamp")
    data = report(run_cli, "--at", str(end + DAY))
    assert data["price"]["sources"] == ["bitstamp"] and data["price"]["series_ends"] is None
    assert not any("bundled" in w for w in data["warnings"])
    assert "series, ends" not in run_cli("report", "--offline", "--at", str(end + DAY)).stdout
    store_consensus(url, dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5), Decimal("90000"))
    assert report(run_cli)["price"]["series_ends"] is None
    assert report(run_cli, "--what-if", "1")["price"]["series_ends"] is None
