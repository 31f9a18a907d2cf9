"""Settings: precedence, the shipped file, validation."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import Result

from tracker.config import (
    DEFAULT_BASE_URLS,
    Settings,
    check_base_url,
    database_url,
    find_config,
    load_settings,
    packaged_config_path,
)
from tracker.errors import ConfigError

Run = Callable[..., Result]

ROOT = Path(__file__).resolve().parents[1]


def test_the_root_config_is_the_packaged_default() -> None:
    assert (ROOT / "config.toml").resolve() == packaged_config_path().resolve()


def test_the_shipped_config_lists_every_source_and_no_seeds() -> None:
    text = packaged_config_path().read_text()
    for name, url in DEFAULT_BASE_URLS.items():
        assert f"[sources.{name}]" in text and f'base_url = "{url}"' in text
    settings = load_settings(packaged_config_path())
    # the ledger ships in the package (tracker/data/ledger); the config keeps a user's own
    assert settings.holders == () and settings.holdings == () and settings.ledger.shipped
    assert "[[holdings]]" in text  # shown, commented out, as an example
    assert settings.consensus.max_deviation_pct == Decimal("1.0")
    # its values are the built-in defaults, so a missing key changes nothing
    defaults = Settings()
    for section in ("schedule", "consensus", "fetch", "report", "sources"):
        assert getattr(settings, section) == getattr(defaults, section)


def test_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert find_config(None) == (packaged_config_path(), "the packaged default")
    user = tmp_path / "xdg-config" / "tracker" / "config.toml"
    user.parent.mkdir(parents=True)
    user.write_text("")
    assert find_config(None) == (user, "the user config file")
    (tmp_path / "config.toml").write_text("[report]\nmax_price_age_s = 60\n")
    assert find_config(None) == (Path("config.toml"), "found in the current folder")
    monkeypatch.setenv("TRACKER_CONFIG", str(tmp_path / "env.toml"))
    assert find_config(None) == (tmp_path / "env.toml", "from $TRACKER_CONFIG")
    assert find_config(tmp_path / "flag.toml") == (tmp_path / "flag.toml", "from --config")


@pytest.mark.parametrize(
    "text",
    [
        'baseURL = "https://example.org/"\ntitle = "My Hugo site"\n',  # a Hugo site
        "[params]\nauthor = 'me'\n",
        "not toml at all = = =\n",
    ],
)
def test_an_unrelated_config_toml_in_the_folder_is_not_loaded(
    tmp_path: Path, text: str, run_cli: Run
) -> None:
    (tmp_path / "config.toml").write_text(text)
    assert find_config(None) == (packaged_config_path(), "the packaged default")
    done = run_cli("report", "--offline", "--at", "2025-04-14", "-f", "json")
    assert done.exit_code == 0, done.stderr


def test_a_config_error_names_the_file_why_it_was_chosen_and_a_way_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_cli: Run
) -> None:
    (tmp_path / "config.toml").write_text("[consensus]\nmin_sourcez = 3\n")
    done = run_cli("report", "--offline")
    assert done.exit_code == 1
    line = done.stderr.strip()
    assert "\n" not in line
    assert "config.toml (found in the current folder): consensus.min_sourcez: unknown key" in line
    assert "--config PATH" in line and "TRACKER_CONFIG=" in line
    monkeypatch.setenv("TRACKER_CONFIG", str(tmp_path / "config.toml"))
    assert "(from $TRACKER_CONFIG)" in run_cli("report", "--offline").stderr


def test_a_config_nested_500_levels_deep_is_one_line(tmp_path: Path, run_cli: Run) -> None:
    cfg = tmp_path / "deep.toml"
    cfg.write_text("x = " + "[" * 500 + "]" * 500 + "\n")
    done = run_cli("--config", str(cfg), "report", "--offline")
    assert done.exit_code == 1
    assert "nested too deeply" in done.stderr and "Traceback" not in done.stderr


def test_config_show_names_each_settings_origin(tmp_path: Path, run_cli: Run) -> None:
    cfg = tmp_path / "mine.toml"
    cfg.write_text("[report]\nmax_price_age_s = 60\n")
    done = run_cli("--config", str(cfg), "config", "show", "-f", "json")
    assert done.exit_code == 0, done.stderr
    facts = json.loads(done.stdout)
    assert facts["file"] == str(cfg) and facts["why"] == "from --config"
    shown = facts["settings"]
    assert shown["report.max_price_age_s"] == {"value": 60, "origin": "set in the file"}
    assert shown["report.fetch_timeout_s"] == {"value": 8, "origin": "default"}
    assert shown["history.coinbase.timeout_s"] == {"value": 30, "origin": "default"}
    assert shown["consensus.max_deviation_pct"]["value"] == 1
    assert shown["database.url"]["origin"] == "from $TRACKER_DATABASE_URL"
    text = run_cli("--config", str(cfg), "config", "show").stdout
    assert "report.max_price_age_s = 60  # set in the file" in text
    assert 'sources.kraken.base_url = "https://api.kraken.com"  # default' in text


def test_database_url_precedence(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings.model_validate({"database": {"url": "sqlite:////cfg.db"}})
    monkeypatch.delenv("TRACKER_DATABASE_URL")
    assert database_url(settings, None) == "sqlite:////cfg.db"
    monkeypatch.setenv("TRACKER_DATABASE_URL", "sqlite:////env.db")
    assert database_url(settings, None) == "sqlite:////env.db"
    assert database_url(settings, "sqlite:////flag.db") == "sqlite:////flag.db"
    monkeypatch.delenv("TRACKER_DATABASE_URL")
    assert database_url(Settings(), None).endswith("tracker/tracker.db")


def test_a_partial_source_table_keeps_the_default_url(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[sources.kraken]\nenabled = false\n")
    s = load_settings(cfg)
    assert s.sources["kraken"].enabled is False
    assert s.sources["kraken"].base_url == DEFAULT_BASE_URLS["kraken"]


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080",
        "http://localhost/prefix",
        "http://[::1]:9",
        "https://mirror.example/x",
    ],
)
def test_accepted_base_urls(url: str) -> None:
    assert check_base_url(url + "/") == url


@pytest.mark.parametrize(
    "url",
    ["http://api.kraken.com", "http://10.0.0.1", "ftp://x", "https://h/p?q=1", "api.kraken.com"],
)
def test_refused_base_urls(url: str) -> None:
    with pytest.raises(ValueError):
        check_base_url(url)


def test_errors_name_file_and_key(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[report]\nmax_price_age_s = -1\n")
    with pytest.raises(
        ConfigError, match=r"c\.toml \(from --config\): report\.max_price_age_s: .*greater than 0"
    ):
        load_settings(cfg)


def test_a_config_holds_only_the_users_own_holdings(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[report]\nmax_price_age_s = 60\n")
    s = load_settings(cfg)
    assert s.holdings == () and s.ledger.shipped and s.report.max_price_age_s == 60
    own = (
        "[[holdings]]\nholder = 'el-salvador'\nbtc = '7500'\nbound = 'at_least'\n"
        "as_of = 2026-01-15\nbasis = 'reported'\nscope = 'government'\nsource = 'a paper'\n"
        "url = 'https://example.com/a'\npublished = 2026-01-16\n"
    )
    cfg.write_text(own)  # a shipped holder needs no [[holders]] entry
    (h,) = load_settings(cfg).holdings
    assert (h.holder, h.scope, h.published) == ("el-salvador", "government", dt.date(2026, 1, 16))
    cfg.write_text("[ledger]\nshipped = false\n" + own)  # ... unless the ledger is not shipped
    with pytest.raises(ConfigError, match="holder 'el-salvador' is neither listed"):
        load_settings(cfg)
    cfg.write_text(own.replace("'government'", "'treasury'"))
    with pytest.raises(ConfigError, match=r"holdings\.0\.scope"):
        load_settings(cfg)


def test_history_endpoints(tmp_path: Path) -> None:
    from tracker.daily.backfill import endpoint

    cfg = tmp_path / "c.toml"
    cfg.write_text('[history.coinbase]\nbase_url = "https://mirror.example/cb"\ntimeout_s = 9\n')
    s = load_settings(cfg)
    assert endpoint(s, "coinbase").base_url == "https://mirror.example/cb"
    assert endpoint(s, "coinbase").timeout_s == 9
    assert endpoint(s, "bitstamp").base_url == DEFAULT_BASE_URLS["bitstamp"]  # the spot host
    cfg.write_text('[history.binance]\nbase_url = "https://x"\n')
    with pytest.raises(ConfigError, match="unknown history source 'binance'"):
        load_settings(cfg)
    cfg.write_text('[history.kraken]\nbase_url = "http://api.kraken.com"\n')
    with pytest.raises(ConfigError, match="loopback"):
        load_settings(cfg)


def test_an_interval_the_service_cannot_keep_is_refused(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[schedule]\ninterval_s = 1e-9\n")
    with pytest.raises(ConfigError, match=r"schedule\.interval_s: .*greater than or equal to 1"):
        load_settings(cfg)
    cfg.write_text("[schedule]\ninterval_s = 1\n")
    assert load_settings(cfg).schedule.interval_s == 1
