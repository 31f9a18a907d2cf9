"""The commands as a user runs them; bad input gets one line, exit 1, and nothing written."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import Result

from tests.helpers import bundled_close, bundled_rows

Run = Callable[..., Result]


def one_error_line(result: Result, code: int = 1) -> str:
    assert result.exit_code == code, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return lines[0]


# --- the main job --------------------------------------------------------------------------


def test_report_json_at_a_date_values_every_sovereign_exactly(run_cli: Run, db_url: str) -> None:
    """Issue 9's first "done when": the shipped ledger on 2025-04-14."""
    result = run_cli("report", "--offline", "--format", "json", "--at", "2025-04-14", db=db_url)
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    close = bundled_close("2025-04-14")
    assert data["schema_version"] == 2 and data["as_known_at"] is None
    assert data["at"] == "2025-04-14T23:59:59Z"
    assert data["price"]["value"] == str(close)
    assert data["price"]["kind"] == "daily_close" and data["price"]["sources"] == ["bundled"]
    assert data["price"]["as_of"] == "2025-04-14T00:00:00Z" and data["price"]["stale"] is False
    assert data["price"]["age_seconds"] == 86399
    holders = {h["slug"]: h for h in data["holders"]}
    valued = [h["slug"] for h in data["holders"] if h["state"] == "valued"]
    assert len(valued) == 9 and data["comparison"]["holders_counted"] == 9
    values = [Decimal(holders[s]["value"]) for s in valued]
    assert values == sorted(values, reverse=True)  # sorted by value
    assert {h["state"] for h in data["holders"][9:]} == {"no_data"}  # after the valued ones
    bg = holders["bulgaria"]
    assert (bg["btc"], bg["value"], bg["divested"], bg["bound"]) == ("0", "0.00", True, "exact")
    de = holders["germany"]
    assert (de["btc"], de["bound"], de["scope"]) == ("31.41954211", "at_least", "government")
    assert [(p["scope"], p["btc"], p["as_of"]) for p in de["parts"]] == [
        ("subset", "0", "2024-07-12"),  # the Movie2k coins, sold
        ("subset", "43359", "2024-06-19"),
    ]
    us = holders["united-states"]  # all government wallets, as Arkham counts them
    assert (us["btc"], us["bound"], us["basis"], us["scope"]) == (
        "198109", "approximate", "estimate", "government",
    )  # fmt: skip
    assert us["holding_as_of"] == "2025-03-17" and us["url"].startswith("https://")
    (reserve,) = us["parts"]  # the Strategic Bitcoin Reserve: no amount published
    assert (reserve["scope"], reserve["btc"], reserve["basis"]) == ("reserve", None, "undisclosed")
    es = holders["el-salvador"]
    assert (es["btc"], es["bound"], es["basis"]) == ("6100", "at_least", "reported")
    excluded = {e["slug"]: e for e in data["excluded"]}
    assert {"ukraine", "georgia", "north-korea"} <= set(excluded)
    assert "not state property" in excluded["ukraine"]["reason"]
    assert not {"ukraine", "georgia", "north-korea"} & set(holders)
    assert data["comparison"]["total_bound"] in ("approximate", "at_least")
    price = Decimal(data["price"]["value"])
    for h in data["holders"]:  # every value recomputes exactly from btc × price
        if h["btc"] is not None:
            assert Decimal(h["value"]) == (Decimal(h["btc"]) * price).quantize(Decimal("0.01"))
            assert h["source"]
            assert h["url"] is None or h["url"].startswith(("https://", "http://"))
    total = sum(Decimal(holders[s]["btc"]) for s in valued)
    assert Decimal(data["comparison"]["total_btc"]) == total
    pair = data["comparison"]["pairs"][0]
    assert (pair["a"], pair["b"]) == ("united-states", "el-salvador")
    assert Decimal(pair["btc_ratio"]) == (Decimal(198109) / Decimal(6100)).quantize(
        Decimal("0.01"), rounding="ROUND_FLOOR"
    ) or pair["btc_ratio_bound"] == "approximate"
    assert Decimal(pair["value_difference"]) == Decimal(us["value"]) - Decimal(es["value"])
    assert set(data) == {
        "schema_version", "generated_at", "at", "as_known_at", "currency", "price", "holders",
        "comparison", "excluded", "warnings", "changes",
    }  # fmt: skip
    assert set(es) == {
        "slug", "name", "kind", "state", "divested", "btc", "bound", "holding_as_of",
        "holding_age_days", "holding_stale", "basis", "scope", "source", "url", "published",
        "note", "value", "share_of_supply_pct", "share_of_supply_bound", "btc_per_capita",
        "btc_per_capita_bound", "usd_per_capita", "usd_per_capita_bound", "cost_basis_usd",
        "unrealized_pnl", "population", "population_year", "parts", "onchain",
    }  # fmt: skip
    assert es["onchain"] is None  # never checked against the chain here
    assert es["share_of_supply_pct"] == "0.0290"  # 6,100 of 21,000,000, rounded down
    per_person = (Decimal(6100) / Decimal(6338193)).quantize(Decimal("1e-8"), rounding="ROUND_FLOOR")
    assert es["btc_per_capita"] == str(per_person) == "0.00096241"  # World Bank 2024


