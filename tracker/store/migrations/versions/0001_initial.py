"""Initial schema: holders, the holdings ledger, daily prices and fetch rounds.

Revision ID: 0001_initial
Revises:
Create Date: 2026-11-25

Column types are spelled out as plain SQL types (not the model's TypeDecorators) so this
migration keeps its meaning when the models change: prices are BIGINT counts of 10^-8 USD,
instants are timestamps in UTC, cost basis is an exact decimal string.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_initial"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIMESTAMP = sa.DateTime(timezone=True)
PRICE_E8 = sa.BigInteger()


def upgrade() -> None:
    op.create_table(
        "holders",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("slug", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("country_code", sa.String(2)),
        sa.Column("population", sa.BigInteger()),
        sa.Column("population_source", sa.Text()),
    )
    op.create_table(
        "holding_observations",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "holder_id",
            sa.Integer(),
            sa.ForeignKey("holders.id", ondelete="RESTRICT"),
            nullable=False,
        ),
        sa.Column("sats", sa.BigInteger()),
        sa.Column("bound", sa.String(16)),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("basis", sa.String(16), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("note", sa.Text()),
        sa.Column("cost_basis_usd", sa.String(64)),
        sa.Column("recorded_at", UTC_TIMESTAMP, nullable=False),
        sa.UniqueConstraint("holder_id", "as_of", "source", name="uq_observation_claim"),
    )
    op.create_index("ix_observation_holder_as_of", "holding_observations", ["holder_id", "as_of"])
    op.create_table(
        "daily_prices",
        sa.Column("currency", sa.String(8), primary_key=True),
        sa.Column("date", sa.Date(), primary_key=True),
        sa.Column("source", sa.String(32), primary_key=True),
        sa.Column("open", PRICE_E8),
        sa.Column("high", PRICE_E8),
        sa.Column("low", PRICE_E8),
        sa.Column("close", PRICE_E8, nullable=False),
    )
    op.create_table(
        "fetch_rounds",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("started_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("finished_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("currency", sa.String(8), nullable=False),
    )
    op.create_index("ix_fetch_rounds_started_at", "fetch_rounds", ["started_at"])
    op.create_table(
        "source_quotes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "round_id",
            sa.Integer(),
            sa.ForeignKey("fetch_rounds.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("price", PRICE_E8),
        sa.Column("quoted_at", UTC_TIMESTAMP),
        sa.Column("latency_ms", sa.Integer()),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text()),
    )
    op.create_index("ix_source_quotes_round_id", "source_quotes", ["round_id"])
    op.create_index("ix_source_quotes_source_round", "source_quotes", ["source", "round_id"])
    op.create_table(
        "consensus_prices",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "round_id",
            sa.Integer(),
            sa.ForeignKey("fetch_rounds.id", ondelete="CASCADE"),
            nullable=False,
            unique=True,
        ),
        sa.Column("at", UTC_TIMESTAMP, nullable=False),
        sa.Column("currency", sa.String(8), nullable=False),
        sa.Column("price", PRICE_E8, nullable=False),
        sa.Column("sources", sa.Text(), nullable=False),
    )
    op.create_index("ix_consensus_currency_at", "consensus_prices", ["currency", "at"])


def downgrade() -> None:
    op.drop_table("consensus_prices")
    op.drop_table("source_quotes")
    op.drop_table("fetch_rounds")
    op.drop_table("daily_prices")
    op.drop_table("holding_observations")
    op.drop_table("holders")
