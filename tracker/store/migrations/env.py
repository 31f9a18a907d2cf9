"""Alembic environment: always run with a connection handed in by tracker.store.migrate."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import tracker.chain_models  # registers the on-chain tables (imported for that alone)
import tracker.models  # noqa: F401  (registers the tables on SQLModel.metadata)

target_metadata = SQLModel.metadata
connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `tracker db upgrade`, which supplies the connection")

context.configure(
    connection=connection,
    target_metadata=target_metadata,
    render_as_batch=True,  # SQLite cannot ALTER most things; batch mode copies the table
    compare_type=True,
    transaction_per_migration=False,
)
context.run_migrations()
