"""Request and response models: they validate requests AND generate the OpenAPI document.

Query models validate query strings (``extra="forbid"``: an unknown parameter is an
error naming the known ones); body models validate JSON bodies; response models
document what the handlers answer (the seed's field names and JSON types).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pipeline.classify import _OBSTYPE_ROLE

from ..store.models import (
    COSMIC_RAY_METHODS,
    EXTRACTION_TYPES,
    FLAT_NORMALIZATIONS,
    JOB_STATES,
    LAMP_OFFSET_CHOICES,
    LOG_LEVELS,
    SETTINGS_TECHNIQUES,
    TARGET_FIT_MODELS,
)
from .fields import (
    EmailAddress,
    Id,
    Integral,
    IsoDate,
    SingleLine,
    Text,
)

#: OBSTYPE values the instrument writes (current and pre-2019 spellings, as the
#: classifier knows them) plus DARK, which the classifier files under "other".
KNOWN_OBSTYPES = tuple(sorted({*_OBSTYPE_ROLE, "DARK"}))

#: OBSTYPEs of calibration frames (bias, flat, arc lamp, dark): what
#: ``hide_raw_calibrations`` hides among raw files.
CALIBRATION_OBSTYPES = tuple(
    sorted({k for k, role in _OBSTYPE_ROLE.items() if role in ("bias", "flat", "arc")} | {"DARK"})
)

#: Colormaps offered by api/files/visualize/ (matplotlib names).
COLORMAPS = (
    "gray",
    "gray_r",
    "viridis",
    "magma",
    "inferno",
    "plasma",
    "cividis",
    "hot",
    "afmhot",
    "bone",
    "cubehelix",
)

#: Fields ?ordering= accepts (prefix "-" for descending); ties break on id.
ORDERING_FIELDS = (
    "id",
    "date",
    "created",
    "last_modified",
    "file_name",
    "object",
    "obstype",
    "data_type",
    "proposal_id",
    "image_id",
    "date_obs",
    "frame_number",
)

#: ?ordering=: comma-separated fields, each optionally prefixed by "-" (spaces around).
_ORDER_FIELD = " *-?(?:" + "|".join(ORDERING_FIELDS) + ") *"
ORDERING_PATTERN = f"^{_ORDER_FIELD}(?:,{_ORDER_FIELD})*$"


def _any_case(word: str) -> str:
    """A regular expression for ``word`` in any letter case (JSON Schema has no flags)."""
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else re.escape(c) for c in word)


#: ?exclude_obstype=: comma-separated known OBSTYPEs in any letter case.
_OBSTYPE = " *(?:" + "|".join(_any_case(o) for o in KNOWN_OBSTYPES) + ") *"
EXCLUDE_OBSTYPE_PATTERN = f"^{_OBSTYPE}(?:,{_OBSTYPE})*$"


class _Query(BaseModel):
    """Base of query-string models: unknown parameters are refused."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class _Body(BaseModel):
    """Base of JSON bodies: unknown fields are refused, types are not coerced."""

    model_config = ConfigDict(extra="forbid", strict=True)


# --- query strings -------------------------------------------------------------------------


class PageQuery(_Query):
    page: int = Field(1, ge=1, le=10_000_000, description="Page number, from 1.")
    page_size: int | None = Field(
        None, ge=1, le=1000, description="Rows per page (default 100, at most 1000)."
    )


