"""``GSPClient``: a Python client of the GSP Live REST API.

Anywhere::

    from gsp_extension.client import GSPClient
    gsp = GSPClient("https://gsp.example.org/services/gsp/", token="<API token>")
    for record in gsp.iter_files(data_type=0, proposal_id="SOAR2020B-008"):
        print(record["file_name"])

Inside a notebook or Voilà app on the hub, ``GSPClient()`` finds both by itself: the token
is ``$JUPYTERHUB_API_TOKEN`` (the server's token, limited to what its user may do) and
the URL ``$GSP_API_URL`` (set for every server by ``jupyterhub_config.py``), else
``$JUPYTERHUB_PUBLIC_URL`` + ``$JUPYTERHUB_BASE_URL`` + ``services/gsp/``.

Every method raises a :class:`GSPError` whose ``detail`` says what went wrong:
:class:`GSPAPIError` (with the HTTP status) when the API refuses,
:class:`GSPConnectionError` when it cannot be reached or its answer cannot be read, and
:class:`JobFailed` from :meth:`GSPClient.wait_for_job`. Widgets catch ``GSPError`` and
show ``detail``.

The API's words are re-exported here for code that talks to it only through this module
(the Voilà apps): :class:`DataType`, :class:`JobKind`, :class:`JobState`, :func:`is_arc`.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypedDict
from urllib.parse import unquote, urljoin

import requests

from gsp_extension.vocabulary import NEWEST_FIRST, JobKind, JobState
from pipeline.vocabulary import ARC_OBSTYPES, DataType, is_arc

__all__ = [
    "ARC_OBSTYPES",
    "NEWEST_FIRST",
    "DataType",
    "FileRecord",
    "GSPAPIError",
    "GSPClient",
    "GSPConnectionError",
    "GSPError",
    "JobFailed",
    "JobKind",
    "JobRecord",
    "JobState",
    "Page",
    "is_arc",
]


class FileRecord(TypedDict):
    """The API's file record (types as the API sends them): the seed's fields, then
    ``date_obs`` (ISO 8601 UTC) and ``frame_number``, the observation order."""

    id: int
    created: str
    last_modified: str
    original_file: str | None
    original_file_id: int | None
    parent_file: str | None
    parent_file_id: int | None
    file_name: str
    directory_name: str
    full_path: str
    obstype: str | None
    object: str | None
    filter: str | None
    filter_2: str | None
    grating: str | None
    slit: str | None
    cam_targ: str | None
    grt_targ: str | None
    obsra: str | None
    obsdec: str | None
    gain: str | None
    rdnoise: str | None
    roi: str | None
    wavmode: str | None
    proposal_id: str | None
    observation_id: int | None
    configuration_id: int | None
    block_id: int | None
    image_id: int | None
    date: str | None
    data_type: str
    normalized: bool
    technique: str | None
    saturation_value: int | None
    date_obs: str | None
    frame_number: int | None


class Page(TypedDict):
    count: int
    count_is_estimate: bool
    next: str | None
    previous: str | None
    results: list[dict[str, Any]]


class JobRecord(TypedDict, total=False):
    id: int
    kind: str
    state: str
    product_key: str
    file_id: int | None
    error: str | None
    product_file_id: int | None


class GSPError(Exception):
    """Any failure of a client call.

    Attributes
    ----------
    detail : str
        What went wrong, in words fit to show a person.
    """

    def __init__(self, message: str, detail: str | None = None) -> None:
        super().__init__(message)
        self.detail = detail if detail is not None else message


class GSPAPIError(GSPError, RuntimeError):
    """The API answered an error.

    Attributes
    ----------
    status : int
        HTTP status.
    detail : str
        The API's explanation.
    """

    def __init__(self, status: int, detail: str, method: str = "", url: str = "") -> None:
        super().__init__(f"{method} {url} -> {status}: {detail}".strip(), detail)
        self.status = status


class GSPConnectionError(GSPError, ConnectionError):
    """The API could not be reached, or its answer could not be read."""


class JobFailed(GSPError, RuntimeError):
    """A job ended ``failed``; ``job`` holds its record (with ``error``)."""

    def __init__(self, job: JobRecord) -> None:
        super().__init__(
            f"job {job.get('id')} ({job.get('kind')}) failed: {job.get('error')}",
            str(job.get("error") or "the job failed"),
        )
        self.job = job


def _default_url() -> str:
    explicit = os.environ.get("GSP_API_URL")
    if explicit:
        return explicit
    public = os.environ.get("JUPYTERHUB_PUBLIC_URL")
    if public:
        base = os.environ.get("JUPYTERHUB_BASE_URL", "/")
        return urljoin(urljoin(public, base), "services/gsp/")
    raise ValueError(
        "no GSP API URL: pass url=... (e.g. 'https://host/services/gsp/'), or set "
        "$GSP_API_URL (the hub sets it for notebook servers)"
    )


def _default_token() -> str:
    token = os.environ.get("GSP_API_TOKEN") or os.environ.get("JUPYTERHUB_API_TOKEN")
    if not token:
        raise ValueError(
            "no API token: pass token=... (make one on the hub's Token page), or run "
            "inside a hub server where $JUPYTERHUB_API_TOKEN is set"
        )
    return token


class GSPClient:
    """Client of the GSP Live REST API.

    Parameters
    ----------
    url : str, optional
        The service's base URL, e.g. ``https://host/services/gsp/`` (the ``api/`` part is
        added). Default: see the module docstring.
    token : str, optional
        A hub API token. Default: ``$GSP_API_TOKEN``, else ``$JUPYTERHUB_API_TOKEN``.
    timeout : float
        Seconds per request.
    session : requests.Session, optional
        To share connections or add adapters.
    """

    def __init__(
        self,
        url: str | None = None,
        token: str | None = None,
        *,
        timeout: float = 60.0,
        session: requests.Session | None = None,
    ) -> None:
        base = url or _default_url()
        self.url = base if base.endswith("/") else base + "/"
        self.api_url = urljoin(self.url, "api/")
        self.timeout = timeout
        self.session = session or requests.Session()
        self.session.headers["Authorization"] = f"token {token or _default_token()}"

    def __repr__(self) -> str:
        return f"GSPClient({self.url!r})"

    # --- transport --------------------------------------------------------------------------

    def _request(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        url = path if path.startswith("http") else urljoin(self.api_url, path)
        kwargs.setdefault("timeout", self.timeout)
        try:
            response = self.session.request(method, url, **kwargs)
        except requests.RequestException as exc:
            raise GSPConnectionError(
                f"{method} {url}: {exc}", f"the GSP service cannot be reached ({exc})"
            ) from exc
        if response.status_code >= 400:
            try:
                detail = response.json().get("detail", response.text)
            except ValueError:
                detail = response.text[:500]
            response.close()
            raise GSPAPIError(response.status_code, detail, method, url)
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._request(method, path, **kwargs)
        try:
            return response.json() if response.content else None
        except ValueError as exc:
            raise GSPConnectionError(
                f"{method} {path}: the answer is not JSON: {response.text[:200]!r}",
                "the GSP service answered something that is not JSON; try again later",
            ) from exc

    @staticmethod
    def _params(filters: dict[str, Any]) -> dict[str, Any]:
        """Query parameters: ``None`` dropped, lists comma-joined, booleans as JSON."""
        params: dict[str, Any] = {}
        for name, value in filters.items():
            if value is None:
                continue
            if isinstance(value, bool):
                value = "true" if value else "false"
            elif isinstance(value, list | tuple | set | frozenset):
                value = ",".join(str(v) for v in value)
            params[name] = value
        return params

    def _pages(self, path: str, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
        page: Page = self._json("GET", path, params=self._params(params))
        while True:
            yield from page["results"]
            if not page["next"]:
                return
            page = self._json("GET", page["next"])

    # --- status -------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        """``GET api/``: service status and who you are."""
        return self._json("GET", "")

    def health(self) -> dict[str, Any]:
        """``GET api/health/`` (staff): is live processing running and keeping up?"""
        return self._json("GET", "health/")

    # --- files ----------------------------------------------------------------------------------

    def files(self, *, page: int = 1, page_size: int | None = None, **filters: Any) -> Page:
        """One page of ``GET api/files/`` (filters: data_type, proposal_id, obstype, object,
        filter, filter_2, grating, slit, wavmode, roi, technique, date, date_after,
        date_before, parent_file_id, original_file_id, search, ordering, exclude_obstype
        (a list or a comma-separated string), hide_raw_calibrations)."""
        return self._json(
            "GET", "files/", params=self._params({"page": page, "page_size": page_size, **filters})
        )

    def iter_files(self, *, page_size: int = 1000, **filters: Any) -> Iterator[FileRecord]:
        """Every file matching the filters, following the pages."""
        return self._pages("files/", {"page_size": page_size, **filters})  # type: ignore[return-value]

    def file(self, file_id: int) -> FileRecord:
        """``GET api/files/<id>/``."""
        return self._json("GET", f"files/{int(file_id)}/")

    def register_file(self, full_path: str | os.PathLike[str]) -> dict[str, Any]:
        """``POST api/files/`` (staff or the instrument): register a file under the data root."""
        return self._json("POST", "files/", json={"full_path": os.fspath(full_path)})

    def delete_file(self, file_id: int) -> dict[str, Any]:
        """``DELETE api/files/<id>/``: delete a product (raw data cannot be deleted)."""
        return self._json("DELETE", f"files/{int(file_id)}/")

    def delete_files(self, file_ids: Iterable[int]) -> dict[str, Any]:
        """``DELETE api/files/``: delete several products, all or nothing."""
        return self._json("DELETE", "files/", json={"ids": [int(i) for i in file_ids]})

    def lamps(self, file_id: int) -> dict[str, Any]:
        """``GET api/files/<id>/lamps/``: the arcs "Automatic" calibrates a science frame
        or spectrum with (``candidates``, in the engine's order), ``automatic`` (the ids
        it would use), ``used`` (those named by the current calibrated spectra),
        ``used_automatically`` and ``refused`` (arcs of another setup, with the reason)."""
        return self._json("GET", f"files/{int(file_id)}/lamps/")

    def standards(self, file_id: int) -> dict[str, Any]:
        """``GET api/files/<id>/standards/``: the sensitivities "Automatic" flux-calibrates
        a spectrum with (``candidates``, in the engine's order), ``automatic`` (the id it
        would use), ``used`` (the one of the current flux product) and ``refused``."""
        return self._json("GET", f"files/{int(file_id)}/standards/")

    def header(self, file_id: int) -> list[dict[str, Any]]:
        """``GET api/files/header/?id=``: ``[{"keyword", "value", "comment"}, ...]``."""
        return self._json("GET", "files/header/", params={"id": int(file_id)})["header"]

    def download(
        self, file_id: int, path: str | os.PathLike[str] = ".", *, chunk_size: int = 1 << 20
    ) -> Path:
        """Download a file to ``path`` (a folder keeps the server's file name).

        The file appears whole: it is written aside and renamed at the end.
        """
        response = self._request("GET", f"files/{int(file_id)}/download/", stream=True)
        target = Path(path)
        if target.is_dir():
            target = target / _attachment_name(response, f"file-{file_id}.fits")
        partial = target.with_name(target.name + ".part")
        try:
            with open(partial, "wb") as fh:
                for chunk in response.iter_content(chunk_size):
                    fh.write(chunk)
            os.replace(partial, target)
        finally:
            response.close()
            partial.unlink(missing_ok=True)
        return target

    def visualize(
        self, file_id: int, path: str | os.PathLike[str] | None = None, **params: Any
    ) -> bytes:
        """``GET api/files/visualize/``: PNG bytes (also written to ``path`` if given).

        Parameters: scale (zscale | percentile | minmax), percentile, cmap, width, height.
        """
        png = self._request(
            "GET", "files/visualize/", params=self._params({"id": int(file_id), **params})
        ).content
        if path is not None:
            Path(path).write_bytes(png)
        return png

    # --- comments ---------------------------------------------------------------------------------

    def comments(self, file_id: int) -> list[dict[str, Any]]:
        return self._json("GET", f"files/{int(file_id)}/comments/")["results"]

    def add_comment(self, file_id: int, text: str) -> dict[str, Any]:
        return self._json("POST", f"files/{int(file_id)}/comments/", json={"text": text})

    def delete_comment(self, file_id: int, comment_id: int) -> None:
        self._request("DELETE", f"files/{int(file_id)}/comments/{int(comment_id)}/")

    # --- actions and jobs -----------------------------------------------------------------------

    def _action(self, path: str, body: dict[str, Any]) -> list[JobRecord]:
        return self._json("POST", path, json=self._params(body))["jobs"]

    def reduce(self, file_id: int) -> JobRecord:
        """Queue the reduction of a raw file; returns its job."""
        return self._action("files/reduce/", {"id": int(file_id)})[0]

    def reclassify(self, file_id: int) -> JobRecord:
        """Queue the re-classification of a raw file."""
        return self._action("files/reclassify/", {"id": int(file_id)})[0]

    def extract(self, file_id: int, lamp_id: int | None = None) -> JobRecord:
        """Queue the extraction of a reduced file (optionally with a chosen lamp)."""
        return self._action("files/spectrum/extract/", {"id": int(file_id), "lamp_id": lamp_id})[0]

    def calibrate_wavelength(self, file_id: int, lamp_id: int | None = None) -> JobRecord:
        """Queue the wavelength calibration of an extracted spectrum."""
        return self._action(
            "files/spectrum/calibrate/wavelength/", {"id": int(file_id), "lamp_id": lamp_id}
        )[0]

    def calibrate_flux(self, file_id: int, standard_id: int | None = None) -> JobRecord:
        """Queue the flux calibration of a wavelength-calibrated spectrum (data_type 4).

        Parameters
        ----------
        file_id : int
            A wavelength- (4) or flux-calibrated (5) spectrum; its frame's spectra are
            (re)calibrated into data_type 5 products.
        standard_id : int, optional
            A standard star's file (any level) or its sensitivity master; default: the
            compatible standard nearest in time.
        """
        return self._action(
            "files/spectrum/calibrate/flux/", {"id": int(file_id), "standard_id": standard_id}
        )[0]

    def calibrations(self, date: str, kinds: Iterable[str] = ("bias", "flat")) -> list[JobRecord]:
        """Queue the master calibrations of a night (``YYYY-MM-DD``)."""
        return self._action("files/calibrations/", {"date": str(date), "kinds": list(kinds)})

    def job(self, job_id: int) -> JobRecord:
        """``GET api/jobs/<id>/``: the job's current state."""
        return self._json("GET", f"jobs/{int(job_id)}/")

    def jobs(self, *, state: str | None = None, file_id: int | None = None) -> Iterator[JobRecord]:
        """Jobs you asked for or of your proposals, newest first."""
        return self._pages("jobs/", {"state": state, "file_id": file_id})  # type: ignore[return-value]

    def wait_for_job(
        self,
        job: int | JobRecord,
        *,
        timeout: float = 600.0,
        poll: float = 1.0,
        raise_on_failure: bool = True,
    ) -> JobRecord:
        """Poll a job until it is ``done`` or ``failed``.

        Raises
        ------
        JobFailed
            When it failed (and ``raise_on_failure``).
        TimeoutError
            When it is still queued or running after ``timeout`` seconds.
        """
        job_id = int(job["id"] if isinstance(job, dict) else job)
        deadline = time.monotonic() + timeout
        while True:
            record = self.job(job_id)
            if record["state"] == "done":
                return record
            if record["state"] == "failed":
                if raise_on_failure:
                    raise JobFailed(record)
                return record
            if time.monotonic() >= deadline:
                raise TimeoutError(f"job {job_id} is still {record['state']} after {timeout:g} s")
            time.sleep(poll)

    # --- proposals ----------------------------------------------------------------------------------

    def proposals(self) -> Iterator[dict[str, Any]]:
        """Proposals you belong to (staff: all)."""
        return self._pages("proposals/", {})

    def create_proposal(
        self,
        soar_id: str | None,
        title: str,
        abstract: str = "",
        semester: str | None = None,
        pi_email: str | None = None,
    ) -> dict[str, Any]:
        """Create a proposal (staff), or complete ingest's placeholder of the same id.

        An unknown ``pi_email`` creates the PI's account and mails an invitation;
        ``semester=None`` takes it from the SOAR id; ``soar_id=None`` numbers the
        proposal after the semester's last one (then ``semester`` is required).
        """
        body = {"title": title, "abstract": abstract}
        body.update(self._params({"soar_id": soar_id, "semester": semester, "pi_email": pi_email}))
        return self._json("POST", "proposals/", json=body)

    def update_proposal(self, proposal_id: int, **changes: Any) -> dict[str, Any]:
        """Edit ``title``, ``abstract``, ``semester`` or ``pi_email`` (staff)."""
        return self._json("PATCH", f"proposals/{int(proposal_id)}/", json=changes)

    def next_soar_id(self, semester: str | None = None) -> dict[str, str]:
        """``{"semester", "soar_id"}``: the default SOAR id of a new proposal of
        ``semester`` (default: today's) (staff)."""
        return self._json(
            "GET", "proposals/next-soar-id/", params=self._params({"semester": semester})
        )

    # --- users (staff) --------------------------------------------------------------------------------

    def users(self, **filters: Any) -> Iterator[dict[str, Any]]:
        """Every account with its proposals (staff; filters: search, is_staff, is_active)."""
        return self._pages("users/", filters)

    def create_user(
        self,
        email: str,
        username: str | None = None,
        first_name: str = "",
        last_name: str = "",
        is_staff: bool = False,
        partner: str = "",
    ) -> dict[str, Any]:
        """Create an account and mail it a set-password link (staff; staff accounts
        only by a superuser). ``username=None`` makes one from the email."""
        body: dict[str, Any] = {
            "email": email,
            "first_name": first_name,
            "last_name": last_name,
            "is_staff": is_staff,
        }
        if partner:
            body["partner"] = partner
        if username is not None:
            body["username"] = username
        return self._json("POST", "users/", json=body)

    def account(self, user_id: int | str = "me") -> dict[str, Any]:
        """One account: yours (``"me"``), or any for staff."""
        return self._json("GET", f"users/{user_id}/")

    def update_user(self, user_id: int | str = "me", **changes: Any) -> dict[str, Any]:
        """Edit an account: your own ``first_name``, ``last_name``, ``email``; staff also
        ``partner`` and ``is_active`` (False deactivates); a superuser ``is_staff``."""
        return self._json("PATCH", f"users/{user_id}/", json=changes)

    def proposal(self, proposal_id: int) -> dict[str, Any]:
        return self._json("GET", f"proposals/{int(proposal_id)}/")

    def settings(self, proposal_id: int) -> dict[str, Any]:
        """The proposal's current reduction settings."""
        return self._json("GET", f"proposals/{int(proposal_id)}/settings/")

    def update_settings(self, proposal_id: int, **changes: Any) -> dict[str, Any]:
        """Change reduction settings (PI or staff); returns the new version."""
        return self._json("PUT", f"proposals/{int(proposal_id)}/settings/", json=changes)

    def add_collaborator(self, proposal_id: int, email: str) -> dict[str, Any]:
        """Add a collaborator by email (a new address gets an account and an invitation)."""
        return self._json(
            "POST",
            f"proposals/collaborators/{int(proposal_id)}/",
            json={"email": email, "action": "add"},
        )

    def remove_collaborator(self, proposal_id: int, email: str) -> dict[str, Any]:
        return self._json(
            "POST",
            f"proposals/collaborators/{int(proposal_id)}/",
            json={"email": email, "action": "remove"},
        )

    # --- logs, events, email ------------------------------------------------------------------------

    def logs(self, **filters: Any) -> list[dict[str, Any]]:
        """Log entries (proposal_id, file_id, level, before_id, limit), newest first."""
        return self._json("GET", "logs/", params=self._params(filters))["results"]

    def events(
        self, *, after_id: int | None = None, read_timeout: float | None = None
    ) -> Iterator[dict[str, Any]]:
        """Follow ``api/events/``: yields each event's record as it arrives.

        The stream stays open; stop iterating (or set ``read_timeout``) to end it.
        """
        response = self._request(
            "GET",
            "events/",
            params=self._params({"after_id": after_id}),
            stream=True,
            timeout=(self.timeout, read_timeout),
        )
        try:
            for line in response.iter_lines(decode_unicode=True):
                if line and line.startswith("data: "):
                    yield json.loads(line[len("data: ") :])
        except requests.RequestException as exc:
            raise GSPConnectionError(
                f"event stream: {exc}", f"the event stream was cut ({exc})"
            ) from exc
        finally:
            response.close()

    def send_email(
        self,
        subject: str,
        message: str,
        *,
        to: Iterable[str] = (),
        proposal_id: int | None = None,
    ) -> dict[str, Any]:
        """``POST api/email/`` (staff): mail addresses and/or a proposal's members."""
        body = {"subject": subject, "message": message, "to": list(to), "proposal_id": proposal_id}
        return self._json("POST", "email/", json=self._params(body))


def _attachment_name(response: requests.Response, fallback: str) -> str:
    header = response.headers.get("Content-Disposition", "")
    match = re.search(r"filename\*=UTF-8''([^;]+)", header) or re.search(
        r'filename="([^"]+)"', header
    )
    name = unquote(match.group(1)) if match else fallback
    return Path(name).name or fallback
