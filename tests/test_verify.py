"""`tracker verify` against the loopback fake explorer pair: the done-when cases (agree ->
verified with the sum at the served height and its difference to the claim; one explorer
+1 BTC on one address -> disagree naming it, exit 1; one explorer down -> unverified), the
check stored in one transaction with every answer, claim against chain, and the exits; on
SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlmodel import select
from typer.testing import Result

from tests.fake_explorer import FakeExplorer
from tests.verify_support import ES, database_with, settings_from, write_config
from tracker.chain_models import VerifyAnswer, VerifyCheck
from tracker.clock import utc_today
from tracker.holdings import load_ledgers
from tracker.store import chain_queries
from tracker.store.engine import read_session
from tracker.valuation import value_holder
from tracker.verify import latest_checks, run_checks

BTC = 100_000_000
ONLY_ES = {"el-salvador": ES, "united-states": [], "germany": []}  # the others' addresses removed
Run = Callable[..., Result]


@pytest.fixture
def world(
    fake_explorer: FakeExplorer, tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> tuple[FakeExplorer, str, int]:
    """The shipped ledger with El Salvador's addresses; the explorers serve balances summing
    to its headline claim + 0.5 BTC. Returns the fake, the database URL and the claim (sats)."""
    config = write_config(tmp_path / "verify.toml", fake_explorer.config_toml())
    monkeypatch.setenv("TRACKER_CONFIG", str(config))
    settings = settings_from(config)
    engine = database_with(db_url, settings, ONLY_ES)
    with read_session(engine) as session:
        ledger = next(lg for lg in load_ledgers(session=session) if lg.holder.slug == "el-salvador")
    claim = value_holder(ledger, None, utc_today()).claim
    assert claim is not None and claim.sats is not None
    fake_explorer.set_balances(split(claim.sats + BTC // 2, ES))
    fake_explorer.set_tip(925_123)
    return fake_explorer, db_url, claim.sats


def split(total: int, addresses: list[str]) -> dict[str, int]:
    """``total`` over the addresses, unevenly (the last one empty), every sat accounted for."""
    shares = {a: total // (2 ** (i + 1)) for i, a in enumerate(addresses[:-1])}
    first = addresses[0]
    shares[first] += total - sum(shares.values())
    shares[addresses[-1]] = 0
    return shares


def verify_json(run_cli: Run, db: str, *args: str) -> tuple[int, dict]:
    result = run_cli("verify", "--holder", "el-salvador", "--format", "json", *args, db=db)
    assert result.stderr == "", result.stderr
    return result.exit_code, json.loads(result.stdout)


def test_agreeing_explorers_verify_the_sum_at_the_served_height(
    world: tuple[FakeExplorer, str, int], run_cli: Run
) -> None:
    fake, db, claim = world
    code, doc = verify_json(run_cli, db)
    assert code == 0
    (check,) = doc["checks"]
    assert check["holder"] == "el-salvador"
    assert check["status"] == "verified"
    assert check["height"] == 925_123
    assert check["btc"] == _btc(claim + BTC // 2)  # the sum of the addresses' balances
    assert check["bound"] == "at_least"  # the holder does not publish its full list
    assert check["verdict"] == "matches"
    assert check["claim_difference_btc"] == "+0.5"
    assert check["claim"]["btc"] == _btc(claim)
    assert check["explorers"] == ["mempool", "blockstream"]
    assert check["addresses"] == len(ES)
    # every address was asked of both explorers, between two tip reads
    for name in ("mempool", "blockstream"):
        targets = [r.target for r in fake.requests(name)]
        assert targets[0] == targets[-1] == "/api/blocks/tip/height"
        assert sorted(targets[1:-1]) == sorted(f"/api/address/{a}" for a in ES)


def _btc(sats: int) -> str:
    from tracker.money import sats_to_btc
    from tracker.render.text import plain

    return plain(sats_to_btc(sats)) or "0"


def test_one_explorer_one_btc_more_on_one_address_disagrees_naming_it(
    world: tuple[FakeExplorer, str, int], run_cli: Run
) -> None:
    fake, db, _ = world
    address = ES[3]
    with read_session(_engine(db)) as session:
        before = len(session.exec(select(VerifyCheck)).all())
    current = _served(fake, "blockstream", address)
    fake.set_balances({address: current + BTC}, explorer="blockstream")
    code, doc = verify_json(run_cli, db)
    assert code == 1
    (check,) = doc["checks"]
    assert check["status"] == "disagree"
    assert check["btc"] is None and check["verdict"] is None  # never a made-up total
    assert address in check["reason"]
    assert _btc(current) in check["reason"] and _btc(current + BTC) in check["reason"]
    assert sum(1 for a in ES if a in check["reason"]) == 1  # only that one is named
    table = run_cli("verify", "--holder", "el-salvador", db=db)
    assert table.exit_code == 1
    assert "disagree" in table.stdout and address[:12] in table.stdout
    with read_session(_engine(db)) as session:
        assert len(session.exec(select(VerifyCheck)).all()) == before + 2


def _served(fake: FakeExplorer, name: str, address: str) -> int:
    return fake._explorers[name].balances.get(address, 0)


def _engine(url: str):  # type: ignore[no-untyped-def]
    from tracker.store.engine import make_engine

    return make_engine(url)


def test_one_explorer_down_with_two_needed_is_unverified(
    world: tuple[FakeExplorer, str, int], run_cli: Run
) -> None:
    fake, db, _ = world
    fake.set_fault("mempool", status=503)
    code, doc = verify_json(run_cli, db)
    assert code == 1
    (check,) = doc["checks"]
    assert check["status"] == "unverified"
    assert check["btc"] is None and check["height"] is None
    assert "1 of 2 explorer(s)" in check["reason"]
    assert "mempool: tip height: HTTP 503" in check["reason"]
    assert "after 3 attempts" in check["reason"]
    tips = {t["explorer"]: t for t in check["tips"]}
    assert tips["mempool"]["outcome"] == "http_error"
    assert tips["blockstream"]["outcome"] == "ok"
    skipped = [a for a in check["answers"] if a["explorer"] == "mempool"]
    assert {a["outcome"] for a in skipped} == {"skipped"} and len(skipped) == len(ES)


def test_one_explorer_enough_when_min_explorers_is_one(
    fake_explorer: FakeExplorer, tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(tmp_path / "c.toml", fake_explorer.config_toml(min_explorers=1))
    settings = settings_from(config)
    engine = database_with(db_url, settings, {"el-salvador": ES[:2]}, complete=True)
    fake_explorer.set_balances({ES[0]: 7 * BTC, ES[1]: 3})
    fake_explorer.set_fault("blockstream", status=500)
    (result,) = run_checks(settings, engine, ["el-salvador"])
    assert result.status.value == "verified"
    assert result.explorers == ("mempool",)
    assert result.chain_sats == 7 * BTC + 3
    assert result.chain_bound is not None and result.chain_bound.value == "exact"
    assert result.verdict is not None and result.verdict.value == "differs"
    assert result.claim is not None and result.claim.sats is not None
    assert result.difference_sats == 7 * BTC + 3 - result.claim.sats


def test_a_check_is_stored_with_every_answer_and_the_latest_is_found(
    world: tuple[FakeExplorer, str, int], db_url: str
) -> None:
    fake, db, claim = world
    settings = settings_from(Path(__import__("os").environ["TRACKER_CONFIG"]))
    engine = _engine(db)
    first = run_checks(settings, engine, ["el-salvador"])[0]
    fake.set_tip(925_200)
    second = next(r for r in run_checks(settings, engine, None) if r.holder == "el-salvador")
    assert second.height == 925_200
    with read_session(engine) as session:
        check = session.get(VerifyCheck, first.check_id)
        assert check is not None
        assert check.status == "verified" and check.chain_sats == claim + BTC // 2
        assert check.claim_sats == claim and check.difference_sats == BTC // 2
        assert check.verdict == "matches" and check.explorers == "mempool,blockstream"
        answers = chain_queries.check_answers(session=session, check_id=first.check_id)
        assert len(answers) == 2 * (1 + len(ES))
        tips = [a for a in answers if a.address == ""]
        assert {(a.explorer, a.height, a.outcome) for a in tips} == {
            ("mempool", 925_123, "ok"),
            ("blockstream", 925_123, "ok"),
        }
        assert all(a.outcome == "ok" and a.sats is not None for a in answers if a.address)
        row = latest_checks(session)[check.holder_id]
        assert row.id == second.check_id and row.height == 925_200


def test_a_check_that_fails_to_store_leaves_nothing(
    world: tuple[FakeExplorer, str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, db, _ = world
    settings = settings_from(Path(__import__("os").environ["TRACKER_CONFIG"]))
    original = chain_queries.insert_check

    def half(**kw: object) -> VerifyCheck:
        original(**kw)  # type: ignore[arg-type]
        raise RuntimeError("disk full")

    monkeypatch.setattr(chain_queries, "insert_check", half)
    with pytest.raises(RuntimeError):
        run_checks(settings, _engine(db), ["el-salvador"])
    with read_session(_engine(db)) as session:
        assert session.exec(select(VerifyCheck)).all() == []
        assert session.exec(select(VerifyAnswer)).all() == []


def test_differs_is_exit_1_with_the_signed_difference(
    world: tuple[FakeExplorer, str, int], run_cli: Run
) -> None:
    fake, db, claim = world
    fake.set_balances(split(claim + 3 * BTC, ES))  # the chain holds more than claimed
    code, doc = verify_json(run_cli, db)
    assert code == 1
    (check,) = doc["checks"]
    assert check["status"] == "verified" and check["verdict"] == "differs"
    assert check["claim_difference_btc"] == "+3"


def test_less_on_a_list_that_may_be_incomplete_is_inconclusive_not_differs(
    world: tuple[FakeExplorer, str, int], run_cli: Run
) -> None:
    """The addresses known hold 3 BTC less than the claim: with a list that may miss
    addresses that contradicts nothing (exit 0); with the holder's full list it differs."""
    fake, db, claim = world
    fake.set_balances(split(claim - 3 * BTC, ES))
    code, doc = verify_json(run_cli, db)
    (check,) = doc["checks"]
    assert (code, check["verdict"], check["bound"]) == (0, "inconclusive", "at_least")
    assert check["claim_difference_btc"] == "-3"
    assert "the list may be incomplete" in check["reason"]
    from tracker.store.engine import make_engine, write_session
    from tracker.store.queries import get_holder

    engine = make_engine(db)
    with write_session(engine) as session:
        holder = get_holder(session=session, slug="el-salvador")
        assert holder is not None
        holder.addresses_complete = True  # the holder publishes every address
        session.add(holder)
    engine.dispose()
    code, doc = verify_json(run_cli, db)
    (check,) = doc["checks"]
    assert (code, check["verdict"], check["bound"]) == (1, "differs", "exact")


