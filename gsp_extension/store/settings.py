"""Reduction settings per proposal, versioned: a change inserts the next version."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from pipeline.settings import FluxSettings
from pipeline.settings import ReductionSettings as PipelineSettings

from .errors import InvalidValue, NotFound
from .models import Proposal, ReductionSettings, User

#: Defaults of the seed's settings form (DESIGN.md §6), as the pipeline defines them.
DEFAULT_SETTINGS: dict[str, Any] = PipelineSettings().to_dict()
SETTINGS_FIELDS = tuple(DEFAULT_SETTINGS)
#: Flux calibration defaults for SOAR (on, nearest standard in time, CTIO extinction on):
#: stored in the same versioned row, kept apart because the pipeline takes them apart.
DEFAULT_FLUX_SETTINGS: dict[str, Any] = FluxSettings().to_dict()
FLUX_SETTINGS_FIELDS = tuple(DEFAULT_FLUX_SETTINGS)
_ALL_DEFAULTS = {**DEFAULT_SETTINGS, **DEFAULT_FLUX_SETTINGS}


def validate_settings(values: Mapping[str, Any]) -> dict[str, Any]:
    """Check a (partial) settings mapping and return it with normalised values.

    Validation is :class:`pipeline.settings.ReductionSettings`' own, field by field, so
    the form, the database and the pipeline accept exactly the same values.

    Parameters
    ----------
    values : mapping of str to object
        Setting name (reduction or flux, as stored) to the value given.

    Returns
    -------
    dict of str to object
        The same names with normalised values (``"LACosmic"`` -> ``"lacosmic"``...).

    Raises
    ------
    InvalidValue
        Listing every bad field with what it accepts.
    """
    problems: list[str] = []
    clean: dict[str, Any] = {}
    for name, value in values.items():
        if name not in _ALL_DEFAULTS:
            known = ", ".join(SETTINGS_FIELDS + FLUX_SETTINGS_FIELDS)
            problems.append(f"{name}: unknown setting (known: {known})")
            continue
        kind = FluxSettings if name in DEFAULT_FLUX_SETTINGS else PipelineSettings
        try:
            clean[name] = getattr(kind(**{name: value}), name)
        except ValueError as exc:
            problems.append(str(exc))
    if problems:
        raise InvalidValue("invalid reduction settings: " + "; ".join(problems))
    return clean


def to_pipeline_settings(row: ReductionSettings) -> PipelineSettings:
    """Build the pipeline's settings object for one stored version.

    Parameters
    ----------
    row : ReductionSettings
        One stored settings version (the database row).

    Returns
    -------
    pipeline.settings.ReductionSettings
        The reduction settings (flux settings aside).
    """
    return PipelineSettings(**settings_values(row))


def settings_values(row: ReductionSettings) -> dict[str, Any]:
    """Give the setting values of one version, as a plain dict.

    Parameters
    ----------
    row : ReductionSettings
        One stored settings version (the database row).

    Returns
    -------
    dict of str to object
        ``SETTINGS_FIELDS`` to their values.
    """
    return {name: getattr(row, name) for name in SETTINGS_FIELDS}


def flux_settings_values(row: ReductionSettings) -> dict[str, Any]:
    """Give the flux calibration values of one version (:class:`pipeline.settings.FluxSettings`).

    Parameters
    ----------
    row : ReductionSettings
        One stored settings version (the database row).

    Returns
    -------
    dict of str to object
        ``FLUX_SETTINGS_FIELDS`` to their values.
    """
    return {name: getattr(row, name) for name in FLUX_SETTINGS_FIELDS}


def settings_record(row: ReductionSettings) -> dict[str, Any]:
    """Make a JSON-ready record of one settings version (for the API).

    Parameters
    ----------
    row : ReductionSettings
        One stored settings version (the database row).

    Returns
    -------
    dict of str to object
        Id, proposal id, version, creation time (ISO 8601) and author's id, then every
        reduction and flux setting.
    """
    return {
        "id": row.id,
        "proposal_id": row.proposal_id,
        "version": row.version,
        "created_at": row.created_at.isoformat(),
        "created_by_id": row.created_by_id,
        **settings_values(row),
        **flux_settings_values(row),
    }


def get_settings(
    session: Session, proposal_id: int, version: int | None = None
) -> ReductionSettings:
    """Fetch one version of a proposal's settings; the newest when ``version`` is ``None``.

    Parameters
    ----------
    session : sqlalchemy.orm.Session
        Open session.
    proposal_id : int
        The proposal's database id.
    version : int or None
        The version number (from 1); ``None`` for the newest.

    Returns
    -------
    ReductionSettings
        The stored version.

    Raises
    ------
    NotFound
        The proposal has no settings, or not that version.
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
    session : sqlalchemy.orm.Session
        Open session; the caller commits.
    proposal : Proposal
        The proposal.
    changes : mapping of str to object
        The settings to change (others carried over), checked by
        :func:`validate_settings`.
    by : User, optional
        Who made the change (recorded). Who may is the access policy's
        (:meth:`gsp_extension.security.AccessPolicy.may_manage`).

    Returns
    -------
    ReductionSettings
        The new version, or the newest one when nothing changed.

    Raises
    ------
    InvalidValue
        A bad setting (every bad one is listed).
    RuntimeError
        Five concurrent writers in a row took the next version number first.
    """
    clean = validate_settings(changes)
    for _ in range(5):
        current = session.scalar(
            select(ReductionSettings)
            .where(ReductionSettings.proposal_id == proposal.id)
            .order_by(ReductionSettings.version.desc())
            .limit(1)
        )
        base = (
            {**settings_values(current), **flux_settings_values(current)}
            if current is not None
            else dict(_ALL_DEFAULTS)
        )
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
