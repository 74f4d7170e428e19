"""The lamp chooser lists exactly what "Automatic" chooses from (issue 14, item 2).

Through the real hub: ``GET api/files/<id>/lamps/`` against the job engine's own choice
(:func:`gsp_extension.engine.arcs.automatic_arcs` and the inputs
``prepare_calibrate_wavelength`` hands the worker), the arcs of the current calibration
marked, another proposal's arc never listed nor named (not even to staff), and the data
browser's chooser filled from it by the real client.

Two proposals of their own, on a night of their own (2020-12-03), so the shared world's
other tests see nothing new: ``SOAR2020B-007`` (PI ``lampi``) with a science frame, its
spectra, three arcs of its setup (its own two and one of no proposal, taken by staff),
one of another grating and one of the next night; ``SOAR2020B-010`` (PI ``lampother``)
with an arc of the same night and setup whose name carries its target.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
import requests

from tests.integration.conftest import _raw_header, register_fits

P7, P10 = "SOAR2020B-007", "SOAR2020B-010"
NIGHT = "2020-12-03"
SECRET = "OtherSecretTarget"


def call(world, method, path, who="lampi", **kwargs):
    return requests.request(
        method, world.url(path), headers=world.headers(who), timeout=60, **kwargs
    )


@pytest.fixture(scope="module")
def lamp_world(world):
    from gsp_extension.store import Database
    from gsp_extension.store.accounts import create_user
    from gsp_extension.store.jobs import enqueue
    from gsp_extension.store.proposals import create_proposal

    root = world.hub.data_root
    ids: dict[str, int] = {}
    db = Database(world.hub.database_url)
    image = np.ones((20, 30), "f4")
    try:
        with db.transaction() as s:
            lampi = create_user(s, "lampi", email="lampi@example.org")
            create_proposal(s, P7, title="Lamps", pi=lampi)
            create_proposal(s, P10, title="Other lamps", pi=create_user(s, "lampother"))

            def add(key, propid, obstype, obj, n, data_type, name, parent=None, **cards):
                night = cards.pop("night", NIGHT)
                h = _raw_header(propid or P7, obstype, obj, n, night)
                h["DATE-OBS"] = f"{night}T{cards.pop('time', '01:00:00')}"
                h.update(cards)
                row = register_fits(
                    s, root, h, image, name, data_type, parent,
                    proposal_id=propid, store_header=True,
                )  # fmt: skip
                ids[key] = row.id
                return row

            def arc(key, propid, n, obj="comp", **cards):
                raw = add(f"{key}_raw", propid, "COMP", obj, n, 0, f"{n:04d}_{obj}.fits", **cards)
                return add(
                    key, propid, "COMP", obj, n, 2, f"cfzst_{n:04d}_{obj}.fits", raw, **cards
                )

            raw = add("raw", P7, "OBJECT", "SN2020lamp", 701, 0, "0701_SN2020lamp.fits")
            red = add("reduced", P7, "OBJECT", "SN2020lamp", 701, 2, "cfzst_0701.fits", raw)
            ext = add("extracted", P7, "OBJECT", "SN2020lamp", 701, 3, "ecfzst_0701_t1.fits", red)
            own_early = arc("own_early", P7, 702, time="00:50:00", LAMP_HGA="TRUE")
            arc("own_late", P7, 703, time="02:00:00", LAMP_NE="TRUE", LAMP_AR="TRUE")
            staff = arc("staff", None, 704, time="01:05:00", LAMP_HGA="TRUE")
            arc("other", P10, 705, obj=SECRET, time="01:01:00", LAMP_HGA="TRUE")
            arc("grating", P7, 706, time="01:02:00", GRATING="930_SYZY")
            arc("next_night", P7, 707, night="2020-12-04", time="00:10:00")
            # the current calibration, made by Automatic with two of the arcs
            used = f"{staff.file_name},{own_early.file_name}"
            cal = add(
                "calibrated", P7, "OBJECT", "SN2020lamp", 701, 4, "wecfzst_0701_t1.fits", ext,
                GSP_LAMP=used,
            )  # fmt: skip
            job = enqueue(
                s,
                "calibrate_wavelength",
                f"calibrate_wavelength:{ext.id}:lamp=auto",
                file_id=ext.id,
                params={"file_id": ext.id, "lamp_id": None},
            )
            job.state, job.product_file_id = "done", cal.id
            job.finished_at = dt.datetime.now(dt.UTC)
        yield ids, db
    finally:
        db.dispose()


def _engine_choice(db, ids):
    """What the engine hands the worker for the spectrum with no lamp chosen."""
    from gsp_extension.engine.arcs import automatic_arcs
    from gsp_extension.engine.handlers import prepare_calibrate_wavelength
    from gsp_extension.store.models import File, Job

    with db.session() as s:
        choice = automatic_arcs(s, s.get(File, ids["reduced"]))
        job = Job(
            kind="calibrate_wavelength",
            file_id=ids["extracted"],
            params={"file_id": ids["extracted"], "lamp_id": None},
        )
        inputs = prepare_calibrate_wavelength(s, job, "/unused")
        paths = {s.get(File, i).full_path: i for i in ids.values()}
        return [a.id for a in choice.candidates], [paths[p] for p in inputs["arc_paths"]]


def test_the_list_is_the_engines_automatic_choice_with_the_used_arcs_marked(world, lamp_world):
    ids, db = lamp_world
    candidates, handed = _engine_choice(db, ids)
    # nearest in time first: staff 5 min after, own 10 min before, own 1 h after
    assert candidates == handed == [ids["staff"], ids["own_early"], ids["own_late"]]
    for key in ("extracted", "calibrated", "reduced"):
        r = call(world, "GET", f"files/{ids[key]}/lamps/")
        assert r.status_code == 200, r.text
        menu = r.json()
        assert menu["file_id"] == ids[key] and menu["science_id"] == ids["reduced"]
        assert [c["id"] for c in menu["candidates"]] == candidates
        assert menu["automatic"] == candidates
        assert menu["used"] == [ids["staff"], ids["own_early"]]
        assert menu["used_automatically"] is True
    first = menu["candidates"][0]
    assert first["lamps"] == "HgAr" and first["seconds_from_science"] == 300.0
    assert first["used"] and not menu["candidates"][2]["used"]
    assert menu["candidates"][2]["lamps"] == "Ne+Ar"
    assert [a["id"] for a in menu["refused"]] == [ids["grating"]]
    assert "grating" in menu["refused"][0]["reason"]


@pytest.mark.parametrize("who", ["lampi", "staffer"])
def test_another_proposals_arc_is_never_listed_nor_named(world, lamp_world, who):
    ids, _ = lamp_world
    r = call(world, "GET", f"files/{ids['extracted']}/lamps/", who)
    assert r.status_code == 200
    assert SECRET not in r.text and ids["other"] not in [c["id"] for c in r.json()["candidates"]]
    # and it cannot be chosen by hand either, even by staff who see it: its name would
    # go into this proposal's GSP_LAMP
    body = {"id": ids["extracted"], "lamp_id": ids["other"]}
    r = call(world, "POST", "files/spectrum/calibrate/wavelength/", who, json=body)
    assert r.status_code == (409 if who == "staffer" else 404), r.text
    assert SECRET not in r.text


def test_what_is_not_a_science_spectrum_or_not_yours_is_refused(world, lamp_world):
    ids, _ = lamp_world
    for key in ("raw", "own_early"):
        r = call(world, "GET", f"files/{ids[key]}/lamps/")
        assert r.status_code == 409 and "detail" in r.json(), (key, r.text)
    r = call(world, "GET", f"files/{ids['extracted']}/lamps/", "lampother")
    assert r.status_code == 404
    assert call(world, "GET", f"files/{ids['extracted']}/lamps/", None).status_code == 401


def test_the_data_browser_chooser_offers_exactly_the_list(world, lamp_world):
    """The widget code with the real client, as the Voilà kernel runs it."""
    from gsp_extension.client import GSPClient
    from voila_apps.widgets.actions import AUTOMATIC, ActionBar, lamp_choices

    ids, _ = lamp_world
    hub = world.hub
    client = GSPClient(hub.url + "/services/gsp/", hub.token_for("lampi"), timeout=30)
    record = client.file(ids["extracted"])
    choices = lamp_choices(client, record)
    assert choices[0] == (
        "Automatic (used cfzst_0704_comp.fits, cfzst_0702_comp.fits)",
        AUTOMATIC,
    )
    assert choices[1:] == [
        ("★ cfzst_0704_comp.fits · HgAr · 5 min after", ids["staff"]),
        ("★ cfzst_0702_comp.fits · HgAr · 10 min before", ids["own_early"]),
        ("cfzst_0703_comp.fits · Ne+Ar · 1.0 h after", ids["own_late"]),
    ]
    jobs = []
    bar = ActionBar(client, jobs.append, lambda: None, lambda r: None, background=False)
    bar.show(record)
    assert list(bar.lamp.options) == choices
    assert "3 compatible arcs" in bar.lamp_note.value
    # the staff arc Automatic used may be chosen by hand, though lampi does not see its
    # record (its proposal is none)
    bar.lamp.value = ids["staff"]
    bar.run("wavelength")
    assert jobs and jobs[-1]["params"]["lamp_id"] == ids["staff"], bar.message.value
