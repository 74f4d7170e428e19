"""The reduction settings form of a proposal (DESIGN.md §6): every field, its description,
validation before sending; read-only for members who are not the PI or staff."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

import ipywidgets as w

from .errors import GSPError


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    kind: str  # "float" | "int" | "bool" | "choice" | "text" (``high``: its length)
    help: str
    section: str
    low: float | None = None
    high: float | None = None
    choices: tuple[tuple[str, str], ...] = ()


FIELDS = (
    Field(
        "saturation_threshold",
        "Saturation Threshold (% of pixels)",
        "float",
        "Percentage of saturated pixels allowed. Default is 1. This filter is applied only "
        "to flat images: a flat with more saturated pixels is not used.",
        "General Settings",
        0,
        100,
    ),
    Field(
        "cosmic_ray_rejection",
        "Cosmic ray rejection",
        "choice",
        "`default` chooses the method that worked best in our tests for the binning. "
        "`lacosmic` is astroscrappy's implementation of LACosmic. `dcr` uses astroscrappy "
        "with parameters that mimic Wojtek Pych's dcr. `none` skips the step.",
        "General Settings",
        choices=(
            ("Default", "default"),
            ("LACosmic", "lacosmic"),
            ("DCR-equivalent", "dcr"),
            ("None", "none"),
        ),
    ),
    Field(
        "technique",
        "Technique",
        "choice",
        "What observing technique was used.",
        "General Settings",
        choices=(("Spectroscopy", "Spectroscopy"), ("Imaging", "Imaging")),
    ),
    Field(
        "ignore_bias",
        "Ignore bias",
        "bool",
        "If set, the steps where a BIAS correction is required are skipped.",
        "Calibrations",
    ),
    Field(
        "ignore_flats",
        "Ignore flats",
        "bool",
        "If set, the steps where a FLAT correction is required are skipped.",
        "Calibrations",
    ),
    Field(
        "min_bias_frames",
        "Minimum Number of Bias",
        "int",
        "Minimum number of BIAS files required to trigger the build of a Master Bias "
        "(a night with fewer still gets a master from all it has).",
        "Calibrations",
        1,
        1000,
    ),
    Field(
        "min_flat_frames",
        "Minimum Number of Flats",
        "int",
        "Minimum number of FLAT files required to trigger the build of a Master Flat "
        "(a night with fewer still gets a master from all it has).",
        "Calibrations",
        1,
        1000,
    ),
    Field(
        "flat_normalization",
        "Flat Normalization",
        "choice",
        "`mean` divides the image by its overall mean. `simple` takes the median dispersion "
        "profile (collapsing the spatial axis) and fits a Chebyshev polynomial of the order "
        "below. `full` fits every row: experimental and slow.",
        "Flat Normalization",
        choices=(("Mean", "mean"), ("Simple Fit", "simple"), ("Full Fit", "full")),
    ),
    Field(
        "flat_normalization_order",
        "Flat Normalization Order",
        "int",
        "Order of the Chebyshev model fitted along the dispersion axis in flat normalization.",
        "Flat Normalization",
        1,
        100,
    ),
    Field(
        "extraction_type",
        "Extraction Type",
        "choice",
        "`fractional` sums the pixels of the aperture, with fractional edge pixels. "
        "`optimal` weights pixels by the target's spatial profile (Horne 1986).",
        "Spectroscopic Targets",
        choices=(("Fractional Extraction", "fractional"), ("Optimal Extraction", "optimal")),
    ),
    Field(
        "target_fit_model",
        "Target Fit Model",
        "choice",
        "Mathematical model fitted to the spatial profile of a spectroscopic target.",
        "Spectroscopic Targets",
        choices=(("Moffat", "moffat"), ("Gaussian", "gaussian")),
    ),
    Field(
        "max_targets",
        "Maximum Number of Targets",
        "int",
        "Maximum number of targets to detect and extract in a single image.",
        "Spectroscopic Targets",
        1,
        50,
    ),
    Field(
        "pen_shift",
        "Pen lamp Ar I offset",
        "choice",
        "A pen lamp's (HgAr, Ar) faint high-excitation Ar I lines sit ~0.03 Å red of its other "
        "lines. `measure` reports the offset and fits every line at its NIST wavelength, as "
        "other pipelines are graded; `apply` fits the other lines and carries those at it.",
        "Wavelength Calibration",
        choices=(("Measure and report", "measure"), ("Apply", "apply")),
    ),
    Field(
        "bulb_separation",
        "HgArNe bulb separation",
        "choice",
        "The HgArNe lamp's Ne bulb may put its lines off the HgAr bulb's (an offset and a "
        "slope). `measure` reports them and fits every line at its NIST wavelength, which "
        "graded better on real arcs; `apply` gives the HgAr bulb's solution.",
        "Wavelength Calibration",
        choices=(("Measure and report", "measure"), ("Apply", "apply")),
    ),
    Field(
        "flux_calibration",
        "Flux calibration",
        "bool",
        "Make flux-calibrated spectra (erg/s/cm²/Å) with a standard star of the same setup "
        "(this night's, else the nearest earlier one). Without a standard the spectra stay "
        "wavelength calibrated and their status says why.",
        "Flux Calibration",
    ),
    Field(
        "preferred_standard",
        "Preferred standard star",
        "text",
        "A standard to use whenever one of it matches the setup (e.g. LTT 3218); empty "
        "uses the one nearest in time. Only your proposal's standards and staff's are used.",
        "Flux Calibration",
        0,
        40,
    ),
    Field(
        "extinction_correction",
        "Extinction correction",
        "bool",
        "Correct standards and science for their airmass with the CTIO extinction curve "
        "(SOAR is 10 km from CTIO).",
        "Flux Calibration",
    ),
)
SECTIONS = (
    "General Settings",
    "Calibrations",
    "Flat Normalization",
    "Spectroscopic Targets",
    "Wavelength Calibration",
    "Flux Calibration",
)


class _Invalid(ValueError):
    """One field's value is refused; the message says what would be right."""


