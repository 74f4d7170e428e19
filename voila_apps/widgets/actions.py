"""Contextual actions of the file shown: what can be done depends on the frame.

Technique-aware: an imaging frame is reduced and looked at as an image, never
extracted; a raw bias or flat is not reduced on its own (the engine combines them
into master calibrations), a master calibration is only looked at. Spectroscopy:
raw -> Reduce, reduced -> Extract (lamp chooser), extracted -> Calibrate Wavelength
(chooser of compatible arcs), wavelength or flux calibrated -> Calibrate Flux (chooser
of standard stars, :mod:`.standards`). Permission-aware: no button the API would refuse (raw
data is never deleted; master calibrations, shared by every proposal, only by staff;
other products by the proposal's members, who are the only ones to see them, and
staff). Every file: Download, Advanced Visualization.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ipywidgets as w

from gsp_extension.client import DataType

from .errors import GSPError, error_html
from .lamps import is_arc
from .shared_models import shared_layout

#: The chooser's value for "let the engine choose" (a Dropdown cannot hold None as a value).
AUTOMATIC = 0
AUTOMATIC_CHOICE = ("Automatic (the engine chooses)", AUTOMATIC)
AUTOMATIC_STANDARD = ("Automatic (nearest standard in time)", AUTOMATIC)
#: Spectra that "Calibrate Flux" takes (their frame's spectra are calibrated again).
FLUX_INPUTS = (DataType.WAVELENGTH_CALIBRATED, DataType.FLUX_CALIBRATED)


@dataclass(frozen=True)
class Action:
    key: str
    label: str
    icon: str
    danger: bool = False


#: OBSTYPEs of frames the engine combines into master calibrations.
COMBINED_OBSTYPES = frozenset({"BIAS", "FLAT", "DARK"})


def is_imaging(record: dict) -> bool:
    """An imaging frame (``technique`` Imaging; raw frames of old ingests carry only the
    Goodman imaging OBSTYPE ``EXPOSE``)."""
    technique = str(record.get("technique") or "").strip().lower()
    if technique:
        return technique.startswith("imag")
    return str(record.get("obstype") or "").strip().upper() == "EXPOSE"


def actions_for(record: dict, staff: bool = False) -> list[Action]:
    """The actions offered for a file record, in display order, for a user who is
    staff or not (anyone who sees a product that is not a master calibration is a
    member of its proposal)."""
    t = DataType(int(record["data_type"]))
    combined = str(record.get("obstype") or "").strip().upper() in COMBINED_OBSTYPES
    spectroscopy = not is_imaging(record)
    out = [
        Action("download", "Download", "download"),
        Action("advanced", "Advanced Visualization", "image"),
    ]
    if t == DataType.RAW and not combined:
        out.insert(0, Action("reduce", "Reduce", "cogs"))
    elif t == DataType.REDUCED and spectroscopy and not combined:
        out.insert(0, Action("extract", "Extract", "crosshairs"))
    elif t == DataType.EXTRACTED and spectroscopy:
        out.insert(0, Action("wavelength", "Calibrate Wavelength", "bar-chart"))
    elif t in FLUX_INPUTS and spectroscopy and not is_arc(record):
        out.insert(0, Action("flux", "Calibrate Flux", "line-chart"))
    if t.is_product and (staff or t != DataType.MASTER_CALIBRATION):
        out.append(Action("delete", "Delete", "trash", danger=True))
    return out


def lamp_choices(client: Any, record: dict) -> list[tuple[str, int]]:
    """The chooser's options for ``record``: :data:`AUTOMATIC` first, saying what it would
    use (or used), then exactly the arcs it chooses from, in its order (see :mod:`.lamps`)."""
    from .lamps import automatic_label, lamp_menu, lamp_options

    menu = lamp_menu(client, record)
    return [(automatic_label(menu), AUTOMATIC), *lamp_options(menu)]


class ActionBar(w.VBox):
    """Buttons for the file shown; runs actions through the client.

    Parameters
    ----------
    client : GSPClient-like
    on_job : callable
        Called with each job an action queued.
    on_advanced : callable
        Toggles the advanced visualization panel.
    on_deleted : callable
        Called with the record deleted.
    background : bool
        Look for compatible arcs on a thread (the plot does not wait for them); False
        fills the chooser before :meth:`show` returns.
    staff : bool
        The user is staff (offered Delete on master calibrations).
    """

    def __init__(
        self,
        client: Any,
        on_job: Callable[[dict], None],
        on_advanced: Callable[[], None],
        on_deleted: Callable[[dict], None],
        background: bool = True,
        staff: bool = False,
    ) -> None:
        self.client = client
        self.background = background
        self.staff = staff
        self.on_job = on_job
        self.on_advanced = on_advanced
        self.on_deleted = on_deleted
        self.record: dict | None = None
        self._lamps_pending = False  # a chooser waits for find_lamps()
        self.buttons = w.HBox(
            layout=shared_layout(flex_flow="row wrap"), _dom_classes=("gsp-actions",)
        )
        self.lamp = w.Dropdown(
            description="Comparison lamp",
            style={"description_width": "initial"},
            layout=w.Layout(width="70%", display="none"),
            _dom_classes=("gsp-lamp",),
        )
        self.lamp_note = w.HTML(layout=w.Layout(display="none"), _dom_classes=("gsp-lamp-note",))
        self._standards_pending = False
        self.standard = w.Dropdown(
            description="Standard star",
            style={"description_width": "initial"},
            layout=w.Layout(width="70%", display="none"),
            _dom_classes=("gsp-standard",),
        )
        self.standard_note = w.HTML(
            layout=w.Layout(display="none"), _dom_classes=("gsp-standard-note",)
        )
        self.confirm = w.HBox(layout=w.Layout(display="none"))
        self.message = w.HTML()
        self.download_link = w.HTML()
        super().__init__(
            [
                self.buttons,
                self.lamp,
                self.lamp_note,
                self.standard,
                self.standard_note,
                self.confirm,
                self.message,
                self.download_link,
            ]
        )

    def show(self, record: dict, find_lamps: bool = True) -> None:
        """Buttons for ``record``; ``find_lamps=False`` leaves the arc search to a later
        :meth:`find_lamps` (the data view starts it once the plot is drawn)."""
        self.record = record
        self._lamps_pending = False
        self.message.value = ""
        self.download_link.value = ""
        self.confirm.layout.display = "none"
        buttons = []
        for action in actions_for(record, self.staff):
            b = w.Button(
                description=action.label,
                icon=action.icon,
                layout=shared_layout(width="auto", flex="1 1 auto", margin="4px"),
            )
            if action.danger:
                b.add_class("mod-danger")
            b.action = action.key
            b.on_click(lambda _, k=action.key: self.run(k))
            buttons.append(b)
        self.buttons.children = buttons
        offered = {b.action for b in buttons}
        if offered & {"extract", "wavelength"} and not is_arc(record):
            self.lamp.options = [AUTOMATIC_CHOICE]
            self.lamp.value = AUTOMATIC
            self.lamp.layout.display = "flex"
            self.lamp_note.layout.display = "block"
            self.lamp_note.value = "<span class='gsp-muted'>Looking for compatible arcs…</span>"
            self._lamps_pending = True
        else:
            self.lamp.options = []
            self.lamp.layout.display = "none"
            self.lamp_note.layout.display = "none"
        self._offer_standards("flux" in offered)
        if find_lamps:
            self.find_lamps()

    def _offer_standards(self, offered: bool) -> None:
        """Show the standard chooser (filled by :meth:`find_lamps`) or hide it."""
        self._standards_pending = offered
        display = "flex" if offered else "none"
        self.standard.options = [AUTOMATIC_STANDARD] if offered else []
        self.standard.value = AUTOMATIC if offered else None
        self.standard.layout.display = display
        self.standard_note.layout.display = "block" if offered else "none"
        self.standard_note.value = (
            "<span class='gsp-muted'>Looking for standard stars…</span>" if offered else ""
        )

    def find_lamps(self) -> None:
        """Look for the arcs, or standard stars, of the file shown (on a thread when
        ``background``)."""
        if self.record is None:
            return
        fills = [
            fill
            for fill, pending in (
                (self.fill_lamps, self._lamps_pending),
                (self.fill_standards, self._standards_pending),
            )
            if pending
        ]
        self._lamps_pending = self._standards_pending = False
        for fill in fills:
            if self.background:
                threading.Thread(
                    target=fill, args=(self.record,), name="gsp-choosers", daemon=True
                ).start()
            else:
                fill(self.record)

    def fill_standards(self, record: dict) -> None:
        """Offer the standards "Automatic" chooses from for ``record``, in its order
        (unless another file is shown by then)."""
        from .standards import automatic_label, standard_menu, standard_options

        try:
            menu = standard_menu(self.client, record)
            choices = [(automatic_label(menu), AUTOMATIC), *standard_options(menu)]
            n = len(choices) - 1
            note = (
                f"{n} standard{'s' if n != 1 else ''} of this setup (your proposal's or "
                "staff's), in the order Automatic takes them"
                if n
                else "No standard of this setup yet: the engine uses the nearest in time "
                "when one arrives, and says why there is no flux calibration until then."
            )
            css = "gsp-muted"
        except GSPError as exc:  # the chooser stays usable: automatic
            choices = [AUTOMATIC_STANDARD]
            note = f"Cannot list the standards: {exc.detail}"
            css = "gsp-error"
        if self.record is record:
            _offer(self.standard, self.standard_note, choices, note, css)

    def fill_lamps(self, record: dict) -> None:
        """Offer the arcs compatible with ``record`` (unless another file is shown by then)."""
        try:
            choices = lamp_choices(self.client, record)
            n = len(choices) - 1
            note = (
                f"{n} compatible arc{'s' if n != 1 else ''} of the night, the ones "
                "Automatic combines (your proposal's or staff's, same setup; nearest in "
                "time first; ★ used by the spectra shown)"
                if n
                else "No compatible arc on this night yet: Automatic waits for one, or "
                "the job says why it cannot calibrate."
            )
            css = "gsp-muted"
        except GSPError as exc:  # the chooser stays usable: automatic
            choices = [AUTOMATIC_CHOICE]
            note = f"Cannot list the arcs: {exc.detail}"
            css = "gsp-error"
        if self.record is record:
            _offer(self.lamp, self.lamp_note, choices, note, css)

    def run(self, key: str) -> None:
        """Carry out action ``key`` on the file shown."""
        r = self.record
        if r is None:
            return
        try:
            if key == "reduce":
                self._queued(self.client.reduce(r["id"]))
            elif key == "extract":
                self._queued(self.client.extract(r["id"], lamp_id=self.lamp.value or None))
            elif key == "wavelength":
                self._queued(
                    self.client.calibrate_wavelength(r["id"], lamp_id=self.lamp.value or None)
                )
            elif key == "flux":
                self._queued(
                    self.client.calibrate_flux(r["id"], standard_id=self.standard.value or None)
                )
            elif key == "advanced":
                self.on_advanced()
            elif key == "download":
                self._download()
            elif key == "delete":
                self._ask_delete()
            else:
                raise ValueError(f"unknown action {key!r}")
        except (GSPError, OSError) as exc:  # the API refused, or the download cannot be written
            self.message.value = error_html(exc)

    def _queued(self, job: dict) -> None:
        self.message.value = f"<span class='gsp-ok'>Queued job {job['id']} ({html.escape(job.get('kind', ''))}).</span>"
        self.on_job(job)

    def _download(self) -> None:
        # The kernel fetches the file with the user's token and hands it to the browser
        # from the user's own server (same origin, the user's cookie), so the browser
        # never needs rights on the API itself.
        target = download_target(self.record["file_name"])
        self.client.download(self.record["id"], target)
        url = browser_url(target)
        name = html.escape(self.record["file_name"])
        self.download_link.value = (
            f"<a class='gsp-download' href='{html.escape(url)}' download='{name}'>"
            f"&#11015; Save {name}</a>"
        )

    def _ask_delete(self) -> None:
        name = html.escape(self.record["file_name"])
        yes = w.Button(description="Delete", icon="trash", _dom_classes=("mod-danger",))
        no = w.Button(description="Cancel")
        yes.on_click(lambda _: self._delete())
        no.on_click(lambda _: setattr(self.confirm.layout, "display", "none"))
        self.confirm.children = [
            w.HTML(f"Delete <b>{name}</b>? This cannot be undone.&nbsp;"),
            yes,
            no,
        ]
        self.confirm.layout.display = "flex"

    def _delete(self) -> None:
        record = self.record
        self.confirm.layout.display = "none"
        try:
            self.client.delete_file(record["id"])
        except GSPError as exc:
            detail = exc.detail
            self.message.value = f"<span class='gsp-error'>{html.escape(detail)}</span>"
            return
        self.message.value = (
            f"<span class='gsp-ok'>Deleted {html.escape(record['file_name'])}.</span>"
        )
        self.on_deleted(record)


def download_target(file_name: str) -> Path:
    """Where a download is put: ``~/gsp-downloads/<file name>``."""
    folder = Path.home() / "gsp-downloads"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / Path(file_name).name


def browser_url(path) -> str:
    """The browser's URL of a file in the user's home, served by the user's server."""
    import os
    from urllib.parse import quote

    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/")
    relative = Path(path).resolve().relative_to(Path.home().resolve())
    return f"{prefix.rstrip('/')}/files/{quote(relative.as_posix())}"


def _offer(chooser, note_widget, choices: list, note: str, css: str) -> None:
    """Put ``choices`` in a chooser, keeping the user's pick when it is still offered
    (else automatic), and the note under it."""
    chosen = chooser.value
    chooser.options = choices
    chooser.value = chosen if chosen in [v for _, v in choices] else AUTOMATIC
    note_widget.value = f"<span class='{css}'>{html.escape(note)}</span>"
