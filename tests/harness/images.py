"""The images the tests build: local stand-ins for official base images, and
qscaler's own image from the project's Dockerfile.

No registry is reachable from the test machines, so every base image starts
from a Debian 12 root filesystem made by tests/docker/base-image.sh
(debootstrap, cached). The stand-ins in tests/docker/standins/ are built on it
once per machine and kept as `docker save` tarballs in the same cache, keyed
by a hash of what they are built from: a warm run loads them in seconds, and
changing a stand-in's Dockerfile rebuilds only that one.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from tests.harness.docker import DockerEngine
from tests.harness.tools import cached_tool

REPO = Path(__file__).resolve().parents[2]
STANDINS = REPO / "tests" / "docker" / "standins"
BASE_TAG = "qscaler-test/bookworm-minbase:latest"
# The stand-in for the Dockerfile's python:3.11-slim-bookworm, passed as PYTHON_IMAGE.
PYTHON_TAG = "qscaler-test/python:3.11-bookworm"
STANDIN_TAGS = {
    "python": PYTHON_TAG,
    "rabbitmq": "qscaler-test/rabbitmq:3.10-debian",
    "prometheus": "qscaler-test/prometheus:2.42-debian",
}
QSCALER_TAG = "qscaler:dev"
BUILD_STAGE_TAG = "qscaler-test/qscaler-build-stage:latest"


def cache_dir() -> Path:
    return Path(os.environ.get("QSCALER_IMAGES_CACHE", Path.home() / ".cache/qscaler-images"))


def host_ca_bundle() -> Path:
    """The machine's CA trust store (pip in a test build needs it, see the python stand-in)."""
    return Path(os.environ.get("SSL_CERT_FILE", "/etc/ssl/certs/ca-certificates.crt"))


def base_tarball() -> Path:
    """The debootstrap root filesystem, made on first use (about a minute) and cached."""
    return cached_tool("tests/docker/base-image.sh", timeout=900)


def _context(name: str, directory: Path) -> Path:
    """The stand-in's build context: its directory, plus the host CA store for python."""
    shutil.copytree(STANDINS / name, directory, dirs_exist_ok=True)
    if name == "python":
        shutil.copyfile(host_ca_bundle(), directory / "host-ca.crt")
    return directory


def _key(context: Path, base: Path) -> str:
    digest = hashlib.sha256(f"{base.stat().st_size}:{base.stat().st_mtime_ns}".encode())
    for path in sorted(p for p in context.rglob("*") if p.is_file()):
        digest.update(path.relative_to(context).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def ensure_base(engine: DockerEngine) -> Path:
    """Import the root filesystem as BASE_TAG, unless the daemon has it; returns the tarball."""
    tarball = base_tarball()
    if not engine.has_image(BASE_TAG):
        engine.run("import", str(tarball), BASE_TAG)
    return tarball


def ensure_standin(engine: DockerEngine, name: str) -> str:
    """Load stand-in `name` from the cache, or build and cache it; returns its tag."""
    tag = STANDIN_TAGS[name]
    if engine.has_image(tag):
        return tag
    base = base_tarball()
    with tempfile.TemporaryDirectory() as tmp:
        context = _context(name, Path(tmp))
        saved = cache_dir() / f"standin-{name}-{_key(context, base)}.tar"
        if saved.exists():
            engine.run("load", "-i", str(saved))
            return tag
        ensure_base(engine)
        engine.run(
            "build", "--network", "host", "--build-arg", f"BASE={BASE_TAG}", "-t", tag, str(context)
        )
    partial = saved.with_suffix(".partial")
    engine.run("save", "-o", str(partial), tag)
    partial.rename(saved)
    return tag


def build_qscaler(engine: DockerEngine, tag: str = QSCALER_TAG) -> str:
    """Build the project's Dockerfile on the python stand-in; returns the tag.

    The image is built every session (it is what is under test), but its build
    stage, whose slow step is pip installing requirements.lock from PyPI, is
    kept in the cache with `docker save` and offered back with `--cache-from`:
    the dependency layer is reused until the lock, the Dockerfile or the base
    changes, and everything from the source COPY on is built afresh.
    """
    python = ensure_standin(engine, "python")
    digest = hashlib.sha256(python.encode())
    for name in ("Dockerfile", "requirements.lock"):
        digest.update((REPO / name).read_bytes())
    saved = cache_dir() / f"qscaler-build-stage-{digest.hexdigest()[:16]}.tar"
    if saved.exists() and not engine.has_image(BUILD_STAGE_TAG):
        engine.run("load", "-i", str(saved))
    build = ["build", "--network", "host", "--build-arg", f"PYTHON_IMAGE={python}"]
    build += ["--cache-from", BUILD_STAGE_TAG] if engine.has_image(BUILD_STAGE_TAG) else []
    engine.run(*build, "--target", "build", "-t", BUILD_STAGE_TAG, str(REPO), timeout=1200)
    if not saved.exists():
        partial = saved.with_suffix(".partial")
        engine.run("save", "-o", str(partial), BUILD_STAGE_TAG)
        partial.rename(saved)
    engine.run(*build, "-t", tag, str(REPO), timeout=1200)
    return tag
