"""The night's flux step: sensitivities from its standards, ``fwecfzst_`` products.

:func:`night_sensitivities` and :func:`flux_calibrate_spectra` are the last two steps
of the night's plan (:data:`pipeline.plan.NIGHT_PLAN`), after extraction and wavelength
calibration (:func:`pipeline.spectroscopy.night_stage.calibrate_night`):

1. every wavelength-calibrated standard gives a sensitivity master
   (``master_sens_*``, data_type 1), or a status that says why not (saturated, too
   little signal, outside the table's range...);
2. every wavelength-calibrated star spectrum (science and standards, never arcs) is
   flux-calibrated with the compatible sensitivity nearest in time (this night's,
   else an earlier night's from ``calibration_dirs``, its age in the header) into
   ``fwecfzst_<...>.fits`` (RLEVEL 65, data_type 5, erg/s/cm²/Å); with none, the
   spectrum keeps its data_type 4 product and its result says why there is no 5.

The same functions serve a live job: :func:`sensitivity_from_product` for a standard
that arrives, :func:`flux_product` for one spectrum, :func:`load_sensitivities` for
the masters on disk. Nothing raises for one bad file; every outcome is a
:class:`~pipeline.spectroscopy.product_result.ProductResult`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from astropy.io import fits

from pipeline.fluxcal.apply import (
    DATA_TYPE_FLUX,
    RLEVEL_FLUX,
    Choice,
    IncompatibleSensitivity,
    choose_sensitivity,
    flux_calibrate,
)
from pipeline.fluxcal.io import read_spectrum
from pipeline.fluxcal.sensitivity import (
    FluxInputError,
    Sensitivity,
    StandardRejected,
    compute_sensitivity,
    read_sensitivity,
    write_sensitivity,
)
from pipeline.fluxcal.standards import find_standard
from pipeline.products import header_name, raise_if_storage_error
from pipeline.spectroscopy.product_result import ProductResult

DATA_TYPE_MASTER = 1
#: Slit losses are not corrected: the flux scale is relative unless the slit was wide.
SLIT_LOSS_NOTE = "uncorrected: relative flux (slit losses not corrected)"


def saturated_columns(reduced_path, header) -> int:
    """Columns of a reduced standard whose extraction window holds a saturated pixel.

    The window is the product's ``GSP_EXTR`` (rows at the first column) widened by 10
    rows for the trace's curvature; 0 when the reduced frame has no MASK.

    Parameters
    ----------
    reduced_path : str or pathlib.Path
        The reduced 2-D frame (``cfzst_``) the standard was extracted from; its ``MASK``
        extension holds the saturation bit.
    header : astropy.io.fits.Header
        The header of the standard's 1-D product, for ``GSP_EXTR`` (``"lo:hi"`` rows).

    Returns
    -------
    int
        The number of such columns; 0 also when the window or the mask cannot be read.
    """
    from pipeline.reduction.masks import SATURATED

    try:
        lo, hi = (float(v) for v in str(header.get("GSP_EXTR", "")).split(":"))
        with fits.open(reduced_path, memmap=False) as hdul:
            if "MASK" not in hdul:
                return 0
            bits = np.asarray(hdul["MASK"].data, np.uint8)
    except (OSError, ValueError, KeyError):
        return 0
    r0, r1 = max(int(lo) - 10, 0), min(int(np.ceil(hi)) + 11, bits.shape[0])
    return int(np.any(bits[r0:r1] & SATURATED, axis=0).sum())


def sensitivity_from_product(
    path,
    out_dir,
    flux_settings=None,
    settings=None,
    reduced_path=None,
    raw_dirs: Iterable = (),
    standards_dirs: Iterable = (),
) -> tuple[Sensitivity | None, ProductResult]:
    """Make a sensitivity master from one wavelength-calibrated standard product.

    Parameters
    ----------
    path : str or pathlib.Path
        The standard's ``wecfzst_`` product.
    out_dir : str or pathlib.Path
        Where the ``master_sens_*.fits`` is written.
    flux_settings : FluxSettings or None
        Flux-calibration settings (extinction correction, preferred standard...);
        ``None`` means the defaults.
    settings : ReductionSettings or None
        The reduction settings recorded in the master; ``None`` records none.
    reduced_path : str or pathlib.Path or None
        The reduced frame the standard was extracted from: a star saturated in its
        extraction window is refused. ``None`` skips that check.
    raw_dirs : iterable of str or pathlib.Path
        Folders of raw data, never written into.
    standards_dirs : iterable of str or pathlib.Path
        Folders of more standard-star tables searched besides the bundled library and
        the process's (:func:`pipeline.fluxcal.standards.use_library_dirs`): a job on a
        Dask worker gets the service's folders this way.

    Returns
    -------
    (Sensitivity or None, ProductResult)
        The sensitivity (``None`` when skipped) and the result: data_type 1 and status
        ``"written"``, or ``"skipped"`` with why the standard cannot be used (the message
        of :class:`StandardRejected`, an unreadable file, saturation).
    """
    from pipeline.settings import FluxSettings

    flux_settings = flux_settings or FluxSettings()
    t0 = time.perf_counter()
    path = Path(path)
    try:
        spec, header = read_spectrum(path)
    except Exception as exc:  # noqa: BLE001 - unreadable: this standard only
        return None, ProductResult(None, 1, path.name, path.name, "skipped", f"cannot read: {exc}")
    raw = header_name(header, "GSP_ONAM", path.name)
    target = _target_number(path.name)

    def skipped(why: str) -> tuple[None, ProductResult]:
        return None, ProductResult(
            None,
            DATA_TYPE_MASTER,
            raw,
            path.name,
            "skipped",
            f"standard not used: {why}",
            target=target,
            seconds=time.perf_counter() - t0,
        )

    if reduced_path is not None:
        n_sat = saturated_columns(reduced_path, header)
        if n_sat:
            return skipped(
                f"saturated: {n_sat} columns of the star's extraction window reached the "
                "saturation level; take a shorter exposure"
            )
    star, _ = find_standard(
        str(header.get("OBJECT", "")),
        header.get("OBSRA"),
        header.get("OBSDEC"),
        extra_dirs=tuple(standards_dirs),
    )
    try:
        sens = compute_sensitivity(
            spec, header, star, extinction=flux_settings.extinction_correction, frame=path.name
        )
        out = write_sensitivity(
            sens, out_dir, settings=settings, raw_dirs=raw_dirs, flux_settings=flux_settings
        )
    except StandardRejected as exc:
        return skipped(str(exc))
    except Exception as exc:  # noqa: BLE001 - reported on this standard
        return None, ProductResult(
            None,
            DATA_TYPE_MASTER,
            raw,
            path.name,
            "failed",
            f"sensitivity failed: {exc.__class__.__name__}: {exc}",
            target=target,
        )
    quality = {
        "standard": sens.standard,
        "airmass": round(sens.airmass, 4),
        "fit_rms": round(sens.fit_rms, 5),
        "bins_used": sens.n_points,
        "penalty": sens.penalty,
    }
    return sens, ProductResult(
        str(out),
        DATA_TYPE_MASTER,
        raw,
        path.name,
        "written",
        "",
        quality,
        target,
        time.perf_counter() - t0,
    )


def load_sensitivities(folders: Iterable) -> list[Sensitivity]:
    """Read the sensitivity masters (``master_sens_*.fits``) of product folders.

    Parameters
    ----------
    folders : iterable of str or pathlib.Path
        Product folders (``products/<YYYYMMDD>/``), searched in the order given.

    Returns
    -------
    list of Sensitivity
        Every readable master, folder by folder, by file name; unreadable ones are left
        out (a broken master is no candidate).
    """
    out = []
    for folder in folders:
        for path in sorted(Path(folder).glob("master_sens_*.fits")):
            try:
                out.append(read_sensitivity(path))
            except Exception:  # noqa: BLE001 - a broken master is simply no candidate
                continue
    return out


def flux_name(wavelength_name: str) -> str:
    """Name the flux-calibrated product of a wavelength-calibrated one.

    Parameters
    ----------
    wavelength_name : str
        The ``wecfzst_`` file name (a path: only its name is used).

    Returns
    -------
    str
        The name with the ``f`` prefix: ``wecfzst_x_target_1.fits`` gives
        ``fwecfzst_x_target_1.fits``.
    """
    from pipeline.products import product_name

    return product_name("f", Path(wavelength_name).name)


def _same_night(age: float | None) -> bool:
    """Whether a sensitivity this many days from the frame is of the frame's night."""
    return age is not None and age < 0.75


