"""The records the chain's stages pass along: the science frame and a target's spectrum.

:class:`ScienceFrame` is a reduced science (or standard) frame with its settings and
output folder, and makes its products' results and files; :class:`TargetSpectrum` is
one target extracted from it (:func:`pipeline.spectroscopy.chain.extract_target`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from astropy.nddata import CCDData

from pipeline.spectroscopy.product_result import ProductResult, product_lineage_cards
from pipeline.spectroscopy.reduced_frame import raw_name_of
from pipeline.spectroscopy.trace import Trace
from pipeline.vocabulary import StepOutcome
from pipeline.wavelength.fits_io import write_spectrum


@dataclass
class ScienceFrame:
    """A reduced science (or standard) frame on its way through the chain."""

    ccd: CCDData
    name: str
    settings: object
    out_dir: Path
    raw_dirs: tuple

    @property
    def header(self):
        return self.ccd.header

    @property
    def raw(self) -> str:
        """The raw file name (``GSP_ONAM``)."""
        return raw_name_of(self.header, self.name)

    def result(self, data_type: int, status: StepOutcome, reason: str = "", **fields):
        """A :class:`~pipeline.spectroscopy.product_result.ProductResult` of this frame.

        ``parent`` defaults to the frame.
        """
        fields.setdefault("parent", self.name)
        return ProductResult(
            fields.pop("file", None), data_type, self.raw, status=status, reason=reason, **fields
        )

    def write(self, spectrum, name: str, parent: str, rlevel: int, extra: dict, solution=None):
        """Write a 1-D product of this frame with its lineage cards; returns the path."""
        cards = product_lineage_cards(
            self.header, self.raw, parent, name, rlevel, self.settings, extra
        )
        return write_spectrum(
            spectrum,
            self.out_dir / name,
            self.header,
            cards,
            raw_dirs=self.raw_dirs,
            solution=solution,
        )


@dataclass
class TargetSpectrum:
    """One target extracted: trace, spectrum, its quality and cards, product names."""

    number: int
    trace: Trace
    spectrum: object
    quality: dict
    extra: dict
    ecf_name: str
    w_name: str
