# qscaler's container image: `docker build -t qscaler .`
#
# Two stages on the same Python base. The first builds qscaler's wheel and
# installs it, with the hash-pinned dependencies of requirements.lock, into a
# virtual environment at /opt/qscaler. The second copies only that venv: no
# compiler, no build backend, no source tree, and no RUN step, so nothing in
# the final image is created by a shell. The venv's interpreter is a symlink
# to the base image's Python, which is why both stages use the same base.
#
# At runtime the image writes nothing outside /tmp (the Deployment mounts an
# emptyDir there and makes the root filesystem read-only): bytecode was
# compiled at install time and PYTHONDONTWRITEBYTECODE stops any further
# writes. It runs as UID/GID 10001, the user deploy/base's securityContext
# names, and needs no /etc/passwd entry for it.
#
# The base is pinned by tag. Pin it by digest as well when publishing
# (python:3.11.14-slim-bookworm@sha256:...): the digest has to be resolved
# against the registry, which the machines this was written on cannot reach.
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
# The dependencies first, in their own layer: it is rebuilt only when the
# lock changes. The venv has no pip of its own; the base image's pip installs
# into it (`pip --python`), so pip does not ship in the final image's venv.
COPY requirements.lock ./
RUN python -m venv --without-pip /opt/qscaler \
 && pip --python /opt/qscaler/bin/python install --no-deps --require-hashes -r requirements.lock
# The Kubernetes client ships an asyncio twin of itself (kubernetes.aio, 68 MB
# of the venv's 166 MB) that qscaler never imports: it goes after `pip check`.
COPY pyproject.toml LICENSE README.md ./
COPY qscaler ./qscaler
RUN pip wheel --no-deps --wheel-dir /wheels . \
 && pip --python /opt/qscaler/bin/python install --no-deps /wheels/qscaler-*.whl \
 && pip --python /opt/qscaler/bin/python check \
 && rm -r /opt/qscaler/lib/python3*/site-packages/kubernetes/aio

FROM ${PYTHON_IMAGE}
ARG PYTHON_IMAGE
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="qscaler" \
      org.opencontainers.image.description="Scale RabbitMQ consumer workloads on Kubernetes by queue depth, alongside the CPU HPA." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://github.com/qscaler/qscaler" \
      org.opencontainers.image.base.name="${PYTHON_IMAGE}"
COPY --from=build /opt/qscaler /opt/qscaler
ENV PATH="/opt/qscaler/bin:${PATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["qscaler"]
CMD ["run"]
