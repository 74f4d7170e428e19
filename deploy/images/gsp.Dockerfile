# One image for the user servers (notebooks, the Voilà apps) and for the gsp service
# (deploy/gsp-service.yaml). Build from the repository root:
#   docker build -f deploy/images/gsp.Dockerfile -t registry.example.org/gsp-live:0.1.0 .
FROM python:3.11-slim

RUN useradd --create-home --uid 1000 --gid 100 jovyan
COPY . /opt/gsp-live
# The pinned versions of the lock, except JupyterHub: jupyterhub-singleuser must match
# the hub of the chart (5.5). pip has no overrides: what requirements-overrides.txt
# keeps out of the lock (rfc3987-syntax, a second of CPU at every server's start) is
# removed after it.
RUN grep -v '^jupyterhub==' /opt/gsp-live/requirements.lock > /tmp/lock.txt \
 && python -m pip install --no-cache-dir -r /tmp/lock.txt "jupyterhub==5.5.*" \
 && python -m pip uninstall -y rfc3987-syntax \
 && python -m pip install --no-cache-dir --no-deps /opt/gsp-live \
 && rm /tmp/lock.txt

USER jovyan
WORKDIR /home/jovyan
ENV HOME=/home/jovyan
CMD ["jupyterhub-singleuser", "--config=/opt/gsp-live/hub/singleuser_config.py"]
