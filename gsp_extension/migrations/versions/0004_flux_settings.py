"""reduction settings gain the flux calibration fields (issue 17): flux calibration
on/off, a preferred standard star, extinction correction on/off

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 22:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Server defaults fill the versions already stored with SOAR's defaults (flux
    # calibration on, nearest standard in time, CTIO extinction on): products made
    # under those versions are then described by what the pipeline did by default.
    with op.batch_alter_table("reduction_settings") as batch:
        batch.add_column(
            sa.Column("flux_calibration", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch.add_column(
            sa.Column("preferred_standard", sa.String(40), nullable=False, server_default="")
        )
        batch.add_column(
            sa.Column(
                "extinction_correction", sa.Boolean(), nullable=False, server_default=sa.true()
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("reduction_settings") as batch:
        batch.drop_column("extinction_correction")
        batch.drop_column("preferred_standard")
        batch.drop_column("flux_calibration")
