"""``GET api/files/<id>/lamps/``: the arcs the lamp chooser offers for a science frame.

The list is the job engine's own automatic choice
(:func:`gsp_extension.engine.arcs.automatic_arcs`: same filter, same order), so the
chooser offers exactly what "Automatic" chooses from, and marks what the frame's current
calibrated spectra were made with (their ``GSP_LAMP``). Every arc listed is the frame's
proposal's or no proposal's: another proposal's arc is never offered nor named, even to
staff, since it could not calibrate this frame.
"""

from __future__ import annotations

from ..engine.arcs import arcs_used, automatic_arcs, science_frame, seconds_between
from ..engine.calibrations import stored_header
from ..security import get_visible_file
from .base import GSPHandler
from .schemas import EmptyQuery, LampCandidate, LampChoices, RefusedArc


def lamps_on(cards: dict) -> str | None:
    """Comparison lamps switched on in a stored header, e.g. ``"HgAr+Ne"``."""
    from pipeline.lamps import LAMP_KEYWORDS

    on = [
        name
        for key, name in LAMP_KEYWORDS.items()
        if str(cards.get(key, "")).strip().upper() in {"TRUE", "T", "1", "ON", "YES"}
    ]
    return "+".join(on) or None


def lamp_choices(session, caller, file_id: int) -> LampChoices:
    """The chooser's answer for a file the caller sees (a reduced science frame or a
    spectrum extracted from one).

    Raises
    ------
    NotFound
        The caller does not see the file.
    InvalidState
        The file is not a science frame or spectrum this service extracted (409).
    """
    file = get_visible_file(session, caller, file_id)
    science = science_frame(session, file)
    choice = automatic_arcs(session, science)
    used = arcs_used(session, science)
    candidates = [
        LampCandidate(
            id=arc.id,
            file_name=arc.file_name,
            object=arc.object,
            date=arc.date,
            lamps=lamps_on(stored_header(arc)),
            seconds_from_science=seconds_between(arc, science),
            used=arc.file_name in used.names,
        )
        for arc in choice.candidates
    ]
    return LampChoices(
        file_id=file.id,
        science_id=science.id,
        candidates=candidates,
        automatic=[c.id for c in candidates],
        # only names of listed arcs: a GSP_LAMP may name an arc chosen by hand elsewhere
        used=[c.id for c in candidates if c.used],
        used_automatically=used.automatic,
        refused=[
            RefusedArc(id=a.id, file_name=a.file_name, reason=why) for a, why in choice.refused
        ],
    )


class LampChoicesHandler(GSPHandler):
    async def get(self, file_id: str) -> None:
        self.query(EmptyQuery)
        fid = self.int_arg(file_id, "file id")
        self.reply(await self.db(lambda s, c: lamp_choices(s, c, fid)))
