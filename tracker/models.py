"""Database tables (SQLModel) and the plain value types passed between layers.

Money is exact: BTC amounts are integer satoshis in the store and ``Decimal`` in code; prices
are ``Decimal`` stored as integers scaled by 10^8, so SQL can compare and aggregate them exactly.
Every instant is timezone-aware UTC.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from tracker.clock import utc_now
from tracker.columns import DecimalString, ScaledPrice, UTCDateTime
from tracker.money import sats_to_btc


class Bound(StrEnum):
    EXACT = "exact"
    AT_LEAST = "at_least"
    AT_MOST = "at_most"  # only ever derived (a ratio over an at-least figure): see bounds.py
    APPROXIMATE = "approximate"


class Basis(StrEnum):
    OFFICIAL = "official"
    REPORTED = "reported"
    ESTIMATE = "estimate"
    UNDISCLOSED = "undisclosed"


class Scope(StrEnum):
    """Which coins an observation counts (DESIGN.md, "Holdings")."""

    GOVERNMENT = "government"  # all BTC the state controls, seized coins included
    RESERVE = "reserve"  # coins formally in a declared reserve
    SUBSET = "subset"  # one agency's custody or one case's coins
    NOT_SOVEREIGN = "not_sovereign"  # listed by trackers as the state's, not state property


class HolderKind(StrEnum):
    STATE = "state"
    STATE_LINKED = "state_linked"  # tied to a state, not its treasury: never counted


class Origin(StrEnum):
    """Where an observation came from: the ledger shipped in the package, the config's
    ``[[holdings]]``, or the user (``holdings add`` / ``import``); ``seed`` marks the config
    seeds of schema 0002, which the shipped ledger supersedes."""

    LEDGER = "ledger"
    CONFIG = "config"
    USER = "user"
    SEED = "seed"


class Outcome(StrEnum):
    ACCEPTED = "accepted"
    DEVIATION = "deviation"
    STALE = "stale"
    INVALID = "invalid"
    HTTP_ERROR = "http_error"
    TIMEOUT = "timeout"
    RATE_LIMITED = "rate_limited"


class RoundStatus(StrEnum):
    OK = "ok"
    DEGRADED = "degraded"
    FAILED = "failed"
    SUSPECT = "suspect"  # a quorum, but too far from the last consensus: held, not stored


class PriceKind(StrEnum):
    CONSENSUS = "consensus"
    DAILY_CLOSE = "daily_close"
    WHAT_IF = "what_if"


# --- tables -------------------------------------------------------------------------------


class Holder(SQLModel, table=True):
    __tablename__ = "holders"

    id: int | None = Field(default=None, primary_key=True)
    slug: str = Field(sa_column=sa.Column(sa.String(64), nullable=False, unique=True))
    name: str = Field(sa_column=sa.Column(sa.String(200), nullable=False))
    country_code: str | None = Field(default=None, sa_column=sa.Column(sa.String(2)))
    population: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger))
    population_source: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    kind: str = Field(
        default="state", sa_column=sa.Column(sa.String(16), nullable=False, server_default="state")
    )
    population_year: int | None = Field(default=None, sa_column=sa.Column(sa.Integer))
    note: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    origin: str = Field(
        default="user", sa_column=sa.Column(sa.String(16), nullable=False, server_default="user")
    )
    removed_at: dt.datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime))
    # the holder publishes its full address list: an on-chain total is then exact, not at least
    addresses_complete: bool = Field(
        default=False,
        sa_column=sa.Column(sa.Boolean, nullable=False, server_default=sa.false()),
    )


class Observation(SQLModel, table=True):
    """One sourced claim about a holding; never overwritten. A correction is a new row that
    ``supersedes`` the old; a removal sets ``removed_at`` (the row stays, so ids are never
    reused and `holdings sync` does not bring back what a user removed)."""

    __tablename__ = "holding_observations"
    __table_args__ = (
        sa.UniqueConstraint("holder_id", "as_of", "source", name="uq_observation_claim"),
        sa.Index("ix_observation_holder_as_of", "holder_id", "as_of"),
    )

    id: int | None = Field(default=None, primary_key=True)
    holder_id: int = Field(
        sa_column=sa.Column(sa.ForeignKey("holders.id", ondelete="RESTRICT"), nullable=False)
    )
    sats: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger))
    bound: str | None = Field(default=None, sa_column=sa.Column(sa.String(16)))
    as_of: dt.date = Field(sa_column=sa.Column(sa.Date, nullable=False))
    basis: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    source: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    note: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    cost_basis_usd: Decimal | None = Field(default=None, sa_column=sa.Column(DecimalString))
    recorded_at: dt.datetime = Field(
        default_factory=utc_now, sa_column=sa.Column(UTCDateTime, nullable=False)
    )
    scope: str = Field(
        default="government",
        sa_column=sa.Column(sa.String(16), nullable=False, server_default="government"),
    )
    url: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    published: dt.date | None = Field(default=None, sa_column=sa.Column(sa.Date))
    supersedes: int | None = Field(
        default=None,
        sa_column=sa.Column(sa.ForeignKey("holding_observations.id", ondelete="RESTRICT")),
    )
    origin: str = Field(
        default="user", sa_column=sa.Column(sa.String(16), nullable=False, server_default="user")
    )
    removed_at: dt.datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime))


class DailyPrice(SQLModel, table=True):
    """One day's OHLC from one source; the close describes the end of that UTC day."""

    __tablename__ = "daily_prices"

    currency: str = Field(sa_column=sa.Column(sa.String(8), primary_key=True))
    date: dt.date = Field(sa_column=sa.Column(sa.Date, primary_key=True))
    source: str = Field(sa_column=sa.Column(sa.String(32), primary_key=True))
    open: Decimal | None = Field(default=None, sa_column=sa.Column(ScaledPrice))
    high: Decimal | None = Field(default=None, sa_column=sa.Column(ScaledPrice))
    low: Decimal | None = Field(default=None, sa_column=sa.Column(ScaledPrice))
    close: Decimal = Field(sa_column=sa.Column(ScaledPrice, nullable=False))


