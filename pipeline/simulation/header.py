"""Raw FITS headers and file names as the Goodman instrument writes them.

Card order, names, value types and comments follow a real 2024 Red camera header
(``shared/reference/real_headers``). Times, pointing and airmass are computed for
SOAR's site so that DATE-OBS, LST, HA, RA/DEC and AIRMASS agree with each other.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from functools import cache

from astropy.io import fits

from pipeline import instrument
from pipeline.lamps import LAMP_KEYWORDS, LampTemplate

SOAR_LONGITUDE_DEG = -70.73669
SOAR_LATITUDE_DEG = -30.23782

#: Lamp keywords in header order, and their comments.
LAMP_CARDS = (
    ("LAMP_HGA", "Hg(Ar)"),
    ("LAMP_NE", "Neon"),
    ("LAMP_AR", "Argon"),
    ("LAMP_FE", "Iron"),
    ("LAMP_CU", "Copper"),
    ("LAMP_QUA", "Quartz"),
    ("LAMP_QPE", "Quartz Percent"),
    ("LAMP_BUL", "Bulb"),
    ("LAMP_DOM", "Dome"),
    ("LAMP_DPE", "Dome Percent"),
)


def lamp_keywords_for(lamp: str) -> set[str]:
    """LAMP_* keys to switch on for a comparison lamp name (``"HgArNe"`` -> HGA, NE).

    Hg comes with the HgAr lamp, Fe and Cu come with their He-Ar hollow-cathode lamps;
    Ar alone is LAMP_AR only when no lamp providing it is on.

    Parameters
    ----------
    lamp : str
        A comparison lamp name (``"HgArNe"``, ``"CuHeAr"``).

    Returns
    -------
    set of str
        The ``LAMP_*`` keys to set to TRUE.
    """
    elems = set(re.findall(r"[A-Z][a-z]?", lamp))
    on = set()
    if "Hg" in elems:
        on.add("LAMP_HGA")
    if "Ne" in elems:
        on.add("LAMP_NE")
    if "Fe" in elems:
        on.add("LAMP_FE")
    if "Cu" in elems:
        on.add("LAMP_CU")
    if "Ar" in elems and not on & {"LAMP_HGA", "LAMP_FE", "LAMP_CU"}:
        on.add("LAMP_AR")
    return on & set(LAMP_KEYWORDS)


def template_header(template: LampTemplate) -> fits.Header:
    """Read the library file's header (CAM_TARG, GRT_TARG, GRATING, FILTER2 ...).

    Parameters
    ----------
    template : LampTemplate
        A library lamp.

    Returns
    -------
    astropy.io.fits.Header
        Its primary header (cached per file: do not change it).
    """
    return _header_of(str(template.path))


@cache
def _header_of(path: str) -> fits.Header:
    return fits.getheader(path)


def file_date(date: dt.date) -> str:
    """Write a date as ``dd-mm-yyyy``, as in observatory file names.

    Parameters
    ----------
    date : datetime.date
        The night's date.

    Returns
    -------
    str
        For example ``"26-11-2020"``.
    """
    return date.strftime("%d-%m-%Y")


def file_name(sequence: int, label: str, date: dt.date, comp: bool = False) -> str:
    """Name a raw file as the observatory does: ``0001_<label>_<dd-mm-yyyy>[_comp].fits``.

    Parameters
    ----------
    sequence : int
        The frame's number in the night (four digits).
    label : str
        The object or frame kind (spaces become underscores).
    date : datetime.date
        The night's date.
    comp : bool
        True for a comparison arc (``_comp`` suffix).

    Returns
    -------
    str
        The file name.
    """
    label = label.strip().replace(" ", "_")
    return f"{sequence:04d}_{label}_{file_date(date)}{'_comp' if comp else ''}.fits"


def _sexagesimal(value: float, hours: bool, decimals: int = 3) -> str:
    sign = "-" if value < 0 else ""
    v = abs(value)
    if hours:
        v = (v / 15.0) % 24.0
    d = int(v)
    m = int((v - d) * 60)
    s = (v - d - m / 60.0) * 3600.0
    if round(s, decimals) >= 60.0:
        s, m = 0.0, m + 1
    if m >= 60:
        m, d = 0, d + 1
    return f"{sign}{d:02d}:{m:02d}:{s:0{3 + decimals}.{decimals}f}"


def parse_sexagesimal(text: str, hours: bool) -> float:
    """Convert ``hh:mm:ss`` (hours) or ``dd:mm:ss`` text to degrees.

    Parameters
    ----------
    text : str
        Three colon-separated fields, optionally signed.
    hours : bool
        True for hours (right ascension: times 15), False for degrees.

    Returns
    -------
    float
        Degrees.

    Raises
    ------
    ValueError
        Not three colon-separated numbers.
    """
    text = text.strip()
    sign = -1.0 if text.startswith("-") else 1.0
    d, m, s = (abs(float(p)) for p in text.lstrip("+-").split(":"))
    deg = sign * (d + m / 60.0 + s / 3600.0)
    return deg * 15.0 if hours else deg


def local_sidereal_deg(when: dt.datetime) -> float:
    """Compute the local sidereal time at SOAR in degrees (GMST formula, good to ~0.1 s).

    Parameters
    ----------
    when : datetime.datetime
        The time, timezone-aware UTC (a naive one is taken as local time by
        ``timestamp()``).

    Returns
    -------
    float
        Local sidereal time in degrees, 0 to 360.
    """
    jd = when.timestamp() / 86400.0 + 2440587.5
    gmst_h = 18.697374558 + 24.06570982441908 * (jd - 2451545.0)
    return (gmst_h * 15.0 + SOAR_LONGITUDE_DEG) % 360.0


def airmass(ha_deg: float, dec_deg: float) -> float:
    """Compute the airmass at SOAR: secant of the zenith distance (plane-parallel; capped at 10).

    Parameters
    ----------
    ha_deg : float
        Hour angle in degrees.
    dec_deg : float
        Declination in degrees.

    Returns
    -------
    float
        The airmass; 10 when the target is less than about 6 degrees high (or below the
        horizon).
    """
    lat, dec, ha = (math.radians(v) for v in (SOAR_LATITUDE_DEG, dec_deg, ha_deg))
    sin_alt = math.sin(lat) * math.sin(dec) + math.cos(lat) * math.cos(dec) * math.cos(ha)
    return 10.0 if sin_alt <= 0.1 else 1.0 / sin_alt


def _iso_ms(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}"


def _hms_ms(t: dt.datetime) -> str:
    return t.strftime("%H:%M:%S.") + f"{t.microsecond // 1000:03d}"


#: The instrument reports measured angles slightly off their targets, as real files do.
CAM_ANG_OFFSET = 0.0178
GRT_ANG_OFFSET = -0.0004


def setup_angles(template: LampTemplate, angles=None) -> tuple[float, float]:
    """Give the (GRT_TARG, CAM_TARG) of a simulated spectroscopic frame: custom or the lamp's.

    Parameters
    ----------
    template : LampTemplate
        The library lamp of the setup.
    angles : tuple of (float, float) or None
        Custom (grating, camera) target angles in degrees; ``None`` takes the lamp file's
        GRT_TARG and CAM_TARG (0 when absent).

    Returns
    -------
    tuple of (float, float)
        Grating and camera target angles in degrees.
    """
    if angles is not None:
        return float(angles[0]), float(angles[1])
    th = template_header(template)
    return float(th.get("GRT_TARG", 0.0)), float(th.get("CAM_TARG", 0.0))


def measured_angles(template: LampTemplate, angles=None) -> tuple[float, float]:
    """(GRT_ANG, CAM_ANG) a physical-truth frame carries.

    The library lamp's own measured angles (so the truth drawn from them sits where
    the lamp's real lines sat, give or take the distortion), or, for custom angles,
    the targets read back with the instrument's usual small offsets.

    Parameters
    ----------
    template : LampTemplate
        The library lamp of the setup.
    angles : tuple of (float, float) or None
        Custom (grating, camera) target angles in degrees; ``None`` for the lamp's own.

    Returns
    -------
    tuple of (float, float)
        GRT_ANG and CAM_ANG in degrees.
    """
    if angles is None:
        th = template_header(template)
        try:
            return float(th["GRT_ANG"]), float(th["CAM_ANG"])
        except (KeyError, ValueError):
            pass
    grt, cam = setup_angles(template, angles)
    return round(grt + GRT_ANG_OFFSET, 6), round(cam + CAM_ANG_OFFSET, 6)


def simulated_optics(template: LampTemplate, camera: str, angles=None):
    """The optics model of the angles a physical-truth frame's header carries.

    Physical truth is built on it, so a pipeline reading the header's angles sees the
    same setup the truth was drawn from.

    Parameters
    ----------
    template : LampTemplate
        The library lamp of the setup (grating, filter).
    camera : str
        ``"Red"`` or ``"Blue"``.
    angles : tuple of (float, float) or None
        Custom (grating, camera) target angles in degrees; ``None`` for the lamp's own.

    Returns
    -------
    DispersionModel
        The optics model at the measured angles of :func:`measured_angles`.
    """
    from pipeline.optics import dispersion_model, lines_per_mm

    grt, cam = measured_angles(template, angles)
    return dispersion_model(
        lines_per_mm(template.grating),
        grt,
        cam,
        camera,
        template.filter2,
        grating=template.grating,
    )


def build_header(
    *,
    camera: str,
    geometry: instrument.FrameGeometry,
    readout: instrument.ReadoutMode,
    obstype: str,
    object_name: str,
    exptime: float,
    start: dt.datetime,
    ra_deg: float,
    dec_deg: float,
    lamps_on: set[str],
    quartz_percent: float,
    template: LampTemplate | None,
    slit: str,
    filter1: str,
    proposal_id: str,
    image_id: int,
    obs_id: int,
    conf_id: int,
    block_id: int,
    saved_as: str,
    angles: tuple[float, float] | None = None,
    wavmode: str | None = None,
    lamp_cards: bool = True,
    ccdsum: tuple[int, int] | None = None,
    trimsec: str | None = None,
    instrume: str | None = None,
    measured: tuple[float, float] | None = None,
) -> fits.Header:
    """Build a raw header with the real instrument's cards, in the real order.

    Parameters
    ----------
    camera : str
        ``"Red"`` or ``"Blue"``.
    geometry : FrameGeometry
        The raw frame's layout (ROI, binning, TRIMSEC, size).
    readout : ReadoutMode
        The readout mode (GAIN, RDNOISE, rate, attenuation).
    obstype : str
        OBSTYPE (``"BIAS"``, ``"FLAT"``, ``"COMP"``, ``"OBJECT"``...).
    object_name : str
        OBJECT.
    exptime : float
        Exposure time in seconds (0 for a bias).
    start : datetime.datetime
        Start of the exposure, UTC.
    ra_deg, dec_deg : float
        Pointing in degrees (RA, DEC, OBSRA, OBSDEC and the airmass follow).
    lamps_on : set of str
        ``LAMP_*`` keys switched on (:func:`lamp_keywords_for`).
    quartz_percent : float
        Intensity of the quartz lamp in percent (``LAMP_QPE``).
    template : LampTemplate or None
        The library lamp of the setup (grating, filter, angles, WAVMODE); ``None`` for
        imaging.
    slit : str
        SLIT.
    filter1 : str
        FILTER (the primary filter wheel).
    proposal_id : str
        PROPID.
    image_id, obs_id, conf_id, block_id : int
        IMAGEID, OBSID, CONFID and BLOCK_ID of the observatory's database.
    saved_as : str
        The file name written in the acquisition comment.
    angles : tuple of (float, float) or None
        Grating and camera target angles in degrees, replacing the library lamp's;
        ``None`` keeps the lamp's.
    wavmode : str or None
        WAVMODE written instead of the lamp's mode (``"Custom"``, ``"400 m2"``, ``""``);
        ``None`` writes the lamp's.
    lamp_cards : bool
        False leaves out the LAMP_* cards, as older files do.
    ccdsum : tuple of (int, int) or None
        (serial, parallel) binning for CCDSUM; ``None`` takes the geometry's on both
        axes.
    trimsec : str or None
        TRIMSEC written instead of the true one; ``None`` writes the true one.
    instrume : str or None
        INSTRUME written instead of the camera's usual one (``ghts_red``/``ghts_blue``).
    measured : tuple of (float, float) or None
        GRT_ANG and CAM_ANG in degrees; ``None`` writes the targets with the
        instrument's small offsets.

    Returns
    -------
    astropy.io.fits.Header
        The raw header.
    """
    end = start + dt.timedelta(seconds=exptime)
    lst = local_sidereal_deg(start)
    ha = ((lst - ra_deg + 180.0) % 360.0) - 180.0
    am = airmass(ha, dec_deg)
    imaging = template is None
    if imaging:
        grating, filter2, wavmode = "<NO GRATING>", "<NO FILTER>", "IMAGING"
        cam_targ, grt_targ = 0.0, 0.0
    else:
        th = template_header(template)
        grating = str(th.get("GRATING", template.grating)).strip()
        filter2 = str(th.get("FILTER2", template.filter2)).strip()
        wavmode = template.mode if wavmode is None else str(wavmode)
        grt_targ, cam_targ = setup_angles(template, angles)
    grt_ang, cam_ang = (
        measured
        if measured is not None
        else (round(grt_targ + GRT_ANG_OFFSET, 6), round(cam_targ + CAM_ANG_OFFSET, 6))
    )
    bx, by = ccdsum if ccdsum is not None else (geometry.binning, geometry.binning)
    h = fits.Header()
    cards = [
        ("DATE-OBS", _iso_ms(start), "DATE-OBS Format: YYYY-MM-DDThh:mm:ss.sss"),
        ("DATE", start.strftime("%Y-%m-%d"), "Date Format is YYYY-MM-DD"),
        ("TIME", f"{_hms_ms(start)} to {_hms_ms(end)}", "~ Start & Stop of Exposure"),
        ("N_PRM5", 22, "Control"),
        ("PG5_0", 16, "Bits Per Pixel, (16)"),
        ("PG5_4", by, "Parallel Binning,"),
        ("PG5_5", geometry.ny, "Parallel Length,"),
        ("PG5_9", bx, "Serial Binning,"),
        ("PG5_10", geometry.nx, "Serial Length,"),
        ("TELESCOP", "SOAR 4.1m", None),
        ("INSTRUME", instrume or ("ghts_red" if camera == "Red" else "ghts_blue"), None),
        ("OBJECT", object_name, None),
        ("NOTES", "", None),
        ("INSTCONF", camera, None),
        ("CAMSWV", "Beta 29", None),
        ("CONSWV", "8359,10", None),
        ("INSTSWV", "GSCS 2.0.17.6.6-Alpha", None),
        ("CAMERA", "Si 1110-111" if camera == "Red" else "Si 1110-106", None),
        ("RA", _sexagesimal(ra_deg, True), "right ascension [hh:mm:ss.sss]"),
        ("DEC", _sexagesimal(dec_deg, False), "declination [dd:mm:ss.sss]"),
        ("AIRMASS", round(am, 6), "airmass at approx. start of exposure"),
        (
            "UT",
            _hms_ms(start - dt.timedelta(seconds=1.59)),
            "time at approx. start of exposure [UTC]",
        ),
        ("FOCUS", -988.74, "SOAR telescope focus"),
        ("SEEING", -1.0, "DIMM seeing [arcsec]"),
        ("LST", _sexagesimal(lst, True), "Local Sidereal Time  [hh:mm:ss.sss]"),
        ("OBSRA", _sexagesimal(ra_deg, True), "target right ascension [hh:mm:ss.sss]"),
        ("OBSDEC", _sexagesimal(dec_deg, False), "target declination  [dd:mm:ss.sss]"),
        (
            "HA",
            _sexagesimal(ha, True) if ha >= 0 else "-" + _sexagesimal(-ha, True),
            "Hour Angle  [hh:mm:ss.sss]",
        ),
        ("ADCSTAT", "IN", "ADC Status"),
    ]
    for key, comment in LAMP_CARDS if lamp_cards else ():
        if key == "LAMP_QPE":
            value = float(quartz_percent)
        elif key == "LAMP_DPE":
            value = 0.0
        else:
            value = "TRUE" if key in lamps_on else "FALSE"
        cards.append((key, value, comment))
    cards += [
        ("CAM_ANG", cam_ang, "camera angle [deg]"),
        ("GRT_ANG", grt_ang, "grating angle [deg]"),
        ("CAM_TARG", cam_targ, "camera target [deg]"),
        ("GRT_TARG", grt_targ, "grating target [deg]"),
        ("CAM_FOC", -1059, "camera focus"),
        ("COLL_FOC", 1001, "collimator focus"),
        ("FILTER", filter1, "primary filter wheel"),
        ("FILTER2", filter2, "secondary filter wheel"),
        ("GRATING", grating, "VPH grating [1/mm]"),
        ("SLIT", slit, "slit [arcsec]"),
        ("WAVMODE", wavmode, "Wavelength"),
        ("EXPTIME", float(exptime), "integration time"),
        ("RDNOISE", readout.rdnoise, "CCD readnoise [e-]"),
        ("GAIN", readout.gain, "CCD gain [e-/ADU]"),
        ("OBSTYPE", obstype, "observation type"),
        ("OBSERVER", "GSP simulator", None),
        ("PROPOSAL", "", None),
        ("EQUINOX", 2000.0, "equinox of coordinates"),
        ("ROI", geometry.roi, None),
        ("DISPAXIS", 1, None),
        ("DETSIZE", "[1:4096,1:4096]", None),
        ("TRIMSEC", trimsec or geometry.trim_section, None),
        ("CCDSIZE", "[1:4096,1:4096]", None),
        ("CCDSUM", f"{bx} {by}", None),
        ("BUNIT", "adu", None),
        ("OBSID", obs_id, None),
        ("CONFID", conf_id, None),
        ("REQNUM", 0, None),
        ("PROPID", proposal_id, None),
        ("SITEID", "SOAR", None),
        ("TELID", "4M0A", None),
        ("RLEVEL", 0, None),
        ("BLKUID", 0, None),
        ("IMAGEID", str(image_id), None),
        ("HEADERVE", "1.0.1", None),
        ("BLOCK_ID", block_id, None),
        (
            "OPENTIME",
            start.strftime("%H:%M:%S.") + f"{start.microsecond:06d}0",
            "GPS-Synched Time for Shutter Open (UT)",
        ),
        ("OPENDATE", start.strftime("%Y-%m-%d"), "GPS-Synched Time for Shutter Open (UT)"),
        (
            "CLOSETIM",
            end.strftime("%H:%M:%S.") + f"{end.microsecond:06d}0",
            "This is the GPS-Synched Time for Shutter Closi",
        ),
    ]
    for key, value, comment in cards:
        h[key] = (value, comment) if comment else value
    kind = "Bias" if exptime == 0 else "Light"
    h["COMMENT"] = (
        f"{kind}, Exp Time= {int(exptime) // 60:02d}:{int(exptime) % 60:02d}, Saved as: {saved_as}"
    )
    return h