def test_2024_06_01_has_el_salvadors_official_figure_and_the_us_estimate(run_cli: Run) -> None:
    data = json.loads(run_cli("report", "--offline", "-f", "json", "--at", "2024-06-01").stdout)
    holders = {h["slug"]: h for h in data["holders"]}
    es, us = holders["el-salvador"], holders["united-states"]
    assert (es["btc"], es["basis"], es["holding_as_of"]) == ("5748.76", "official", "2024-05-12")
    assert (us["btc"], us["bound"], us["holding_as_of"]) == ("213246", "approximate", "2024-04-05")


def test_a_date_before_any_observation_is_no_data_never_zero(run_cli: Run) -> None:
    data = json.loads(run_cli("report", "--offline", "-f", "json", "--at", "2020-01-01").stdout)
    holders = {h["slug"]: h for h in data["holders"]}
    for slug in ("el-salvador", "united-states"):
        h = holders[slug]
        assert (h["state"], h["btc"], h["value"], h["basis"]) == ("no_data", None, None, None)
    assert data["comparison"]["pairs"] == []
    assert any("no data, not zero" in w and "El Salvador" in w for w in data["warnings"])
    assert not any("undisclosed" in w for w in data["warnings"])
    table = run_cli("report", "--offline", "--at", "2020-01-01").stdout
    es_row = next(line for line in table.splitlines() if line.startswith(" El Salvador"))
    assert "no data" in es_row and "undisclosed" not in es_row and " 0" not in es_row


def test_an_announced_reserve_without_an_amount_is_undisclosed(run_cli: Run) -> None:
    data = json.loads(run_cli("report", "--offline", "-f", "json", "--at", "2025-10-01").stdout)
    kz = {h["slug"]: h for h in data["holders"]}["kazakhstan"]
    assert (kz["state"], kz["btc"], kz["basis"], kz["scope"]) == (
        "undisclosed", None, "undisclosed", "reserve",
    )  # fmt: skip
    assert any("undisclosed" in w and "Kazakhstan" in w for w in data["warnings"])


def test_as_known_at_uses_only_what_was_published_by_then(run_cli: Run, db_url: str) -> None:
    args = ("report", "--offline", "-f", "json", "--at", "2025-11-30")
    now = json.loads(run_cli(*args, db=db_url).stdout)
    then = json.loads(run_cli(*args, "--as-known-at", "2025-01-01", db=db_url).stdout)
    es_now = {h["slug"]: h for h in now["holders"]}["el-salvador"]
    es_then = {h["slug"]: h for h in then["holders"]}["el-salvador"]
    assert es_now["btc"] == "7474.37"
    assert (es_then["btc"], es_then["holding_as_of"]) == ("5980.77", "2024-12-19")
    assert then["as_known_at"] == "2025-01-01"
    for h in then["holders"]:  # nothing published after New Year's Day 2025
        assert h["published"] is None or h["published"] <= "2025-01-01"
    table = run_cli("report", "--offline", "--at", "2025-11-30", "--as-known-at", "2025-01-01")
    assert "as known on 2025-01-01" in table.stdout.splitlines()[0]


