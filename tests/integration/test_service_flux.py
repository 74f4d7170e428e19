"""Flux calibration through the real hub (issue 17): the action, its access rules, the
data_type 5 listing and the proposal's flux settings.

Two proposals of their own (so the shared world's other tests see nothing new):
``SOAR2020B-005`` (PI ``fluxpi``, collaborator ``fluxcol``) with a science spectrum
calibrated in wavelength and in flux and a sensitivity master of its own standard, and
``SOAR2020B-006`` (PI ``fluxother``) with a sensitivity master of its standard.
"""

from __future__ import annotations

import numpy as np
import pytest
import requests

from tests.integration.conftest import _fields, _raw_header, register_fits

pytestmark = pytest.mark.databases("sqlite", "postgresql")

P5, P6 = "SOAR2020B-005", "SOAR2020B-006"
OTHER_STAR = "EG 21"
OTHER_SENS = "master_sens_400_m2_GG455_RED_2x2_20201125_eg21.fits"


def call(world, method, path, who="fluxpi", **kwargs):
    return requests.request(
        method, world.url(path), headers=world.headers(who), timeout=60, **kwargs
    )


@pytest.fixture(scope="module")
def flux_world(world):
    from gsp_extension.store import Database
    from gsp_extension.store.accounts import create_user
    from gsp_extension.store.proposals import create_proposal

    root = world.hub.data_root
    ids: dict[str, int] = {}
    db = Database(world.hub.database_url)
    spectrum = np.exp(-0.5 * ((np.arange(300) - 150) / 20) ** 2).astype("f4")
    try:
        with db.transaction() as s:
            users = {
                name: create_user(s, name, email=f"{name}@example.org")
                for name in ("fluxpi", "fluxcol", "fluxother")
            }
            p5 = create_proposal(
                s, P5, title="Flux", pi=users["fluxpi"], collaborators=[users["fluxcol"]]
            )
            create_proposal(s, P6, title="Other flux", pi=users["fluxother"])

            def add(key, propid, obstype, obj, n, data_type, name, parent=None, data=spectrum):
                h = _raw_header(propid, obstype, obj, n, "2020-11-25")
                row = register_fits(s, root, h, data, name, data_type, parent, proposal_id=propid)
                ids[key] = row.id
                return row

            image = np.ones((20, 30), "f4")
            raw = add("raw", P5, "OBJECT", "SN2020flux", 501, 0, "0501_SN2020flux.fits", data=image)
            red = add("reduced", P5, "OBJECT", "SN2020flux", 502, 2, "cfzst_0501.fits", raw, image)
            ext = add(
                "extracted", P5, "OBJECT", "SN2020flux", 503, 3, "ecfzst_0501_target_1.fits", red
            )
            cal = add(
                "calibrated", P5, "OBJECT", "SN2020flux", 504, 4, "wecfzst_0501_target_1.fits", ext
            )
            add("fluxed", P5, "OBJECT", "SN2020flux", 505, 5, "fwecfzst_0501_target_1.fits", cal)
            own_sens = "master_sens_400_m2_GG455_RED_2x2_20201125_ltt3218.fits"
            add("own_sens", P5, "OBJECT", "LTT 3218", 506, 1, own_sens, cal)
            # another proposal's standard and its sensitivity (a master: seen by everyone)
            oraw = add("other_raw", P6, "OBJECT", OTHER_STAR, 601, 0, "0601_EG21.fits", data=image)
            ored = add(
                "other_reduced", P6, "OBJECT", OTHER_STAR, 602, 2, "cfzst_0601.fits", oraw, image
            )
            oext = add(
                "other_extracted",
                P6,
                "OBJECT",
                OTHER_STAR,
                603,
                3,
                "ecfzst_0601_target_1.fits",
                ored,
            )
            ocal = add(
                "other_calibrated",
                P6,
                "OBJECT",
                OTHER_STAR,
                604,
                4,
                "wecfzst_0601_target_1.fits",
                oext,
            )
            add(
                "other_fluxed",
                P6,
                "OBJECT",
                OTHER_STAR,
                605,
                5,
                "fwecfzst_0601_target_1.fits",
                ocal,
            )
            add("other_sens", P6, "OBJECT", OTHER_STAR, 606, 1, OTHER_SENS, ocal)
            proposal_id = p5.id
    finally:
        db.dispose()
    return ids, proposal_id


