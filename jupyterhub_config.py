"""JupyterHub configuration of GSP Live: proxy, authenticator, roles, the gsp service.

Thin on purpose: every switch is an environment variable read by
:mod:`gsp_extension.environment` (tables in :mod:`hub.deployment`, :mod:`hub.platform`
and deploy/README.md), so the same file serves the demo, the tests and a deployment.
A deployer's own settings go in a config file loaded after this one, e.g.
``c.ProposalAuthenticator.lockout_minutes = 30`` or ``c.Mailer.smtp_host = ...``.
"""

# ruff: noqa: F821 - `c` is provided by the traitlets config loader
from hub import config_helpers
from hub import platform as gsp_platform
from hub.deployment import (
    Deployment,
    configure_gsp_service,
    configure_hub,
    configure_roles,
    restore_interrupt,
)

deployment = Deployment.from_environment()
c = get_config()  # noqa: F821

configure_hub(c, deployment)
# the services it starts must hear the SIGINT it stops them with
restore_interrupt()

# Who logs in: accounts of the app database. It is migrated here, before the hub starts
# the gsp service, so the two never migrate at once; GSP_ADMIN_* create the first
# superuser on the first start.
config_helpers.prepare_database(deployment.database_url)
config_helpers.bootstrap_superuser_from_env(deployment.database_url)
config_helpers.configure_accounts(c, deployment.database_url)

# The gsp service (REST API, ingest, job engine) and who may call it.
configure_gsp_service(c, deployment)
configure_roles(c, deployment)

# User servers (spawner, homes, the Voila data browser as landing page), idle culling,
# the public address and TLS, production switches (hub database, Dask scheduler).
gsp_platform.configure_spawner(c, deployment.data_root, deployment.service_url)
gsp_platform.configure_culling(c)
gsp_platform.configure_public_url_and_tls(c)
gsp_platform.configure_switches(c)
