"""Within a night, files are listed in the order they were observed (DATE-OBS, then
frame number), newest first, whatever order they were registered in (issue 15, item 4):
a catch-up batch after a restart must not put a science frame among the bias frames."""

from __future__ import annotations

import pytest

from gsp_extension.api.queries import list_files
from gsp_extension.api.schemas import FileListQuery
from gsp_extension.security import resolve_caller
from gsp_extension.store import Database
from gsp_extension.store.accounts import create_user
from gsp_extension.store.files import register_file
from gsp_extension.store.proposals import create_proposal
from tests.migrated import migrate

NIGHT = "2020-11-26"

#: (file name, DATE-OBS or None), in the order they are *registered*: the science frame
#: and the late bias come first (a catch-up batch), a flat's clock equals a bias's.
FRAMES = [
    ("0010_ZTF20actqfpc.fits", "2020-11-27T02:10:00.000"),
    ("0004_bias.fits", "2020-11-26T21:03:00.000"),
    ("0001_bias.fits", "2020-11-26T21:00:00.000"),
    ("0003_flat.fits", "2020-11-26T21:02:00.000"),
    ("0002_flat.fits", "2020-11-26T21:02:00.000"),  # same second: frame number decides
    ("0011_ZTF20actqfpc.fits", "2020-11-27T02:30:00.000"),
    ("focus.fits", None),  # no DATE-OBS, no frame number: listed after the night's frames
]


@pytest.fixture
def night(db_url, request):
    migrate(db_url, request)
    db = Database(db_url)
    with db.transaction() as s:
        pi = create_user(s, "pi", email="pi@x.org")
        create_proposal(s, "P1", pi=pi)
        rows = {}
        for n, (name, date_obs) in enumerate(FRAMES):
            cards = [["DATE-OBS", date_obs, ""]] if date_obs else [["OBJECT", "focus", ""]]
            rows[name] = register_file(
                s,
                f"/d/raw/{name}",
                checksum=f"{n + 1:064x}",
                size=1,
                fields={"date": NIGHT, "proposal_id": "P1"},
                header=cards,
            ).file
        # a product of the first science frame, made after everything else was registered
        register_file(
            s,
            "/d/products/cfzst_0010_ZTF20actqfpc.fits",
            checksum=f"{99:064x}",
            size=1,
            data_type=2,
            parent=rows["0010_ZTF20actqfpc.fits"],
            fields={"date": NIGHT, "proposal_id": "P1"},
        )
    yield db
    db.dispose()


def _names(db, **query):
    with db.session() as s:
        caller = resolve_caller(s, {"name": "pi", "kind": "user"}, ())
        page = list_files(s, caller, FileListQuery(**query), page_size=100, bound=1000)
    return [r["file_name"] for r in page.rows]


def test_the_default_ordering_is_the_observation_order_newest_first(night):
    assert _names(night, data_type=0) == [
        "0011_ZTF20actqfpc.fits",
        "0010_ZTF20actqfpc.fits",
        "0004_bias.fits",
        "0003_flat.fits",
        "0002_flat.fits",
        "0001_bias.fits",
        "focus.fits",
    ]
    # a product sits with the raw frame it comes from, not with the newest registrations
    everything = _names(night)
    at = everything.index("0010_ZTF20actqfpc.fits")
    assert "cfzst_0010_ZTF20actqfpc.fits" in everything[at - 1 : at + 2]
    assert everything.index("cfzst_0010_ZTF20actqfpc.fits") < everything.index("0004_bias.fits")


def test_observation_order_can_be_asked_for_explicitly_oldest_first(night):
    assert _names(night, data_type=0, ordering="date_obs,frame_number") == [
        "0001_bias.fits",
        "0002_flat.fits",
        "0003_flat.fits",
        "0004_bias.fits",
        "0010_ZTF20actqfpc.fits",
        "0011_ZTF20actqfpc.fits",
        "focus.fits",  # missing values last in both directions, on both databases
    ]
