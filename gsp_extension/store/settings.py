"""Reduction settings per proposal, versioned: a change inserts the next version."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .errors import InvalidValue, NotFound, PermissionDenied
from .models import (
    COSMIC_RAY_METHODS,
    EXTRACTION_TYPES,
    FLAT_NORMALIZATIONS,
    TARGET_FIT_MODELS,
    TECHNIQUES,
    Proposal,
    ReductionSettings,
    User,
)
from .proposals import is_member

#: Defaults of the seed's settings form (DESIGN.md §6).
DEFAULT_SETTINGS: dict[str, Any] = {
    "saturation_threshold": 1.0,
    "cosmic_ray_rejection": "default",
    "technique": "Spectroscopy",
    "ignore_bias": False,
    "ignore_flats": False,
    "min_bias_frames": 10,
    "min_flat_frames": 10,
    "flat_normalization": "simple",
    "flat_normalization_order": 15,
    "extraction_type": "fractional",
    "target_fit_model": "moffat",
    "max_targets": 3,
}
SETTINGS_FIELDS = tuple(DEFAULT_SETTINGS)

_CHOICES = {
    "cosmic_ray_rejection": COSMIC_RAY_METHODS,
    "technique": TECHNIQUES,
    "flat_normalization": FLAT_NORMALIZATIONS,
    "extraction_type": EXTRACTION_TYPES,
    "target_fit_model": TARGET_FIT_MODELS,
}
_POSITIVE_INTS = ("min_bias_frames", "min_flat_frames", "flat_normalization_order", "max_targets")
_BOOLS = ("ignore_bias", "ignore_flats")


def validate_settings(values: Mapping[str, Any]) -> dict[str, Any]:
    """Check a (partial) settings mapping and return it with normalised types.

    Raises
    ------
    InvalidValue
        Listing every bad field with what it should be.
    """
    problems: list[str] = []
    clean: dict[str, Any] = {}
    for name, value in values.items():
        if name not in DEFAULT_SETTINGS:
            problems.append(f"{name}: unknown setting (known: {', '.join(SETTINGS_FIELDS)})")
        elif name in _CHOICES:
            if value not in _CHOICES[name]:
                problems.append(f"{name}: {value!r} is not one of {list(_CHOICES[name])}")
            else:
                clean[name] = value
        elif name in _BOOLS:
            if not isinstance(value, bool):
                problems.append(f"{name}: {value!r} must be true or false")
            else:
                clean[name] = value
        elif name in _POSITIVE_INTS:
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                problems.append(f"{name}: {value!r} must be an integer >= 1")
            else:
                clean[name] = value
        elif name == "saturation_threshold":
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not 0 <= value <= 100
            ):
                problems.append(f"{name}: {value!r} must be a percentage between 0 and 100")
            else:
                clean[name] = float(value)
    if problems:
        raise InvalidValue("invalid reduction settings: " + "; ".join(problems))
    return clean


def settings_values(row: ReductionSettings) -> dict[str, Any]:
    """The setting values of one version, as a plain dict."""
    return {name: getattr(row, name) for name in SETTINGS_FIELDS}


def settings_record(row: ReductionSettings) -> dict[str, Any]:
    """A JSON-ready record of one settings version (for the API)."""
    return {
        "id": row.id,
        "proposal_id": row.proposal_id,
        "version": row.version,
        "created_at": row.created_at.isoformat(),
        "created_by_id": row.created_by_id,
        **settings_values(row),
    }


def get_settings(
    session: Session, proposal_id: int, version: int | None = None
) -> ReductionSettings:
    """One version of a proposal's settings; the newest when ``version`` is ``None``.

    Raises
    ------
    NotFound
    """
    query = select(ReductionSettings).where(ReductionSettings.proposal_id == proposal_id)
    if version is None:
        query = query.order_by(ReductionSettings.version.desc()).limit(1)
    else:
        query = query.where(ReductionSettings.version == version)
    row = session.scalar(query)
    if row is None:
        what = "any settings" if version is None else f"settings version {version}"
        raise NotFound(f"proposal {proposal_id} has no {what}")
    return row


def can_edit_settings(user: User, proposal: Proposal) -> bool:
    """PI and staff edit a proposal's settings (DESIGN.md §5)."""
    return user.is_active and (user.is_staff or proposal.pi_id == user.id)


def can_read_settings(session: Session, user: User, proposal: Proposal) -> bool:
    """Members and staff read a proposal's settings."""
    return user.is_active and (user.is_staff or is_member(session, user, proposal))


def put_settings(
    session: Session,
    proposal: Proposal,
    changes: Mapping[str, Any],
    *,
    by: User | None = None,
) -> ReductionSettings:
    """Record a change of settings as a new version.

    Unchanged fields are carried over from the newest version. A change that changes
    nothing returns the newest version as is (no empty versions).

    Parameters
    ----------
    by : User, optional
        The acting user; when given they must be the PI or staff.

    Raises
    ------
    PermissionDenied, InvalidValue
    """
    if by is not None and not can_edit_settings(by, proposal):
        raise PermissionDenied(
            f"user {by.username!r} is not the PI of {proposal.soar_id!r} nor staff; only "
            "they edit its reduction settings"
        )
    clean = validate_settings(changes)
    for _ in range(5):
        current = session.scalar(
            select(ReductionSettings)
            .where(ReductionSettings.proposal_id == proposal.id)
            .order_by(ReductionSettings.version.desc())
            .limit(1)
        )
        base = settings_values(current) if current is not None else dict(DEFAULT_SETTINGS)
        new_values = {**base, **clean}
        if current is not None and new_values == base:
            return current
        next_version = (
            session.scalar(
                select(func.max(ReductionSettings.version)).where(
                    ReductionSettings.proposal_id == proposal.id
                )
            )
            or 0
        ) + 1
        row = ReductionSettings(
            proposal_id=proposal.id,
            version=next_version,
            created_by_id=by.id if by is not None else None,
            **new_values,
        )
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:
            # Another writer took this version number first: rebuild on top of theirs.
            continue
        return row
    raise RuntimeError(f"could not record settings for {proposal.soar_id!r}: too many conflicts")