def _flux_cards(header, parent: str, name: str, raw: str, sens, age, airmass, settings) -> list:
    """The lineage and ``GSP_S*``/``GSP_F*`` cards of a ``fwecfzst_`` product."""
    from pipeline.products import lineage_cards_after

    same_night = _same_night(age)
    return lineage_cards_after(
        header,
        original=raw,
        parent=parent,
        file_name=name,
        rlevel=RLEVEL_FLUX,
        extra={
            "GSP_SENS": (sens.name or sens.standard, "Sensitivity function used"),
            # which values of it: a master is rewritten under its name when remade
            "GSP_SSUM": (sens.digest, "Digest of the sensitivity's values used"),
            "GSP_SSTD": (sens.standard, "Standard star of the sensitivity"),
            "GSP_SAGE": (
                round(age, 4) if age is not None else "unknown",
                "Days between standard and this frame",
            ),
            "GSP_SNIT": (
                "same night" if same_night else "another night (fallback)",
                "Sensitivity from this night or an earlier one",
            ),
            "GSP_FAIR": (
                round(float(airmass), 4) if airmass is not None else "none",
                "Airmass of this frame used for extinction",
            ),
            "GSP_FEXT": (airmass is not None, "Corrected for atmospheric extinction"),
            "GSP_SLOS": (SLIT_LOSS_NOTE, "Slit losses"),
        },
        settings=settings,
    )


