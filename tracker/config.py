"""Settings: ``load_settings(path)`` reads config.toml into a frozen, validated ``Settings``;
``describe`` says where each value in force came from.

Precedence for the file: --config > $TRACKER_CONFIG > ./config.toml (only when it is
recognisably tracker's: a Hugo site's config.toml is not) > the user config dir > the
commented default shipped in the package (the repository's config.toml is that file).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from tracker.errors import ConfigError

APP_NAME = "tracker"

# Where each built-in source lives; see SOURCES.md. base_url is scheme://host[:port][/prefix].
DEFAULT_BASE_URLS: dict[str, str] = {
    "coinbase": "https://api.coinbase.com",
    "kraken": "https://api.kraken.com",
    "bitstamp": "https://www.bitstamp.net",
    "gemini": "https://api.gemini.com",
    "bitfinex": "https://api-pub.bitfinex.com",
    "mempool": "https://mempool.space",
    "coingecko": "https://api.coingecko.com",
}


class _Strict(BaseModel):
    # inf and nan pass `gt=0` checks and only fail later (in a timedelta, in APScheduler)
    model_config = ConfigDict(extra="forbid", frozen=True, strict=False, allow_inf_nan=False)


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_base_url(url: str) -> str:
    """Accept ``https://host[:port][/prefix]``, or ``http://`` for loopback hosts only."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{url!r} is not scheme://host[:port][/prefix]")
    if parts.query or parts.fragment:
        raise ValueError(f"{url!r} must not carry a query or fragment")
    if parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise ValueError(
            f"plain http:// is allowed only for loopback hosts, not {parts.hostname!r}"
        )
    return url.rstrip("/")


class DatabaseSettings(_Strict):
    url: str | None = None


class ScheduleSettings(_Strict):
    interval_s: float = Field(300, ge=1, le=86_400)  # at most a round a second
    daily_close_at: str = "00:05"  # UTC time of day the daily close job runs
    max_db_failures: int = Field(
        5, ge=1, le=10_000
    )  # consecutive rounds without a database -> exit

    @field_validator("daily_close_at")
    @classmethod
    def _hhmm(cls, v: str) -> str:
        try:
            dt.time.fromisoformat(v)
        except ValueError:
            raise ValueError("must be HH:MM (UTC)") from None
        return v


class ConsensusSettings(_Strict):
    min_sources: int = Field(3, ge=1, le=20)
    max_deviation_pct: Decimal = Field(Decimal("1.0"), gt=0, le=100)
    max_quote_age_s: float = Field(120, gt=0, le=86_400)
    max_future_s: float = Field(30, ge=0, le=3_600)
    min_price: Decimal = Field(Decimal("100"), gt=0)
    max_price: Decimal = Field(Decimal("10000000"), gt=0, le=Decimal(10) ** 10)
    # Continuity: a consensus more than max_jump_pct from the previous one within jump_window_s
    # is held as suspect until the next round confirms it.
    max_jump_pct: Decimal = Field(Decimal("20"), gt=0, le=1000)
    jump_window_s: float = Field(3600, ge=0, le=30 * 86_400)

    @model_validator(mode="after")
    def _bounds(self) -> ConsensusSettings:
        if self.min_price >= self.max_price:
            raise ValueError("min_price must be below max_price")
        return self


class FetchSettings(_Strict):
    retries: int = Field(2, ge=0, le=10)  # extra attempts after the first, per source
    backoff_s: float = Field(0.25, ge=0, le=60)  # base of the jittered exponential backoff
    round_timeout_s: float = Field(15, gt=0, le=600)  # hard cap on one round's wall time


class ReportSettings(_Strict):
    max_price_age_s: float = Field(600, gt=0, le=10 * 365 * 86_400)
    fetch_timeout_s: float = Field(8, gt=0, le=600)  # how long `report` waits for a fresh round
    max_holding_age_days: int = Field(180, gt=0, le=36_500)  # older holdings are flagged


class SourceSettings(_Strict):
    enabled: bool = True
    base_url: str
    timeout_s: float = Field(5, gt=0, le=120)

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        return check_base_url(v)


