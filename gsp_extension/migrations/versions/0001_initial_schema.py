"""initial schema: accounts, proposals, versioned settings, files, jobs, logs, comments

Revision ID: 0001
Revises:
Create Date: 2026-11-22 02:40:32.655811
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(length=150), nullable=False),
        sa.Column("first_name", sa.String(length=150), server_default="", nullable=False),
        sa.Column("last_name", sa.String(length=150), server_default="", nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column("partner", sa.String(length=64), nullable=True),
        sa.Column("is_staff", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("is_superuser", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("date_joined", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_login", sa.DateTime(timezone=True), nullable=True),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("failed_logins", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("email", name=op.f("uq_users_email")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_table(
        "proposals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("soar_id", sa.String(length=64), nullable=False),
        sa.Column("semester", sa.String(length=16), server_default="", nullable=False),
        sa.Column("title", sa.String(length=255), server_default="", nullable=False),
        sa.Column("abstract", sa.Text(), server_default="", nullable=False),
        sa.Column("pi_id", sa.Integer(), nullable=True),
        sa.Column("placeholder", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["pi_id"], ["users.id"], name=op.f("fk_proposals_pi_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_proposals")),
        sa.UniqueConstraint("soar_id", name=op.f("uq_proposals_soar_id")),
    )
    op.create_index("ix_proposals_pi_id", "proposals", ["pi_id"], unique=False)

    op.create_table(
        "proposal_collaborators",
        sa.Column("proposal_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["proposal_id"],
            ["proposals.id"],
            name=op.f("fk_proposal_collaborators_proposal_id_proposals"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_proposal_collaborators_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("proposal_id", "user_id", name=op.f("pk_proposal_collaborators")),
    )
    op.create_index(
        "ix_proposal_collaborators_user_id", "proposal_collaborators", ["user_id"], unique=False
    )

    op.create_table(
        "reduction_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("proposal_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("saturation_threshold", sa.Float(), nullable=False),
        sa.Column("cosmic_ray_rejection", sa.String(length=16), nullable=False),
        sa.Column("technique", sa.String(length=16), nullable=False),
        sa.Column("ignore_bias", sa.Boolean(), nullable=False),
        sa.Column("ignore_flats", sa.Boolean(), nullable=False),
        sa.Column("min_bias_frames", sa.Integer(), nullable=False),
        sa.Column("min_flat_frames", sa.Integer(), nullable=False),
        sa.Column("flat_normalization", sa.String(length=16), nullable=False),
        sa.Column("flat_normalization_order", sa.Integer(), nullable=False),
        sa.Column("extraction_type", sa.String(length=16), nullable=False),
        sa.Column("target_fit_model", sa.String(length=16), nullable=False),
        sa.Column("max_targets", sa.Integer(), nullable=False),
        sa.Column("background_spacing", sa.Float(), nullable=False),
        sa.Column("background_width", sa.Float(), nullable=False),
        sa.CheckConstraint(
            "cosmic_ray_rejection IN ('default', 'lacosmic', 'dcr', 'none')",
            name=op.f("ck_reduction_settings_cosmic_ray_rejection"),
        ),
        sa.CheckConstraint(
            "extraction_type IN ('fractional', 'optimal')",
            name=op.f("ck_reduction_settings_extraction_type"),
        ),
        sa.CheckConstraint(
            "flat_normalization IN ('mean', 'simple', 'full')",
            name=op.f("ck_reduction_settings_flat_normalization"),
        ),
        sa.CheckConstraint(
            "target_fit_model IN ('moffat', 'gaussian')",
            name=op.f("ck_reduction_settings_target_fit_model"),
        ),
        sa.CheckConstraint(
            "technique IN ('auto', 'Spectroscopy', 'Imaging')",
            name=op.f("ck_reduction_settings_technique"),
        ),
        sa.CheckConstraint(
            "background_spacing >= 0 AND background_spacing <= 100",
            name=op.f("ck_reduction_settings_background_spacing_range"),
        ),
        sa.CheckConstraint(
            "background_width >= 0.1 AND background_width <= 100",
            name=op.f("ck_reduction_settings_background_width_range"),
        ),
        sa.CheckConstraint(
            "flat_normalization_order BETWEEN 1 AND 50",
            name=op.f("ck_reduction_settings_flat_normalization_order_range"),
        ),
        sa.CheckConstraint(
            "max_targets BETWEEN 1 AND 20", name=op.f("ck_reduction_settings_max_targets_range")
        ),
        sa.CheckConstraint(
            "min_bias_frames >= 1", name=op.f("ck_reduction_settings_min_bias_frames_positive")
        ),
        sa.CheckConstraint(
            "min_flat_frames >= 1", name=op.f("ck_reduction_settings_min_flat_frames_positive")
        ),
        sa.CheckConstraint(
            "saturation_threshold >= 0 AND saturation_threshold <= 100",
            name=op.f("ck_reduction_settings_saturation_threshold_percent"),
        ),
        sa.CheckConstraint("version >= 1", name=op.f("ck_reduction_settings_version_positive")),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_reduction_settings_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["proposal_id"],
            ["proposals.id"],
            name=op.f("fk_reduction_settings_proposal_id_proposals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reduction_settings")),
        sa.UniqueConstraint(
            "proposal_id", "version", name="uq_reduction_settings_proposal_version"
        ),
    )
    op.create_table(
        "files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_modified", sa.DateTime(timezone=True), nullable=False),
        sa.Column("original_file_id", sa.Integer(), nullable=True),
        sa.Column("parent_file_id", sa.Integer(), nullable=True),
        sa.Column("file_name", sa.String(length=255), nullable=False),
        sa.Column("directory_name", sa.String(length=1024), nullable=False),
        sa.Column("full_path", sa.String(length=1280), nullable=False),
        sa.Column("obstype", sa.String(length=32), nullable=True),
        sa.Column("object", sa.String(length=128), nullable=True),
        sa.Column("filter", sa.String(length=64), nullable=True),
        sa.Column("filter_2", sa.String(length=64), nullable=True),
        sa.Column("grating", sa.String(length=64), nullable=True),
        sa.Column("slit", sa.String(length=64), nullable=True),
        sa.Column("cam_targ", sa.String(length=32), nullable=True),
        sa.Column("grt_targ", sa.String(length=32), nullable=True),
        sa.Column("obsra", sa.String(length=32), nullable=True),
        sa.Column("obsdec", sa.String(length=32), nullable=True),
        sa.Column("gain", sa.String(length=32), nullable=True),
        sa.Column("rdnoise", sa.String(length=32), nullable=True),
        sa.Column("roi", sa.String(length=64), nullable=True),
        sa.Column("wavmode", sa.String(length=64), nullable=True),
        sa.Column("proposal_id", sa.String(length=64), nullable=True),
        sa.Column("observation_id", sa.BigInteger(), nullable=True),
        sa.Column("configuration_id", sa.BigInteger(), nullable=True),
        sa.Column("block_id", sa.BigInteger(), nullable=True),
        sa.Column("image_id", sa.BigInteger(), nullable=True),
        sa.Column("date", sa.Date(), nullable=True),
        sa.Column("data_type", sa.SmallInteger(), nullable=False),
        sa.Column("normalized", sa.Boolean(), nullable=False),
        sa.Column("technique", sa.String(length=32), nullable=True),
        sa.Column("saturation_value", sa.Integer(), nullable=True),
        sa.Column(
            "header",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("checksum", sa.String(length=64), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("superseded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("settings_id", sa.Integer(), nullable=True),
        sa.Column(
            "quality",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('registered', 'classified', 'processing', 'processed', 'failed', 'rejected')",
            name=op.f("ck_files_status"),
        ),
        sa.CheckConstraint("data_type BETWEEN 0 AND 5", name=op.f("ck_files_data_type_code")),
        sa.CheckConstraint("size >= 0", name=op.f("ck_files_size_non_negative")),
        sa.CheckConstraint("version >= 1", name=op.f("ck_files_version_positive")),
        sa.ForeignKeyConstraint(
            ["original_file_id"], ["files.id"], name=op.f("fk_files_original_file_id_files")
        ),
        sa.ForeignKeyConstraint(
            ["parent_file_id"], ["files.id"], name=op.f("fk_files_parent_file_id_files")
        ),
        sa.ForeignKeyConstraint(
            ["proposal_id"],
            ["proposals.soar_id"],
            name=op.f("fk_files_proposal_id_proposals"),
            onupdate="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["settings_id"],
            ["reduction_settings.id"],
            name=op.f("fk_files_settings_id_reduction_settings"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_files")),
        sa.UniqueConstraint("full_path", "version", name="uq_files_full_path_version"),
    )
    op.create_index(
        "ix_files_current_type_proposal_date_id",
        "files",
        ["data_type", "proposal_id", "date", "id"],
        unique=False,
        sqlite_where=sa.text("superseded_at IS NULL AND deleted_at IS NULL"),
        postgresql_where=sa.text("superseded_at IS NULL AND deleted_at IS NULL"),
    )
    op.create_index("ix_files_date_id", "files", ["date", "id"], unique=False)
    op.create_index("ix_files_file_name", "files", ["file_name"], unique=False)
    op.create_index("ix_files_original_file_id", "files", ["original_file_id"], unique=False)
    op.create_index("ix_files_parent_file_id", "files", ["parent_file_id"], unique=False)
    op.create_index(
        "ix_files_proposal_date_id", "files", ["proposal_id", "date", "id"], unique=False
    )

    op.create_table(
        "comments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["file_id"], ["files.id"], name=op.f("fk_comments_file_id_files"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_comments_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_comments")),
    )
    op.create_index("ix_comments_file_id", "comments", ["file_id"], unique=False)

    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=True),
        sa.Column("proposal_id", sa.Integer(), nullable=True),
        sa.Column("settings_id", sa.Integer(), nullable=True),
        sa.Column("requested_by_id", sa.Integer(), nullable=True),
        sa.Column("product_key", sa.String(length=512), nullable=False),
        sa.Column(
            "params",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=True,
        ),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("worker", sa.String(length=128), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("run_after", sa.DateTime(timezone=True), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("product_file_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "state IN ('queued', 'running', 'done', 'failed')", name=op.f("ck_jobs_state")
        ),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_jobs_attempts_non_negative")),
        sa.CheckConstraint("max_attempts >= 1", name=op.f("ck_jobs_max_attempts_positive")),
        sa.ForeignKeyConstraint(
            ["file_id"], ["files.id"], name=op.f("fk_jobs_file_id_files"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["product_file_id"],
            ["files.id"],
            name=op.f("fk_jobs_product_file_id_files"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["proposal_id"],
            ["proposals.id"],
            name=op.f("fk_jobs_proposal_id_proposals"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_id"],
            ["users.id"],
            name=op.f("fk_jobs_requested_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["settings_id"],
            ["reduction_settings.id"],
            name=op.f("fk_jobs_settings_id_reduction_settings"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
    )
    op.create_index("ix_jobs_file_id", "jobs", ["file_id"], unique=False)
    op.create_index("ix_jobs_state_priority_id", "jobs", ["state", "priority", "id"], unique=False)
    op.create_index(
        "uq_jobs_active_product_key",
        "jobs",
        ["product_key"],
        unique=True,
        sqlite_where=sa.text("state IN ('queued', 'running')"),
        postgresql_where=sa.text("state IN ('queued', 'running')"),
    )

    op.create_table(
        "log_entries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("level", sa.String(length=8), nullable=False),
        sa.Column("event", sa.String(length=64), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("file_id", sa.Integer(), nullable=True),
        sa.Column("proposal_id", sa.Integer(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "level IN ('DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL')",
            name=op.f("ck_log_entries_level"),
        ),
        sa.ForeignKeyConstraint(
            ["file_id"],
            ["files.id"],
            name=op.f("fk_log_entries_file_id_files"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_log_entries_job_id_jobs"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["proposal_id"],
            ["proposals.id"],
            name=op.f("fk_log_entries_proposal_id_proposals"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_log_entries_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_log_entries")),
    )
    op.create_index("ix_log_entries_file_time", "log_entries", ["file_id", "time"], unique=False)
    op.create_index(
        "ix_log_entries_proposal_time", "log_entries", ["proposal_id", "time"], unique=False
    )
    op.create_index("ix_log_entries_time", "log_entries", ["time"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_log_entries_time", table_name="log_entries")
    op.drop_index("ix_log_entries_proposal_time", table_name="log_entries")
    op.drop_index("ix_log_entries_file_time", table_name="log_entries")

    op.drop_table("log_entries")
    op.drop_index(
        "uq_jobs_active_product_key",
        table_name="jobs",
        sqlite_where=sa.text("state IN ('queued', 'running')"),
        postgresql_where=sa.text("state IN ('queued', 'running')"),
    )
    op.drop_index("ix_jobs_state_priority_id", table_name="jobs")
    op.drop_index("ix_jobs_file_id", table_name="jobs")

    op.drop_table("jobs")
    op.drop_index("ix_comments_file_id", table_name="comments")

    op.drop_table("comments")
    op.drop_index("ix_files_proposal_date_id", table_name="files")
    op.drop_index("ix_files_parent_file_id", table_name="files")
    op.drop_index("ix_files_original_file_id", table_name="files")
    op.drop_index("ix_files_file_name", table_name="files")
    op.drop_index("ix_files_date_id", table_name="files")
    op.drop_index(
        "ix_files_current_type_proposal_date_id",
        table_name="files",
        sqlite_where=sa.text("superseded_at IS NULL AND deleted_at IS NULL"),
        postgresql_where=sa.text("superseded_at IS NULL AND deleted_at IS NULL"),
    )

    op.drop_table("files")
    op.drop_table("reduction_settings")
    op.drop_index("ix_proposal_collaborators_user_id", table_name="proposal_collaborators")

    op.drop_table("proposal_collaborators")
    op.drop_index("ix_proposals_pi_id", table_name="proposals")

    op.drop_table("proposals")
    op.drop_table("users")
