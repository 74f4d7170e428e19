"""The app database schema: SQLAlchemy 2 declarative models.

The schema is the contract between the REST API, the hub (accounts), ingest and the job
engine. Changes go through an Alembic revision in ``gsp_extension/migrations``; the test
suite checks that the migrated schema equals these models on SQLite and PostgreSQL.

Naming note: ``File.proposal_id`` holds the proposal's *SOAR id* string (``"SOAR2020B-008"``),
because the seed's API record exposes it under that name; it is a foreign key to
``proposals.soar_id``. Every other ``proposal_id`` column is the integer ``proposals.id``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    Float,
    ForeignKey,
    Index,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from pipeline.vocabulary import DataType, Technique

from ..vocabulary import ACTIVE_JOB_STATES as _ACTIVE_JOB_STATES
from ..vocabulary import FileStatus, JobState
from .types import JSONType, UTCDateTime, utcnow

# Deterministic constraint names: Alembic needs them to alter or drop constraints later,
# and SQLite batch migrations cannot find unnamed ones.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# --- value sets, shared with the domain layer and the API ---------------------------------

# Plain values (not the enum members) keep the CHECK constraints and the API's Literal
# types exactly as they were; the words themselves are defined in the vocabularies.
DATA_TYPES = {t.value: t.description for t in DataType}
FILE_STATUSES = tuple(s.value for s in FileStatus)
JOB_STATES = tuple(s.value for s in JobState)
ACTIVE_JOB_STATES = tuple(s.value for s in _ACTIVE_JOB_STATES)
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
TECHNIQUES = tuple(t.value for t in Technique)
# "auto": each file's header decides (pipeline.settings.ReductionSettings).
SETTINGS_TECHNIQUES = ("auto", *TECHNIQUES)
COSMIC_RAY_METHODS = ("default", "lacosmic", "dcr", "none")
FLAT_NORMALIZATIONS = ("mean", "simple", "full")
EXTRACTION_TYPES = ("fractional", "optimal")
TARGET_FIT_MODELS = ("moffat", "gaussian")
LAMP_OFFSET_CHOICES = ("measure", "apply")


def _one_of(column: str, values: tuple[str, ...], name: str) -> CheckConstraint:
    quoted = ", ".join(f"'{v}'" for v in values)
    return CheckConstraint(f"{column} IN ({quoted})", name=name)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {dt.datetime: UTCDateTime(), dict[str, Any]: JSONType}


proposal_collaborators = Table(
    "proposal_collaborators",
    Base.metadata,
    Column(
        "proposal_id",
        ForeignKey("proposals.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    # "proposals of a user" looks rows up by user.
    Index("ix_proposal_collaborators_user_id", "user_id"),
)


class User(Base):
    """An account. Passwords are hashed by the hub (argon2); only the hash is kept."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    first_name: Mapped[str] = mapped_column(String(150), default="", server_default="")
    last_name: Mapped[str] = mapped_column(String(150), default="", server_default="")
    # Nullable so that accounts without an address (e.g. a bootstrap admin) can coexist;
    # stored lower-cased by the domain layer so the unique index is case-insensitive.
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    partner: Mapped[str | None] = mapped_column(String(64))
    is_staff: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    is_superuser: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    is_active: Mapped[bool] = mapped_column(default=True, server_default=text("true"))
    date_joined: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_login: Mapped[dt.datetime | None]
    password_hash: Mapped[str | None] = mapped_column(String(255))
    # Brute-force lockout bookkeeping for the hub's authenticator.
    failed_logins: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    locked_until: Mapped[dt.datetime | None]

    led_proposals: Mapped[list[Proposal]] = relationship(back_populates="pi")
    collaborations: Mapped[list[Proposal]] = relationship(
        secondary=proposal_collaborators, back_populates="collaborators"
    )

    def __repr__(self) -> str:
        return f"<User {self.id} {self.username!r}>"


