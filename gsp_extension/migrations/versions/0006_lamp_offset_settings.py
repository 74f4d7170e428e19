"""reduction settings gain the wavelength calibration's lamp offsets: a pen lamp's
high-excitation Ar I offset and an HgArNe lamp's Ne bulb terms, each measured (the
solution fitted to every line at its NIST wavelength) or applied

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 20:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_NAMES = ("pen_shift", "bulb_separation")


def upgrade() -> None:
    # The versions already stored were made by a pipeline that measured a pen lamp's
    # offset, not applied it ("measure"); its HgArNe rule applied the bulbs' terms only
    # where one solution missed 0.05 px, which neither value names: "measure" is the
    # product's default from here on.
    with op.batch_alter_table("reduction_settings") as batch:
        for name in _NAMES:
            batch.add_column(
                sa.Column(name, sa.String(16), nullable=False, server_default="measure")
            )
            batch.create_check_constraint(
                op.f(f"ck_reduction_settings_{name}"), f"{name} IN ('measure', 'apply')"
            )


def downgrade() -> None:
    with op.batch_alter_table("reduction_settings") as batch:
        for name in reversed(_NAMES):
            batch.drop_constraint(op.f(f"ck_reduction_settings_{name}"), type_="check")
            batch.drop_column(name)
