"""The reduction settings ``pen_shift`` and ``bulb_separation`` reach an arc's solution
through the spectroscopy chain: a real library lamp, laid out as a reduced 2-D arc and
extracted along a trace as a science target's arcs are, is measured by default and
solved around its lamp's offsets when the settings ask."""

from __future__ import annotations

import astropy.units as u
import numpy as np
import pytest
from astropy.io import fits
from astropy.nddata import CCDData, StdDevUncertainty

from pipeline.lamps import lamp_dir, read_template
from pipeline.settings import ReductionSettings
from pipeline.spectroscopy.arc_solutions import extract_and_calibrate_arc
from pipeline.spectroscopy.trace import Trace

ROWS, CENTRE = 21, 10.0


def _arc_frame(file_name: str) -> tuple[CCDData, Trace, str]:
    """A library lamp's 1-D flux as a reduced 2-D arc (a Gaussian slit profile), the
    straight trace along it, and its mode."""
    template = read_template(lamp_dir() / file_name)
    flux = np.asarray(template.flux, float)
    rows = np.arange(ROWS, dtype=float)[:, None]
    profile = np.exp(-0.5 * ((rows - CENTRE) / 1.5) ** 2)
    data = profile / profile.sum() * flux[None, :]
    header = fits.Header()
    header.update(
        {
            "WAVMODE": template.mode,
            "OBJECT": "".join(sorted(template.elements)),
            "OBSTYPE": "COMP",
            "CCDSUM": "1 1",
            "GAIN": 1.0,
            "RDNOISE": 4.0,
        }
    )
    unc = np.sqrt(np.clip(data, 0, None) + 16.0)
    ccd = CCDData(data, unit=u.adu, uncertainty=StdDevUncertainty(unc), meta=header)
    ncols = flux.size
    trace = Trace(
        coefficients=np.array([CENTRE]),
        columns=np.arange(ncols, dtype=float),
        centres=np.full(ncols, CENTRE),
        used=np.ones(ncols, bool),
        rms=0.0,
        fwhm=3.5,
        ncols=ncols,
    )
    return ccd, trace, template.mode


def _calibrate(file_name: str, settings=None):
    ccd, trace, mode = _arc_frame(file_name)
    return extract_and_calibrate_arc(ccd, "arc.fits", trace, 4.0, mode, settings=settings)[0]


def test_the_bulb_separation_setting_decides_the_hgarne_solution():
    """600 Red HgArNe: its Ne bulb's lines sit off the HgAr bulb's (offset and slope). The
    default settings report the terms, the solution fitted to every line at NIST;
    ``bulb_separation="apply"`` makes it the HgAr bulb's, the same terms applied."""
    name = "goodman_comp_600Red_GG495_HgArNe.fits"
    measured = _calibrate(name, ReductionSettings())
    applied = _calibrate(name, ReductionSettings(bulb_separation="apply"))
    assert measured.ne_bulb_pixel is not None and not measured.ne_bulb_applied
    assert applied.ne_bulb_applied
    assert np.allclose(measured.ne_bulb_pixel, applied.ne_bulb_pixel, atol=0.02)
    # the two solutions differ as the Ne terms make them (the red end most)
    j = np.arange(measured.npix)
    d = (applied.wavelength(j) - measured.wavelength(j)) / np.abs(
        np.gradient(measured.wavelength(j))
    )
    assert np.max(np.abs(d)) > 0.05
    # without settings, as with the defaults
    assert np.allclose(_calibrate(name).wavelength(j), measured.wavelength(j), atol=1e-9)


def test_the_pen_shift_setting_decides_the_pen_lamp_solution():
    """1200 M6 HgAr (a pen lamp, its high-excitation Ar I lines 0.08-0.25 px red of the
    others): measured by default, applied when the settings ask."""
    name = "goodman_comp_1200M6_GG495_HgAr.fits"
    measured = _calibrate(name, ReductionSettings())
    applied = _calibrate(name, ReductionSettings(pen_shift="apply"))
    assert measured.pen_shift_pixel is not None and not measured.pen_shift_applied
    assert applied.pen_shift_applied


@pytest.mark.parametrize("name", ["pen_shift", "bulb_separation"])
def test_a_bad_lamp_offset_setting_names_the_allowed_values(name):
    with pytest.raises(
        ValueError, match=f"{name}='fit' is not valid; allowed values: measure, apply"
    ):
        ReductionSettings(**{name: "fit"})
    assert getattr(ReductionSettings.from_dict({name.replace("_", "-"): "Apply"}), name) == "apply"
    cards = {k: v for k, v, _ in ReductionSettings(**{name: "apply"}).to_header_cards()}
    assert cards[{"pen_shift": "GSP_LPEN", "bulb_separation": "GSP_LBLB"}[name]] == "apply"