class FileListQuery(PageQuery):
    """Filters of ``GET api/files/`` (all optional; combined with AND)."""

    data_type: int | None = Field(
        None,
        ge=0,
        le=5,
        description="0 raw, 1 master calibration, 2 reduced, 3 extracted 1D, "
        "4 wavelength calibrated, 5 flux calibrated.",
    )
    proposal_id: str | None = Field(None, max_length=64, description="SOAR id, e.g. SOAR2020B-008.")
    obstype: str | None = Field(None, max_length=32)
    object: str | None = Field(None, max_length=128)
    filter: str | None = Field(None, max_length=64)
    filter_2: str | None = Field(None, max_length=64)
    grating: str | None = Field(None, max_length=64)
    slit: str | None = Field(None, max_length=64)
    wavmode: str | None = Field(None, max_length=64)
    roi: str | None = Field(None, max_length=64)
    technique: Literal["Spectroscopy", "Imaging"] | None = None
    date: IsoDate | None = Field(None, description="Night, YYYY-MM-DD.")
    date_after: IsoDate | None = Field(None, description="Nights on or after this date.")
    date_before: IsoDate | None = Field(None, description="Nights on or before this date.")
    parent_file_id: int | None = Field(None, ge=1, le=2**62)
    original_file_id: int | None = Field(None, ge=1, le=2**62)
    search: str | None = Field(
        None,
        min_length=1,
        max_length=100,
        description="Case-insensitive text found in the file name or the object name.",
    )
    ordering: str | None = Field(
        None,
        max_length=200,
        description="Comma-separated fields, '-' for descending; default "
        "'-date,-date_obs,-frame_number,-id': newest night first, and within a night "
        "newest observation first (DATE-OBS, then frame number; products with their raw "
        f"frame). Missing DATE-OBS or frame numbers sort last. Fields: {', '.join(ORDERING_FIELDS)}.",
        json_schema_extra={"pattern": ORDERING_PATTERN},
    )
    exclude_obstype: str | None = Field(
        None,
        max_length=300,
        description="Comma-separated OBSTYPEs to leave out (case-insensitive, exact "
        f"spelling). Known: {', '.join(KNOWN_OBSTYPES)}.",
        json_schema_extra={"pattern": EXCLUDE_OBSTYPE_PATTERN},
    )
    hide_raw_calibrations: bool | None = Field(
        None,
        description="true leaves out raw files (data_type 0) that are calibration frames "
        f"({', '.join(CALIBRATION_OBSTYPES)}); products are kept.",
    )

    @field_validator("exclude_obstype", mode="before")
    @classmethod
    def _check_exclude_obstype(cls, value: object) -> object:
        # Checked as sent (before stripping) against the documented pattern.
        if not isinstance(value, str):
            return value
        parts = [p.strip().upper() for p in value.split(",")]
        bad = [p for p in parts if p not in KNOWN_OBSTYPES]
        if bad or not re.fullmatch(EXCLUDE_OBSTYPE_PATTERN, value):
            raise ValueError(
                f"unknown OBSTYPE {bad or value!r}; give a comma-separated list of "
                f"{list(KNOWN_OBSTYPES)}"
            )
        return ",".join(dict.fromkeys(parts))

    @property
    def excluded_obstypes(self) -> tuple[str, ...]:
        """The OBSTYPEs of ``exclude_obstype``, upper-case (empty when not given)."""
        return tuple(self.exclude_obstype.split(",")) if self.exclude_obstype else ()

    @property
    def hidden_raw_obstypes(self) -> tuple[str, ...]:
        """OBSTYPEs of the raw files ``hide_raw_calibrations`` leaves out (or empty)."""
        return CALIBRATION_OBSTYPES if self.hide_raw_calibrations else ()

    @field_validator("ordering", mode="before")
    @classmethod
    def _check_ordering(cls, value: object) -> object:
        # Checked as sent (before stripping) against the documented pattern.
        if not isinstance(value, str):
            return value
        bad = [part for part in value.split(",") if not re.fullmatch(_ORDER_FIELD, part)]
        if bad:
            raise ValueError(
                f"cannot order by {bad}; use fields {list(ORDERING_FIELDS)}, "
                "optionally prefixed by '-' for descending"
            )
        return value


class FileIdQuery(_Query):
    id: int = Field(..., ge=1, le=2**62, description="File id.")


class VisualizeQuery(FileIdQuery):
    """A PNG preview of a 2D image or a 1D spectrum."""

    scale: Literal["zscale", "percentile", "minmax"] = Field(
        "zscale", description="How display limits are chosen (2D images)."
    )
    percentile: float = Field(
        99.5, gt=50, le=100, description="Central percentage kept by scale=percentile."
    )
    cmap: Literal[COLORMAPS] = Field("gray", description="Matplotlib colormap (2D images).")  # type: ignore[valid-type]
    width: int = Field(800, ge=100, le=2400, description="Pixels.")
    height: int = Field(600, ge=100, le=2400, description="Pixels.")


