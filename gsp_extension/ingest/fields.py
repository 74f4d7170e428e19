"""The seed's API record fields of a raw file, from its header and classification."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from gsp_extension.store.files import printable

#: Width of the text columns (``gsp_extension.store.models.File``); longer values are
#: cut rather than refused, so an odd header never keeps a file out.
_TEXT_COLUMNS = {
    "obstype": ("OBSTYPE", 32),
    "object": ("OBJECT", 128),
    "filter": ("FILTER", 64),
    "filter_2": ("FILTER2", 64),
    "grating": ("GRATING", 64),
    "slit": ("SLIT", 64),
    "cam_targ": ("CAM_TARG", 32),
    "grt_targ": ("GRT_TARG", 32),
    "obsra": ("OBSRA", 32),
    "obsdec": ("OBSDEC", 32),
    "gain": ("GAIN", 32),
    "rdnoise": ("RDNOISE", 32),
    "roi": ("ROI", 64),
    "wavmode": ("WAVMODE", 64),
    "proposal_id": ("PROPID", 64),
}
_INT_COLUMNS = {
    "observation_id": ("OBSID",),
    "configuration_id": ("CONFID",),
    "block_id": ("BLOCK_ID", "BLKUID"),
    "image_id": ("IMAGEID",),
}

#: Hours subtracted from the UT start of an exposure to get its night's date.
NIGHT_OFFSET_HOURS = 12


def night_date(date_obs: dt.datetime | None) -> dt.date | None:
    """The date of the night an exposure belongs to (the evening's date).

    At SOAR (UTC-3/-4) a night runs from about 21 h to 10 h UT, so the UT date changes
    mid-night. Shifting by :data:`NIGHT_OFFSET_HOURS` puts a whole night, and the
    afternoon calibrations before it, on the evening's date, as the seed's records do
    (an ARC taken at 00:30 UT on 2020-11-27 has ``"date": "2020-11-26"``).
    """
    if date_obs is None:
        return None
    return (date_obs - dt.timedelta(hours=NIGHT_OFFSET_HOURS)).date()


def _text(value: Any, width: int) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        value = "T" if value else "F"
    # A damaged card's control characters are marked, not stored (the database refuses
    # them), as an over-long value is cut: an odd header never keeps a file out.
    text = printable(str(value)).strip()
    if not text or type(value).__name__ == "Undefined":
        return None
    return text[:width]


def _integer(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    return int(number) if number.is_integer() else None


def record_fields(header: Mapping[str, Any], classification: Any) -> dict[str, Any]:
    """Seed record fields of a raw file.

    Text fields keep the header's own spelling (the seed shows ``"LAMPFLAT"``, not the
    classifier's role); ``technique`` and ``saturation_value`` come from the classifier;
    ``date`` is the night's date (:func:`night_date`).

    Parameters
    ----------
    header : astropy.io.fits.Header or mapping
    classification : pipeline.classify.Classification
    """
    fields: dict[str, Any] = {
        name: _text(header.get(key), width) for name, (key, width) in _TEXT_COLUMNS.items()
    }
    for name, keys in _INT_COLUMNS.items():
        fields[name] = next(
            (v for v in (_integer(header.get(k)) for k in keys) if v is not None), None
        )
    fields["date"] = night_date(classification.date_obs)
    fields["normalized"] = False
    fields["technique"] = classification.technique or None
    fields["saturation_value"] = int(classification.saturation) if classification.ok else None
    return fields
