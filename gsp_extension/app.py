"""The ``gsp`` jupyter-server extension: the REST API run as the JupyterHub service "gsp".

The hub starts it as ``jupyterhub-singleuser --config=gsp_extension/service_config.py``
(see ``jupyterhub_config.py``); that config enables this extension only. Every setting a
deployer may change is a trait below, documented in its help, with its default taken
from the same environment variables the hub and the ``gsp`` commands read.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Float, Integer, List, Unicode, default, validate

from . import environment
from .accounts.mail import Mailer
from .api import default_handlers
from .api.context import GSPContext
from .api.hub import HubClient
from .api.mail import ServiceMailer
from .api.queries import CountCache
from .security import CallerCache
from .service_log import route_to_app_log
from .service_signals import stop_on_interrupt
from .store import Database, upgrade_database


class GSPExtensionApp(ExtensionApp):
    """The GSP Live REST API (files, proposals, actions, jobs, logs, events)."""

    name = "gsp_extension"
    description = __doc__
    # Browsers that open the service root land on the API documentation; the page is
    # public, and "Authorize" in it takes a token.
    extension_url = "/api/docs/"
    load_other_extensions = False

    data_root = Unicode(
        config=True,
        help="""Folder holding raw/, products/, the SQLite database, caches and the email
        outbox. Download and visualize only ever serve files under it.
        Default: $GSP_DATA_ROOT, else ./gsp-data.""",
    )

    @default("data_root")
    def _default_data_root(self) -> str:
        return str(environment.data_root())

    database_url = Unicode(
        config=True,
        help="""SQLAlchemy URL of the app database: sqlite:///<file> or
        postgresql+psycopg://user@host/db. Default: $GSP_DATABASE_URL, else
        sqlite:///<data_root>/gsp.sqlite.""",
    )

    @default("database_url")
    def _default_database_url(self) -> str:
        return environment.database_url(root=self.data_root)

    upgrade_database = Bool(
        True,
        config=True,
        help="Bring the app database to the newest schema (alembic upgrade head) at start.",
    )

    cache_dir = Unicode(
        config=True,
        help="Where rendered previews (api/files/visualize/) are cached. Default: <data_root>/cache.",
    )

    @default("cache_dir")
    def _default_cache_dir(self) -> str:
        return str(Path(self.data_root) / "cache")

    preview_cache_max_bytes = Integer(
        256 * 2**20,
        min=0,
        config=True,
        help="Bound on the total size of the cached previews (api/files/visualize/), in "
        "bytes; past it the least recently used previews are deleted (and rendered again "
        "when asked for). 0 keeps none.",
    )

    default_page_size = Integer(
        100, config=True, help="Rows per page of a listing when ?page_size= is not given."
    )
    max_page_size = Integer(
        1000, config=True, help="Largest ?page_size= accepted (the seed's limit is 1000)."
    )
    count_bound = Integer(
        10_000,
        config=True,
        help="""Listings count matching rows exactly up to this many. Past it the count
        is an estimate (the database planner's on PostgreSQL, the bound itself on SQLite)
        and the response says so with "count_is_estimate": true, as the LCO archive does,
        so that counting never dominates a request.""",
    )

    count_cache_seconds = Float(
        config=True,
        help="""Seconds a listing's count is reused for the same caller and filters (0:
        never). Rows are always read fresh; only the total may lag new files this long,
        which spares a polling browser or script one count per request.
        Default: $GSP_COUNT_CACHE_SECONDS, else 5.""",
    )

    @default("count_cache_seconds")
    def _default_count_cache(self) -> float:
        return environment.number("GSP_COUNT_CACHE_SECONDS", 5)

    caller_cache_seconds = Float(
        config=True,
        help="""Seconds a GET request's caller (account, staff flag, proposals) is
        reused for the same hub user (0: read it from the database on every request).
        Changes made through this service are seen at once; changes made by another
        process (hub account pages, the gsp command line) are seen at most this late by
        GET requests. POST, PUT and DELETE always read the account afresh.
        Default: $GSP_CALLER_CACHE_SECONDS, else 2.""",
    )

    @default("caller_cache_seconds")
    def _default_caller_cache(self) -> float:
        return environment.number("GSP_CALLER_CACHE_SECONDS", 2)

    @validate("default_page_size", "max_page_size", "count_bound")
    def _positive(self, proposal):
        if proposal["value"] < 1:
            raise ValueError(f"{proposal['trait'].name} must be >= 1, got {proposal['value']}")
        return proposal["value"]

    timezone = Unicode(
        "UTC",
        config=True,
        help="""IANA zone of the timestamps in API records (created, last_modified...).
        The original app used America/Santiago.""",
    )

    @validate("timezone")
    def _valid_zone(self, proposal):
        try:
            zoneinfo.ZoneInfo(proposal["value"])
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {proposal['value']!r}: {exc}") from None
        return proposal["value"]

    instrument_names = List(
        Unicode(),
        ["gsp-instrument"],
        config=True,
        help="""Hub users or services (by name) that may register files with
        POST api/files/ besides staff: the instrument's data-transfer script.""",
    )

    standards_dirs = List(
        Unicode(),
        config=True,
        help="""Folders of more spectrophotometric standard stars, searched after the
        bundled library (pipeline/data/fluxcal/esofil): f<star>.dat tables (wavelength in
        Å, flux in 1e-16 erg/s/cm²/Å), with an optional esofil_info.txt line per star
        ("f<star>.dat <name> <RA hh:mm:ss> <Dec dd:mm:ss>") to recognise it by pointing.
        A table dropped in while the service runs is recognised from the next frame.
        Default: $GSP_STANDARDS_DIRS (separated by ':'), else none.""",
    )

    @default("standards_dirs")
    def _default_standards_dirs(self) -> list[str]:
        return environment.standards_dirs()

    @validate("standards_dirs")
    def _existing_standards_dirs(self, proposal):
        missing = [d for d in proposal["value"] if not Path(d).is_dir()]
        if missing:
            raise ValueError(
                f"standards_dirs: {missing} are not folders; give folders of f<star>.dat "
                "flux tables (or none for the bundled library alone)"
            )
        return proposal["value"]

    events_poll_interval = Float(
        1.0,
        config=True,
        help="Seconds between looks at the log table for new events (api/events/).",
    )

    events_keepalive = Float(
        15.0,
        config=True,
        help="Seconds between SSE comment lines that keep idle event streams open.",
    )

    query_threads = Integer(
        0,
        config=True,
        help="""Threads that run database queries. 0 (the default) runs them on the event
        loop: each takes milliseconds, and handing them to threads costs more than it
        saves on a small machine. Give threads when the database is remote and slow.""",
    )

    live = Bool(
        config=True,
        help="""Run live ingest (the raw/ watcher) and the job engine in this service
        (:class:`gsp_extension.engine.live.LiveServices`). Turn off when `gsp live` runs
        them elsewhere; the API then only queues jobs. Default: $GSP_LIVE, else on.""",
    )

    @default("live")
    def _default_live(self) -> bool:
        return environment.flag("GSP_LIVE", True)

    dask_scheduler = Unicode(
        config=True,
        help="""Address of the dask scheduler jobs run on; empty starts a LocalCluster of
        `workers` processes. Default: $GSP_DASK_SCHEDULER.""",
    )

    @default("dask_scheduler")
    def _default_dask_scheduler(self) -> str:
        return environment.text("GSP_DASK_SCHEDULER")

    workers = Integer(
        config=True,
        help="Worker processes of the LocalCluster (and jobs run at once). Default: $GSP_WORKERS, else 2.",
    )

    @default("workers")
    def _default_workers(self) -> int:
        return environment.whole_number("GSP_WORKERS", 2)

    worker_nice = Integer(
        config=True,
        help="""How much lower the CPU priority (niceness) of the LocalCluster's worker
        processes is than the service's, so that logins and pages on the same machine
        win the CPU from the jobs (0: the same priority). Default: $GSP_WORKER_NICE,
        else 10.""",
    )

    @default("worker_nice")
    def _default_worker_nice(self) -> int:
        return environment.whole_number("GSP_WORKER_NICE", 10)

    stop_on_interrupt = Bool(
        False,
        config=True,
        help="""Stop cleanly on SIGINT, as on SIGTERM: the job engine stops, its dask
        workers are closed, then the process exits. JupyterHub stops a managed service
        with SIGINT first (SIGTERM 30 s later, SIGKILL 30 s after that), and
        jupyter_server handles SIGINT only when its stdin is a terminal: otherwise the
        interrupt broke the event loop with nothing stopped, and the process waited
        for its dask worker and watcher threads until it was killed (a hub's stop took
        over 20 s, and the engine never stopped its jobs). On in the hub service's
        config (gsp_extension/service_config.py); off elsewhere, e.g. for a server run
        inside a test process, whose Ctrl-C must stay the test runner's.""",
    )

    worker_preload = Bool(
        config=True,
        help="""Each dask worker loads the science stack and the lamp library
        (gsp_extension.engine.executors.WARM_UP, ~2.3 s of CPU) before its first job:
        a LocalCluster worker as it starts, before it takes any job, so that the
        night's first frame is reduced as fast as the later ones. Off: a worker loads
        what a job needs on its first job (less memory for workers that may never run
        one). Default: $GSP_WORKER_PRELOAD, else on.""",
    )

    @default("worker_preload")
    def _default_worker_preload(self) -> bool:
        return environment.flag("GSP_WORKER_PRELOAD", True)

    worker_warm_up_nice = Integer(
        config=True,
        help="""How much lower than the service's the CPU priority of the LocalCluster's
        workers is while they load the science stack at start (at most `worker_nice`,
        which applies once they are warm). 0 (the default): the service's priority, in
        its scheduling group, so that on a machine busy with users' kernels the warm-up
        takes seconds, not the tens of seconds a niceness of 10 gets beside them; set it
        to `worker_nice` to let the users' processes win from the very start instead.
        Default: $GSP_WORKER_WARM_UP_NICE, else 0.""",
    )

    @default("worker_warm_up_nice")
    def _default_worker_warm_up_nice(self) -> int:
        return environment.whole_number("GSP_WORKER_WARM_UP_NICE", 0)

    warm_up = List(
        Unicode(),
        config=True,
        help="""Modules this service imports in a thread as it starts
        (`module` or `module:function` to call), so that the first request that needs
        them does not: default the flux-calibration stack of the standard chooser
        (gsp_extension.engine.executors.SERVICE_WARM_UP). Empty: none.""",
    )

    @default("warm_up")
    def _default_warm_up(self) -> list[str]:
        from .engine.executors import SERVICE_WARM_UP

        return list(SERVICE_WARM_UP)

    public_url = Unicode(
        config=True,
        help="""The hub's public address for links in emails (invitations), e.g.
        https://gsp.example.org/. Empty: the hub's bind URL (`hub_bind_url`), else the
        address of the request. Default: $GSP_PUBLIC_URL.""",
    )

    @default("public_url")
    def _default_public_url(self) -> str:
        return environment.public_url()

    hub_bind_url = Unicode(
        config=True,
        help="""Where the hub's proxy listens (JupyterHub.bind_url), the public address of
        emailed links when `public_url` is empty. Default: $GSP_HUB_BIND_URL.""",
    )

    @default("hub_bind_url")
    def _default_hub_bind_url(self) -> str:
        return environment.text("GSP_HUB_BIND_URL")

    link_secret_file = Unicode(
        config=True,
        help="""File of the secret that signs set-password links, shared with the hub
        ($GSP_LINK_SECRET, when set, is used instead). Default: $GSP_LINK_SECRET_FILE,
        else secrets/link-secret in the data root.""",
    )

    @default("link_secret_file")
    def _default_link_secret_file(self) -> str:
        if environment.text("GSP_LINK_SECRET_FILE"):
            return str(environment.link_secret_file())
        return str(Path(self.data_root) / "secrets" / "link-secret")

    hub_api_url = Unicode(
        config=True,
        help="""The hub's REST API, used to mirror users and proposal groups.
        Default: $JUPYTERHUB_API_URL (set by the hub for its services).""",
    )

    @default("hub_api_url")
    def _default_hub_api_url(self) -> str:
        return environment.text("JUPYTERHUB_API_URL")

    hub_api_token = Unicode(
        config=True,
        help="Token for the hub's API. Default: $JUPYTERHUB_API_TOKEN.",
    )

    @default("hub_api_token")
    def _default_hub_api_token(self) -> str:
        return environment.text("JUPYTERHUB_API_TOKEN")

    jupyter_services = List(
        Unicode(),
        [],
        config=True,
        help="""jupyter_server's own services (names of ServerApp.default_services: api,
        contents, kernels, sessions, files, view, nbconvert, ...) whose handlers this
        process serves besides the GSP API. None by default: the process holds a
        privileged hub token, so nothing but the GSP API answers under its prefix
        (every other path under api/ answers a JSON 404).""",
    )

    @validate("jupyter_services")
    def _known_services(self, proposal):
        from jupyter_server.serverapp import JUPYTER_SERVICE_HANDLERS

        unknown = sorted(set(proposal["value"]) - set(JUPYTER_SERVICE_HANDLERS))
        if unknown:
            raise ValueError(
                f"unknown jupyter_server services {unknown}; known: {sorted(JUPYTER_SERVICE_HANDLERS)}"
            )
        return proposal["value"]

    def _link_jupyter_server_extension(self, serverapp) -> None:
        """Link to the server, and drop jupyter_server's default services first.

        ``ServerApp.default_services`` is jupyter_server's list of the services whose
        handlers the web application registers (subclasses narrow it); linking runs
        before the web application is made, so narrowing it here takes their handlers
        out of this process altogether.
        """
        super()._link_jupyter_server_extension(serverapp)
        serverapp.default_services = tuple(self.jupyter_services)
        # First, so that what the service's modules say from here on is in its log.
        route_to_app_log(serverapp.log, serverapp.log_level)

    def initialize_settings(self) -> None:
        """Open the database (migrated) and share the context with the handlers."""
        root = Path(self.data_root).resolve()
        root.mkdir(parents=True, exist_ok=True)
        if self.upgrade_database:
            upgrade_database(self.database_url)
        from pipeline.fluxcal.standards import use_library_dirs

        # Every standard recognised in this process (ingest, registration, jobs run in
        # it) searches the deployment's folders; jobs hand them on to Dask workers.
        use_library_dirs(self.standards_dirs)
        hub = (
            HubClient(self.hub_api_url, self.hub_api_token, log=self.log)
            if self.hub_api_url and self.hub_api_token
            else None
        )
        if hub is None:
            self.log.warning(
                "gsp: no hub API URL/token: users and groups are not mirrored to the hub"
            )
        context = GSPContext(
            db=Database(self.database_url),
            data_root=root,
            cache_dir=Path(self.cache_dir),
            default_page_size=self.default_page_size,
            max_page_size=self.max_page_size,
            count_bound=self.count_bound,
            tz=zoneinfo.ZoneInfo(self.timezone) if self.timezone != "UTC" else dt.UTC,
            instrument_names=frozenset(self.instrument_names),
            hub=hub,
            mailer=ServiceMailer(
                Mailer(parent=self, log=self.log),
                Path(self.link_secret_file),
                public_url=self.public_url,
                bind_url=self.hub_bind_url,
                hub_base_url=environment.text("JUPYTERHUB_BASE_URL", "/"),
            ),
            events_poll_interval=self.events_poll_interval,
            events_keepalive=self.events_keepalive,
            log=self.log,
            counts=CountCache(self.count_cache_seconds),
            preview_cache_max_bytes=self.preview_cache_max_bytes,
            query_executor=(
                ThreadPoolExecutor(self.query_threads, thread_name_prefix="gsp-db")
                if self.query_threads > 0
                else None
            ),
        )
        self.settings["gsp"] = context
        self.settings["gsp_callers"] = CallerCache(self.caller_cache_seconds)
        self.log.info("gsp: data root %s, database %s", root, context.db.engine.url)
        if self.warm_up:
            from .engine.executors import warm_up_in_background

            # Now, while the server still starts (the hub waits for it to answer, then
            # for its forkserver): done before a login can reach it.
            self._warming = warm_up_in_background(tuple(self.warm_up))

    _warming = None

    def initialize_handlers(self) -> None:
        """Register the API routes (relative: jupyter_server prefixes the base URL)."""
        self.handlers.extend(default_handlers())

    _live_services = None

    async def _start_jupyter_server_extension(self, serverapp) -> None:
        """Start ingest and the job engine once the event loop runs (see :attr:`live`).

        A failure to start them is logged and leaves the API serving: jobs then stay
        queued, and ``GET api/jobs/<id>/`` says so.
        """
        if self.stop_on_interrupt:
            stop_on_interrupt(serverapp)
        if not self.live:
            self.log.info("gsp: live ingest and job engine are off (GSP_LIVE=0)")
            return
        from .engine.live import LiveServices

        context = self.settings["gsp"]
        try:
            live = LiveServices(
                context.db,
                context.data_root,
                scheduler_address=self.dask_scheduler or None,
                n_workers=self.workers,
                worker_nice=self.worker_nice,
                worker_preload=self.worker_preload,
                worker_warm_up_nice=self.worker_warm_up_nice,
            )
            await live.start()
        except Exception:  # noqa: BLE001 - the API must keep serving without the engine
            self.log.exception("gsp: live ingest and job engine failed to start")
            return
        self._live_services = live

    async def stop_extension(self) -> None:
        """Stop the engine (jobs in flight finish) and close the database connections."""
        if self._live_services is not None:
            await self._live_services.stop()
            self._live_services = None
        context = self.settings.get("gsp")
        if context is not None:
            if context.query_executor is not None:
                context.query_executor.shutdown(wait=False)
            context.db.dispose()
