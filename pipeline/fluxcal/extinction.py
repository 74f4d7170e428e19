"""Atmospheric extinction at Cerro Pachón, and the airmass of a frame.

The extinction curve is CTIO's (``pipeline/data/fluxcal/ctioextinct.dat``: wavelength in
Å, extinction in magnitudes per airmass), the usual choice for SOAR, 10 km from CTIO.
The airmass is the header's ``AIRMASS`` when it is a number >= 1, else computed with
astropy from OBSRA/OBSDEC, the middle of the exposure and SOAR's position (the
coordinates are given here: ``EarthLocation.of_site`` needs the network).
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np

#: SOAR telescope, Cerro Pachón: latitude, longitude (degrees), height (m).
SOAR_LATITUDE_DEG = -30.2379
SOAR_LONGITUDE_DEG = -70.7337
SOAR_HEIGHT_M = 2738.0


def extinction_file() -> Path:
    """Locate the bundled CTIO extinction table.

    Returns
    -------
    pathlib.Path
        ``pipeline/data/fluxcal/ctioextinct.dat`` of the installed package (two columns:
        wavelength in Å, extinction in mag per airmass).
    """
    return Path(str(resources.files("pipeline") / "data" / "fluxcal" / "ctioextinct.dat"))


@cache
def extinction_curve() -> tuple[np.ndarray, np.ndarray]:
    """Read the CTIO extinction curve (once a process: it is cached).

    Returns
    -------
    wavelength : numpy.ndarray
        Wavelengths in Å, increasing (3200-10870 Å).
    extinction : numpy.ndarray
        Extinction at each wavelength, in magnitudes per airmass.
    """
    data = np.loadtxt(extinction_file())
    return data[:, 0], data[:, 1]


def extinction_mag(wavelength) -> np.ndarray:
    """Interpolate the extinction (mag per airmass) at wavelengths in Å.

    The interpolation is linear; the end values are held beyond the table (3200-10870 Å).

    Parameters
    ----------
    wavelength : float or array_like
        Wavelength(s) in Å.

    Returns
    -------
    numpy.ndarray
        Extinction in magnitudes per airmass, of the shape of ``wavelength`` (0-d for a
        scalar).
    """
    w, k = extinction_curve()
    return np.interp(np.asarray(wavelength, float), w, k)


def extinction_factor(wavelength, airmass: float) -> np.ndarray:
    """Compute the fraction of the light that reaches the telescope: ``10**(-0.4 k(λ) X)``.

    Parameters
    ----------
    wavelength : float or array_like
        Wavelength(s) in Å.
    airmass : float
        Airmass ``X`` of the observation (1 at the zenith).

    Returns
    -------
    numpy.ndarray
        Transmission between 0 and 1, of the shape of ``wavelength``.
    """
    return 10.0 ** (-0.4 * extinction_mag(wavelength) * float(airmass))


def soar_location():
    """Give SOAR's site as an astropy ``EarthLocation``.

    Returns
    -------
    astropy.coordinates.EarthLocation
        Cerro Pachón at the module's latitude, longitude and height (no network lookup).
    """
    import astropy.units as u
    from astropy.coordinates import EarthLocation

    return EarthLocation.from_geodetic(
        SOAR_LONGITUDE_DEG * u.deg, SOAR_LATITUDE_DEG * u.deg, SOAR_HEIGHT_M * u.m
    )


def _header_airmass(header) -> float | None:
    try:
        value = float(str(header.get("AIRMASS", "")).strip())
    except ValueError:
        return None
    return value if np.isfinite(value) and 1.0 <= value < 40.0 else None


def computed_airmass(header) -> float:
    """Airmass at mid-exposure from OBSRA/OBSDEC (or RA/DEC), DATE-OBS and EXPTIME.

    Parameters
    ----------
    header : astropy.io.fits.Header or dict
        A raw or product header with OBSRA/OBSDEC (or RA/DEC, sexagesimal: hours and
        degrees), DATE-OBS (UTC) and EXPTIME (s; 0 when absent).

    Returns
    -------
    float
        The airmass (sec z) at mid-exposure, seen from SOAR.

    Raises
    ------
    ValueError
        The header lacks what is needed, or the target is below the horizon; the
        message says which card to fix.
    """
    import warnings

    import astropy.units as u
    from astropy.coordinates import AltAz, SkyCoord
    from astropy.time import Time
    from astropy.utils import iers

    ra = header.get("OBSRA", header.get("RA"))
    dec = header.get("OBSDEC", header.get("DEC"))
    date = str(header.get("DATE-OBS", "") or "").strip()
    if not ra or not dec or not date:
        raise ValueError(
            "no AIRMASS card and cannot compute one: OBSRA, OBSDEC and DATE-OBS are needed "
            "(e.g. OBSRA='08:41:32.4', OBSDEC='-32:56:33', DATE-OBS='2026-12-05T01:02:03')"
        )
    try:
        exptime = float(header.get("EXPTIME", 0) or 0)
        when = Time(date, scale="utc") + 0.5 * exptime * u.s
        coord = SkyCoord(str(ra), str(dec), unit=(u.hourangle, u.deg))
    except Exception as exc:  # noqa: BLE001 - any parsing problem is the header's
        raise ValueError(
            f"no AIRMASS card and cannot compute one from OBSRA={ra!r}, OBSDEC={dec!r}, "
            f"DATE-OBS={date!r}: {exc}"
        ) from None
    with iers.conf.set_temp("auto_download", False), warnings.catch_warnings():
        # Offline: astropy's bundled Earth-orientation table is plenty for an airmass.
        warnings.simplefilter("ignore")
        altaz = coord.transform_to(AltAz(obstime=when, location=soar_location()))
    alt = float(altaz.alt.to_value(u.deg))
    if alt <= 3.0:
        raise ValueError(
            f"target at altitude {alt:.1f} deg at {when.isot}: below the horizon for SOAR; "
            "check OBSRA/OBSDEC/DATE-OBS or write AIRMASS"
        )
    return float(altaz.secz)


def frame_airmass(header) -> tuple[float, str]:
    """Airmass of a frame and where it came from (``"AIRMASS card"``/``"computed"``).

    Parameters
    ----------
    header : astropy.io.fits.Header or dict
        The frame's header.

    Returns
    -------
    airmass : float
        The ``AIRMASS`` card when it is a number from 1 to 40, else computed.
    source : str
        ``"AIRMASS card"`` or a sentence saying it was computed and from what.

    Raises
    ------
    ValueError
        No usable AIRMASS card and no way to compute one (see :func:`computed_airmass`).
    """
    value = _header_airmass(header)
    if value is not None:
        return value, "AIRMASS card"
    return computed_airmass(header), "computed from OBSRA/OBSDEC, DATE-OBS and SOAR's site"