def test_report_now_uses_stored_prices_and_says_they_are_stale(run_cli: Run) -> None:
    data = json.loads(run_cli("report", "--offline", "-f", "json").stdout)
    assert data["at"] is None
    assert data["price"]["stale"] is True
    assert any("stale" in w for w in data["warnings"])
    assert any("no live price" in w for w in data["warnings"])
    holders = {h["slug"]: h for h in data["holders"]}
    assert holders["el-salvador"]["btc"] == "7474.37"  # official, 2025-11-18
    assert holders["united-states"]["btc"] == "328000"  # BitcoinTreasuries, 2025-12-18


def test_what_if_values_at_the_given_price(run_cli: Run) -> None:
    data = json.loads(run_cli("report", "--offline", "-f", "json", "--what-if", "100000").stdout)
    assert data["price"] == {
        "value": "100000.00", "as_of": data["generated_at"], "kind": "what_if", "sources": [],
        "age_seconds": 0, "stale": False, "series_ends": None,
    }  # fmt: skip
    holders = {h["slug"]: h for h in data["holders"]}
    assert holders["el-salvador"]["value"] == "747437000.00"  # 7,474.37 BTC


def test_table_fits_80_columns_with_footnotes_and_warnings(run_cli: Run) -> None:
    out = run_cli("report", "--offline").stdout
    assert max(len(line) for line in out.splitlines()) <= 80
    assert "[1]" in out and "Arkham Intelligence" in out
    assert "STALE" in out and "warning: the price is stale" in out


@pytest.mark.parametrize("fmt", ["csv", "markdown"])
def test_csv_and_markdown_carry_the_same_figures(run_cli: Run, fmt: str) -> None:
    ref = json.loads(run_cli("report", "--offline", "-f", "json", "--at", "2025-04-14").stdout)
    out = run_cli("report", "--offline", "-f", fmt, "--at", "2025-04-14").stdout
    for h in ref["holders"]:
        if h["value"] is None:  # no data
            continue
        shown = h["value"] if fmt == "csv" else f"{Decimal(h['value']):,.2f}"
        assert shown in out
    if fmt == "csv":
        import csv
        import io

        rows = [r for r in csv.DictReader(io.StringIO(out)) if r["row_type"] == "holder"]
        assert [r["slug"] for r in rows] == [h["slug"] for h in ref["holders"]]


def test_holdings_add_list_remove_sync(run_cli: Run) -> None:
    added = run_cli(
        "holdings", "add", "el-salvador", "--btc", "6300.5", "--bound", "exact",
        "--as-of", "2025-09-01", "--basis", "official", "--source", "Bitcoin Office, 2025-09-01",
        "--cost-basis-usd", "400000000",
    )  # fmt: skip
    assert added.exit_code == 0, added.stderr
    listed = json.loads(run_cli("holdings", "list", "el-salvador", "-f", "json").stdout)
    obs = listed["holders"][0]["observations"]
    new = [o for o in obs if o["as_of"] == "2025-09-01"]
    assert new and new[0]["btc"] == "6300.5" and new[0]["cost_basis_usd"] == "400000000"
    data = json.loads(run_cli("report", "--offline", "-f", "json", "--at", "2025-09-02").stdout)
    assert {h["slug"]: h["btc"] for h in data["holders"]}["el-salvador"] == "6300.5"
    assert run_cli("holdings", "remove", str(new[0]["id"])).exit_code == 0
    assert run_cli("holdings", "sync").stdout.startswith("0 added, 45 already present")
    listed = json.loads(run_cli("holdings", "list", "-f", "json").stdout)
    assert sum(len(h["observations"]) for h in listed["holders"]) == 45