HISTORY_SOURCES = ("bitstamp", "bitfinex", "coinbase", "kraken")


class HistorySourceSettings(_Strict):
    """Where an exchange's daily candles live (`tracker backfill`, the daily close job)."""

    base_url: str | None = None  # None: the spot source's host (coinbase: its exchange API)
    timeout_s: float = Field(30, gt=0, le=300)

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        return None if v is None else check_base_url(v)


# The built-in block explorers (Esplora-compatible; DESIGN.md "On-chain verification").
DEFAULT_EXPLORERS = {"mempool": "https://mempool.space", "blockstream": "https://blockstream.info"}


class ExplorerSettings(_Strict):
    """An Esplora API: base_url + ``/api/address/:a``, ``/api/blocks/tip/height``."""

    enabled: bool = True
    base_url: str
    timeout_s: float = Field(10, gt=0, le=120)  # each request's; a hung explorer is cut here
    # polite: neither public explorer publishes a limit; about 1/s is what both tolerate
    rate_per_s: float = Field(1.0, gt=0, le=1000)

    @field_validator("base_url")
    @classmethod
    def _url(cls, v: str) -> str:
        return check_base_url(v)


def _default_explorers() -> dict[str, ExplorerSettings]:
    return {name: ExplorerSettings(base_url=url) for name, url in DEFAULT_EXPLORERS.items()}


class VerifySettings(_Strict):
    interval_s: float = Field(21_600, ge=60, le=30 * 86_400)
    min_explorers: int = Field(2, ge=1, le=20)  # agreeing on every address at one height
    tolerance_btc: Decimal = Field(Decimal("1"), ge=0, le=Decimal(21_000_000))


def _default_sources() -> dict[str, SourceSettings]:
    return {name: SourceSettings(base_url=url) for name, url in DEFAULT_BASE_URLS.items()}


class LedgerSettings(_Strict):
    shipped: bool = True  # apply the sovereign ledger shipped in the package (false: yours only)


class HolderSettings(_Strict):
    slug: Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")]
    name: str = Field(min_length=1)
    country_code: Annotated[str, Field(pattern=r"^[A-Z]{2}$")] | None = None
    population: int | None = Field(None, gt=0)
    population_source: str | None = None
    kind: Literal["state", "state_linked"] = "state"
    population_year: int | None = Field(None, ge=1900, le=2200)
    note: str | None = None


class HoldingSettings(_Strict):
    """One of the user's own observations; validated again, with the ledger's rules, when it
    is applied."""

    holder: str
    btc: str | None = None
    bound: Literal["exact", "at_least", "approximate"] | None = None
    as_of: dt.date
    basis: Literal["official", "reported", "estimate", "undisclosed"]
    source: str = Field(min_length=1)
    note: str | None = None
    cost_basis_usd: str | None = None
    scope: Literal["government", "reserve", "subset", "not_sovereign"] = "government"
    url: str | None = None
    published: dt.date | None = None


