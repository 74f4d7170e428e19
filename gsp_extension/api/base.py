"""The base of every API handler: JSON errors, request parsing, database access.

Handlers stay thin: parse with a model from :mod:`.schemas`, call a function that takes
``(session, caller)`` through :meth:`GSPHandler.db`, and answer JSON. Access decisions
live in :mod:`gsp_extension.security`; store errors become HTTP answers here, once.
"""

from __future__ import annotations

import asyncio
import json
import traceback
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode

import orjson
from jupyter_server.base.handlers import APIHandler
from pydantic import BaseModel, ValidationError
from tornado import web
from tornado.log import app_log

from ..security import Caller, CallerCache, resolve_caller
from ..store import (
    AlreadyExists,
    InvalidState,
    InvalidValue,
    NotFound,
    PermissionDenied,
    StoreError,
)
from .context import GSPContext
from .errors import APIError
from .request_body import body_fields

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

#: Query parameters jupyter_server itself reads; never "unknown filters".
_SERVER_PARAMS = frozenset({"no_track_activity", "_xsrf"})

_STATUS_OF = {
    NotFound: 404,
    PermissionDenied: 403,
    AlreadyExists: 409,
    InvalidState: 409,
    InvalidValue: 400,
}

NOT_AUTHENTICATED = (
    "authentication required: send 'Authorization: token <API token>' (a token from the "
    "hub's token page) or log in to the hub in this browser"
)

#: What a 401 says it wants (the JupyterHub convention).
CHALLENGE = {"WWW-Authenticate": "Token"}

NO_SCOPE = (
    "your token does not grant access to the gsp service: it needs the scope "
    "access:services!service=gsp (a token made on the hub's token page has it unless "
    "its scopes were narrowed)"
)

XSRF_REFUSED = (
    "this browser session's request was refused by the XSRF check: a logged-in page "
    "sends the _xsrf cookie's value as the X-XSRFToken header with requests that change "
    "something (scripts send 'Authorization: token <API token>' instead)"
)


def store_error_to_api(exc: StoreError) -> APIError:
    """The HTTP answer for a domain-layer error."""
    for kind, status in _STATUS_OF.items():
        if isinstance(exc, kind):
            return APIError(status, str(exc))
    return APIError(400, str(exc))


def validation_message(exc: ValidationError, where: str) -> str:
    """A pydantic error as one line per problem: ``where.field: what is wrong``."""
    parts = []
    for err in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "__root__")
        msg = err.get("msg", "invalid")
        if err.get("type") == "extra_forbidden":
            msg = "unknown field"
        parts.append(f"{where} {loc}: {msg}" if loc else f"{where}: {msg}")
    return "; ".join(parts)


def dump_json(data: Any) -> bytes:
    """Compact JSON of ``data``, as :func:`json.dumps` would write it.

    orjson writes a page of 100 records about ten times faster than the standard
    library; what it refuses (integers past 64 bits, exotic types) goes the slow way.
    """
    try:
        return orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:
        return json.dumps(data, separators=(",", ":")).encode()


#: Methods that never change anything (RFC 9110 "safe" methods).
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def caller_cache_for(
    method: str | None, write: bool, cache: CallerCache | None
) -> CallerCache | None:
    """The caller cache a database call may use: only reads of safe-method requests.

    A POST, PUT or DELETE reads its caller afresh even in the read-only steps that
    plan its change, so no change is ever decided on an account up to
    ``caller_cache_seconds`` old.
    """
    if write or method not in _SAFE_METHODS:
        return None
    return cache


class JSONErrors:
    """Mixin: every error is ``{"detail": "..."}`` (never HTML, never a traceback)."""

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, APIError):
            detail = exc.detail
            for name, value in exc.headers.items():
                self.set_header(name, value)
        elif isinstance(exc, web.HTTPError):
            detail = self._http_error_detail(status_code, exc)
        else:
            detail = "internal error; the service log has the details"
            if exc is not None:
                getattr(self, "log", app_log).error(
                    "gsp: unhandled error on %s %s\n%s",
                    self.request.method,
                    self.request.uri,
                    "".join(traceback.format_exception(exc)),
                )
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"detail": detail}))

    def _http_error_detail(self, status_code: int, exc: web.HTTPError) -> str:
        detail = exc.log_message % exc.args if exc.log_message else None
        if status_code == 405:
            allowed = self.allowed_methods()
            self.set_header("Allow", ", ".join(allowed))
            detail = (
                f"method {self.request.method} is not allowed on {self.request.path}; "
                f"use {' or '.join(allowed)}"
            )
        return detail or self._reason

    def allowed_methods(self) -> list[str]:
        """The HTTP methods this handler implements."""
        return [
            m
            for m in ("GET", "POST", "PUT", "DELETE")
            if getattr(type(self), m.lower()) is not getattr(web.RequestHandler, m.lower())
        ]


