"""One real hub for the whole integration session, and a small world of users and files.

World (built through the store in the hub's app database, files written under the
hub's temporary data root):

- ``SOAR2020B-001`` ("p1"): PI ``alice``, collaborator ``bob``; raw files, a reduced
  product, an extracted spectrum, and a product whose path points outside the data root;
- ``SOAR2020B-002`` ("p2"): PI ``carol``, collaborator ``dave`` (the "other proposal");
- ``SOAR2020B-003``: PI ``fred`` alone, for the schemathesis fuzzer;
- ``SOAR2020B-004``: PI ``spi``, collaborator ``scollab``, for the security table;
- ``staffer``: staff; ``root``: superuser; ``eve``: an account in no proposal;
- a master bias (data_type 1), visible to everyone.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from tests.postgres import throwaway_database

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gsp_realhub import RealHub, start_hub, stop_hub  # noqa: E402
from login_overlay import LOGIN_OVERLAY  # noqa: E402

P1, P2, P3, P4 = "SOAR2020B-001", "SOAR2020B-002", "SOAR2020B-003", "SOAR2020B-004"


@dataclass
class World:
    hub: RealHub
    ids: dict[str, int] = field(default_factory=dict)
    proposals: dict[str, int] = field(default_factory=dict)

    def headers(self, who: str | None) -> dict[str, str]:
        if who is None:
            return {}
        if who == "bad":
            return {"Authorization": "token not-a-real-token"}
        return {"Authorization": f"token {self.hub.token_for(who)}"}

    def url(self, path: str) -> str:
        return self.hub.api + path.lstrip("/")


def _write_fits(path: Path, header: dict, data: np.ndarray) -> tuple[str, int]:
    from astropy.io import fits

    path.parent.mkdir(parents=True, exist_ok=True)
    hdu = fits.PrimaryHDU(data)
    for key, value in header.items():
        hdu.header[key] = value
    hdu.writeto(path, overwrite=True)
    raw = path.read_bytes()
    return hashlib.sha256(raw).hexdigest(), len(raw)


def _raw_header(propid: str, obstype: str, obj: str, n: int, night: str = "2020-11-26") -> dict:
    return {
        "OBSTYPE": obstype,
        "OBJECT": obj,
        "PROPID": propid,
        "DATE-OBS": f"{night}T01:00:00",
        "GAIN": 1.48,
        "RDNOISE": 3.89,
        "ROI": "Spectroscopic 2x2",
        "CCDSUM": "2 2",
        "GRATING": "400_SYZY",
        "SLIT": "1.0_LONG_SLIT",
        "FILTER": "NO_FILTER",
        "FILTER2": "GG455",
        "WAVMODE": "400_M2",
        "CAM_TARG": 16.1,
        "GRT_TARG": 7.5,
        "OBSRA": "05:34:22.372",
        "OBSDEC": "-5:24:52.448",
        "INSTCONF": "Red",
        "IMAGEID": n,
    }


def register_fits(
    session,
    root: Path,
    header: dict,
    data: np.ndarray,
    name: str,
    data_type: int,
    parent=None,
    *,
    proposal_id: str | None,
    store_header: bool = False,
):
    """Write ``header`` and ``data`` as a FITS file of ``header``'s night (``raw/`` for
    data_type 0, else ``products/`` with its RLEVEL) and register it; returns the row.

    ``proposal_id`` is the row's (None: a file of no proposal, such as a staff
    calibration, whatever PROPID says); ``store_header`` stores the cards, as ingest does.
    """
    from gsp_extension.store.files import register_file

    if data_type:
        header["RLEVEL"] = 60 + data_type
    folder = "raw" if data_type == 0 else "products"
    night = header["DATE-OBS"][:10].replace("-", "")
    path = root / folder / night / name
    checksum, size = _write_fits(path, header, data)
    fields = {**_fields(header), "proposal_id": proposal_id}
    return register_file(
        session,
        path,
        checksum=checksum,
        size=size,
        fields=fields,
        data_type=data_type,
        parent=parent,
        header=[[k, v, ""] for k, v in header.items()] if store_header else None,
    ).file


def _fields(h: dict) -> dict:
    return {
        "obstype": h["OBSTYPE"],
        "object": h["OBJECT"],
        "proposal_id": h["PROPID"],
        "filter": h["FILTER"],
        "filter_2": h["FILTER2"],
        "grating": h["GRATING"],
        "slit": h["SLIT"],
        "cam_targ": str(h["CAM_TARG"]),
        "grt_targ": str(h["GRT_TARG"]),
        "obsra": h["OBSRA"],
        "obsdec": h["OBSDEC"],
        "gain": str(h["GAIN"]),
        "rdnoise": str(h["RDNOISE"]),
        "roi": h["ROI"],
        "wavmode": h["WAVMODE"],
        "date": dt.date.fromisoformat(h["DATE-OBS"][:10]),
        "technique": "Spectroscopy",
        "saturation_value": 69257,
        "image_id": h["IMAGEID"],
    }


def build_world(hub: RealHub) -> World:
    from gsp_extension.store import Database
    from gsp_extension.store.accounts import create_user
    from gsp_extension.store.files import register_file
    from gsp_extension.store.proposals import create_proposal

    world = World(hub)
    root = hub.data_root
    db = Database(hub.database_url)
    rng = np.random.default_rng(1)
    with db.transaction() as s:
        users = {
            name: create_user(s, name, email=f"{name}@example.org", first_name=name.title())
            for name in ("alice", "bob", "carol", "dave", "eve", "fred", "spi", "scollab")
        }
        users["staffer"] = create_user(s, "staffer", email="staffer@example.org", is_staff=True)
        users["root"] = create_user(s, "root", email="root@example.org", is_superuser=True)
        p1 = create_proposal(
            s,
            P1,
            semester="2020B",
            title="Proposal one",
            pi=users["alice"],
            collaborators=[users["bob"]],
        )
        p2 = create_proposal(
            s,
            P2,
            semester="2020B",
            title="Proposal two",
            pi=users["carol"],
            collaborators=[users["dave"]],
        )
        # The fuzzer's own proposal, so that what it changes touches nobody else.
        p3 = create_proposal(s, P3, semester="2020B", title="Fuzzing", pi=users["fred"])
        # The security table's proposal: its requests change only this one.
        p4 = create_proposal(
            s,
            P4,
            semester="2020B",
            title="Security",
            pi=users["spi"],
            collaborators=[users["scollab"]],
        )
        world.proposals = {"p1": p1.id, "p2": p2.id, "p3": p3.id, "p4": p4.id}

        def raw(key, propid, obstype, obj, n, night="2020-11-26"):
            h = _raw_header(propid, obstype, obj, n, night)
            path = root / "raw" / night.replace("-", "") / f"{n:04d}_{obj}.fits"
            checksum, size = _write_fits(path, h, rng.normal(100, 5, (40, 60)).astype("f4"))
            reg = register_file(
                s, path, checksum=checksum, size=size, fields=_fields(h), header=None
            )
            world.ids[key] = reg.file.id
            return reg.file

        raw1 = raw("p1_raw", P1, "OBJECT", "ZTF20actqfpc", 1)
        raw("p1_arc", P1, "COMP", "ZTF20actqfpc", 2)
        raw("p1_raw2", P1, "OBJECT", "SN2020abc", 3)
        raw("p2_raw", P2, "OBJECT", "NGC1234", 4)

        def product(key, parent, data_type, name, data, propid=P1, path=None):
            h = _raw_header(
                propid, "OBJECT", parent.object, 100 + len(world.ids), parent.date.isoformat()
            )
            h["RLEVEL"] = 60 + data_type
            path = path or root / "products" / "20201126" / name
            checksum, size = _write_fits(path, h, data)
            fields = _fields(h)
            reg = register_file(
                s,
                path,
                checksum=checksum,
                size=size,
                fields=fields,
                data_type=data_type,
                parent=parent,
            )
            world.ids[key] = reg.file.id
            return reg.file

        red = product(
            "p1_reduced",
            raw1,
            2,
            "cfzst_0001_ZTF20actqfpc.fits",
            rng.normal(10, 1, (40, 60)).astype("f4"),
        )
        spectrum = np.exp(-0.5 * ((np.arange(500) - 250) / 20) ** 2).astype("f4")
        product("p1_extracted", red, 3, "ecfzst_0001_ZTF20actqfpc.fits", spectrum)
        product("p1_deletable", red, 3, "ecfzst_0001_ZTF20actqfpc_2.fits", spectrum)
        # A row whose path leaves the data root: it must never be served.
        outside = root.parent / f"{root.name}-outside" / "secret.fits"
        product("p1_outside", red, 2, "secret.fits", np.ones((4, 4), "f4"), path=outside)
        s_raw = raw("s_raw", P4, "OBJECT", "SecTarget", 301, night="2020-12-01")
        s_red = product(
            "s_reduced",
            s_raw,
            2,
            "cfzst_0301_SecTarget.fits",
            rng.normal(10, 1, (40, 60)).astype("f4"),
            propid=P4,
        )
        s_ext = product("s_extracted", s_red, 3, "ecfzst_0301_SecTarget.fits", spectrum, propid=P4)
        product("s_calibrated", s_ext, 4, "wecfzst_0301_SecTarget.fits", spectrum, propid=P4)
        mb_h = _raw_header(P1, "BIAS", "bias", 200)
        mb_h["RLEVEL"] = 61
        mb_path = root / "products" / "20201126" / "master_bias_RED_SP_2x2.fits"
        checksum, size = _write_fits(mb_path, mb_h, np.zeros((40, 60), "f4"))
        fields = _fields(mb_h)
        fields["proposal_id"] = None
        world.ids["master_bias"] = register_file(
            s, mb_path, checksum=checksum, size=size, fields=fields, data_type=1
        ).file.id
    db.dispose()
    return world


# --- which app database the hub's service uses ---------------------------------------------
#
# Every integration test runs against a hub whose service uses SQLite. Modules marked
# ``pytestmark = pytest.mark.databases("sqlite", "postgresql")`` run a second time
# against a hub whose service uses PostgreSQL (GSP_DATABASE_URL), in a database of its
# own so that the db_url fixture's schema resets cannot touch it. One hub runs at a
# time: pytest groups the tests by the session parameter and stops the first hub
# before starting the second.


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "databases(*kinds): app databases ('sqlite', 'postgresql') of the hub's service "
        "that the module's tests run against (default: sqlite only)",
    )


def pytest_generate_tests(metafunc):
    if "world_db" in metafunc.fixturenames:
        marker = metafunc.definition.get_closest_marker("databases")
        kinds = marker.args if marker else ("sqlite",)
        metafunc.parametrize("world_db", kinds, indirect=True, scope="session")


@pytest.fixture(scope="session")
def world_db(request) -> str:
    return request.param


@pytest.fixture(scope="session")
def realhub(world_db, tmp_path_factory) -> RealHub:
    """The hub of the session for one app database kind.

    On PostgreSQL each hub gets a fresh database of its own (dropped after the hub): pytest
    may start this fixture's hub more than once, and a second hub on the database of the
    first found its accounts taken ('alice' exists) when building its world.
    """
    with contextlib.ExitStack() as stack:
        url = None
        if world_db == "postgresql":
            url = stack.enter_context(throwaway_database("gsp_hub"))
        # With the login tests' overlay (two test users' spawns made slow or failing):
        # test_login_spawn.py then needs no hub start of its own.
        hub = start_hub(
            tmp_path_factory.mktemp(f"gsp-hub-{world_db}"),
            database_url=url,
            extra_config=LOGIN_OVERLAY,
        )
        try:
            yield hub
        finally:
            stop_hub(hub)


@pytest.fixture(scope="session")
def bare_hub(tmp_path_factory) -> RealHub:
    """A second hub, on SQLite, with no ``GSP_PUBLIC_URL`` (mailed links take its bind
    URL), for the modules whose worlds must start from an empty database: the seed's
    examples (its proposal is the fifth) and the invitation links. Each builds its own
    world on it, of its own accounts; one hub start serves both."""
    hub = start_hub(tmp_path_factory.mktemp("gsp-bare-hub"), public_url=False)
    try:
        yield hub
    finally:
        stop_hub(hub)


@pytest.fixture(scope="session")
def world(realhub) -> World:
    return build_world(realhub)