class LogQuery(_Query):
    proposal_id: int | None = Field(None, ge=1, le=2**62)
    file_id: int | None = Field(None, ge=1, le=2**62)
    level: Literal[LOG_LEVELS] | None = Field(None, description="Minimum level.")  # type: ignore[valid-type]
    before_id: int | None = Field(None, ge=1, le=2**62, description="Entries older than this id.")
    limit: int = Field(100, ge=1, le=1000)


class JobListQuery(PageQuery):
    state: Literal[JOB_STATES] | None = None  # type: ignore[valid-type]
    file_id: int | None = Field(None, ge=1, le=2**62)


class EventsQuery(_Query):
    after_id: int | None = Field(
        None, ge=0, le=2**62, description="Replay events after this id (else only new ones)."
    )


class EmptyQuery(_Query):
    pass


# --- bodies ---------------------------------------------------------------------------------


class FileAction(_Body):
    """Act on one file."""

    id: Id = Field(..., description="File id.")


class FileRegistration(_Body):
    """Register a FITS file already on disk under the data root (staff or instrument)."""

    full_path: str = Field(
        ..., min_length=1, max_length=1200, pattern="^/", description="Absolute path."
    )


class FileDeletion(_Body):
    """Delete several products at once (all or nothing)."""

    ids: list[Id] = Field(..., min_length=1, max_length=1000)


class ExtractAction(FileAction):
    lamp_id: Id | None = Field(
        None, description="Comparison lamp to use (default: chosen by the engine)."
    )


class WavelengthAction(FileAction):
    lamp_id: Id | None = Field(None, description="Extracted lamp file to calibrate with.")


class FluxAction(FileAction):
    standard_id: Id | None = Field(
        None,
        description=(
            "Standard star to calibrate with: any file of a standard frame (raw, reduced, "
            "extracted or wavelength calibrated) or its sensitivity master "
            "(default: the compatible standard nearest in time)."
        ),
    )


class CalibrationsAction(_Body):
    """Build master calibrations of a night."""

    date: IsoDate = Field(..., description="Night, YYYY-MM-DD.")
    kinds: list[Literal["bias", "flat"]] = Field(["bias", "flat"], min_length=1, max_length=2)

    model_config = ConfigDict(extra="forbid", strict=False)


def _no_null_defaults(schema: dict) -> None:
    """An omitted field keeps its value; null is not a value (the schema says so)."""
    for prop in schema.get("properties", {}).values():
        if prop.get("default", 0) is None:
            prop.pop("default")


class _Patch(_Body):
    """Base of partial updates: an omitted field keeps its value; null is not a value
    (the document says so: a null name or title reached the database as NULL, a 500)."""

    model_config = ConfigDict(json_schema_extra=_no_null_defaults)

    @field_validator("*", mode="before")
    @classmethod
    def _no_null(cls, value):
        if value is None:
            raise ValueError("null is not a value: omit the field to keep it")
        return value


class SettingsUpdate(_Patch):
    """A change of reduction settings; omitted fields keep their value (never null)."""

    saturation_threshold: float = Field(None, ge=0, le=100)
    cosmic_ray_rejection: Literal[COSMIC_RAY_METHODS] = None  # type: ignore[valid-type]
    technique: Literal[SETTINGS_TECHNIQUES] = Field(  # type: ignore[valid-type]
        None, description="'auto' lets each file's header decide."
    )
    ignore_bias: bool = None
    ignore_flats: bool = None
    min_bias_frames: Integral = Field(None, ge=1, le=1000)
    min_flat_frames: Integral = Field(None, ge=1, le=1000)
    flat_normalization: Literal[FLAT_NORMALIZATIONS] = None  # type: ignore[valid-type]
    flat_normalization_order: Integral = Field(None, ge=1, le=50)
    extraction_type: Literal[EXTRACTION_TYPES] = None  # type: ignore[valid-type]
    target_fit_model: Literal[TARGET_FIT_MODELS] = None  # type: ignore[valid-type]
    max_targets: Integral = Field(None, ge=1, le=20)
    pen_shift: Literal[LAMP_OFFSET_CHOICES] = Field(  # type: ignore[valid-type]
        None,
        description="A pen lamp's high-excitation Ar I offset: 'measure' reports it, the "
        "solution fitted to every line's NIST wavelength; 'apply' solves around it.",
    )
    bulb_separation: Literal[LAMP_OFFSET_CHOICES] = Field(  # type: ignore[valid-type]
        None,
        description="An HgArNe lamp's Ne bulb offset and slope: 'measure' reports them, the "
        "solution fitted to every line's NIST wavelength; 'apply' gives the HgAr bulb's.",
    )
    flux_calibration: bool = Field(
        None, description="Make flux-calibrated spectra (data_type 5) when a standard allows."
    )
    preferred_standard: SingleLine = Field(
        None,
        max_length=40,
        description="A standard star to prefer (e.g. 'LTT 3218'); empty: nearest in time.",
    )
    extinction_correction: bool = Field(
        None, description="Correct for airmass with the CTIO extinction curve."
    )

    # Strict (from _Body): booleans are true/false, numbers are JSON numbers (1.0 is the
    # integer 1); null refused (from _Patch).

    @field_validator("saturation_threshold", mode="before")
    @classmethod
    def _number(cls, value):
        # Strict mode takes a float only; a JSON integer is a number too.
        if isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        return value


