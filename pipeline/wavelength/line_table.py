"""The line table of a wavelength solution as a FITS ``LINES`` extension.

Every wavelength-calibrated product (science ``wecfzst_`` spectra and calibrated arcs)
carries the table its solution was fitted from, so anyone can audit it: per arc line
its pixel, the NIST air wavelength it was identified with, the solution's wavelength
there, the residual in Å and binned pixels, the error the fit weighed it with, and
whether it was used or why not (``blend``, ``saturated``, ``weak``, ``outlier``,
``unidentified``). Each column's ``TTYPEn`` card says what it is. The extension is a
BINTABLE after the spectrum's ``STD``/``MASK`` images, which
``specutils.Spectrum.read(path)`` ignores.
"""

from __future__ import annotations

import numpy as np
from astropy.io import fits
from astropy.table import Table

from pipeline.products import fits_text

#: Columns written, in this order, with their units and descriptions (pixels are
#: binned). ``fit_error`` is what a residual is to be judged against: a line its NIST
#: neighbours may pull is fitted with that pull in its error, far above its centring
#: error (1200_M1 Ar 2x2: Ar I 4266.29, 0.07 px off beside Ar II 4266.53, centred to
#: 0.001 px). ``scatter_error`` is ``fit_error`` at the scale the residuals show (the
#: fit's reduced chi-square made 1): on real arcs the centring errors carry the
#: instrument profile's misfit, which the lines share and the fit absorbs.
COLUMNS = (
    ("pixel", "pix", "Centre of the arc line"),
    ("pixel_error", "pix", "1-sigma error of the fitted centre"),
    ("reference_error", "pix", "Possible pull of NIST neighbours off the reference"),
    ("fit_error", "pix", "1-sigma the fit weighed the line with (total)"),
    ("scatter_error", "pix", "fit_error scaled to the fit's residuals (chi2/dof=1)"),
    ("fwhm", "pix", "Fitted FWHM of the line"),
    ("reference_wavelength", "Angstrom", "NIST air wavelength identified with"),
    ("ion", None, "Spectrum of the identification"),
    ("fitted_wavelength", "Angstrom", "Solution's wavelength at the line's pixel"),
    ("residual", "Angstrom", "fitted_wavelength - reference_wavelength"),
    ("residual_pixel", "pix", "The residual in pixels"),
    ("used", None, "In the fit"),
    ("status", None, "used, or why not (blend, saturated, weak, ...)"),
    ("pen_shift_line", None, "Pen lamp's high-excitation Ar I (GSP_WPEN)"),
    ("arc", None, "Arc the line was measured in"),
)


def lines_hdu(solution) -> fits.BinTableHDU:
    """Build the ``LINES`` BINTABLE of a wavelength solution.

    Parameters
    ----------
    solution : WavelengthSolution
        The solution (:class:`~pipeline.wavelength.solution.WavelengthSolution`) with its
        line table.

    Returns
    -------
    astropy.io.fits.BinTableHDU
        The columns of ``COLUMNS`` the solution has (text escaped to ASCII, each
        described on its ``TTYPEn`` card), with the reference, RMS (Å and binned px)
        and number of lines used as ``GSP_W*`` cards.
    """
    src = solution.lines
    table = Table()
    n = len(src)
    for name, unit, _ in COLUMNS:
        if name in src.colnames:
            col = src[name]
            values = np.asarray(getattr(col, "value", col))
        elif name == "arc":
            values = np.full(n, solution.arcs[0] if solution.arcs else "", dtype=object)
        else:
            continue
        if values.dtype.kind in "OUS":
            # FITS tables hold ASCII: arc names are escaped like header cards
            values = np.array([fits_text(str(v)) for v in values], dtype=str)
        table[name] = values
        if unit:
            table[name].unit = unit
    hdu = fits.table_to_hdu(table)
    hdu.name = "LINES"
    described = {name: text for name, _, text in COLUMNS}
    for i, name in enumerate(table.colnames, start=1):
        hdu.header.comments[f"TTYPE{i}"] = described[name]
    hdu.header["GSP_WREF"] = (solution.reference, "Wavelengths the solution is fitted to")
    hdu.header["GSP_WRMS"] = (float(solution.rms_angstrom), "RMS of the lines used [Angstrom]")
    hdu.header["GSP_WRMP"] = (float(solution.rms_pixel), "RMS of the lines used [binned pixel]")
    hdu.header["GSP_WPOI"] = (int(solution.n_used), "Lines used")
    return hdu


def read_lines(path) -> Table:
    """Read the ``LINES`` table of a product (text columns as ``str``).

    Parameters
    ----------
    path : str or pathlib.Path
        A wavelength-calibrated product or arc.

    Returns
    -------
    astropy.table.Table
        The table, with its units.
    """
    table = Table.read(path, hdu="LINES")
    table.convert_bytestring_to_unicode()
    return table
