"""The sovereign ledger: holder kinds, observation scopes, sources' links and dates,
corrections and removals that keep the row.

Revision ID: 0003_sovereign_ledger
Revises: 0002_source_outcome_index
Create Date: 2026-11-26

holders gain kind (state | state_linked), population_year, note, origin, removed_at;
holding_observations gain scope (government | reserve | subset | not_sovereign), url, published,
supersedes (the id of the row a correction corrects), origin (ledger | config | user | seed) and
removed_at. Existing rows keep every value: a user's own observations become scope government,
origin user. The five config seeds of schema 0002, recognised by holder, date and source text,
are marked origin seed (the U.S. reserve one, scope reserve): the shipped ledger, applied after
this migration, supersedes each with its sourced row.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_sovereign_ledger"
down_revision: str | None = "0002_source_outcome_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UTC_TIMESTAMP = sa.DateTime(timezone=True)

# (holder, as_of, source) of the config seeds shipped with schema 0002
LEGACY_SEEDS: tuple[tuple[str, str, str], ...] = (
    (
        "el-salvador",
        "2025-04-01",
        "News article on the Trump–Bukele White House meeting of 2025-04-14, published "
        'after Trump\'s letter of 2025-04-01: El Salvador "currently holds over 6,100 BTC"',
    ),
    (
        "united-states",
        "2025-04-01",
        'Same article: the U.S. "launched a National Bitcoin Reserve, using confiscated '
        'crypto holdings" (Executive Order 14233, 2025-03-06, the Strategic Bitcoin '
        "Reserve); no amount published",
    ),
    (
        "united-states",
        "2025-03-07",
        "Arkham Intelligence attribution of U.S. government wallets, as reported at the "
        "White House Crypto Summit, 2025-03-07 (about 198,000 BTC)",
    ),
    (
        "united-states",
        "2025-07-24",
        'Arkham Intelligence after the U.S. Marshals FOIA release, 2025-07-24 ("at least '
        '198,012 BTC")',
    ),
    (
        "el-salvador",
        "2025-06-16",
        "El Salvador Bitcoin Office, as reported 2025-06-16",
    ),
)
LEGACY_RESERVE = LEGACY_SEEDS[1]  # the U.S. "National Bitcoin Reserve", no amount


def upgrade() -> None:
    with op.batch_alter_table("holders") as batch:
        batch.add_column(sa.Column("kind", sa.String(16), nullable=False, server_default="state"))
        batch.add_column(sa.Column("population_year", sa.Integer()))
        batch.add_column(sa.Column("note", sa.Text()))
        batch.add_column(sa.Column("origin", sa.String(16), nullable=False, server_default="user"))
        batch.add_column(sa.Column("removed_at", UTC_TIMESTAMP))
    with op.batch_alter_table("holding_observations") as batch:
        batch.add_column(
            sa.Column("scope", sa.String(16), nullable=False, server_default="government")
        )
        batch.add_column(sa.Column("url", sa.Text()))
        batch.add_column(sa.Column("published", sa.Date()))
        batch.add_column(sa.Column("supersedes", sa.Integer()))
        batch.add_column(sa.Column("origin", sa.String(16), nullable=False, server_default="user"))
        batch.add_column(sa.Column("removed_at", UTC_TIMESTAMP))
        batch.create_foreign_key(
            "fk_observation_supersedes",
            "holding_observations",
            ["supersedes"],
            ["id"],
            ondelete="RESTRICT",
        )
    conn = op.get_bind()
    mark = sa.text(
        "UPDATE holding_observations SET origin = 'seed', scope = :scope "
        "WHERE source = :source AND as_of = :as_of "
        "AND holder_id = (SELECT id FROM holders WHERE slug = :holder)"
    )
    for holder, as_of, source in LEGACY_SEEDS:
        scope = "reserve" if (holder, as_of, source) == LEGACY_RESERVE else "government"
        conn.execute(mark, {"holder": holder, "as_of": as_of, "source": source, "scope": scope})
    conn.execute(
        sa.text("UPDATE holders SET origin = 'seed' WHERE slug IN ('el-salvador', 'united-states')")
    )


def downgrade() -> None:
    with op.batch_alter_table("holding_observations") as batch:
        batch.drop_constraint("fk_observation_supersedes", type_="foreignkey")
        for name in ("removed_at", "origin", "supersedes", "published", "url", "scope"):
            batch.drop_column(name)
    names = ("removed_at", "origin", "note", "population_year", "kind")
    if op.get_bind().dialect.name == "sqlite":
        # A batch would copy holders and drop the original, which the observations' foreign
        # key forbids; SQLite (3.35+) drops a plain column in place.
        for name in names:
            op.execute(f"ALTER TABLE holders DROP COLUMN {name}")
        return
    with op.batch_alter_table("holders") as batch:
        for name in names:
            batch.drop_column(name)