class Settings(_Strict):
    database: DatabaseSettings = DatabaseSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    consensus: ConsensusSettings = ConsensusSettings()
    fetch: FetchSettings = FetchSettings()
    report: ReportSettings = ReportSettings()
    sources: dict[str, SourceSettings] = Field(default_factory=_default_sources)
    history: dict[str, HistorySourceSettings] = Field(default_factory=dict)
    ledger: LedgerSettings = LedgerSettings()
    explorers: dict[str, ExplorerSettings] = Field(default_factory=_default_explorers)
    verify: VerifySettings = VerifySettings()
    holders: tuple[HolderSettings, ...] = ()
    holdings: tuple[HoldingSettings, ...] = ()
    path: Path | None = None  # the file these came from, if any
    chosen_because: str = "given"  # why that file: --config, $TRACKER_CONFIG, ./config.toml, …

    @field_validator("sources", mode="before")
    @classmethod
    def _merge_sources(cls, v: Any) -> Any:
        if not isinstance(v, dict):
            return v
        unknown = sorted(set(v) - set(DEFAULT_BASE_URLS))
        if unknown:
            raise ValueError(
                f"unknown source {unknown[0]!r} (known: {', '.join(DEFAULT_BASE_URLS)})"
            )
        merged: dict[str, Any] = {n: {"base_url": u} for n, u in DEFAULT_BASE_URLS.items()}
        for name, table in v.items():
            if isinstance(table, SourceSettings):
                table = table.model_dump()
            if not isinstance(table, dict):
                raise ValueError(f"[sources.{name}] must be a table")
            merged[name] = {**merged[name], **table}
        return merged

    @field_validator("explorers", mode="before")
    @classmethod
    def _merge_explorers(cls, v: Any) -> Any:  # another name than a built-in's needs a base_url
        if not isinstance(v, dict):
            return v
        merged: dict[str, Any] = {n: {"base_url": u} for n, u in DEFAULT_EXPLORERS.items()}
        for name, table in v.items():
            if isinstance(table, ExplorerSettings):
                table = table.model_dump()
            if not isinstance(table, dict):
                raise ValueError(f"[explorers.{name}] must be a table")
            if not re.fullmatch(r"[a-z0-9][a-z0-9_-]{0,31}", str(name)):
                raise ValueError(f"explorer name {name!r}: lowercase letters, digits, - and _")
            merged[name] = {**merged.get(name, {}), **table}
        return merged

    @field_validator("history")
    @classmethod
    def _history_known(
        cls, v: dict[str, HistorySourceSettings]
    ) -> dict[str, HistorySourceSettings]:
        unknown = sorted(set(v) - set(HISTORY_SOURCES))
        if unknown:
            raise ValueError(
                f"unknown history source {unknown[0]!r} (known: {', '.join(HISTORY_SOURCES)})"
            )
        return v

    @model_validator(mode="after")
    def _holders_known(self) -> Settings:
        slugs = [h.slug for h in self.holders]
        if len(slugs) != len(set(slugs)):
            raise ValueError("holders: a slug is listed twice")
        if self.holdings:
            known = set(slugs) | (shipped_slugs() if self.ledger.shipped else set())
            for h in self.holdings:
                if h.holder not in known:
                    where = "shipped nor listed" if self.ledger.shipped else "listed"
                    raise ValueError(
                        f"holdings: holder {h.holder!r} is neither {where} under [[holders]]"
                    )
        return self


def shipped_slugs() -> set[str]:
    """The holders of the ledger shipped in the package (its holders.csv)."""
    import csv

    path = Path(__file__).with_name("data") / "ledger" / "holders.csv"
    with path.open(encoding="utf-8", newline="") as f:
        return {row["slug"] for row in csv.DictReader(f)}


def user_config_path() -> Path:
    from platformdirs import user_config_path as _ucp

    return _ucp(APP_NAME) / "config.toml"


def packaged_config_path() -> Path:
    """The commented default config shipped in the package (the repository's config.toml)."""
    return Path(__file__).with_name("data") / "default_config.toml"


def find_config(explicit: Path | None) -> tuple[Path, str]:
    """The config file to read, by precedence, and why it was chosen."""
    if explicit is not None:
        env = os.environ.get("TRACKER_CONFIG")
        why = "from $TRACKER_CONFIG" if env and Path(env) == explicit else "from --config"
        return explicit, why
    env = os.environ.get("TRACKER_CONFIG")
    if env:
        return Path(env), "from $TRACKER_CONFIG"
    here = Path("config.toml")
    if here.is_file() and _looks_like_ours(here):
        return here, "found in the current folder"
    user = user_config_path()
    if user.is_file():
        return user, "the user config file"
    return packaged_config_path(), "the packaged default"


_SECTIONS = (
    "database", "schedule", "consensus", "fetch", "report", "sources", "history", "ledger",
    "explorers", "verify",
)  # fmt: skip
_LISTS = ("holders", "holdings")


