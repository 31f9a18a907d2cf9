"""What every renderer shows a terminal: control characters from names, sources, notes and
servers never act on it, and every table fits the terminal's width."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import Result

from tests.fake_exchange import FakeExchange
from tracker.render import render
from tracker.render.text import clean, clean_json

Run = Callable[..., Result]

CLEAR = "\x1b[2J"  # clears the screen
TITLE = "\x1b]0;pwned\x07"  # OSC: sets the terminal's title
CSI_C1 = "\x9b31m"  # the one-byte C1 form of ESC[


def hostile(text: str) -> str:
    return f"{text}{CLEAR}{TITLE}{CSI_C1}"


def assert_harmless(out: str) -> None:
    for raw in ("\x1b", "\x07", "\x9b"):
        assert raw not in out, repr(out)


def _db(tmp_path: Path) -> Path:
    return tmp_path / "tracker.db"  # conftest points TRACKER_DATABASE_URL here


def _poison(run_cli: Run, tmp_path: Path) -> None:
    """Text with control characters that reached the store some other way (an older version,
    another writer): the output side must still make it harmless."""
    assert run_cli("db", "upgrade").exit_code == 0
    with sqlite3.connect(_db(tmp_path)) as db:
        db.execute("UPDATE holders SET name = ? WHERE slug = 'el-salvador'", (hostile("ES"),))
        db.execute(
            "UPDATE holding_observations SET source = ?, note = ?",
            (hostile("source"), hostile("note")),
        )
        db.execute(
            "INSERT INTO fetch_rounds (started_at, finished_at, status, currency) "
            "VALUES ('2026-01-01 00:00:00', '2026-01-01 00:00:01', 'degraded', 'USD')"
        )
        db.execute(
            "INSERT INTO source_quotes (round_id, source, attempts, outcome, reason) "
            "VALUES (1, 'kraken', 1, 'http_error', ?)",
            (hostile("HTTP 500: "),),
        )


@pytest.mark.parametrize("fmt", ["table", "csv", "markdown", "json"])
@pytest.mark.parametrize(
    "command",
    [
        ["report", "--offline", "--at", "2025-09-01", "--all-estimates"],
        ["holdings", "list"],
        ["sources"],
        ["history", "--from", "2025-06-01", "--to", "2025-07-31"],
    ],
)
def test_control_characters_never_reach_the_terminal(
    run_cli: Run, tmp_path: Path, command: list[str], fmt: str
) -> None:
    _poison(run_cli, tmp_path)
    if command[0] == "history" and fmt == "markdown":
        pytest.skip("history has no Markdown format")
    done = run_cli(*command, "--format", fmt)
    assert done.exit_code == 0, done.stderr
    assert_harmless(done.stdout)
    if fmt == "json":
        json.loads(done.stdout)  # still valid JSON, the characters escaped
    elif command[0] != "history":
        assert "\\x1b[2J" in done.stdout  # shown, escaped, not dropped


def test_status_escapes_a_servers_error_text(run_cli: Run, tmp_path: Path) -> None:
    _poison(run_cli, tmp_path)
    for fmt in ("table", "json"):
        done = run_cli("status", "--format", fmt)
        assert_harmless(done.stdout)
    assert "\\x1b]0;pwned\\x07" in run_cli("status").stdout


def test_a_round_with_a_hostile_error_body_is_shown_escaped(
    run_cli: Run, tmp_path: Path, fake_exchange: FakeExchange
) -> None:
    cfg = tmp_path / "fx.toml"
    cfg.write_text(fake_exchange.config_toml(timeout_s=1))
    fake_exchange.set_fault("kraken", status=200, body=json.dumps({"error": [hostile("EGeneral:")]}))
    for fmt in ("table", "csv", "markdown"):
        done = run_cli("--config", str(cfg), "fetch", "--format", fmt)
        assert_harmless(done.stdout + done.stderr)
        assert "EGeneral:\\x1b[2J" in done.stdout


@pytest.mark.parametrize(
    ("option", "value"),
    [("--source", hostile("a source")), ("--note", hostile("a note")), ("--name", hostile("X"))],
)
def test_control_characters_are_refused_on_input(run_cli: Run, option: str, value: str) -> None:
    args = ["holdings", "add", "new-holder" if option == "--name" else "el-salvador",
            "--as-of", "2025-05-01", "--basis", "official", "--btc", "1", "--source", "s"]  # fmt: skip
    args += [option, value]
    done = run_cli(*args)
    assert done.exit_code == 1
    assert "control character U+001B" in done.stderr
    assert_harmless(done.stderr)
    listed = run_cli("holdings", "list", "--format", "json").stdout
    assert "2025-05-01" not in listed  # nothing stored


def test_a_config_seed_with_a_control_character_is_refused(run_cli: Run, tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text(
        '[[holders]]\nslug = "x"\nname = "X"\n\n[[holdings]]\nholder = "x"\nbtc = "1"\n'
        'as_of = 2025-01-01\nbasis = "official"\nsource = "bad \\u001b[2J source"\n'
    )
    done = run_cli("--config", str(cfg), "report", "--offline")
    assert done.exit_code == 1 and "control character" in done.stderr


def test_clean_and_clean_json() -> None:
    assert clean("a\x1b[2Jb\tc\nd\x9b") == "a\\x1b[2Jb\tc\nd\\x9b"
    assert clean_json(json.dumps("\x9b", ensure_ascii=False)) == '"\\u009b"'
    assert json.loads(clean_json(json.dumps("\x9bx", ensure_ascii=False))) == "\x9bx"


# --- widths ---------------------------------------------------------------------------------


@pytest.mark.parametrize("width", [60, 80, 120])
@pytest.mark.parametrize(
    "command",
    [
        ["holdings", "list"],
        ["sources"],
        ["report", "--offline", "--at", "2025-09-01"],
        ["history", "--from", "2025-01-01", "--to", "2025-06-30"],
        ["addresses", "list"],
    ],
)
def test_tables_fit_the_terminal(
    run_cli: Run, monkeypatch: pytest.MonkeyPatch, command: list[str], width: int
) -> None:
    monkeypatch.setenv("COLUMNS", str(width))
    done = run_cli(*command)
    assert done.exit_code == 0, done.stderr
    longest = max(len(line) for line in done.stdout.splitlines())
    assert longest <= width, (width, done.stdout)


@pytest.mark.parametrize("width", [60, 80])
def test_a_fetch_round_fits_the_terminal(
    run_cli: Run, tmp_path: Path, fake_exchange: FakeExchange, monkeypatch: pytest.MonkeyPatch,
    width: int,
) -> None:  # fmt: skip
    monkeypatch.setenv("COLUMNS", str(width))
    cfg = tmp_path / "fx.toml"
    cfg.write_text(fake_exchange.config_toml(timeout_s=1))
    fake_exchange.set_fault("gemini", status=503)
    done = run_cli("--config", str(cfg), "fetch")
    assert max(len(line) for line in done.stdout.splitlines()) <= width, done.stdout
    assert "HTTP 503" in done.stdout


def test_the_registry_refuses_an_unknown_format() -> None:
    with pytest.raises(ValueError, match="no 'yaml' renderer for int"):
        render(3, "yaml")


@pytest.mark.parametrize("width", [60, 80])
def test_status_fits_the_terminal(
    run_cli: Run, tmp_path: Path, fake_exchange: FakeExchange, monkeypatch: pytest.MonkeyPatch,
    width: int,
) -> None:  # fmt: skip
    monkeypatch.setenv("COLUMNS", str(width))
    cfg = tmp_path / "fx.toml"
    cfg.write_text(fake_exchange.config_toml(timeout_s=1))
    assert run_cli("--config", str(cfg), "fetch").exit_code == 0
    done = run_cli("--config", str(cfg), "status")
    assert done.exit_code == 0, done.stderr
    for line in done.stdout.splitlines():  # only an unbreakable word (the URL) may be longer
        assert len(line) <= width or " " not in line.strip(), done.stdout
    assert "from bitfinex, bitstamp, coinbase, gemini, kraken" in " ".join(done.stdout.split())
