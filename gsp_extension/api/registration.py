"""Seed record fields of a FITS file read from its primary header (``POST api/files/``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .base import APIError


def _num(value: float | None) -> str | None:
    return None if value is None else f"{value:g}"


def read_registration_fields(path: Path) -> tuple[dict[str, Any], Any, int]:
    """Read a FITS file's header and classify it.

    Returns
    -------
    (fields, header, data_type)
        Seed fields for :func:`gsp_extension.store.files.register_file`, the primary
        header, and the data type (0 raw, or 1 for a master calibration by RLEVEL=61).

    Raises
    ------
    APIError
        400 when the file is not a readable FITS file, or is a product other than a
        master calibration (products are registered by the pipeline with their parent).
    """
    from pipeline.classify import classify, read_primary_header
    from pipeline.vocabulary import DataType, data_type_from_rlevel

    try:
        header = read_primary_header(path)
    except (OSError, ValueError) as exc:
        raise APIError(400, f"{path.name} cannot be registered: {exc}") from None
    rlevel = header.get("RLEVEL")
    product = data_type_from_rlevel(rlevel) if isinstance(rlevel, int) else None
    data_type = product if product is not None else DataType.RAW
    if data_type not in (DataType.RAW, DataType.MASTER_CALIBRATION):
        raise APIError(
            400,
            f"{path.name} is a product (RLEVEL={rlevel}); POST api/files/ registers raw "
            "files and master calibrations, products are registered by the pipeline",
        )
    c = classify(header, path=path)
    date = c.date_obs.date() if c.date_obs is not None else None
    fields: dict[str, Any] = {
        "obstype": c.obstype_raw or None,
        "object": c.object or None,
        "filter": c.filter or None,
        "filter_2": c.filter2 or None,
        "grating": c.grating or None,
        "slit": c.slit or None,
        "cam_targ": _num(c.cam_targ),
        "grt_targ": _num(c.grt_targ),
        "obsra": c.obsra or None,
        "obsdec": c.obsdec or None,
        "gain": _num(c.gain),
        "rdnoise": _num(c.rdnoise),
        "roi": c.roi or None,
        "wavmode": None if c.wavmode in ("", "unknown") else c.wavmode,
        "proposal_id": c.proposal_id or None,
        "date": date,
        "technique": c.technique or None,
        "saturation_value": c.saturation,
    }
    return fields, header, data_type
