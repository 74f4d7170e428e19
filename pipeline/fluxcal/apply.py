"""Flux-calibrating a wavelength-calibrated spectrum with a sensitivity function.

:func:`flux_calibrate` divides the counts of a ``wecfzst_`` spectrum by exposure time,
bin width and the sensitivity, and corrects them for the frame's own airmass:

    F(λ) = C(λ) g / (t Δλ S(λ)) · 10**(0.4 k(λ) X)

in erg/s/cm²/Å, with the uncertainty of the counts and of the sensitivity propagated
(they are independent). Bins outside the sensitivity's range are masked. A sensitivity
of another setup (camera, mode, grating, filter, binning) is refused with
:class:`IncompatibleSensitivity`: a spectrum is never divided by the throughput of
another instrument configuration. :func:`choose_sensitivity` picks, among candidates,
the compatible one nearest in time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from pipeline.fluxcal.extinction import extinction_factor, frame_airmass
from pipeline.fluxcal.sensitivity import (
    FLUX_UNIT,
    FluxInputError,
    Sensitivity,
    count_rate,
    header_of,
)
from pipeline.fluxcal.setup import incompatibility, setup_of
from pipeline.products import RLEVEL_FLUX  # noqa: F401 - re-exported for callers
from pipeline.wavelength.arrays import SpectrumArrays
from pipeline.wavelength.shared_noise import scaled_noise

DATA_TYPE_FLUX = 5


class IncompatibleSensitivity(ValueError):
    """A sensitivity of another setup than the spectrum's; the message says what differs."""


@dataclass
class Choice:
    """The sensitivity chosen for a spectrum, and why the others were not."""

    sensitivity: Sensitivity | None
    age_days: float | None
    refused: list[tuple[str, str]]
    setup: str = ""

    def reason(self) -> str:
        if self.sensitivity is not None:
            return ""
        if not self.refused:
            return (
                f"no standard star of this setup ({self.setup}) in this night or the earlier "
                "nights given; observe a standard with it or pass a night that has one"
            )
        return f"no sensitivity of this setup ({self.setup}): " + "; ".join(
            f"{n} is for {r}" for n, r in self.refused
        )


def _when(header) -> datetime | None:
    try:
        return datetime.fromisoformat(str(header.get("DATE-OBS", "")).strip())
    except ValueError:
        return None


def rank_sensitivities(
    header, candidates: Sequence, preferred: str = ""
) -> tuple[list, list[tuple[object, str]], str]:
    """Order the sensitivities that may calibrate the frame of ``header``, best first.

    The rule :func:`choose_sensitivity` applies, written once so that the job engine
    lists the same order from stored headers (the standard chooser) as the worker takes
    from the files.

    Parameters
    ----------
    header : header of the spectrum to calibrate
    candidates : sequence
        Objects with ``setup`` (:class:`Setup`), ``standard``, ``date_obs`` and ``name``
        (a :class:`Sensitivity`, or a stand-in built from a stored header).
    preferred : str
        A star name (any spelling): the compatible ones of that star come first,
        whatever their age.

    Returns
    -------
    ranked : list
        The compatible candidates: of the preferred star first, then nearest in time
        to the frame (``DATE-OBS``), then by name; one without a date comes last.
    refused : list of (candidate, str)
        The others, each with the setup differences.
    setup : str
        The frame's setup in words.
    """
    from pipeline.header_normalization import standard_key

    setup = setup_of(header)
    when = _when(header)
    ok, refused = [], []
    for sens in candidates:
        why = incompatibility(setup, sens.setup)
        if why:
            refused.append((sens, why))
        else:
            ok.append(sens)
    liked = set()
    if preferred:
        liked = {id(s) for s in ok if standard_key(s.standard) == standard_key(preferred)}

    def key(sens) -> tuple[bool, float, str]:
        days = _age_days(when, sens.date_obs)
        return (id(sens) not in liked, float("inf") if days is None else days, sens.name)

    return sorted(ok, key=key), refused, setup.describe()


def _age_days(when: datetime | None, date_obs: datetime | None) -> float | None:
    if when is None or date_obs is None:
        return None
    return abs((when - date_obs).total_seconds()) / 86400.0