def _flux_quality(sens, age, airmass) -> dict:
    """A ``fwecfzst_`` product's quality summary."""
    return {
        "sensitivity": sens.name or sens.standard,
        "standard": sens.standard,
        "sensitivity_age_days": None if age is None else round(age, 4),
        "airmass": None if airmass is None else round(float(airmass), 4),
        "flux_unit": "erg/s/cm2/Angstrom",
        "slit_losses": SLIT_LOSS_NOTE,
    }


def flux_product(
    path,
    sensitivities: Sequence[Sensitivity],
    out_dir,
    flux_settings=None,
    settings=None,
    raw_dirs: Iterable = (),
) -> ProductResult:
    """Flux-calibrate one ``wecfzst_`` product into ``fwecfzst_`` (data_type 5).

    The sensitivity is :func:`~pipeline.fluxcal.apply.choose_sensitivity`'s choice
    among ``sensitivities``; with none compatible the result is ``"skipped"`` and says
    why (no standard, or what differs from each).

    Parameters
    ----------
    path : str or pathlib.Path
        The ``wecfzst_`` product to calibrate.
    sensitivities : sequence of Sensitivity
        The candidates (every setup; incompatible ones are skipped with a reason).
    out_dir : str or pathlib.Path
        Where the ``fwecfzst_`` product is written.
    flux_settings : FluxSettings or None
        Flux-calibration settings (extinction correction, preferred standard...);
        ``None`` means the defaults.
    settings : ReductionSettings or None
        The reduction settings recorded in the product; ``None`` records none.
    raw_dirs : iterable of str or pathlib.Path
        Folders of raw data, never written into.

    Returns
    -------
    ProductResult
        data_type 5, status ``"written"`` with the path, or ``"skipped"`` with why.
    """
    from pipeline.settings import FluxSettings
    from pipeline.wavelength.fits_io import write_spectrum

    flux_settings = flux_settings or FluxSettings()
    t0 = time.perf_counter()
    path = Path(path)
    name = flux_name(path.name)
    try:
        spec, header = read_spectrum(path)
    except Exception as exc:  # noqa: BLE001
        return ProductResult(
            None, DATA_TYPE_FLUX, path.name, path.name, "skipped", f"cannot read: {exc}"
        )
    raw = header_name(header, "GSP_ONAM", path.name)
    target = _target_number(path.name)
    choice: Choice = choose_sensitivity(header, sensitivities, flux_settings.preferred_standard)
    if choice.sensitivity is None:
        return ProductResult(
            None,
            DATA_TYPE_FLUX,
            raw,
            path.name,
            "skipped",
            f"no flux calibration (data_type 5): {choice.reason()}",
            target=target,
        )
    sens = choice.sensitivity
    try:
        calibrated, airmass = flux_calibrate(
            spec, header, sens, extinction=flux_settings.extinction_correction
        )
    except (IncompatibleSensitivity, FluxInputError) as exc:
        return ProductResult(
            None,
            DATA_TYPE_FLUX,
            raw,
            path.name,
            "skipped",
            f"no flux calibration: {exc}",
            target=target,
        )
    age = choice.age_days
    same_night = _same_night(age)
    cards = _flux_cards(header, path.name, name, raw, sens, age, airmass, settings)
    cards += flux_settings.to_header_cards()
    try:
        out = write_spectrum(calibrated, Path(out_dir) / name, header, cards, raw_dirs=raw_dirs)
    except Exception as exc:  # noqa: BLE001
        raise_if_storage_error(exc)
        return ProductResult(
            None,
            DATA_TYPE_FLUX,
            raw,
            path.name,
            "failed",
            f"cannot write {name}: {exc}",
            target=target,
        )
    note = (
        "" if same_night or age is None else f"sensitivity of another night ({age:.1f} days away)"
    )
    return ProductResult(
        str(out),
        DATA_TYPE_FLUX,
        raw,
        path.name,
        "written",
        note,
        _flux_quality(sens, age, airmass),
        target,
        time.perf_counter() - t0,
    )