def _check_number(f: Field, v: Any) -> int | float:
    wanted = f"give one from {f.low:g} to {f.high:g}"
    if v is None or (isinstance(v, str) and not v.strip()):
        raise _Invalid(f"give a number from {f.low:g} to {f.high:g}")
    try:
        number = float(v)
    except (TypeError, ValueError):
        raise _Invalid(f"{v!r} is not a number: {wanted}") from None
    if f.kind == "int":
        if number != int(number):
            raise _Invalid(f"{v} is not a whole number: {wanted}")
        number = int(number)
    if not f.low <= number <= f.high:
        raise _Invalid(f"{number:g} is out of range: {wanted}")
    return number


def _check(f: Field, v: Any) -> Any:
    """The clean value of field ``f``; raises :class:`_Invalid` saying what is wrong."""
    if f.kind == "bool":
        if not isinstance(v, bool):
            raise _Invalid("must be checked or not")
        return v
    if f.kind == "text":
        text = "" if v is None else str(v).strip()
        if len(text) > f.high:
            raise _Invalid(f"{len(text)} characters: give at most {f.high:g} (a star's name)")
        return text
    if f.kind == "choice":
        allowed = [c[1] for c in f.choices]
        if v not in allowed and v != "auto":
            raise _Invalid(f"choose one of {allowed}")
        return v
    return _check_number(f, v)


