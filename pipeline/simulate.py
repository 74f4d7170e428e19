"""Simulated raw Goodman nights, with the truth to grade a reduction against.

Usage::

    from pipeline.simulate import NightConfig, simulate_night, iter_night

    cfg = NightConfig(mode="400_M2", camera="Red", binning=2, n_bias=5, n_flats=5,
                      n_arcs=2, n_science=2, flexure_px=0.3, seed=0)
    truth = simulate_night("raw/2026-11-21", cfg)   # all FITS + truth.json, atomically
    for name, hdul, frame_truth in iter_night(cfg):  # same frames, in observing order
        ...
    for frame in stream_night("raw/live", cfg, interval_s=5):  # one file at a time
        ...

or ``gsp simulate NIGHT_DIR --mode 400_M2 --binning 2``. ``NightConfig(noise=False)``
(``--no-noise``) gives noise-free frames for exact grading; ``simulate_night`` refuses a
non-empty directory (:class:`NightExistsError`) unless ``force=True``.

Frames are what the instrument writes: uint16 data (stored as BITPIX 16 with
BZERO 32768), the real raw geometry of the ROI ("Spectroscopic 2x2": 2071 x 948,
``TRIMSEC = [26:2055,2:948]``), the real header cards, and observatory file names
(``0001_bias_21-11-2026.fits``, ``0006_flat_...``, ``0011_<object>_<date>_comp.fits``
for arcs, ``0013_<object>_<date>.fits``). Observing order: bias, flats (quartz), arcs,
science, standards; imaging nights: bias, sky flats, EXPOSE frames.

Coordinates
-----------
All pixel positions are 0-based. "Trimmed" coordinates index the array
``raw[1:, prescan:prescan + width]`` — i.e. the FITS ``TRIMSEC`` ``[prescan+1 :
prescan+width, 2:ny]`` — and are BINNED pixels: ``raw_row = row + trim_offset["row"]``
(always 1) and ``raw_col = col + trim_offset["col"]`` (the binned prescan: 50, 25, 17
columns at 1x1, 2x2, 3x3). Rows run along the slit, columns along the dispersion
(wavelength increases with column). A binned column ``x`` is centred on unbinned
template pixel ``b*x + (b-1)/2`` and covers ``[x-0.5, x+0.5]``. ``flexure_px`` is in
UNBINNED pixels; ``shift_binned_px = flexure_px / b``.

The true wavelength at trimmed position (x, y) is
``chebval(b*(x - tilt*(y - slit_centre_row)) + (b-1)/2 - flexure_px, coefficients)``
with the lamp template's Chebyshev coefficients: lines are straight but tilted by
``tilt`` binned columns per binned row about the slit-centre row.

truth.json
----------
Night level (top-level keys):

``schema``                 ``"gsp-sim-truth/1"``
``config``                 the :class:`NightConfig` as a dict
``camera``, ``instrume``, ``binning``, ``imaging``, ``roi``
``raw_shape``              [rows, columns] of the raw frames
``trim_section``           the TRIMSEC string (FITS 1-based, inclusive)
``trimmed_shape``          [rows, columns] after trimming
``trim_offset``            {"row": 1, "col": prescan}: raw = trimmed + offset
``prescan_columns``        [0, prescan]: raw columns holding only the bias level
``readout_mode``           {"name", "gain", "rdnoise", "level_adu"}
``saturation_adu``         min(2 level_adu (full well), 65535): no pixel exceeds it
``bias_level_adu``         nominal bias level (each frame drifts by ~0.3 ADU; the
                           prescan carries each frame's level)
``pixel_response_rms``     RMS of the multiplicative pixel response (same all night;
                           the map itself: ``NightSimulator.from_truth(truth)
                           .detector.pixel_response``, trimmed shape)
``bias_column_pattern_adu`` the bias structure added to the level in every raw column
                           (0 in the prescan and overscan columns)

Spectroscopic nights also have:

``mode``, ``lamp``, ``lamp_template`` (library file), ``grating``, ``filter2``, ``slit``
``wavelength_model``       {"kind": "chebyshev", "coefficients", "formula"}
``wavelength_source``      {"source": "library"} (arcs from the lamp templates), or for
                           ``arc_source="physical"``: {"source": "physical", "optics"
                           (lines_per_mm, angles, library_mode, central_wavelength of
                           the optics model), "distortion" (Legendre coefficients, px,
                           and formula), "line_list"}; the truth relation is then
                           ``wavelength_model`` (exactly), for every frame
``wavmode_card``           WAVMODE written in the headers (``Custom`` with custom angles)
``arc_ccdsum``             [serial, parallel] binning of the arcs
``roi_row_origin_unbinned`` chip row of a custom ROI's first raw row (0: full ROI)
``trimsec_card``           TRIMSEC as written (may differ from ``trim_section``, the true
                           one, when the night imitates real files)
``line_fwhm_px``           FWHM of unresolved lines, binned columns
``tilt``                   binned columns per binned row (see above)
``slit_edges``             [lower, upper] trimmed rows (fractional) of the slit edges:
                           the centres of the soft (erf, sigma ``s`` rows) edges, where
                           the illumination is half its nearby plateau (within 2 % of
                           half the slit-centre value); the illuminated slit lies between
``slit_centre_row``        (lower + upper) / 2
``illumination``           {"model", "lo", "hi", "s", "g", "profile"}: the profile along
                           the slit, 1 at the slit-centre row, ``profile`` = its value
                           on every trimmed row (flats, arcs and sky are multiplied by it)

``frames``: one record per file, in observing order:

``file``, ``sequence``, ``role`` (bias | flat | arc | science | standard | skyflat |
expose), ``obstype`` (as in the header), ``object``, ``exptime``, ``date_obs``

every non-bias spectroscopic frame:
  ``flexure_px`` (unbinned), ``shift_binned_px``,
  ``wavelength``: true wavelength (Å, air) of every trimmed column at the slit-centre
  row (list, length = trimmed width)
arcs:
  ``lamp``, ``lamp_template``, ``lines``: catalogued lines of the template that land
  on the detector, each {``wavelength`` (Å, the template's GSP_Annn), ``column``
  (trimmed binned column of the line PEAK on the slit-centre row — where the true
  wavelength equals the line's wavelength), ``peak_adu`` (peak above background on
  the slit-centre row, before pixel response), ``flux_adu`` (line total per row),
  ``isolated`` (no other catalogued line brighter than 2 % of it within 3 FWHM),
  ``template_pixel`` (GSP_Pnnn; may differ from the model position by the
  template's own fit residual)}. The line on row y is at ``column + tilt*(y -
  slit_centre_row)``.
physical arcs (``line_source`` "nist"): ``lines`` are the NIST air lines of the lamp's
  elements on the detector, each {``wavelength`` (NIST), ``column``, ``peak_adu``,
  ``flux_adu``, ``element``, ``ion``, ``intensity_from`` ("library": measured in the
  library lamp's flux, or "nist"), ``blended`` (a line of >= 5 % of its flux within
  1.5 FWHM), ``isolated`` (= not blended), ``saturated``, ``snr_row`` (peak S/N on
  one row), ``expected`` (a solver must find it: no 3 % neighbour within 3 FWHM, not
  saturated, snr_row >= 10, 5 px inside)}.
arcs at another CCDSUM than the night (``arc_serial_binning``) also carry their own
  ``ccdsum``, ``raw_shape``, ``trimmed_shape``, ``trim_offset``, ``line_fwhm_px``,
  ``tilt`` and ``slit_centre_row``; their ``column`` and ``wavelength`` are in their
  own binning.
science and standards:
  ``targets``: per point source {``name``, ``kind`` "point", ``trace_centres`` (trimmed
  row of the profile centre at every trimmed column), ``trace_polynomial``, ``fwhm``
  (rows), ``profile`` "moffat", ``moffat_beta``, ``flux_adu`` (ADU the source puts in
  each column summed over rows, before illumination and pixel response),
  ``wavelength_at_trace`` (true wavelength of each column on the trace row),
  ``emission_lines`` [{``name``, ``rest``, ``observed`` (air Å, rest*(1+z)),
  ``column`` (slit-centre row), ``column_at_trace``, ``row_at_trace``,
  ``flux_adu``}], ``redshift`` (science only), ``flux_true`` (the source's flux above
  the atmosphere, erg/s/cm²/Å, at ``wavelength_at_trace``: what flux calibration must
  recover)}; ``airmass`` (the header's AIRMASS, at which the CTIO extinction of
  ``pipeline/data/fluxcal/ctioextinct.dat`` dimmed the source);
  ``sky_adu``: sky per pixel (ADU) of every trimmed column on the slit-centre row
  BEFORE the illumination profile and the pixel response multiply it — what a
  perfect flat field (normalized to 1 at the slit centre) recovers;
  ``sky_lines`` [{``wavelength``, ``column``}];
  standards also ``standard`` {``name``, ``esofil_file``}: the star's table flux seen
  through the atmosphere and the simulated sensitivity
  (``pipeline.simulation.spectra.sensitivity_adu``: ADU/s/Å per erg/s/cm²/Å, the
  throughput shape times a constant), exposed ``standard_exptime`` scaled to the star's
  brightness (a bright star gets a shorter EXPTIME).
imaging EXPOSE frames:
  ``stars`` [{``col``, ``row`` (trimmed), ``flux_adu``}], ``fwhm``, ``sky_adu``.
every frame:
  ``cosmic_rays``: {``events`` (count), per hit pixel: ``rows``, ``cols`` (trimmed),
  ``raw_rows``, ``raw_cols`` (raw), ``adu`` (deposited, above everything else),
  ``event`` (index of the event the pixel belongs to)}. Bias frames have none.
"""

from __future__ import annotations

from pipeline.simulation.config import (
    OBSTYPE_CONVENTIONS,
    NightConfig,
    SimulationConfigError,
    readout_mode_names,
)
from pipeline.simulation.night import (
    TRUTH_FILE,
    TRUTH_SCHEMA,
    NightExistsError,
    NightSimulator,
    SimulatedFrame,
    iter_night,
    simulate_night,
    stream_night,
)

__all__ = [
    "NightConfig",
    "NightExistsError",
    "NightSimulator",
    "OBSTYPE_CONVENTIONS",
    "SimulatedFrame",
    "SimulationConfigError",
    "TRUTH_FILE",
    "TRUTH_SCHEMA",
    "iter_night",
    "readout_mode_names",
    "simulate_night",
    "stream_night",
]