def _target_number(name: str) -> int | None:
    stem = Path(name).stem
    tail = stem.rsplit("_target_", 1)
    try:
        return int(tail[1]) if len(tail) == 2 else None
    except ValueError:
        return None


def _reduced_of(result) -> str | None:
    for p in result.products:
        prefix = Path(p).name.split("_", 1)[0]
        if prefix.endswith("st") and not prefix.startswith(("e", "w", "f")):
            return p
    return None


def _brightest_per_frame(spectra: Sequence[ProductResult]) -> list[ProductResult]:
    """Each frame's written wavelength-calibrated spectrum of highest S/N."""
    brightest: dict[str, ProductResult] = {}
    for p in _calibrated(spectra):
        best = brightest.get(p.raw_parent)
        if best is None or p.quality.get("snr_target", 0) > best.quality.get("snr_target", 0):
            brightest[p.raw_parent] = p
    return list(brightest.values())


def _calibrated(spectra: Sequence[ProductResult]) -> list[ProductResult]:
    return [p for p in spectra if p.data_type == 4 and p.status == "written" and p.file]


def night_sensitivities(
    report,
    spectra: Sequence[ProductResult],
    out_dir,
    settings=None,
    flux_settings=None,
    raw_dirs: Iterable = (),
) -> tuple[list[Sensitivity], list[ProductResult]]:
    """The plan's sensitivity step for a night: one master per standard star frame.

    Parameters
    ----------
    report : pipeline.night.NightReport
        After :func:`~pipeline.spectroscopy.night_stage.calibrate_night`; each standard
        frame's result gets its master, or why it gave none.
    spectra : list of ProductResult
        The night's 1-D products (``report.spectra``).
    out_dir : path
    settings : ReductionSettings, optional
    flux_settings : FluxSettings, optional
        With ``flux_calibration`` off, nothing is made.
    raw_dirs : iterable of paths

    Returns
    -------
    (list of Sensitivity, list of ProductResult)
        The sensitivities made, and one result (data_type 1) per standard frame.
    """
    from pipeline.settings import FluxSettings

    flux_settings = flux_settings or FluxSettings()
    if not flux_settings.flux_calibration:
        return [], []
    by_raw = {r.file_name: r for r in report.results}
    made: list[Sensitivity] = []
    out: list[ProductResult] = []
    # From each standard frame's brightest spectrum: another source on the slit is not
    # the star whose table we hold.
    for p in _brightest_per_frame(spectra):
        frame = by_raw.get(p.raw_parent)
        if frame is None or frame.role != "standard":
            continue
        sens, result = sensitivity_from_product(
            p.file, out_dir, flux_settings, settings, _reduced_of(frame), raw_dirs
        )
        _note(report, frame, result)
        out.append(result)
        if sens is not None:
            made.append(sens)
    return made, out


def flux_calibrate_spectra(
    report,
    spectra: Sequence[ProductResult],
    sensitivities: Sequence[Sensitivity],
    out_dir,
    settings=None,
    flux_settings=None,
    calibration_dirs: Iterable = (),
    raw_dirs: Iterable = (),
    roles: Iterable[str] = ("science", "standard"),
) -> list[ProductResult]:
    """The plan's flux step for a night: every star's spectrum into ``fwecfzst_``.

    Parameters
    ----------
    report : pipeline.night.NightReport
        Each frame's result gets the products made and why a data_type 5 was not.
    spectra : list of ProductResult
        The night's 1-D products (``report.spectra``); the written wavelength-calibrated
        ones (data_type 4) of frames of ``roles`` are calibrated.
    sensitivities : sequence of Sensitivity
        This night's (:func:`night_sensitivities`).
    out_dir : path
    settings : ReductionSettings, optional
    flux_settings : FluxSettings, optional
        With ``flux_calibration`` off, nothing is made.
    calibration_dirs : iterable of paths
        Product folders of earlier nights whose ``master_sens_*`` may serve as fallback.
    raw_dirs : iterable of paths
    roles : iterable of str
        Roles of the frames whose spectra are calibrated (the plan's; never arcs: a lamp
        spectrum has no flux to measure).

    Returns
    -------
    list of ProductResult
        One per spectrum: its ``fwecfzst_`` (data_type 5), or why it was not made.
    """
    from pipeline.settings import FluxSettings

    flux_settings = flux_settings or FluxSettings()
    if not flux_settings.flux_calibration:
        return []
    roles = set(roles)
    by_raw = {r.file_name: r for r in report.results}
    earlier = load_sensitivities(d for d in calibration_dirs if Path(d) != Path(out_dir))
    out: list[ProductResult] = []
    for p in _calibrated(spectra):
        frame = by_raw.get(p.raw_parent)
        if frame is None or frame.role not in roles:
            continue
        result = flux_product(
            p.file, [*sensitivities, *earlier], out_dir, flux_settings, settings, raw_dirs
        )
        _note(report, frame, result)
        out.append(result)
    return out


