"""jobs count the crashes that interrupted them apart from their attempts and carry
their attempt's token (fencing); engines write a heartbeat row (api/health/)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 19:45:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A server default fills the rows already there (a crash spent no attempt of theirs
    # that we know of).
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(
            sa.Column("interruptions", sa.Integer(), nullable=False, server_default=sa.text("0"))
        )
        batch.add_column(sa.Column("attempt_token", sa.String(32), nullable=True))

    op.create_table(
        "engine_heartbeats",
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("scheduler_connected", sa.Boolean(), nullable=False),
        sa.Column("workers", sa.Integer(), nullable=True),
        sa.Column("fault", sa.String(32), nullable=True),
        sa.Column("fault_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("fault_error", sa.Text(), nullable=True),
        sa.Column("last_product_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("disk_free_bytes", sa.BigInteger(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_engine_heartbeats")),
    )


def downgrade() -> None:
    op.drop_table("engine_heartbeats")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("attempt_token")
        batch.drop_column("interruptions")