def validate(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Check form values; returns (clean values, errors by field name)."""
    clean: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for f in FIELDS:
        if f.name not in values:
            continue
        try:
            clean[f.name] = _check(f, values[f.name])
        except _Invalid as exc:
            errors[f.name] = str(exc)
    return clean, errors


def changes(current: dict[str, Any], clean: dict[str, Any]) -> dict[str, Any]:
    """Only the fields whose value differs from ``current``."""
    return {k: v for k, v in clean.items() if current.get(k) != v}


class SettingsForm(w.VBox):
    """Edit one proposal's reduction settings."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.proposal: dict | None = None
        self.current: dict = {}
        self.editable = False
        self.inputs: dict[str, w.Widget] = {}
        self.errors: dict[str, w.HTML] = {}
        self.title = w.HTML()
        self.title.add_class("gsp-panel-head")
        sections = []
        for section in SECTIONS:
            items = []
            for f in (f for f in FIELDS if f.section == section):
                # (the style at creation: a control made without one shares it)
                wide = {"description_width": "initial"}
                if f.kind == "bool":
                    box = w.Checkbox(description=f.label, indent=False, style=wide)
                elif f.kind == "choice":
                    box = w.Dropdown(options=list(f.choices), description=f.label, style=wide)
                else:
                    box = w.Text(description=f.label, style=wide)
                box.field = f.name
                box.add_class(f"gsp-setting-{f.name}")
                self.inputs[f.name] = box
                self.errors[f.name] = w.HTML()
                items.append(
                    w.VBox(
                        [
                            box,
                            w.HTML(f"<div class='gsp-help'>{html.escape(f.help)}</div>"),
                            self.errors[f.name],
                        ],
                        layout=w.Layout(width="32%", margin="0 1% 10px 0"),
                    )
                )
            sections.append(w.HTML(f"<h3>{section}:</h3>"))
            sections.append(w.HBox(items, layout=w.Layout(flex_flow="row wrap")))
        self.save = w.Button(description="Save settings", icon="save")
        self.save.add_class("mod-primary")
        self.save.on_click(lambda _: self.submit())
        self.message = w.HTML()
        self.version = w.HTML()
        body = w.VBox(
            [*sections, w.HBox([self.save, self.version]), self.message],
            layout=w.Layout(padding="10px"),
        )
        super().__init__([self.title, body])
        self.add_class("gsp-panel")
        self.add_class("gsp-settings")

    def show(self, proposal: dict, editable: bool) -> None:
        self.proposal = proposal
        self.editable = editable
        self.message.value = ""
        self.title.value = f"<b>Data reduction settings - <span class='gsp-ok'>{html.escape(proposal['soar_id'])}</span></b>"
        try:
            self.current = self.client.settings(proposal["id"])
        except GSPError as exc:
            detail = exc.detail
            self.message.value = f"<span class='gsp-error'>{html.escape(detail)}</span>"
            return
        self._fill(self.current)

    def _fill(self, current: dict) -> None:
        for name, box in self.inputs.items():
            value = current.get(name)
            if isinstance(box, w.Dropdown):
                values = [v for _, v in box.options]
                if value not in values:  # e.g. "auto" technique: show it, keep it
                    box.options = [*box.options, (str(value), value)]
                box.value = value
            elif isinstance(box, w.Checkbox):
                box.value = bool(value)
            else:
                box.value = (
                    ""
                    if value is None
                    else f"{value:g}"
                    if isinstance(value, float)
                    else str(value)
                )
            box.disabled = not self.editable
            self.errors[name].value = ""
        self.save.disabled = not self.editable
        who = "" if self.editable else " — read only: only the PI and staff change settings"
        self.version.value = (
            f"<span class='gsp-muted'>&nbsp;version {current.get('version', '?')}{who}</span>"
        )

    def form_values(self) -> dict[str, Any]:
        return {name: box.value for name, box in self.inputs.items()}

    def submit(self) -> bool:
        """Validate, send the changed fields; True when saved."""
        if not self.editable or self.proposal is None:
            return False
        clean, errors = validate(self.form_values())
        for name, label in self.errors.items():
            label.value = (
                f"<span class='gsp-error'>{html.escape(errors[name])}</span>"
                if name in errors
                else ""
            )
        if errors:
            self.message.value = (
                "<span class='gsp-error'>Nothing saved: correct the fields marked.</span>"
            )
            return False
        diff = changes(self.current, clean)
        if not diff:
            self.message.value = "<span class='gsp-muted'>No change to save.</span>"
            return False
        try:
            self.current = self.client.update_settings(self.proposal["id"], **diff)
        except GSPError as exc:
            detail = exc.detail
            self.message.value = (
                f"<span class='gsp-error'>Nothing saved: {html.escape(detail)}</span>"
            )
            return False
        self._fill(self.current)
        self.message.value = (
            f"<span class='gsp-ok'>Saved: {html.escape(', '.join(sorted(diff)))}.</span>"
        )
        return True
