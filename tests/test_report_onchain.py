"""The report shows each holder's newest recent check against the chain (DESIGN.md: the JSON
`onchain` object; a line under the holder's row and a footnote in the table; a `differs` is
a warning), and nothing for a holder never checked."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import Result

from tests.fake_explorer import FakeExplorer
from tests.verify_support import ES, database_with, settings_from, write_config
from tracker.clock import utc_today
from tracker.holdings import load_ledgers
from tracker.money import sats_to_btc
from tracker.store.engine import read_session
from tracker.valuation import value_holder

BTC = 100_000_000
Run = Callable[..., Result]


@pytest.fixture
def checked(
    fake_explorer: FakeExplorer, tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> Callable[[int], int]:
    """A database with El Salvador's addresses only; ``check(extra)`` serves balances summing
    to its claim + ``extra`` sats, runs `tracker verify` and returns the claim in sats."""
    config = write_config(tmp_path / "v.toml", fake_explorer.config_toml())
    monkeypatch.setenv("TRACKER_CONFIG", str(config))
    monkeypatch.setenv("TRACKER_DATABASE_URL", db_url)
    engine = database_with(
        db_url, settings_from(config), {"el-salvador": ES, "united-states": [], "germany": []}
    )
    with read_session(engine) as session:
        ledger = next(lg for lg in load_ledgers(session=session) if lg.holder.slug == "el-salvador")
    claim = value_holder(ledger, None, utc_today()).claim
    assert claim is not None and claim.sats is not None
    sats: int = claim.sats

    def check(extra: int) -> int:
        from tests.test_verify import split

        fake_explorer.set_balances(split(sats + extra, ES))
        fake_explorer.set_tip(925_000)
        from typer.testing import CliRunner

        from tracker.cli import app

        CliRunner().invoke(app, ["verify", "--holder", "el-salvador"], catch_exceptions=False)
        return sats

    return check


def report(run_cli: Run, *args: str) -> dict:  # type: ignore[type-arg]
    done = run_cli("report", "--offline", "--format", "json", *args)
    assert done.exit_code == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_a_matching_check_is_shown_beside_the_claim(
    checked: Callable[[int], int], run_cli: Run
) -> None:
    claim = checked(BTC // 4)  # 0.25 BTC more than claimed: within the 1 BTC tolerance
    data = report(run_cli)
    holders = {h["slug"]: h for h in data["holders"]}
    chain = holders["el-salvador"]["onchain"]
    assert chain is not None
    assert Decimal(chain["btc"]) == sats_to_btc(claim + BTC // 4)
    assert (chain["bound"], chain["height"], chain["addresses"]) == ("at_least", 925_000, len(ES))
    assert (chain["status"], chain["verdict"]) == ("verified", "matches")
    assert chain["claim_difference_btc"] == "0.25"
    assert chain["explorers"] == ["mempool", "blockstream"]
    assert chain["checked_at"].endswith("Z")
    assert holders["united-states"]["onchain"] is None  # never checked
    assert not any("the chain holds" in w for w in data["warnings"])
    table = run_cli("report", "--offline").stdout
    row = next(line for line in table.splitlines() if "↳ on chain" in line)
    assert f"≥{sats_to_btc(claim + BTC // 4):,}" in row
    assert "on chain, verified: mempool, blockstream at height 925000" in " ".join(table.split())
    csv_text = run_cli("report", "--offline", "-f", "csv").stdout
    assert "onchain_verdict" in csv_text.splitlines()[0] and ",matches," in csv_text


def test_a_differing_check_is_a_warning(checked: Callable[[int], int], run_cli: Run) -> None:
    checked(10 * BTC)  # the chain holds 10 BTC more than the claim
    data = report(run_cli)
    chain = {h["slug"]: h for h in data["holders"]}["el-salvador"]["onchain"]
    assert (chain["verdict"], chain["claim_difference_btc"]) == ("differs", "10")
    (line,) = [w for w in data["warnings"] if "the chain holds" in w]
    assert line.startswith("El Salvador: the chain holds ≥") and "+10 BTC from the claim" in line
    md = run_cli("report", "--offline", "-f", "markdown").stdout
    assert "| ↳ on chain [^" in md and "DIFFERS from the claim by +10 BTC" in md


def test_less_on_an_incomplete_list_is_said_and_not_a_warning(
    checked: Callable[[int], int], run_cli: Run
) -> None:
    checked(-10 * BTC)
    data = report(run_cli)
    chain = {h["slug"]: h for h in data["holders"]}["el-salvador"]["onchain"]
    assert (chain["verdict"], chain["claim_difference_btc"]) == ("inconclusive", "-10")
    assert not any("the chain holds" in w for w in data["warnings"])
    table = " ".join(run_cli("report", "--offline").stdout.split())
    assert "inconclusive: the known addresses hold -10 BTC less" not in table
    assert "-10 BTC from the claim, the addresses not known may hold the rest" in table


def test_a_check_after_the_reports_date_is_not_shown(
    checked: Callable[[int], int], run_cli: Run
) -> None:
    checked(0)
    data = report(run_cli, "--at", "2025-12-31")
    assert all(h["onchain"] is None for h in data["holders"])


def test_status_shows_the_newest_check_per_holder(
    checked: Callable[[int], int], run_cli: Run
) -> None:
    assert json.loads(run_cli("status", "--format", "json").stdout)["checks"] == []
    checked(0)
    checked(10 * BTC)  # the newer check is the one shown
    (check,) = json.loads(run_cli("status", "--format", "json").stdout)["checks"]
    assert (check["holder"], check["status"], check["verdict"]) == (
        "el-salvador", "verified", "differs",
    )  # fmt: skip
    assert (check["height"], check["claim_difference_btc"]) == (925_000, "10")
    assert check["checked_at"].endswith("Z") and 0 <= check["age_seconds"] < 600
    table = run_cli("status").stdout
    assert "On-chain checks (newest per holder; `tracker verify`):" in table
    assert "El Salvador: verified, differs at height 925000" in table
