# The hub image: the chart's own hub image plus gsp-live (authenticator, password pages,
# email, the app database's models and migrations). Build from the repository root:
#   docker build -f deploy/images/hub.Dockerfile -t registry.example.org/gsp-live-hub:0.1.0 .
FROM quay.io/jupyterhub/k8s-hub:4.4.0

USER root
COPY . /opt/gsp-live
# No lock file here: the image's JupyterHub (5.5, matching the chart) satisfies
# gsp-live's "jupyterhub>=5.5,<7" and must stay as it is.
RUN python3 -m pip install --no-cache-dir /opt/gsp-live
USER ${NB_USER}