def test_calibrate_flux_queues_a_job_for_the_spectrum_frame(world, flux_world):
    ids, _ = flux_world
    r = call(
        world, "POST", "files/spectrum/calibrate/flux/", "fluxcol", json={"id": ids["calibrated"]}
    )
    assert r.status_code == 202, r.text
    (job,) = r.json()["jobs"]
    assert job["kind"] == "calibrate_flux" and job["state"] == "queued"
    assert job["file_id"] == ids["reduced"]
    assert job["params"] == {"file_id": ids["reduced"], "standard_id": None, "refresh": False}
    # asked again (from its flux-calibrated product): the same job answers
    again = call(world, "POST", "files/spectrum/calibrate/flux/", json={"id": ids["fluxed"]})
    assert again.status_code == 200 and again.json()["jobs"][0]["id"] == job["id"]
    # with the proposal's own standard
    r = call(
        world,
        "POST",
        "files/spectrum/calibrate/flux/",
        json={"id": ids["calibrated"], "standard_id": ids["own_sens"]},
    )
    assert r.status_code == 202, r.text
    assert r.json()["jobs"][0]["params"]["standard_id"] == ids["own_sens"]
    # the Python client asks the same: the same jobs answer, and data_type 5 is listed
    from gsp_extension.client import GSPClient

    client = GSPClient(world.hub.url + "/services/gsp", world.hub.token_for("fluxcol"))
    assert client.calibrate_flux(ids["fluxed"])["id"] == job["id"]
    chosen = client.calibrate_flux(ids["calibrated"], standard_id=ids["own_sens"])
    assert chosen["id"] == r.json()["jobs"][0]["id"]
    listed = client.files(proposal_id=P5, data_type=5)["results"]
    assert [f["id"] for f in listed] == [ids["fluxed"]]


def test_calibrate_flux_refuses_what_it_cannot_do_and_says_why(world, flux_world):
    ids, _ = flux_world
    path = "files/spectrum/calibrate/flux/"
    # a well-formed request naming a file of the wrong kind: 409 (the document says so)
    r = call(world, "POST", path, json={"id": ids["raw"]})
    assert r.status_code == 409
    assert "needs a file that is wavelength calibrated (data_type 4)" in r.json()["detail"]
    r = call(world, "POST", path, json={"id": ids["calibrated"], "standard_id": ids["reduced"]})
    assert r.status_code == 409 and "not a standard star frame" in r.json()["detail"]
    r = call(world, "POST", path, json={"id": ids["calibrated"], "standard_id": 10**9})
    assert r.status_code == 404
    r = call(world, "POST", path, json={"id": ids["calibrated"], "standard_id": "LTT"})
    assert r.status_code == 400 and "standard_id" in r.json()["detail"]


def test_another_proposal_cannot_flux_calibrate_nor_see(world, flux_world):
    ids, _ = flux_world
    path = "files/spectrum/calibrate/flux/"
    for who in ("fluxother", "eve", "dave"):
        r = call(world, "POST", path, who, json={"id": ids["calibrated"]})
        assert r.status_code == 404, (who, r.text)
    # another proposal's standard, even its sensitivity master, is not seen: it may not
    # calibrate this proposal's data, and the refusal names none of its files or objects
    r = call(world, "POST", path, json={"id": ids["calibrated"], "standard_id": ids["other_sens"]})
    assert r.status_code == 404
    detail = r.json()["detail"]
    assert OTHER_STAR not in detail and "0601" not in detail and OTHER_SENS not in detail
    masters = call(world, "GET", "files/", params={"data_type": 1, "page_size": 1000}).json()
    names = {f["file_name"] for f in masters["results"]}
    assert (
        OTHER_SENS not in names
        and "master_sens_400_m2_GG455_RED_2x2_20201125_ltt3218.fits" in names
    )
    assert call(world, "GET", f"files/{ids['other_sens']}/").status_code == 404
    assert call(world, "GET", f"files/{ids['other_sens']}/", "fluxother").status_code == 200
    # its standard's own frames are not even seen
    r = call(
        world, "POST", path, json={"id": ids["calibrated"], "standard_id": ids["other_reduced"]}
    )
    assert r.status_code == 404


def test_listing_filters_flux_calibrated_files(world, flux_world):
    ids, _ = flux_world
    r = call(world, "GET", "files/", params={"data_type": 5, "page_size": 100})
    assert r.status_code == 200
    names = {f["file_name"]: f for f in r.json()["results"]}
    assert set(names) == {"fwecfzst_0501_target_1.fits"}
    assert names["fwecfzst_0501_target_1.fits"]["data_type"] == "5"
    other = call(world, "GET", "files/", "fluxother", params={"data_type": 5, "page_size": 100})
    assert {f["file_name"] for f in other.json()["results"]} == {"fwecfzst_0601_target_1.fits"}
    nobody = call(world, "GET", "files/", "eve", params={"data_type": 5}).json()
    assert nobody["results"] == []
    # the related files of the science (its raw original) include the data_type 5 product
    family = call(world, "GET", "files/", params={"original_file_id": ids["raw"]}).json()
    assert "5" in {f["data_type"] for f in family["results"]}


