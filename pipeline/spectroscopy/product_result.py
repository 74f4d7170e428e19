"""What the spectroscopy chain returns for each product, and the cards of its lineage.

:class:`ProductResult` is one product written, skipped or failed with its reason and
quality; :func:`product_lineage_cards` makes a product's lineage cards and
:func:`joined_notes` joins the notes that become a result's reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pipeline.vocabulary import StepOutcome

DATA_TYPE_EXTRACTED = 3
DATA_TYPE_WAVELENGTH = 4


@dataclass
class ProductResult:
    """One product of the chain (or the reason it was not made).

    Attributes
    ----------
    file : str or None
        Path of the product written, ``None`` when none was.
    data_type : int
        3 (extracted 1-D) or 4 (wavelength calibrated).
    raw_parent : str
        Raw file name (``GSP_ONAM``).
    parent : str
        File the product was made from (``GSP_PNAM``).
    status : StepOutcome
        ``WRITTEN``, ``SKIPPED`` (input not usable, with the reason) or ``FAILED``.
    reason : str
    quality : dict
        Trace RMS, S/N, FWHM, wavelength RMS (Å and px), lines used and rejected, arcs.
    target : int or None
        1-based target number (``None`` for a calibrated arc).
    seconds : float
    parent_path : str or None
        Path of the parent when it is not the science frame (a calibrated arc's
        reduced arc).
    """

    file: str | None
    data_type: int
    raw_parent: str
    parent: str
    status: StepOutcome
    reason: str = ""
    quality: dict = field(default_factory=dict)
    target: int | None = None
    seconds: float = 0.0
    parent_path: str | None = None

    def to_dict(self) -> dict:
        return {
            "file": Path(self.file).name if self.file else None,
            "path": self.file,
            "data_type": self.data_type,
            "raw_parent": self.raw_parent,
            "parent": self.parent,
            "status": self.status,
            "reason": self.reason,
            "target": self.target,
            "quality": self.quality,
        }


def product_lineage_cards(header, original, parent, file_name, rlevel, settings, extra):
    """The lineage cards of a product made from a reduced frame.

    Parameters
    ----------
    header : astropy.io.fits.Header
        The header of the frame the product is made from.
    original : str
        The raw file's name (``GSP_ONAM``).
    parent : str
        The name of the file the product is made from (``GSP_PNAM``).
    file_name : str
        The product's own name (``GSP_FNAM``).
    rlevel : int
        The product's reduction level (:func:`pipeline.vocabulary.rlevel`).
    settings : ReductionSettings or None
        The settings used, recorded with the lineage.
    extra : dict or None
        More ``GSP_*`` values of the product.

    Returns
    -------
    list of tuple of (str, object, str)
        The cards, as :func:`pipeline.products.lineage_cards_after` returns them.
    """
    from pipeline.products import lineage_cards_after

    return lineage_cards_after(
        header,
        original=original,
        parent=parent,
        file_name=file_name,
        rlevel=rlevel,
        extra=extra,
        settings=settings,
    )


def joined_notes(*notes: str) -> str:
    """Join the notes that are not empty into one reason.

    Parameters
    ----------
    *notes : str
        The notes, empty ones left out.

    Returns
    -------
    str
        The notes separated by ``"; "``.
    """
    return "; ".join(n for n in notes if n)
