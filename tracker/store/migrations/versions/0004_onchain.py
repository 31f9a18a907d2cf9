"""On-chain verification: address books, checks with every explorer's answers, and the
on-chain history.

Revision ID: 0004_onchain
Revises: 0003_sovereign_ledger
Create Date: 2026-11-26

New tables: addresses (a holder's book; removal keeps the row), verify_checks (one per holder
checked, with the chain's total, the claim beside it and the verdict), verify_answers (every
explorer's answer per address, like a round's quotes), address_txs (each confirmed
transaction's net effect on an address) and onchain_daily (a holder's balance per UTC day).
holders gain addresses_complete (the holder publishes its full list: an on-chain total is then
exact rather than at least).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_onchain"
down_revision: str | None = "0003_sovereign_ledger"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    # a plain ALTER TABLE ADD COLUMN: a batch would copy holders, which its foreign keys forbid
    op.add_column(
        "holders",
        sa.Column("addresses_complete", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "addresses",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "holder_id", sa.Integer(), sa.ForeignKey("holders.id", ondelete="RESTRICT"),
            nullable=False,
        ),
        sa.Column("address", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("label", sa.Text()),
        sa.Column("attributor", sa.Text()),
        sa.Column("source", sa.Text()),
        sa.Column("url", sa.Text()),
        sa.Column("as_of", sa.Date()),
        sa.Column("note", sa.Text()),
        sa.Column("origin", sa.String(16), nullable=False, server_default="user"),
        sa.Column("recorded_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("removed_at", UTC_TIMESTAMP),
        sa.Column("synced_height", sa.Integer()),
        sa.UniqueConstraint("holder_id", "address", name="uq_address_holder"),
    )  # fmt: skip
    op.create_table(
        "verify_checks",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "holder_id", sa.Integer(), sa.ForeignKey("holders.id", ondelete="RESTRICT"),
            nullable=False,
        ),
        sa.Column("started_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("finished_at", UTC_TIMESTAMP, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("height", sa.Integer()),
        sa.Column("chain_sats", sa.BigInteger()),
        sa.Column("chain_bound", sa.String(16)),
        sa.Column("addresses", sa.Integer(), nullable=False),
        sa.Column("explorers", sa.Text(), nullable=False),
        sa.Column("claim_observation_id", sa.Integer()),
        sa.Column("claim_sats", sa.BigInteger()),
        sa.Column("claim_bound", sa.String(16)),
        sa.Column("verdict", sa.String(16)),
        sa.Column("difference_sats", sa.BigInteger()),
        sa.Column("reason", sa.Text()),
    )  # fmt: skip
    op.create_index("ix_verify_checks_holder_started", "verify_checks", ["holder_id", "started_at"])
    op.create_table(
        "verify_answers",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "check_id", sa.Integer(), sa.ForeignKey("verify_checks.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("explorer", sa.String(32), nullable=False),
        sa.Column("address", sa.String(100), nullable=False),
        sa.Column("sats", sa.BigInteger()),
        sa.Column("height", sa.Integer()),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text()),
        sa.Column("latency_ms", sa.Integer()),
        sa.Column("attempts", sa.Integer(), nullable=False),
    )  # fmt: skip
    op.create_index("ix_verify_answers_check_id", "verify_answers", ["check_id"])
    op.create_table(
        "address_txs",
        sa.Column(
            "address_id", sa.Integer(), sa.ForeignKey("addresses.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("txid", sa.String(64), primary_key=True),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("time", UTC_TIMESTAMP, nullable=False),
        sa.Column("value_sats", sa.BigInteger(), nullable=False),
    )  # fmt: skip
    op.create_table(
        "onchain_daily",
        sa.Column(
            "holder_id", sa.Integer(), sa.ForeignKey("holders.id", ondelete="RESTRICT"),
            primary_key=True,
        ),
        sa.Column("date", sa.Date(), primary_key=True),
        sa.Column("sats", sa.BigInteger(), nullable=False),
        sa.Column("addresses", sa.Integer(), nullable=False),
    )  # fmt: skip


def downgrade() -> None:
    op.drop_table("onchain_daily")
    op.drop_table("address_txs")
    op.drop_index("ix_verify_answers_check_id", table_name="verify_answers")
    op.drop_table("verify_answers")
    op.drop_index("ix_verify_checks_holder_started", table_name="verify_checks")
    op.drop_table("verify_checks")
    op.drop_table("addresses")
    if op.get_bind().dialect.name == "sqlite":  # in place: a batch copy breaks the foreign keys
        op.execute("ALTER TABLE holders DROP COLUMN addresses_complete")
        return
    with op.batch_alter_table("holders") as batch:
        batch.drop_column("addresses_complete")