class CollaboratorChange(_Body):
    """Add or remove a collaborator by email (an unknown address creates the account)."""

    email: EmailAddress
    action: Literal["add", "remove"]


USERNAME_PATTERN = r"^[A-Za-z0-9@.+_-]{1,150}$"
#: A SOAR semester: a year and A or B (2026B).
SEMESTER_PATTERN = r"^\d{4}[ABab]$"


class UserCreate(_Body):
    """A new account (staff only; ``is_staff`` only by a superuser)."""

    email: EmailAddress
    username: str | None = Field(
        None,
        min_length=1,
        max_length=150,
        pattern=USERNAME_PATTERN,
        description="Default: made from the email's local part.",
    )
    first_name: SingleLine = Field("", max_length=150)
    last_name: SingleLine = Field("", max_length=150)
    partner: SingleLine = Field(
        "", max_length=64, description="The user's partner institution or country, e.g. Brazil."
    )
    is_staff: bool = False


class UserUpdate(_Patch):
    """Changes to an account; omitted fields keep their value (never null).

    Users change their own names and e-mail; staff also ``partner`` and ``is_active`` of
    accounts that are not staff; only a superuser changes ``is_staff``.
    """

    first_name: SingleLine = Field(None, max_length=150)
    last_name: SingleLine = Field(None, max_length=150)
    email: EmailAddress = None
    partner: SingleLine = Field(None, max_length=64)
    is_active: bool = Field(
        None, description="false deactivates: no login, and every request refused at once."
    )
    is_staff: bool = None


def _soar_id_or_semester(schema: dict) -> None:
    """A new proposal names its SOAR id or the semester to number it in (the document
    says so: schemathesis sent neither, a schema-valid body the server refused)."""
    _no_null_defaults(schema)
    schema["anyOf"] = [{"required": ["soar_id"]}, {"required": ["semester"]}]


class ProposalCreate(_Body):
    """A new proposal (staff only); completes ingest's placeholder of the same id.

    ``soar_id`` or ``semester`` (or both) must be given, never null.
    """

    model_config = ConfigDict(json_schema_extra=_soar_id_or_semester)

    @field_validator("soar_id", "semester", mode="before")
    @classmethod
    def _no_null(cls, value):
        if value is None:
            raise ValueError("null is not a value: omit the field")
        return value

    soar_id: str = Field(
        None,
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$",
        description="E.g. SOAR2020B-008 (it also names the hub group). Default: the next "
        "free number of the semester (SOAR<semester>-NNN); then semester is required.",
    )
    title: SingleLine = Field(..., min_length=1, max_length=255)
    abstract: Text = Field("", max_length=20_000)
    # The pattern of ProposalUpdate's: an empty or free-text semester was documented as
    # valid, then refused (or stored as written).
    semester: str = Field(
        None,
        pattern=SEMESTER_PATTERN,
        description="E.g. 2026B. Default: taken from the SOAR id (2020B).",
    )
    pi_email: EmailAddress | None = Field(
        None,
        description="The PI; an unknown address creates the account and mails an invitation.",
    )