def test_verbose_table_and_other_formats(
    world: tuple[FakeExplorer, str, int], run_cli: Run
) -> None:
    _, db, _ = world
    table = run_cli("verify", "-v", db=db)
    assert table.exit_code == 0, table.output
    row = next(line for line in table.stdout.splitlines() if line.startswith("el-salvador "))
    assert row.split()[-1] == "verified" and "matches" in table.stdout
    assert "every address" in table.stdout and ES[5] in table.stdout
    csv_out = run_cli("verify", "--format", "csv", "-v", db=db)
    lines = csv_out.stdout.splitlines()
    assert lines[0].startswith("row_type,holder,status,btc")
    assert sum(line.startswith("check,") for line in lines) == 1
    assert sum(line.startswith("answer,") for line in lines) == 2 * len(ES)
    md = run_cli("verify", "--format", "markdown", db=db)
    assert md.stdout.startswith("| holder | claim | chain |")


def test_no_holder_with_addresses_is_exit_2(
    fake_explorer: FakeExplorer, tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch,
    run_cli: Run,
) -> None:  # fmt: skip
    config = write_config(tmp_path / "c.toml", fake_explorer.config_toml())
    monkeypatch.setenv("TRACKER_CONFIG", str(config))
    database_with(db_url, settings_from(config), {"el-salvador": [], "united-states": [],
                                                  "germany": []})  # fmt: skip
    result = run_cli("verify", db=db_url)
    assert result.exit_code == 2
    assert result.stderr.startswith("tracker: error: no addresses to check")
    assert result.stdout == ""
    unknown = run_cli("verify", "--holder", "atlantis", db=db_url)
    assert unknown.exit_code == 1
    assert "--holder atlantis: no such holder" in unknown.stderr
    assert fake_explorer.requests("mempool") == []


