"""Flux calibration (data_type 5): standard stars, sensitivity functions, calibrated spectra.

One concern a module:

- :mod:`~pipeline.fluxcal.standards`: the library of spectrophotometric standards
  (ESO/CTIO tables), recognising a frame's star by name or coordinates;
- :mod:`~pipeline.fluxcal.extinction`: the CTIO extinction curve and a frame's airmass;
- :mod:`~pipeline.fluxcal.setup`: which setups may share a sensitivity;
- :mod:`~pipeline.fluxcal.sensitivity`: a sensitivity function from one standard, its
  master file (``master_sens_*``) written and read back;
- :mod:`~pipeline.fluxcal.apply`: a spectrum in erg/s/cm²/Å from counts, choosing the
  compatible sensitivity nearest in time;
- :mod:`~pipeline.fluxcal.night_stage`: the night's flux step (``fwecfzst_`` products,
  RLEVEL 65), what ``gsp reduce`` and a job call.

The functions take and return ``specutils.Spectrum`` (or the pipeline's
``SpectrumArrays``) and typed results; nothing raises for one bad file in the night
stage, every outcome has a status and a reason.
"""
