"""listing indexes cover OBSTYPE, so hiding raw calibrations is decided in the index

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 07:15:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_CURRENT = sa.text("superseded_at IS NULL AND deleted_at IS NULL")


def _swap(old: str, new: str, columns: list[str], partial: bool) -> None:
    # Create the new index before dropping the old one, so listings keep an index
    # throughout the upgrade on a live database.
    where = {"sqlite_where": _CURRENT, "postgresql_where": _CURRENT} if partial else {}
    op.create_index(new, "files", columns, unique=False, **where)
    op.drop_index(old, table_name="files", **where)


def upgrade() -> None:
    _swap(
        "ix_files_current_type_proposal_date_id",
        "ix_files_current_type_proposal_date_id_obstype",
        ["data_type", "proposal_id", "date", "id", "obstype"],
        partial=True,
    )
    _swap(
        "ix_files_proposal_date_id",
        "ix_files_proposal_date_id_obstype",
        ["proposal_id", "date", "id", "obstype"],
        partial=False,
    )


def downgrade() -> None:
    _swap(
        "ix_files_current_type_proposal_date_id_obstype",
        "ix_files_current_type_proposal_date_id",
        ["data_type", "proposal_id", "date", "id"],
        partial=True,
    )
    _swap(
        "ix_files_proposal_date_id_obstype",
        "ix_files_proposal_date_id",
        ["proposal_id", "date", "id"],
        partial=False,
    )