def test_flux_settings_read_by_members_edited_by_pi_and_obeyed(world, flux_world):
    ids, pid = flux_world
    r = call(world, "GET", f"proposals/{pid}/settings/", "fluxcol")
    assert r.status_code == 200
    body = r.json()
    assert (
        body["flux_calibration"],
        body["preferred_standard"],
        body["extinction_correction"],
    ) == (
        True,
        "",
        True,
    )
    r = call(
        world, "PUT", f"proposals/{pid}/settings/", "fluxcol", json={"flux_calibration": False}
    )
    assert r.status_code == 403
    r = call(world, "PUT", f"proposals/{pid}/settings/", json={"flux_calibration": "sometimes"})
    assert r.status_code == 400 and "flux_calibration" in r.json()["detail"]
    r = call(
        world,
        "PUT",
        f"proposals/{pid}/settings/",
        json={"flux_calibration": False, "preferred_standard": "LTT 3218"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["flux_calibration"] is False
    assert r.json()["preferred_standard"] == "LTT 3218"
    try:
        r = call(world, "POST", "files/spectrum/calibrate/flux/", json={"id": ids["calibrated"]})
        assert r.status_code == 409 and "flux_calibration=false" in r.json()["detail"]
    finally:
        r = call(world, "PUT", f"proposals/{pid}/settings/", json={"flux_calibration": True})
        assert r.status_code == 200


# --- the standard chooser: GET api/files/<id>/standards/ ------------------------------

#: (key, star, proposal, night, DATE-OBS of the standard, binning) of real sensitivity
#: masters (pipeline.fluxcal.sensitivity.write_sensitivity) added for the chooser.
CHOOSER_SENSITIVITIES = (
    ("sens_near", "LTT 3218", P5, "2020-11-25", "2020-11-25T02:00:00", (2, 2)),
    # no proposal's (staff): on the 15th night before, the last one searched, so that no
    # frame of the shared world's later nights (2020-11-26 on) may be calibrated with it
    ("sens_staff", "Feige 110", None, "2020-11-10", "2020-11-10T01:00:00", (2, 2)),
    ("sens_far", "EG 274", P5, "2020-11-20", "2020-11-20T01:00:00", (2, 2)),
    ("sens_1x1", "LTT 7987", P5, "2020-11-25", "2020-11-25T03:00:00", (1, 1)),
    ("sens_old", "LTT 1020", P5, "2020-11-01", "2020-11-01T01:00:00", (2, 2)),
    ("sens_other", "EG 131", P6, "2020-11-25", "2020-11-25T01:30:00", (2, 2)),
)


@pytest.fixture(scope="module")
def chooser_world(world, flux_world):
    """flux_world's spectrum with its stored header (as ingest keeps it), its flux
    product naming the sensitivity it was made with, and real sensitivity masters of
    its setup (and one of another binning, one too old, one of another proposal)."""
    import dataclasses
    import datetime as dt
    import hashlib

    from astropy.io import fits

    from gsp_extension.store import Database
    from gsp_extension.store.files import header_to_json, register_file
    from gsp_extension.store.models import File
    from pipeline.fluxcal.sensitivity import Sensitivity, write_sensitivity
    from pipeline.fluxcal.setup import setup_of

    ids, _ = flux_world
    ids = dict(ids)
    db = Database(world.hub.database_url)
    try:
        with db.transaction() as s:
            calibrated = s.get(File, ids["calibrated"])
            header = fits.getheader(calibrated.full_path)
            calibrated.header = header_to_json(header)
            setup = setup_of(header)
            wave = np.linspace(4000.0, 7000.0, 50)
            names = {}
            for key, star, propid, night, date_obs, binning in CHOOSER_SENSITIVITIES:
                sens = Sensitivity(
                    wavelength=wave,
                    sensitivity=np.full(50, 1e15),
                    uncertainty=np.full(50, 1e13),
                    setup=dataclasses.replace(setup, binning=binning),
                    standard=star,
                    date_obs=dt.datetime.fromisoformat(date_obs),
                )
                path = write_sensitivity(
                    sens, world.hub.data_root / "products" / night.replace("-", "")
                )
                fields = _fields(_raw_header(propid or P5, "OBJECT", star, 0, night))
                reg = register_file(
                    s,
                    path,
                    checksum=hashlib.sha256(path.read_bytes()).hexdigest(),
                    size=path.stat().st_size,
                    fields={**fields, "proposal_id": propid, "image_id": None},
                    header=fits.getheader(path),
                    data_type=1,
                )
                ids[key] = reg.file.id
                names[key] = path.name
            fluxed = s.get(File, ids["fluxed"])
            fluxed.header = header_to_json(header) + [["GSP_SENS", names["sens_far"], ""]]
    finally:
        db.dispose()
    return ids, names


def _set_preferred(world, star):
    from gsp_extension.store import Database
    from gsp_extension.store.proposals import get_proposal_by_soar_id

    db = Database(world.hub.database_url)
    try:
        with db.session() as s:
            pid = get_proposal_by_soar_id(s, P5).id
    finally:
        db.dispose()
    before = call(world, "GET", f"proposals/{pid}/settings/").json()["preferred_standard"]
    r = call(world, "PUT", f"proposals/{pid}/settings/", json={"preferred_standard": star})
    assert r.status_code == 200, r.text
    return pid, before


def _handed_and_worker_choice(world, ids):
    """The sensitivities an automatic calibrate_flux job hands the worker, and the one
    the worker's own rule takes reading those files."""
    from astropy.io import fits

    from gsp_extension.engine.flux import prepare_calibrate_flux
    from gsp_extension.store import Database
    from gsp_extension.store.models import File, Job
    from pipeline.fluxcal.apply import choose_sensitivity
    from pipeline.fluxcal.sensitivity import read_sensitivity

    db = Database(world.hub.database_url)
    try:
        with db.session() as s:
            job = Job(
                kind="calibrate_flux",
                file_id=ids["reduced"],
                params={"file_id": ids["reduced"], "standard_id": None},
            )
            inputs = prepare_calibrate_flux(s, job, "/unused")
            spectrum = s.get(File, ids["calibrated"]).full_path
    finally:
        db.dispose()
    paths = inputs["sensitivity_paths"]
    chosen = choose_sensitivity(
        fits.getheader(spectrum),
        [read_sensitivity(p) for p in paths],
        inputs["flux_settings"]["preferred_standard"],
    )
    return [p.rsplit("/", 1)[-1] for p in paths], chosen.sensitivity.name


@pytest.mark.parametrize("preferred", ["", "EG 274"])
def test_standard_chooser_is_the_engines_automatic_choice(world, chooser_world, preferred):
    ids, names = chooser_world
    pid, before = _set_preferred(world, preferred)
    try:
        handed, worker_takes = _handed_and_worker_choice(world, ids)
        for key in ("calibrated", "fluxed", "reduced", "raw"):
            r = call(world, "GET", f"files/{ids[key]}/standards/", "fluxcol")
            assert r.status_code == 200, (key, r.text)
            menu = r.json()
            assert menu["file_id"] == ids[key] and menu["spectrum_id"] == ids["calibrated"]
            order = [c["id"] for c in menu["candidates"]]
            if preferred:  # the preferred star first, whatever its age
                assert order == [ids["sens_far"], ids["sens_near"], ids["sens_staff"]]
            else:  # nearest in time: 1 h, 5 days, 15 days
                assert order == [ids["sens_near"], ids["sens_far"], ids["sens_staff"]]
            # what the chooser calls Automatic is what the worker takes from the files
            assert menu["automatic"] == order[0]
            first = next(c for c in menu["candidates"] if c["id"] == order[0])
            assert first["file_name"] == worker_takes
            assert menu["used"] == ids["sens_far"] and not menu["standard_frame"]
            refused = {c["id"]: c["reason"] for c in menu["refused"]}
            assert "binning 1x1 (science 2x2)" in refused[ids["sens_1x1"]]
            assert "GSP_SSTD" in refused[ids["own_sens"]]
        # the job hands the worker the candidates, then the other setups (named in its
        # refusal); not a master it could not read, nor one too old or of P6
        listed = [c["file_name"] for c in menu["candidates"]]
        assert handed == [*listed, names["sens_1x1"]]
        assert menu["candidates"][order.index(ids["sens_near"])]["standard"] == "LTT 3218"
    finally:
        call(world, "PUT", f"proposals/{pid}/settings/", json={"preferred_standard": before})


def test_standard_chooser_never_names_another_proposals_standard(world, chooser_world):
    ids, names = chooser_world
    for who in ("fluxpi", "staffer"):
        r = call(world, "GET", f"files/{ids['calibrated']}/standards/", who)
        assert r.status_code == 200, r.text
        listed = {c["id"] for c in r.json()["candidates"]} | {c["id"] for c in r.json()["refused"]}
        assert ids["sens_other"] not in listed and ids["other_sens"] not in listed
        assert "EG 131" not in r.text and OTHER_STAR not in r.text
        assert names["sens_old"] not in r.text  # 24 nights before: not searched


def test_standard_chooser_refuses_what_it_cannot_answer(world, chooser_world):
    ids, _ = chooser_world
    for who in ("fluxother", "eve"):
        r = call(world, "GET", f"files/{ids['calibrated']}/standards/", who)
        assert r.status_code == 404, (who, r.text)
    assert call(world, "GET", f"files/{ids['calibrated']}/standards/", None).status_code == 401
    r = call(world, "GET", f"files/{ids['sens_near']}/standards/")
    assert r.status_code == 409 and "detail" in r.json()
    r = call(world, "GET", "files/abc/standards/")
    assert r.status_code in (400, 404)
