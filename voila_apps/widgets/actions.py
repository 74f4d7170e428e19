"""Contextual actions of the file shown: what can be done depends on its type.

Raw: Reduce. Reduced: Extract (lamp chooser). Extracted: Calibrate Wavelength with a
chooser of compatible arcs. Every file: Show Header, Advanced Visualization, Download.
Products (never raw data): Delete, after a confirmation.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ipywidgets as w

ARC_OBSTYPES = ("COMP", "ARC")
#: The chooser's value for "let the engine choose" (a Dropdown cannot hold None as a value).
AUTOMATIC = 0


@dataclass(frozen=True)
class Action:
    key: str
    label: str
    icon: str
    danger: bool = False


def actions_for(record: dict) -> list[Action]:
    """The actions offered for a file record, in display order."""
    t = str(record.get("data_type"))
    out = [
        Action("download", "Download", "download"),
        Action("advanced", "Advanced Visualization", "image"),
    ]
    if t == "0":
        out.insert(0, Action("reduce", "Reduce", "cogs"))
    elif t == "2":
        out.insert(0, Action("extract", "Extract", "crosshairs"))
    elif t == "3":
        out.insert(0, Action("wavelength", "Calibrate Wavelength", "bar-chart"))
    if t != "0":
        out.append(Action("delete", "Delete", "trash", danger=True))
    return out


def lamp_choices(client: Any, record: dict, data_type: int) -> list[tuple[str, int | None]]:
    """Arcs compatible with ``record`` (same wavmode; the same night first), for a chooser.

    The first choice, :data:`AUTOMATIC`, lets the engine pick.
    """
    found: dict[int, dict] = {}
    for obstype in ARC_OBSTYPES:
        filters = {"data_type": data_type, "obstype": obstype, "page_size": 50}
        if record.get("wavmode"):
            filters["wavmode"] = record["wavmode"]
        for scope in ({"date": record["date"]} if record.get("date") else {}, {}):
            try:
                rows = client.files(**filters, **scope)["results"]
            except Exception:
                rows = []
            for r in rows:
                if r["id"] != record["id"]:
                    found.setdefault(r["id"], r)
            if found:
                break
    same_night = sorted(
        found.values(), key=lambda r: (r.get("date") != record.get("date"), -r["id"])
    )
    return [("Automatic (the engine chooses)", AUTOMATIC)] + [
        (f"{r['file_name']} ({r.get('date') or '?'})", r["id"]) for r in same_night
    ]


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
    """

    def __init__(
        self,
        client: Any,
        on_job: Callable[[dict], None],
        on_advanced: Callable[[], None],
        on_deleted: Callable[[dict], None],
    ) -> None:
        self.client = client
        self.on_job = on_job
        self.on_advanced = on_advanced
        self.on_deleted = on_deleted
        self.record: dict | None = None
        self.buttons = w.HBox(layout=w.Layout(flex_flow="row wrap"))
        self.buttons.add_class("gsp-actions")
        self.lamp = w.Dropdown(
            description="Comparison lamp",
            style={"description_width": "initial"},
            layout=w.Layout(width="70%", display="none"),
        )
        self.lamp.add_class("gsp-lamp")
        self.confirm = w.HBox(layout=w.Layout(display="none"))
        self.message = w.HTML()
        self.download_link = w.HTML()
        super().__init__([self.buttons, self.lamp, self.confirm, self.message, self.download_link])

    def show(self, record: dict) -> None:
        self.record = record
        self.message.value = ""
        self.download_link.value = ""
        self.confirm.layout.display = "none"
        buttons = []
        for action in actions_for(record):
            b = w.Button(
                description=action.label,
                icon=action.icon,
                layout=w.Layout(width="auto", flex="1 1 auto", margin="4px"),
            )
            if action.danger:
                b.add_class("mod-danger")
            b.action = action.key
            b.on_click(lambda _, k=action.key: self.run(k))
            buttons.append(b)
        self.buttons.children = buttons
        t = str(record.get("data_type"))
        if t in ("2", "3"):
            self.lamp.options = lamp_choices(self.client, record, data_type=int(t))
            self.lamp.value = AUTOMATIC
            self.lamp.layout.display = "flex"
        else:
            self.lamp.options = []
            self.lamp.layout.display = "none"

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
            elif key == "advanced":
                self.on_advanced()
            elif key == "download":
                self._download()
            elif key == "delete":
                self._ask_delete()
            else:
                raise ValueError(f"unknown action {key!r}")
        except Exception as exc:
            detail = getattr(exc, "detail", None) or str(exc)
            self.message.value = f"<span class='gsp-error'>{html.escape(detail)}</span>"

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
        yes = w.Button(description="Delete", icon="trash")
        yes.add_class("mod-danger")
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
        except Exception as exc:
            detail = getattr(exc, "detail", None) or str(exc)
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
