"""Which instrument setups may share a sensitivity function.

A sensitivity function holds the whole throughput of camera, grating, filter and
detector, so a science spectrum is only ever divided by one made with the same camera,
grating mode, order-blocking filter and binning (and, for a ``Custom`` mode, the same
grating angles). :func:`setup_of` reads those from a product header (with the
spelling rules of :mod:`pipeline.header_normalization`), :func:`incompatibility` says in
words why two setups differ.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.header_normalization import normalize_header


@dataclass(frozen=True)
class Setup:
    """The part of an instrument configuration a sensitivity depends on."""

    camera: str
    mode: str
    grating: str
    filter2: str
    binning: tuple[int, int]
    angles: tuple[float, float] | None = None

    def describe(self) -> str:
        bx, by = self.binning
        text = f"{self.camera or '?'} {self.mode} {self.grating} {self.filter2} {bx}x{by}"
        if self.angles:
            text += f" grating {self.angles[0]:.1f} camera {self.angles[1]:.1f} deg"
        return text


def _filter(value) -> str:
    text = str(value or "").strip().strip("<>").strip().upper().replace(" ", "_")
    return text or "NO_FILTER"


def setup_of(header) -> Setup:
    """Read the :class:`Setup` of a frame or product header.

    Parameters
    ----------
    header : astropy.io.fits.Header or dict
        The header; its spellings are normalized by
        :func:`pipeline.header_normalization.normalize_header`.

    Returns
    -------
    Setup
        Camera (upper case), mode (``"unknown"`` when absent), grating, order-blocking
        filter (``"NO_FILTER"`` when empty), binning ((1, 1) when absent), and the
        grating and camera angles rounded to 0.1 deg for a Custom or unknown mode only
        (``None`` otherwise).
    """
    norm = normalize_header(header)
    mode = norm.wavmode or "unknown"
    custom = mode.lower() in {"custom", "unknown"}
    angles = None
    if custom and norm.grating_angle is not None and norm.camera_angle is not None:
        # A custom mode is only the same setup at the same angles (to 0.1 deg).
        angles = (round(norm.grating_angle, 1), round(norm.camera_angle, 1))
    return Setup(
        camera=norm.camera.upper(),
        mode=mode,
        grating=norm.grating,
        filter2=_filter(header.get("FILTER2")),
        binning=tuple(norm.binning) if norm.binning else (1, 1),
        angles=angles,
    )


def incompatibility(science: Setup, sensitivity: Setup) -> str:
    """Say in words why a sensitivity cannot calibrate a science setup.

    Parameters
    ----------
    science : Setup
        The setup of the spectrum to calibrate.
    sensitivity : Setup
        The setup the sensitivity function was made with.

    Returns
    -------
    str
        ``""`` when the sensitivity may calibrate ``science``, else each difference as
        ``"<what> <sensitivity's> (science <science's>)"``, joined by ``"; "``.
    """
    diffs = []
    for label, a, b in (
        ("camera", science.camera, sensitivity.camera),
        ("mode", science.mode, sensitivity.mode),
        ("grating", science.grating, sensitivity.grating),
        ("filter", science.filter2, sensitivity.filter2),
        ("binning", "x".join(map(str, science.binning)), "x".join(map(str, sensitivity.binning))),
        ("angles", science.angles, sensitivity.angles),
    ):
        if a != b:
            diffs.append(f"{label} {b} (science {a})")
    return "; ".join(diffs)
