"""Every endpoint in one table: its route, handler, and the models that validate it.

The same table registers the tornado routes and generates the OpenAPI document
(:mod:`.openapi`), so the documentation cannot drift from what is validated.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pydantic import BaseModel

from . import (
    actions,
    comments,
    download,
    emails,
    events,
    files,
    header,
    health,
    jobs,
    lamps,
    logs,
    proposals,
    standards,
    status,
    users,
    visualize,
)
from . import schemas as s

#: Errors any authenticated endpoint may answer.
COMMON_ERRORS = {
    400: "bad input",
    401: "no token, or a bad one (WWW-Authenticate: Token)",
    403: "not allowed",
}


@dataclass(frozen=True)
class Operation:
    """One HTTP method of a route, for the OpenAPI document."""

    method: str
    operation_id: str
    summary: str
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    response: type[BaseModel] | str | None = None
    status: int = 200
    errors: dict[int, str] = field(default_factory=dict)
    description: str = ""
    extra_responses: dict[int, type[BaseModel]] = field(default_factory=dict)
    redirects: dict[int, str] = field(default_factory=dict)
    deprecated: bool = False


@dataclass(frozen=True)
class Route:
    """A URL pattern (relative to the service prefix) and its handler."""

    pattern: str
    path: str
    handler: type
    operations: tuple[Operation, ...]
    path_params: tuple[str, ...] = ()
    tag: str = "api"


#: A path id: ASCII digits only (``\d`` would also take full-width and other Unicode
#: digits, which ``int()`` reads); anything else falls to :mod:`.fallback`.
_ID = r"([0-9]+)"
NOT_FOUND = {404: "no such object that you may see"}
REPLACED = {
    301: "the file was replaced by a re-reduction: Location is the same request on the "
    "current version (its history: GET api/files/{id}/versions/)"
}
#: What an action answers when the file (or the lamp, or the standard) named exists but
#: is not of a kind the action takes: the request is well formed, the file's state refuses it.
WRONG_KIND = {
    409: "the file, lamp or standard is not of a kind this action takes (data_type, "
    "OBSTYPE), or the proposal's settings turn the action off"
}
QUEUED = "The jobs queued (202), or the active job for the same product (200)."

ROUTES: tuple[Route, ...] = (
    Route(
        r"/api/",
        "/api/",
        status.StatusHandler,
        (
            Operation(
                "get", "api_list", "Get API status", query=s.EmptyQuery, response=s.StatusResponse
            ),
        ),
    ),
    Route(
        r"/api/health/",
        "/api/health/",
        health.HealthHandler,
        (
            Operation(
                "get",
                "api_health",
                "Live processing health",
                query=s.EmptyQuery,
                response=s.HealthResponse,
                description="Staff only: the job engine (state, dask scheduler, workers, "
                "fault), the queue (depth, oldest queued job's age), the last product "
                "and the free disk space, with the problems in words.",
            ),
        ),
    ),
    Route(
        r"/api/email/",
        "/api/email/",
        emails.EmailHandler,
        (
            Operation(
                "post",
                "api_email_create",
                "Sends e-mail notifications",
                query=s.EmptyQuery,
                body=s.EmailRequest,
                response=s.EmailSent,
                errors={**NOT_FOUND, 502: "mail failed"},
                description="Staff only.",
            ),
        ),
    ),
    Route(
        r"/api/files/",
        "/api/files/",
        files.FileListHandler,
        (
            Operation(
                "get",
                "api_files_list",
                "Get a list of files.",
                query=s.FileListQuery,
                response=s.FilePage,
                errors={404: "page past the last one"},
                description="Newest first; page-number pagination as in the seed "
                "(count, next, previous, results).",
            ),
            Operation(
                "post",
                "api_files_create",
                "Adds a new file to the database",
                query=s.EmptyQuery,
                body=s.FileRegistration,
                response=s.FileRegistered,
                status=201,
                errors={404: "no such file on disk"},
                extra_responses={200: s.FileRegistered},
                description="Staff or the instrument; the file must be under the data root.",
            ),
            Operation(
                "delete",
                "api_files_delete",
                "Deletes files, it can't be a raw data.",
                query=s.EmptyQuery,
                body=s.FileDeletion,
                response=s.DeletedFiles,
                errors=NOT_FOUND,
                description="All or nothing: raw files answer 403.",
            ),
        ),
    ),
    Route(
        r"/api/files/calibrations/",
        "/api/files/calibrations/",
        actions.CalibrationsHandler,
        (
            Operation(
                "post",
                "api_files_calibrations_create",
                "Build the master calibrations of a night",
                query=s.EmptyQuery,
                body=s.CalibrationsAction,
                response=s.QueuedJobs,
                status=202,
                extra_responses={200: s.QueuedJobs},
                description=QUEUED,
            ),
        ),
    ),
    Route(
        r"/api/files/header/",
        "/api/files/header/",
        header.HeaderHandler,
        (
            Operation(
                "get",
                "api_files_header_list",
                "Obtains the header of a FITS file",
                query=s.FileIdQuery,
                response=s.HeaderResponse,
                errors={**NOT_FOUND, 409: "header unreadable"},
            ),
        ),
    ),
    Route(
        r"/api/files/reclassify/",
        "/api/files/reclassify/",
        actions.ReclassifyHandler,
        (
            Operation(
                "post",
                "api_files_reclassify_create",
                "Re identify observed technique",
                query=s.EmptyQuery,
                body=s.FileAction,
                response=s.QueuedJobs,
                status=202,
                errors={**NOT_FOUND, **WRONG_KIND},
                extra_responses={200: s.QueuedJobs},
                description=QUEUED,
            ),
        ),
    ),
    Route(
        r"/api/files/reduce/",
        "/api/files/reduce/",
        actions.ReduceHandler,
        (
            Operation(
                "post",
                "api_files_reduce_create",
                "Runs default reduction procedure using reduction settings",
                query=s.EmptyQuery,
                body=s.FileAction,
                response=s.QueuedJobs,
                status=202,
                errors={**NOT_FOUND, **WRONG_KIND},
                extra_responses={200: s.QueuedJobs},
                description=QUEUED,
            ),
        ),
    ),
    Route(
        r"/api/files/spectrum/calibrate/wavelength/",
        "/api/files/spectrum/calibrate/wavelength/",
        actions.WavelengthHandler,
        (
            Operation(
                "post",
                "api_files_spectrum_calibrate_wavelength_create",
                "Wavelength-calibrate an extracted spectrum (optionally with a chosen lamp)",
                query=s.EmptyQuery,
                body=s.WavelengthAction,
                response=s.QueuedJobs,
                status=202,
                errors={**NOT_FOUND, **WRONG_KIND},
                extra_responses={200: s.QueuedJobs},
                description=QUEUED,
            ),
        ),
    ),
    Route(
        r"/api/files/spectrum/calibrate/flux/",
        "/api/files/spectrum/calibrate/flux/",
        actions.FluxHandler,
        (
            Operation(
                "post",
                "api_files_spectrum_calibrate_flux_create",
                "Flux-calibrate a wavelength-calibrated spectrum (optionally with a chosen "
                "standard)",
                query=s.EmptyQuery,
                body=s.FluxAction,
                response=s.QueuedJobs,
                status=202,
                errors={**NOT_FOUND, **WRONG_KIND},
                extra_responses={200: s.QueuedJobs},
                description=QUEUED,
            ),
        ),
    ),
    Route(
        r"/api/files/spectrum/extract/",
        "/api/files/spectrum/extract/",
        actions.ExtractHandler,
        (
            Operation(
                "post",
                "api_files_spectrum_extract_create",
                "Extract the spectra of a reduced file (optionally with a chosen lamp)",
                query=s.EmptyQuery,
                body=s.ExtractAction,
                response=s.QueuedJobs,
                status=202,
                errors={**NOT_FOUND, **WRONG_KIND},
                extra_responses={200: s.QueuedJobs},
                description=QUEUED,
            ),
        ),
    ),
    Route(
        r"/api/files/visualize/",
        "/api/files/visualize/",
        visualize.VisualizeHandler,
        (
            Operation(
                "get",
                "api_files_visualize_list",
                "Creates visualizations for fits files.",
                query=s.VisualizeQuery,
                response="image/png",
                errors={**NOT_FOUND, 409: "file cannot be shown"},
            ),
        ),
    ),
    Route(
        rf"/api/files/{_ID}/",
        "/api/files/{id}/",
        files.FileDetailHandler,
        (
            Operation(
                "get",
                "api_files_read",
                "Get one file",
                query=s.EmptyQuery,
                response=s.FileRecord,
                errors=NOT_FOUND,
                redirects=REPLACED,
            ),
            Operation(
                "delete",
                "api_files_item_delete",
                "Delete one product (never raw data)",
                query=s.EmptyQuery,
                response=s.DeletedFiles,
                errors=NOT_FOUND,
            ),
        ),
        path_params=("id",),
    ),
    Route(
        rf"/api/files/{_ID}/download/",
        "/api/files/{id}/download/",
        download.DownloadHandler,
        (
            Operation(
                "get",
                "api_files_download",
                "Download the FITS file",
                query=s.EmptyQuery,
                response="application/fits",
                errors=NOT_FOUND,
                redirects=REPLACED,
            ),
        ),
        path_params=("id",),
    ),
    Route(
        rf"/api/files/{_ID}/versions/",
        "/api/files/{id}/versions/",
        files.FileVersionsHandler,
        (
            Operation(
                "get",
                "api_files_versions",
                "The versions of a product: what re-reductions replaced, oldest first",
                query=s.EmptyQuery,
                response=s.FileVersions,
                errors=NOT_FOUND,
            ),
        ),
        path_params=("id",),
    ),
    Route(
        rf"/api/files/{_ID}/lamps/",
        "/api/files/{id}/lamps/",
        lamps.LampChoicesHandler,
        (
            Operation(
                "get",
                "api_files_lamps",
                "The arcs 'Automatic' calibrates a science spectrum with, and those it used",
                query=s.EmptyQuery,
                response=s.LampChoices,
                errors={
                    **NOT_FOUND,
                    409: "not a science frame or spectrum extracted by this service",
                },
                description="For a reduced science frame (data_type 2) or a spectrum "
                "extracted from it (3, 4): the job engine's own automatic choice (the "
                "frame's proposal's arcs or no proposal's, of its night and setup, nearest "
                "in time first), the ones named in its current calibrated spectra "
                "(GSP_LAMP), and the night's arcs of another setup with the reason. The "
                "lamp chooser of the data browser lists exactly these.",
            ),
        ),
        path_params=("id",),
    ),
    Route(
        rf"/api/files/{_ID}/standards/",
        "/api/files/{id}/standards/",
        standards.StandardChoicesHandler,
        (
            Operation(
                "get",
                "api_files_standards",
                "The sensitivities 'Automatic' flux-calibrates a spectrum with, and the one used",
                query=s.EmptyQuery,
                response=s.StandardChoices,
                errors={
                    **NOT_FOUND,
                    409: "not a spectrum or frame this service reduced, or an arc",
                },
                description="For a spectrum (data_type 3, 4, 5) or its reduced or raw "
                "frame: the job engine's own automatic choice of sensitivity masters (the "
                "proposal's or no proposal's, of the frame's night and the nights before, "
                "of its setup; the preferred star first, then nearest in time), the one "
                "named in its current flux product (GSP_SENS), and those of another setup "
                "with the reason. The standard chooser of the data browser lists exactly "
                "these.",
            ),
        ),
        path_params=("id",),
    ),
    Route(
        rf"/api/files/{_ID}/comments/",
        "/api/files/{id}/comments/",
        comments.CommentListHandler,
        (
            Operation(
                "get",
                "api_files_comments_list",
                "Comments on a file",
                query=s.EmptyQuery,
                response=s.CommentList,
                errors=NOT_FOUND,
            ),
            Operation(
                "post",
                "api_files_comments_create",
                "Comment on a file",
                query=s.EmptyQuery,
                body=s.CommentCreate,
                response=s.CommentRecord,
                status=201,
                errors=NOT_FOUND,
            ),
        ),
        path_params=("id",),
    ),
    Route(
        rf"/api/files/{_ID}/comments/{_ID}/",
        "/api/files/{id}/comments/{comment_id}/",
        comments.CommentDetailHandler,
        (
            Operation(
                "delete",
                "api_files_comments_delete",
                "Delete a comment (author or staff)",
                query=s.EmptyQuery,
                response=None,
                status=204,
                errors=NOT_FOUND,
            ),
        ),
        path_params=("id", "comment_id"),
    ),
    Route(
        r"/api/jobs/",
        "/api/jobs/",
        jobs.JobListHandler,
        (
            Operation(
                "get",
                "api_jobs_list",
                "Jobs you asked for or of your proposals",
                query=s.JobListQuery,
                response=s.JobPage,
                errors={404: "page past the last one"},
            ),
        ),
    ),
    Route(
        rf"/api/jobs/{_ID}/",
        "/api/jobs/{id}/",
        jobs.JobDetailHandler,
        (
            Operation(
                "get",
                "api_jobs_read",
                "The state of a job",
                query=s.EmptyQuery,
                response=s.JobRecord,
                errors=NOT_FOUND,
            ),
        ),
        path_params=("id",),
    ),
    Route(
        r"/api/logs/",
        "/api/logs/",
        logs.LogListHandler,
        (
            Operation(
                "get",
                "api_logs_list",
                "Log entries of your proposals, newest first",
                query=s.LogQuery,
                response=s.LogList,
            ),
        ),
    ),
    Route(
        r"/api/events/",
        "/api/events/",
        events.EventsHandler,
        (
            Operation(
                "get",
                "api_events_stream",
                "Server-sent events you may see",
                query=s.EventsQuery,
                response="text/event-stream",
                description="A text/event-stream that stays open: one message per log "
                "entry (id, event, data = the log record as JSON).",
            ),
        ),
    ),
    Route(
        r"/api/proposals/",
        "/api/proposals/",
        proposals.ProposalListHandler,
        (
            Operation(
                "get",
                "api_proposals_list",
                "Proposals you belong to (staff: all)",
                query=s.PageQuery,
                response=s.ProposalPage,
                errors={404: "page past the last one"},
            ),
            Operation(
                "post",
                "api_proposals_create",
                "Create a proposal (staff)",
                query=s.EmptyQuery,
                body=s.ProposalCreate,
                response=s.ProposalRecord,
                status=201,
                errors={
                    409: "the proposal exists, or the PI's account is deactivated",
                    502: "hub refused",
                },
                description="Creates the hub group named by the SOAR id and puts the PI in "
                "it; an unknown pi_email creates the account (and the hub user) and mails a "
                "link to set a password (header X-GSP-Invitation). A placeholder that ingest "
                "made for the same SOAR id is completed instead.",
            ),
        ),
    ),
    Route(
        r"/api/users/",
        "/api/users/",
        users.UserListHandler,
        (
            Operation(
                "get",
                "api_users_list",
                "Accounts and their proposals (staff)",
                query=s.UserListQuery,
                response=s.UserPage,
                errors={404: "page past the last one"},
            ),
            Operation(
                "post",
                "api_users_create",
                "Create an account (staff; staff accounts only by a superuser)",
                query=s.EmptyQuery,
                body=s.UserCreate,
                response=s.UserAdminRecord,
                status=201,
                errors={409: "username or email taken", 502: "hub refused"},
                description="Creates the hub user too and mails a link to set a password "
                "(header X-GSP-Invitation: sent, or failed: why). The username defaults "
                "to the email's local part.",
            ),
        ),
    ),
    Route(
        rf"/api/proposals/collaborators/{_ID}/",
        "/api/proposals/collaborators/{id}/",
        proposals.CollaboratorsHandler,
        (
            Operation(
                "post",
                "api_proposals_collaborators_create",
                "Add or remove a collaborator (PI or staff)",
                query=s.EmptyQuery,
                body=s.CollaboratorChange,
                response=s.ProposalRecord,
                errors={
                    **NOT_FOUND,
                    409: "changed meanwhile, or the account is deactivated",
                    502: "hub refused",
                },
                description="An unknown email creates the account (and the hub user) and "
                "mails a link to set a password.",
            ),
            Operation(
                "get",
                "api_proposals_collaborators_legacy",
                "Add or remove a collaborator: the seed's GET form (deprecated; use POST)",
                query=s.EmptyQuery,
                body=s.CollaboratorChange,
                response=s.ProposalRecord,
                errors={
                    **NOT_FOUND,
                    405: "a browser session's GET: use POST",
                    409: "changed meanwhile, or the account is deactivated",
                    502: "hub refused",
                },
                description="What POST does, for scripts written after the seed's example "
                "(`requests.get(url, data=payload, headers=...)`: the fields form-encoded "
                "in the body of a GET). Only token-authenticated requests: a browser "
                "session's GET never changes anything (405).",
                deprecated=True,
            ),
        ),
        path_params=("id",),
    ),
    Route(
        r"/api/proposals/next-soar-id/",
        "/api/proposals/next-soar-id/",
        proposals.NextSoarIdHandler,
        (
            Operation(
                "get",
                "api_proposals_next_soar_id",
                "The default SOAR id of a new proposal of a semester (staff)",
                query=s.NextSoarIdQuery,
                response=s.NextSoarId,
            ),
        ),
    ),
    Route(
        rf"/api/proposals/{_ID}/",
        "/api/proposals/{id}/",
        proposals.ProposalDetailHandler,
        (
            Operation(
                "get",
                "api_proposals_read",
                "One proposal",
                query=s.EmptyQuery,
                response=s.ProposalRecord,
                errors=NOT_FOUND,
            ),
            Operation(
                "patch",
                "api_proposals_update",
                "Edit a proposal's title, abstract, semester or PI (staff)",
                query=s.EmptyQuery,
                body=s.ProposalUpdate,
                response=s.ProposalRecord,
                errors={
                    **NOT_FOUND,
                    409: "changed meanwhile, or the new PI has no account or a deactivated one",
                    502: "hub refused",
                },
                description="A new PI must have an active account; the former PI stays "
                "a collaborator.",
            ),
        ),
        path_params=("id",),
    ),
    Route(
        r"/api/users/(me|[^/]+)/",
        "/api/users/{id}/",
        users.UserDetailHandler,
        (
            Operation(
                "get",
                "api_users_read",
                "One account: your own (id or `me`), any for staff",
                query=s.EmptyQuery,
                response=s.UserAdminRecord,
                errors=NOT_FOUND,
            ),
            Operation(
                "patch",
                "api_users_update",
                "Edit an account: your own names and e-mail; staff: partner and "
                "deactivation; a superuser: the staff role",
                query=s.EmptyQuery,
                body=s.UserUpdate,
                response=s.UserAdminRecord,
                errors={**NOT_FOUND, 409: "e-mail taken"},
                description="is_active=false takes effect at once: the account's next "
                "request is refused and it cannot log in.",
            ),
        ),
        path_params=("id",),
    ),
    Route(
        rf"/api/proposals/{_ID}/settings/",
        "/api/proposals/{id}/settings/",
        proposals.SettingsHandler,
        (
            Operation(
                "get",
                "api_proposals_settings_read",
                "Reduction settings (members)",
                query=s.EmptyQuery,
                response=s.SettingsRecord,
                errors=NOT_FOUND,
            ),
            Operation(
                "put",
                "api_proposals_settings_update",
                "Change reduction settings (PI or staff)",
                query=s.EmptyQuery,
                body=s.SettingsUpdate,
                response=s.SettingsRecord,
                errors=NOT_FOUND,
                description="Omitted fields keep their value; a change "
                "records a new settings version.",
            ),
        ),
        path_params=("id",),
    ),
)


def api_handlers() -> list[tuple[str, type]]:
    """(pattern, handler) pairs of the API, relative to the service prefix."""
    return [(route.pattern, route.handler) for route in ROUTES]