def choose_sensitivity(header, candidates: Sequence[Sensitivity], preferred: str = "") -> Choice:
    """The compatible sensitivity nearest in time to the frame of ``header``.

    Parameters
    ----------
    header : header of the spectrum to calibrate
    candidates : sensitivities (this night's and earlier nights')
    preferred : str
        A star name (any spelling): when a compatible sensitivity of that star exists,
        it is used whatever its age.

    Returns
    -------
    Choice
        With ``age_days`` = |standard - frame| in days.
    """
    ranked, refused, setup = rank_sensitivities(header, candidates, preferred)
    named = [(sens.name or sens.standard, why) for sens, why in refused]
    if not ranked:
        return Choice(None, None, named, setup)
    best = ranked[0]
    return Choice(best, _age_days(_when(header), best.date_obs), named, setup)


def flux_calibrate(
    spectrum,
    header,
    sensitivity: Sensitivity,
    extinction: bool | None = None,
    airmass: float | None = None,
):
    """A spectrum in erg/s/cm²/Å from its counts and a sensitivity function.

    Parameters
    ----------
    spectrum : specutils.Spectrum or SpectrumArrays
        Counts per bin over a linear axis in Å (``wecfzst_``), uncertainty and mask.
    header : header of the spectrum (EXPTIME, GAIN, setup cards, AIRMASS or what
        computes it), or ``None`` for ``spectrum.meta["header"]`` (a spectrum read
        with ``specutils.Spectrum.read`` keeps it there).
    sensitivity : Sensitivity
    extinction : bool, optional
        Correct for the frame's airmass, giving the flux above the atmosphere (default
        on). Off, the flux is as seen through the standard's airmass (the plain ratio
        to the standard). Either way a sensitivity made with or without extinction
        correction is used consistently: ``F = C / S · 10**(0.4 k (X_eff - X_S))`` with
        ``X_eff`` the frame's airmass (or the standard's when off) and ``X_S`` the
        airmass ``S`` refers to (0 above the atmosphere, else the standard's).
    airmass : float, optional
        Overrides the header's airmass.

    Returns
    -------
    (calibrated, airmass) : same type as ``spectrum`` (unit erg/s/cm²/Å, std, mask),
    and the frame's airmass used (``None`` without extinction correction).

    Raises
    ------
    IncompatibleSensitivity
        The sensitivity was made with another camera, mode, grating, filter or binning.
    FluxInputError
        No usable EXPTIME/GAIN, not wavelength-calibrated, or no airmass when needed.
    """
    header = header_of(spectrum, header)
    why = incompatibility(setup_of(header), sensitivity.setup)
    if why:
        raise IncompatibleSensitivity(
            f"sensitivity {sensitivity.name or sensitivity.standard} is for another setup: "
            f"{why}; use a standard taken with this camera, mode, filter and binning"
        )
    spec = SpectrumArrays.from_spectrum(spectrum)
    wave, rate, err = count_rate(spec, header)
    s, s_err = sensitivity(wave)
    if extinction is None:
        extinction = True
    if extinction and airmass is None:
        try:
            airmass, _ = frame_airmass(header)
        except ValueError as exc:
            raise FluxInputError(str(exc)) from None
    elif not extinction:
        airmass = None
    x_eff = airmass if extinction else sensitivity.airmass
    x_sens = 0.0 if sensitivity.extinction else sensitivity.airmass
    above = 1.0 / extinction_factor(wave, x_eff - x_sens)
    with np.errstate(invalid="ignore", divide="ignore"):
        flux = rate / s * above
        std = np.sqrt((err * above / s) ** 2 + (flux * s_err / s) ** 2)
    bad = ~np.isfinite(flux) | ~np.isfinite(std)
    meta = dict(spec.meta)
    if meta.get("shared_noise") is not None or meta.get("neighbour_covariance") is not None:
        # the bins' shared noise scales with their counts (the sensitivity's own
        # error is in std alone)
        unit_counts = dataclasses.replace(spec, flux=np.ones_like(rate), std=np.ones_like(rate))
        with np.errstate(invalid="ignore", divide="ignore"):
            factor = np.nan_to_num(count_rate(unit_counts, header)[1] / s * above)
        meta.update(scaled_noise(meta, np.where(bad, 0.0, factor)))
    out = SpectrumArrays(
        flux=np.where(bad, 0.0, flux),
        std=np.where(bad, np.nan, std),
        mask=bad | np.asarray(spec.mask, bool),
        axis=spec.axis,
        axis_unit=spec.axis_unit,
        unit=FLUX_UNIT,
        meta=meta,
    )
    if isinstance(spectrum, SpectrumArrays):
        return out, airmass
    return out.to_spectrum(), airmass
