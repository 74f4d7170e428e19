"""An in-memory stand-in of :class:`gsp_extension.client.GSPClient` for widget logic.

It implements the methods the widgets call with the API's semantics that matter to
them (filters, newest-first order, pages, visibility is not modelled: the real path is
covered by the browser tests through the real hub and service).
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import queue
import re
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

from gsp_extension.api.schemas import CALIBRATION_OBSTYPES
from gsp_extension.client import NEWEST_FIRST, GSPAPIError

FILTER_KEYS = (
    "data_type",
    "proposal_id",
    "obstype",
    "object",
    "filter",
    "filter_2",
    "grating",
    "slit",
    "wavmode",
    "roi",
    "technique",
    "date",
    "parent_file_id",
    "original_file_id",
)


def record(i: int, **fields) -> dict:
    base = {
        "id": i,
        "created": "2020-11-26T01:00:00+00:00",
        "last_modified": f"2020-11-26T01:{i % 60:02d}:00+00:00",
        "original_file": None,
        "original_file_id": i,
        "parent_file": None,
        "parent_file_id": i,
        "file_name": f"{i:04d}_ZTF20actqfpc.fits",
        "directory_name": "/d",
        "full_path": f"/d/{i}.fits",
        "obstype": "OBJECT",
        "object": "ZTF20actqfpc",
        "filter": "NO_FILTER",
        "filter_2": "GG455",
        "grating": "400_SYZY",
        "slit": "1.0_LONG_SLIT",
        "cam_targ": "16.1",
        "grt_targ": "7.5",
        "obsra": "05:34:22",
        "obsdec": "-5:24:52",
        "gain": "1.48",
        "rdnoise": "3.89",
        "roi": "Spectroscopic 2x2",
        "wavmode": "400_M2",
        "proposal_id": "SOAR2020B-001",
        "observation_id": None,
        "configuration_id": None,
        "block_id": None,
        "image_id": i,
        "date": "2020-11-26",
        "data_type": "0",
        "normalized": False,
        "technique": "Spectroscopy",
        "saturation_value": 69257,
    }
    base.update(fields)
    return base


class FakeClient:
    """Files, headers, jobs, proposals, settings, comments and logs kept in dicts."""

    api_url = "http://hub.example/services/gsp/api/"

    def __init__(self, user: str = "alice", staff: bool = False) -> None:
        self.user = user
        self.staff = staff
        self.records: dict[int, dict] = {}
        self.paths: dict[int, Path] = {}
        self.headers: dict[int, list[dict]] = {}
        self.jobs_: dict[int, dict] = {}
        self.comments_: dict[int, list[dict]] = {}
        self.logs_: list[dict] = []
        self.calls: list[tuple] = []
        # The service's answers of api/files/<id>/lamps/ (the engine's own choice, which
        # is not modelled here: tests/integration/test_service_lamps.py runs the real one).
        self.lamp_menus: dict[int, dict] = {}
        self.standard_menus: dict[int, dict] = {}
        self._ids = itertools.count(1000)
        self.proposals_ = [
            {
                "id": 1,
                "soar_id": "SOAR2020B-001",
                "semester": "2020B",
                "title": "Proposal one",
                "abstract": "Spectra.",
                "user": _user(1, "alice"),
                "collaborators": [_user(2, "bob")],
            },
            {
                "id": 2,
                "soar_id": "SOAR2020B-002",
                "semester": "2020B",
                "title": "Proposal two",
                "abstract": "Other.",
                "user": _user(3, "carol"),
                "collaborators": [],
            },
        ]
        self.settings_ = {
            1: {
                "id": 1,
                "proposal_id": 1,
                "version": 1,
                "created_at": "2020-11-26T00:00:00",
                "created_by_id": None,
                "saturation_threshold": 1.0,
                "cosmic_ray_rejection": "default",
                "technique": "Spectroscopy",
                "ignore_bias": False,
                "ignore_flats": False,
                "min_bias_frames": 10,
                "min_flat_frames": 10,
                "flat_normalization": "simple",
                "flat_normalization_order": 15,
                "extraction_type": "fractional",
                "target_fit_model": "moffat",
                "max_targets": 3,
                "pen_shift": "measure",
                "bulb_separation": "measure",
                "flux_calibration": True,
                "preferred_standard": "",
                "extinction_correction": True,
            }
        }

    # --- building the world ------------------------------------------------------------------

    def add(self, rec: dict, path: Path | None = None, header: list[dict] | None = None) -> dict:
        self.records[rec["id"]] = rec
        if path is not None:
            self.paths[rec["id"]] = path
        self.headers[rec["id"]] = header or [
            {"keyword": "OBJECT", "value": rec["object"], "comment": "target"},
            {"keyword": "OBSTYPE", "value": rec["obstype"], "comment": "observation type"},
        ]
        return rec

    # --- the client's interface ------------------------------------------------------------------

    def status(self) -> dict:
        return {
            "status": "ok",
            "user": self.user,
            "staff": self.staff,
            "version": "0",
            "database": "x",
            "time": "t",
        }

    def _match(self, filters: dict) -> list[dict]:
        rows = list(self.records.values())
        for key in FILTER_KEYS:
            if filters.get(key) is not None:
                rows = [r for r in rows if str(r.get(key)) == str(filters[key])]
        if filters.get("date_after"):
            rows = [r for r in rows if r["date"] >= str(filters["date_after"])]
        if filters.get("date_before"):
            rows = [r for r in rows if r["date"] <= str(filters["date_before"])]
        if filters.get("hide_raw_calibrations"):
            rows = [
                r
                for r in rows
                if not (
                    str(r.get("data_type")) == "0"
                    and str(r.get("obstype") or "").upper() in CALIBRATION_OBSTYPES
                )
            ]
        if filters.get("search"):
            s = filters["search"].lower()
            rows = [
                r for r in rows if s in r["file_name"].lower() or s in (r["object"] or "").lower()
            ]
        ordering = filters.get("ordering") or NEWEST_FIRST
        for part in reversed(ordering.split(",")):
            key = part.lstrip("-")
            descending = part.startswith("-")
            if key in ("date_obs", "frame_number"):
                # The service's observation order (not in the record): the frame number
                # leading the raw file's name, a product's from its original; no
                # DATE-OBS here. Missing values last in both directions, as the API.
                sign = -1 if descending else 1
                value = self._frame_number if key == "frame_number" else lambda r: None
                rows.sort(key=lambda r: (value(r) is None, sign * (value(r) or 0)))
                continue
            rows.sort(
                key=lambda r: (r.get(key) is None, str(r.get(key)) if key != "id" else r["id"]),
                reverse=descending,
            )
        return rows

    def _frame_number(self, r: dict) -> int | None:
        original = self.records.get(r.get("original_file_id") or r["id"], r)
        digits = re.match(r"\d+", original["file_name"])
        return int(digits.group()) if digits else None

    def files(self, *, page: int = 1, page_size: int | None = None, **filters) -> dict:
        self.calls.append(("files", page, page_size, filters))
        size = page_size or 100
        rows = self._match(filters)
        if page > 1 and (page - 1) * size >= len(rows):
            raise GSPAPIError(404, f"page {page} is past the last page of results")
        chunk = rows[(page - 1) * size : page * size]
        return {
            "count": len(rows),
            "count_is_estimate": False,
            "next": "n" if page * size < len(rows) else None,
            "previous": None,
            "results": copy.deepcopy(chunk),
        }

    def iter_files(self, *, page_size: int = 1000, **filters):
        return iter(copy.deepcopy(self._match(filters)))

    def file(self, file_id: int) -> dict:
        if file_id not in self.records:
            raise GSPAPIError(404, f"no file {file_id} that you may see")
        return copy.deepcopy(self.records[file_id])

    def lamps(self, file_id: int) -> dict:
        self.calls.append(("lamps", file_id))
        self.file(file_id)  # 404 as the service
        return copy.deepcopy(self.lamp_menus.get(file_id) or lamp_menu(file_id, []))

    def standards(self, file_id: int) -> dict:
        self.calls.append(("standards", file_id))
        self.file(file_id)  # 404 as the service
        return copy.deepcopy(self.standard_menus.get(file_id) or standard_menu(file_id, []))

    def header(self, file_id: int) -> list[dict]:
        self.calls.append(("header", file_id))
        return self.headers[file_id]

    def download(self, file_id: int, path=".") -> Path:
        self.calls.append(("download", file_id))
        target = Path(path)
        if file_id not in self.paths:  # as the API answers for a file it cannot send
            raise GSPAPIError(404, f"file {file_id} has no data to download")
        if target.is_dir():
            target = target / self.records[file_id]["file_name"]
        target.write_bytes(self.paths[file_id].read_bytes())
        return target

    def delete_file(self, file_id: int) -> dict:
        if str(self.records[file_id]["data_type"]) == "0":
            raise GSPAPIError(403, "raw files can never be deleted")
        del self.records[file_id]
        return {"detail": "deleted", "deleted": [file_id]}

    def _job(self, kind: str, file_id: int, **params) -> dict:
        jid = next(self._ids)
        job = {
            "id": jid,
            "kind": kind,
            "state": "queued",
            "file_id": file_id,
            "params": params,
            "error": None,
            "product_file_id": None,
            "product_key": f"{kind}:{file_id}",
        }
        self.jobs_[jid] = job
        self.calls.append((kind, file_id, params))
        return copy.deepcopy(job)

    def reduce(self, file_id: int) -> dict:
        return self._job("reduce", file_id)

    def extract(self, file_id: int, lamp_id=None) -> dict:
        return self._job("extract", file_id, lamp_id=lamp_id)

    def calibrate_wavelength(self, file_id: int, lamp_id=None) -> dict:
        return self._job("calibrate_wavelength", file_id, lamp_id=lamp_id)

    def calibrate_flux(self, file_id: int, standard_id=None) -> dict:
        return self._job("calibrate_flux", file_id, standard_id=standard_id)

    def job(self, job_id: int) -> dict:
        return copy.deepcopy(self.jobs_[job_id])

    def finish(
        self, job_id: int, product: dict | None, state: str = "done", error: str | None = None
    ) -> None:
        """Test helper: the engine finished a job (making ``product``)."""
        if product is not None:
            self.add(product)
        self.jobs_[job_id].update(
            state=state, error=error, product_file_id=product["id"] if product else None
        )

    def comments(self, file_id: int) -> list[dict]:
        return copy.deepcopy(self.comments_.get(file_id, []))

    def add_comment(self, file_id: int, text: str) -> dict:
        c = {
            "id": next(self._ids),
            "file_id": file_id,
            "user": self.user,
            "text": text,
            "created_at": "2020-11-26T02:00:00",
        }
        self.comments_.setdefault(file_id, []).append(c)
        return c

    def delete_comment(self, file_id: int, comment_id: int) -> None:
        self.comments_[file_id] = [c for c in self.comments_[file_id] if c["id"] != comment_id]

    def proposals(self):
        return iter(copy.deepcopy(self.proposals_))

    def settings(self, proposal_id: int) -> dict:
        return copy.deepcopy(self.settings_[proposal_id])

    def update_settings(self, proposal_id: int, **changes) -> dict:
        self.calls.append(("update_settings", proposal_id, changes))
        new = {**self.settings_[proposal_id], **changes}
        new["version"] += 1
        self.settings_[proposal_id] = new
        return copy.deepcopy(new)

    def _proposal(self, pid: int) -> dict:
        return next(p for p in self.proposals_ if p["id"] == pid)

    def add_collaborator(self, proposal_id: int, email: str) -> dict:
        p = self._proposal(proposal_id)
        if p["user"]["username"] != self.user and not self.staff:
            raise GSPAPIError(403, "only the PI or staff add collaborators")
        p["collaborators"].append(_user(next(self._ids), email.split("@")[0], email))
        return copy.deepcopy(p)

    def remove_collaborator(self, proposal_id: int, email: str) -> dict:
        p = self._proposal(proposal_id)
        p["collaborators"] = [c for c in p["collaborators"] if c["email"] != email]
        return copy.deepcopy(p)

    # --- users and new proposals (staff) ---------------------------------------------------------

    def users(self, **filters):
        self.calls.append(("users", filters))
        if not self.staff:
            raise GSPAPIError(403, "only staff list users")
        found: dict[str, dict] = {}
        for p in self.proposals_:
            for u in [p["user"], *p["collaborators"]]:
                if u is None:  # a proposal made by staff without a PI yet
                    continue
                entry = found.setdefault(u["username"], {**u, "proposals": []})
                entry["proposals"].append(p["soar_id"])
        for u in self.extra_users:
            found.setdefault(u["username"], {**u, "proposals": []})
        return iter(copy.deepcopy(sorted(found.values(), key=lambda u: u["username"])))

    @property
    def extra_users(self) -> list[dict]:
        return self.__dict__.setdefault("_extra_users", [])

    def _all_users(self) -> list[dict]:
        return list(self.users())

    def create_user(
        self, email, username=None, first_name="", last_name="", is_staff=False, partner=""
    ):
        self.calls.append(("create_user", email, username, is_staff))
        if is_staff and not getattr(self, "superuser", False):
            raise GSPAPIError(403, "only a superuser creates staff users")
        username = username or email.split("@")[0]
        for u in self._all_users():
            if u["username"] == username or u["email"] == email:
                raise GSPAPIError(409, f"email {email!r} already belongs to a user")
        user = {
            **_user(next(self._ids), username, email),
            "first_name": first_name,
            "last_name": last_name,
            "is_staff": is_staff,
            "partner": partner,
        }
        self.extra_users.append(user)
        return copy.deepcopy(user)

    def account(self, user_id="me") -> dict:
        found = {u["id"]: u for u in self._every_user_dict()}
        if user_id == "me":
            return copy.deepcopy(next(u for u in found.values() if u["username"] == self.user))
        return copy.deepcopy(found[user_id])

    def _every_user_dict(self) -> list[dict]:
        """The user dicts themselves (edits change them where the lists hold them)."""
        users = [u for p in self.proposals_ for u in [p["user"], *p["collaborators"]] if u]
        return users + self.extra_users

    def update_user(self, user_id="me", **changes) -> dict:
        self.calls.append(("update_user", user_id, changes))
        if user_id != "me" and not self.staff:
            raise GSPAPIError(403, "you may only edit your own account")
        if "email" in changes and "@" not in changes["email"]:
            raise GSPAPIError(400, "body email: String should match pattern '^[^@]+@.+$'")
        me = self.account(user_id)
        for u in self._every_user_dict():
            if u["id"] == me["id"]:
                u.update(changes)
        return self.account(me["id"])

    def update_proposal(self, proposal_id, **changes) -> dict:
        self.calls.append(("update_proposal", proposal_id, changes))
        if not self.staff:
            raise GSPAPIError(403, "only staff may edit proposals")
        p = self._proposal(proposal_id)
        email = changes.get("pi_email")
        if email is not None:
            pi = next((u for u in self._every_user_dict() if u["email"] == email), None)
            if pi is None:
                raise GSPAPIError(409, f"no account has the e-mail {email}: add the user first")
            p["collaborators"].append(p["user"])
            p["user"] = pi
        p.update({k: v for k, v in changes.items() if k != "pi_email"})
        return copy.deepcopy(p)

    def next_soar_id(self, semester=None) -> dict:
        semester = semester or "2026B"
        used = [
            p["soar_id"] for p in self.proposals_ if p["soar_id"].startswith(f"SOAR{semester}-")
        ]
        return {"semester": semester, "soar_id": f"SOAR{semester}-{len(used) + 1:03d}"}

    def create_proposal(self, soar_id, title, abstract="", semester=None, pi_email=None):
        self.calls.append(("create_proposal", soar_id, pi_email))
        soar_id = soar_id or self.next_soar_id(semester)["soar_id"]
        if any(p["soar_id"] == soar_id for p in self.proposals_):
            raise GSPAPIError(409, f"proposal {soar_id!r} exists")
        pi = None
        if pi_email:
            pi = next((u for u in self._all_users() if u["email"] == pi_email), None)
            if pi is None:
                pi = self.create_user(pi_email)
            pi = {k: v for k, v in pi.items() if k != "proposals"}
        proposal = {
            "id": len(self.proposals_) + 1,
            "soar_id": soar_id,
            "semester": semester or soar_id[4:9],
            "title": title,
            "abstract": abstract,
            "user": pi,
            "collaborators": [],
        }
        self.proposals_.append(proposal)
        return copy.deepcopy(proposal)

    # --- the event stream ------------------------------------------------------------------------

    @property
    def stream(self) -> queue.Queue:
        """What ``events()`` reads: event dicts, an exception to raise, or None to end."""
        return self.__dict__.setdefault("_stream", queue.Queue())

    def push_event(self, event: str, **fields) -> dict:
        """Test helper: the service records an event (ids increase)."""
        n = self.__dict__["_event_id"] = self.__dict__.get("_event_id", 0) + 1
        record = {"id": n, "event": event, "level": "INFO", "message": event, **fields}
        self.stream.put(record)
        return record

    def events(self, *, after_id=None, read_timeout=None):
        """Like the client's: blocks for each event; a read timeout breaks the stream."""
        self.calls.append(("events", after_id))
        while True:
            try:
                item = self.stream.get(timeout=read_timeout or 5)
            except queue.Empty:
                raise ConnectionError("read timed out") from None
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def logs(self, **filters) -> list[dict]:
        self.calls.append(("logs", filters))
        rows = sorted(self.logs_, key=lambda e: -e["id"])
        if filters.get("before_id"):
            rows = [e for e in rows if e["id"] < filters["before_id"]]
        if filters.get("proposal_id"):
            rows = [e for e in rows if e.get("proposal_id") == filters["proposal_id"]]
        return copy.deepcopy(rows[: filters.get("limit", 100)])