def _looks_like_ours(path: Path) -> bool:
    """A config.toml whose top-level keys are all tracker's (an empty file counts), or one
    that does not parse but names a section of tracker's (so its error is reported)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    try:
        raw = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, RecursionError):
        headers = [f"[{s}]" for s in _SECTIONS] + [f"[{s}." for s in _SECTIONS]
        headers += [f"[[{s}]]" for s in _LISTS]
        return any(h in text for h in headers)
    return set(raw) <= {*_SECTIONS, *_LISTS}


def _read_toml(chosen: Path, why: str) -> dict[str, Any]:
    where = f"{chosen} ({why})"
    try:
        return tomllib.loads(chosen.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{where}: no such config file{_WAY_OUT}") from None
    except (OSError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        raise ConfigError(f"{where}: cannot read: {reason}{_WAY_OUT}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{where}: not valid TOML: {e}{_WAY_OUT}") from None
    except RecursionError:
        raise ConfigError(f"{where}: nested too deeply to be a config file{_WAY_OUT}") from None


_WAY_OUT = "; pass --config PATH or set TRACKER_CONFIG= to use another file"


def load_settings(path: Path | None = None) -> Settings:
    """Read and validate the config file chosen by ``find_config``; errors name the file,
    why it was chosen, the key and the reason."""
    chosen, why = find_config(path)
    raw = _read_toml(chosen, why)
    try:
        return Settings.model_validate({**raw, "path": chosen, "chosen_because": why})
    except ValidationError as e:
        first = e.errors()[0]
        key = ".".join(str(p) for p in first["loc"]) or "(top level)"
        msg = first["msg"].removeprefix("Value error, ")
        if first["type"] == "extra_forbidden":
            msg = "unknown key"
        raise ConfigError(f"{chosen} ({why}): {key}: {msg}{_WAY_OUT}") from None
    except RecursionError:
        raise ConfigError(
            f"{chosen} ({why}): nested too deeply to be a config file{_WAY_OUT}"
        ) from None


def _shown(value: Any) -> Any:
    """A setting as `config show` prints it: whole floats as integers, decimals as numbers."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def describe(settings: Settings, *, db: str | None = None) -> dict[str, Any]:
    """What `tracker config show` prints: the file, why it was chosen, and every setting in
    force with its origin (the file, or the default)."""
    chosen = settings.path
    raw: dict[str, Any] = {}
    if chosen is not None and chosen != packaged_config_path():
        raw = _read_toml(chosen, settings.chosen_because)
    values = settings.model_dump(mode="python", exclude={"path", "chosen_because"})
    values["history"] = {  # every history source, with the defaults it is used with
        name: settings.history.get(name, HistorySourceSettings()).model_dump()
        for name in HISTORY_SOURCES
    }
    shown: dict[str, dict[str, Any]] = {}

    def walk(prefix: str, node: Any, given: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                sub = given.get(key) if isinstance(given, dict) else None
                walk(f"{prefix}.{key}" if prefix else key, value, sub)
            return
        origin = "set in the file" if given is not None else "default"
        shown[prefix] = {"value": _shown(node), "origin": origin}

    for section in ("holders", "holdings"):
        items = values.pop(section)
        origin = "set in the file" if section in raw else "default"
        shown[section] = {"value": f"{len(items)} of your own", "origin": origin}
    walk("", values, raw)
    if db:
        origin = "from --db"
    elif os.environ.get("TRACKER_DATABASE_URL"):
        origin = "from $TRACKER_DATABASE_URL"
    else:
        origin = "set in the file" if settings.database.url else "default"
    from tracker.store.engine import redact_url

    url = redact_url(database_url(settings, db))
    shown["database.url"] = {"value": url, "origin": origin}
    return {"file": str(chosen), "why": settings.chosen_because, "settings": shown}


def database_url(settings: Settings, explicit: str | None) -> str:
    """--db > $TRACKER_DATABASE_URL > config > SQLite in the user data dir."""
    if explicit:
        return explicit
    env = os.environ.get("TRACKER_DATABASE_URL")
    if env:
        return env
    if settings.database.url:
        return settings.database.url
    from platformdirs import user_data_path

    return f"sqlite:///{user_data_path(APP_NAME) / 'tracker.db'}"