class ProposalUpdate(_Patch):
    """Changes to a proposal (staff); omitted fields keep their value (never null)."""

    title: SingleLine = Field(None, min_length=1, max_length=255)
    abstract: Text = Field(None, max_length=20_000)
    semester: str = Field(None, pattern=SEMESTER_PATTERN, description="E.g. 2026B.")
    pi_email: EmailAddress = Field(
        None,
        description="A new PI (an existing, active account); the former PI stays a "
        "collaborator, so nobody loses access by surprise.",
    )


class NextSoarIdQuery(_Query):
    semester: str | None = Field(
        None, pattern=SEMESTER_PATTERN, description="E.g. 2026B; default: today's semester."
    )


class NextSoarId(BaseModel):
    semester: str
    soar_id: str = Field(..., description="SOAR<semester>-NNN, one past the highest used.")


class UserListQuery(PageQuery):
    search: str | None = Field(
        None, min_length=1, max_length=100, description="Text in username, email or names."
    )
    is_staff: bool | None = None
    is_active: bool | None = None


class CommentCreate(_Body):
    text: Text = Field(..., min_length=1, max_length=5000)


class EmailRequest(_Body):
    """A notification from staff to addresses and/or the members of a proposal."""

    # Someone to send it to: addresses, or a proposal (whose members get it).
    model_config = ConfigDict(
        extra="forbid",
        strict=True,
        json_schema_extra={
            "anyOf": [
                {"required": ["to"], "properties": {"to": {"minItems": 1}}},
                {"required": ["proposal_id"], "properties": {"proposal_id": {"type": "integer"}}},
            ]
        },
    )

    subject: SingleLine = Field(..., min_length=1, max_length=200)
    message: Text = Field(..., min_length=1, max_length=20_000)
    to: list[EmailAddress] = Field(default_factory=list, max_length=100)
    proposal_id: Id | None = Field(None, description="Also mail its members.")


# --- responses ---------------------------------------------------------------------------------


class ErrorResponse(BaseModel):
    detail: str = Field(..., description="What is wrong and what would be right.")


class StatusResponse(BaseModel):
    status: Literal["ok"]
    version: str
    user: str
    staff: bool
    database: str
    time: dt.datetime


class EngineHealthRecord(BaseModel):
    """What one engine process last said about itself (its heartbeat)."""

    name: str
    state: str = Field(..., description="running, standby, starting or stopped")
    alive: bool = Field(..., description="its heartbeat is recent")
    heartbeat_age_seconds: float
    scheduler_connected: bool
    workers: int | None
    fault: str | None = Field(None, description="scheduler, storage or database, when failing")
    fault_since: dt.datetime | None
    fault_error: str | None
    started_at: dt.datetime | None


class QueueHealth(BaseModel):
    queued: int
    running: int
    oldest_queued_seconds: float | None


class HealthResponse(BaseModel):
    status: Literal["ok", "degraded", "stopped"]
    problems: list[str] = Field(..., description="What is wrong, for a person (the banner)")
    engine: EngineHealthRecord | None
    standbys: list[EngineHealthRecord]
    queue: QueueHealth
    last_product_at: dt.datetime | None
    disk_free_bytes: int | None
    time: dt.datetime


class FileRecord(BaseModel):
    """The seed's file record (DESIGN.md §4): same names, same JSON types; then the
    observation order listings sort by within a night (``date_obs``, ``frame_number``)."""

    id: int
    created: dt.datetime
    last_modified: dt.datetime
    original_file: str | None
    original_file_id: int | None
    parent_file: str | None
    parent_file_id: int | None
    file_name: str
    directory_name: str
    full_path: str
    obstype: str | None
    object: str | None
    filter: str | None
    filter_2: str | None
    grating: str | None
    slit: str | None
    cam_targ: str | None
    grt_targ: str | None
    obsra: str | None
    obsdec: str | None
    gain: str | None
    rdnoise: str | None
    roi: str | None
    wavmode: str | None
    proposal_id: str | None
    observation_id: int | None
    configuration_id: int | None
    block_id: int | None
    image_id: int | None
    date: dt.date | None
    data_type: Literal["0", "1", "2", "3", "4", "5"]
    normalized: bool
    technique: str | None
    saturation_value: int | None
    date_obs: dt.datetime | None = Field(
        ...,
        description="When the exposure started: the raw frame's DATE-OBS (else DATE) as "
        "ISO 8601 UTC; products carry their raw frame's. Null when the header has neither.",
    )
    frame_number: int | None = Field(
        ...,
        description="The frame number: the leading digits of the raw file's Goodman name "
        "(0042_target.fits -> 42); products carry their raw frame's. Null when the name "
        "has none.",
    )