def lamp_menu(file_id: int, candidates: list[dict], used_automatically: bool | None = None) -> dict:
    """An answer of ``api/files/<id>/lamps/`` in the service's shape."""
    return {
        "file_id": file_id,
        "science_id": file_id,
        "candidates": candidates,
        "automatic": [c["id"] for c in candidates],
        "used": [c["id"] for c in candidates if c.get("used")],
        "used_automatically": used_automatically,
        "refused": [],
    }


def standard_menu(file_id: int, candidates: list[dict]) -> dict:
    """An answer of ``api/files/<id>/standards/`` in the service's shape."""
    return {
        "file_id": file_id,
        "spectrum_id": file_id,
        "standard_frame": False,
        "candidates": candidates,
        "automatic": candidates[0]["id"] if candidates else None,
        "used": next((c["id"] for c in candidates if c.get("used")), None),
        "refused": [],
    }


def lamp_candidate(i: int, name: str, lamps=None, seconds=None, used=False) -> dict:
    return {
        "id": i,
        "file_name": name,
        "object": "lamp",
        "date": "2020-11-26",
        "lamps": lamps,
        "seconds_from_science": seconds,
        "used": used,
    }


def _user(i: int, name: str, email: str | None = None) -> dict:
    return {
        "id": i,
        "username": name,
        "last_login": None,
        "first_name": name.title(),
        "last_name": "",
        "email": email or f"{name}@example.org",
        "is_staff": False,
        "is_active": True,
        "date_joined": "2020-01-01T00:00:00",
    }