class GSPHandler(JSONErrors, APIHandler):
    """JSON API handler authorized as resource ``gsp`` (see the service's Authorizer)."""

    auth_resource = "gsp"

    #: Set by a handler that lets a token-authenticated GET change state (the seed's
    #: legacy "add collaborator"): its reads then never use cached callers.
    legacy_write = False

    @property
    def ctx(self) -> GSPContext:
        return self.settings["gsp"]

    # --- authentication and caller --------------------------------------------------------

    def no_caller_error(self) -> APIError:
        """Why no caller is known: 401 without (valid) credentials, 403 for a known
        hub user or service whose token lacks this service's scope."""
        if getattr(self, "_cached_hub_user", None):
            return APIError(403, NO_SCOPE)
        return APIError(401, NOT_AUTHENTICATED, headers=CHALLENGE)

    def get_login_url(self) -> str:
        # An API never redirects to a login page (tornado's @authenticated would).
        raise self.no_caller_error()

    def check_xsrf_cookie(self) -> None:
        """The hub's XSRF check, answering 401 (not "'_xsrf' argument missing") to a
        request with no credentials at all, and a 403 that says what to send to a
        browser session without the header."""
        try:
            super().check_xsrf_cookie()
        except web.HTTPError:
            if "_jupyter_current_user" not in self.__dict__:
                raise  # still resolving the cookie's user: the hub handles this
            if self.current_user is None and not self._has_session_cookie():
                raise self.no_caller_error() from None
            raise APIError(403, XSRF_REFUSED) from None

    def _has_session_cookie(self) -> bool:
        hub_auth = getattr(self.identity_provider, "hub_auth", None)
        name = getattr(hub_auth, "cookie_name", None)
        return bool(name and self.get_cookie(name))

    @property
    def hub_model(self) -> dict[str, Any]:
        user = self.current_user
        model = getattr(user, "hub_user", None)
        if not model:
            raise self.no_caller_error()
        return model

    async def prepare(self) -> None:
        await super().prepare()
        if self.current_user is None:
            raise self.no_caller_error()
        allowed = self.authorizer.is_authorized(
            self, self.current_user, _ACTION.get(self.request.method or "GET", "write"), "gsp"
        )
        if asyncio.iscoroutine(allowed):
            allowed = await allowed
        if not allowed:
            raise APIError(403, NO_SCOPE)

    # --- parsing ------------------------------------------------------------------------------

    def query(self, model: type[M]) -> M:
        """The query string validated by ``model`` (the last value of a repeated name)."""
        values: dict[str, str] = {}
        for name, value in parse_qsl(self.request.query, keep_blank_values=True):
            if name in _SERVER_PARAMS:
                continue
            values[name] = value
        # A blank value means "no filter", as in the seed's web forms.
        values = {k: v for k, v in values.items() if v != ""}
        nul = sorted(k for k, v in values.items() if "\x00" in k + v)
        if nul:
            # No database stores it (PostgreSQL refuses it in text): say so here.
            raise APIError(400, f"query parameter {nul[0]!r}: a NUL character (%00) is not allowed")
        try:
            return model.model_validate(values)
        except ValidationError as exc:
            raise APIError(400, validation_message(exc, "query parameter")) from None

    def body(self, model: type[M]) -> M:
        """The body validated by ``model``: a JSON object, or form-encoded fields (whose
        values are text, so they are converted as a query string's would be)."""
        data, form = body_fields(
            model, self.request.body or b"", self.request.headers.get("Content-Type", "")
        )
        try:
            if form:
                return model.model_validate(data, strict=False)
            return model.model_validate(data)
        except ValidationError as exc:
            raise APIError(400, validation_message(exc, "field")) from None

    @staticmethod
    def int_arg(value: str, what: str) -> int:
        """A path segment that must be a positive integer id (ASCII digits only: int()
        would also read full-width or other Unicode digits)."""
        if not (value.isascii() and value.isdigit()) or len(value) > 19:
            raise APIError(400, f"{what} {value!r} is not a valid id: use a positive integer")
        number = int(value)
        if not 1 <= number <= 2**62:
            raise APIError(400, f"{what} {value!r} is not a valid id: use a positive integer")
        return number

    # --- database ---------------------------------------------------------------------------

    async def db(
        self, work: Callable[[Any, Caller], T], *, write: bool = False, snapshot: bool = True
    ) -> T:
        """Run ``work(session, caller)`` in one transaction and return its result.

        The caller's account is read in the same transaction, so every request that
        may change something is authorized against the app database as it is now; GET
        requests may use an account and memberships up to ``caller_cache_seconds`` old
        (see :func:`caller_cache_for` and :class:`~gsp_extension.security.CallerCache`). Domain errors become HTTP
        answers; nothing is committed when ``work`` raises. Queries run on the event
        loop (they take milliseconds, and a thread hop costs more than it saves under
        load) unless the app's ``query_threads`` trait gives them a thread pool.
        ``snapshot=False`` (reads only) lets each query see the database as it is then
        (see :meth:`gsp_extension.store.Database.reader`), which spares PostgreSQL's
        BEGIN and COMMIT round trips.
        """
        model = self.hub_model
        ctx = self.ctx
        method = "POST" if self.legacy_write else self.request.method
        callers = caller_cache_for(method, write, self.settings.get("gsp_callers"))

        def run() -> T:
            if write:
                opener = ctx.db.transaction
            else:
                opener = ctx.db.session if snapshot else ctx.db.reader
            with opener() as session:
                if callers is not None:
                    caller = callers.resolve(session, model, ctx.instrument_names)
                else:
                    caller = resolve_caller(session, model, ctx.instrument_names)
                return work(session, caller)

        try:
            if ctx.query_executor is None:
                return run()
            return await asyncio.get_running_loop().run_in_executor(ctx.query_executor, run)
        except StoreError as exc:
            raise store_error_to_api(exc) from None

    # --- answers ---------------------------------------------------------------------------------

    def redirect_to_version(self, new_id: int) -> None:
        """301 to the same request on the current version of a replaced file (the id
        in the path swapped; the query string kept)."""
        path = self.request.path
        marker = f"/files/{self.path_args[0]}/"
        at = path.rfind(marker)
        target = path[:at] + f"/files/{new_id}/" + path[at + len(marker) :]
        if self.request.query:
            target += "?" + self.request.query
        self.redirect(target, permanent=True)

    def reply(self, data: Any, status: int = 200) -> None:
        """Answer JSON (models are dumped in JSON mode)."""
        if isinstance(data, BaseModel):
            data = data.model_dump(mode="json")
        self.set_status(status)
        self.finish(dump_json(data))

    def page_size(self, requested: int | None) -> int:
        """The page size to use: ``requested``, else the default, never past the maximum."""
        ctx = self.ctx
        size = requested or ctx.default_page_size
        if size > ctx.max_page_size:
            raise APIError(400, f"page_size {size} is too large: at most {ctx.max_page_size}")
        return size

    def page_answer(self, page: Any, number: int, results: list[Any]) -> dict[str, Any]:
        """The seed's page shape for ``page`` (a :class:`~.queries.Page`), page ``number``.

        A page past the last one answers 404, as the seed's (Django REST framework)
        listings do, on every listing alike: an empty page 200 would let a script that
        walks ``?page=`` loop for ever.
        """
        if not results and number > 1:
            raise APIError(404, f"page {number} is past the last page of results")
        return {
            "count": page.count,
            "count_is_estimate": page.estimated,
            "next": self.page_url(number + 1) if page.has_next else None,
            "previous": self.page_url(number - 1) if number > 1 else None,
            "results": results,
        }

    def page_url(self, page: int | None) -> str | None:
        """This request's absolute URL with ``page`` replaced (``None`` gives ``None``)."""
        if page is None:
            return None
        params = [(k, v) for k, v in parse_qsl(self.request.query, keep_blank_values=True)]
        params = [(k, v) for k, v in params if k != "page"]
        if page > 1:
            params.append(("page", str(page)))
        query = urlencode(params)
        base = f"{self.request.protocol}://{self.request.host}{self.request.path}"
        return f"{base}?{query}" if query else base


_ACTION = {"GET": "read", "HEAD": "read", "OPTIONS": "read"}
