"""``GET api/files/<id>/standards/``: the sensitivities the standard chooser offers.

The list is the job engine's own automatic choice
(:func:`gsp_extension.engine.flux.automatic_standards`: same nights, same setup rule,
same order as the worker's :func:`pipeline.fluxcal.apply.choose_sensitivity`), so the
chooser offers exactly what "Automatic" chooses from, and marks the one the spectrum's
current flux product was made with (its ``GSP_SENS``). Every master listed is the
spectrum's proposal's or no proposal's: another proposal's standard is never offered
nor named, even to staff, since it may not calibrate this proposal's data.
"""

from __future__ import annotations

import datetime as dt

from ..engine.calibrations import stored_header
from ..engine.flux import automatic_standards, is_standard_frame, sensitivity_used
from ..security import get_visible_file
from .base import GSPHandler
from .schemas import EmptyQuery, RefusedStandard, StandardCandidate, StandardChoices


def _days_between(cards: dict, spectrum_cards: dict) -> float | None:
    """|GSP_SDAT - DATE-OBS| in days, as the pipeline ages a sensitivity (None if unknown)."""
    try:
        made = dt.datetime.fromisoformat(str(cards.get("GSP_SDAT") or "").strip())
        seen = dt.datetime.fromisoformat(str(spectrum_cards.get("DATE-OBS") or "").strip())
    except ValueError:
        return None
    return abs((seen - made).total_seconds()) / 86400.0


def standard_choices(session, caller, file_id: int) -> StandardChoices:
    """The chooser's answer for a file the caller sees (a spectrum or its frame).

    Raises
    ------
    NotFound
        The caller does not see the file.
    InvalidState
        The file has no reduced frame, or is an arc (409).
    """
    file = get_visible_file(session, caller, file_id)
    choice = automatic_standards(session, file)
    spectrum_cards = stored_header(choice.spectrum)
    used = sensitivity_used(session, choice.spectrum)
    candidates = [
        StandardCandidate(
            id=row.id,
            file_name=row.file_name,
            standard=str(stored_header(row).get("GSP_SSTD") or "") or None,
            date=row.date,
            days_from_spectrum=_days_between(stored_header(row), spectrum_cards),
            used=row.file_name == used,
        )
        for row in choice.candidates
    ]
    return StandardChoices(
        file_id=file.id,
        spectrum_id=choice.spectrum.id,
        standard_frame=is_standard_frame(choice.reduced),
        candidates=candidates,
        automatic=candidates[0].id if candidates else None,
        # only a listed master: a GSP_SENS may name a standard chosen by hand elsewhere
        used=next((c.id for c in candidates if c.used), None),
        refused=[
            RefusedStandard(id=r.id, file_name=r.file_name, reason=why) for r, why in choice.refused
        ],
    )


class StandardChoicesHandler(GSPHandler):
    async def get(self, file_id: str) -> None:
        self.query(EmptyQuery)
        fid = self.int_arg(file_id, "file id")
        self.reply(await self.db(lambda s, c: standard_choices(s, c, fid)))