class Proposal(Base):
    """An observing proposal (a hub group); files attach to it by PROPID."""

    __tablename__ = "proposals"

    id: Mapped[int] = mapped_column(primary_key=True)
    soar_id: Mapped[str] = mapped_column(String(64), unique=True)
    semester: Mapped[str] = mapped_column(String(16), default="", server_default="")
    title: Mapped[str] = mapped_column(String(255), default="", server_default="")
    abstract: Mapped[str] = mapped_column(Text, default="", server_default="")
    pi_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Created by ingest from an unknown PROPID; staff complete it (PI, title...).
    placeholder: Mapped[bool] = mapped_column(default=False, server_default=text("false"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    pi: Mapped[User | None] = relationship(back_populates="led_proposals")
    collaborators: Mapped[list[User]] = relationship(
        secondary=proposal_collaborators,
        back_populates="collaborations",
        order_by="User.id",
    )
    settings_versions: Mapped[list[ReductionSettings]] = relationship(
        back_populates="proposal", order_by="ReductionSettings.version"
    )

    __table_args__ = (Index("ix_proposals_pi_id", "pi_id"),)

    def __repr__(self) -> str:
        return f"<Proposal {self.id} {self.soar_id!r}>"


class ReductionSettings(Base):
    """One version of a proposal's reduction settings (DESIGN.md §6).

    The columns are the fields of :class:`pipeline.settings.ReductionSettings` and of
    :class:`pipeline.settings.FluxSettings`, which validate them (a test keeps them in
    step), with the same ranges as CHECKs.

    Rows are never updated: a change inserts the next version, and every product keeps
    the id of the row it was made with. Settings are explicit columns rather than a JSON
    blob so that the database itself refuses bad values (CHECK constraints), a new
    setting is a visible migration, and "which products used order 15" is plain SQL.
    """

    __tablename__ = "reduction_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposals.id", ondelete="CASCADE"))
    version: Mapped[int]
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))

    saturation_threshold: Mapped[float] = mapped_column(Float, default=1.0)
    cosmic_ray_rejection: Mapped[str] = mapped_column(String(16), default="default")
    technique: Mapped[str] = mapped_column(String(16), default="auto")
    ignore_bias: Mapped[bool] = mapped_column(default=False)
    ignore_flats: Mapped[bool] = mapped_column(default=False)
    min_bias_frames: Mapped[int] = mapped_column(default=10)
    min_flat_frames: Mapped[int] = mapped_column(default=10)
    flat_normalization: Mapped[str] = mapped_column(String(16), default="simple")
    flat_normalization_order: Mapped[int] = mapped_column(default=15)
    extraction_type: Mapped[str] = mapped_column(String(16), default="fractional")
    target_fit_model: Mapped[str] = mapped_column(String(16), default="moffat")
    max_targets: Mapped[int] = mapped_column(default=3)
    background_spacing: Mapped[float] = mapped_column(Float, default=3.0)
    background_width: Mapped[float] = mapped_column(Float, default=3.0)
    # Wavelength calibration: a lamp's line offsets measured or applied.
    pen_shift: Mapped[str] = mapped_column(String(16), default="measure")
    bulb_separation: Mapped[str] = mapped_column(String(16), default="measure")
    # Flux calibration (issue 17): the fields of pipeline.settings.FluxSettings.
    flux_calibration: Mapped[bool] = mapped_column(default=True)
    preferred_standard: Mapped[str] = mapped_column(String(40), default="")
    extinction_correction: Mapped[bool] = mapped_column(default=True)

    proposal: Mapped[Proposal] = relationship(back_populates="settings_versions")

    __table_args__ = (
        UniqueConstraint("proposal_id", "version", name="uq_reduction_settings_proposal_version"),
        CheckConstraint("version >= 1", name="version_positive"),
        CheckConstraint(
            "saturation_threshold >= 0 AND saturation_threshold <= 100",
            name="saturation_threshold_percent",
        ),
        _one_of("cosmic_ray_rejection", COSMIC_RAY_METHODS, "cosmic_ray_rejection"),
        _one_of("technique", SETTINGS_TECHNIQUES, "technique"),
        CheckConstraint("min_bias_frames >= 1", name="min_bias_frames_positive"),
        CheckConstraint("min_flat_frames >= 1", name="min_flat_frames_positive"),
        _one_of("flat_normalization", FLAT_NORMALIZATIONS, "flat_normalization"),
        CheckConstraint(
            "flat_normalization_order BETWEEN 1 AND 50", name="flat_normalization_order_range"
        ),
        _one_of("extraction_type", EXTRACTION_TYPES, "extraction_type"),
        _one_of("target_fit_model", TARGET_FIT_MODELS, "target_fit_model"),
        _one_of("pen_shift", LAMP_OFFSET_CHOICES, "pen_shift"),
        _one_of("bulb_separation", LAMP_OFFSET_CHOICES, "bulb_separation"),
        CheckConstraint("max_targets BETWEEN 1 AND 20", name="max_targets_range"),
        CheckConstraint(
            "background_spacing >= 0 AND background_spacing <= 100", name="background_spacing_range"
        ),
        CheckConstraint(
            "background_width >= 0.1 AND background_width <= 100", name="background_width_range"
        ),
    )


_CURRENT = text("superseded_at IS NULL AND deleted_at IS NULL")