class FetchRound(SQLModel, table=True):
    __tablename__ = "fetch_rounds"

    id: int | None = Field(default=None, primary_key=True)
    started_at: dt.datetime = Field(sa_column=sa.Column(UTCDateTime, nullable=False, index=True))
    finished_at: dt.datetime = Field(sa_column=sa.Column(UTCDateTime, nullable=False))
    status: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    currency: str = Field(default="USD", sa_column=sa.Column(sa.String(8), nullable=False))


class SourceQuote(SQLModel, table=True):
    """What one source answered in one round, accepted or not, and why."""

    __tablename__ = "source_quotes"
    __table_args__ = (
        sa.Index("ix_source_quotes_source_round", "source", "round_id"),
        sa.Index("ix_source_quotes_source_outcome_round", "source", "outcome", "round_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(
        sa_column=sa.Column(
            sa.ForeignKey("fetch_rounds.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    source: str = Field(sa_column=sa.Column(sa.String(32), nullable=False))
    price: Decimal | None = Field(default=None, sa_column=sa.Column(ScaledPrice))
    quoted_at: dt.datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime))
    latency_ms: int | None = Field(default=None, sa_column=sa.Column(sa.Integer))
    attempts: int = Field(default=1, sa_column=sa.Column(sa.Integer, nullable=False))
    outcome: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    reason: str | None = Field(default=None, sa_column=sa.Column(sa.Text))


class ConsensusPrice(SQLModel, table=True):
    __tablename__ = "consensus_prices"
    __table_args__ = (sa.Index("ix_consensus_currency_at", "currency", "at"),)

    id: int | None = Field(default=None, primary_key=True)
    round_id: int = Field(
        sa_column=sa.Column(
            sa.ForeignKey("fetch_rounds.id", ondelete="CASCADE"), nullable=False, unique=True
        )
    )
    at: dt.datetime = Field(sa_column=sa.Column(UTCDateTime, nullable=False))
    currency: str = Field(default="USD", sa_column=sa.Column(sa.String(8), nullable=False))
    price: Decimal = Field(sa_column=sa.Column(ScaledPrice, nullable=False))
    sources: str = Field(sa_column=sa.Column(sa.Text, nullable=False))  # comma-separated names


# --- value types --------------------------------------------------------------------------


@dataclass(frozen=True)
class Gap:
    """A run of consecutive days without a daily close."""

    first: dt.date
    last: dt.date

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def __str__(self) -> str:
        if self.first == self.last:
            return f"{self.first} (1 day)"
        return f"{self.first} to {self.last} ({self.days:,} days)"


@dataclass(frozen=True)
class Quote:
    """A price one source gave. ``quoted_at`` is the exchange's own timestamp when it sends one."""

    source: str
    price: Decimal
    fetched_at: dt.datetime
    quoted_at: dt.datetime | None = None
    currency: str = "USD"

    @property
    def observed_at(self) -> dt.datetime:
        return self.quoted_at or self.fetched_at


@dataclass(frozen=True)
class SourceResult:
    """The outcome of asking one source in one round: a quote, or the reason there is none."""

    source: str
    quote: Quote | None
    outcome: Outcome
    reason: str | None = None
    latency_ms: int | None = None
    attempts: int = 1


@dataclass(frozen=True)
class Verdict:
    """Consensus's judgement of one source's answer."""

    source: str
    price: Decimal | None
    outcome: Outcome
    reason: str | None = None


@dataclass(frozen=True)
class Held:
    """A round's consensus held as suspect: not stored unless the next round confirms it."""

    price: Decimal
    sources: tuple[str, ...]
    reason: str  # how far it moved from the last consensus, and the limit


@dataclass(frozen=True)
class Consensus:
    """The result of judging one round's quotes. ``price`` is None when the round is degraded
    or suspect (then ``held`` says what was held and why). ``confirmed``: this round's price
    confirms the price held by the round before."""

    price: Decimal | None
    sources: tuple[str, ...]
    verdicts: tuple[Verdict, ...]
    status: RoundStatus
    at: dt.datetime
    held: Held | None = None
    confirmed: bool = False


@dataclass(frozen=True)
class PricePoint:
    """The price a valuation used, and where it came from."""

    value: Decimal
    as_of: dt.datetime
    kind: PriceKind
    sources: tuple[str, ...]
    currency: str = "USD"


@dataclass(frozen=True)
class HolderInfo:
    slug: str
    name: str
    country_code: str | None = None
    population: int | None = None
    population_source: str | None = None
    kind: HolderKind = HolderKind.STATE
    population_year: int | None = None
    note: str | None = None
    id: int | None = None

    @classmethod
    def of(cls, row: Any) -> HolderInfo:
        """From anything with these attributes: a ``Holder`` row or a Core result row."""
        return cls(
            slug=row.slug,
            name=row.name,
            country_code=row.country_code,
            population=row.population,
            population_source=row.population_source,
            kind=HolderKind(row.kind),
            population_year=row.population_year,
            note=row.note,
            id=row.id,
        )


@dataclass(frozen=True)
class Claim:
    """An observation as the pure layers see it (no session attached)."""

    holder: str
    sats: int | None
    bound: Bound | None
    as_of: dt.date
    basis: Basis
    source: str
    note: str | None = None
    cost_basis_usd: Decimal | None = None
    id: int | None = None
    scope: Scope = Scope.GOVERNMENT
    url: str | None = None
    published: dt.date | None = None  # when the source appeared
    supersedes: int | None = None  # the id of the observation this one corrects
    origin: Origin = Origin.USER
    recorded_on: dt.date | None = None  # the day this store learned it

    @classmethod
    def of(cls, row: Any, holder: str) -> Claim:
        """From an ``Observation`` row (or anything with its attributes) of ``holder``."""
        return cls(
            holder=holder,
            sats=row.sats,
            bound=None if row.bound is None else Bound(row.bound),
            as_of=row.as_of,
            basis=Basis(row.basis),
            source=row.source,
            note=row.note,
            cost_basis_usd=row.cost_basis_usd,
            id=row.id,
            scope=Scope(row.scope),
            url=row.url,
            published=row.published,
            supersedes=row.supersedes,
            origin=Origin(row.origin),
            recorded_on=row.recorded_at.date(),
        )

    @property
    def known_from(self) -> dt.date | None:
        """The first day a reader could have known this claim (``--as-known-at``): the source's
        publication for the shipped ledger; for a user's own claims, the day they were
        recorded here (DESIGN.md, "What was known when")."""
        if self.origin is Origin.LEDGER and self.published is not None:
            return self.published
        return self.recorded_on

    @property
    def btc(self) -> Decimal | None:
        return None if self.sats is None else sats_to_btc(self.sats)


@dataclass(frozen=True)
class HolderLedger:
    holder: HolderInfo
    claims: tuple[Claim, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Ledger:
    """Holders with their claims, as `tracker holdings list` shows them."""

    holders: tuple[HolderLedger, ...]


@dataclass(frozen=True)
class SourceLine:
    """One source's part in a round, as stored and shown."""

    source: str
    role: str
    price: Decimal | None
    quoted_at: dt.datetime | None
    outcome: Outcome
    reason: str | None
    latency_ms: int | None
    attempts: int


@dataclass(frozen=True)
class RoundReport:
    round_id: int | None
    status: RoundStatus
    price: Decimal | None
    sources_used: tuple[str, ...]
    started_at: dt.datetime
    finished_at: dt.datetime
    lines: tuple[SourceLine, ...]
    skipped: tuple[str, ...]  # fallbacks not asked because the core made the quorum
    held: Held | None = None  # a suspect round: the price held and why
    confirmed_round: int | None = None  # the suspect round whose price this one confirmed

    @property
    def duration_s(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()
