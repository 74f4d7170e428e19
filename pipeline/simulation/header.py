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
    """The library file's header (CAM_TARG, GRT_TARG, GRATING, FILTER2 ...)."""
    return _header_of(str(template.path))


@cache
def _header_of(path: str) -> fits.Header:
    return fits.getheader(path)


def file_date(date: dt.date) -> str:
    """``dd-mm-yyyy`` as in observatory file names."""
    return date.strftime("%d-%m-%Y")


def file_name(sequence: int, label: str, date: dt.date, comp: bool = False) -> str:
    """``0001_<label>_<dd-mm-yyyy>[_comp].fits``."""
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
    """Degrees of ``hh:mm:ss`` (hours) or ``dd:mm:ss`` text."""
    text = text.strip()
    sign = -1.0 if text.startswith("-") else 1.0
    d, m, s = (abs(float(p)) for p in text.lstrip("+-").split(":"))
    deg = sign * (d + m / 60.0 + s / 3600.0)
    return deg * 15.0 if hours else deg


def local_sidereal_deg(when: dt.datetime) -> float:
    """Local sidereal time at SOAR in degrees (GMST formula, good to ~0.1 s)."""
    jd = when.timestamp() / 86400.0 + 2440587.5
    gmst_h = 18.697374558 + 24.06570982441908 * (jd - 2451545.0)
    return (gmst_h * 15.0 + SOAR_LONGITUDE_DEG) % 360.0


def airmass(ha_deg: float, dec_deg: float) -> float:
    """Secant of the zenith distance at SOAR (plane-parallel; capped at 10)."""
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
    """(GRT_TARG, CAM_TARG) of a simulated spectroscopic frame: custom or the lamp's."""
    if angles is not None:
        return float(angles[0]), float(angles[1])
    th = template_header(template)
    return float(th.get("GRT_TARG", 0.0)), float(th.get("CAM_TARG", 0.0))


def measured_angles(template: LampTemplate, angles=None) -> tuple[float, float]:
    """(GRT_ANG, CAM_ANG) a physical-truth frame carries.

    The library lamp's own measured angles (so the truth drawn from them sits where
    the lamp's real lines sat, give or take the distortion), or, for custom angles,
    the targets read back with the instrument's usual small offsets.
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
    """
    from pipeline.optics import dispersion_model, lines_per_mm

    grt, cam = measured_angles(template, angles)
    return dispersion_model(
        lines_per_mm(template.grating), grt, cam, camera, template.filter2,
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
    """A raw header with the real instrument's cards, in the real order.

    ``angles`` (grating, camera target degrees) and ``wavmode`` replace the library
    lamp's; ``lamp_cards=False`` leaves out the LAMP_* cards, as older files do.
    ``ccdsum`` is (serial, parallel) binning (default the geometry's, both axes);
    ``trimsec`` replaces the true TRIMSEC card, ``instrume`` the INSTRUME card;
    ``measured`` gives GRT_ANG, CAM_ANG (default: the targets with small offsets).
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
