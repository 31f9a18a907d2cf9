"""Index source_quotes by (source, outcome, round_id).

Revision ID: 0002_source_outcome_index
Revises: 0001_initial
Create Date: 2026-11-25

`tracker status` and `tracker sources` ask for each source's last success and last error; with
this index each is one seek, whatever the size of the history.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002_source_outcome_index"
down_revision: str | None = "0001_initial"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_source_quotes_source_outcome_round", "source_quotes", ["source", "outcome", "round_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_source_quotes_source_outcome_round", table_name="source_quotes")