def write_image(path: Path, shape=(60, 80), saturate: int = 0, value: float = 100.0) -> Path:
    rng = np.random.default_rng(0)
    data = rng.normal(value, 5, shape).astype("f4")
    data.flat[:saturate] = 70000
    hdu = fits.PrimaryHDU(data)
    hdu.header["OBJECT"] = "ZTF20actqfpc"
    hdu.header["OBSTYPE"] = "OBJECT"
    hdu.writeto(path, overwrite=True)
    return path


def write_spectrum(path: Path, n: int = 400, calibrated: bool = True) -> Path:
    flux = (100 + 50 * np.exp(-0.5 * ((np.arange(n) - n / 2) / 5) ** 2)).astype("f4")
    hdu = fits.PrimaryHDU(flux)
    if calibrated:
        hdu.header.update(CTYPE1="LINEAR", CUNIT1="Angstrom", CRVAL1=5000.0, CDELT1=2.0, CRPIX1=1.0)
    else:
        hdu.header.update(CTYPE1="PIXEL", CUNIT1="pixel", CRVAL1=1.0, CDELT1=1.0, CRPIX1=1.0)
    hdu.header["OBJECT"] = "ZTF20actqfpc"
    std = fits.ImageHDU(np.full(n, 3.0, "f4"), name="STD")
    fits.HDUList([hdu, std]).writeto(path, overwrite=True)
    return path