def _note(report, frame, result: ProductResult) -> None:
    if result.file:
        frame.products.append(result.file)
        report.products.append(Path(result.file))
    if result.status != "written" or result.reason:
        label = f"target {result.target}: " if result.target else ""
        note = f"{label}{result.reason}"
        frame.reason = f"{frame.reason}; {note}" if frame.reason else note
    if result.status == "failed":
        frame.status = "failed"


def recalibration_reason(spectrum_header, sensitivity: Sensitivity, flux_header=None) -> str:
    """Say why a spectrum should be (re)flux-calibrated with a new ``sensitivity``.

    For the live path: when a standard arrives, the night's spectra of its setup that
    have no data_type 5 yet, or one made with a sensitivity farther in time, are redone.

    Parameters
    ----------
    spectrum_header : astropy.io.fits.Header
        Header of the ``wecfzst_`` spectrum.
    sensitivity : Sensitivity
        The new sensitivity.
    flux_header : astropy.io.fits.Header or None
        Header of its existing ``fwecfzst_`` product, or ``None`` when there is none.

    Returns
    -------
    str
        The reason, or ``""`` when nothing is to be done (another setup, already made with
        this sensitivity's values (``GSP_SENS`` and ``GSP_SSUM``), or the existing one is
        as near in time).
    """
    from pipeline.fluxcal.setup import incompatibility, setup_of

    if incompatibility(setup_of(spectrum_header), sensitivity.setup):
        return ""
    if flux_header is None:
        return "no flux-calibrated product yet"
    if sensitivity.made(flux_header):
        return ""
    if sensitivity.name and flux_header.get("GSP_SENS") == sensitivity.name:
        # The same master made again (its standard re-extracted with a new arc, say):
        # the product holds the values of its earlier version.
        return f"{sensitivity.name} was made again since this product used it"
    new_age = choose_sensitivity(spectrum_header, [sensitivity]).age_days
    try:
        old_age = float(flux_header.get("GSP_SAGE"))
    except (TypeError, ValueError):
        old_age = float("inf")
    if new_age is not None and new_age < old_age - 1e-6:
        return (
            f"{sensitivity.name or sensitivity.standard} is nearer in time ({new_age:.3f} d) "
            f"than {flux_header.get('GSP_SENS')} ({old_age:.3f} d)"
        )
    return ""


def recalibrate_with(
    sensitivity: Sensitivity,
    spectra: Iterable,
    out_dir,
    flux_settings=None,
    settings=None,
    raw_dirs: Iterable = (),
) -> list[ProductResult]:
    """Flux-calibrate with a new sensitivity the spectra that need it.

    Parameters
    ----------
    sensitivity : Sensitivity
        The newly made sensitivity.
    spectra : iterable of str or pathlib.Path
        ``wecfzst_`` products; those that :func:`recalibration_reason` says need it are
        redone, unreadable ones skipped.
    out_dir : str or pathlib.Path
        Where their ``fwecfzst_`` products are looked for and written.
    flux_settings : FluxSettings or None
        Flux-calibration settings (extinction correction, preferred standard...);
        ``None`` means the defaults.
    settings : ReductionSettings or None
        The reduction settings recorded in the product; ``None`` records none.
    raw_dirs : iterable of str or pathlib.Path
        Folders of raw data, never written into.

    Returns
    -------
    list of ProductResult
        One result per spectrum redone, its reason prefixed with why it was redone.
    """
    out = []
    for path in map(Path, spectra):
        try:
            header = fits.getheader(path)
        except OSError:
            continue
        existing = Path(out_dir) / flux_name(path.name)
        flux_header = fits.getheader(existing) if existing.is_file() else None
        why = recalibration_reason(header, sensitivity, flux_header)
        if not why:
            continue
        result = flux_product(path, [sensitivity], out_dir, flux_settings, settings, raw_dirs)
        result.reason = f"{why}; {result.reason}".rstrip("; ")
        out.append(result)
    return out
