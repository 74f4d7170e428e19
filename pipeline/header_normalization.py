"""Every real spelling of a Goodman header, turned into one normalised description.

Goodman headers changed over the years and are written by hand in places: OBSTYPE
``ZERO`` or ``BIAS``, GRATING ``SYZY_400`` or ``400_SYZY``, WAVMODE ``400 m2``,
``400_M2``, ``Custom`` or nothing, lamps in ``LAMP_*`` cards or only in OBJECT,
INSTRUME ``ghts_red`` or ``Goodman Spectrograph``. This module is the one place where
each of those rules lives; :func:`normalize_header` applies them all and returns a
:class:`NormalizedHeader` whose ``decisions`` say, in words, every value it had to
interpret (they end up as ``HISTORY`` lines of the products and in the status table
``gsp reduce`` prints), and whose ``problems`` name absurd values (``GAIN = 0``,
``CCDSUM = '0 0'``) with the key, the value and what a valid value looks like.

Nothing here reads pixels or files, and nothing raises for a bad value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from pipeline.instrument import READOUT_MODES, find_readout_mode
from pipeline.lamps import LAMP_KEYWORDS, elements, lamps_on, modes, normalize_mode
from pipeline.vocabulary import OBSTYPE_ROLES

#: OBSTYPE spellings (current and pre-2019) -> role: the one table, in pipeline.vocabulary.
OBSTYPE_ROLE = OBSTYPE_ROLES
#: OBSTYPEs of engineering frames: registered, never reduced as science.
ENGINEERING_OBSTYPES = {
    "FOCUS": "focus sequence",
    "ACQUISITION": "acquisition",
    "ACQ": "acquisition",
    "TEST": "test exposure",
    "DARK": "dark frame, not used by this pipeline",
}
#: Canonical OBSTYPE of each role, for records that show one spelling.
ROLE_OBSTYPE = {"bias": "BIAS", "flat": "FLAT", "arc": "COMP", "science": "OBJECT"}

#: ROI names of slit-viewing / acquisition readouts.
_ACQUISITION_ROI = re.compile(r"alignment|slit\s*imag|acq", re.IGNORECASE)
#: OBJECT names of acquisition images (``PMNJ0948+0022_reacq``, ``acq_target``...).
_ACQUISITION_OBJECT = re.compile(r"(^|[_\-\s])(re)?acq(uisition)?($|[_\-\s\d])", re.IGNORECASE)

#: Comparison lamps of the Goodman calibration unit, by the element that names them:
#: the Fe and Cu hollow-cathode lamps are filled with He and Ar (``LAMP_FE`` = FeHeAr).
LAMP_BY_ELEMENT = {"Fe": "FeHeAr", "Cu": "CuHeAr"}
_LAMP_TOKENS = ("Hg", "Ar", "Ne", "Cu", "He", "Fe")
_LAMP_OBJECT = re.compile(r"(?:hg|ar|ne|cu|he|fe)+", re.IGNORECASE)
_LAMP_FILLER = re.compile(r"\b(lamps?|comp|arc|cal)\b|[\s_+\-/,]", re.IGNORECASE)

_GRATING_WORDS = {"SYZY", "KOSI", "RALC", "CANIR", "OLD", "BLUE", "RED", "NEW"}
_NO_GRATING = {"", "NO_GRATING", "NO GRATING", "NONE", "NO_GRAT"}
_SLIT_WIDTH = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:\"|''|arcsec|as)?[\s_]*(?:long|ls|$)", re.I)
_MODE_PATTERN = re.compile(r"^\d{3,4}_(M\d+|[A-Z]+|\d+A?)$")


@dataclass(frozen=True)
class NormalizedHeader:
    """A header's values in one spelling, with every interpretation in words.

    Attributes
    ----------
    camera : str
        ``"Red"``, ``"Blue"`` or ``""`` when nothing says which.
    obstype, obstype_raw : str
        Canonical OBSTYPE (``BIAS``, ``FLAT``, ``COMP``, ``OBJECT``, ``FOCUS``...) and
        the value as written.
    role : str
        ``bias``, ``flat``, ``arc``, ``science``, ``standard`` or ``other``.
    engineering : str
        Why the frame is an engineering frame (``"focus sequence"``,
        ``"acquisition"``), ``""`` otherwise. Engineering frames have role ``other``.
    grating, grating_raw : str
        Canonical grating name (``400_SYZY``, ``600_SYZY_OLD``, ``600_KOSI``,
        ``1200_RALC_BLUE``, ``NO_GRATING``) and the value as written.
    lines_per_mm : float or None
        Grooves per mm of the grating; ``None`` without a grating.
    wavmode, wavmode_raw : str
        Normalised WAVMODE (``400_M2``, ``600_BLUE``, ``Custom``, ``Imaging``) or
        ``"unknown"`` when it is empty or not a mode spelling; the value as written.
    lamps : frozenset of str
        Elements of the comparison lamps that were on.
    lamp_names : tuple of str
        The lamps (``HgAr``, ``Ne``, ``FeHeAr``...).
    lamp_source : str
        ``"LAMP_*"``, ``"OBJECT"`` or ``""`` (none known).
    slit_width : float or None
        Slit width in arcsec from SLIT (``1.0_LONG_SLIT``, ``0.45" long slit``).
    grating_angle, camera_angle : float or None
        GRT_ANG (else GRT_TARG) and CAM_ANG (else CAM_TARG), degrees.
    binning : tuple of int or None
        (columns, rows) from CCDSUM, else from ROI (``Spectroscopic 2x2``).
    gain, rdnoise : float or None
    decisions : tuple of str
        Every value this module had to interpret, e.g. ``"OBSTYPE 'ZERO' -> BIAS"``.
    problems : tuple of str
        Absurd values, each naming the key, the value and what would be right.
    """

    camera: str = ""
    obstype: str = ""
    obstype_raw: str = ""
    role: str = "other"
    engineering: str = ""
    grating: str = ""
    grating_raw: str = ""
    lines_per_mm: float | None = None
    wavmode: str = "unknown"
    wavmode_raw: str = ""
    lamps: frozenset[str] = frozenset()
    lamp_names: tuple[str, ...] = ()
    lamp_source: str = ""
    slit_width: float | None = None
    grating_angle: float | None = None
    camera_angle: float | None = None
    binning: tuple[int, int] | None = None
    gain: float | None = None
    rdnoise: float | None = None
    decisions: tuple[str, ...] = field(default=())
    problems: tuple[str, ...] = field(default=())


def _text(header, key) -> str:
    value = header.get(key)
    return "" if value is None else str(value).strip()


def _number(value) -> float | None:
    try:
        number = float(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if number == number else None  # NaN is no number


def normalize_obstype(
    raw: str, obj: str = "", roi: str = "", grating: bool = False, ra: str = "", dec: str = ""
) -> tuple[str, str, str, list[str]]:
    """OBSTYPE -> (canonical OBSTYPE, role, engineering reason, decisions).

    An OBJECT frame of a star of the flux library, by name (any spelling) or by its
    pointing (``ra``/``dec``, OBSRA/OBSDEC, within 30"), is a ``standard``
    (:func:`pipeline.fluxcal.standards.find_standard`).

    ``FOCUS`` frames and acquisition images (ROI ``Slit Imaging/Alignment``, or OBJECT
    ``..._acq`` taken without a grating) are engineering frames: role ``other``, never
    reduced as science.

    Parameters
    ----------
    raw : str
        The OBSTYPE card as written.
    obj : str
        OBJECT, for acquisition names and standard stars.
    roi : str
        ROI, for the slit-imaging/alignment ROI of acquisitions.
    grating : bool
        Whether a grating is in the beam (an ``..._acq`` OBJECT without one is an
        acquisition image).
    ra, dec : str
        OBSRA and OBSDEC (sexagesimal), to recognise a standard by its pointing.

    Returns
    -------
    obstype : str
        The canonical OBSTYPE (``"OBJECT"``, ``"BIAS"``, ``"FLAT"``, ``"COMP"``...).
    role : str
        ``"science"``, ``"standard"``, ``"bias"``, ``"flat"``, ``"arc"`` or ``"other"``.
    engineering : str
        Why the frame is an engineering frame (``"acquisition"``, a focus frame...), or
        ``""``.
    decisions : list of str
        What was inferred, for the frame's log.
    """
    key = raw.upper().replace(" ", "").replace("_", "")
    decisions: list[str] = []
    if key in ENGINEERING_OBSTYPES:
        why = ENGINEERING_OBSTYPES[key]
        decisions.append(f"OBSTYPE {raw!r} -> engineering frame ({why}): registered, not reduced")
        return key, "other", why, decisions
    role = OBSTYPE_ROLE.get(key, "other")
    if role in {"science", "standard"} and (
        _ACQUISITION_ROI.search(roi) or (not grating and _ACQUISITION_OBJECT.search(obj))
    ):
        where = f"ROI {roi!r}" if _ACQUISITION_ROI.search(roi) else f"OBJECT {obj!r}"
        decisions.append(
            f"OBSTYPE {raw!r} with {where} -> engineering frame (acquisition): registered, "
            "not reduced"
        )
        return key, "other", "acquisition", decisions
    canonical = ROLE_OBSTYPE.get(role, key)
    if role == "other" and key:
        decisions.append(f"OBSTYPE {raw!r} is not a known frame type: registered, not reduced")
    elif not key:
        decisions.append("OBSTYPE missing: the frame's role is unknown")
    elif canonical != key and role != "standard":
        decisions.append(f"OBSTYPE {raw!r} -> {canonical}")
    if role == "science":
        from pipeline.fluxcal.standards import find_standard  # it imports standard_key

        star, how = find_standard(obj, ra, dec)
        if star is not None:
            if how != "OBJECT":
                decisions.append(f"OBJECT {obj!r} is the standard {star.name} by its {how}")
            return "OBJECT", "standard", "", decisions
    return canonical if role != "standard" else key, role, "", decisions


def standard_key(name: str) -> str:
    """Fold a star name for comparison: ``"LTT 3218"``, ``"ltt3218"`` -> ``"ltt3218"``.

    Parameters
    ----------
    name : str
        A star name in any spelling (``None`` is taken as empty).

    Returns
    -------
    str
        Lower-case letters and digits only; a ``d`` between digits (``BD+28d4211``) is
        dropped.
    """
    text = re.sub(r"(\d)d(\d)", r"\1\2", (name or "").lower())
    return re.sub(r"[^a-z0-9]", "", text)


def standard_star_names() -> frozenset[str]:
    """Folded names of the spectrophotometric standards in the flux library.

    An OBJECT frame of one of these stars is a ``standard``.

    Returns
    -------
    frozenset of str
        The :func:`standard_key` of every star of
        :func:`pipeline.fluxcal.standards.catalogue`: the bundled tables and those of the
        deployment's folders of more standards (read again when a folder changes).
    """
    from pipeline.fluxcal.standards import catalogue  # it imports standard_key

    return frozenset(star.key for star in catalogue())


def normalize_grating(raw: str) -> tuple[str, float | None, list[str]]:
    """GRATING -> (canonical name, lines per mm, decisions).

    ``400_SYZY`` and ``SYZY_400`` -> ``400_SYZY`` (400); ``SYZY_600-OLD`` ->
    ``600_SYZY_OLD``; ``KOSI_600`` -> ``600_KOSI``; ``<NO GRATING>`` -> ``NO_GRATING``.

    Parameters
    ----------
    raw : str
        The GRATING card as written.

    Returns
    -------
    name : str
        The canonical name (``"400_SYZY"``, ``"NO_GRATING"``).
    lines_per_mm : float or None
        Grooves per mm read from the name; ``None`` without a grating or when the name has
        no (or several) numbers.
    decisions : list of str
        What was changed or found odd, for the frame's log (empty for a canonical name).
    """
    text = raw.strip().strip("<>").strip().upper()
    if text.replace("-", "_") in _NO_GRATING or text.replace("_", " ") in _NO_GRATING:
        return (
            "NO_GRATING",
            None,
            ([] if raw.strip() in {"", "<NO GRATING>"} else [f"GRATING {raw!r} -> NO_GRATING"]),
        )
    parts = [p for p in re.split(r"[\s_\-]+", text) if p]
    numbers = [p for p in parts if p.isdigit()]
    if len(numbers) != 1:
        return (
            re.sub(r"[\s\-]+", "_", text),
            None,
            [f"GRATING {raw!r}: no lines/mm in the name (expected e.g. 400_SYZY)"],
        )
    words = [p for p in parts if not p.isdigit()]
    canonical = "_".join([numbers[0], *words])
    decisions = []
    unknown = [w for w in words if w not in _GRATING_WORDS]
    if unknown:
        decisions.append(f"GRATING {raw!r}: unfamiliar word(s) {', '.join(unknown)}")
    if canonical != raw.strip():
        decisions.append(f"GRATING {raw!r} -> {canonical} ({numbers[0]} l/mm)")
    return canonical, float(numbers[0]), decisions


def normalize_wavmode(raw: str, lines_per_mm: float | None = None) -> tuple[str, list[str]]:
    """WAVMODE -> (normalised mode or ``"unknown"``, decisions).

    A library mode in any spelling (``400 m2`` -> ``400_M2``), ``Custom``, ``Imaging``;
    a spelling that is no mode (``400WD``) or an empty value gives ``"unknown"``: the
    mode then comes from the optics (grating and angles).

    Parameters
    ----------
    raw : str
        The WAVMODE card as written.
    lines_per_mm : float or None
        The grating's grooves per mm from GRATING, to flag a mode naming another grating;
        ``None`` skips that check.

    Returns
    -------
    mode : str
        A library mode (``"400_M2"``), ``"Custom"``, ``"Imaging"`` or ``"unknown"``.
    decisions : list of str
        What was changed or found inconsistent, for the frame's log.
    """
    text = raw.strip()
    if not text:
        return "unknown", ["WAVMODE missing or empty -> unknown (mode from grating and angles)"]
    norm = normalize_mode(text)
    if norm in {"CUSTOM", "IMAGING"}:
        value = norm.capitalize()
        return value, ([] if value == text else [f"WAVMODE {raw!r} -> {value}"])
    decisions = []
    # The pattern first: it accepts every library spelling without reading the 80
    # library files (1.6 s) that modes() loads; the library decides the odd ones.
    if _MODE_PATTERN.match(norm) or norm in modes():
        if norm != text:
            decisions.append(f"WAVMODE {raw!r} -> {norm}")
        grooves = norm.split("_", 1)[0]
        if lines_per_mm and grooves.isdigit() and float(grooves) != lines_per_mm:
            decisions.append(
                f"WAVMODE {raw!r} names a {grooves} l/mm grating but GRATING has "
                f"{lines_per_mm:g} l/mm"
            )
        return norm, decisions
    return "unknown", [
        f"WAVMODE {raw!r} is not a mode (expected e.g. 400_M2 or Custom) -> unknown "
        "(mode from grating and angles)"
    ]


def lamps_from_object(obj: str) -> tuple[str, ...]:
    """Lamp names written in an arc's OBJECT (``Fe``, ``HgAr``, ``CuHeAr``, ``HgArNe``).

    Only an OBJECT made entirely of lamp element symbols (and words like ``lamp`` or
    ``comp``) counts, so a star named ``Arcturus`` gives nothing. ``Fe`` and ``Cu``
    mean the FeHeAr and CuHeAr lamps.

    Parameters
    ----------
    obj : str
        The frame's OBJECT card (``None`` or empty gives nothing).

    Returns
    -------
    tuple of str
        Lamp names of the library (``"FeHeAr"``, ``"CuHeAr"``, ``"HgAr"``, ``"Ne"``...),
        each once, in the order found; empty when OBJECT is not made of lamp symbols.
    """
    text = _LAMP_FILLER.sub("", obj or "")
    if not text or not _LAMP_OBJECT.fullmatch(text):
        return ()
    tokens = [t.capitalize() for t in re.findall(r"hg|ar|ne|cu|he|fe", text, re.IGNORECASE)]
    names: list[str] = []
    for metal in ("Fe", "Cu"):
        if metal in tokens:
            names.append(LAMP_BY_ELEMENT[metal])
            tokens = [t for t in tokens if t not in {metal, "He", "Ar"}]
    if "Hg" in tokens:
        names.append("HgAr")
        tokens = [t for t in tokens if t not in {"Hg", "Ar"}]
    names += [t for t in tokens if t in _LAMP_TOKENS]
    return tuple(dict.fromkeys(names))


def normalize_lamps(header, role: str) -> tuple[frozenset, tuple, str, list[str]]:
    """Read the comparison lamps from ``LAMP_*`` cards, else (arcs only) from OBJECT.

    Parameters
    ----------
    header : astropy.io.fits.Header or dict
        The raw header.
    role : str
        The frame's role (``"arc"``, ``"science"``...): OBJECT is read for arcs only.

    Returns
    -------
    elements : frozenset of str
        Elements of the lamps switched on (``{"Hg", "Ar", "Ne"}``); empty when unknown.
    names : tuple of str
        The lamps' names (``("HgAr", "Ne")``).
    source : str
        ``"LAMP_*"``, ``"OBJECT"``, or ``""`` when no lamp was found.
    decisions : list of str
        What was inferred, or why the lamps are unknown (for the frame's log).
    """
    if any(key in header for key in LAMP_KEYWORDS):
        on = lamps_on(header)
        names = tuple(
            LAMP_KEYWORDS[k]
            for k in LAMP_KEYWORDS
            if k in header and str(header[k]).strip().upper() in {"TRUE", "T", "1", "ON", "YES"}
        )
        return on, names, "LAMP_*" if on else "", []
    if role != "arc":
        return frozenset(), (), "", []
    obj = _text(header, "OBJECT")
    names = lamps_from_object(obj)
    if not names:
        return (
            frozenset(),
            (),
            "",
            [
                f"lamps unknown: no LAMP_* cards and OBJECT {obj!r} names no lamp "
                "(write e.g. OBJECT = 'HgArNe' or the LAMP_* cards)"
            ],
        )
    found = frozenset().union(*(elements(n) for n in names))
    return (
        found,
        names,
        "OBJECT",
        [f"lamps {'+'.join(names)} from OBJECT {obj!r} (no LAMP_* cards)"],
    )


def normalize_filter(raw) -> str:
    """Give FILTER2 one spelling.

    ``<NO FILTER>``, ``NO_FILTER``, ``none`` -> ``NO_FILTER``; ``gg455``, ``GG 455`` ->
    ``GG455``.

    Parameters
    ----------
    raw : str or None
        The FILTER2 card as written.

    Returns
    -------
    str
        The canonical spelling, upper case without separators; ``""`` when the card is
        missing or empty.
    """
    text = "" if raw is None else str(raw).strip().strip("<>").strip().upper()
    text = re.sub(r"[\s_\-]+", "", text)  # GG 455, GG-455, GG_455 -> GG455
    if text in {"NOFILTER", "NONE", "NOFILT", "OPEN", "EMPTY"}:
        return "NO_FILTER"
    return text


def slit_width(raw: str) -> float | None:
    """Read the slit width from a SLIT card: ``1.0_LONG_SLIT`` -> 1.0, ``0.45" long slit`` -> 0.45.

    Parameters
    ----------
    raw : str
        The SLIT card as written.

    Returns
    -------
    float or None
        The width in arcsec; ``None`` when the card does not start with a number followed
        by a long-slit word (``LONG``, ``LS``) or nothing.
    """
    match = _SLIT_WIDTH.match(raw or "")
    return float(match.group(1)) if match else None


def parse_binning(header) -> tuple[tuple[int, int] | None, list[str], list[str]]:
    """Read the (columns, rows) binning from CCDSUM, else from ROI.

    Parameters
    ----------
    header : astropy.io.fits.Header or dict
        The raw header.

    Returns
    -------
    binning : tuple of (int, int) or None
        Binning along columns and rows (1-8 each); ``None`` when neither card gives one.
    decisions : list of str
        How it was inferred (from ROI when CCDSUM is missing).
    problems : list of str
        Why a CCDSUM card present could not be read (the binning is then ``None``).
    """
    raw = header.get("CCDSUM")
    text = "" if raw is None else str(raw).strip()
    if text:
        parts = text.split()
        if len(parts) == 2 and all(p.isdigit() for p in parts):
            bx, by = int(parts[0]), int(parts[1])
            if 1 <= bx <= 8 and 1 <= by <= 8:
                return (bx, by), [], []
        return (
            None,
            [],
            [
                f"CCDSUM={text!r} is not a binning: expected two integers 1-8, columns then "
                "rows, like '2 2' or '1 2'"
            ],
        )
    match = re.search(r"(\d)\s*x\s*(\d)", _text(header, "ROI"))
    if match and int(match.group(1)) >= 1 and int(match.group(2)) >= 1:
        b = (int(match.group(1)), int(match.group(2)))
        return b, [f"binning {b[0]}x{b[1]} from ROI {_text(header, 'ROI')!r} (no CCDSUM)"], []
    return None, [], []


def _camera(header, gain, rdnoise) -> tuple[str, list[str]]:
    instconf = _text(header, "INSTCONF").capitalize()
    if instconf in {"Red", "Blue"}:
        return instconf, []
    instrume = _text(header, "INSTRUME")
    low = instrume.lower()
    for camera in ("Red", "Blue"):
        if camera.lower() in low:
            return camera, [f"camera {camera} from INSTRUME {instrume!r} (no INSTCONF)"]
    if gain is not None and rdnoise is not None:
        cameras = {
            m.camera for m in READOUT_MODES if find_readout_mode(gain, rdnoise, m.camera) is m
        }
        if len(cameras) == 1:
            camera = cameras.pop()
            return camera, [
                f"camera {camera} from the readout mode GAIN={gain:g} RDNOISE={rdnoise:g} "
                f"(INSTRUME {instrume!r}, no INSTCONF)"
            ]
    return "", [f"camera unknown: INSTRUME {instrume!r}, no INSTCONF"]


def _angle(header, measured: str, target: str) -> float | None:
    value = _number(header.get(measured))
    if value is None:
        value = _number(header.get(target))
    return None if value is None else round(value, 4)


def normalize_header(header) -> NormalizedHeader:
    """All the normalisation rules applied to one header.

    Parameters
    ----------
    header : astropy.io.fits.Header or mapping
        A raw (or product) primary header.

    Returns
    -------
    NormalizedHeader
        Never raises; absurd values are in ``problems``.
    """
    decisions: list[str] = []
    problems: list[str] = []
    obstype_raw = _text(header, "OBSTYPE")
    obj = _text(header, "OBJECT")
    has_grating = normalize_grating(_text(header, "GRATING"))[0] != "NO_GRATING"
    obstype, role, engineering, notes = normalize_obstype(
        obstype_raw,
        obj,
        _text(header, "ROI"),
        has_grating,
        _text(header, "OBSRA"),
        _text(header, "OBSDEC"),
    )
    decisions += notes

    instrume = _text(header, "INSTRUME")
    if instrume and not re.search(r"ghts|goodman", instrume, re.IGNORECASE):
        decisions.append(f"INSTRUME {instrume!r} is not a Goodman name (ghts_red, Goodman Spectro)")

    gain, rdnoise = _number(header.get("GAIN")), _number(header.get("RDNOISE"))
    for key, value, example in (
        ("GAIN", gain, "e-/ADU > 0, e.g. 1.48"),
        ("RDNOISE", rdnoise, "e- >= 0, e.g. 3.89"),
    ):
        if value is None and _text(header, key):
            problems.append(f"{key}={header.get(key)!r} is not a number: expected {example}")
    if gain is not None and gain <= 0:
        problems.append(
            f"GAIN={header.get('GAIN')!r} is not a gain: expected e-/ADU > 0, e.g. 1.48"
        )
    if rdnoise is not None and rdnoise < 0:
        problems.append(
            f"RDNOISE={header.get('RDNOISE')!r} is not a read noise: expected e- >= 0, e.g. 3.89"
        )
    camera, notes = _camera(header, gain, rdnoise)
    decisions += notes

    grating_raw = _text(header, "GRATING")
    grating, lines, notes = normalize_grating(grating_raw)
    decisions += notes
    wavmode_raw = _text(header, "WAVMODE")
    wavmode, notes = normalize_wavmode(wavmode_raw, lines)
    if wavmode_raw or role in {"flat", "arc", "science", "standard"}:
        decisions += notes
    lamps, lamp_names, lamp_source, notes = normalize_lamps(header, role)
    decisions += notes
    binning, notes, bad = parse_binning(header)
    decisions += notes
    problems += bad

    return NormalizedHeader(
        camera=camera,
        obstype=obstype,
        obstype_raw=obstype_raw,
        role=role,
        engineering=engineering,
        grating=grating,
        grating_raw=grating_raw,
        lines_per_mm=lines,
        wavmode=wavmode,
        wavmode_raw=wavmode_raw,
        lamps=lamps,
        lamp_names=lamp_names,
        lamp_source=lamp_source,
        slit_width=slit_width(_text(header, "SLIT")),
        grating_angle=_angle(header, "GRT_ANG", "GRT_TARG"),
        camera_angle=_angle(header, "CAM_ANG", "CAM_TARG"),
        binning=binning,
        gain=gain,
        rdnoise=rdnoise,
        decisions=tuple(decisions),
        problems=tuple(problems),
    )
