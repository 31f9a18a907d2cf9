"""The on-chain tables (DESIGN.md, "On-chain verification"): each holder's address book, every
check of a holder's claim against the chain with every explorer's per-address answer (stored
like a price round), and the on-chain history rebuilt from the addresses' transactions.

Amounts are integer satoshis; instants are UTC-aware; block heights are integers.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from tracker.clock import utc_now
from tracker.columns import UTCDateTime


class AddressKind(StrEnum):
    OFFICIAL = "official"  # published by the holder
    ATTRIBUTED = "attributed"  # a named third party says so


class CheckStatus(StrEnum):
    VERIFIED = "verified"  # at least verify.min_explorers agree on every address at one height
    DISAGREE = "disagree"  # enough answered, and they differ
    UNVERIFIED = "unverified"  # too few explorers answered


class Verdict(StrEnum):
    MATCHES = "matches"  # within verify.tolerance_btc of the headline claim
    DIFFERS = "differs"  # the chain shows more than claimed, or a full list shows less
    # the known addresses hold less than claimed, and the list may be incomplete: the missing
    # addresses may hold the rest, so this contradicts nothing
    INCONCLUSIVE = "inconclusive"


class Address(SQLModel, table=True):
    """One address of a holder's book; removal keeps the row (as observations do)."""

    __tablename__ = "addresses"
    __table_args__ = (sa.UniqueConstraint("holder_id", "address", name="uq_address_holder"),)

    id: int | None = Field(default=None, primary_key=True)
    holder_id: int = Field(
        sa_column=sa.Column(sa.ForeignKey("holders.id", ondelete="RESTRICT"), nullable=False)
    )
    address: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    kind: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))  # AddressKind
    label: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    attributor: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    source: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    url: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    as_of: dt.date | None = Field(default=None, sa_column=sa.Column(sa.Date))
    note: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    origin: str = Field(
        default="user", sa_column=sa.Column(sa.String(16), nullable=False, server_default="user")
    )
    recorded_at: dt.datetime = Field(
        default_factory=utc_now, sa_column=sa.Column(UTCDateTime, nullable=False)
    )
    removed_at: dt.datetime | None = Field(default=None, sa_column=sa.Column(UTCDateTime))
    # on-chain history: the height up to which this address's transactions are stored
    synced_height: int | None = Field(default=None, sa_column=sa.Column(sa.Integer))


class VerifyCheck(SQLModel, table=True):
    """One check of one holder: the chain's total, how sure, and the claim beside it."""

    __tablename__ = "verify_checks"
    __table_args__ = (sa.Index("ix_verify_checks_holder_started", "holder_id", "started_at"),)

    id: int | None = Field(default=None, primary_key=True)
    holder_id: int = Field(
        sa_column=sa.Column(sa.ForeignKey("holders.id", ondelete="RESTRICT"), nullable=False)
    )
    started_at: dt.datetime = Field(sa_column=sa.Column(UTCDateTime, nullable=False))
    finished_at: dt.datetime = Field(sa_column=sa.Column(UTCDateTime, nullable=False))
    status: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))  # CheckStatus
    height: int | None = Field(default=None, sa_column=sa.Column(sa.Integer))
    chain_sats: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger))
    chain_bound: str | None = Field(default=None, sa_column=sa.Column(sa.String(16)))
    addresses: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    explorers: str = Field(sa_column=sa.Column(sa.Text, nullable=False))  # agreeing, comma-sep.
    claim_observation_id: int | None = Field(default=None, sa_column=sa.Column(sa.Integer))
    claim_sats: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger))
    claim_bound: str | None = Field(default=None, sa_column=sa.Column(sa.String(16)))
    verdict: str | None = Field(default=None, sa_column=sa.Column(sa.String(16)))  # Verdict
    difference_sats: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger))
    reason: str | None = Field(default=None, sa_column=sa.Column(sa.Text))


class VerifyAnswer(SQLModel, table=True):
    """One explorer's answer for one address (or for the tip: ``address`` empty) in a check."""

    __tablename__ = "verify_answers"

    id: int | None = Field(default=None, primary_key=True)
    check_id: int = Field(
        sa_column=sa.Column(
            sa.ForeignKey("verify_checks.id", ondelete="CASCADE"), nullable=False, index=True
        )
    )
    explorer: str = Field(sa_column=sa.Column(sa.String(32), nullable=False))
    address: str = Field(sa_column=sa.Column(sa.String(100), nullable=False))
    sats: int | None = Field(default=None, sa_column=sa.Column(sa.BigInteger))
    height: int | None = Field(default=None, sa_column=sa.Column(sa.Integer))
    outcome: str = Field(sa_column=sa.Column(sa.String(16), nullable=False))
    reason: str | None = Field(default=None, sa_column=sa.Column(sa.Text))
    latency_ms: int | None = Field(default=None, sa_column=sa.Column(sa.Integer))
    attempts: int = Field(default=1, sa_column=sa.Column(sa.Integer, nullable=False))


class AddressTx(SQLModel, table=True):
    """A confirmed transaction's net effect on one address (mempool's txs/summary shape)."""

    __tablename__ = "address_txs"

    address_id: int = Field(
        sa_column=sa.Column(sa.ForeignKey("addresses.id", ondelete="CASCADE"), primary_key=True)
    )
    txid: str = Field(sa_column=sa.Column(sa.String(64), primary_key=True))
    height: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
    time: dt.datetime = Field(sa_column=sa.Column(UTCDateTime, nullable=False))
    value_sats: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))  # net, signed


class OnchainDaily(SQLModel, table=True):
    """A holder's on-chain balance at the end of each UTC day (its live addresses summed)."""

    __tablename__ = "onchain_daily"

    holder_id: int = Field(
        sa_column=sa.Column(sa.ForeignKey("holders.id", ondelete="RESTRICT"), primary_key=True)
    )
    date: dt.date = Field(sa_column=sa.Column(sa.Date, primary_key=True))
    sats: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    addresses: int = Field(sa_column=sa.Column(sa.Integer, nullable=False))
