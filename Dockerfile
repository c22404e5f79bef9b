# syntax=docker/dockerfile:1
# Zora's image: one image for every process. The entry point is the `zora` command; the default
# command is `zora web`, and docker-compose.yml runs `zora migrate` and `zora worker` from the same image.
#
# Built from this checkout with pip (PyPI is the only network the build needs). The widget bundle
# (widget/static/widget.js) is committed and packaged, so no Node.js is involved.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- build: install Zora and its dependencies into a virtual environment -------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/zora
WORKDIR /src
COPY pyproject.toml README.md ./
COPY zora/ zora/
COPY bot/ bot/
COPY workflows/ workflows/
COPY activities/ activities/
COPY webhooks/ webhooks/
COPY widget/ widget/
# Without the bundle the image would serve storefronts a widget that does not exist, and without the
# migrations `zora migrate` would report "up to date" on an empty database: fail the build instead.
RUN test -s widget/static/widget.js && /opt/zora/bin/pip install .
# Checked outside /src, so that the installed package answers and not the sources.
WORKDIR /
RUN /opt/zora/bin/python -c "from importlib.resources import files; \
assert files('widget').joinpath('static', 'widget.js').is_file(), 'widget bundle not packaged'; \
assert any(p.name.endswith('.sql') for p in files('zora').joinpath('migrations').iterdir()), 'no migrations'"

# ---- runtime: the virtual environment only, run by an unprivileged user --------------------------
FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --gid 10001 zora \
    && useradd --uid 10001 --gid zora --home-dir /home/zora --create-home --shell /usr/sbin/nologin zora
COPY --from=build /opt/zora /opt/zora
# HOST: inside a container the web process must listen on every interface, not loopback.
ENV PATH=/opt/zora/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOST=0.0.0.0 \
    PORT=8000
WORKDIR /home/zora
# Numeric, so orchestrators that require a non-root user (runAsNonRoot) can verify it.
USER 10001:10001
EXPOSE 8000
# Liveness of `zora web` (the default command). Compose turns it off for the worker and the one-shot
# migrate, which serve no HTTP, and checks /readyz for web nodes instead.
HEALTHCHECK --interval=15s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '8000') + '/healthz', timeout=4)"]
ENTRYPOINT ["zora"]
CMD ["web"]