class FilePage(BaseModel):
    count: int = Field(..., description="Rows matching (an estimate when count_is_estimate).")
    count_is_estimate: bool = Field(
        False, description="True when more rows match than the service counts exactly."
    )
    next: str | None
    previous: str | None
    results: list[FileRecord]


class HeaderCard(BaseModel):
    keyword: str
    value: str | int | float | bool | None
    comment: str


class HeaderResponse(BaseModel):
    id: int
    file_name: str
    header: list[HeaderCard]


class UserRecord(BaseModel):
    id: int
    username: str
    last_login: dt.datetime | None
    first_name: str
    last_name: str
    email: str
    is_staff: bool
    is_active: bool
    date_joined: dt.datetime


class ProposalRecord(BaseModel):
    """The seed's serialized proposal."""

    id: int
    soar_id: str
    semester: str
    title: str
    abstract: str
    user: UserRecord | None
    collaborators: list[UserRecord]


class UserAdminRecord(UserRecord):
    """An account as staff see it: the seed's user fields and its proposals."""

    proposals: list[str] = Field(..., description="SOAR ids it leads or collaborates on.")
    partner: str = Field("", description="Partner institution or country.")


class UserPage(BaseModel):
    count: int
    count_is_estimate: bool = False
    next: str | None
    previous: str | None
    results: list[UserAdminRecord]


class ProposalPage(BaseModel):
    count: int
    count_is_estimate: bool = False
    next: str | None
    previous: str | None
    results: list[ProposalRecord]


class SettingsRecord(BaseModel):
    id: int
    proposal_id: int
    version: int
    created_at: dt.datetime
    created_by_id: int | None
    saturation_threshold: float
    cosmic_ray_rejection: str
    technique: str
    ignore_bias: bool
    ignore_flats: bool
    min_bias_frames: int
    min_flat_frames: int
    flat_normalization: str
    flat_normalization_order: int
    extraction_type: str
    target_fit_model: str
    max_targets: int
    pen_shift: str
    bulb_separation: str
    flux_calibration: bool
    preferred_standard: str
    extinction_correction: bool


class JobRecord(BaseModel):
    id: int
    kind: str
    state: Literal[JOB_STATES]  # type: ignore[valid-type]
    product_key: str
    file_id: int | None
    proposal_id: int | None
    settings_id: int | None
    requested_by_id: int | None
    params: dict | None
    priority: int
    attempts: int
    max_attempts: int
    error: str | None
    created_at: dt.datetime
    run_after: dt.datetime | None
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    product_file_id: int | None


class QueuedJobs(BaseModel):
    """What an action queued; a job already queued for the same product is reused."""

    detail: str
    jobs: list[JobRecord]


class JobPage(BaseModel):
    count: int
    count_is_estimate: bool = False
    next: str | None
    previous: str | None
    results: list[JobRecord]


class DeletedFiles(BaseModel):
    detail: str
    deleted: list[int]


class FileVersion(BaseModel):
    """One version of a product (its record is at ``api/files/<id>/`` while current)."""

    id: int
    file_name: str
    version: int
    created: dt.datetime
    superseded_at: dt.datetime | None
    current: bool


class FileVersions(BaseModel):
    """A product's versions, oldest first; ``current`` is the id requests are sent to
    (``None`` when the lineage has no current version)."""

    count: int
    current: int | None
    results: list[FileVersion]


class CommentRecord(BaseModel):
    id: int
    file_id: int
    user: str | None
    text: str
    created_at: dt.datetime


class CommentList(BaseModel):
    results: list[CommentRecord]