def test_sync_warns_when_a_stored_observation_differs_from_the_config(
    run_cli: Run, tmp_path: Path
) -> None:
    """A seed the user changed in the store is kept, and sync says so on stderr (SQLite)."""
    import sqlite3

    assert run_cli("db", "upgrade").exit_code == 0
    with sqlite3.connect(tmp_path / "tracker.db") as db:
        changed = db.execute(
            "UPDATE holding_observations SET sats = 123 WHERE sats = 610000000000"
        ).rowcount
    assert changed == 1
    done = run_cli("holdings", "sync")
    assert done.exit_code == 0
    assert done.stdout.startswith("0 added, 44 already present")
    warning = done.stderr.strip()
    assert warning.startswith("tracker: warning: el-salvador 2025-04-01: stored observation")
    assert "differs from the shipped ledger; it was kept" in warning
    listed = json.loads(run_cli("holdings", "list", "el-salvador", "-f", "json").stdout)
    assert "0.00000123" in [o["btc"] for o in listed["holders"][0]["observations"]]


def test_holdings_add_creates_a_new_holder_with_name(run_cli: Run) -> None:
    result = run_cli(
        "holdings", "add", "atlantis", "--name", "Atlantis", "--country", "aq", "--population",
        "790000", "--btc", "10000", "--bound", "approximate", "--as-of", "2025-05-01",
        "--basis", "estimate", "--source", "Arkham Intelligence, 2025-05-01",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    data = json.loads(run_cli("report", "--offline", "-f", "json", "--at", "2025-05-02").stdout)
    atlantis = {h["slug"]: h for h in data["holders"]}["atlantis"]
    assert atlantis["btc_per_capita"] == str((Decimal(10000) / 790000).quantize(Decimal("1e-8")))


def test_db_upgrade_and_info(run_cli: Run, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    assert "created" in run_cli("--db", url, "db", "upgrade").stdout
    assert "current" in run_cli("--db", url, "db", "upgrade").stdout
    info = json.loads(run_cli("--db", url, "db", "info", "-f", "json").stdout)
    assert info["rows"]["daily_prices"] == len(bundled_rows()) and info["journal_mode"] == "wal"


def test_db_info_costs_the_same_on_a_large_database(tmp_path: Path) -> None:
    """The round tables are never counted row by row: their counts come from their ids (two
    primary-key seeks), and the output says they are estimates."""
    import sqlalchemy as sa

    from tracker.config import Settings
    from tracker.store.migrate import info, open_database

    engine = open_database(f"sqlite:///{tmp_path / 'i.db'}", settings=Settings()).engine
    with engine.begin() as conn:
        for n in range(1, 4):
            conn.exec_driver_sql(
                "INSERT INTO fetch_rounds (id, started_at, finished_at, status, currency) "
                f"VALUES ({n}, '2026-01-01 00:00:0{n}', '2026-01-01 00:00:0{n}', 'ok', 'USD')"
            )
            conn.exec_driver_sql(
                "INSERT INTO source_quotes (round_id, source, attempts, outcome) "
                f"VALUES ({n}, 'kraken', 1, 'accepted')"
            )
    seen: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda *a: seen.append(a[2].lower()))
    facts = info(engine)
    assert facts["rows"]["fetch_rounds"] == 3 and facts["rows"]["source_quotes"] == 3
    assert facts["rows"]["consensus_prices"] == 0
    assert set(facts["rows_estimated"]) == {"fetch_rounds", "source_quotes", "consensus_prices"}
    with engine.connect() as conn:
        for table in facts["rows_estimated"]:
            asked = [sql for sql in seen if f"from {table}" in sql]
            assert asked and not any("count(" in sql for sql in asked), seen
            for sql in asked:  # each an index seek, never a scan of the table
                plan = " ".join(str(r[-1]) for r in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
                assert "SCAN" not in plan.upper(), (sql, plan)
    engine.dispose()


def test_version_and_completion(run_cli: Run) -> None:
    from tracker import __version__

    assert run_cli("--version").stdout == f"tracker {__version__}\n"
    assert "--install-completion" in run_cli("--help").stdout
    done = subprocess.run(
        [sys.executable, "-m", "tracker", "--show-completion", "bash"],
        capture_output=True, text=True, env={**__import__("os").environ, "SHELL": "/bin/bash"},
    )  # fmt: skip
    assert done.returncode == 0 and "complete" in done.stdout, done.stderr


def test_an_article_fits_its_basis(run_cli: Run) -> None:
    done = run_cli(*ADD)
    assert "needs a BTC amount" in one_error_line(done)
    assert "an official observation" in done.stderr


def test_db_info_hides_the_password(run_cli: Run, pg_url: str) -> None:
    import sqlalchemy as sa

    url = sa.engine.make_url(pg_url).set(password="hunter2").render_as_string(hide_password=False)
    result = run_cli("--db", url, "db", "info")
    assert "hunter2" not in result.stdout + result.stderr


# --- bad input -----------------------------------------------------------------------------

ADD = ["holdings", "add", "el-salvador", "--as-of", "2025-05-01", "--basis", "official",
       "--source", "s"]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        ([*ADD, "--btc", "-5"], "negative"),
        ([*ADD, "--btc", "21000000.00000001"], "21,000,000"),
        ([*ADD, "--btc", "1.123456789"], "more than 8 decimals"),
        ([*ADD, "--btc", "lots"], "not a number"),
        ([*ADD[:4], "2025-13-01", *ADD[5:], "--btc", "1"], "not a date"),
        ([*ADD[:4], "2999-01-01", *ADD[5:], "--btc", "1"], "in the future"),
        (
            [
                "holdings",
                "add",
                "atlantis",
                "--as-of",
                "2025-05-01",
                "--basis",
                "official",
                "--source",
                "s",
                "--btc",
                "1",
            ],
            "unknown holder 'atlantis'",
        ),
        ([*ADD[:6], "rumour", *ADD[7:], "--btc", "1"], "unknown basis 'rumour'"),
        ([*ADD, "--btc", "1", "--bound", "roughly"], "unknown bound"),
        (["holdings", "remove", "999"], "no observation with id 999"),
        (["report", "--at", "yesterday"], "not a date"),
        (["report", "--at", "2999-01-01"], "in the future"),
        (["report", "--what-if", "-3"], "positive"),
        (["holdings", "list", "atlantis"], "unknown holder"),
        ([*ADD, "--btc", "6,5"], "use a dot for decimals"),  # not 65 BTC
        ([*ADD, "--btc", "5", "--cost-basis-usd", "1e30"], "more than"),
        (["report", "--what-if", "1e30"], "more than"),
        (["report", "--what-if", "84,57"], "use a dot for decimals"),
        (["report", "--at", "0001-01-01"], "before bitcoin's first block"),
        (["report", "--at", "9999-12-31T23:59:59-01:00"], "out of range"),
        (
            [
                "holdings",
                "add",
                "Foo Bar",
                "--name",
                "Foo",
                "--as-of",
                "2025-01-01",
                "--basis",
                "official",
                "--source",
                "s",
                "--btc",
                "1",
            ],
            "lowercase letters",
        ),
        (
            [
                "holdings",
                "add",
                "nn",
                "--name",
                "n" * 201,
                "--as-of",
                "2025-01-01",
                "--basis",
                "official",
                "--source",
                "s",
                "--btc",
                "1",
            ],
            "1 to 200 characters",
        ),
        ([*ADD[:8], "s" * 1001, "--btc", "1"], "longer than 1000 bytes"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(run_cli: Run, args: list[str], needle: str) -> None:
    before = run_cli("holdings", "list", "-f", "json").stdout
    line = one_error_line(run_cli(*args))
    assert needle in line
    assert run_cli("holdings", "list", "-f", "json").stdout == before  # nothing written


def test_a_duplicate_observation_is_refused(run_cli: Run) -> None:
    args = ["holdings", "add", "el-salvador", "--btc", "6209", "--bound", "exact", "--as-of",
            "2025-06-16", "--basis", "official", "--source",
            "National Bitcoin Office, +240 BTC since 2024-12-19, as reported"]  # fmt: skip
    assert "already has an observation" in one_error_line(run_cli(*args))


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[consensus\nmin_sources = 3", "not valid TOML"),
        ("[consensus]\nmin_sourcez = 3\n", "consensus.min_sourcez: unknown key"),
        ("[consensus]\nmin_sources = 'three'\n", "consensus.min_sources"),
        ("[consensus]\nmin_sources = 0\n", "consensus.min_sources"),
        ("[sources.kraken]\nbase_url = 'http://api.kraken.com'\n", "loopback"),
        ("[sources.nosuch]\nenabled = true\n", "unknown source 'nosuch'"),
        ("[report]\nmax_price_age_s = inf\n", "report.max_price_age_s"),
        ("[report]\nmax_price_age_s = 1e15\n", "report.max_price_age_s"),
        ("[schedule]\ninterval_s = nan\n", "schedule.interval_s"),
        ("[schedule]\ninterval_s = 1e300\n", "schedule.interval_s"),
        (
            "[[holders]]\nslug = 'x'\nname = 'X'\n[[holdings]]\nholder = 'y'\nas_of = 2025-01-01\n"
            "basis = 'official'\nsource = 's'\nbtc = '1'\n",
            "holder 'y' is neither shipped nor listed under [[holders]]",
        ),
    ],
)
def test_bad_config_names_file_key_and_reason(
    run_cli: Run, tmp_path: Path, text: str, needle: str
) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text(text)
    line = one_error_line(run_cli("--config", str(cfg), "report", "--offline"))
    assert str(cfg) in line and needle in line
    assert not (tmp_path / "tracker.db").exists()  # nothing created


def test_bad_seed_in_config_is_refused_before_anything_is_written(
    run_cli: Run, tmp_path: Path
) -> None:
    cfg = tmp_path / "seeds.toml"
    cfg.write_text(
        "[[holders]]\nslug = 'x'\nname = 'X'\n[[holdings]]\nholder = 'x'\nas_of = 2025-01-01\n"
        "basis = 'official'\nsource = 's'\nbtc = '-1'\n"
    )
    assert "negative" in one_error_line(run_cli("--config", str(cfg), "report", "--offline"))
    import sqlalchemy as sa

    engine = sa.create_engine(f"sqlite:///{tmp_path / 'tracker.db'}")
    assert sa.inspect(engine).get_table_names() == []  # the migration was rolled back too


def test_a_missing_config_file_is_named(run_cli: Run, tmp_path: Path) -> None:
    line = one_error_line(run_cli("--config", str(tmp_path / "nope.toml"), "report"))
    assert "nope.toml (from --config): no such config file" in line


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("sqlite:////no/such/dir/x.db", "does not exist"),
        ("postgresql+psycopg://postgres@127.0.0.1:1/x", "cannot use database"),
        ("mysql+nosuchdriver://h/x", "unsupported database URL"),
    ],
)
def test_unusable_database_urls(run_cli: Run, url: str, needle: str) -> None:
    assert needle in one_error_line(run_cli("--db", url, "report", "--offline"))


