"""files carry their observation order: DATE-OBS and the frame number (issue 15), so
listings put a night's frames in the order they were taken, whatever order they were
registered in (a catch-up batch after a restart)

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 02:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Rows read and updated at a time while filling the new columns.
_BATCH = 2000


def _fill(bind) -> None:
    """Fill the columns of the files already registered: parentless rows (raw frames,
    masters) from their stored header and name, products from their original."""
    from gsp_extension.store.files import observation_order

    files = sa.table(
        "files",
        sa.column("id", sa.Integer),
        sa.column("file_name", sa.String),
        sa.column("header", sa.JSON),
        sa.column("original_file_id", sa.Integer),
        sa.column("parent_file_id", sa.Integer),
        sa.column("date_obs", sa.DateTime(timezone=True)),
        sa.column("frame_number", sa.Integer),
    )
    last = 0
    while True:
        rows = bind.execute(
            sa.select(files.c.id, files.c.file_name, files.c.header)
            .where(
                files.c.id > last,
                sa.or_(files.c.parent_file_id.is_(None), files.c.parent_file_id == files.c.id),
            )
            .order_by(files.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            break
        last = rows[-1].id
        values = []
        for row in rows:
            when, number = observation_order(row.file_name, row.header)
            if when is not None and bind.dialect.name == "sqlite":
                when = when.replace(tzinfo=None)  # stored as UTCDateTime stores it
            values.append({"row_id": row.id, "when": when, "number": number})
        bind.execute(
            files.update()
            .where(files.c.id == sa.bindparam("row_id"))
            .values(date_obs=sa.bindparam("when"), frame_number=sa.bindparam("number")),
            values,
        )
    original = files.alias("original")
    bind.execute(
        files.update()
        .where(files.c.parent_file_id != files.c.id, files.c.original_file_id.is_not(None))
        .values(
            date_obs=sa.select(original.c.date_obs)
            .where(original.c.id == files.c.original_file_id)
            .scalar_subquery(),
            frame_number=sa.select(original.c.frame_number)
            .where(original.c.id == files.c.original_file_id)
            .scalar_subquery(),
        )
    )


def upgrade() -> None:
    with op.batch_alter_table("files") as batch:
        batch.add_column(sa.Column("date_obs", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("frame_number", sa.Integer(), nullable=True))
    _fill(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table("files") as batch:
        batch.drop_column("frame_number")
        batch.drop_column("date_obs")