def test_a_holder_with_only_an_undisclosed_figure_gets_no_verdict(
    fake_explorer: FakeExplorer, tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch,
    run_cli: Run,
) -> None:  # fmt: skip
    own = (
        '[[holders]]\nslug = "atlantis"\nname = "Atlantis"\n\n'
        '[[holdings]]\nholder = "atlantis"\nas_of = 2024-01-01\nbasis = "undisclosed"\n'
        'source = "A statement that it holds bitcoin"\n'
    )
    config = write_config(tmp_path / "c.toml", fake_explorer.config_toml(), own)
    monkeypatch.setenv("TRACKER_CONFIG", str(config))
    address = "1FHxL2JskCy6g98wEMxpaNNkxohjq3hUKk"
    database_with(db_url, settings_from(config), {"atlantis": [address]})
    fake_explorer.set_balances({address: 1_010_000})
    result = run_cli("verify", "--holder", "atlantis", "--format", "json", db=db_url)
    assert result.exit_code == 0, result.output  # nothing differs
    (check,) = json.loads(result.stdout)["checks"]
    assert (check["status"], check["btc"], check["claim"], check["verdict"]) == (
        "verified", "0.0101", None, None,
    )  # fmt: skip
    assert check["reason"] == "no headline figure to compare (none, or undisclosed)"


def test_an_explorer_a_block_behind_reads_once_more_and_catches_up(
    world: tuple[FakeExplorer, str, int], run_cli: Run
) -> None:
    fake, db, _ = world
    # blockstream sees the new block only after its first pass (its second tip read)
    fake.set_tip(925_122, explorer="blockstream", move_every=2, moves=1)
    code, doc = verify_json(run_cli, db)
    (check,) = doc["checks"]
    assert (code, check["status"], check["height"]) == (0, "verified", 925_123)
    tips = [r for r in fake.requests("blockstream") if r.target == "/api/blocks/tip/height"]
    assert len(tips) == 4  # two passes, each between two tip reads
    assert len([r for r in fake.requests("mempool") if r.target.endswith("/height")]) == 2


def test_an_explorer_that_stays_behind_disagrees(
    world: tuple[FakeExplorer, str, int], run_cli: Run
) -> None:
    fake, db, _ = world
    fake.set_tip(925_122, explorer="blockstream")
    code, doc = verify_json(run_cli, db)
    (check,) = doc["checks"]
    assert (code, check["status"]) == (1, "disagree")
    assert "heights differ: mempool 925123, blockstream 925122" in check["reason"]