def test_a_file_that_is_not_a_database_is_left_alone(run_cli: Run, tmp_path: Path) -> None:
    path = tmp_path / "photo.db"
    path.write_bytes(b"\x89PNG not a database" * 200)
    assert "not a SQLite database" in one_error_line(run_cli("--db", f"sqlite:///{path}", "report"))
    assert path.read_bytes().startswith(b"\x89PNG")


def test_a_newer_schema_is_refused(run_cli: Run, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    run_cli("--db", url, "db", "upgrade")
    import sqlalchemy as sa

    with sa.create_engine(url).begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '0099_from_the_future'")
    assert "upgrade tracker" in one_error_line(run_cli("--db", url, "report"))


def test_grouped_thousands_and_compact_dates_are_understood(run_cli: Run) -> None:
    added = run_cli(*ADD, "--btc", "6,100.5")
    assert added.exit_code == 0, added.stderr
    listed = json.loads(run_cli("holdings", "list", "el-salvador", "-f", "json").stdout)
    assert "6100.5" in [o["btc"] for o in listed["holders"][0]["observations"]]
    compact = json.loads(run_cli("report", "--offline", "-f", "json", "--at", "20250414").stdout)
    assert compact["at"] == "2025-04-14T23:59:59Z"  # the end of that day, like 2025-04-14


def test_usage_errors_are_one_line_and_exit_2(run_cli: Run) -> None:
    line = one_error_line(run_cli("report", "--no-such-option"), code=2)
    assert "--no-such-option" in line and "report --help" in line
    line = one_error_line(run_cli("report", "--format", "xml"), code=2)
    assert "'xml'" in line and "markdown" in line
    assert "nosuch" in one_error_line(run_cli("nosuch"), code=2)
    assert "Missing argument" in one_error_line(run_cli("holdings", "remove"), code=2)
    assert "observation_id" in one_error_line(run_cli("holdings", "remove", "99999999999"), code=2)


# --- the installed command -----------------------------------------------------------------


def test_help_does_not_import_heavy_libraries() -> None:
    code = (
        "import sys\n"
        "from tracker.cli import app\n"
        "try:\n    app(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('sqlalchemy', 'httpx', 'apscheduler', 'sqlmodel', 'alembic', "
        "'rich', 'markdown_it', 'pydantic') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stdout


def test_python_dash_m_runs_the_report(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "tracker", "report", "--offline", "-f", "json", "--at",
         "2025-04-14"],
        capture_output=True, text=True, cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["price"]["value"] == str(bundled_close("2025-04-14"))


def test_a_date_before_any_stored_price_shows_no_values(run_cli: Run) -> None:
    data = json.loads(run_cli("report", "--offline", "-f", "json", "--at", "2013-06-01").stdout)
    assert data["price"] is None
    assert all(h["value"] is None for h in data["holders"])
    assert any("no price is stored" in w for w in data["warnings"])


def test_the_longest_source_allowed_is_stored_on_every_backend(run_cli: Run, db_url: str) -> None:
    source = "é" * 500  # 1000 bytes in UTF-8: the limit, well inside a PostgreSQL btree row
    added = run_cli(*ADD[:8], source, "--btc", "1", db=db_url)
    assert added.exit_code == 0, added.stderr
    listed = json.loads(run_cli("holdings", "list", "el-salvador", "-f", "json", db=db_url).stdout)
    assert source in [o["source"] for o in listed["holders"][0]["observations"]]


def test_a_database_locked_past_its_busy_timeout_is_one_line(
    run_cli: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    from tracker.store import engine as store_engine

    url = f"sqlite:///{tmp_path / 'busy.db'}"
    assert run_cli("--db", url, "db", "upgrade").exit_code == 0
    monkeypatch.setattr(store_engine, "SQLITE_BUSY_TIMEOUT_MS", 200)
    holder = sqlite3.connect(tmp_path / "busy.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    try:
        line = one_error_line(run_cli("--db", url, *ADD, "--btc", "1"))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert "database is locked" in line and "nothing was changed" in line
    listed = json.loads(run_cli("--db", url, "holdings", "list", "-f", "json").stdout)
    assert sum(len(h["observations"]) for h in listed["holders"]) == 45


def test_status_and_db_info_offer_only_table_and_json(run_cli: Run) -> None:
    assert run_cli("status", "--format", "csv").exit_code == 2
    assert run_cli("db", "info", "--format", "csv").exit_code == 2
    out = run_cli("report", "--offline", "-f", "csv").stdout
    assert ",true," in out and ",True," not in out  # price_stale spelled as in the JSON


def test_db_upgrade_adds_the_bundled_closes_an_older_version_lacked(
    run_cli: Run, tmp_path: Path
) -> None:
    """A database made by an older version (its bundled series ended 2026-01-13) gains the
    closes this version ships, and keeps every close it had."""
    import sqlite3

    assert run_cli("db", "upgrade").exit_code == 0
    with sqlite3.connect(tmp_path / "tracker.db") as db:
        dropped = db.execute(
            "DELETE FROM daily_prices WHERE source = 'bundled' AND date > '2026-01-13'"
        ).rowcount
        db.execute(
            "UPDATE daily_prices SET close = 1 WHERE source = 'bundled' AND date = '2025-04-14'"
        )
    assert dropped > 200
    done = run_cli("db", "upgrade")
    assert done.stdout.splitlines() == [
        "schema is current (0004_onchain)",
        f"added {dropped:,} bundled daily close(s) this version ships",
    ]
    assert run_cli("db", "upgrade").stdout.count("\n") == 1  # nothing more to add
    with sqlite3.connect(tmp_path / "tracker.db") as db:
        kept = db.execute(
            "SELECT close FROM daily_prices WHERE source = 'bundled' AND date = '2025-04-14'"
        ).fetchone()
    assert kept == (1,)  # a stored close is never replaced