@pytest.fixture
def client(tmp_path) -> FakeClient:
    """Proposal SOAR2020B-001 with 25 raw frames (newest id 25), a family of products
    for raw 25 (reduced 101, extracted 102, wavelength-calibrated 103), an extracted arc
    104 of the same night, and a master bias 201."""
    c = FakeClient()
    img = write_image(tmp_path / "img.fits", saturate=7)
    spec = write_spectrum(tmp_path / "spec.fits")
    pix = write_spectrum(tmp_path / "pix.fits", calibrated=False)
    for i in range(1, 26):
        c.add(record(i), img)
    c.add(
        record(
            101, data_type="2", original_file_id=25, parent_file_id=25, file_name="cfzst_0025.fits"
        ),
        img,
    )
    c.add(
        record(
            102,
            data_type="3",
            original_file_id=25,
            parent_file_id=101,
            file_name="ecfzst_0025.fits",
        ),
        pix,
    )
    c.add(
        record(
            103,
            data_type="4",
            original_file_id=25,
            parent_file_id=102,
            file_name="wecfzst_0025.fits",
        ),
        spec,
    )
    c.add(
        record(
            104,
            data_type="3",
            obstype="COMP",
            original_file_id=24,
            parent_file_id=24,
            file_name="ecfzst_0024_comp.fits",
        ),
        pix,
    )
    c.lamp_menus[102] = lamp_menu(102, [lamp_candidate(104, "ecfzst_0024_comp.fits")])
    c.add(
        record(
            201,
            data_type="1",
            obstype="BIAS",
            original_file_id=None,
            parent_file_id=None,
            proposal_id=None,
            file_name="master_bias_RED.fits",
        ),
        img,
    )
    return c


@pytest.fixture(autouse=True)
def _private_home(tmp_path, monkeypatch):
    """Preferences and downloads go to a temporary home, never the real one."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("GSP_PREFERENCES", raising=False)
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/alice/")
    monkeypatch.setenv("JUPYTERHUB_BASE_URL", "/")
    return home


@pytest.fixture
def today() -> dt.date:
    return dt.date(2020, 11, 26)