class LogRecord(BaseModel):
    id: int
    time: dt.datetime
    level: str
    event: str | None
    message: str
    file_id: int | None
    proposal_id: int | None
    job_id: int | None
    user_id: int | None


class LogList(BaseModel):
    results: list[LogRecord]


class EmailSent(BaseModel):
    detail: str
    recipients: list[str]


class FileRegistered(BaseModel):
    detail: str
    created: bool
    file: FileRecord


class LampCandidate(BaseModel):
    """One arc the lamp chooser offers: one that Automatic hands the worker."""

    id: int = Field(..., description="The reduced arc (data_type 2); give it as lamp_id.")
    file_name: str
    object: str | None
    date: dt.date | None
    lamps: str | None = Field(
        ..., description="Comparison lamps switched on (LAMP_* cards), e.g. 'HgAr+Ne'."
    )
    seconds_from_science: float | None = Field(
        ...,
        description="DATE-OBS of the arc minus the science's (negative: taken before); "
        "null when a header lacks it.",
    )
    used: bool = Field(
        ..., description="Named in GSP_LAMP of the frame's current calibrated spectra."
    )


class RefusedArc(BaseModel):
    """An arc of the night the proposal may use, left out by the setup rule."""

    id: int
    file_name: str
    reason: str


class LampChoices(BaseModel):
    """What "Automatic" chooses from for a science frame, and what it took."""

    file_id: int = Field(..., description="The file asked about.")
    science_id: int = Field(..., description="The reduced science frame that is calibrated.")
    candidates: list[LampCandidate] = Field(
        ...,
        description="The arcs Automatic hands the worker (its own or no proposal's, of "
        "the frame's night and setup), in its order: nearest in time first. The worker "
        "combines those it can solve.",
    )
    automatic: list[int] = Field(..., description="Ids Automatic would use now: every candidate.")
    used: list[int] = Field(
        ...,
        description="Candidate ids named in GSP_LAMP of the frame's current calibrated "
        "spectra (empty before a calibration).",
    )
    used_automatically: bool | None = Field(
        ...,
        description="Whether the job that made those spectra let the engine choose (true) "
        "or was given a lamp (false); null when there is none.",
    )
    refused: list[RefusedArc] = Field(
        ..., description="Arcs of the night of another setup, with the reason."
    )


class StandardCandidate(BaseModel):
    """One sensitivity master the standard chooser offers: one Automatic may take."""

    id: int = Field(
        ..., description="The sensitivity master (data_type 1); give it as standard_id."
    )
    file_name: str
    standard: str | None = Field(..., description="The standard star (GSP_SSTD card).")
    date: dt.date | None
    days_from_spectrum: float | None = Field(
        ...,
        description="|DATE-OBS of the standard - the spectrum's| in days; null when a "
        "header lacks it.",
    )
    used: bool = Field(
        ...,
        description="Named in GSP_SENS of the spectrum's current flux-calibrated product.",
    )


class RefusedStandard(BaseModel):
    """A sensitivity master the proposal may use, left out by the setup rule."""

    id: int
    file_name: str
    reason: str


class StandardChoices(BaseModel):
    """What "Automatic" chooses from to flux-calibrate a spectrum, and what it took."""

    file_id: int = Field(..., description="The file asked about.")
    spectrum_id: int = Field(
        ...,
        description="The spectrum whose header decides (data_type 4; for a frame its "
        "brightest), or the reduced frame when it has none yet.",
    )
    standard_frame: bool = Field(
        ...,
        description="The frame is a standard star's: Automatic makes its own sensitivity "
        "first and uses it.",
    )
    candidates: list[StandardCandidate] = Field(
        ...,
        description="The sensitivities of the spectrum's setup (its proposal's or no "
        "proposal's, of its night and the nights before) in the order Automatic takes "
        "them: the proposal's preferred star first, then nearest in time.",
    )
    automatic: int | None = Field(
        ..., description="The id Automatic would use now (the first candidate), or null."
    )
    used: int | None = Field(
        ...,
        description="The candidate named in GSP_SENS of the spectrum's current "
        "flux-calibrated product; null before a flux calibration.",
    )
    refused: list[RefusedStandard] = Field(
        ..., description="Sensitivities of another setup, with the reason."
    )
