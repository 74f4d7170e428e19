"""jobs count the crashes that interrupted them apart from their attempts

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


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("interruptions")
