"""A whole night: the observing plan, the frames in order, and their truth.

:func:`iter_night` yields the frames in observing order; :func:`simulate_night`
writes them and ``truth.json`` into a night directory atomically. The schema of the
truth is documented in :mod:`pipeline.simulate`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np
from astropy.io import fits

from pipeline import instrument, lamps
from pipeline.simulation import header as hdr
from pipeline.simulation import optics, physical, spectra
from pipeline.simulation.config import (
    OBSTYPES,
    NightConfig,
    SimulationConfigError,
    find_readout,
    lamp_name,
    validate,
)
from pipeline.simulation.detector import PIXEL_RESPONSE_RMS, Detector

TRUTH_SCHEMA = "gsp-sim-truth/1"
TRUTH_FILE = "truth.json"
#: Moffat beta of the seeing profile along the slit.
MOFFAT_BETA = 3.0
#: Readout time (s) of a full frame at binning 1, 2, 3.
READ_TIME = {1: 7.5, 2: 2.24, 3: 1.3}


class NightExistsError(FileExistsError):
    """The night directory already holds files (and replacing it was not asked for)."""


class SimulatedFrame(NamedTuple):
    """One raw frame: its file name, its FITS content and its truth record."""

    name: str
    hdul: fits.HDUList
    truth: dict

    def fits_bytes(self) -> bytes:
        """The frame as the bytes of a FITS file (what the instrument would write).

        Returns
        -------
        bytes
        """
        buffer = io.BytesIO()
        self.hdul.writeto(buffer)
        return buffer.getvalue()


def _r(values, nd=4):
    """Round for JSON (keeps truth.json small; 1e-4 px / Å is far below any test)."""
    return np.round(np.asarray(values, float), nd).tolist()


def pick_template(mode: str, lamp: str | None) -> lamps.LampTemplate:
    """The library template for a mode and lamp (``None``: the richest one).

    Parameters
    ----------
    mode : str
        A library WAVMODE.
    lamp : str or None

    Returns
    -------
    pipeline.lamps.LampTemplate

    Raises
    ------
    SimulationConfigError
        When the mode has no template (of that lamp).
    """
    if lamp is None:
        t = lamps.find_template(mode)
        if t is None:
            raise SimulationConfigError(f"mode {mode!r} has no lamp template")
        return t
    for t in lamps.templates_for_mode(mode):
        if lamp_name(t).lower() == lamp.lower():
            return t
    raise SimulationConfigError(f"no {lamp} template for mode {mode}")


def line_fwhm_unbinned(slit_arcsec: float) -> float:
    """FWHM (unbinned px) of an unresolved line for a slit width.

    The slit image (anamorphically demagnified) dominates wide slits; the optics and
    pixels set a floor of ~3.5 px for narrow ones, as in the library templates.

    Parameters
    ----------
    slit_arcsec : float

    Returns
    -------
    float
    """
    return max(3.5, 0.75 * slit_arcsec / instrument.PLATE_SCALE_ARCSEC)


class _Light(NamedTuple):
    """What one frame shows: its object and name label, the light on the detector
    (``None`` for a bias), the truth recorded about it, and its lamps and pointing."""

    obj: str
    label: str
    signal: np.ndarray | None
    truth: dict | None = None
    lamps_on: frozenset = frozenset()
    quartz: float = 0.0
    pointing: tuple[float, float] | None = None
    exptime: float | None = None


@dataclasses.dataclass
class _Target:
    name: str
    brightness: float
    coefficients: tuple[float, float, float]  # rows = c0 + c1*(x-xc) + c2*(x-xc)**2
    x_centre: float
    fwhm_rows: float

    def centres(self, x) -> np.ndarray:
        d = np.asarray(x, float) - self.x_centre
        c0, c1, c2 = self.coefficients
        return c0 + c1 * d + c2 * d * d


class NightSimulator:
    """Plans a night from a :class:`NightConfig` and renders its frames in order."""

    def __init__(self, cfg: NightConfig):
        self.cfg = cfg = validate(cfg)
        self.rng = np.random.default_rng(cfg.seed)
        self.readout = find_readout(cfg.camera, cfg.readout)
        self.template = None if cfg.imaging else pick_template(cfg.mode, cfg.lamp)
        self.lamp = None if cfg.imaging else lamp_name(self.template)
        self.library_template = self.template
        self.physical = None
        if not cfg.imaging and cfg.arc_source == "physical":
            self.physical = self._physical_truth()
            # the truth's relation replaces the stored solution everywhere
            self.template = self.physical.template
        custom_roi = cfg.roi_rows is not None or cfg.roi_name is not None
        self.layout = optics.Layout(
            binning=cfg.binning,
            imaging=cfg.imaging,
            line_fwhm_unbinned=line_fwhm_unbinned(cfg.slit_arcsec),
            tilt=0.0 if cfg.imaging else float(cfg.tilt),
            rows_unbinned=cfg.roi_rows,
            roi=(cfg.roi_name or "user-defined") if custom_roi else None,
        )
        self.geometry = self.layout.geometry
        self.detector = Detector(cfg.camera, self.geometry, self.readout, self.rng)
        # arcs read with another serial binning (CCDSUM "1 2" in a 2x2 night): their
        # own layout and detector (drawn only then, so other nights' streams stay)
        self.arc_layout, self.arc_detector = self.layout, self.detector
        bx = cfg.arc_serial_binning
        if not cfg.imaging and bx is not None and bx != cfg.binning:
            self.arc_layout = dataclasses.replace(
                self.layout,
                binning=bx,
                binning_y=cfg.binning,
                tilt=float(cfg.tilt) * cfg.binning / bx,
            )
            self.arc_detector = Detector(
                cfg.camera, self.arc_layout.geometry, self.readout, self.rng
            )
        self.night_date = dt.date.fromisoformat(cfg.date)
        self.filter2 = "" if self.template is None else self.template.filter2
        self.slit = "<NO MASK>" if cfg.imaging else f"{cfg.slit_arcsec:g}_LONG_SLIT"
        self.targets = [] if cfg.imaging else self._plan_targets()
        self.plan = self._plan_frames()

    @classmethod
    def from_truth(cls, truth: dict) -> NightSimulator:
        """The simulator of a written night (same seed: same fixed patterns, same frames).

        ``NightSimulator.from_truth(truth).detector.pixel_response`` is the night's
        pixel-response map (trimmed shape), ``.detector.column_pattern`` its bias
        column pattern (raw columns).
        """
        config = dict(truth["config"])
        if isinstance(config.get("flexure_px"), list):
            config["flexure_px"] = tuple(config["flexure_px"])
        return cls(NightConfig(**config))

    def _physical_truth(self) -> physical.PhysicalTruth:
        cfg, t = self.cfg, self.template
        angles = None if cfg.grating_angle is None else (cfg.grating_angle, cfg.camera_angle)
        setup = hdr.simulated_optics(t, cfg.camera, angles)
        return physical.physical_truth(
            t, cfg.seed, distortion_px=cfg.truth_distortion_px, optics=setup
        )

    def _measured_angles(self) -> tuple[float, float] | None:
        """GRT_ANG, CAM_ANG of a physical-truth night (those its truth is drawn from)."""
        if self.physical is None:
            return None
        cfg = self.cfg
        angles = None if cfg.grating_angle is None else (cfg.grating_angle, cfg.camera_angle)
        return hdr.measured_angles(self.library_template, angles)

    @property
    def wavmode_card(self) -> str | None:
        """WAVMODE written in the headers (``None``: the library mode)."""
        if self.cfg.wavmode_card is not None:
            return self.cfg.wavmode_card
        return "Custom" if self.cfg.grating_angle is not None else None

    # ------------------------------------------------------------------ planning

    def _plan_targets(self) -> list[_Target]:
        lo, hi = self.layout.slit_edges
        if self.cfg.roi_rows is not None:
            # a window on the slit: targets go where the window sees it
            ny = self.layout.shape[0]
            lo, hi = max(lo, 0.15 * ny), min(hi, 0.85 * ny)
        b = self.cfg.binning
        nx = self.layout.shape[1]
        fwhm = self.cfg.seeing_arcsec / instrument.PLATE_SCALE_ARCSEC / b
        targets = []
        # first target near the slit centre, others 25-35% of the slit away
        offsets = [0.0, 0.3, -0.27][: self.cfg.n_targets]
        for k, frac in enumerate(offsets):
            c0 = 0.5 * (lo + hi) + frac * (hi - lo) + self.rng.uniform(-15, 15) / b
            c1 = self.rng.uniform(-0.004, 0.004)
            c2 = self.rng.uniform(0.5e-6, 1.5e-6) * (2.0 / b) * np.sign(self.rng.uniform(-1, 1))
            targets.append(
                _Target(
                    name=self.cfg.science_object
                    if k == 0
                    else f"{self.cfg.science_object}_{k + 1}",
                    brightness=[1.0, 0.4, 0.2][k],
                    coefficients=(float(c0), float(c1), float(c2)),
                    x_centre=(nx - 1) / 2.0,
                    fwhm_rows=fwhm,
                )
            )
        return targets

    def _plan_frames(self) -> list[dict]:
        cfg = self.cfg
        plan: list[dict] = []
        if cfg.imaging:
            plan += [{"role": "bias"} for _ in range(cfg.n_bias)]
            plan += [{"role": "skyflat"} for _ in range(cfg.n_flats)]
            plan += [{"role": "expose"} for _ in range(cfg.n_science)]
        else:
            plan += [{"role": "bias"} for _ in range(cfg.n_bias)]
            plan += [{"role": "flat"} for _ in range(cfg.n_flats)]
            plan += [{"role": "arc"} for _ in range(cfg.n_arcs)]
            plan += [{"role": "science"} for _ in range(cfg.n_science)]
            plan += [{"role": "standard"} for _ in range(cfg.n_standards)]
        # flexure of each shifted frame; flats take the night's first (base) value
        shifted = [p for p in plan if p["role"] in {"arc", "science", "standard"}]
        if isinstance(cfg.flexure_px, int | float):
            base = [float(cfg.flexure_px)] * len(shifted)
            calibration_flexure = float(cfg.flexure_px)
        else:
            base = [float(v) for v in cfg.flexure_px]
            calibration_flexure = base[0] if base else 0.0
        for p, f in zip(shifted, base, strict=True):
            jitter = cfg.flexure_jitter_px * self.rng.standard_normal()
            p["flexure"] = f + (jitter if cfg.flexure_jitter_px else 0.0)
        for p in plan:
            p.setdefault("flexure", 0.0 if cfg.imaging else calibration_flexure)
        # times: calibrations in the evening, the target block after midnight UT
        t = dt.datetime.combine(self.night_date, dt.time(20, 30), tzinfo=dt.UTC)
        t += dt.timedelta(milliseconds=int(self.rng.integers(0, 60000)))
        science_block = dt.datetime.combine(
            self.night_date + dt.timedelta(days=1), dt.time(0, 10), tzinfo=dt.UTC
        )
        read = READ_TIME[cfg.binning]
        for seq, p in enumerate(plan, start=1):
            p["sequence"] = seq
            p["exptime"] = {
                "bias": 0.0,
                "flat": cfg.flat_exptime,
                "skyflat": 3.0,
                "arc": cfg.arc_exptime,
                "science": cfg.science_exptime,
                "expose": cfg.science_exptime,
                "standard": cfg.standard_exptime,
            }[p["role"]]
            if p["role"] in {"arc", "science", "expose"} and t < science_block:
                t = science_block
            p["start"] = t
            overhead = 3.0 if p["role"] == "bias" else 20.0
            t = t + dt.timedelta(seconds=p["exptime"] + read + overhead + 0.001 * seq)
        # pointing: the science target transits half an hour into its block
        science_start = next(
            (p["start"] for p in plan if p["role"] in {"arc", "science", "expose"}), t
        )
        self.target_ra = (hdr.local_sidereal_deg(science_start) + 7.5) % 360.0
        self.target_dec = -45.0 - 10.0 * self.rng.uniform()
        for p in plan:
            if p["role"] == "standard":
                p["star"] = self._pick_standard(p["start"])
        return plan

    def _pick_standard(self, when: dt.datetime) -> spectra.StandardStar:
        lst = hdr.local_sidereal_deg(when)

        def ha(star):
            return abs(((lst - hdr.parse_sexagesimal(star.ra, True) + 180) % 360) - 180)

        usable = [s for s in spectra.standard_stars() if hdr.parse_sexagesimal(s.dec, False) < 15]
        wanted = self.cfg.standard_airmass
        if wanted is not None:

            def off(star):
                dec = hdr.parse_sexagesimal(star.dec, False)
                return abs(hdr.airmass(ha(star), dec) - float(wanted))

            return min(usable, key=off)
        return min(usable, key=ha)

    # ------------------------------------------------------------------ truth

    def night_truth(self) -> dict:
        """Night-level truth (everything that is the same for all frames)."""
        g, lay = self.geometry, self.layout
        cfg = self.cfg
        out = {
            "schema": TRUTH_SCHEMA,
            "config": cfg.to_dict(),
            "camera": cfg.camera,
            "instrume": "ghts_red" if cfg.camera == "Red" else "ghts_blue",
            "binning": cfg.binning,
            "imaging": cfg.imaging,
            "roi": g.roi,
            "raw_shape": list(g.shape),
            "trim_section": g.trim_section,
            "trimsec_card": cfg.trimsec_card or g.trim_section,
            "trimmed_shape": list(g.trimmed_shape),
            "trim_offset": {"row": lay.row_offset, "col": lay.col_offset},
            "prescan_columns": [0, g.prescan],
            "readout_mode": {
                "name": self.readout.name,
                "gain": self.readout.gain,
                "rdnoise": self.readout.rdnoise,
                "level_adu": self.readout.level_adu,
            },
            "saturation_adu": self.readout.saturation_adu,
            "bias_level_adu": self.detector.bias_level,
            "pixel_response_rms": PIXEL_RESPONSE_RMS,
            "bias_column_pattern_adu": _r(self.detector.column_pattern, 3),
        }
        if cfg.imaging:
            return out
        lo, hi = lay.slit_edges
        t = self.template
        out.update(
            {
                "mode": t.mode,
                "lamp": self.lamp,
                "lamp_template": t.file_name,
                "grating": str(hdr.template_header(t).get("GRATING", t.grating)).strip(),
                "filter2": t.filter2,
                "slit": self.slit,
                "wavelength_model": {
                    "kind": "chebyshev",
                    "coefficients": [float(c) for c in t.coefficients],
                    "formula": "lambda(x, y) = chebval(b*(x - tilt*(y - slit_centre_row)) "
                    "+ (b-1)/2 - flexure_px, coefficients); x, y trimmed binned 0-based",
                },
                "wavelength_source": (
                    self.physical.describe() if self.physical else {"source": "library"}
                ),
                "wavmode_card": self.wavmode_card or t.mode,
                "arc_ccdsum": [self.arc_layout.binning, self.arc_layout.by],
                "roi_row_origin_unbinned": lay.row_origin_unbinned,
                "line_fwhm_px": lay.line_fwhm_unbinned / cfg.binning,
                "tilt": lay.tilt,
                "slit_edges": [lo, hi],
                "slit_centre_row": lay.slit_centre,
                "illumination": {
                    "model": "0.5*(erf((y-lo)/(sqrt2*s)) - erf((y-hi)/(sqrt2*s))) * "
                    "(1 + g*(y-(lo+hi)/2)/(hi-lo)), normalized to 1 at y=(lo+hi)/2",
                    "lo": lo,
                    "hi": hi,
                    "s": lay.edge_sigma,
                    "g": optics.ILLUMINATION_GRADIENT,
                    "profile": _r(lay.illumination(), 5),
                },
            }
        )
        return out

    # ------------------------------------------------------------------ frames

    def frames(self) -> Iterator[SimulatedFrame]:
        for p in self.plan:
            yield self._render(p)

    def _obstype(self, role: str, seq: int) -> str:
        conv = self.cfg.obstype_convention
        if conv == "mixed":
            conv = "goodman" if seq % 2 else "lco"
        return OBSTYPES[conv][role]

    # ------------------------------------------------------------- one frame per role

    def _light_bias(self, p, flex, lay, det) -> _Light:
        return _Light("bias", "bias", None)

    def _light_flat(self, p, flex, lay, det) -> _Light:
        signal = self._flat_signal(flex)
        return _Light("flat", "flat", signal, lamps_on=frozenset({"LAMP_QUA"}), quartz=50.0)

    def _light_arc(self, p, flex, lay, det) -> _Light:
        if self.physical is not None:
            signal, truth = self._physical_arc_signal(flex, lay, det)
        else:
            signal, truth = self._arc_signal(flex, lay, det)
        lamps_on = frozenset(hdr.lamp_keywords_for(self.lamp))
        return _Light(self.lamp, self.cfg.science_object, signal, truth, lamps_on)

    def _light_science(self, p, flex, lay, det) -> _Light:
        signal, truth = self._science_signal(flex, p["exptime"])
        return _Light(self.cfg.science_object, self.cfg.science_object, signal, truth)

    def _light_standard(self, p, flex, lay, det) -> _Light:
        star = p["star"]
        ra = hdr.parse_sexagesimal(star.ra, True)
        dec = hdr.parse_sexagesimal(star.dec, False)
        # brighter stars get shorter exposures; the airmass as the header gives it
        exptime = spectra.standard_exptime(star, p["exptime"])
        ha = ((hdr.local_sidereal_deg(p["start"]) - ra + 180.0) % 360.0) - 180.0
        signal, truth = self._standard_signal(flex, exptime, star, hdr.airmass(ha, dec))
        return _Light(star.name, star.name, signal, truth, pointing=(ra, dec), exptime=exptime)

    def _light_skyflat(self, p, flex, lay, det) -> _Light:
        return _Light("skyflat", "skyflat", self._skyflat_signal())

    def _light_expose(self, p, flex, lay, det) -> _Light:
        signal, truth = self._expose_signal(p["exptime"])
        return _Light(self.cfg.science_object, self.cfg.science_object, signal, truth)

    def _pointing(self, p: dict, light: _Light) -> tuple[float, float]:
        if light.pointing is not None:
            return light.pointing
        if p["role"] in {"bias", "flat", "skyflat"}:
            # calibrations in the evening with the telescope near the zenith
            return hdr.local_sidereal_deg(p["start"]), hdr.SOAR_LATITUDE_DEG
        return self.target_ra, self.target_dec

    def _header(self, p: dict, lay, light: _Light, name: str, obstype: str):
        cfg, role = self.cfg, p["role"]
        ra, dec = self._pointing(p, light)
        return hdr.build_header(
            camera=cfg.camera,
            geometry=lay.geometry,
            readout=self.readout,
            obstype=obstype,
            object_name=light.obj,
            exptime=p["exptime"],
            start=p["start"],
            ra_deg=ra,
            dec_deg=dec,
            lamps_on=set(light.lamps_on),
            quartz_percent=light.quartz,
            template=self.template,
            slit=self.slit,
            filter1="NO_FILTER" if not cfg.imaging else "r-SDSS",
            proposal_id=cfg.proposal_id,
            image_id=70000 + 100 * cfg.seed + p["sequence"],
            obs_id=p["sequence"],
            conf_id=1 if role in {"arc", "science"} else 0,
            block_id=1 if role in {"arc", "science"} else 0,
            saved_as=name,
            angles=(None if cfg.grating_angle is None else (cfg.grating_angle, cfg.camera_angle)),
            wavmode=self.wavmode_card,
            lamp_cards=cfg.lamp_keywords,
            ccdsum=(lay.binning, lay.by),
            trimsec=cfg.trimsec_card,
            instrume=cfg.instrume_card,
            measured=self._measured_angles(),
        )

    def _record(self, p: dict, lay, light: _Light, header, name: str, rays) -> dict:
        role = p["role"]
        record = {
            "file": name,
            "sequence": p["sequence"],
            "role": role,
            "obstype": header["OBSTYPE"],
            "object": light.obj,
            "exptime": p["exptime"],
            "date_obs": header["DATE-OBS"],
        }
        if not self.cfg.imaging and role != "bias":
            flex = p["flexure"]
            record["flexure_px"] = flex
            record["shift_binned_px"] = flex / lay.binning
            record["wavelength"] = _r(lay.wavelength(self.template, flex), 4)
        if lay is not self.layout:
            # this frame's own geometry (arcs at another CCDSUM than the night)
            record.update(
                {
                    "ccdsum": [lay.binning, lay.by],
                    "raw_shape": list(lay.geometry.shape),
                    "trimmed_shape": list(lay.shape),
                    "trim_offset": {"row": lay.row_offset, "col": lay.col_offset},
                    "line_fwhm_px": lay.line_fwhm_unbinned / lay.binning,
                    "tilt": lay.tilt,
                    "slit_centre_row": lay.slit_centre,
                }
            )
        record.update(light.truth or {})
        if role in {"science", "standard"}:
            self._record_true_flux(record, p["exptime"], float(header["AIRMASS"]))
        off_r, off_c = lay.row_offset, lay.col_offset
        record["cosmic_rays"] = {
            "events": int(np.unique(rays["event"]).size),
            "rows": rays["row"].tolist(),
            "cols": rays["col"].tolist(),
            "raw_rows": (rays["row"] + off_r).tolist(),
            "raw_cols": (rays["col"] + off_c).tolist(),
            "adu": _r(rays["adu"], 1),
            "event": rays["event"].tolist(),
        }
        return record

    def _render(self, p: dict) -> SimulatedFrame:
        role, seq = p["role"], p["sequence"]
        if role == "arc":
            lay, det = self.arc_layout, self.arc_detector
        else:
            lay, det = self.layout, self.detector
        light = getattr(self, f"_light_{role}")(p, p["flexure"], lay, det)
        if light.exptime is not None:
            p = dict(p, exptime=light.exptime)
        signal = light.signal
        if signal is not None:
            signal = signal * det.pixel_response
        data, rays = det.read(
            signal,
            exptime=p["exptime"],
            cosmic_rate=self.cfg.cosmic_rate,
            light=signal is not None,
            noise=self.cfg.noise,
        )
        name = hdr.file_name(seq, light.label, self.night_date, comp=role == "arc")
        header = self._header(p, lay, light, name, self._obstype(role, seq))
        hdul = fits.HDUList([fits.PrimaryHDU(data=data, header=header)])
        return SimulatedFrame(name, hdul, self._record(p, lay, light, header, name, rays))

    # ------------------------------------------------------------- light models

    def _flat_signal(self, flex):
        # 40 % of the flat check's level (the half full well), not of saturation
        peak = 0.4 * min(self.readout.half_well_adu, 65535 - self.detector.bias_level)
        col = spectra.quartz_flat(self.layout, self.template, flex, self.filter2, peak)
        return self.layout.illumination()[:, None] * col[None, :]

    def _arc_signal(self, flex, lay, det):
        peak = 0.5 * min(self.readout.saturation_adu, 65535 - det.bias_level)
        grid, spec, lines = spectra.arc_spectrum(lay, self.template, flex, peak)
        rows = np.arange(lay.shape[0], dtype=float)
        img = optics.spread_rows(grid, spec, lay, rows) * lay.illumination()[:, None]
        truth = {
            "lamp": self.lamp,
            "lamp_template": self.template.file_name,
            "lines": [
                {
                    "wavelength": float(w),
                    "column": round(float(c), 5),
                    "peak_adu": round(float(pk), 2),
                    "flux_adu": round(float(f), 2),
                    "isolated": bool(iso),
                    "template_pixel": float(tp),
                }
                for w, c, pk, f, iso, tp in zip(
                    lines.wavelengths,
                    lines.columns,
                    lines.peaks,
                    lines.fluxes,
                    lines.isolated,
                    lines.template_pixels,
                    strict=True,
                )
            ],
        }
        return img, truth

    def _physical_arc_signal(self, flex, lay, det):
        """An arc of NIST lines at the physical truth (see :mod:`.physical`)."""
        headroom = min(self.readout.saturation_adu, 65535) - det.bias_level
        grid, spec, lines = physical.physical_arc_spectrum(
            lay, self.physical, flex, headroom, self.cfg.n_saturated_lines
        )
        rows = np.arange(lay.shape[0], dtype=float)
        img = optics.spread_rows(grid, spec, lay, rows) * lay.illumination()[:, None]
        blended, saturated, expected, snr = physical.line_flags(
            lines.columns,
            lines.fluxes,
            lines.peaks,
            lay.line_fwhm_unbinned / lay.binning,
            self.readout.gain,
            self.readout.rdnoise / self.readout.gain,
            headroom,
            lay.shape[1],
            lines.unlike_lamp,
        )
        truth = {
            "lamp": self.lamp,
            "lamp_template": self.library_template.file_name,
            "line_source": "nist",
            "lines": [
                {
                    "wavelength": float(w),
                    "column": round(float(c), 5),
                    "peak_adu": round(float(pk), 2),
                    "flux_adu": round(float(f), 2),
                    "element": el,
                    "ion": ion.strip(),
                    "intensity_from": src,
                    "isolated": not bool(bl),
                    "blended": bool(bl),
                    "saturated": bool(sat),
                    "snr_row": round(float(sn), 1),
                    "expected": bool(ex),
                    "unlike_lamp": bool(ul),
                }
                for w, c, pk, f, el, ion, src, bl, sat, sn, ex, ul in zip(
                    lines.wavelengths,
                    lines.columns,
                    lines.peaks,
                    lines.fluxes,
                    lines.elements,
                    lines.ions,
                    lines.strength_source,
                    blended,
                    saturated,
                    snr,
                    expected,
                    lines.unlike_lamp,
                    strict=True,
                )
            ],
        }
        return img, truth

    def _sky(self, flex, exptime):
        lay = self.layout
        grid, spec, sky_lines = spectra.sky_spectrum(
            lay, self.template, flex, self.filter2, exptime
        )
        rows = np.arange(lay.shape[0], dtype=float)
        img = optics.spread_rows(grid, spec, lay, rows) * lay.illumination()[:, None]
        cols = np.arange(lay.shape[1], dtype=float)
        sky_adu = np.interp(cols, grid, spec)
        return img, sky_adu, sky_lines

    def _add_point_source(self, img, target: _Target, grid, spec):
        """Add a point source on its curved trace; return its truth arrays."""
        lay = self.layout
        ny, nx = lay.shape
        cols = np.arange(nx, dtype=float)
        centres = target.centres(cols)
        half = int(math.ceil(10 * target.fwhm_rows)) + 2
        r0 = max(int(math.floor(centres.min())) - half, 0)
        r1 = min(int(math.ceil(centres.max())) + half + 1, ny)
        rows = np.arange(r0, r1, dtype=float)
        slab = optics.spread_rows(grid, spec, lay, rows, cols)
        profile = optics.moffat_profile(
            rows[:, None] - centres[None, :], target.fwhm_rows, MOFFAT_BETA
        )
        img[r0:r1] += slab * profile * lay.illumination(rows)[:, None]
        # what the source puts in each column, summed over rows, on its trace row
        at_trace = cols - lay.row_shift(centres)
        flux = np.interp(at_trace, grid, spec)
        return centres, at_trace, flux

    def _science_signal(self, flex, exptime):
        lay, cfg = self.layout, self.cfg
        img, sky_adu, sky_lines = self._sky(flex, exptime)
        targets = []
        for tgt in self.targets:
            grid, spec, lines = spectra.target_spectrum(
                lay, self.template, flex, self.filter2, exptime, cfg.redshift, tgt.brightness
            )
            centres, at_trace, flux = self._add_point_source(img, tgt, grid, spec)
            for line in lines:
                # where the line crosses this target's trace (tilted lines)
                x = line["column"]
                for _ in range(6):
                    x = line["column"] + float(lay.row_shift(tgt.centres(x)))
                line["column_at_trace"] = round(x, 5)
                line["row_at_trace"] = round(float(tgt.centres(x)), 5)
                line["column"] = round(line["column"], 5)
            targets.append(
                {
                    "name": tgt.name,
                    "kind": "point",
                    "trace_centres": _r(centres, 4),
                    "trace_polynomial": {
                        "coefficients": list(tgt.coefficients),
                        "x_centre": tgt.x_centre,
                        "formula": "row = c0 + c1*(x-x_centre) + c2*(x-x_centre)**2",
                    },
                    "fwhm": tgt.fwhm_rows,
                    "profile": "moffat",
                    "moffat_beta": MOFFAT_BETA,
                    "redshift": cfg.redshift,
                    "flux_adu": _r(flux, 3),
                    "wavelength_at_trace": _r(lay.wavelength(self.template, flex, at_trace), 4),
                    "emission_lines": lines,
                }
            )
        truth = {
            "targets": targets,
            "sky_adu": _r(sky_adu, 3),
            "sky_lines": [{"wavelength": w, "column": round(c, 5)} for w, c in sky_lines],
        }
        return img, truth

    def _record_true_flux(self, record: dict, exptime: float, airmass: float) -> None:
        """Each target's flux above the atmosphere (erg/s/cm²/Å) on its
        ``wavelength_at_trace``, from what it put on the detector (flux calibration truth)."""
        record["airmass"] = airmass
        for target in record.get("targets", []):
            flux = spectra.true_flux(
                target["flux_adu"], target["wavelength_at_trace"], exptime, self.filter2, airmass
            )
            target["flux_true"] = [float(f"{v:.6e}") for v in flux]

    def _standard_signal(self, flex, exptime, star, airmass):
        lay = self.layout
        img, sky_adu, sky_lines = self._sky(flex, exptime)
        lo, hi = lay.slit_edges
        tgt = _Target(
            name=star.name,
            brightness=1.0,
            coefficients=(
                0.5 * (lo + hi) + self.rng.uniform(-10, 10),
                self.targets[0].coefficients[1],
                self.targets[0].coefficients[2],
            ),
            x_centre=(lay.shape[1] - 1) / 2.0,
            fwhm_rows=self.targets[0].fwhm_rows,
        )
        grid, spec = spectra.standard_spectrum(
            lay, self.template, flex, self.filter2, exptime, star, airmass
        )
        centres, at_trace, flux = self._add_point_source(img, tgt, grid, spec)
        truth = {
            "standard": {"name": star.name, "esofil_file": star.file_name},
            "targets": [
                {
                    "name": star.name,
                    "kind": "point",
                    "trace_centres": _r(centres, 4),
                    "trace_polynomial": {
                        "coefficients": list(tgt.coefficients),
                        "x_centre": tgt.x_centre,
                        "formula": "row = c0 + c1*(x-x_centre) + c2*(x-x_centre)**2",
                    },
                    "fwhm": tgt.fwhm_rows,
                    "profile": "moffat",
                    "moffat_beta": MOFFAT_BETA,
                    "flux_adu": _r(flux, 3),
                    "wavelength_at_trace": _r(lay.wavelength(self.template, flex, at_trace), 4),
                    "emission_lines": [],
                }
            ],
            "sky_adu": _r(sky_adu, 3),
            "sky_lines": [{"wavelength": w, "column": round(c, 5)} for w, c in sky_lines],
        }
        return img, truth

    # ------------------------------------------------------------- imaging

    def _vignetting(self):
        ny, nx = self.layout.shape
        y = (np.arange(ny) - (ny - 1) / 2) / ny
        x = (np.arange(nx) - (nx - 1) / 2) / nx
        return 1.0 - 0.15 * (y[:, None] ** 2 + x[None, :] ** 2)

    def _skyflat_signal(self):
        # 40 % of the flat check's level (the half full well), not of saturation
        peak = 0.4 * min(self.readout.half_well_adu, 65535 - self.detector.bias_level)
        return peak * self._vignetting()

    def _expose_signal(self, exptime):
        ny, nx = self.layout.shape
        b = self.cfg.binning
        sky = 150.0 * (exptime / 600.0) * b * b
        img = np.full((ny, nx), sky) * self._vignetting()
        n = 40
        xs = self.rng.uniform(20, nx - 20, n)
        ys = self.rng.uniform(20, ny - 20, n)
        fluxes = np.exp(self.rng.uniform(np.log(2e3), np.log(4e5), n)) * (exptime / 600.0)
        fwhm = self.cfg.seeing_arcsec / instrument.PLATE_SCALE_ARCSEC / b
        alpha = optics.moffat_alpha(fwhm, MOFFAT_BETA)
        half = int(math.ceil(8 * fwhm))
        vig = self._vignetting()
        for x0, y0, f in zip(xs, ys, fluxes, strict=True):
            r0, r1 = max(int(y0) - half, 0), min(int(y0) + half + 1, ny)
            c0, c1 = max(int(x0) - half, 0), min(int(x0) + half + 1, nx)
            yy, xx = np.mgrid[r0:r1, c0:c1]
            rr2 = ((yy - y0) ** 2 + (xx - x0) ** 2) / alpha**2
            # 2-D Moffat normalized to unit volume
            psf = (MOFFAT_BETA - 1) / (math.pi * alpha**2) * (1 + rr2) ** (-MOFFAT_BETA)
            img[r0:r1, c0:c1] += f * psf * vig[r0:r1, c0:c1]
        truth = {
            "sky_adu": round(sky, 3),
            "stars": [
                {
                    "col": round(float(x), 4),
                    "row": round(float(y), 4),
                    "flux_adu": round(float(f), 2),
                }
                for x, y, f in zip(xs, ys, fluxes, strict=True)
            ],
            "fwhm": fwhm,
            "profile": "moffat",
            "moffat_beta": MOFFAT_BETA,
        }
        return img, truth


def iter_night(cfg: NightConfig) -> Iterator[SimulatedFrame]:
    """Yield the night's frames in observing order as ``(name, hdul, truth)``.

    The same config and seed always give the same frames.

    Parameters
    ----------
    cfg : NightConfig

    Yields
    ------
    SimulatedFrame
    """
    yield from NightSimulator(cfg).frames()


def _json_default(o):
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serializable: {type(o).__name__}")


def simulate_night(out_dir, cfg: NightConfig, *, force: bool = False) -> dict:
    """Write a night's raw frames and ``truth.json`` into ``out_dir``, atomically.

    Everything is written to a temporary sibling directory that is renamed into place
    at the end, so ``out_dir`` either holds the whole night or is untouched.

    Parameters
    ----------
    out_dir : path
        Night directory; must not exist or be empty, unless ``force``.
    cfg : NightConfig
    force : bool
        Replace an existing non-empty ``out_dir``.

    Returns
    -------
    dict
        The truth, as written to ``truth.json``.

    Raises
    ------
    SimulationConfigError
        Bad configuration (nothing written).
    NightExistsError
        ``out_dir`` holds files and ``force`` is false, or is a file (nothing written).
    OSError
        The directory cannot be written (nothing left behind).
    """
    out_dir = Path(out_dir)
    sim = NightSimulator(cfg)  # validates before anything touches the disk
    if out_dir.exists() and not out_dir.is_dir():
        raise NightExistsError(f"{out_dir} exists and is not a directory")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not force:
        raise NightExistsError(
            f"{out_dir} already holds files; choose a new directory or use force=True"
        )
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".partial", dir=out_dir.parent))
    try:
        truth = sim.night_truth()
        truth["frames"] = []
        for frame in sim.frames():
            frame.hdul.writeto(tmp / frame.name)
            truth["frames"].append(frame.truth)
        with open(tmp / TRUTH_FILE, "w", encoding="utf-8") as fh:
            json.dump(truth, fh, default=_json_default)
        os.chmod(tmp, 0o755)
        if out_dir.exists():
            trash = Path(
                tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".old", dir=out_dir.parent)
            )
            os.rename(out_dir, trash / "night")
            os.rename(tmp, out_dir)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.rename(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return truth


def _write_atomically(path: Path, write) -> None:
    """Write through a hidden temporary name in the same folder, then rename."""
    tmp = path.with_name(f".{path.name}.partial")
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def stream_night(
    out_dir, cfg: NightConfig, *, interval_s: float = 0.0, force: bool = False
) -> Iterator[SimulatedFrame]:
    """Write a night frame by frame, as the instrument would, yielding each frame.

    Each FITS file appears whole (written under a hidden ``.<name>.partial`` name, then
    renamed), ``interval_s`` seconds after the previous one; ``truth.json`` is
    rewritten (also atomically) after every frame with the frames so far. Meant for
    testing live ingestion; use :func:`simulate_night` for a whole night at once.

    Parameters
    ----------
    out_dir : path
        The raw folder written to.
    cfg : NightConfig
    interval_s : float
        Seconds between two frames.
    force : bool
        Write into a folder that already holds a night.

    Yields
    ------
    SimulatedFrame
    """
    import time

    out_dir = Path(out_dir)
    sim = NightSimulator(cfg)
    if out_dir.is_dir() and any(out_dir.iterdir()) and not force:
        raise NightExistsError(
            f"{out_dir} already holds files; choose a new directory or use force=True"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    truth = sim.night_truth()
    truth["frames"] = []
    for k, frame in enumerate(sim.frames()):
        if k and interval_s > 0:
            time.sleep(interval_s)
        _write_atomically(out_dir / frame.name, frame.hdul.writeto)
        truth["frames"].append(frame.truth)

        def dump(path, truth=truth):
            with open(path, "w", encoding="utf-8") as fh:
                json.dump(truth, fh, default=_json_default)

        _write_atomically(out_dir / TRUTH_FILE, dump)
        yield frame