class File(Base):
    """A FITS file, raw or product: the seed's API record plus what the system needs.

    The seed fields keep the seed's names; their storage types are chosen for querying
    (``data_type`` is an integer here and a string in the API record, see
    :mod:`gsp_extension.store.serialize`). A raw file rewritten in place becomes a new
    row with the next ``version``; the older row gets ``superseded_at``.
    """

    __tablename__ = "files"

    # --- the seed's API fields ------------------------------------------------------------
    id: Mapped[int] = mapped_column(primary_key=True)
    created: Mapped[dt.datetime] = mapped_column(default=utcnow)
    last_modified: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    original_file_id: Mapped[int | None] = mapped_column(ForeignKey("files.id"))
    parent_file_id: Mapped[int | None] = mapped_column(ForeignKey("files.id"))
    file_name: Mapped[str] = mapped_column(String(255))
    directory_name: Mapped[str] = mapped_column(String(1024))
    full_path: Mapped[str] = mapped_column(String(1280))
    obstype: Mapped[str | None] = mapped_column(String(32))
    object: Mapped[str | None] = mapped_column(String(128))
    filter: Mapped[str | None] = mapped_column(String(64))
    filter_2: Mapped[str | None] = mapped_column(String(64))
    grating: Mapped[str | None] = mapped_column(String(64))
    slit: Mapped[str | None] = mapped_column(String(64))
    cam_targ: Mapped[str | None] = mapped_column(String(32))
    grt_targ: Mapped[str | None] = mapped_column(String(32))
    obsra: Mapped[str | None] = mapped_column(String(32))
    obsdec: Mapped[str | None] = mapped_column(String(32))
    gain: Mapped[str | None] = mapped_column(String(32))
    rdnoise: Mapped[str | None] = mapped_column(String(32))
    roi: Mapped[str | None] = mapped_column(String(64))
    wavmode: Mapped[str | None] = mapped_column(String(64))
    proposal_id: Mapped[str | None] = mapped_column(
        String(64), ForeignKey("proposals.soar_id", onupdate="CASCADE")
    )
    observation_id: Mapped[int | None] = mapped_column(BigInteger)
    configuration_id: Mapped[int | None] = mapped_column(BigInteger)
    block_id: Mapped[int | None] = mapped_column(BigInteger)
    image_id: Mapped[int | None] = mapped_column(BigInteger)
    date: Mapped[dt.date | None] = mapped_column(Date)
    data_type: Mapped[int] = mapped_column(SmallInteger, default=0)
    normalized: Mapped[bool] = mapped_column(default=False)
    technique: Mapped[str | None] = mapped_column(String(32))
    saturation_value: Mapped[int | None]

    # --- what the system adds --------------------------------------------------------------
    # The observation order within a night (issue 15): the exposure's start (DATE-OBS)
    # and the frame number of its raw file name; a product keeps its raw frame's.
    date_obs: Mapped[dt.datetime | None]
    frame_number: Mapped[int | None]
    # Deferred: listings never need the header (tens of kB per file); it loads on access.
    header: Mapped[list[Any] | None] = mapped_column(JSONType, deferred=True)
    checksum: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    version: Mapped[int] = mapped_column(default=1)
    superseded_at: Mapped[dt.datetime | None]
    status: Mapped[str] = mapped_column(String(16), default="registered")
    status_reason: Mapped[str | None] = mapped_column(Text)
    settings_id: Mapped[int | None] = mapped_column(ForeignKey("reduction_settings.id"))
    quality: Mapped[dict[str, Any] | None]
    deleted_at: Mapped[dt.datetime | None]

    original_file: Mapped[File | None] = relationship(
        foreign_keys=[original_file_id], remote_side=[id], post_update=True
    )
    parent_file: Mapped[File | None] = relationship(
        foreign_keys=[parent_file_id], remote_side=[id], post_update=True
    )
    proposal: Mapped[Proposal | None] = relationship(foreign_keys=[proposal_id])
    settings: Mapped[ReductionSettings | None] = relationship()

    __table_args__ = (
        UniqueConstraint("full_path", "version", name="uq_files_full_path_version"),
        CheckConstraint("data_type BETWEEN 0 AND 5", name="data_type_code"),
        CheckConstraint("version >= 1", name="version_positive"),
        CheckConstraint("size >= 0", name="size_non_negative"),
        _one_of("status", FILE_STATUSES, "status"),
        # The API's hot query, ?data_type=&proposal_id= newest first, over current files
        # only: partial, so pages and counts never visit superseded or deleted rows.
        # OBSTYPE rides last so that "hide raw calibrations" is decided in the index
        # (15x faster counts at 1M rows) without changing the order it walks.
        Index(
            "ix_files_current_type_proposal_date_id_obstype",
            "data_type",
            "proposal_id",
            "date",
            "id",
            "obstype",
            sqlite_where=_CURRENT,
            postgresql_where=_CURRENT,
        ),
        # Listings across the proposals a user belongs to, and staff listings.
        Index("ix_files_proposal_date_id_obstype", "proposal_id", "date", "id", "obstype"),
        Index("ix_files_date_id", "date", "id"),
        Index("ix_files_parent_file_id", "parent_file_id"),
        Index("ix_files_original_file_id", "original_file_id"),
        Index("ix_files_file_name", "file_name"),
    )

    def __repr__(self) -> str:
        return f"<File {self.id} v{self.version} {self.full_path!r}>"


