"""pytest plugin: one private Docker engine per test session, and the images
built on it.

Tests that need the engine take `docker_engine` (or `qscaler_image`) and are
marked `docker`. The daemon starts on first use (about a second) and stops at
the end of the session. If it cannot start, or an image cannot be built, those
tests fail loudly; set QSCALER_SKIP_DOCKER=1 to skip them instead (a quick
local run without the engine). KEEP_DOCKER_DIR=1 keeps the daemon's directory.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness import images
from tests.harness.docker import DockerEngine, DockerError
from tests.harness.skipping import skip_marked

SKIP_VARIABLE = "QSCALER_SKIP_DOCKER"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """With QSCALER_SKIP_DOCKER=1, skip every test marked `docker`."""
    skip_marked(items, "docker", SKIP_VARIABLE, "container engine")


@pytest.fixture(scope="session")
def docker_engine(request: pytest.FixtureRequest) -> Iterator[DockerEngine]:
    """The session's private dockerd, started on first use."""
    try:
        engine = DockerEngine.start()
    except DockerError as exc:
        pytest.fail(
            f"the test Docker engine did not start (set {SKIP_VARIABLE}=1 to skip): {exc}",
            pytrace=False,
        )
    yield engine
    if request.session.testsfailed:
        print(f"\n--- dockerd log tail (tests failed) ---\n{engine.logs()}")
    engine.stop()


@pytest.fixture(scope="session")
def qscaler_image(docker_engine: DockerEngine) -> str:
    """qscaler's image, built from the project's Dockerfile on the python stand-in."""
    return images.build_qscaler(docker_engine)
