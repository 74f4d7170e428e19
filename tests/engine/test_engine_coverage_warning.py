"""A solution whose lines leave much of the detector unmeasured says so wherever the night
is reported: ``gsp reduce``'s tables and products.json, the job engine's product rows,
and the log entries the API (``GET api/logs/``) and the page's logs view show.

The night's arc has lines on the blue 40 % of the detector only (the rest of each row is
set to that row's median), so its solution covers under half the detector
(``GSP_WCOV`` < 0.5).
"""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
from astropy.io import fits
from engine_helpers import reduce_night
from sqlalchemy import select

from gsp_extension.api.logs import log_record, visible_entries
from gsp_extension.security import Caller
from gsp_extension.store.accounts import create_user
from gsp_extension.store.models import File
from pipeline.wavelength.solution import MIN_LINE_COVERAGE

#: The fraction of the arc's columns that keep their lines.
LIT = 0.4


@pytest.fixture(scope="module")
def night(tmp_path_factory):
    from pipeline.simulate import NightConfig, simulate_night

    folder = tmp_path_factory.mktemp("night") / "raw" / "20261121"
    simulate_night(
        folder,
        NightConfig(
            mode="400_M2", binning=2, n_bias=1, n_flats=1, n_arcs=1, n_science=1, noise=False
        ),
    )
    for path in folder.glob("*.fits"):
        with fits.open(path, mode="update") as hdul:
            if hdul[0].header["OBSTYPE"] != "COMP":
                continue
            data = hdul[0].data.astype(float)
            x0 = int(LIT * data.shape[1])
            data[:, x0:] = np.median(data[:, x0:], axis=1)[:, None]
            hdul[0].data = data.astype(hdul[0].data.dtype)
    return folder


def _warned(quality: dict) -> list[str]:
    """The solution's warnings, checked to be the coverage one this night is built for."""
    assert quality["wavelength_line_coverage"] < MIN_LINE_COVERAGE, quality
    warnings = quality["wavelength_warnings"]
    assert any("GSP_WCOV" in w for w in warnings), warnings
    return warnings


def test_gsp_reduce_tables_and_products_json_carry_the_warning(night, tmp_path, capsys):
    from pipeline.cli import reduce as cli

    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    out = tmp_path / "out"
    assert cli.run(parser.parse_args([str(night), "--out", str(out), "--quiet"])) == 0
    printed = capsys.readouterr().out
    calibrated = [
        e
        for e in json.loads((out / "products.json").read_text())["products"]
        if e["data_type"] == 4
    ]
    assert len(calibrated) == 2  # the science spectrum and the arc's own
    for entry in calibrated:
        for warning in _warned(entry["quality"]):
            assert warning in entry["notes"], entry
            # the spectra table's row of the product, not only the night's notes
            (row,) = [line for line in printed.splitlines() if line.startswith(entry["file"])]
            assert warning in row, row


@pytest.mark.asyncio
# what is checked does not depend on the database; one is enough for the cost of a night
@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_engine_products_and_their_log_entries_carry_the_warning(db, tmp_path, night):
    await reduce_night(db, tmp_path, night, timeout=120.0)
    with db.transaction() as s:
        staff = Caller("staff", "user", create_user(s, "staff", email="s@x.org", is_staff=True))
        calibrated = s.scalars(
            select(File).where(File.data_type == 4, File.superseded_at.is_(None))
        ).all()
        assert len(calibrated) == 2, [f.file_name for f in calibrated]
        for product in calibrated:
            warnings = _warned(product.quality)
            assert product.status_reason and all(w in product.status_reason for w in warnings), (
                product.status_reason
            )
            # what GET api/logs/?file_id=<product> answers
            logged = [
                log_record(e)
                for e in visible_entries(s, staff, file_id=product.id)
                if e.event == "file.product"
            ]
            assert logged and logged[0]["level"] == "WARNING", logged
            assert all(w in logged[0]["message"] for w in warnings), logged