class Job(Base):
    """A unit of work for the engine. The row is the truth about the job's state.

    ``product_key`` names what the job makes (e.g. ``"reduce:1234:settings=7"``); a partial
    unique index allows only one queued or running job per key, so the same product is
    never made by two jobs at once, whatever process enqueues it.
    """

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    file_id: Mapped[int | None] = mapped_column(ForeignKey("files.id", ondelete="SET NULL"))
    proposal_id: Mapped[int | None] = mapped_column(ForeignKey("proposals.id", ondelete="SET NULL"))
    settings_id: Mapped[int | None] = mapped_column(ForeignKey("reduction_settings.id"))
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    product_key: Mapped[str] = mapped_column(String(512))
    params: Mapped[dict[str, Any] | None]
    state: Mapped[str] = mapped_column(String(16), default="queued")
    priority: Mapped[int] = mapped_column(default=0)
    attempts: Mapped[int] = mapped_column(default=0)
    max_attempts: Mapped[int] = mapped_column(default=3)
    #: Times a crash of the engine interrupted it (these spend no attempt; capped apart).
    interruptions: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    #: The current attempt's token (new at each claim): only that attempt may publish.
    attempt_token: Mapped[str | None] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text)
    worker: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    run_after: Mapped[dt.datetime | None]
    started_at: Mapped[dt.datetime | None]
    finished_at: Mapped[dt.datetime | None]
    product_file_id: Mapped[int | None] = mapped_column(ForeignKey("files.id", ondelete="SET NULL"))

    file: Mapped[File | None] = relationship(foreign_keys=[file_id])
    product_file: Mapped[File | None] = relationship(foreign_keys=[product_file_id])

    __table_args__ = (
        _one_of("state", JOB_STATES, "state"),
        CheckConstraint("attempts >= 0", name="attempts_non_negative"),
        CheckConstraint("max_attempts >= 1", name="max_attempts_positive"),
        Index(
            "uq_jobs_active_product_key",
            "product_key",
            unique=True,
            sqlite_where=text("state IN ('queued', 'running')"),
            postgresql_where=text("state IN ('queued', 'running')"),
        ),
        Index("ix_jobs_state_priority_id", "state", "priority", "id"),
        Index("ix_jobs_file_id", "file_id"),
    )

    def __repr__(self) -> str:
        return f"<Job {self.id} {self.kind} {self.state} {self.product_key!r}>"


class LogEntry(Base):
    """An event that matters to a person: the seed's Logs view, per file and proposal."""

    __tablename__ = "log_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    time: Mapped[dt.datetime] = mapped_column(default=utcnow)
    level: Mapped[str] = mapped_column(String(8), default="INFO")
    event: Mapped[str | None] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)
    file_id: Mapped[int | None] = mapped_column(ForeignKey("files.id", ondelete="SET NULL"))
    proposal_id: Mapped[int | None] = mapped_column(ForeignKey("proposals.id", ondelete="SET NULL"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))

    __table_args__ = (
        _one_of("level", LOG_LEVELS, "level"),
        Index("ix_log_entries_proposal_time", "proposal_id", "time"),
        Index("ix_log_entries_file_time", "file_id", "time"),
        Index("ix_log_entries_time", "time"),
    )


class Comment(Base):
    """A user's note on a file (the original web app had them)."""

    __tablename__ = "comments"

    id: Mapped[int] = mapped_column(primary_key=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("files.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    user: Mapped[User | None] = relationship()

    __table_args__ = (Index("ix_comments_file_id", "file_id"),)


class EngineHeartbeat(Base):
    """What a running ``gsp live`` (or hub service) last said about itself.

    Written every few seconds by each engine process, the one holding the engine lock
    and any standby; ``GET api/health/`` reads it from whatever process serves the API.
    """

    __tablename__ = "engine_heartbeats"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    state: Mapped[str] = mapped_column(String(16))
    scheduler_connected: Mapped[bool]
    workers: Mapped[int | None]
    fault: Mapped[str | None] = mapped_column(String(32))
    fault_since: Mapped[dt.datetime | None]
    fault_error: Mapped[str | None] = mapped_column(Text)
    last_product_at: Mapped[dt.datetime | None]
    disk_free_bytes: Mapped[int | None] = mapped_column(BigInteger)
    started_at: Mapped[dt.datetime]
    updated_at: Mapped[dt.datetime]
